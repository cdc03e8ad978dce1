"""Prism against Chroma 1.5.9, side by side, through the real chromadb client.

usage: python bench/compare.py [--n 100000] [--dim 384] [--rounds 2]
           [--queries 500] [--threads 8] [--seconds 10]
           [--first-seconds 10] [--settle 5] [--after-cap 300]
           [--prism target/release/prism] [--chroma .venv/bin/chroma]
           [--out bench/results] [--smoke] [--encrypted [--against chroma]]
           [--data clustered|random] [--chroma-from EARLIER.json]

Runs the same workload against `prism run` and Chroma's own server
(`chroma run`, Rust, from the chromadb wheel), each on its own loopback port
and fresh data directory, alternating (prism, chroma, prism, chroma, ...) so
both see the same machine state; reports the median of the rounds for each
figure, both servers side by side and their ratio, and writes
`<out>/compare-<n>.json` and `<out>/compare-<n>.png`. `--chroma-from` takes
Chroma's rounds from an earlier result file of the same workload (on the
same machine) instead of running Chroma again, for sizes where a Chroma round
takes half an hour; the result file names it.

Workload: float32 vectors (dim 384) drawn around 100 gaussian clusters with a
fixed seed (`--data random`: independent standard normal vectors, the hard
case for HNSW recall; files are named compare-random-<n>); metadata {"cat": i % 10, "n": i} and a short document per record;
batches of 1,000.

Each round first measures what a user sees right after a write, with no
waiting of any kind (the l2 collection):
  ingest          vectors/s acknowledged by `add`: n / (time from the first
                  `add` being sent to the last `add` returning)
  right after ingest p50/p95/p99, queries
                  as soon as the last `add` returns, one client sends `query`
                  calls back to back (n_results=10, default include, the
                  workload's query set, cycling); latency percentiles and the
                  number answered of the queries *sent* in the first
                  `--first-seconds` (10; 2 with --smoke) after that
  full speed      seconds from the first `add` to full-speed queries. The
                  back-to-back querying goes on after those first seconds
                  until the collection is indexed (below) and then
                  `--settle` seconds more (5; 1 with --smoke), at most
                  `--after-cap` seconds after the last `add` (300; 10 with
                  --smoke); the send time and latency of every query is kept.
                  Once the steady-state p50 (below) is known, full speed is
                  the send time, from the first `add`, of the first query of
                  the first run of 20 consecutive queries whose median is
                  within 1.25x the steady-state p50. Because querying always
                  continues past "indexed" on both servers, a server that is
                  as fast after indexing as in steady state always has such a
                  run; if none is found (noise on a loaded machine) the end of
                  the recording is reported, a lower bound, and the round's
                  `full_speed_reached` is 0
  indexed         vectors/s until the index is complete: n / (time from the
                  first `add` to the first `indexing_status` poll reporting
                  op_indexing_progress >= 1), polled by a second thread
                  100 ms after each answer while the queries above go on
                  (so a slow poll never holds a query back). Chroma's
                  local server has no `indexing_status` (it answers 500) and
                  indexes a batch before acknowledging it, so for Chroma the
                  index counts as complete at the first poll after the last
                  `add` returns, as this harness always did
  peak rss        largest resident memory of the server process tree (MB),
                  sampled every 100 ms by a thread from before the first
                  `add` until the poll that finds the index complete

Then the steady-state part, after the l2 collection is indexed (waited for)
and a cosine collection is ingested and indexed too:
  query p50/p95/p99   sequential `query` latency, n_results=10, default include
                  (after 20 warm-up queries)
  filtered p50/p95    the same with where={"cat": 3}
  throughput      queries/s with `--threads` concurrent clients (one process
                  each, so the Python client's GIL does not cap them)
  recall@10       against exact numpy search, l2 and cosine collections
  get-100         `get` of 100 ids
  rss             server resident memory after ingest (MB)
  disk            bytes in the data directory after a clean stop (MB)
  restart         seconds from process start to the first answered query

--encrypted compares Prism on an encrypted data directory (`--encryption-key-file`,
docs/ENCRYPTION.md) with Prism on a plain one instead: the "prism" column is
encrypted, the "chroma" column plain Prism; files are named compare-enc-<n>.
With `--against chroma` the "chroma" column stays Chroma (compare-enc-chroma-<n>).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import chromadb
import httpx
import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
BATCH = 1000
CLUSTERS = 100
SEED = 42

# name, unit, whether bigger is better, the target as a ratio prism/chroma
# (None: no ratio target), the description
FIGURES = [
    ("ingest_vps", "vectors/s", True, 2.0, "ingest, acknowledged"),
    ("after_p50_ms", "ms", False, 1.0, "right after ingest: query p50"),
    ("after_p95_ms", "ms", False, None, "right after ingest: query p95"),
    ("after_p99_ms", "ms", False, None, "right after ingest: query p99"),
    ("after_queries", "queries", True, None, "right after ingest: queries answered"),
    ("full_speed_s", "s", False, 0.5, "first add to full-speed queries"),
    ("indexed_vps", "vectors/s", True, 2.0, "ingest until indexed"),
    ("peak_rss_mb", "MB", False, 1.0, "peak RSS, ingest + indexing"),
    ("query_p50_ms", "ms", False, 1.0, "query p50"),
    ("query_p95_ms", "ms", False, None, "query p95"),
    ("query_p99_ms", "ms", False, 1.0, "query p99"),
    ("filtered_p50_ms", "ms", False, 0.25, "filtered query p50"),
    ("filtered_p95_ms", "ms", False, None, "filtered query p95"),
    ("throughput_qps", "queries/s", True, 1.5, "throughput, concurrent clients"),
    ("recall_l2", "", True, None, "recall@10, l2"),
    ("recall_cosine", "", True, None, "recall@10, cosine"),
    ("get100_p50_ms", "ms", False, None, "get 100 ids, p50"),
    ("rss_mb", "MB", False, 1.0, "server RSS after ingest"),
    ("disk_mb", "MB", False, None, "bytes on disk"),
    ("restart_s", "s", False, None, "restart to first answered query"),
]


# ---------------------------------------------------------------------------
# the workload
# ---------------------------------------------------------------------------


class Workload:
    def __init__(self, n: int, dim: int, queries: int, data: str = "clustered") -> None:
        rng = np.random.default_rng(SEED)
        self.n, self.dim = n, dim
        if data == "random":
            self.vectors = rng.normal(size=(n, dim)).astype(np.float32)
            self.queries = rng.normal(size=(queries, dim)).astype(np.float32)
        else:
            centers = rng.normal(size=(CLUSTERS, dim)).astype(np.float32)
            self.vectors = (centers[rng.integers(0, CLUSTERS, n)]
                            + 0.1 * rng.normal(size=(n, dim))).astype(np.float32)
            # Queries are new points from the same clusters.
            self.queries = (centers[rng.integers(0, CLUSTERS, queries)]
                            + 0.1 * rng.normal(size=(queries, dim))).astype(np.float32)
        self.ids = [f"id-{i}" for i in range(n)]
        self.metadatas = [{"cat": i % 10, "n": i} for i in range(n)]
        self.documents = [f"document {i} about topic {i % 10}" for i in range(n)]
        self._truth: Dict[str, np.ndarray] = {}

    def truth(self, space: str, k: int = 10) -> np.ndarray:
        """Exact top-k record indices per query."""
        if space not in self._truth:
            data, q = self.vectors, self.queries
            if space == "cosine":
                data = data / np.linalg.norm(data, axis=1, keepdims=True)
                q = q / np.linalg.norm(q, axis=1, keepdims=True)
                scores = -(q @ data.T)
            else:
                scores = (q * q).sum(1)[:, None] - 2 * q @ data.T + (data * data).sum(1)[None, :]
            self._truth[space] = np.argsort(scores, axis=1)[:, :k]
        return self._truth[space]


# ---------------------------------------------------------------------------
# the servers
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server under test. Kind `gateway` is Prism in gateway mode
    (`prism run --upstream`) in front of a Chroma of its own (`upstream`),
    the data and disk figures the upstream's, memory both processes'."""

    def __init__(self, kind: str, binary: str, work: Path, key: Optional[Path] = None,
                 chroma: Optional[str] = None) -> None:
        self.kind, self.binary, self.key = kind, binary, key
        self.upstream: Optional[Server] = None
        if kind == "gateway":
            self.upstream = Server("chroma", chroma or "chroma", work / "gateway-upstream")
        self.path = work / f"{kind}-data"
        self.port = free_port()
        work.mkdir(parents=True, exist_ok=True)
        self.log = open(work / f"{kind}.log", "ab")
        self.proc: Optional[subprocess.Popen] = None
        if kind == "chroma":
            self.config = work / "chroma.yaml"
            self.config.write_text(
                f"persist_path: {self.path}\nport: {self.port}\n"
                "listen_address: 127.0.0.1\nallow_reset: true\n"
            )

    def start(self) -> float:
        """Start; return the time the process was started (monotonic)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CHROMA_", "PRISM_"))}
        env["RUST_LOG"] = "warn"
        env["ANONYMIZED_TELEMETRY"] = "False"
        if self.kind == "chroma":
            cmd = [self.binary, "run", str(self.config)]
        elif self.upstream is not None:
            if self.upstream.proc is None or self.upstream.proc.poll() is not None:
                self.upstream.start()
                self.upstream.wait_heartbeat()
            cmd = [self.binary, "run", "--port", str(self.port),
                   "--upstream", f"http://127.0.0.1:{self.upstream.port}"]
        else:
            cmd = [self.binary, "run", "--port", str(self.port), "--path", str(self.path)]
            if self.key:
                cmd += ["--encryption-key-file", str(self.key)]
        started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, env=env,
                                     stdin=subprocess.DEVNULL)
        return started

    def wait_heartbeat(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited; see {self.log.name}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"{self.kind} did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.upstream is not None:
            self.upstream.stop()

    def rss_mb(self) -> float:
        """Resident memory of the server process and its children (and of
        a gateway's upstream)."""
        p = psutil.Process(self.proc.pid)
        own = sum(x.memory_info().rss for x in [p, *p.children(recursive=True)]) / 1e6
        return own + (self.upstream.rss_mb() if self.upstream is not None else 0.0)

    def disk_mb(self) -> float:
        if self.upstream is not None:
            return self.upstream.disk_mb()
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file()) / 1e6

    def client(self):
        from chromadb.config import Settings

        return chromadb.HttpClient(host="127.0.0.1", port=self.port,
                                   settings=Settings(anonymized_telemetry=False))


# ---------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------


def percentile(values: List[float], p: float) -> float:
    return float(np.percentile(np.array(values), p))


def timed(calls: int, fn: Callable[[int], None]) -> List[float]:
    out = []
    for i in range(calls):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1000)
    return out


def ingest(col, w: Workload) -> Tuple[float, float]:
    """Add the workload in batches; return (perf_counter when the first `add`
    was sent, perf_counter when the last one returned)."""
    t = time.perf_counter()
    for i in range(0, w.n, BATCH):
        j = min(i + BATCH, w.n)
        col.add(ids=w.ids[i:j], embeddings=w.vectors[i:j],
                metadatas=w.metadatas[i:j], documents=w.documents[i:j])
    return t, time.perf_counter()


def index_complete(server: Server, col) -> bool:
    """Whether the server says the collection's index covers every record
    (Chroma's and Prism's `indexing_status`)."""
    url = (f"http://127.0.0.1:{server.port}/api/v2/tenants/default_tenant/databases/"
           f"default_database/collections/{col.id}/indexing_status")
    r = httpx.get(url, timeout=10)
    if server.kind in ("chroma", "gateway") and r.status_code == 500:
        # Chroma's local server (also behind a gateway) has no
        # indexing_status (500); it indexes a batch before acknowledging it.
        return True
    if r.status_code != 200:
        raise RuntimeError(f"{server.kind} indexing_status: {r.status_code} {r.text[:200]}")
    return r.json().get("op_indexing_progress", 1.0) >= 1.0


def wait_indexed(server: Server, col, timeout: float = 900) -> None:
    """Until the server says the collection's index covers every record."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if index_complete(server, col):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{server.kind} did not finish indexing in {timeout} s")


class RssSampler(threading.Thread):
    """The server process tree's resident memory every `every` seconds, in a
    thread, until stop(); keeps the largest sample."""

    def __init__(self, server: Server, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.server, self.every = server, every
        self.done = threading.Event()
        self.peak, self.samples = 0.0, 0
        self.stopping = threading.Lock()

    def sample(self) -> None:
        try:
            self.peak = max(self.peak, self.server.rss_mb())
            self.samples += 1
        except psutil.Error:
            pass

    def run(self) -> None:
        while True:
            self.sample()
            if self.done.wait(self.every):
                break

    def stop(self) -> float:
        with self.stopping:  # from the IndexPoller's thread or the caller's
            if not self.done.is_set():
                self.done.set()
                self.join()
                self.sample()  # one last sample at the moment of stopping
        return self.peak


class IndexPoller(threading.Thread):
    """Polls `indexing_status` in a thread, 100 ms after each answer, until
    the index is complete; then records when (perf_counter) and stops the
    RSS sampler. A thread, so the querying client never waits for a poll
    (Prism's `indexing_status` can take a while as its indexer works)."""

    def __init__(self, server: Server, col, rss: RssSampler, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.server, self.col, self.rss, self.every = server, col, rss, every
        self.indexed_at: Optional[float] = None
        self.error: Optional[BaseException] = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            while not self.done.is_set():
                if index_complete(self.server, self.col):
                    self.indexed_at = time.perf_counter()
                    self.rss.stop()
                    return
                self.done.wait(self.every)
        except BaseException as e:  # reported by the caller
            self.error = e


def after_ingest(server: Server, col, w: Workload, t_first: float, t_acked: float,
                 rss: RssSampler, args) -> Tuple[List[Tuple[float, float]], Optional[float]]:
    """Query back to back from the moment the last `add` returned, with no
    waiting: until `args.first_seconds` have passed and the index has been
    complete for `args.settle` seconds, at most `args.after_cap` seconds.
    Meanwhile an IndexPoller polls `indexing_status` (and stops the RSS
    sampler when the index is complete). Returns every query's (send time
    from the first `add` (s), latency (ms)) and the time from the first `add`
    to the index being complete (s; None if it was not within the cap)."""
    nq = len(w.queries)
    samples: List[Tuple[float, float]] = []
    poller = IndexPoller(server, col, rss)
    poller.start()
    i = 0
    while True:
        now = time.perf_counter()
        since = now - t_acked
        if poller.error is not None:
            raise poller.error
        if since >= args.after_cap:
            break
        indexed_at = poller.indexed_at
        if (since >= args.first_seconds and indexed_at is not None
                and now - indexed_at >= args.settle):
            break
        t = time.perf_counter()
        col.query(query_embeddings=w.queries[i % nq:i % nq + 1], n_results=10)
        samples.append((t - t_first, (time.perf_counter() - t) * 1000))
        i += 1
    poller.done.set()
    poller.join()
    if poller.error is not None:
        raise poller.error
    return samples, (None if poller.indexed_at is None else poller.indexed_at - t_first)


FULL_SPEED_RUN = 20
FULL_SPEED_FACTOR = 1.25


def full_speed(samples: List[Tuple[float, float]], steady_p50: float) -> Tuple[float, bool]:
    """The send time (s from the first `add`) of the first query of the first
    FULL_SPEED_RUN consecutive queries whose median latency is within
    FULL_SPEED_FACTOR x `steady_p50`; (end of the recording, False) if none."""
    lat = np.array([l for _, l in samples])
    if len(lat) >= FULL_SPEED_RUN:
        runs = np.median(np.lib.stride_tricks.sliding_window_view(lat, FULL_SPEED_RUN), axis=1)
        ok = np.nonzero(runs <= FULL_SPEED_FACTOR * steady_p50)[0]
        if len(ok):
            return samples[int(ok[0])][0], True
    end = samples[-1][0] + samples[-1][1] / 1000 if samples else 0.0
    return end, False


def recall(col, w: Workload, space: str, count: int) -> float:
    truth = w.truth(space)
    hits = 0
    for i in range(count):
        got = col.query(query_embeddings=w.queries[i:i + 1], n_results=10, include=[])["ids"][0]
        want = {w.ids[j] for j in truth[i]}
        hits += len(want & set(got))
    return hits / (10 * count)


def throughput_worker(port: int, queries: np.ndarray, seconds: float, ready, out) -> None:
    from chromadb.config import Settings

    col = chromadb.HttpClient(host="127.0.0.1", port=port,
                              settings=Settings(anonymized_telemetry=False)).get_collection("bench-l2")
    for q in queries[:3]:
        col.query(query_embeddings=[q], n_results=10)
    ready.wait()
    done, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        col.query(query_embeddings=[queries[done % len(queries)]], n_results=10)
        done += 1
    out.put(done)


def throughput(server: Server, w: Workload, threads: int, seconds: float) -> float:
    ctx = mp.get_context("spawn")
    out, ready = ctx.Queue(), ctx.Barrier(threads)
    procs = [ctx.Process(target=throughput_worker,
                         args=(server.port, w.queries[k::threads], seconds, ready, out))
             for k in range(threads)]
    for p in procs:
        p.start()
    total = sum(out.get(timeout=seconds + 300) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def one_round(kind: str, binary: str, w: Workload, args, work: Path) -> Dict[str, float]:
    key = None
    if args.encrypted and kind == "prism":
        key = work / "prism.key"
        if not key.exists():
            subprocess.run([binary, "key", "new", str(key)], check=True, capture_output=True)
    server = Server(kind, binary, work, key, chroma=args.chroma)
    shutil.rmtree(server.path, ignore_errors=True)
    if server.upstream is not None:
        shutil.rmtree(server.upstream.path, ignore_errors=True)
    server.start()
    server.wait_heartbeat()
    client = server.client()
    r: Dict[str, float] = {}
    col = client.create_collection("bench-l2", metadata={"hnsw:space": "l2"})

    # What a user sees right after a write: no waiting.
    rss = RssSampler(server)
    rss.start()
    t_first, t_acked = ingest(col, w)
    r["ingest_vps"] = w.n / (t_acked - t_first)
    after, indexed_s = after_ingest(server, col, w, t_first, t_acked, rss, args)
    acked_s = t_acked - t_first
    first = [l for t, l in after if t - acked_s < args.first_seconds]
    r["after_p50_ms"], r["after_p95_ms"], r["after_p99_ms"] = (
        percentile(first, 50), percentile(first, 95), percentile(first, 99))
    r["after_queries"] = float(len(first))
    if indexed_s is None:  # not within --after-cap: wait, as before
        wait_indexed(server, col)
        indexed_s = time.perf_counter() - t_first
        rss.stop()
    r["indexed_vps"] = w.n / indexed_s
    r["peak_rss_mb"] = rss.stop()

    # The steady state.
    wait_indexed(server, col)
    cos = client.create_collection("bench-cosine", metadata={"hnsw:space": "cosine"})
    ingest(cos, w)
    wait_indexed(server, cos)

    nq = len(w.queries)
    for i in range(min(20, nq)):  # warm-up
        col.query(query_embeddings=w.queries[i:i + 1], n_results=10)
    lat = timed(nq, lambda i: col.query(query_embeddings=w.queries[i:i + 1], n_results=10))
    r["query_p50_ms"], r["query_p95_ms"], r["query_p99_ms"] = (
        percentile(lat, 50), percentile(lat, 95), percentile(lat, 99))
    reached_s, reached = full_speed(after, r["query_p50_ms"])
    r["full_speed_s"], r["full_speed_reached"] = reached_s, float(reached)
    r["after_recorded_s"] = after[-1][0] - acked_s if after else 0.0
    nf = max(20, nq // 4)
    flt = timed(nf, lambda i: col.query(query_embeddings=w.queries[i:i + 1], n_results=10,
                                        where={"cat": 3}))
    r["filtered_p50_ms"], r["filtered_p95_ms"] = percentile(flt, 50), percentile(flt, 95)
    r["recall_l2"] = recall(col, w, "l2", min(200, nq))
    r["recall_cosine"] = recall(cos, w, "cosine", min(200, nq))
    rng = np.random.default_rng(SEED + 1)
    picks = [[w.ids[j] for j in rng.choice(w.n, 100, replace=False)] for _ in range(100)]
    get = timed(len(picks), lambda i: col.get(ids=picks[i]))
    r["get100_p50_ms"] = percentile(get, 50)
    r["rss_mb"] = server.rss_mb()
    r["throughput_qps"] = throughput(server, w, args.threads, args.seconds)

    server.stop()
    r["disk_mb"] = server.disk_mb()
    started = server.start()
    deadline = time.monotonic() + 120
    while True:
        try:
            col = server.client().get_collection("bench-l2")
            col.query(query_embeddings=w.queries[:1], n_results=10)
            break
        except Exception:
            if time.monotonic() > deadline or server.proc.poll() is not None:
                raise
            time.sleep(0.02)
    r["restart_s"] = time.monotonic() - started
    server.stop()
    shutil.rmtree(server.path, ignore_errors=True)
    if server.upstream is not None:
        shutil.rmtree(server.upstream.path, ignore_errors=True)
    return r


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


def ratio(name: str, prism: float, chroma: float) -> Optional[float]:
    return prism / chroma if chroma else None


def verdict(name: str, better: bool, target: Optional[float], prism: float, chroma: float) -> str:
    if name.startswith("recall"):
        ok = prism >= 0.98 and prism >= chroma - 1e-9
        return "met" if ok else "MISSED"
    if name == "restart_s":
        return "met" if prism <= 2.0 else "MISSED"
    if target is None:
        return ""
    r = prism / chroma if chroma else float("inf")
    return "met" if (r >= target if better else r <= target) else "MISSED"


def report(results: Dict[str, List[Dict[str, float]]], args, out: Path) -> dict:
    med = {kind: {f[0]: statistics.median(run[f[0]] for run in runs) for f in FIGURES}
           for kind, runs in results.items()}
    rows = []
    print()
    print(f"{'figure':<44} {'prism':>10} {'chroma':>10} {'ratio':>7}  target")
    for name, unit, better, target, label in FIGURES:
        p, c = med["prism"][name], med["chroma"][name]
        rt = ratio(name, p, c)
        v = verdict(name, better, target, p, c)
        goal = ""
        if name.startswith("recall"):
            goal = ">= 0.98, >= chroma"
        elif name == "restart_s":
            goal = "<= 2 s"
        elif target is not None:
            goal = f"{'>=' if better else '<='} {target}x"
        rows.append({"figure": name, "label": label, "unit": unit, "prism": p, "chroma": c,
                     "ratio": rt, "target": goal, "verdict": v})
        fmt = ((lambda x: f"{x:.3f}") if name.startswith("recall")
               else (lambda x: f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}"))
        print(f"{label + (f' ({unit})' if unit else ''):<44} {fmt(p):>10} {fmt(c):>10} "
              f"{(rt or 0):>7.2f}  {goal} {v}")
    gateway = gateway_report(med) if "gateway" in med else None
    doc = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "platform": platform.platform(), "python": platform.python_version()},
        "chromadb": chromadb.__version__,
        "workload": {"n": args.n, "dim": args.dim, "queries": args.queries, "threads": args.threads,
                     "seconds": args.seconds, "rounds": args.rounds, "batch": BATCH,
                     "data": args.data, "clusters": CLUSTERS, "seed": SEED,
                     "against": args.against if args.encrypted else "chroma",
                     "first_seconds": args.first_seconds, "settle": args.settle,
                     "after_cap": args.after_cap, "full_speed_run": FULL_SPEED_RUN,
                     "full_speed_factor": FULL_SPEED_FACTOR,
                     "chroma_from": (f"{Path(args.chroma_from).name} (measured "
                                     f"{json.loads(Path(args.chroma_from).read_text())['when']})"
                                     if args.chroma_from else None)},
        "rounds": results,
        "median": med,
        "table": rows,
        "gateway": gateway,
    }
    out.mkdir(parents=True, exist_ok=True)
    stem = "compare-" + ("enc-" if args.encrypted else "") \
        + ("chroma-" if args.encrypted and args.against == "chroma" else "") \
        + ("random-" if args.data == "random" else "") \
        + ("gateway-" if args.gateway else "") + str(args.n)
    json_path = out / f"{stem}.json"
    json_path.write_text(json.dumps(doc, indent=2))
    chart(rows, args, out / f"{stem}.png")
    print(f"\nwrote {json_path} and {out / f'{stem}.png'}")
    return doc


# What a gateway may cost, against the same Chroma answered directly.
GATEWAY_MAX_ADDED_P50_MS = 0.5
GATEWAY_MIN_THROUGHPUT = 0.9


def gateway_report(med: Dict[str, Dict[str, float]]) -> dict:
    """The gateway column against Chroma direct: the latency it adds (query
    p50, filtered p50, get) and its throughput, with the targets."""
    g, c = med["gateway"], med["chroma"]
    added = {name: g[name] - c[name] for name in
             ("query_p50_ms", "query_p99_ms", "filtered_p50_ms", "get100_p50_ms")}
    through = g["throughput_qps"] / c["throughput_qps"] if c["throughput_qps"] else 0.0
    met_latency = added["query_p50_ms"] <= GATEWAY_MAX_ADDED_P50_MS
    met_throughput = through >= GATEWAY_MIN_THROUGHPUT
    print()
    print("gateway (Prism --upstream in front of Chroma) against Chroma direct:")
    for name, value in added.items():
        print(f"  added {name:<18} {value:+.3f} ms (gateway {g[name]:.2f}, direct {c[name]:.2f})")
    print(f"  query p50 added <= {GATEWAY_MAX_ADDED_P50_MS} ms: {'met' if met_latency else 'MISSED'}")
    print(f"  throughput {g['throughput_qps']:.0f} vs {c['throughput_qps']:.0f} q/s = {through:.2f}x "
          f"(>= {GATEWAY_MIN_THROUGHPUT}x: {'met' if met_throughput else 'MISSED'})")
    return {"added_ms": added, "throughput_ratio": through,
            "verdict": {"added_p50": "met" if met_latency else "MISSED",
                        "throughput": "met" if met_throughput else "MISSED"}}


def chart(rows: List[dict], args, path: Path) -> None:
    """One bar per figure: how many times better Prism is (log scale; > 1 is
    better, whichever direction the figure counts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, gains, colors = [], [], []
    for row in rows:
        if not row["ratio"]:
            continue
        better = next(f[2] for f in FIGURES if f[0] == row["figure"])
        gain = row["ratio"] if better else 1 / row["ratio"]
        labels.append(row["label"])
        gains.append(gain)
        colors.append("#2a7" if gain >= 1 else "#c44")
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(labels) + 1.2))
    y = np.arange(len(labels))
    ax.barh(y, gains, color=colors)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    for yi, g in zip(y, gains):
        ax.text(g, yi, f" {g:.2f}x", va="center", fontsize=8)
    ax.set_xlabel("Prism vs Chroma 1.5.9 (times better; >1 = Prism better)")
    ax.set_title(f"{args.n:,} x {args.dim} vectors, median of {args.rounds} alternating rounds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--first-seconds", type=float, default=10,
                    help="window right after the last add for the no-wait query percentiles")
    ap.add_argument("--settle", type=float, default=5,
                    help="seconds of querying to go on after the index is complete")
    ap.add_argument("--after-cap", type=float, default=300,
                    help="most seconds of querying after the last add")
    ap.add_argument("--prism", default=str(REPO / "target" / "release" / "prism"))
    ap.add_argument("--chroma", default=shutil.which("chroma") or str(REPO / ".venv" / "bin" / "chroma"))
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    ap.add_argument("--encrypted", action="store_true",
                    help="encrypted Prism (prism column) against plain Prism (chroma column)")
    ap.add_argument("--against", choices=("plain", "chroma"), default="plain",
                    help="with --encrypted: what the chroma column runs")
    ap.add_argument("--data", choices=("clustered", "random"), default="clustered",
                    help="clustered vectors, or independent normal ones (hard for recall)")
    ap.add_argument("--gateway", action="store_true",
                    help="a third column: Prism in gateway mode in front of a Chroma of its own; "
                         "reports the latency it adds and its throughput against Chroma direct")
    ap.add_argument("--chroma-from", metavar="JSON",
                    help="take Chroma's figures from an earlier result file of the same workload "
                         "on this machine instead of running Chroma (a Chroma round at 1,000,000 "
                         "takes 35 min); the report names the file")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny run that only proves the harness works (CI)")
    args = ap.parse_args()
    if args.smoke:
        args.n, args.queries, args.rounds, args.threads, args.seconds = 2000, 40, 1, 2, 1.0
        args.first_seconds, args.settle, args.after_cap = 2.0, 1.0, 10.0
    args.after_cap = max(args.after_cap, args.first_seconds)
    w = Workload(args.n, args.dim, args.queries, args.data)
    work = Path(tempfile.mkdtemp(prefix="prism-compare-"))
    results: Dict[str, List[Dict[str, float]]] = {"prism": [], "chroma": []}
    if args.gateway:
        results["gateway"] = []
    earlier = chroma_from(args) if args.chroma_from else None
    if earlier is not None:
        results["chroma"] = earlier
    for r in range(args.rounds):
        other = args.prism if args.encrypted and args.against == "plain" else args.chroma
        kinds = [("prism", args.prism)] + ([] if earlier is not None else [("chroma", other)])
        if args.gateway:
            kinds.append(("gateway", args.prism))
        for kind, binary in kinds:
            t = time.monotonic()
            figures = one_round(kind, binary, w, args, work)
            results[kind].append(figures)
            print(f"round {r + 1} {kind:>6} ({time.monotonic() - t:.0f} s): "
                  + ", ".join(f"{k}={v:.3g}" for k, v in figures.items()), flush=True)
    doc = report(results, args, Path(args.out))
    shutil.rmtree(work, ignore_errors=True)
    if args.smoke:
        return smoke_check(doc)
    return 0


def chroma_from(args) -> List[Dict[str, float]]:
    """Chroma's rounds from an earlier result file, which must have measured
    the same workload."""
    earlier = json.loads(Path(args.chroma_from).read_text())
    same = {"n": args.n, "dim": args.dim, "queries": args.queries, "data": args.data,
            "threads": args.threads, "seconds": args.seconds}
    differs = {k: (earlier["workload"].get(k), v) for k, v in same.items()
               if earlier["workload"].get(k) != v}
    if differs or earlier["workload"].get("against", "chroma") != "chroma":
        sys.exit(f"--chroma-from {args.chroma_from}: another workload ({differs})")
    return earlier["rounds"]["chroma"]


def smoke_check(doc: dict) -> int:
    """The smoke run proves the harness and both servers work, not speed:
    every figure measured and finite, search exact at this size."""
    bad = [f"{kind}.{name}={value}" for kind, figures in doc["median"].items()
           for name, value in figures.items() if not (value > 0 and np.isfinite(value))]
    bad += [f"{kind}.{name}={figures[name]}" for kind, figures in doc["median"].items()
            for name in ("recall_l2", "recall_cosine") if figures[name] < 0.99]
    if bad:
        print("smoke run: implausible figures: " + ", ".join(bad), file=sys.stderr)
        return 1
    print("smoke run: every figure measured on both servers")
    return 0


if __name__ == "__main__":
    sys.exit(main())

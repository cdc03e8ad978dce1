"""Indexing from the first write: a vector is searchable as soon as its write
is acknowledged, and the collection's HNSW graph is built behind it.

New vectors go to a tail that every query scans exactly and merges with the
graph's answer; a `prism-indexer` thread per collection moves the tail into
the graph a chunk at a time. When more than PRISM_MAX_UNINDEXED_VECTORS
vectors of a collection are outside the graph, add / upsert / update wait for
the indexer instead of failing. `GET .../indexing_status` says how far the
graph is: `num_indexed_ops` of the `total_ops` live vectors are in it,
`num_unindexed_ops` are not, `op_indexing_progress` is the fraction (a
collection under 4,096 vectors is searched exactly and counts as indexed).

What must hold, checked against exact answers computed with numpy:
- a vector is its own nearest neighbour, at distance 0, right after the add
  that wrote it is acknowledged, while the earlier ones are being indexed;
- during a long ingest, queries from another thread find the newest
  acknowledged records, count() is what was acknowledged, and top-10 recall
  against brute force is high both before and after the graph catches up;
- with a small backlog limit every write succeeds, and the backlog the
  server reports never exceeds the limit by more than the batch in flight;
- indexing_status shows partial progress, only moves forward once writes
  stop, and reaches 1.0;
- a kill -9 while most of the collection is outside the graph (its saved
  graph older still) loses no acknowledged record: after the restart every
  record is there, the newest vectors are found at once and indexing
  completes; a clean stop mid-indexing does the same.

No assertion is about speed: the only times are generous timeouts for what
must happen eventually."""

from __future__ import annotations

import base64
import contextlib
import json
import signal
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence

import httpx
import numpy as np
import pytest

from e2e_util import coll_path, make_client

# How long the graph may take to catch up (on two busy cores): a timeout for
# "eventually", not a speed requirement.
CATCH_UP_TIMEOUT = 240.0

PRISM_ONLY = pytest.mark.prism_only(
    "Prism's background indexer: indexing_status progress, "
    "PRISM_MAX_UNINDEXED_VECTORS, its saved graphs"
)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def clustered(seed: int, n: int, dim: int, clusters: int = 40) -> np.ndarray:
    """`n` float32 vectors around `clusters` random centres (overlapping
    clusters: a graph search has to work for its answer)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)) * 2.0
    labels = rng.integers(0, clusters, n)
    return (centres[labels] + rng.standard_normal((n, dim))).astype(np.float32)


def status(srv, col, http: Optional[httpx.Client] = None) -> Dict[str, Any]:
    """The collection's indexing_status, checked for consistency."""
    url = f"{srv.api}{coll_path(col)}/indexing_status"
    r = http.get(url) if http is not None else httpx.get(url, timeout=60)
    assert r.status_code == 200, r.text
    s = r.json()
    assert set(s) >= {"num_indexed_ops", "num_unindexed_ops", "total_ops", "op_indexing_progress"}, s
    assert s["num_indexed_ops"] + s["num_unindexed_ops"] == s["total_ops"], s
    want = 1.0 if s["total_ops"] == 0 else s["num_indexed_ops"] / s["total_ops"]
    assert s["op_indexing_progress"] == pytest.approx(want, abs=1e-9), s
    return s


@contextlib.contextmanager
def polling_status(srv, col, interval: float) -> Iterator[List[Dict[str, Any]]]:
    """indexing_status polled every `interval` seconds from a thread while
    the block runs: the list the polls are appended to, in order."""
    stop = threading.Event()
    polls: List[Dict[str, Any]] = []
    problems: List[str] = []

    def poller() -> None:
        try:
            with httpx.Client(timeout=60) as h:
                while not stop.is_set():
                    polls.append(status(srv, col, h))
                    time.sleep(interval)
        except Exception as e:
            problems.append(f"poller failed: {e!r}")

    thread = threading.Thread(target=poller, name="poller")
    thread.start()
    try:
        yield polls
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not problems, problems


def complete(s: Dict[str, Any]) -> bool:
    return s["op_indexing_progress"] >= 1.0 and s["num_unindexed_ops"] == 0


def wait_complete(srv, col, total: int, timeout: float = CATCH_UP_TIMEOUT) -> List[Dict[str, Any]]:
    """Poll indexing_status until every one of `total` vectors is in the
    graph; every status seen, in order."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        s = status(srv, col)
        seen.append(s)
        if complete(s):
            assert s["total_ops"] == s["num_indexed_ops"] == total, s
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"not indexed after {timeout}s: {s}\nlog:\n{srv.log_text()}")
        time.sleep(0.02)


def top_k(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact l2 nearest neighbours (row indices), by brute force."""
    d = data.astype(np.float64)
    q = queries.astype(np.float64)
    dist = (q * q).sum(1)[:, None] - 2 * q @ d.T + (d * d).sum(1)[None, :]
    return np.argsort(dist, axis=1, kind="stable")[:, :k]


def recall(col, data: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    """Mean top-k recall of the server's answers against brute force (ids
    are "<prefix><row>")."""
    truth = top_k(data, queries, k)
    res = col.query(query_embeddings=queries, n_results=k, include=["distances"])
    found = 0
    for got, want in zip(res["ids"], truth):
        assert len(got) == k
        rows = {int(i[1:]) for i in got}
        found += len(rows & set(want.tolist()))
    return found / (k * len(queries))


def self_first(col, ids: Sequence[str], vectors: np.ndarray) -> List[bool]:
    """For each vector, whether the query by it returns its own id first."""
    res = col.query(query_embeddings=vectors, n_results=3, include=["distances"])
    return [row[0] == want for row, want in zip(res["ids"], ids)]


def all_ids(col) -> List[str]:
    return col.get(include=[])["ids"]


def body(ids: Sequence[str], vectors: np.ndarray) -> bytes:
    """A write's JSON body, embeddings in base64 little-endian f32 as the
    client sends them. Encoded ahead so that the writes come faster than the
    graph can take them (the client's own checks are slower than the
    indexer at these sizes)."""
    embeddings = [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vectors]
    return json.dumps({"ids": list(ids), "embeddings": embeddings}).encode()


def post(http: httpx.Client, srv, col, route: str, content: bytes) -> None:
    r = http.post(
        f"{srv.api}{coll_path(col)}/{route}",
        content=content,
        headers={"content-type": "application/json"},
    )
    assert r.is_success, f"{route}: {r.status_code} {r.text[:300]}"


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------


def test_vectors_added_a_moment_ago_are_found_exactly(client):
    """Each batch is searched right after its add returns, without waiting
    for anything: its vectors are their own nearest neighbours at distance
    0 and `get` returns them as written. Past 4,096 vectors the collection
    gets a graph, built while the later batches arrive, so the answers merge
    the graph's with the exact scan of the tail."""
    n, dim, batch = 8000, 32, 500
    rng = np.random.default_rng(101)
    data = rng.standard_normal((n, dim)).astype(np.float32)
    ids = [f"r{i}" for i in range(n)]
    col = client.create_collection("fresh", metadata={"hnsw:space": "l2"})
    for start in range(0, n, batch):
        end = start + batch
        col.add(ids=ids[start:end], embeddings=data[start:end])
        picks = sorted({start, start + batch // 2, end - 1, *rng.integers(start, end, 5).tolist()})
        res = col.query(query_embeddings=data[picks], n_results=3, include=["distances"])
        assert [row[0] for row in res["ids"]] == [ids[i] for i in picks], f"batch at {start}"
        assert all(row[0] == pytest.approx(0.0, abs=1e-4) for row in res["distances"]), res["distances"]
        got = col.get(ids=[ids[i] for i in picks], include=["embeddings"])
        stored = dict(zip(got["ids"], got["embeddings"]))
        assert sorted(stored) == sorted(ids[i] for i in picks)
        for i in picks:
            assert np.array_equal(np.asarray(stored[ids[i]], dtype=np.float32), data[i]), ids[i]
        assert col.count() == end
    assert sorted(all_ids(col)) == sorted(ids)


@PRISM_ONLY
def test_results_are_complete_while_indexing(start_server):
    """24,000 clustered vectors in batches of 1,000 with at most 2,000 outside
    the graph, so the ingest goes at the indexer's pace while another thread
    keeps querying. Every count() is a whole number of acknowledged batches;
    the newest acknowledged records are found by their own vectors, both from
    the writer right after its add and from the other thread; top-10 recall
    against brute force is high right after the last add (graph + tail) and
    once the graph has everything."""
    n, dim, batch, limit = 24_000, 64, 1000, 2000
    vectors = clustered(202, n + 200, dim)
    data, queries = vectors[:n], vectors[n:]
    ids = [f"c{i}" for i in range(n)]
    srv = start_server(env={"PRISM_MAX_UNINDEXED_VECTORS": str(limit)})
    col = make_client(srv).create_collection("during", metadata={"hnsw:space": "l2"})

    acked = [0]  # records acknowledged so far; batches go in order
    stop = threading.Event()
    problems: List[str] = []
    reader_hits: List[bool] = []
    counts: List[int] = []

    def reader() -> None:
        other = make_client(srv).get_collection("during")
        r = np.random.default_rng(7)
        try:
            while not stop.is_set():
                before = acked[0]
                got = other.count()
                after = acked[0]
                counts.append(got)
                # one add at a time: it may have committed before its
                # acknowledgement reached the writer, never half of it
                if not (before <= got <= after + batch and got % batch == 0):
                    problems.append(f"count() = {got} with {before}..{after} acknowledged")
                if before == 0:
                    time.sleep(0.005)
                    continue
                picks = r.integers(max(0, before - batch), before, 5)
                reader_hits.extend(self_first(other, [ids[i] for i in picks], data[picks]))
        except Exception as e:  # reported by the main thread
            problems.append(f"reader failed: {e!r}")

    thread = threading.Thread(target=reader, name="reader")
    thread.start()
    writer_hits: List[bool] = []
    try:
        for start in range(0, n, batch):
            end = start + batch
            col.add(ids=ids[start:end], embeddings=data[start:end])
            acked[0] = end
            picks = list(range(start, end, 97)) + [end - 1]
            writer_hits.extend(self_first(col, [ids[i] for i in picks], data[picks]))
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not thread.is_alive()
    assert not problems, problems[:10]
    assert counts and len(reader_hits) >= 50, (len(counts), len(reader_hits))

    # The newest vectors are mostly in the tail, searched exactly; those the
    # indexer already moved are found through the graph, which may miss one
    # rarely. A tail left out of the answers would miss nearly all of them.
    assert sum(writer_hits) >= len(writer_hits) - 2, f"{len(writer_hits) - sum(writer_hits)} of {len(writer_hits)} missed"
    assert sum(reader_hits) >= 0.99 * len(reader_hits), f"{len(reader_hits) - sum(reader_hits)} of {len(reader_hits)} missed"

    assert col.count() == n
    assert recall(col, data, queries) >= 0.9
    sample = list(range(0, n, 199))
    assert sum(self_first(col, [ids[i] for i in sample], data[sample])) >= len(sample) - 2

    wait_complete(srv, col, n)
    assert recall(col, data, queries) >= 0.9
    assert sum(self_first(col, [ids[i] for i in sample], data[sample])) >= len(sample) - 2
    assert sorted(all_ids(col)) == sorted(ids)


@PRISM_ONLY
def test_writes_wait_for_the_indexer_rather_than_fail(start_server):
    """PRISM_MAX_UNINDEXED_VECTORS=500: once the collection has its graph,
    adds, upserts of new records and updates of embeddings keep coming in
    batches of 500, faster than the graph can take them (without the limit
    the backlog grows to thousands). Every write succeeds; indexing_status,
    polled all along from another thread, never shows more than the limit
    plus the batch being written outside the graph; at the end the graph has
    every record."""
    dim, limit, batch = 64, 500, 500
    first, more = 4200, 8000
    vectors = clustered(303, first + more + 4 * batch, dim)
    data, spare = vectors[:first + more], vectors[first + more:]
    ids = [f"b{i}" for i in range(first + more)]
    srv = start_server(env={"PRISM_MAX_UNINDEXED_VECTORS": str(limit)})
    # a costly graph (large ef_construction and M), so that indexing is the
    # slower side whatever the machine
    col = make_client(srv).create_collection(
        "pressure", metadata={"hnsw:space": "l2", "hnsw:construction_ef": 400, "hnsw:M": 32}
    )
    # Past 4,096 vectors the whole collection waits for its first graph
    # (writers too); the bound below is about a collection that has one.
    col.add(ids=ids[:first], embeddings=data[:first])
    wait_complete(srv, col, first)

    # every write of the second part, encoded ahead
    writes = []
    for k, start in enumerate(range(first, first + more, batch)):
        end = start + batch
        writes.append(("upsert" if k % 4 == 1 else "add", body(ids[start:end], data[start:end])))
        if k % 8 == 3:
            # new embeddings for old records: new vectors for the graph
            which = list(range(k * 50, k * 50 + batch))
            fresh, spare = spare[:batch], spare[batch:]
            writes.append(("update", body([ids[i] for i in which], fresh)))
            data[which] = fresh

    with polling_status(srv, col, 0.002) as polls, httpx.Client(timeout=300) as h:
        for route, content in writes:
            post(h, srv, col, route, content)
    total = first + more
    assert col.count() == total
    assert len(polls) >= 10, len(polls)
    worst = max(polls, key=lambda s: s["num_unindexed_ops"])
    assert worst["num_unindexed_ops"] <= limit + batch, worst
    assert all(s["total_ops"] <= total for s in polls)

    wait_complete(srv, col, total)
    sample = list(range(0, total, 211))
    assert sum(self_first(col, [ids[i] for i in sample], data[sample])) >= len(sample) - 2
    assert sorted(all_ids(col)) == sorted(ids)


@PRISM_ONLY
def test_progress_is_reported_and_moves_forward(start_server):
    """A 30,000-vector ingest under the default backlog limit (10,000):
    indexing_status shows partial progress along the way (not only 0 and
    then 1.0); once the writes stop, its indexed count and fraction never go
    back, the total stays the record count, and it reaches 1.0 with every
    record in the graph."""
    n, dim, batch = 30_000, 64, 1000
    data = clustered(404, n, dim)
    ids = [f"p{i}" for i in range(n)]
    srv = start_server()
    col = make_client(srv).create_collection("progress", metadata={"hnsw:space": "l2"})

    with polling_status(srv, col, 0.01) as during:
        for start in range(0, n, batch):
            col.add(ids=ids[start:start + batch], embeddings=data[start:start + batch])
    after = wait_complete(srv, col, n)

    def partial(s: Dict[str, Any]) -> bool:
        return 0 < s["num_indexed_ops"] < s["total_ops"] and 0.0 < s["op_indexing_progress"] < 1.0

    assert any(partial(s) for s in during + after), (
        f"no partial progress in {len(during)} polls during the ingest and {len(after)} after: "
        f"{during[-3:]} {after[:3]}"
    )
    for s in after:
        assert s["total_ops"] == n, s
    for a, b in zip(after, after[1:]):
        assert b["num_indexed_ops"] >= a["num_indexed_ops"], (a, b)
        assert b["op_indexing_progress"] >= a["op_indexing_progress"], (a, b)
    assert after[-1]["op_indexing_progress"] == 1.0
    assert after[-1]["num_indexed_ops"] == n
    # Indexing only adds: once the collection has its graph (every poll with
    # records outside it), the indexed count never went back either.
    with_graph = [s for s in during + after if s["num_indexed_ops"] > 0 and s["total_ops"] > 4096]
    for a, b in zip(with_graph, with_graph[1:]):
        assert b["num_indexed_ops"] >= a["num_indexed_ops"], (a, b)
    assert col.count() == n


@PRISM_ONLY
def test_restart_mid_indexing_loses_nothing(start_server):
    """A collection indexed and cleanly stopped (its graph saved), restarted,
    then given 16,000 more vectors without a backlog limit so that most are
    outside the graph, and killed with SIGKILL while indexing_status says so.
    After the restart every acknowledged record is there (count, ids,
    embeddings), the last vectors added are their own nearest neighbours at
    once (searched before the graph has caught up), and indexing reaches 1.0
    over the same total. Then the same with a clean stop (SIGTERM) in the
    middle of indexing: it exits with status 0, and the restarted server has
    everything and finishes indexing."""
    dim = 64
    first, second, third = 5000, 16_000, 8000
    total = first + second + third
    vectors = clustered(505, total + 100, dim)
    data, queries = vectors[:total], vectors[total:]
    ids = [f"k{i}" for i in range(total)]
    env = {"PRISM_MAX_UNINDEXED_VECTORS": "1000000"}

    def add(srv, col, start: int, end: int, step: int = 2000) -> None:
        writes = [body(ids[s:min(s + step, end)], data[s:min(s + step, end)]) for s in range(start, end, step)]
        with httpx.Client(timeout=300) as h:
            for content in writes:
                post(h, srv, col, "add", content)

    def check(srv, upto: int, newest: Sequence[int]) -> Any:
        col = make_client(srv).get_collection("restart")
        # first request after the restart: the newest records, searched
        # before the graph has caught up
        assert all(self_first(col, [ids[i] for i in newest], data[newest])), "newest not found first"
        res = col.query(query_embeddings=data[newest], n_results=1, include=["distances"])
        assert all(row[0] == pytest.approx(0.0, abs=1e-4) for row in res["distances"])
        assert col.count() == upto
        assert sorted(all_ids(col)) == sorted(ids[:upto])
        sample = sorted(set(range(0, upto, 173)) | set(newest))
        got = col.get(ids=[ids[i] for i in sample], include=["embeddings"])
        stored = dict(zip(got["ids"], got["embeddings"]))
        for i in sample:
            assert np.array_equal(np.asarray(stored[ids[i]], dtype=np.float32), data[i]), ids[i]
        return col

    srv = start_server(env=env)
    col = make_client(srv).create_collection("restart", metadata={"hnsw:space": "l2"})
    add(srv, col, 0, first)
    wait_complete(srv, col, first)
    assert srv.stop(sig=signal.SIGTERM) == 0
    graph_json = srv.path / "index" / str(col.id) / "graph" / "graph.json"
    assert json.loads(graph_json.read_text())["nodes"] == first, "graph saved at the clean stop"

    # a backlog, then SIGKILL while it is still there
    srv = start_server(path=srv.path, env=env)
    col = make_client(srv).get_collection("restart")
    add(srv, col, first, first + second)
    s = status(srv, col)
    assert s["total_ops"] == first + second
    assert s["num_unindexed_ops"] > 0 and s["op_indexing_progress"] < 1.0, (
        f"indexing already complete ({s}): make the ingest larger"
    )
    srv.stop(sig=signal.SIGKILL)
    assert not srv.running()

    srv = start_server(path=srv.path, env=env)
    newest = list(range(first + second - 20, first + second))
    col = check(srv, first + second, newest)
    seen = wait_complete(srv, col, first + second)
    assert all(s["total_ops"] == first + second for s in seen), seen
    assert sum(self_first(col, [ids[i] for i in range(0, first + second, 311)],
                          data[0:first + second:311])) >= len(range(0, first + second, 311)) - 2

    # more, then a clean stop before the graph has them all
    add(srv, col, first + second, total)
    s = status(srv, col)
    assert s["num_unindexed_ops"] > 0, f"indexing already complete ({s}): make the ingest larger"
    assert srv.stop(sig=signal.SIGTERM) == 0

    srv = start_server(path=srv.path, env=env)
    col = check(srv, total, list(range(total - 20, total)))
    wait_complete(srv, col, total)
    assert recall(col, data, queries) >= 0.9


@PRISM_ONLY
def test_random_vectors_get_the_search_breadth_their_recall_needs(start_server):
    """Independent random 384-d vectors are HNSW's hard case: at Chroma's
    default ef_search a graph finds about 0.8 of the true top 10. A
    collection left at that default has its search breadth measured once
    its graph holds every vector: indexing_status reports the breadth
    chosen (`search_ef`, above the 150 used before measuring) and the
    recall measured there, and queries reach recall@10 >= 0.95 against
    brute force. A collection created with its own ef_search keeps it: no
    breadth is reported for it."""
    n, dim, batch = 6000, 384, 1000
    rng = np.random.default_rng(505)
    data = rng.standard_normal((n, dim)).astype(np.float32)
    queries = rng.standard_normal((60, dim)).astype(np.float32)
    srv = start_server()
    client = make_client(srv)
    tuned = client.create_collection("measured", metadata={"hnsw:space": "l2"})
    own = client.create_collection(
        "own-breadth", configuration={"hnsw": {"space": "l2", "ef_search": 60}}
    )
    for col in (tuned, own):
        for start in range(0, n, batch):
            col.add(ids=[f"r{i}" for i in range(start, start + batch)],
                    embeddings=data[start:start + batch])
        wait_complete(srv, col, n)

    deadline = time.monotonic() + CATCH_UP_TIMEOUT
    while "search_ef" not in (s := status(srv, tuned)):
        assert time.monotonic() < deadline, f"no breadth measured: {s}\nlog:\n{srv.log_text()}"
        time.sleep(0.05)
    assert s["search_ef"] > 150, s
    assert s["search_recall_estimate"] >= 0.95, s
    assert recall(tuned, data, queries) >= 0.95

    s = status(srv, own)
    assert "search_ef" not in s and "search_recall_estimate" not in s, s
    assert recall(own, data, queries) < 0.95

"""`prism backup` and `prism restore` with the real client: a backup taken
while writers keep adding records to the live server, restored into a new
directory that a second server serves; every record acknowledged before the
backup began is there as it was written, nothing that was never acknowledged
is, and the refusals exit non-zero saying what is wrong."""

from __future__ import annotations

import signal
import tarfile
import threading
import time
from typing import Dict, List, Set, Tuple

import httpx
import numpy as np
import pytest

from e2e_util import make_client, prism

pytestmark = pytest.mark.prism_only("prism backup / prism restore are Prism's commands")

WRITERS = 3
BATCH = 20
DIM = 16
# Past the default graph threshold (4,096 vectors), so the backup carries a graph.
SEED = 5000


# Every record's contents follow from its id, so what a restored server
# returns can be checked against what was sent.
def vectors(numbers) -> np.ndarray:
    """Vectors that follow from numbers and are exact in float32."""
    n = np.asarray(list(numbers), dtype=np.int64)
    v = (n[:, None] * 2654435761 + np.arange(DIM) * 40503 + 12345) % 1021 - 510
    v[:, 0] = n  # distinct for every number
    return (v / 64.0).astype(np.float32)


def parse(rid: str) -> Tuple[int, int, int]:
    """(writer, batch, i) of a writer's record `w<writer>-b<batch>-<i>`."""
    w, b, i = rid[1:].replace("-b", "-").split("-")
    return int(w), int(b), int(i)


def number(rid: str) -> int:
    if rid.startswith("seed-"):
        return int(rid[5:])
    w, b, i = parse(rid)
    return (w + 1) * 1_000_000 + b * BATCH + i


def document(rid: str) -> str:
    return f"document of {rid}"


def metadata(rid: str) -> Dict:
    if rid.startswith("seed-"):
        return {"seed": True, "i": int(rid[5:])}
    w, b, i = parse(rid)
    return {"writer": w, "batch": b, "i": i}


def add(col, ids: List[str]) -> None:
    col.add(
        ids=ids,
        embeddings=vectors(number(r) for r in ids),
        documents=[document(r) for r in ids],
        metadatas=[metadata(r) for r in ids],
    )


def wait_for_graph(srv, col, timeout: float = 60) -> None:
    url = f"{srv.api}/tenants/default_tenant/databases/default_database/collections/{col.id}/indexing_status"
    deadline = time.monotonic() + timeout
    while httpx.get(url, timeout=10).json()["op_indexing_progress"] < 1.0:
        assert time.monotonic() < deadline, "graph not built"
        time.sleep(0.05)


class Writers:
    """Threads adding batches through their own clients, and when each batch
    was acknowledged (its add returned)."""

    def __init__(self, srv) -> None:
        self.srv = srv
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked: Dict[Tuple[int, int], float] = {}
        self.errors: List[BaseException] = []
        self.threads = [threading.Thread(target=self.run, args=(w,)) for w in range(WRITERS)]

    def run(self, writer: int) -> None:
        try:
            col = make_client(self.srv).get_collection("live")
            batch = 0
            while not self.stop.is_set():
                add(col, [f"w{writer}-b{batch}-{i}" for i in range(BATCH)])
                with self.lock:
                    self.acked[(writer, batch)] = time.monotonic()
                batch += 1
        except BaseException as e:  # reported by the test
            self.errors.append(e)

    def acked_before(self, t: float) -> Set[Tuple[int, int]]:
        with self.lock:
            return {k for k, at in self.acked.items() if at < t}

    def count(self) -> int:
        with self.lock:
            return len(self.acked)


def test_backup_of_a_live_server_restores_every_acknowledged_record(start_server, tmp_path):
    started = time.monotonic()
    srv = start_server()
    col = make_client(srv).create_collection("live")
    seed = [f"seed-{i}" for i in range(SEED)]
    for at in range(0, SEED, 1000):
        add(col, seed[at : at + 1000])
    # Once built, the graph is saved at shutdown: the backup then carries a
    # saved graph older than the records written after the restart.
    wait_for_graph(srv, col)
    assert srv.stop(signal.SIGTERM) == 0
    assert (srv.path / "index" / str(col.id) / "graph" / "graph.json").exists()
    srv = start_server(path=srv.path)

    writers = Writers(srv)
    for t in writers.threads:
        t.start()
    try:
        while writers.count() < 3 * WRITERS and not writers.errors:
            time.sleep(0.01)
        began = time.monotonic()
        must_have = writers.acked_before(began)
        out = tmp_path / "live.backup"
        done = prism("backup", "--path", str(srv.path), "--out", str(out))
        backup_seconds = time.monotonic() - began
        during = writers.count() - len(must_have)
        time.sleep(0.2)
    finally:
        writers.stop.set()
        for t in writers.threads:
            t.join(timeout=60)
    assert not writers.errors, writers.errors
    assert done.returncode == 0, done.stderr
    assert "1 collections" in done.stdout and "1 saved graphs" in done.stdout, done.stdout
    print(
        f"backup took {backup_seconds:.2f}s; {len(must_have)} batches acknowledged before it, "
        f"{during} while it ran"
    )

    restored = tmp_path / "restored"
    back = prism("restore", "--from", str(out), "--path", str(restored))
    assert back.returncode == 0, back.stderr
    assert "1 saved graphs" in back.stdout, back.stdout
    copy = make_client(start_server(path=restored)).get_collection("live")
    got = copy.get(include=["embeddings", "documents", "metadatas"])
    ids = got["ids"]
    assert copy.count() == len(ids) == len(set(ids))

    acknowledged = set(seed)
    for w, b in writers.acked:
        acknowledged.update(f"w{w}-b{b}-{i}" for i in range(BATCH))
    never = [r for r in ids if r not in acknowledged]
    assert not never, f"never acknowledged: {never[:5]}"
    assert set(ids) >= set(seed)
    present: Dict[int, Set[int]] = {w: set() for w in range(WRITERS)}
    for rid in ids:
        if not rid.startswith("seed-"):
            w, b, _ = parse(rid)
            present[w].add(b)
    for w, batches in present.items():
        # Whole batches, and of each writer its batches up to some point.
        assert batches == set(range(len(batches))), (w, sorted(batches))
    assert sum(len(b) for b in present.values()) * BATCH + SEED == len(ids)
    for w, b in must_have:
        assert b in present[w], f"batch {b} of writer {w} was acknowledged before the backup"

    assert got["documents"] == [document(r) for r in ids]
    assert got["metadatas"] == [metadata(r) for r in ids]
    assert np.array_equal(np.asarray(got["embeddings"], dtype=np.float32), vectors(number(r) for r in ids))

    probe = [ids[0], ids[len(ids) // 2], ids[-1]]
    hits = copy.query(query_embeddings=vectors(number(r) for r in probe), n_results=1, include=["distances"])
    assert [h[0] for h in hits["ids"]] == probe
    assert all(d[0] == pytest.approx(0.0, abs=1e-4) for d in hits["distances"])
    assert len(copy.get(where={"writer": 0}, include=[])["ids"]) == len(present[0]) * BATCH
    print(f"test ran {time.monotonic() - started:.1f}s")


def test_refusals_exit_non_zero_with_clear_messages(start_server, tmp_path):
    srv = start_server()
    make_client(srv).create_collection("small").add(
        ids=["a", "b"], embeddings=[[1.0, 2.0], [3.0, 4.0]], documents=["x", "y"]
    )
    good = tmp_path / "good.backup"
    made = prism("backup", "--path", str(srv.path), "--out", str(good))
    assert made.returncode == 0, made.stderr
    target = tmp_path / "target"

    def refused(args: List[str], *expect: str) -> None:
        r = prism(*args)
        assert r.returncode != 0, r.stdout
        for e in expect:
            assert e in r.stderr, r.stderr
        assert not target.exists(), "a refused restore left the target behind"

    refused(["restore", "--from", str(good), "--path", str(srv.path)],
            "is not empty", "prism.sqlite3", "empty or new directory")

    text = tmp_path / "notes.txt"
    text.write_text("just some text, no backup")
    refused(["restore", "--from", str(text), "--path", str(target)], "is not a Prism backup")

    data = good.read_bytes()
    cut = tmp_path / "cut.backup"
    cut.write_bytes(data[: len(data) // 2])
    refused(["restore", "--from", str(cut), "--path", str(target)], "is truncated or damaged")

    with tarfile.open(good) as tar:
        db_at = tar.getmember("prism.sqlite3").offset_data
    corrupt = bytearray(data)
    corrupt[db_at + 3000] ^= 0x01
    bad = tmp_path / "corrupt.backup"
    bad.write_bytes(bytes(corrupt))
    refused(["restore", "--from", str(bad), "--path", str(target)],
            "is truncated or damaged", "prism.sqlite3 has SHA-256")

    refused(["restore", "--from", str(tmp_path / "nope.backup"), "--path", str(target)], "does not exist")
    refused(["backup", "--path", str(tmp_path / "no-data"), "--out", str(tmp_path / "x")], "does not exist")

    ok = prism("restore", "--from", str(good), "--path", str(target))
    assert ok.returncode == 0, ok.stderr
    assert make_client(start_server(path=target)).get_collection("small").count() == 2

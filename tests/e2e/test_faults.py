"""Faults: the server killed (SIGKILL) again and again under concurrent
writers and readers, a full disk, and damaged files (saved HNSW graphs, the
SQLite write-ahead log, the SQLite database file).

What must hold: every acknowledged write survives with its content, nothing
unacknowledged is invented, a batch is all or nothing, the SQLite file passes
`PRAGMA integrity_check`, queries find the records; a full disk is a clear
507 error while reads go on, and writes work again once space is freed; a
damaged graph file is rebuilt (with a warning), a damaged log loses only
what it cannot vouch for, and a damaged database refuses to start with a
message naming the file.

Knobs: E2E_FAULT_SEED (the random seed, printed on failure)."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

import httpx
import numpy as np
import pytest
from chromadb.errors import InternalError

from auth_util import wait_refusal
from e2e_util import DB, assert_error, make_client
from fault_util import (
    ABSENT,
    Ledger,
    chunks,
    content,
    database_file,
    fill_file,
    integrity_check,
    integrity_check_copy,
    read_all,
    resize_tmpfs,
    tmpfs,
    vectors,
)
from test_persistence import wait_indexed

pytestmark = pytest.mark.prism_only(
    "fault injection into Prism's own files (SQLite database, saved graphs)"
)

DIM = 16


def seed() -> int:
    return int(os.environ.get("E2E_FAULT_SEED", "0")) or random.randrange(1, 1 << 30)


def self_query_misses(col: Any, ids: Sequence[str], embeddings: Sequence[Sequence[float]], k: int = 5) -> Dict[str, int]:
    """Query each record's own embedding: how many are not among the `k`
    nearest, how many are not the nearest, results repeating an id, and
    records found at a distance other than 0.

    An HNSW graph search is approximate: on random 16-dimensional vectors
    about one query in 20,000 misses its own record (measured on a graph
    built in one go, no faults). Callers allow that much (`allowed`)."""
    out = {"absent": 0, "not_first": 0, "repeats": 0, "not_zero": 0}
    for part in chunks(list(range(len(ids))), 200):
        res = col.query(query_embeddings=[embeddings[i] for i in part], n_results=k, include=["distances"])
        for row, dists, i in zip(res["ids"], res["distances"], part):
            out["absent"] += ids[i] not in row
            out["not_first"] += row[0] != ids[i]
            out["repeats"] += len(set(row)) != len(row)
            out["not_zero"] += ids[i] in row and dists[row.index(ids[i])] > 1e-4
    return out


def allowed(n: int) -> int:
    """Graph misses tolerated in `n` self-queries: 0.5%, at least one. A
    fault that loses records from the graph misses far more."""
    return max(1, n // 200)


# ---------------------------------------------------------------------------
# 1. kill -9 in a loop under concurrent writers and readers
# ---------------------------------------------------------------------------

ROUNDS = 5
PRELOAD = 4300  # past the 4,096 vectors from which a collection has a graph
UPSERT_POOL = 400


class Crashes:
    """Shared state of the writers and readers of every round."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.adds = Ledger()  # collection "crash-adds": adds (two writers), deletes
        self.ups = Ledger()  # collection "crash-upserts": upserts
        self.lock = threading.Lock()
        # ids of acknowledged adds nobody deletes, and their embeddings: what
        # the readers look for
        self.stable: List[str] = []
        self.stable_emb: Dict[str, List[float]] = {}
        # acknowledged-present ids the deleting writer may delete
        self.deletable: List[str] = []
        self.version = 0
        self.stats = {"acked": 0, "unanswered": 0, "reads": 0, "queries": 0, "lookups": 0, "graph_misses": 0}


def _writer_adds(st: Crashes, col, rnd: int, who: str, deletes: bool, stop: threading.Event,
                 fail, rng: random.Random) -> None:
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    n = 0
    op = 0
    while not stop.is_set():
        op += 1
        if deletes and op % 4 == 0:
            with st.lock:
                pool = st.deletable
                picked = [pool.pop(rng.randrange(len(pool))) for _ in range(min(5, len(pool)))]
            if not picked:
                continue
            batch = {rid: ABSENT for rid in picked}
            seq = st.adds.begin(batch)
            try:
                col.delete(ids=picked)
            except Exception as e:  # noqa: BLE001 - any failure: the delete may or may not have happened
                st.adds.unanswered_write(seq, batch)
                st.stats["unanswered"] += 1
                fail(f"{who} delete", e)
                return
            st.adds.acked(seq, batch)
            st.stats["acked"] += 1
            continue
        size = rng.randrange(10, 41)
        ids = [f"r{rnd}-{who}-{n + i}" for i in range(size)]
        embs = vectors(nrng, size, DIM)
        docs = [f"round {rnd} {who} {n + i}" for i in range(size)]
        metas = [{"round": rnd, "w": who, "n": n + i} for i in range(size)]
        n += size
        batch = {rid: content(e, d, m) for rid, e, d, m in zip(ids, embs, docs, metas)}
        seq = st.adds.begin(batch)
        try:
            col.add(ids=ids, embeddings=embs, documents=docs, metadatas=metas)
        except Exception as e:  # noqa: BLE001
            st.adds.unanswered_write(seq, batch)
            st.stats["unanswered"] += 1
            fail(f"{who} add", e)
            return
        st.adds.acked(seq, batch)
        st.stats["acked"] += 1
        with st.lock:
            if deletes:
                st.deletable.extend(ids)
            else:
                st.stable.extend(ids)
                st.stable_emb.update(zip(ids, embs))


def _writer_upserts(st: Crashes, col, stop: threading.Event, fail, rng: random.Random) -> None:
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    while not stop.is_set():
        picked = rng.sample(range(UPSERT_POOL), 15)
        with st.lock:
            st.version += 1
            v = st.version
        ids = [f"u{k}" for k in picked]
        embs = vectors(nrng, len(ids), DIM)
        docs = [f"{rid} version {v}" for rid in ids]
        metas = [{"v": v, "k": k} for k in picked]
        batch = {rid: content(e, d, m) for rid, e, d, m in zip(ids, embs, docs, metas)}
        seq = st.ups.begin(batch)
        try:
            col.upsert(ids=ids, embeddings=embs, documents=docs, metadatas=metas)
        except Exception as e:  # noqa: BLE001
            st.ups.unanswered_write(seq, batch)
            st.stats["unanswered"] += 1
            fail("upserter", e)
            return
        st.ups.acked(seq, batch)
        st.stats["acked"] += 1


def _reader(st: Crashes, col, kind: str, stop: threading.Event, fail, rng: random.Random) -> None:
    while not stop.is_set():
        with st.lock:
            if len(st.stable) < 10:
                continue
            ids = rng.sample(st.stable, 10)
            embs = [st.stable_emb[i] for i in ids]
        try:
            if kind == "get":
                got = col.get(ids=ids, include=["embeddings", "documents", "metadatas"])
                st.stats["reads"] += 1
            else:
                res = col.query(query_embeddings=embs, n_results=5, include=["distances"])
                st.stats["queries"] += 1
        except Exception as e:  # noqa: BLE001
            fail(f"reader {kind}", e)
            return
        if kind == "get":
            assert sorted(got["ids"]) == sorted(ids), f"acknowledged records missing from get: {set(ids) - set(got['ids'])}"
            for i, rid in enumerate(got["ids"]):
                c = content(got["embeddings"][i], got["documents"][i], got["metadatas"][i])
                assert st.adds.allowed[rid] == {c}, f"{rid} read back as {c[1:]}"
        else:
            for rid, row, dists in zip(ids, res["ids"], res["distances"]):
                st.stats["lookups"] += 1
                assert len(set(row)) == len(row), f"a query returned an id twice: {row}"
                if rid in row:
                    assert dists[row.index(rid)] <= 1e-4, (rid, dists)
                else:
                    # an approximate miss, if the record is there (counted)
                    st.stats["graph_misses"] += 1
                    try:
                        there = col.get(ids=[rid])["ids"]
                    except Exception as e:  # noqa: BLE001
                        fail("reader query", e)
                        return
                    assert there == [rid], f"acknowledged {rid} is gone: {row}"


def test_kill_9_in_a_loop_under_concurrent_writers_and_readers(start_server, tmp_path):
    """Five rounds of: start on the same directory, three writers (adds to a
    collection past the graph threshold, adds and deletes to it, upserts to
    another) and two readers (get, query) at full speed, SIGKILL at a random
    moment. Then every acknowledged write is there with its content, every
    record there was written (acknowledged, or unanswered when the server
    died), unanswered batches are all or nothing, counts agree, the SQLite
    file is intact after every crash, and queries for exact embeddings find
    their records (through the stale saved graph caught up at load)."""
    s = seed()
    rnd = random.Random(s)
    st = Crashes(s)
    path = tmp_path / "crashes"
    why = f"(E2E_FAULT_SEED={s})"

    first = start_server(path=path)
    c = make_client(first)
    adds = c.create_collection("crash-adds")
    c.create_collection("crash-upserts")
    nrng = np.random.default_rng(s)
    for part in chunks(list(range(PRELOAD)), 1100):
        ids = [f"p{i}" for i in part]
        embs = vectors(nrng, len(part), DIM)
        docs = [f"preload {i}" for i in part]
        metas = [{"p": i} for i in part]
        batch = {rid: content(e, d, m) for rid, e, d, m in zip(ids, embs, docs, metas)}
        seq = st.adds.begin(batch)
        adds.add(ids=ids, embeddings=embs, documents=docs, metadatas=metas)
        st.adds.acked(seq, batch)
        st.stable.extend(ids[: len(ids) // 2])
        st.stable_emb.update(zip(ids, embs))
        st.deletable.extend(ids[len(ids) // 2:])
    adds.query(query_embeddings=embs[:1], n_results=1)
    wait_indexed(first, adds)
    assert first.stop() == 0
    graph = path / "index" / str(adds.id) / "graph" / "graph.json"
    assert graph.exists(), "the graph was saved at the clean stop"
    saved_nodes = json.loads(graph.read_text())["nodes"]

    for r in range(ROUNDS):
        srv = start_server(path=path)
        stop = threading.Event()
        killed_at = [float("inf")]
        errors: List[str] = []

        def fail(who: str, e: BaseException, _errors=errors, _killed=killed_at) -> None:
            if time.monotonic() < _killed[0]:
                _errors.append(f"{who}: {type(e).__name__}: {e}")

        def run(target, *args, _errors=errors):
            try:
                target(*args)
            except AssertionError as e:  # wrong data: never excused by the kill
                _errors.append(f"{target.__name__}: {e}")

        rngs = [random.Random(rnd.randrange(1 << 30)) for _ in range(5)]
        # one client each, made before the clock starts
        cols = [make_client(srv).get_collection(name) for name in
                ("crash-adds", "crash-adds", "crash-upserts", "crash-adds", "crash-adds")]
        threads = [
            threading.Thread(target=run, args=(_writer_adds, st, cols[0], r, "a", False, stop, fail, rngs[0])),
            threading.Thread(target=run, args=(_writer_adds, st, cols[1], r, "b", True, stop, fail, rngs[1])),
            threading.Thread(target=run, args=(_writer_upserts, st, cols[2], stop, fail, rngs[2])),
            threading.Thread(target=run, args=(_reader, st, cols[3], "get", stop, fail, rngs[3])),
            threading.Thread(target=run, args=(_reader, st, cols[4], "query", stop, fail, rngs[4])),
        ]
        for t in threads:
            t.start()
        time.sleep(rnd.uniform(0.5, 2.0))
        killed_at[0] = time.monotonic()
        srv.kill()
        stop.set()
        for t in threads:
            t.join(timeout=60)
            assert not t.is_alive(), f"a worker hangs after the kill {why}"
        assert not errors, f"round {r}: failures while the server was up {why}:\n" + "\n".join(errors)
        db = database_file(path)
        assert integrity_check_copy(db) == ["ok"], f"round {r}: damaged after SIGKILL {why}"

    assert st.stats["acked"] > 100 and st.stats["reads"] > 10 and st.stats["queries"] > 10, st.stats
    assert st.stats["unanswered"] > 0, f"no write was in flight at any kill: the test proved nothing {st.stats}"
    assert st.stats["graph_misses"] <= allowed(st.stats["lookups"]), f"queries miss their records: {st.stats} {why}"
    print(f"kill -9 rounds {why}: {st.stats}, {len(st.adds.unanswered) + len(st.ups.unanswered)} unanswered batches")

    final = start_server(path=path)
    c = make_client(final)
    adds = c.get_collection("crash-adds")
    ups = c.get_collection("crash-upserts")
    for name, col, ledger in (("crash-adds", adds, st.adds), ("crash-upserts", ups, st.ups)):
        found = read_all(col)
        problems = ledger.check(found)
        assert not problems, f"{name} {why}: {len(problems)} problems:\n" + "\n".join(problems[:30])
        assert col.count() == len(found), f"{name}: count {col.count()} but {len(found)} records {why}"
    found = read_all(adds)
    assert len(found) > saved_nodes, "records were added after the saved graph"

    # Queries for exact embeddings find their records: at once (exact search
    # while the saved graph loads) and through the caught-up graph.
    present = sorted(found)
    fresh = [rid for rid in present if rid.startswith(f"r{ROUNDS - 1}-")]
    older = random.Random(s).sample(sorted(set(present) - set(fresh)), 400)
    assert len(fresh) > 20, f"the last round acknowledged only {len(fresh)} adds"
    for when in ("at once", "graph ready"):
        if when == "graph ready":
            wait_indexed(final, adds)
        for which, sample in (("fresh", fresh), ("older", older)):
            misses = self_query_misses(adds, sample, [list(found[rid][0]) for rid in sample])
            assert misses["repeats"] == 0 and misses["not_zero"] == 0, f"{when}, {which}: {misses} {why}"
            assert misses["absent"] <= allowed(len(sample)), f"{when}, {which} records: {misses} {why}"
    up_found = read_all(ups)
    up_ids = sorted(up_found)
    misses = self_query_misses(ups, up_ids, [list(up_found[i][0]) for i in up_ids])
    assert misses == {"absent": 0, "not_first": 0, "repeats": 0, "not_zero": 0}, f"{misses} {why} (exact search)"

    assert final.stop() == 0
    assert integrity_check(database_file(path)) == ["ok"]
    assert "panicked" not in final.log_text(200_000)


# ---------------------------------------------------------------------------
# 2. a full disk
# ---------------------------------------------------------------------------

FULL_DISK_MB = 16
FILLER_MB = 4


def fill_to_the_brim(path: Path) -> None:
    """Take every block left on the file system."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\xa5" * 4096)
        except OSError as e:
            assert e.errno == 28, e  # ENOSPC


def _add_raw(http: httpx.Client, col_id: str, ids: List[str], embs, docs) -> httpx.Response:
    return http.post(
        f"{DB}/collections/{col_id}/add",
        json={"ids": ids, "embeddings": embs, "documents": docs},
    )


def test_a_full_disk_is_a_clear_error_reads_go_on_and_writes_resume_when_space_is_freed(start_server, tmp_path):
    """The data directory on a 16 MiB tmpfs, with a 4 MiB filler file on it.
    Writes until the disk is full: the failing write is 507 in Chroma's error
    shape saying so (the Python client raises InternalError with it); reads
    and queries go on; nothing acknowledged is lost. The filler removed,
    writes work again on the same server. Filled again and stopped (its graph
    cannot be saved, its log not copied into the database file): no
    half-written graph file is left, the stop is clean; started again on the
    full disk it serves reads (writes 507); on a grown disk everything
    acknowledged is there and writes work."""
    # The tmpfs is the data directory itself: the server's log goes beside it.
    mnt = tmp_path / "small-disk"
    with tmpfs(mnt, FULL_DISK_MB):
        data = mnt
        filler = mnt / "filler.bin"
        fill_file(filler, FILLER_MB << 20)
        srv = start_server(path=data)
        try:
            _full_disk(srv, data, filler, mnt, start_server)
        finally:
            srv.kill()


def _full_disk(srv, data: Path, filler: Path, mnt: Path, start_server) -> None:
    c = make_client(srv)
    col = c.create_collection("full-disk")
    rng = np.random.default_rng(seed())
    acked: Dict[str, Any] = {}
    http = httpx.Client(base_url=srv.api, timeout=60)  # closed with the test's garbage

    def fill(prefix: str, on: httpx.Client = http) -> tuple:
        """Add batches until one fails; returns (the failing response, its batch)."""
        n = 0
        while True:
            ids = [f"{prefix}{n + i}" for i in range(250)]
            embs = vectors(rng, 250, DIM)
            docs = [f"{rid} " + "lorem ipsum " * 20 for rid in ids]
            r = _add_raw(on, col.id, ids, embs, docs)
            if r.status_code != 201:
                return r, (ids, embs, docs)
            acked.update({rid: (e, d) for rid, e, d in zip(ids, embs, docs)})
            n += 250
            assert n < 400_000, "the disk never filled up"

    def check_acked(col_now) -> None:
        assert col_now.count() == len(acked)
        sample = sorted(acked)[:: max(1, len(acked) // 300)]
        got = col_now.get(ids=sample, include=["embeddings", "documents"])
        assert sorted(got["ids"]) == sample
        for rid, e, d in zip(got["ids"], got["embeddings"], got["documents"]):
            assert d == acked[rid][1], rid
            assert np.array_equal(np.asarray(e, dtype=np.float32), np.asarray(acked[rid][0], dtype=np.float32)), rid
        misses = self_query_misses(col_now, sample, [acked[rid][0] for rid in sample])
        assert misses["absent"] <= allowed(len(sample)) and misses["not_zero"] == 0, misses

    # -- fill until a write fails -------------------------------------------
    r, failed = fill("a")
    body = assert_error(r, 507, error="InternalError", message_re=r"(?i)insufficient storage.*disk.*full")
    assert "Traceback" not in body["message"] and "panicked" not in body["message"]
    assert len(acked) > 4096, f"filled at {len(acked)} records: the graph threshold was not crossed"
    # The same through the Python client: its InternalError carries the message.
    with pytest.raises(InternalError, match=r"(?i)disk .*full"):
        col.add(ids=failed[0], embeddings=failed[1], documents=failed[2])
    # Reads and queries keep working; nothing acknowledged is lost; the failed
    # batch left nothing behind.
    check_acked(col)
    assert col.get(ids=failed[0])["ids"] == []
    assert make_client(srv).heartbeat() > 0
    assert srv.running()

    # -- space freed: writes work again without a restart --------------------
    filler.unlink()
    r = _add_raw(http, col.id, *failed)
    assert r.status_code == 201, r.text
    acked.update({rid: (e, d) for rid, e, d in zip(*failed)})
    col.upsert(ids=["after-freeing"], embeddings=[[0.5] * DIM], documents=["space again"])
    acked["after-freeing"] = ([0.5] * DIM, "space again")
    check_acked(col)
    wait_indexed(srv, col)

    # -- full again, then stopped: the graph cannot be saved -----------------
    r, _ = fill("b")
    assert_error(r, 507, error="InternalError")
    check_acked(col)
    status = srv.stop()
    log = srv.log_text(200_000)
    assert "panicked" not in log, log
    assert re.search(r"saving vector indexes failed.*No space left on device", log), "the failed graph save is logged"
    assert status == 0, f"exit status {status} of a stop on a full disk; log:\n{log[-3000:]}"
    graph_dir = data / "index" / str(col.id)
    leftovers = [p.name for p in graph_dir.iterdir()] if graph_dir.exists() else []
    assert "graph.new" not in leftovers, f"a half-written graph was left on the full disk: {leftovers}"

    # -- started again on the full disk: reads are served; writes fit in the
    # log's blocks as long as they can (SQLite reuses them), then are 507 ----
    fill_to_the_brim(data / "brim.bin")
    full = start_server(path=data)
    try:
        col_full = make_client(full).get_collection("full-disk")
        check_acked(col_full)
        with httpx.Client(base_url=full.api, timeout=60) as h:
            r, failed = fill("c", on=h)
        assert_error(r, 507, error="InternalError", message_re=r"(?i)insufficient storage")
        assert col_full.get(ids=failed[0])["ids"] == []
        check_acked(col_full)
        assert full.stop() == 0
    finally:
        full.kill()
    assert "the disk holding the data directory is full: reads are served" in full.log_text(200_000)

    # -- a bigger disk: everything acknowledged is there ---------------------
    resize_tmpfs(mnt, FULL_DISK_MB * 2)
    again = start_server(path=data)
    try:
        col2 = make_client(again).get_collection("full-disk")
        check_acked(col2)
        col2.add(ids=["after-restart"], embeddings=[[0.25] * DIM])
        assert col2.count() == len(acked) + 1
        assert again.stop() == 0
    finally:
        again.kill()
    assert integrity_check(database_file(data)) == ["ok"]


# ---------------------------------------------------------------------------
# 3a. damaged saved graph files
# ---------------------------------------------------------------------------

GRAPH_RECORDS = 5000


@pytest.fixture(scope="module")
def saved_graph(start_module_server, tmp_path_factory):
    """A data directory whose collection has a saved graph (clean stop), its
    vectors, and the collection id."""
    base = tmp_path_factory.mktemp("saved-graph")
    srv = start_module_server(path=base / "pristine")
    col = make_client(srv).create_collection("graphed")
    rng = np.random.default_rng(21)
    embs = vectors(rng, GRAPH_RECORDS, DIM)
    ids = [f"g{i}" for i in range(GRAPH_RECORDS)]
    for part in chunks(list(range(GRAPH_RECORDS)), 2500):
        col.add(ids=[ids[i] for i in part], embeddings=[embs[i] for i in part])
    col.query(query_embeddings=embs[:1], n_results=1)
    wait_indexed(srv, col)
    assert srv.stop() == 0
    graph = base / "pristine" / "index" / str(col.id) / "graph"
    assert (graph / "graph.bin").stat().st_size > GRAPH_RECORDS * 6
    return base / "pristine", str(col.id), ids, embs


def _node_offsets(b: bytes) -> List[int]:
    """Where each node of a graph.bin starts (format 3)."""
    offsets, at = [], 0
    while at < len(b):
        offsets.append(at)
        level = b[at + 4]
        at += 5
        for _ in range(level + 1):
            at += 1 + 8 * b[at]
    return offsets


def _damage_truncate(p: Path) -> None:
    os.truncate(p, p.stat().st_size // 2 + 3)


def _damage_flip_middle(p: Path) -> None:
    b = bytearray(p.read_bytes())
    m = len(b) // 2
    for k in range(m, m + 64):
        b[k] ^= 0xFF
    p.write_bytes(bytes(b))


def _damage_one_distance_bit(p: Path) -> None:
    """One bit of one link distance in the middle: the file still parses."""
    b = bytearray(p.read_bytes())
    at = _node_offsets(b)[len(_node_offsets(b)) // 2]
    assert b[at + 5] > 0, "the node has links"
    b[at + 6 + 4] ^= 0x01  # lowest mantissa bit of its first link's distance
    p.write_bytes(bytes(b))


def _damage_repeat_slots(p: Path) -> None:
    """Nodes 100..199 claim the slots of nodes 0..99: the file still parses."""
    b = bytearray(p.read_bytes())
    offs = _node_offsets(b)
    for k in range(100):
        b[offs[100 + k]:offs[100 + k] + 4] = b[offs[k]:offs[k] + 4]
    p.write_bytes(bytes(b))


def _damage_garbage(p: Path) -> None:
    p.write_bytes(random.Random(5).randbytes(p.stat().st_size))


def _damage_empty(p: Path) -> None:
    p.write_bytes(b"")


def _damage_meta(p: Path) -> None:
    (p.parent / "graph.json").write_text('{"format": 3, "space": "l2", "dim"')


GRAPH_DAMAGE = {
    "truncated": _damage_truncate,
    "bytes-flipped-in-the-middle": _damage_flip_middle,
    "one-distance-bit": _damage_one_distance_bit,
    "repeated-slots": _damage_repeat_slots,
    "garbage": _damage_garbage,
    "empty": _damage_empty,
    "graph-json-cut": _damage_meta,
}


@pytest.mark.parametrize("damage", list(GRAPH_DAMAGE))
def test_a_damaged_saved_graph_is_rebuilt_with_a_warning(saved_graph, start_server, tmp_path, damage):
    pristine, col_id, ids, embs = saved_graph
    data = tmp_path / "data"
    shutil.copytree(pristine, data)
    graph = data / "index" / col_id / "graph"
    GRAPH_DAMAGE[damage](graph / "graph.bin")

    srv = start_server(path=data)
    col = make_client(srv).get_collection("graphed")
    sample = list(range(0, GRAPH_RECORDS, 17))
    sample_ids = [ids[i] for i in sample]
    sample_embs = [embs[i] for i in sample]
    # Exact search while the graph is prepared, then the rebuilt graph.
    assert self_query_misses(col, sample_ids, sample_embs)["absent"] <= allowed(len(sample))
    wait_indexed(srv, col)
    misses = self_query_misses(col, sample_ids, sample_embs)
    assert misses["repeats"] == 0 and misses["not_zero"] == 0, misses
    assert misses["absent"] <= allowed(len(sample)), misses
    assert col.count() == GRAPH_RECORDS
    assert srv.running()
    log = srv.log_text(200_000)
    assert "saved graph unusable; rebuilding" in log, log
    assert str(graph) in log, "the warning names the graph's directory"
    assert "panicked" not in log

    # The rebuilt graph is saved at the next clean stop and loads silently.
    assert srv.stop() == 0
    meta = json.loads((graph / "graph.json").read_text())
    assert meta["nodes"] == GRAPH_RECORDS and "checksum" in meta, meta
    again = start_server(path=data)
    col = make_client(again).get_collection("graphed")
    wait_indexed(again, col)
    misses = self_query_misses(col, sample_ids, sample_embs)
    assert misses["absent"] <= allowed(len(sample)) and misses["repeats"] == 0, misses
    assert "saved graph unusable" not in again.log_text(200_000)


# ---------------------------------------------------------------------------
# 3b. a damaged write-ahead log, a damaged database file
# ---------------------------------------------------------------------------

WAL_BATCHES = 10


@pytest.fixture(scope="module")
def crashed_with_wal(start_module_server, tmp_path_factory):
    """A data directory whose collection exists in the database file (clean
    stop) and whose ten later batches (one commit each) are only in the
    write-ahead log, the server killed: the log's length after each
    acknowledged batch, and the batches' contents."""
    base = tmp_path_factory.mktemp("wal")
    path = base / "pristine"
    srv = start_module_server(path=path)
    make_client(srv).create_collection("walled")
    assert srv.stop() == 0
    srv = start_module_server(path=path)
    col = make_client(srv).get_collection("walled")
    db = database_file(path)
    wal = db.with_name(db.name + "-wal")
    rng = np.random.default_rng(4)
    ends, batches = [], []
    for k in range(WAL_BATCHES):
        ids = [f"b{k}-{j}" for j in range(20)]
        embs = vectors(rng, 20, DIM)
        docs = [f"batch {k} record {j}" for j in range(20)]
        col.add(ids=ids, embeddings=embs, documents=docs)
        batches.append({rid: content(e, d, None) for rid, e, d in zip(ids, embs, docs)})
        ends.append(wal.stat().st_size)
    srv.kill()
    assert all(a < b for a, b in zip(ends, ends[1:])), f"one commit after another in the log: {ends}"
    return path, ends, batches


def _wal_case(crashed_with_wal, tmp_path):
    pristine, ends, batches = crashed_with_wal
    data = tmp_path / "data"
    shutil.copytree(pristine, data)
    db = database_file(data)
    return data, db, db.with_name(db.name + "-wal"), ends, batches


def _expect_batches(srv, batches, survivors: int) -> None:
    col = make_client(srv).get_collection("walled")
    found = read_all(col)
    want = {rid: c for batch in batches[:survivors] for rid, c in batch.items()}
    assert found == want, (
        f"expected batches 0..{survivors - 1}, found "
        f"{sorted({rid.split('-')[0] for rid in found})}"
    )
    assert col.count() == len(want)
    if want:
        rid = sorted(want)[-1]
        assert col.query(query_embeddings=[list(want[rid][0])], n_results=1)["ids"] == [[rid]]
    # and the store takes writes again
    col.add(ids=["after"], embeddings=[[1.0] * DIM])
    assert col.count() == len(want) + 1


@pytest.mark.parametrize("damage", ["cut-mid-frame", "byte-flipped-in-a-frame"])
def test_a_damaged_wal_recovers_to_the_last_intact_commit(crashed_with_wal, start_server, tmp_path, damage):
    data, db, wal, ends, batches = _wal_case(crashed_with_wal, tmp_path)
    at = (ends[6] + ends[7]) // 2  # inside batch 7's frames
    if damage == "cut-mid-frame":
        os.truncate(wal, at)
    else:
        b = bytearray(wal.read_bytes())
        b[at] ^= 0x20
        wal.write_bytes(bytes(b))
    srv = start_server(path=data)
    _expect_batches(srv, batches, survivors=7)
    assert srv.stop() == 0
    assert integrity_check(db) == ["ok"]
    assert "panicked" not in srv.log_text(200_000)


def test_a_wal_with_a_damaged_header_is_ignored_with_a_warning(crashed_with_wal, start_server, tmp_path):
    """SQLite ignores a log whose header fails its checksum: the database file
    (clean up to the last checkpoint) is what there is. Prism says so."""
    data, db, wal, ends, batches = _wal_case(crashed_with_wal, tmp_path)
    b = bytearray(wal.read_bytes())
    b[12] ^= 0x01  # the checkpoint sequence number, under the header checksum
    wal.write_bytes(bytes(b))
    srv = start_server(path=data)
    _expect_batches(srv, batches, survivors=0)
    log = srv.log_text(200_000)
    assert "write-ahead log's header is damaged" in log and str(wal) in log, log
    assert srv.stop() == 0
    assert integrity_check(db) == ["ok"]


def _truncate_main_to_zero(db: Path) -> None:
    os.truncate(db, 0)


def _garbage_header(db: Path) -> None:
    b = bytearray(db.read_bytes())
    b[0:16] = b"not a database!!"
    db.write_bytes(bytes(b))


def _cut_main(db: Path) -> None:
    os.truncate(db, 4096 + 100)


def _scramble_pages(db: Path) -> None:
    b = bytearray(db.read_bytes())
    for k in range(4096, len(b)):
        b[k] ^= 0x55
    db.write_bytes(bytes(b))


MAIN_DAMAGE = {
    # with the log of the crash still there
    "emptied-beside-its-log": (_truncate_main_to_zero, True, r"is empty but its write-ahead log"),
    # after a clean stop: no log to read pages from
    "header-overwritten": (_garbage_header, False, r"is damaged \(SQLite: file is not a database\)"),
    "cut-after-two-pages": (_cut_main, False, r"is damaged \(SQLite: .*malformed.*\)"),
    "pages-scrambled": (_scramble_pages, False, r"is damaged \(SQLite: .*\)"),
}


@pytest.mark.parametrize("damage", list(MAIN_DAMAGE))
def test_a_damaged_database_file_refuses_to_start_naming_it(crashed_with_wal, start_server, tmp_path, damage):
    data, db, wal, ends, batches = _wal_case(crashed_with_wal, tmp_path)
    fn, keep_wal, message = MAIN_DAMAGE[damage]
    if not keep_wal:
        # recover and checkpoint the log into the database file first
        srv = start_server(path=data)
        _expect_batches(srv, batches, survivors=WAL_BATCHES)
        assert srv.stop() == 0
        assert not wal.exists() or wal.stat().st_size == 0
    fn(db)
    srv = start_server(path=data, wait=False)
    out = wait_refusal(srv, timeout=60)
    assert str(db) in out, out
    assert re.search(message, out), out
    assert "panicked" not in out and "RUST_BACKTRACE" not in out, out
    # the damaged files are left as they were, for whoever restores them
    if keep_wal:
        assert db.stat().st_size == 0 and wal.stat().st_size > ends[-1] // 2

"""Encryption at rest (docs/ENCRYPTION.md): nothing readable on disk without
the key.

Records whose documents and metadata carry marker strings and whose
embeddings carry a distinctive float pattern go in through the real client;
every byte of every file under the data directory (write-ahead log, saved
graphs, prism.keys) is scanned for the markers and the raw float32 bytes,
while the server runs and after it stops. The same scan of a plain directory
finds them, so the scan can fail. Then: restart with the key (everything
back), refusals (no key, wrong key, truncated key file, mode 0644, a plain
directory given a key), kill -9 during ingest, and `prism key rotate` (both
kinds), `prism encrypt` and `prism decrypt` killed at random points: the
directory always opens with one of the keys and holds every record. Last,
`prism backup` of a live encrypted server: the backup file holds none of
the plaintext, and restored with the key it serves the same records.

Knobs: E2E_ENCRYPTION_SEED (the random seed, printed on failure),
E2E_ENCRYPTION_ROUNDS (kill rounds per operation, default 4)."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import struct
import subprocess
import tarfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest

from auth_util import wait_refusal
from conftest import prism_bin
from e2e_util import make_client, prism
from test_persistence import wait_indexed

pytestmark = pytest.mark.prism_only("encryption at rest is Prism's own")

DIM = 16
MARKER_DOC = "zebra-plaintext-marker-doc"
MARKER_META = "okapi-plaintext-marker-meta"
# A float pattern no random embedding holds; its float32 bytes are searched.
PATTERN = [1234.5678, -8765.4321, 0.0031415, 42.424242]
PATTERN_BYTES = struct.pack("<4f", *PATTERN)
GRAPH_RECORDS = 5000  # above the engine's graph threshold (4096): graphs get saved


def seed() -> int:
    return int(os.environ.get("E2E_ENCRYPTION_SEED", "0")) or random.randrange(1, 1 << 30)


def new_key(path: Path) -> Path:
    r = prism("key", "new", str(path))
    assert r.returncode == 0, r.stderr
    return path


def key_args(key: Optional[Path]) -> List[str]:
    return ["--encryption-key-file", str(key)] if key else []


def embedding(i: int, rng: np.random.Generator) -> List[float]:
    v = rng.random(DIM, dtype=np.float32).tolist()
    v[:4] = PATTERN
    v[4] = float(i)  # distinct records
    return v


def ingest(col, start: int, n: int, rng: np.random.Generator, batch: int = 1000) -> None:
    for at in range(start, start + n, batch):
        ids = list(range(at, min(at + batch, start + n)))
        col.add(
            ids=[f"r{i}" for i in ids],
            embeddings=[embedding(i, rng) for i in ids],
            documents=[f"{MARKER_DOC} number {i}" for i in ids],
            metadatas=[{"tag": MARKER_META, "n": i, "even": i % 2 == 0} for i in ids],
        )


def scan(data: Path) -> Dict[str, List[str]]:
    """Which files under `data` hold which plaintext."""
    needles = {
        "document": MARKER_DOC.encode(),
        "metadata": MARKER_META.encode(),
        "float32": PATTERN_BYTES,
    }
    found: Dict[str, List[str]] = {k: [] for k in needles}
    files = [p for p in data.rglob("*") if p.is_file()]
    assert files, f"no files under {data}"
    for p in files:
        try:
            blob = p.read_bytes()
        except FileNotFoundError:  # removed while a server runs
            continue
        for what, needle in needles.items():
            if needle in blob:
                found[what].append(str(p.relative_to(data)))
    return found


def digest(data: Path) -> Dict[str, str]:
    return {
        str(p.relative_to(data)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data.rglob("*"))
        if p.is_file()
    }


def check_content(col, n: int) -> None:
    assert col.count() == n
    got = col.get(ids=["r0", f"r{n - 1}"], include=["documents", "metadatas", "embeddings"])
    assert got["documents"] == [f"{MARKER_DOC} number 0", f"{MARKER_DOC} number {n - 1}"]
    assert got["metadatas"][0]["tag"] == MARKER_META
    assert np.allclose(got["embeddings"][0][:4], PATTERN)
    evens = col.get(where={"even": True}, include=[])
    assert len(evens["ids"]) == (n + 1) // 2
    few = col.get(where={"n": {"$lt": 10}}, where_document={"$contains": "number 7"}, include=[])
    assert few["ids"] == ["r7"]
    rng = np.random.default_rng(99)
    probe = embedding(3, rng)
    res = col.query(query_embeddings=[probe], n_results=5, where={"n": {"$lt": 100}}, include=["distances"])
    assert len(res["ids"][0]) == 5 and all(int(r[1:]) < 100 for r in res["ids"][0])


def wait_graph_saved(data: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list(data.glob("index/*/graph/graph.bin")):
            return
        time.sleep(0.2)
    raise AssertionError(f"no saved graph under {data}")


# ---------------------------------------------------------------------------
# 1. the scan: nothing readable on disk, with the key everything back


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Tuple[Path, Path]:
    d = tmp_path_factory.mktemp("keys")
    return new_key(d / "a.key"), new_key(d / "b.key")


def populate(start_server, path: Path, key: Optional[Path], n: int = GRAPH_RECORDS):
    """A server on `path` with `n` marked records and (flushed at stop) a
    saved graph; returns the running server after the running-scan."""
    srv = start_server(path=path, args=key_args(key))
    col = make_client(srv).create_collection("marked")
    ingest(col, 0, n, np.random.default_rng(1))
    check_content(col, n)
    wait_indexed(srv, col)
    return srv, scan(path)


def test_an_encrypted_directory_holds_no_plaintext_and_a_plain_one_does(start_server, tmp_path, keys):
    key, _ = keys
    enc = tmp_path / "enc"
    srv, running = populate(start_server, enc, key)
    assert (enc / "prism.keys").exists()
    assert (enc / "prism.sqlite3-wal").exists(), "the scan must cover a live write-ahead log"
    assert running == {"document": [], "metadata": [], "float32": []}, running
    srv.stop()
    wait_graph_saved(enc, timeout=1)
    stopped = scan(enc)
    assert stopped == {"document": [], "metadata": [], "float32": []}, stopped
    # The key never reaches the log.
    key_hex = key.read_text().strip().split(":")[1]
    assert key_hex not in srv.log_text(tail=10**7)

    plain = tmp_path / "plain"
    srv, running = populate(start_server, plain, None)
    assert running["document"] and running["metadata"] and running["float32"], running
    srv.stop()
    assert scan(plain)["float32"], "a plain directory holds the raw float32 bytes"
    assert not (plain / "prism.keys").exists()

    again = start_server(path=enc, args=key_args(key))
    col = make_client(again).get_collection("marked")
    check_content(col, GRAPH_RECORDS)
    again.stop()
    # Restart to first answer, graph loaded from its sealed file.
    started = time.monotonic()
    third = start_server(path=enc, args=key_args(key))
    col = make_client(third).get_collection("marked")
    col.query(query_embeddings=[embedding(1, np.random.default_rng(5))], n_results=3)
    elapsed = time.monotonic() - started
    print(f"encrypted restart to first answer: {elapsed:.2f}s")
    assert elapsed < 5
    assert "saved graph unusable" not in third.log_text(tail=10**6)
    third.stop()
    assert scan(enc) == {"document": [], "metadata": [], "float32": []}


# ---------------------------------------------------------------------------
# 2. refusals: each clear, non-zero, naming what to do; data untouched


def refused(start_server, path: Path, args: Sequence[str], env: Optional[Dict[str, str]] = None) -> str:
    srv = start_server(path=path, args=list(args), env=env, wait=False)
    return wait_refusal(srv)


def test_refusals_name_what_to_do_and_leave_the_data_untouched(start_server, tmp_path, keys):
    key, other = keys
    enc = tmp_path / "enc"
    srv = start_server(path=enc, args=key_args(key))
    ingest(make_client(srv).create_collection("marked"), 0, 300, np.random.default_rng(2))
    srv.stop()
    before = digest(enc)

    out = refused(start_server, enc, [])
    assert "is encrypted" in out and "--encryption-key-file" in out, out

    out = refused(start_server, enc, key_args(other))
    assert "does not open" in out and str(other) in out, out
    assert "not a database" not in out, out

    truncated = tmp_path / "truncated.key"
    truncated.write_text(key.read_text()[:30])
    truncated.chmod(0o600)
    out = refused(start_server, enc, key_args(truncated))
    assert "truncated" in out and "prism key new" in out, out

    garbage = tmp_path / "garbage.key"
    garbage.write_text("hello\n")
    garbage.chmod(0o600)
    out = refused(start_server, enc, key_args(garbage))
    assert "not a Prism key file" in out, out

    open_key = tmp_path / "open.key"
    open_key.write_text(key.read_text())
    open_key.chmod(0o644)
    out = refused(start_server, enc, key_args(open_key))
    assert "chmod 600" in out, out

    # The environment variable works as the flag does.
    out = refused(start_server, enc, [], env={"PRISM_ENCRYPTION_KEY_FILE": str(other)})
    assert "does not open" in out, out

    key_hex = key.read_text().strip().split(":")[1]
    for text in [out]:
        assert key_hex not in text
    assert digest(enc) == before, "a refused start changed the data directory"

    plain = tmp_path / "plain"
    srv = start_server(path=plain)
    make_client(srv).create_collection("xyz")
    srv.stop()
    out = refused(start_server, plain, key_args(key))
    assert "plain" in out and "prism encrypt" in out, out
    assert not (plain / "prism.keys").exists()

    # config check opens the envelope, says so, never prints the key.
    r = prism("config", "check", "--path", str(enc), "--encryption-key-file", str(key))
    assert r.returncode == 0, r.stderr
    assert "encryption:     on" in r.stdout, r.stdout
    assert key_hex not in r.stdout + r.stderr
    r = prism("config", "check", "--path", str(enc), "--encryption-key-file", str(other))
    assert r.returncode != 0 and "does not open" in r.stderr, r.stderr
    r = prism("config", "check", "--path", str(enc))
    assert r.returncode != 0 and "--encryption-key-file" in r.stderr, r.stderr

    # `prism key new` never overwrites.
    r = prism("key", "new", str(key))
    assert r.returncode != 0 and "refusing to overwrite" in r.stderr, r.stderr

    # A backup of an encrypted directory needs its key.
    r = prism("backup", "--path", str(enc), "--out", str(tmp_path / "b.tar"))
    assert r.returncode != 0 and "is encrypted" in r.stderr and "--encryption-key-file" in r.stderr, r.stderr
    r = prism("backup", "--path", str(enc), "--out", str(tmp_path / "b.tar"), *key_args(other))
    assert r.returncode != 0 and "does not open" in r.stderr, r.stderr
    assert not (tmp_path / "b.tar").exists()
    assert digest(enc) == before, "a refused backup changed the data directory"


# ---------------------------------------------------------------------------
# 3. kill -9 during ingest into an encrypted directory


def test_kill_9_during_encrypted_ingest_keeps_every_acknowledged_write(start_server, tmp_path, keys):
    key, _ = keys
    s = seed()
    why = f"(E2E_ENCRYPTION_SEED={s})"
    rng = random.Random(s)
    path = tmp_path / "enc"
    acked: List[int] = []
    for round_ in range(3):
        srv = start_server(path=path, args=key_args(key))
        col = make_client(srv).get_or_create_collection("ingest")
        stop = threading.Event()
        lock = threading.Lock()

        def writer(first: int) -> None:
            i = first
            local = np.random.default_rng(first)
            c = make_client(srv).get_collection("ingest")
            while not stop.is_set():
                ids = list(range(i, i + 50))
                try:
                    c.add(
                        ids=[f"r{j}" for j in ids],
                        embeddings=[embedding(j, local) for j in ids],
                        documents=[f"{MARKER_DOC} number {j}" for j in ids],
                        metadatas=[{"tag": MARKER_META, "n": j} for j in ids],
                    )
                except Exception:
                    return
                with lock:
                    acked.extend(ids)
                i += 100_000

        # Spread the writers' ids apart so they never collide.
        threads = [
            threading.Thread(target=writer, args=(1_000_000 * (round_ * 2 + k + 1),)) for k in range(2)
        ]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.5, 2.0))
        srv.kill()
        stop.set()
        for t in threads:
            t.join(timeout=30)
    srv = start_server(path=path, args=key_args(key))
    col = make_client(srv).get_collection("ingest")
    have = set(col.get(include=[])["ids"])
    missing = [i for i in acked if f"r{i}" not in have]
    assert not missing, f"{len(missing)} acknowledged writes lost {why}"
    assert len(acked) > 0, f"nothing was written {why}"
    srv.stop()
    assert scan(path) == {"document": [], "metadata": [], "float32": []}


# ---------------------------------------------------------------------------
# 4. rotation and conversion killed at random points


def opens_with(start_server, path: Path, candidates: Sequence[Optional[Path]], n: int) -> Optional[Path]:
    """The first of `candidates` (a key file, or None for plain) the
    directory opens with; asserts one does and every record is there."""
    outputs = []
    for key in candidates:
        srv = start_server(path=path, args=key_args(key), wait=False)
        try:
            srv.wait_ready(timeout=60)
        except RuntimeError as e:
            outputs.append(str(e)[-600:])
            continue
        col = make_client(srv).get_collection("marked")
        check_content(col, n)
        srv.stop()
        return key
    raise AssertionError("the directory opens with none of the keys:\n" + "\n".join(outputs))


def with_saved_graph(start_server, path: Path, key: Path, n: int) -> None:
    """`n` marked records in an encrypted directory at `path`, its graph
    built and saved, the server stopped: what the key operations rewrite."""
    srv = start_server(path=path, args=key_args(key))
    col = make_client(srv).create_collection("marked")
    ingest(col, 0, n, np.random.default_rng(3), batch=2000)
    col.query(query_embeddings=[embedding(0, np.random.default_rng(0))], n_results=1)
    wait_indexed(srv, col)
    srv.stop()
    wait_graph_saved(path, timeout=1)


def run_killed(args: Sequence[str], delay: float) -> Optional[int]:
    proc = subprocess.Popen(
        [str(prism_bin()), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None
    return proc.returncode


def timed(args: Sequence[str]) -> float:
    started = time.monotonic()
    r = prism(*args)
    assert r.returncode == 0, r.stderr
    return time.monotonic() - started


def test_rotation_and_conversion_killed_at_random_points_always_open(start_server, tmp_path, keys):
    s = seed()
    why = f"(E2E_ENCRYPTION_SEED={s})"
    rng = random.Random(s)
    rounds = int(os.environ.get("E2E_ENCRYPTION_ROUNDS", "4"))
    a, b = keys
    n = 20_000
    path = tmp_path / "enc"
    with_saved_graph(start_server, path, a, n)

    current = a
    outcomes: List[Tuple[str, str, bool]] = []
    # Rewrap, then re-encrypt, each killed at random times within what a whole
    # run takes; which key opens afterwards decides the next round's "old".
    for reencrypt in (False, True):
        extra = ["--reencrypt"] if reencrypt else []
        full = 0.0
        for round_ in range(rounds):
            new = b if current == a else a
            args = ["key", "rotate", "--path", str(path), "--key-file", str(current), "--new-key-file", str(new), *extra]
            if round_ == 0:
                full = max(0.05, timed(args))
                current = new
                continue
            rc = run_killed(args, rng.uniform(0, full * 1.2))
            opened = opens_with(start_server, path, [current, new], n)
            outcomes.append(("reencrypt" if reencrypt else "rewrap", "killed" if rc is None else "done", opened == new))
            assert rc in (None, 0), f"rotate failed with {rc} {why}"
            if rc == 0:
                assert opened == new, why
            current = opened
        assert scan(path) == {"document": [], "metadata": [], "float32": []}, why

    # `prism decrypt` / `prism encrypt` killed: opens plain or with the key.
    full = 0.0
    for round_ in range(rounds):
        encrypted = (path / "prism.keys").exists()
        if encrypted:
            args = ["decrypt", "--path", str(path), "--key-file", str(current)]
        else:
            args = ["encrypt", "--path", str(path), "--key-file", str(current)]
        if round_ == 0:
            full = max(0.05, timed(args))
            continue
        rc = run_killed(args, rng.uniform(0, full * 1.2))
        opened = opens_with(start_server, path, [current, None], n)
        outcomes.append((args[0], "killed" if rc is None else "done", opened is None))
    # End encrypted, and clean.
    if not (path / "prism.keys").exists():
        assert prism("encrypt", "--path", str(path), "--key-file", str(current)).returncode == 0
    opens_with(start_server, path, [current], n)
    assert scan(path) == {"document": [], "metadata": [], "float32": []}, why
    print(f"kill rounds {why}: (operation, killed or done, opened with the new key / plain): {outcomes}")


def run_killed_after_commit(args: Sequence[str], db: Path) -> Tuple[Optional[int], bool]:
    """Run `prism args` and kill it -9 the moment `db` is replaced (the
    operation's commit), while it rewrites the saved graphs. Returns its exit
    code (None when killed) and whether the kill came after the commit."""
    inode = db.stat().st_ino
    proc = subprocess.Popen(
        [str(prism_bin()), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    while proc.poll() is None:
        try:
            replaced = db.stat().st_ino != inode
        except FileNotFoundError:
            replaced = False
        if replaced:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return None, True
        time.sleep(0.0005)
    return proc.returncode, False


def test_conversions_killed_right_after_their_commit_finish_at_the_next_open(start_server, tmp_path, keys):
    """The window random kills rarely hit: the database is swapped in (the
    commit), the saved graphs are not yet rewritten. The next open finishes
    the operation: the directory opens in its new state (a plain key refused
    by a decrypted directory, no key refused by an encrypted one), with every
    record, and nothing readable is left in an encrypted one."""
    a, b = keys
    n = 20_000
    path = tmp_path / "enc"
    with_saved_graph(start_server, path, a, n)
    db = path / "prism.sqlite3"

    # (arguments, the key the new state opens with, the state that must be
    # refused). A re-encryption killed after its commit opens with either key
    # (the envelope holds both data keys until it is run again).
    steps = [
        (["key", "rotate", "--path", str(path), "--key-file", str(a), "--new-key-file", str(b), "--reencrypt"], [b, a], []),
        (["decrypt", "--path", str(path), "--key-file", str(b)], [None], [b]),
        (["encrypt", "--path", str(path), "--key-file", str(a)], [a], [None]),
    ]
    killed_after_commit = 0
    for args, opens, refused_with in steps:
        rc, after_commit = run_killed_after_commit(args, db)
        assert rc in (None, 0), f"{args[0]} failed with {rc}"
        killed_after_commit += after_commit
        for other in refused_with:
            refusal = start_server(path=path, args=key_args(other), wait=False)
            with pytest.raises(RuntimeError):
                refusal.wait_ready(timeout=30)
            refusal.stop()
        opened = opens_with(start_server, path, opens, n)
        expected = {"document": [], "metadata": [], "float32": []}
        if opened is not None:
            assert scan(path) == expected
        if args[0] == "key":
            # Run again, it finishes: the new key alone opens.
            again = ["key", "rotate", "--path", str(path), "--key-file", str(opened), "--new-key-file", str(b), "--reencrypt"]
            if opened != b:
                assert prism(*again).returncode == 0
            assert opens_with(start_server, path, [b], n) == b
    # At least one kill landed between the commit and the end.
    assert killed_after_commit >= 1


def test_encrypt_and_decrypt_convert_a_directory_both_ways(start_server, tmp_path, keys):
    key, other = keys
    path = tmp_path / "data"
    srv, _ = populate(start_server, path, None, n=GRAPH_RECORDS)
    srv.stop()
    assert scan(path)["document"]
    r = prism("encrypt", "--path", str(path), "--key-file", str(key))
    assert r.returncode == 0, r.stderr
    assert scan(path) == {"document": [], "metadata": [], "float32": []}
    r = prism("encrypt", "--path", str(path), "--key-file", str(key))
    assert r.returncode != 0 and "already encrypted" in r.stderr, r.stderr
    srv = start_server(path=path, args=key_args(key))
    check_content(make_client(srv).get_collection("marked"), GRAPH_RECORDS)
    assert "saved graph unusable" not in srv.log_text(tail=10**6)
    # Rotation is refused while a server runs on the directory, for the
    # kinds that rewrite the data.
    r = prism("key", "rotate", "--reencrypt", "--path", str(path), "--key-file", str(key), "--new-key-file", str(other))
    assert r.returncode != 0 and "stop the server" in r.stderr, r.stderr
    srv.stop()
    r = prism("decrypt", "--path", str(path), "--key-file", str(other))
    assert r.returncode != 0 and "does not open" in r.stderr, r.stderr
    r = prism("decrypt", "--path", str(path), "--key-file", str(key))
    assert r.returncode == 0, r.stderr
    assert not (path / "prism.keys").exists()
    srv = start_server(path=path)
    check_content(make_client(srv).get_collection("marked"), GRAPH_RECORDS)
    srv.stop()


# ---------------------------------------------------------------------------
# 5. prism backup / prism restore of an encrypted directory


def test_backup_of_a_live_encrypted_server_holds_no_plaintext_and_restores_with_its_key(
    start_server, tmp_path, keys
):
    key, other = keys
    enc = tmp_path / "enc"
    srv = start_server(path=enc, args=key_args(key))
    col = make_client(srv).create_collection("marked")
    ingest(col, 0, GRAPH_RECORDS, np.random.default_rng(3))
    wait_indexed(srv, col)
    srv.stop()  # saves the (sealed) graph, which the backup then carries
    wait_graph_saved(enc, timeout=1)
    srv = start_server(path=enc, args=key_args(key))
    col = make_client(srv).get_collection("marked")

    # One writer keeps adding while the backup runs; ids stay contiguous.
    stop = threading.Event()
    acked = [GRAPH_RECORDS]
    errors: List[BaseException] = []

    def write() -> None:
        try:
            w = make_client(srv).get_collection("marked")
            rng = np.random.default_rng(4)
            while not stop.is_set():
                ingest(w, acked[0], 50, rng, batch=50)
                acked[0] += 50
        except BaseException as e:  # reported below
            errors.append(e)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while acked[0] < GRAPH_RECORDS + 100 and not errors:
            time.sleep(0.01)
        before = acked[0]
        out = tmp_path / "enc.backup"
        done = prism("backup", "--path", str(enc), "--out", str(out), *key_args(key))
        after = acked[0]
    finally:
        stop.set()
        writer.join(timeout=60)
    assert not errors, errors
    assert done.returncode == 0, done.stderr
    assert "encrypted" in done.stdout and "1 saved graphs" in done.stdout, done.stdout

    blob = out.read_bytes()
    for what, needle in [
        ("document", MARKER_DOC.encode()),
        ("metadata", MARKER_META.encode()),
        ("float32", PATTERN_BYTES),
        ("a plain SQLite header", b"SQLite format 3\0"),
    ]:
        assert needle not in blob, f"the backup holds {what} in the clear"
    with tarfile.open(out) as tar:
        assert tar.getnames()[:3] == ["prism-backup.json", "prism.keys", "prism.sqlite3"], tar.getnames()

    # Without the key, or with another, nothing is written.
    target = tmp_path / "restored"
    r = prism("restore", "--from", str(out), "--path", str(target))
    assert r.returncode != 0 and "--encryption-key-file" in r.stderr, r.stderr
    r = prism("restore", "--from", str(out), "--path", str(target), *key_args(other))
    assert r.returncode != 0 and "does not open" in r.stderr, r.stderr
    assert not target.exists(), "a refused restore wrote the target"

    # The environment variable works as the flag does.
    back = prism("restore", "--from", str(out), "--path", str(target), env={"PRISM_ENCRYPTION_KEY_FILE": str(key)})
    assert back.returncode == 0, back.stderr
    assert "--encryption-key-file" in back.stdout, back.stdout
    assert scan(target) == {"document": [], "metadata": [], "float32": []}

    out_text = refused(start_server, target, [])
    assert "is encrypted" in out_text, out_text
    copy = make_client(start_server(path=target, args=key_args(key))).get_collection("marked")
    n = copy.count()
    assert before <= n <= after, (before, n, after)
    check_content(copy, n)
    fields = ["documents", "metadatas", "embeddings"]
    restored = copy.get(include=fields)
    original = col.get(ids=restored["ids"], include=fields)
    order = {rid: i for i, rid in enumerate(original["ids"])}
    assert sorted(order) == sorted(restored["ids"])
    for i, rid in enumerate(restored["ids"]):
        j = order[rid]
        assert restored["documents"][i] == original["documents"][j]
        assert restored["metadatas"][i] == original["metadatas"][j]
        assert np.array_equal(restored["embeddings"][i], original["embeddings"][j])

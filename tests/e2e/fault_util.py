"""Helpers for the fault-injection tests (test_faults.py): a tmpfs of fixed
size, the SQLite file of a data directory and its integrity check, and a
ledger of acknowledged writes to compare a collection against after crashes."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np

# ---------------------------------------------------------------------------
# tmpfs
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size_mb: int) -> Iterator[Path]:
    """Mount a tmpfs of `size_mb` MiB on `path` (created) for the block; it is
    unmounted afterwards (lazily if something still holds it). Fails the test
    with the reason when it cannot be mounted: these tests run as root."""
    import pytest

    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.fail(
            f"cannot mount a {size_mb} MiB tmpfs on {path} (the full-disk test needs "
            f"root or CAP_SYS_ADMIN): {done.stderr.strip() or done.returncode}"
        )
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def resize_tmpfs(path: Path, size_mb: int) -> None:
    subprocess.run(
        ["mount", "-o", f"remount,size={size_mb}m", str(path)], check=True, capture_output=True
    )


def fill_file(path: Path, size_bytes: int) -> None:
    """Write real blocks (tmpfs has no holes to cheat with)."""
    chunk = b"\xa5" * (1 << 20)
    with open(path, "wb") as f:
        left = size_bytes
        while left > 0:
            n = min(left, len(chunk))
            f.write(chunk[:n])
            left -= n


# ---------------------------------------------------------------------------
# the SQLite file
# ---------------------------------------------------------------------------


def database_file(data_dir: Path) -> Path:
    """The one SQLite database file of a data directory."""
    found = sorted(
        p for p in data_dir.iterdir()
        if p.is_file() and p.suffix in (".sqlite3", ".sqlite", ".db")
    )
    assert len(found) == 1, f"expected one SQLite file in {data_dir}: {sorted(data_dir.iterdir())}"
    with open(found[0], "rb") as f:
        assert f.read(16) == b"SQLite format 3\0", f"{found[0]} is not an SQLite file"
    return found[0]


def integrity_check(db: Path) -> List[str]:
    """`PRAGMA integrity_check` of the database file (with its -wal, as SQLite
    opens it). Run on a stopped server's files."""
    con = sqlite3.connect(f"file:{db}?mode=rw", uri=True)
    try:
        return [row[0] for row in con.execute("PRAGMA integrity_check")]
    finally:
        con.close()


def integrity_check_copy(db: Path) -> List[str]:
    """integrity_check of a copy of the database and its write-ahead log, as a
    crashed server left them: opening the copy recovers the log there, so the
    original files stay exactly as the next server start finds them."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / db.name
        shutil.copy2(db, copy)
        wal = db.with_name(db.name + "-wal")
        if wal.exists():
            shutil.copy2(wal, copy.with_name(copy.name + "-wal"))
        return integrity_check(copy)


# ---------------------------------------------------------------------------
# what was written
# ---------------------------------------------------------------------------

Content = Tuple[Tuple[float, ...], Optional[str], Optional[str]]
ABSENT = None  # a record that must (or may) not exist


def vectors(rng: np.random.Generator, n: int, dim: int) -> List[List[float]]:
    """float32-exact vectors as Python floats: what is sent is what is stored."""
    return rng.standard_normal((n, dim)).astype(np.float32).astype(float).tolist()


def content(embedding: Sequence[float], document: Optional[str], metadata: Optional[Dict[str, Any]]) -> Content:
    return (
        tuple(float(x) for x in np.asarray(embedding, dtype=np.float32)),
        document,
        json.dumps(metadata, sort_keys=True) if metadata is not None else None,
    )


class Ledger:
    """Per record id, the contents it may have now: after an acknowledged
    write exactly that one (or ABSENT after a delete); a write that got no
    answer (the server was killed) may or may not have happened, so both the
    old and the new contents stay allowed. A batch is one transaction: of an
    unanswered batch whose records were not written since, either all or
    none must show."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.allowed: Dict[str, Set[Optional[Content]]] = {}
        self.acked_batches = 0
        self.unanswered: List[Tuple[int, Dict[str, Optional[Content]]]] = []
        # id -> sequence number of the last batch that wrote it
        self.last_batch: Dict[str, int] = {}
        self._seq = 0

    def begin(self, batch: Dict[str, Optional[Content]]) -> int:
        with self.lock:
            self._seq += 1
            for rid in batch:
                self.last_batch[rid] = self._seq
            return self._seq

    def acked(self, seq: int, batch: Dict[str, Optional[Content]]) -> None:
        with self.lock:
            self.acked_batches += 1
            for rid, c in batch.items():
                self.allowed[rid] = {c}

    def unanswered_write(self, seq: int, batch: Dict[str, Optional[Content]]) -> None:
        with self.lock:
            self.unanswered.append((seq, dict(batch)))
            for rid, c in batch.items():
                self.allowed.setdefault(rid, {ABSENT}).add(c)

    def must_exist(self, rid: str) -> bool:
        with self.lock:
            return ABSENT not in self.allowed.get(rid, {ABSENT})

    def check(self, found: Dict[str, Content]) -> List[str]:
        """Problems of the collection's records `found` (id -> content)."""
        problems: List[str] = []
        with self.lock:
            for rid, c in found.items():
                allowed = self.allowed.get(rid)
                if allowed is None:
                    problems.append(f"{rid}: present but never written (invented)")
                elif c not in allowed:
                    problems.append(f"{rid}: content {short(c)} is none of the written {[short(a) for a in allowed]}")
            for rid, allowed in self.allowed.items():
                if rid not in found and ABSENT not in allowed:
                    problems.append(f"{rid}: acknowledged write lost")
            for seq, batch in self.unanswered:
                untouched = {rid: c for rid, c in batch.items() if self.last_batch.get(rid) == seq}
                if not untouched:
                    continue
                applied = [found.get(rid, ABSENT) == c for rid, c in untouched.items()]
                if any(applied) and not all(applied):
                    problems.append(
                        f"unanswered batch {seq} half applied: {sum(applied)} of {len(applied)} records"
                    )
        return problems


def short(c: Optional[Content]) -> str:
    if c is None:
        return "ABSENT"
    return f"(emb[0]={c[0][0]:.4f}.., doc={c[1]!r}, meta={c[2]})"


def read_all(col: Any, page: int = 2000) -> Dict[str, Content]:
    """Every record of a collection, by id, paged."""
    out: Dict[str, Content] = {}
    offset = 0
    while True:
        got = col.get(include=["embeddings", "documents", "metadatas"], limit=page, offset=offset)
        ids = got["ids"]
        for i, rid in enumerate(ids):
            assert rid not in out, f"{rid} returned twice"
            out[rid] = content(got["embeddings"][i], got["documents"][i], got["metadatas"][i])
        if len(ids) < page:
            return out
        offset += page


def chunks(items: Sequence[Any], n: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]

#!/usr/bin/env python3
"""Fail when Cargo.lock pins a crate version that crates.io has yanked.

cargo-deny checks this only inside its advisories check, which first needs
the RustSec database from GitHub; the crates.io index itself (its sparse
HTTP form) is reachable wherever cargo works, so this asks it directly.
A yank is how a crate's authors withdraw a broken or vulnerable release, so
it is the part of an advisory check that needs no advisory database.

  scripts/yanked.py [Cargo.lock ...]

Environment: CARGO_REGISTRIES_CRATES_IO_INDEX_URL (default
https://index.crates.io/), for a mirror of the sparse index.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import ssl
import sys
import time
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Set, Tuple

CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"
TLS = ssl.create_default_context()
LOCAL = threading.local()
YANKED = re.compile(r'"yanked"\s*:\s*true')
INDEX = os.environ.get("CARGO_REGISTRIES_CRATES_IO_INDEX_URL", "https://index.crates.io/").removeprefix("sparse+")
INDEX_HOST = urllib.parse.urlsplit(INDEX).hostname
INDEX_PATH = urllib.parse.urlsplit(INDEX).path or "/"


def locked(lockfile: Path) -> Set[Tuple[str, str]]:
    pkgs, entry = set(), {}
    for line in lockfile.read_text().splitlines() + ["[[package]]"]:
        if line.strip() == "[[package]]":
            if entry.get("source") == CRATES_IO:
                pkgs.add((entry["name"], entry["version"]))
            entry = {}
        m = re.match(r'^(name|version|source) = "(.*)"$', line)
        if m:
            entry[m.group(1)] = m.group(2)
    return pkgs


def index_path(name: str) -> str:
    n = name.lower()
    if len(n) <= 2:
        return f"{len(n)}/{n}"
    if len(n) == 3:
        return f"3/{n[0]}/{n}"
    return f"{n[:2]}/{n[2:4]}/{n}"


def yanked_versions(name: str) -> Set[str]:
    path = INDEX_PATH.rstrip("/") + "/" + index_path(name)
    for attempt in range(4):
        try:
            # One kept-alive connection per thread: a TLS handshake per crate
            # would cost more than the answers.
            conn = getattr(LOCAL, "conn", None)
            if conn is None:
                conn = LOCAL.conn = http.client.HTTPSConnection(INDEX_HOST, timeout=30, context=TLS)
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read().decode()
            if r.status != 200:
                raise SystemExit(f"yanked.py: {INDEX}{path.lstrip('/')}: HTTP {r.status}")
            # One JSON line per version; parse only the yanked ones (some
            # crates have thousands of versions).
            return {json.loads(line)["vers"] for line in body.splitlines() if YANKED.search(line)}
        except (http.client.HTTPException, OSError) as e:
            LOCAL.conn = None
            if attempt == 3:
                raise SystemExit(f"yanked.py: cannot read {INDEX}{path.lstrip('/')}: {e}")
            time.sleep(1 + attempt * 2)
    return set()


def main(argv: List[str]) -> int:
    lockfiles = [Path(a) for a in argv] or [Path(__file__).resolve().parents[1] / "Cargo.lock"]
    pkgs: Set[Tuple[str, str]] = set()
    for lf in lockfiles:
        pkgs |= locked(lf)
    names = sorted({n for n, _ in pkgs})
    with ThreadPoolExecutor(max_workers=8) as pool:
        yanked: Dict[str, Set[str]] = dict(zip(names, pool.map(yanked_versions, names)))
    bad = sorted((n, v) for n, v in pkgs if v in yanked[n])
    for n, v in bad:
        print(f"yanked.py: {n} {v} is yanked from crates.io (cargo update -p {n}@{v})", file=sys.stderr)
    print(f"yanked.py: {len(pkgs)} crates.io packages in {', '.join(map(str, lockfiles))}: "
          f"{len(bad)} yanked", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

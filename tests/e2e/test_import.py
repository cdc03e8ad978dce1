"""`prism import` and `prism export` (docs/IMPORT.md): data brought from a real
`chroma run` (the chromadb wheel's) holding 100,000 records in several
tenants, databases and collections, with the import killed half-way and run
again; then compared record by record, field by field, and query by query
with the source. Dumps round-trip and are refused when damaged; a directory
a server holds is refused; credentials reach the source."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pytest

from auth_util import token_client
from conftest import ServerProcess, prism_bin
from e2e_util import make_admin, make_client

pytestmark = pytest.mark.prism_only("import and export are Prism's commands")

DIM = 32
# (tenant, database, collection, records, space): 100,000 records in all.
LAYOUT = [
    ("default_tenant", "default_database", "articles", 40_000, "cosine"),
    ("default_tenant", "archive", "logs", 20_000, "l2"),
    ("acme", "catalog", "items", 30_000, "ip"),
    ("acme", "catalog", "small", 10_000, "l2"),
    ("acme", "scratch", "empty", 0, "cosine"),
]
TENANTS = ["default_tenant", "acme"]
ALL = ["embeddings", "documents", "metadatas", "uris"]


def records(name: str, n: int, rng: np.random.Generator):
    """Records with every kind of field: some documents, metadata and URIs
    missing, metadata of every type (arrays too)."""
    embeddings = rng.standard_normal((n, DIM)).astype(np.float32)
    ids = [f"{name}-{i}" for i in range(n)]
    documents = [None if i % 7 == 0 else f"{name} document {i} ünïcödé" for i in range(n)]
    metadatas = [
        None if i % 11 == 0 else {
            "i": i,
            "ratio": i / 3,
            "even": i % 2 == 0,
            "group": f"g{i % 13}",
            "tags": [f"t{i % 5}", f"t{i % 3}"],
        }
        for i in range(n)
    ]
    uris = [f"s3://bucket/{name}/{i}" if i % 4 == 0 else None for i in range(n)]
    return ids, embeddings, documents, metadatas, uris


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory):
    """A `chroma run` holding LAYOUT, and the records it was given."""
    srv = ServerProcess("chroma", tmp_path_factory.mktemp("chroma") / "data").start()
    admin = make_admin(srv)
    admin.create_tenant("acme")
    for tenant, database in {(t, d) for t, d, *_ in LAYOUT}:
        if database != "default_database":
            admin.create_database(database, tenant=tenant)
    rng = np.random.default_rng(16)
    given = {}
    for tenant, database, name, n, space in LAYOUT:
        client = make_client(srv, tenant=tenant, database=database)
        col = client.create_collection(
            name, metadata={"owner": tenant, "records": n},
            configuration={"hnsw": {"space": space, "ef_search": 120}},
        )
        data = records(name, n, rng)
        for start in range(0, n, 5000):
            part = slice(start, start + 5000)
            col.add(ids=data[0][part], embeddings=data[1][part], documents=data[2][part],
                    metadatas=data[3][part], uris=data[4][part])
        given[(tenant, database, name)] = data
    yield srv, given
    srv.stop()


def run_prism(args: List[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """`prism ARGS` in `cwd` (where an import keeps its journal)."""
    return subprocess.run([str(prism_bin()), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def journal(cwd: Path) -> Optional[Dict[str, int]]:
    """Records copied so far, by collection, from the journal in `cwd`."""
    for path in cwd.glob(".prism-import-*.json"):
        try:
            return json.loads(path.read_text())["done"]
        except (ValueError, KeyError):
            return None  # being renamed into place
    return None


def everything(client, tenant: str, database: str, name: str) -> Dict[str, Tuple]:
    """Every record of a collection, by id."""
    col = client.get_collection(name)
    out = {}
    for offset in range(0, col.count(), 5000):
        got = col.get(limit=5000, offset=offset, include=ALL)
        for i, rid in enumerate(got["ids"]):
            out[rid] = (np.asarray(got["embeddings"][i], dtype=np.float32), got["documents"][i],
                        got["metadatas"][i] or None, got["uris"][i])
    return out


def assert_same_collections(src: ServerProcess, dst: ServerProcess, given) -> None:
    """Counts, collection metadata and configuration, every record's every
    field, and query answers: the same on both servers."""
    rng = np.random.default_rng(3)
    for tenant, database, name, n, space in LAYOUT:
        a = make_client(src, tenant=tenant, database=database).get_collection(name)
        b = make_client(dst, tenant=tenant, database=database).get_collection(name)
        assert b.count() == a.count() == n
        assert b.metadata == a.metadata
        assert b.configuration_json["hnsw"]["space"] == space
        assert b.configuration_json["hnsw"]["ef_search"] == 120
        ours = everything(make_client(dst, tenant=tenant, database=database), tenant, database, name)
        theirs = everything(make_client(src, tenant=tenant, database=database), tenant, database, name)
        assert ours.keys() == theirs.keys() == set(given[(tenant, database, name)][0])
        for rid, (embedding, document, metadata, uri) in theirs.items():
            got = ours[rid]
            assert np.array_equal(got[0], embedding), rid
            assert (got[1], got[2], got[3]) == (document, metadata, uri), rid
        if n == 0:
            continue
        # Queries near stored records: the record itself first, the same
        # neighbours at the same distances (both indexes are approximate, so
        # the overlap is measured, not demanded whole).
        picks = rng.choice(n, 20, replace=False)
        queries = given[(tenant, database, name)][1][picks] + 1e-3
        qa = a.query(query_embeddings=queries, n_results=10, include=["distances"])
        qb = b.query(query_embeddings=queries, n_results=10, include=["distances"])
        shared = 0
        for q in range(len(picks)):
            assert qb["ids"][q][0] == qa["ids"][q][0] == f"{name}-{picks[q]}"
            da = dict(zip(qa["ids"][q], qa["distances"][q]))
            for rid, d in zip(qb["ids"][q], qb["distances"][q]):
                if rid in da:
                    shared += 1
                    assert d == pytest.approx(da[rid], rel=1e-3, abs=1e-4), (rid, d, da[rid])
        assert shared >= 0.9 * 10 * len(picks), shared
        where = a.query(query_embeddings=queries[:3], n_results=5, where={"group": "g3"})
        again = b.query(query_embeddings=queries[:3], n_results=5, where={"group": "g3"})
        for q in range(3):
            assert set(again["ids"][q]) & set(where["ids"][q]), (again["ids"][q], where["ids"][q])


def test_a_100k_import_from_chroma_killed_half_way_and_resumed_is_whole(source, tmp_path: Path, start_server):
    chroma, given = source
    target = tmp_path / "prism-data"
    args = ["import", "--from", chroma.url, "--tenant", "default_tenant", "--tenant", "acme",
            "--path", str(target), "--batch-size", "500"]
    first = subprocess.Popen([str(prism_bin()), *args], cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while True:
        done = journal(tmp_path) or {}
        if sum(done.values()) >= 30_000:
            break
        assert first.poll() is None, f"the import ended before it could be interrupted: {first.communicate()}"
        assert time.monotonic() < deadline, "the import made no progress"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    copied_before = sum((journal(tmp_path) or {}).values())
    assert 30_000 <= copied_before < 100_000, copied_before

    second = run_prism(args, tmp_path)
    assert second.returncode == 0, second.stderr + second.stdout
    assert "resuming the import an earlier run started" in second.stderr
    summary = second.stdout.strip()
    print(summary)  # the import's rate, in the test log
    found = re.search(
        r"2 tenants, 4 databases, 5 collections, 100000 records \((\d+) copied by an earlier run\); "
        r"(\d+) written in [\d.]+s \((\d+) records/s\); counts and (\d+) sampled records verified", summary)
    assert found, summary
    resumed, written, rate, sampled = map(int, found.groups())
    assert resumed >= copied_before and resumed + written == 100_000, found.groups()
    assert rate > 0 and sampled == 400
    assert journal(tmp_path) is None, "the journal of a finished import stays behind"

    prism = start_server(path=target)
    assert_same_collections(chroma, prism, given)


def test_an_export_round_trips_through_a_dump_and_a_damaged_dump_is_refused(source, tmp_path: Path, start_server):
    chroma, given = source
    dump = tmp_path / "dump"
    out = run_prism(["export", "--from", chroma.url, "--tenant", "acme", "--database", "catalog",
                     "--out", str(dump)], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "1 tenants, 1 databases, 2 collections, 40000 records" in out.stdout, out.stdout
    manifest = json.loads((dump / "prism-export.json").read_text())
    assert sorted((c["tenant"], c["name"], c["records"]) for c in manifest["collections"]) == [
        ("acme", "items", 30_000), ("acme", "small", 10_000)]
    first_line = json.loads(gzip.open(dump / manifest["collections"][0]["file"], "rt").readline())
    assert set(first_line) == {"id", "embedding", "document", "metadata", "uri"}

    # Into a running Prism with token auth, its credentials read from a file.
    users = tmp_path / "users.yaml"
    users.write_text("users:\n  - id: root\n    tokens: [root-token]\n")
    prism = start_server(env={"CHROMA_SERVER_AUTHN_PROVIDER": "token",
                              "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users)})
    refused = run_prism(["import", "--file", str(dump), "--to", prism.url], tmp_path)
    assert refused.returncode == 1
    # Chroma's answer to a request without credentials, as Prism gives it.
    assert "answered 403 Forbidden" in refused.stderr, refused.stderr
    assert "credentials for it go in --to-header" in refused.stderr, refused.stderr
    token = tmp_path / "token.txt"
    token.write_text("root-token\n")
    done = run_prism(["import", "--file", str(dump), "--to", prism.url,
                      "--to-header", f"Authorization: Bearer @{token}"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "40000 records" in done.stdout and "200 sampled records verified" in done.stdout
    client = token_client(prism, "root-token", tenant="acme", database="catalog")
    small = client.get_collection("small")
    assert small.count() == 10_000 and small.metadata == {"owner": "acme", "records": 10_000}
    got = small.get(ids=["small-4", "small-11"], include=ALL)
    ids, embeddings, documents, metadatas, uris = given[("acme", "catalog", "small")]
    assert got["ids"] == ["small-4", "small-11"]
    assert np.array_equal(np.asarray(got["embeddings"][0], dtype=np.float32), embeddings[4])
    assert got["documents"] == [documents[4], documents[11]]
    assert got["metadatas"] == [metadatas[4], None]
    assert got["uris"] == [uris[4], None]

    # One flipped byte: refused before anything is written.
    path = dump / manifest["collections"][0]["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    target = tmp_path / "untouched"
    damaged = run_prism(["import", "--file", str(dump), "--path", str(target)], tmp_path)
    assert damaged.returncode == 1
    assert "is damaged" in damaged.stderr, damaged.stderr
    assert not target.exists(), list(target.iterdir())


def test_a_data_directory_a_server_holds_is_refused(start_server, tmp_path: Path, source):
    chroma, _ = source
    prism = start_server()
    refused = run_prism(["import", "--from", chroma.url, "--collection", "articles",
                         "--path", str(prism.path)], tmp_path)
    assert refused.returncode == 1
    assert "is in use by another Prism process" in refused.stderr, refused.stderr
    assert make_client(prism).list_collections() == []
    exported = run_prism(["export", "--path", str(prism.path), "--out", str(tmp_path / "d")], tmp_path)
    assert exported.returncode == 1 and "is in use" in exported.stderr, exported.stderr


def test_a_selection_naming_nothing_is_an_error_not_an_empty_copy(source, tmp_path: Path):
    chroma, _ = source
    for flag, name, kind in [("--collection", "nope", "collection"), ("--database", "nope", "database")]:
        out = run_prism(["import", "--from", chroma.url, flag, name, "--path", str(tmp_path / "d")],
                        tmp_path)
        assert out.returncode == 1
        assert f'the source has no {kind} "nope"' in out.stderr, out.stderr
    missing = run_prism(["import", "--from", chroma.url, "--tenant", "nobody", "--path", str(tmp_path / "d")],
                        tmp_path)
    assert missing.returncode == 1 and "nobody" in missing.stderr, missing.stderr
    down = run_prism(["import", "--from", "http://127.0.0.1:9", "--path", str(tmp_path / "d")], tmp_path)
    assert down.returncode == 1 and "unreachable" in down.stderr, down.stderr


def test_a_chroma_data_directory_points_at_import(tmp_path: Path, start_server, source):
    chroma, _ = source
    srv = start_server(path=chroma.path, wait=False)
    deadline = time.monotonic() + 30
    while srv.running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not srv.running()
    assert "prism import --from" in srv.log_text(), srv.log_text()

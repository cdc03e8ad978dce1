"""Record operations: add / get / update / upsert / delete (by ids and by
filters), count and peek, with the exact stored values."""

import numpy as np
import pytest

from e2e_util import ALL_GET, as_lists, by_id, coll_path


@pytest.fixture
def col(client):
    c = client.create_collection("records")
    c.add(
        ids=["b", "a", "c"],
        embeddings=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
        documents=["doc b", None, "doc c"],
        metadatas=[{"k": 1, "tag": "x"}, None, {"k": 2, "arr": [1, 2]}],
    )
    return c


def test_add_then_get_everything(col):
    got = col.get(include=ALL_GET)
    # get returns records in insertion order, not sorted by id
    assert got["ids"] == ["b", "a", "c"]
    assert as_lists(got["embeddings"]) == [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    assert got["documents"] == ["doc b", None, "doc c"]
    assert got["metadatas"] == [{"k": 1, "tag": "x"}, None, {"k": 2, "arr": [1, 2]}]
    assert got["uris"] == [None, None, None]
    assert col.count() == 3


def test_get_default_include(col):
    got = col.get()
    assert got["ids"] == ["b", "a", "c"]
    assert got["documents"] == ["doc b", None, "doc c"]
    assert got["metadatas"] == [{"k": 1, "tag": "x"}, None, {"k": 2, "arr": [1, 2]}]
    assert got["embeddings"] is None
    assert got["uris"] is None


def test_get_by_ids_keeps_storage_order(col):
    got = col.get(ids=["c", "zz", "b"])
    # unknown ids are ignored; order is the stored (insertion) order, not the
    # order of the request
    assert got["ids"] == ["b", "c"]
    assert got["documents"] == ["doc b", "doc c"]


def test_get_by_ids_with_duplicates_raw(col, http):
    r = http.post(coll_path(col) + "/get", json={"ids": ["c", "a", "c"], "include": []})
    assert r.status_code == 200
    assert r.json()["ids"] == ["a", "c"]


def test_get_limit_offset(col):
    assert col.get(limit=2)["ids"] == ["b", "a"]
    assert col.get(limit=2, offset=1)["ids"] == ["a", "c"]
    assert col.get(offset=2)["ids"] == ["c"]
    assert col.get(offset=3)["ids"] == []
    assert col.get(limit=1, offset=10)["ids"] == []
    assert col.get(where={"k": {"$gte": 1}}, limit=1, offset=1)["ids"] == ["c"]


def test_get_limit_zero_raw(col, http):
    r = http.post(coll_path(col) + "/get", json={"limit": 0, "include": []})
    assert r.status_code == 200
    assert r.json()["ids"] == []


def test_count(client, col):
    assert col.count() == 3
    empty = client.create_collection("empty")
    assert empty.count() == 0
    assert empty.get()["ids"] == []


def test_peek(col):
    p = col.peek(limit=2)
    assert p["ids"] == ["b", "a"]
    assert as_lists(p["embeddings"]) == [[1.0, 0.0], [0.0, 1.0]]
    assert p["documents"] == ["doc b", None]
    assert p["metadatas"] == [{"k": 1, "tag": "x"}, None]
    assert col.peek()["ids"] == ["b", "a", "c"]


def test_add_existing_id_is_ignored(col):
    col.add(ids=["a", "d"], embeddings=[[9.0, 9.0], [4.0, 4.0]], documents=["new a", "doc d"])
    got = col.get(ids=["a", "d"], include=["embeddings", "documents"])
    assert got["ids"] == ["a", "d"]
    # "a" kept its original values; "d" was added
    assert as_lists(got["embeddings"]) == [[0.0, 1.0], [4.0, 4.0]]
    assert got["documents"] == [None, "doc d"]
    assert col.count() == 4


def test_add_duplicate_ids_in_one_batch_raw(col, http):
    # the client refuses duplicates locally (DuplicateIDError); the server
    # keeps the first occurrence
    r = http.post(
        coll_path(col) + "/add",
        json={"ids": ["d", "d"], "embeddings": [[5, 5], [6, 6]], "documents": ["d1", "d2"]},
    )
    assert r.status_code == 201 and r.json() == {}
    got = col.get(ids=["d"], include=["embeddings", "documents"])
    assert as_lists(got["embeddings"]) == [[5.0, 5.0]]
    assert got["documents"] == ["d1"]
    assert col.count() == 4


def test_add_status_and_body_raw(client, http):
    c = client.create_collection("raw-add")
    r = http.post(coll_path(c) + "/add", json={"ids": ["x"], "embeddings": [[1.5, 2.5]]})
    assert r.status_code == 201
    assert r.json() == {}
    r = http.post(coll_path(c) + "/add", json={"ids": [], "embeddings": []})
    assert r.status_code == 201
    assert c.count() == 1


def test_update_merges_metadata(col):
    col.update(ids=["b"], metadatas=[{"tag": "y", "new": True}])
    assert col.get(ids=["b"])["metadatas"] == [{"k": 1, "tag": "y", "new": True}]
    # a None value removes the key
    col.update(ids=["b"], metadatas=[{"tag": None}])
    assert col.get(ids=["b"])["metadatas"] == [{"k": 1, "new": True}]
    # metadata on a record that had none
    col.update(ids=["a"], metadatas=[{"first": "yes"}])
    assert col.get(ids=["a"])["metadatas"] == [{"first": "yes"}]


def test_update_document_and_embedding(col, http):
    # (the client would compute embeddings for documents-only updates with the
    # default embedding function, which needs the internet: send it raw)
    r = http.post(coll_path(col) + "/update", json={"ids": ["c"], "documents": ["changed"]})
    assert r.status_code == 200 and r.json() == {}
    got = col.get(ids=["c"], include=ALL_GET)
    assert got["documents"] == ["changed"]
    assert as_lists(got["embeddings"]) == [[1.0, 1.0]]
    assert got["metadatas"] == [{"k": 2, "arr": [1, 2]}]
    col.update(ids=["c"], embeddings=[[7.0, 8.0]])
    got = col.get(ids=["c"], include=ALL_GET)
    assert as_lists(got["embeddings"]) == [[7.0, 8.0]]
    assert got["documents"] == ["changed"]
    # the update is visible to queries
    res = col.query(query_embeddings=[[7.0, 8.0]], n_results=1, include=["distances"])
    assert res["ids"] == [["c"]]
    assert res["distances"][0][0] == pytest.approx(0.0, abs=1e-6)


def test_update_missing_id_is_ignored(col, http):
    before = col.get(include=ALL_GET)
    r = http.post(coll_path(col) + "/update", json={"ids": ["nope"], "documents": ["x"]})
    assert r.status_code == 200
    col.update(ids=["nope2"], embeddings=[[1.0, 1.0]], metadatas=[{"k": 5}])
    assert col.count() == 3
    assert col.get(ids=["nope"])["ids"] == []
    after = col.get(include=ALL_GET)
    assert after["ids"] == before["ids"] and after["documents"] == before["documents"]


def test_update_with_nulls_keeps_values_raw(col, http):
    path = coll_path(col) + "/update"
    for body in (
        {"ids": ["b"], "documents": [None]},
        {"ids": ["b"], "metadatas": [None]},
        {"ids": ["b"], "embeddings": [None]},
        {"ids": ["b"], "embeddings": None, "documents": None, "metadatas": None},
    ):
        r = http.post(path, json=body)
        assert r.status_code == 200 and r.json() == {}, r.text
    got = col.get(ids=["b"], include=ALL_GET)
    assert got["documents"] == ["doc b"]
    assert got["metadatas"] == [{"k": 1, "tag": "x"}]
    assert as_lists(got["embeddings"]) == [[1.0, 0.0]]


def test_upsert_inserts_new(col):
    col.upsert(ids=["new"], embeddings=[[3.0, 3.0]], documents=["fresh"], metadatas=[{"n": 1}])
    got = col.get(ids=["new"], include=ALL_GET)
    assert as_lists(got["embeddings"]) == [[3.0, 3.0]]
    assert got["documents"] == ["fresh"]
    assert got["metadatas"] == [{"n": 1}]
    assert col.count() == 4
    # new records go to the end of the storage order
    assert col.get()["ids"] == ["b", "a", "c", "new"]


def test_upsert_existing_merges_metadata(col):
    # Upserting an existing id behaves like update: the metadata is merged
    # into the stored one (not replaced), the document and embedding replaced.
    col.upsert(ids=["c"], embeddings=[[2.0, 2.0]], metadatas=[{"u": 1}], documents=["up"])
    got = col.get(ids=["c"], include=ALL_GET)
    assert got["metadatas"] == [{"k": 2, "arr": [1, 2], "u": 1}]
    assert got["documents"] == ["up"]
    assert as_lists(got["embeddings"]) == [[2.0, 2.0]]
    # upsert with only an embedding keeps document and metadata
    col.upsert(ids=["c"], embeddings=[[5.0, 5.0]])
    got = col.get(ids=["c"], include=ALL_GET)
    assert got["metadatas"] == [{"k": 2, "arr": [1, 2], "u": 1}]
    assert got["documents"] == ["up"]
    assert as_lists(got["embeddings"]) == [[5.0, 5.0]]
    # a None value in upsert metadata removes the key
    col.upsert(ids=["c"], embeddings=[[5.0, 5.0]], metadatas=[{"u": None}])
    assert col.get(ids=["c"])["metadatas"] == [{"k": 2, "arr": [1, 2]}]
    # the record keeps its place in the storage order
    assert col.get()["ids"] == ["b", "a", "c"]
    assert col.count() == 3


def test_upsert_with_null_fields_keeps_values_raw(col, http):
    r = http.post(
        coll_path(col) + "/upsert",
        json={"ids": ["c"], "embeddings": [[2, 2]], "metadatas": [None], "documents": [None]},
    )
    assert r.status_code == 200 and r.json() == {}
    got = col.get(ids=["c"], include=ALL_GET)
    assert got["documents"] == ["doc c"]
    assert got["metadatas"] == [{"k": 2, "arr": [1, 2]}]
    assert as_lists(got["embeddings"]) == [[2.0, 2.0]]


def test_delete_by_ids(col):
    res = col.delete(ids=["a"])
    assert res == {"deleted": 1}
    assert col.get()["ids"] == ["b", "c"]
    assert col.count() == 2
    # deleted records are gone from queries too
    q = col.query(query_embeddings=[[0.0, 1.0]], n_results=3)
    assert sorted(q["ids"][0]) == ["b", "c"]


def test_delete_unknown_ids_removes_the_known_ones(col):
    col.delete(ids=["b", "zz"])
    assert col.get()["ids"] == ["a", "c"]
    col.delete(ids=["nothing-here"])
    assert col.count() == 2


@pytest.mark.chroma_bug(
    "delete by ids reports len(ids) as 'deleted', counting ids that do not exist "
    "(e.g. ids=['b','zz'] -> {'deleted': 2})"
)
def test_delete_count_only_counts_existing(col):
    assert col.delete(ids=["b", "zz"]) == {"deleted": 1}
    assert col.delete(ids=["nothing-here"]) == {"deleted": 0}


def test_delete_by_where_and_document(col):
    assert col.delete(where={"k": 2}) == {"deleted": 1}
    assert col.get()["ids"] == ["b", "a"]
    assert col.delete(where_document={"$contains": "doc b"}) == {"deleted": 1}
    assert col.get()["ids"] == ["a"]
    assert col.delete(where={"k": 99}) == {"deleted": 0}
    assert col.count() == 1


def test_delete_ids_and_where_intersect(col):
    # both given: only ids that also match the filter are deleted
    assert col.delete(ids=["b", "c"], where={"k": 2}) == {"deleted": 1}
    assert col.get()["ids"] == ["b", "a"]


def test_delete_with_limit(client):
    c = client.create_collection("limited")
    c.add(ids=[f"id{i}" for i in range(6)], embeddings=[[float(i)] for i in range(6)],
          metadatas=[{"n": i} for i in range(6)])
    # the first matching records in storage order go
    assert c.delete(where={"n": {"$gte": 1}}, limit=2) == {"deleted": 2}
    assert c.get()["ids"] == ["id0", "id3", "id4", "id5"]


def test_delete_nothing_raw(col, http):
    r = http.post(coll_path(col) + "/delete", json={})
    assert r.status_code == 200 and r.json() == {"deleted": 0}
    assert col.count() == 3


def test_readd_after_delete_goes_to_end(col):
    col.delete(ids=["b"])
    col.add(ids=["b"], embeddings=[[1.0, 0.0]], documents=["again"])
    assert col.get()["ids"] == ["a", "c", "b"]
    assert col.get(ids=["b"])["documents"] == ["again"]


def test_metadata_value_types_round_trip(client):
    c = client.create_collection("types")
    metas = [
        {"s": "hello", "e": "", "u": "ünïcødé ✓"},
        {"i": 0, "neg": -42, "big": 2**62, "min": -(2**63)},
        {"f": 1.5, "tiny": 1e-300, "negf": -0.25, "whole": 3.0},
        {"t": True, "fl": False},
        {"ai": [1, 2, 3], "af": [0.5, 1.5], "as": ["a", "b"], "ab": [True, False]},
    ]
    ids = [f"m{i}" for i in range(len(metas))]
    c.add(ids=ids, embeddings=[[float(i)] for i in range(len(metas))], metadatas=metas)
    got = by_id(c.get(ids=ids), "metadatas")
    for i, m in zip(ids, metas):
        assert got[i] == m
        for k, v in m.items():
            # types survive: bools stay bools, 3.0 stays a float, ints stay ints
            assert type(got[i][k]) is type(v), (k, got[i][k], v)
            if isinstance(v, list):
                assert [type(x) for x in got[i][k]] == [type(x) for x in v]


def test_embeddings_are_float32(client, http):
    c = client.create_collection("f32")
    values = [0.1, 1.0 / 3.0, 1e-3, -2.5, 123456.789]
    c.add(ids=["x"], embeddings=[values])
    # Stored as f32; the response carries the shortest decimal that round-trips
    # the f32 value (0.1 -> 0.1, 1/3 -> 0.33333334), not the f64 widening
    # (0.10000000149011612).
    expected = [float(str(np.float32(v))) for v in values]
    (emb,) = c.get(include=["embeddings"])["embeddings"]
    assert [float(x) for x in emb] == expected
    raw = http.post(coll_path(c) + "/get", json={"include": ["embeddings"]}).json()
    assert raw["embeddings"] == [expected]
    assert [float(np.float32(x)) for x in raw["embeddings"][0]] == [float(np.float32(v)) for v in values]


def test_uris_round_trip(client):
    c = client.create_collection("uris")
    c.add(ids=["u1", "u2"], embeddings=[[1.0], [2.0]], uris=["s3://bucket/a.png", "file:///tmp/b"])
    got = c.get(include=["uris", "documents"])
    assert got["uris"] == ["s3://bucket/a.png", "file:///tmp/b"]
    assert got["documents"] == [None, None]
    c.update(ids=["u1"], uris=["https://example.com/x"])
    assert c.get(ids=["u1"], include=["uris"])["uris"] == ["https://example.com/x"]
    q = c.query(query_embeddings=[[2.0]], n_results=1, include=["uris"])
    assert q["uris"] == [["file:///tmp/b"]]


def test_large_batch_and_paging(client):
    c = client.create_collection("big")
    n = 2000
    ids = [f"r{i:05d}" for i in range(n)]
    rng = np.random.default_rng(7)
    embs = rng.random((n, 8), dtype=np.float32)
    c.add(ids=ids, embeddings=embs, metadatas=[{"i": i, "even": i % 2 == 0} for i in range(n)])
    assert c.count() == n
    seen = []
    for off in range(0, n, 300):
        seen += c.get(limit=300, offset=off, include=[])["ids"]
    assert seen == ids
    assert len(c.get(where={"even": True}, include=[])["ids"]) == n // 2
    got = c.get(ids=["r01234"], include=["embeddings", "metadatas"])
    assert got["metadatas"] == [{"i": 1234, "even": True}]
    assert np.allclose(np.asarray(got["embeddings"][0]), embs[1234])

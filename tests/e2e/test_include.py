"""`include` for get and query: exactly the requested fields come back,
everything else is None; the response echoes `include`."""

import itertools

import pytest

from e2e_util import ALL_GET, ALL_QUERY, as_lists, coll_path

EMB = [[1.0, 0.0], [0.0, 2.0]]
DOCS = ["first doc", "second doc"]
METAS = [{"m": 1}, {"m": 2}]
URIS = ["uri://1", "uri://2"]


@pytest.fixture
def col(client):
    c = client.create_collection("incl")
    c.add(ids=["i1", "i2"], embeddings=EMB, documents=DOCS, metadatas=METAS, uris=URIS)
    return c


EXPECTED_GET = {"embeddings": EMB, "documents": DOCS, "metadatas": METAS, "uris": URIS}


@pytest.mark.parametrize(
    "include",
    [list(c) for n in range(0, 5) for c in itertools.combinations(ALL_GET, n)],
    ids=lambda inc: "+".join(inc) or "nothing",
)
def test_get_include_combinations(col, include):
    got = col.get(include=include)
    assert got["ids"] == ["i1", "i2"]
    for field in ALL_GET:
        if field in include:
            value = as_lists(got[field]) if field == "embeddings" else got[field]
            assert value == EXPECTED_GET[field], field
        else:
            assert got[field] is None, field
    assert sorted(got["included"]) == sorted(include)


@pytest.mark.parametrize(
    "include",
    [["distances"], ["embeddings"], ["documents", "distances"], ["metadatas", "uris"], ALL_QUERY, []],
    ids=lambda inc: "+".join(inc) or "nothing",
)
def test_query_include(col, include):
    # [1, 0.1]: i1 at l2 0.01, i2 at 1 + 1.9^2 = 4.61
    res = col.query(query_embeddings=[[1.0, 0.1]], n_results=2, include=include)
    assert res["ids"] == [["i1", "i2"]]
    expected = {
        "embeddings": [EMB],
        "documents": [DOCS],
        "metadatas": [METAS],
        "uris": [URIS],
        "distances": [[0.01, 4.61]],
    }
    for field in ALL_QUERY:
        if field not in include:
            assert res[field] is None, field
        elif field == "embeddings":
            assert [as_lists(e) for e in res[field]] == expected[field]
        elif field == "distances":
            assert res[field][0] == pytest.approx(expected[field][0], rel=1e-5)
        else:
            assert res[field] == expected[field], field


def test_get_raw_echoes_include(col, http):
    for include in (["metadatas", "embeddings"], ["uris"], []):
        r = http.post(coll_path(col) + "/get", json={"include": include})
        assert r.status_code == 200
        body = r.json()
        assert body["include"] == include
        for f in ALL_GET:
            assert (body[f] is None) == (f not in include)


def test_get_raw_default_include(col, http):
    body = http.post(coll_path(col) + "/get", json={}).json()
    assert body == {
        "ids": ["i1", "i2"],
        "embeddings": None,
        "documents": DOCS,
        "uris": None,
        "metadatas": METAS,
        "include": ["documents", "metadatas"],
    }


def test_query_raw_default_include(col, http):
    body = http.post(coll_path(col) + "/query", json={"query_embeddings": [[1.0, 0.1]]}).json()
    assert set(body) == {"ids", "embeddings", "documents", "uris", "metadatas", "distances", "include"}
    assert body["include"] == ["documents", "metadatas", "distances"]
    assert body["ids"] == [["i1", "i2"]]
    assert body["documents"] == [DOCS]
    assert body["metadatas"] == [METAS]
    assert body["embeddings"] is None and body["uris"] is None
    assert body["distances"][0] == pytest.approx([0.01, 4.61], rel=1e-5)


def test_get_raw_distances_is_accepted_and_ignored(col, http):
    body = http.post(coll_path(col) + "/get", json={"include": ["distances"]}).json()
    assert body["ids"] == ["i1", "i2"]
    assert "distances" not in body or body["distances"] is None
    assert body["include"] == ["distances"]


def test_include_data_is_422(col, http):
    for route, body in (("/get", {}), ("/query", {"query_embeddings": [[1.0, 0.0]]})):
        r = http.post(coll_path(col) + route, json={**body, "include": ["data"]})
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "ChromaError"
        assert "include" in r.json()["message"]


def test_null_fields_inside_included_lists(client):
    c = client.create_collection("sparse-fields")
    c.add(ids=["x", "y"], embeddings=[[1.0], [2.0]], documents=["only x", None], metadatas=[None, {"y": 1}])
    got = c.get(include=ALL_GET)
    assert got["documents"] == ["only x", None]
    assert got["metadatas"] == [None, {"y": 1}]
    assert got["uris"] == [None, None]
    res = c.query(query_embeddings=[[2.0]], n_results=2, include=["documents", "metadatas", "uris"])
    assert res["ids"] == [["y", "x"]]
    assert res["documents"] == [[None, "only x"]]
    assert res["metadatas"] == [[{"y": 1}, None]]
    assert res["uris"] == [[None, None]]

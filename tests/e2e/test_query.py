"""Query: distance values for l2 / ip / cosine computed by hand, ordering,
n_results, several query vectors, ids restriction, filters."""

import httpx
import numpy as np
import pytest

from e2e_util import as_lists, assert_error, coll_path, make_client

# p=[3,4], q=[1,0], r=[0,-2]
POINTS = {"p": [3.0, 4.0], "q": [1.0, 0.0], "r": [0.0, -2.0]}

# Hand-computed distances.
#   l2 is the SQUARED euclidean distance; ip is 1 - dot; cosine is 1 - cos.
#   query [2,0]: l2 p=(1+16)=17 q=1 r=4+4=8 ; ip p=1-6=-5 q=1-2=-1 r=1-0=1
#                cosine p=1-0.6=0.4 q=0 r=1
#   query [0,1]: l2 p=9+9=18 q=1+1=2 r=0+9=9 ; ip p=1-4=-3 q=1 r=1+2=3
#                cosine p=1-0.8=0.2 q=1 r=2
EXPECTED = {
    "l2": [
        (["q", "r", "p"], [1.0, 8.0, 17.0]),
        (["q", "r", "p"], [2.0, 9.0, 18.0]),
    ],
    "ip": [
        (["p", "q", "r"], [-5.0, -1.0, 1.0]),
        (["p", "q", "r"], [-3.0, 1.0, 3.0]),
    ],
    "cosine": [
        (["q", "p", "r"], [0.0, 0.4, 1.0]),
        (["p", "q", "r"], [0.2, 1.0, 2.0]),
    ],
}


def make(client, name, space=None, points=POINTS, **kw):
    meta = {"hnsw:space": space} if space else None
    c = client.create_collection(name, metadata=meta)
    c.add(ids=list(points), embeddings=list(points.values()), **kw)
    return c


@pytest.mark.parametrize("space", ["l2", "ip", "cosine"])
def test_distances_by_hand(client, space):
    c = make(client, f"dist-{space}", space)
    res = c.query(
        query_embeddings=[[2.0, 0.0], [0.0, 1.0]],
        n_results=3,
        include=["distances", "embeddings"],
    )
    for i, (ids, dists) in enumerate(EXPECTED[space]):
        assert res["ids"][i] == ids
        assert res["distances"][i] == pytest.approx(dists, rel=1e-5, abs=1e-6)
        # the stored vectors come back as given, even for cosine (which
        # normalises internally)
        assert as_lists(res["embeddings"][i]) == [POINTS[x] for x in ids]


def test_default_space_is_l2(client):
    c = make(client, "dist-default")
    res = c.query(query_embeddings=[[2.0, 0.0]], n_results=3, include=["distances"])
    assert res["ids"] == [["q", "r", "p"]]
    assert res["distances"] == [pytest.approx([1.0, 8.0, 17.0])]


def test_space_from_configuration(client):
    c = client.create_collection("cfg-ip", configuration={"hnsw": {"space": "ip"}})
    c.add(ids=list(POINTS), embeddings=list(POINTS.values()))
    res = c.query(query_embeddings=[[2.0, 0.0]], n_results=3, include=["distances"])
    assert res["ids"] == [["p", "q", "r"]]
    assert res["distances"] == [pytest.approx([-5.0, -1.0, 1.0])]
    assert client.get_collection("cfg-ip").configuration_json["hnsw"]["space"] == "ip"


def test_identical_vector_has_zero_distance(client):
    for space in ("l2", "ip", "cosine"):
        c = make(client, f"self-{space}", space, points={"u": [0.6, 0.8]})
        (d,) = c.query(query_embeddings=[[0.6, 0.8]], n_results=1, include=["distances"])["distances"][0]
        assert d == pytest.approx(0.0, abs=1e-6)  # ip: 1 - |u|^2 = 0 for a unit vector


def test_n_results(client, http):
    c = make(client, "nres")
    assert c.query(query_embeddings=[[2.0, 0.0]], n_results=1)["ids"] == [["q"]]
    assert c.query(query_embeddings=[[2.0, 0.0]], n_results=2)["ids"] == [["q", "r"]]
    # more than stored: everything, no error
    assert c.query(query_embeddings=[[2.0, 0.0]], n_results=50)["ids"] == [["q", "r", "p"]]
    # n_results=0 (raw; the client refuses it locally)
    r = http.post(coll_path(c) + "/query", json={"query_embeddings": [[2.0, 0.0]], "n_results": 0})
    assert r.status_code == 200
    body = r.json()
    assert body["ids"] == [[]]
    assert body["distances"] == [[]]
    assert body["documents"] == [[]]
    assert body["metadatas"] == [[]]


def test_default_n_results_is_10(client):
    c = client.create_collection("ten")
    c.add(ids=[f"v{i:02d}" for i in range(25)], embeddings=[[float(i)] for i in range(25)])
    res = c.query(query_embeddings=[[0.0]])
    assert res["ids"] == [[f"v{i:02d}" for i in range(10)]]
    assert res["distances"] == [pytest.approx([float(i * i) for i in range(10)])]


def test_multiple_query_vectors_are_independent(client):
    c = make(client, "multi")
    res = c.query(query_embeddings=[[0.0, -2.0], [3.0, 4.0], [1.0, 0.0]], n_results=1, include=["distances", "documents"])
    assert res["ids"] == [["r"], ["p"], ["q"]]
    assert res["distances"] == [[0.0], [0.0], [0.0]]
    assert res["documents"] == [[None], [None], [None]]


def test_query_empty_collection(client):
    c = client.create_collection("empty-q")
    res = c.query(query_embeddings=[[1.0, 2.0]], n_results=3)
    assert res["ids"] == [[]]
    assert res["distances"] == [[]]


def test_query_with_ids(client):
    c = make(client, "ids-q")
    res = c.query(query_embeddings=[[2.0, 0.0]], ids=["p", "r"], n_results=3, include=["distances"])
    assert res["ids"] == [["r", "p"]]
    assert res["distances"] == [pytest.approx([8.0, 17.0])]
    res = c.query(query_embeddings=[[2.0, 0.0]], ids=["p", "r"], n_results=1)
    assert res["ids"] == [["r"]]


def test_query_with_empty_ids_raw(client, http):
    c = make(client, "ids-empty")
    r = http.post(coll_path(c) + "/query", json={"query_embeddings": [[2.0, 0.0]], "ids": [], "include": ["distances"]})
    assert r.status_code == 200
    assert r.json()["ids"] == [[]]


@pytest.mark.chroma_bug(
    "query with ids naming an unknown id is a 500 InternalError 'Error executing plan: "
    "Internal error: Error finding id'"
)
def test_query_with_unknown_id_is_400(client, http):
    # Decision (shared with Prism's docs/COMPATIBILITY.md): an unknown id in the
    # `ids` restriction of a query is the caller's mistake, so it is a 400
    # InvalidArgumentError naming the missing id -- not a 500, and not silently
    # ignored: Chroma's own test_api.py::test_query_id_filtering_e2e expects an
    # error whose text contains "Error finding id", so the message keeps those
    # words (e.g. "Error finding id: zz-missing").
    c = make(client, "ids-unknown")
    r = http.post(
        coll_path(c) + "/query",
        json={"query_embeddings": [[2.0, 0.0]], "ids": ["q", "zz-missing"], "n_results": 3},
    )
    body = assert_error(r, 400, "InvalidArgumentError")
    assert "Error finding id" in body["message"]
    assert "zz-missing" in body["message"]
    # same through the client, for a single missing id
    from chromadb.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="Error finding id"):
        c.query(query_embeddings=[[2.0, 0.0]], ids=["zz-missing"], n_results=1)


def test_query_with_where_and_document(client):
    c = make(
        client,
        "filt-q",
        documents=["pear", "apple pie", "quince"],
        metadatas=[{"n": 1}, {"n": 2}, {"n": 3}],
    )
    res = c.query(query_embeddings=[[2.0, 0.0]], where={"n": {"$gte": 2}}, n_results=3, include=["distances"])
    assert res["ids"] == [["q", "r"]]
    assert res["distances"] == [pytest.approx([1.0, 8.0])]
    res = c.query(query_embeddings=[[2.0, 0.0]], where_document={"$contains": "p"}, n_results=3)
    assert res["ids"] == [["q", "p"]]
    res = c.query(
        query_embeddings=[[2.0, 0.0]],
        where={"n": {"$ne": 2}},
        where_document={"$contains": "e"},
        n_results=3,
    )
    assert res["ids"] == [["r", "p"]]
    res = c.query(query_embeddings=[[2.0, 0.0]], where={"n": 99}, n_results=3)
    assert res["ids"] == [[]]


def brute_force(space, data, q):
    if space == "l2":
        return ((data - q) ** 2).sum(axis=1)
    if space == "ip":
        return 1.0 - data @ q
    dn = data / np.linalg.norm(data, axis=1, keepdims=True)
    return 1.0 - dn @ (q / np.linalg.norm(q))


@pytest.mark.parametrize("space", ["l2", "ip", "cosine"])
def test_larger_collection_matches_brute_force(client, space):
    rng = np.random.default_rng(12345)
    n, dim, k = 600, 16, 10
    data = rng.standard_normal((n, dim)).astype(np.float32)
    ids = [f"x{i}" for i in range(n)]
    c = client.create_collection(f"bf-{space}", metadata={"hnsw:space": space})
    for start in range(0, n, 200):
        c.add(ids=ids[start:start + 200], embeddings=data[start:start + 200])
    queries = rng.standard_normal((5, dim)).astype(np.float32)
    res = c.query(query_embeddings=queries, n_results=k, include=["distances"])
    d64 = data.astype(np.float64)
    for qi, q in enumerate(queries.astype(np.float64)):
        exact = brute_force(space, d64, q)
        truth = [ids[i] for i in np.argsort(exact)[:k]]
        got = res["ids"][qi]
        dists = res["distances"][qi]
        assert len(got) == k
        # ascending order
        assert all(a <= b + 1e-6 for a, b in zip(dists, dists[1:]))
        # every returned distance is the true distance of that record
        for rid, d in zip(got, dists):
            assert d == pytest.approx(exact[int(rid[1:])], rel=1e-4, abs=1e-4)
        # approximate search may miss a neighbour now and then, not more
        assert len(set(got) & set(truth)) >= k - 1


def test_n_results_at_the_u32_limit_returns_everything(client, http, server):
    # The exact search once reserved room for n_results + 1 hits up front:
    # this request aborted the whole server (a 32 GiB allocation).
    c = make(client, "nres-max")
    r = http.post(
        coll_path(c) + "/query",
        json={"query_embeddings": [[2.0, 0.0]], "n_results": 4294967295, "include": ["distances"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["ids"] == [["q", "r", "p"]]
    r = http.post(
        coll_path(c) + "/query",
        json={"query_embeddings": [[2.0, 0.0]], "n_results": 4294967295, "where": {"a": 1}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["ids"] == [[]]
    assert server.running()
    assert c.count() == 3


@pytest.mark.prism_only("Prism's memory bound: a query never reserves more than it searches")
def test_huge_n_results_with_many_queries_under_an_address_space_limit(start_server):
    srv = start_server(address_space_limit=8 * 1024**3)
    api = httpx.Client(base_url=srv.api, timeout=60)
    client = make_client(srv)
    c = client.create_collection("two")
    c.add(ids=["a", "b"], embeddings=[[0.0, 1.0], [1.0, 0.0]])
    queries = [[float(i % 7), 1.0] for i in range(1000)]
    for n_results in (10**6, 4294967295):
        r = api.post(
            coll_path(c) + "/query",
            json={"query_embeddings": queries, "n_results": n_results, "include": ["distances"]},
        )
        assert r.status_code == 200, r.text
        ids = r.json()["ids"]
        assert len(ids) == 1000 and all(sorted(row) == ["a", "b"] for row in ids)
    assert srv.running()
    assert api.get("/heartbeat").status_code == 200


@pytest.mark.prism_only("Prism bounds the results of one query request (PRISM_MAX_QUERY_RESULTS)")
def test_a_query_past_the_result_limit_is_refused_whole(start_server):
    srv = start_server(env={"PRISM_MAX_QUERY_RESULTS": "100"})
    api = httpx.Client(base_url=srv.api, timeout=60)
    c = make_client(srv).create_collection("limit")
    c.add(ids=[f"r{i}" for i in range(20)], embeddings=[[float(i)] for i in range(20)])
    # 10 queries x 10 results: at the limit.
    r = api.post(coll_path(c) + "/query", json={"query_embeddings": [[0.0]] * 10, "n_results": 10})
    assert r.status_code == 200, r.text
    # n_results counts only up to the records there are: 5 x 20.
    r = api.post(coll_path(c) + "/query", json={"query_embeddings": [[0.0]] * 5, "n_results": 10**9})
    assert r.status_code == 200, r.text
    assert [len(row) for row in r.json()["ids"]] == [20] * 5
    r = api.post(coll_path(c) + "/query", json={"query_embeddings": [[0.0]] * 11, "n_results": 10})
    assert_error(r, 400, "InvalidArgumentError", message_re=r"Query would return 110 results .*limit is 100")
    # With a filter, what counts is the records it leaves.
    c.update(ids=[f"r{i}" for i in range(3)], metadatas=[{"keep": True}] * 3)
    r = api.post(
        coll_path(c) + "/query",
        json={"query_embeddings": [[0.0]] * 30, "n_results": 10, "where": {"keep": True}},
    )
    assert r.status_code == 200, r.text
    assert all(len(row) == 3 for row in r.json()["ids"])

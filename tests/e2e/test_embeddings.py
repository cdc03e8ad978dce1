"""Embeddings on the wire (JSON lists and base64 little-endian f32), input
types, and the collection dimension fixed by the first write."""

import base64
import json
import struct

import numpy as np
import pytest
from chromadb.errors import InvalidArgumentError

from e2e_util import DB, as_lists, assert_error, coll_path, snapshot


def b64(v):
    return base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode()


def dimension(http, name):
    return http.get(DB + f"/collections/{name}").json()["dimension"]


def test_client_sends_base64(client):
    """The 1.5.9 client sends base64 embeddings for add/upsert/update once
    pre-flight says supports_base64_encoding; the server must decode them."""
    bodies = []
    session = client._server._session  # httpx.Client used by the client
    session.event_hooks["request"].append(
        lambda req: bodies.append((req.url.path, req.read()))
    )
    c = client.create_collection("b64-client")
    c.add(ids=["a", "b"], embeddings=[[1.5, -2.0, 0.1], [0.0, 0.0, 1.0]])
    c.upsert(ids=["c"], embeddings=[[3.0, 2.0, 1.0]])
    c.update(ids=["a"], embeddings=[[4.0, 4.0, 4.0]])
    sent = {path.rsplit("/", 1)[-1]: json.loads(body) for path, body in bodies if body}
    assert sent["add"]["embeddings"] == [b64([1.5, -2.0, 0.1]), b64([0.0, 0.0, 1.0])]
    assert sent["upsert"]["embeddings"] == [b64([3.0, 2.0, 1.0])]
    assert isinstance(sent["update"]["embeddings"][0], str)
    got = c.get(include=["embeddings"])
    assert got["ids"] == ["a", "b", "c"]
    assert as_lists(got["embeddings"]) == [[4.0, 4.0, 4.0], [0.0, 0.0, 1.0], [3.0, 2.0, 1.0]]


def test_base64_and_list_payloads_are_equivalent(client, http):
    c = client.create_collection("b64-raw")
    r = http.post(coll_path(c) + "/add", json={"ids": ["x"], "embeddings": [b64([1.5, -2.0, 0.25])]})
    assert r.status_code == 201
    r = http.post(coll_path(c) + "/add", json={"ids": ["y"], "embeddings": [[1.5, -2.0, 0.25]]})
    assert r.status_code == 201
    r = http.post(coll_path(c) + "/upsert", json={"ids": ["z"], "embeddings": [b64([0.0, 1.0, 0.0])]})
    assert r.status_code == 200
    r = http.post(coll_path(c) + "/update", json={"ids": ["z"], "embeddings": [b64([0.0, 2.0, 0.0])]})
    assert r.status_code == 200
    body = http.post(coll_path(c) + "/get", json={"include": ["embeddings"]}).json()
    # responses always carry JSON numbers
    assert body["embeddings"] == [[1.5, -2.0, 0.25], [1.5, -2.0, 0.25], [0.0, 2.0, 0.0]]
    # base64 without padding needed (12 bytes) is fine too
    r = http.post(coll_path(c) + "/add", json={"ids": ["w"], "embeddings": ["AACAPwAAAEAAAEBA"]})
    assert r.status_code == 201
    assert http.post(coll_path(c) + "/get", json={"ids": ["w"], "include": ["embeddings"]}).json()["embeddings"] == [[1.0, 2.0, 3.0]]


@pytest.mark.parametrize(
    "embeddings, status, error, message",
    [
        (["!!!"], 400, "InvalidArgumentError", r"^Invalid base64 string"),
        (["AAAA"], 400, "InvalidArgumentError", r"divisible by 4"),  # 3 bytes
        ([""], 400, "InvalidArgumentError", r"at least 1 dimension"),
        ([b64([1.0, 2.0]), [1.0, 2.0]], 422, "ChromaError", r"^Failed to deserialize the JSON body"),
        ([[1.0, "a"]], 422, "ChromaError", r"^Failed to deserialize the JSON body"),
        ("abc", 422, "ChromaError", r"^Failed to deserialize the JSON body"),
        (None, 422, "ChromaError", r"^Failed to deserialize the JSON body"),
    ],
)
def test_bad_embedding_payloads(client, http, embeddings, status, error, message):
    c = client.create_collection("bad-emb")
    c.add(ids=["keep"], embeddings=[[1.0, 2.0]])
    before = snapshot(c)
    r = http.post(coll_path(c) + "/add", json={"ids": ["x"], "embeddings": embeddings})
    assert_error(r, status, error, message_re=message)
    assert snapshot(c) == before


def test_query_embeddings_must_be_lists(client, http):
    c = client.create_collection("q-b64")
    c.add(ids=["a"], embeddings=[[1.0, 2.0]])
    r = http.post(coll_path(c) + "/query", json={"query_embeddings": [b64([1.0, 2.0])]})
    assert_error(r, 422, "ChromaError")


def test_numpy_and_int_inputs(client):
    c = client.create_collection("np-in")
    c.add(ids=["f32"], embeddings=np.array([[0.5, 1.5]], dtype=np.float32))
    c.add(ids=["f64"], embeddings=np.array([[2.5, 3.5]], dtype=np.float64))
    c.add(ids=["int"], embeddings=[[1, 2]])
    c.add(ids=["np1"], embeddings=np.array([7.0, 8.0]))  # a single 1-d vector
    got = c.get(include=["embeddings"])
    assert got["ids"] == ["f32", "f64", "int", "np1"]
    assert as_lists(got["embeddings"]) == [[0.5, 1.5], [2.5, 3.5], [1.0, 2.0], [7.0, 8.0]]
    res = c.query(query_embeddings=np.array([[1, 2]]), n_results=1, include=["distances"])
    assert res["ids"] == [["int"]]
    assert res["distances"] == [[0.0]]


def test_dimension_fixed_by_first_write(client, http):
    c = client.create_collection("dim")
    assert dimension(http, "dim") is None
    c.add(ids=["a"], embeddings=[[1.0, 2.0, 3.0]])
    assert dimension(http, "dim") == 3
    before = snapshot(c)

    msg = "Collection expecting embedding with dimension of 3, got 2"
    with pytest.raises(InvalidArgumentError, match="dimension") as e:
        c.add(ids=["b"], embeddings=[[1.0, 2.0]])
    assert str(e.value) == msg
    with pytest.raises(InvalidArgumentError, match="dimension"):
        c.upsert(ids=["b"], embeddings=[[1.0, 2.0]])
    with pytest.raises(InvalidArgumentError, match="dimension"):
        c.update(ids=["a"], embeddings=[[1.0, 2.0]])
    with pytest.raises(InvalidArgumentError, match="dimension") as e:
        c.query(query_embeddings=[[1.0, 2.0]])
    assert str(e.value) == msg
    with pytest.raises(InvalidArgumentError, match="dimension"):
        c.add(ids=["b"], embeddings=[[1.0, 2.0, 3.0, 4.0]])
    assert snapshot(c) == before

    # raw: same 400 for every write route and for query
    for route, body in (
        ("/add", {"ids": ["b"], "embeddings": [[1.0, 2.0]]}),
        ("/upsert", {"ids": ["b"], "embeddings": [[1.0, 2.0]]}),
        ("/update", {"ids": ["a"], "embeddings": [[1.0, 2.0]]}),
        ("/query", {"query_embeddings": [[1.0, 2.0]]}),
    ):
        assert_error(http.post(coll_path(c) + route, json=body), 400, "InvalidArgumentError", msg)
    assert snapshot(c) == before


def test_dimension_stays_after_everything_is_deleted(client, http):
    c = client.create_collection("dim-sticky")
    c.add(ids=["a", "b"], embeddings=[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    c.delete(ids=["a", "b"])
    assert c.count() == 0
    assert dimension(http, "dim-sticky") == 3
    with pytest.raises(InvalidArgumentError, match="dimension"):
        c.add(ids=["z"], embeddings=[[1.0, 2.0]])
    c.add(ids=["z"], embeddings=[[1.0, 2.0, 3.0]])
    assert c.count() == 1


def test_mixed_dimensions_in_one_batch(client, http):
    c = client.create_collection("dim-mixed")
    for embs in ([[1.0, 2.0, 3.0], [1.0, 2.0]], [[1.0, 2.0], [1.0, 2.0, 3.0]]):
        r = http.post(coll_path(c) + "/add", json={"ids": ["x", "y"], "embeddings": embs})
        assert_error(r, 400, "InvalidArgumentError", "Inconsistent dimensions in provided embeddings")
    assert c.count() == 0
    assert dimension(http, "dim-mixed") is None
    r = http.post(coll_path(c) + "/query", json={"query_embeddings": [[1.0, 2.0], [1.0]]})
    assert_error(r, 400, "InvalidArgumentError", "Inconsistent dimensions in provided embeddings")


def test_query_empty_collection_any_dimension(client):
    c = client.create_collection("dim-none")
    assert c.query(query_embeddings=[[1.0, 2.0]], n_results=2)["ids"] == [[]]
    assert c.query(query_embeddings=[[1.0, 2.0, 3.0, 4.0]], n_results=2)["ids"] == [[]]
    # querying does not fix the dimension
    c.add(ids=["a"], embeddings=[[1.0]])
    assert c.count() == 1


def test_empty_vector_rejected(client, http):
    c = client.create_collection("dim-empty")
    r = http.post(coll_path(c) + "/add", json={"ids": ["x"], "embeddings": [[]]})
    assert_error(
        r, 400, "InvalidArgumentError",
        "Validation error: embeddings: Each embedding must have at least 1 dimension",
    )
    assert c.count() == 0
    assert dimension(http, "dim-empty") is None


def test_nan_and_inf_rejected(client, http):
    c = client.create_collection("nan")
    c.add(ids=["keep"], embeddings=[[1.0, 2.0]])
    before = snapshot(c)
    # the client does not check; it sends base64 and the server refuses
    for bad in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(InvalidArgumentError):
            c.add(ids=["bad"], embeddings=[[bad, 1.0]])
        with pytest.raises(InvalidArgumentError):
            c.upsert(ids=["keep"], embeddings=[[bad, 1.0]])
        with pytest.raises(InvalidArgumentError):
            c.update(ids=["keep"], embeddings=[[bad, 1.0]])
    assert snapshot(c) == before
    # base64 NaN: "Non-finite float value at embedding index 0: NaN"
    r = http.post(coll_path(c) + "/add", json={"ids": ["bad"], "embeddings": [b64([float("nan"), 1.0])]})
    assert_error(r, 400, "InvalidArgumentError", message_re=r"(?i)nan")
    # a JSON number that overflows f32 becomes infinite and is refused
    r = http.post(coll_path(c) + "/add", json={"ids": ["bad"], "embeddings": [[3.5e38, 1.0]]})
    assert_error(
        r, 400, "InvalidArgumentError",
        "Validation error: embeddings: Embeddings must not contain NaN or Infinity values",
    )
    assert snapshot(c) == before


@pytest.mark.chroma_bug(
    "a query vector that is not finite (1e40 overflows f32) is accepted and the "
    "distance comes back as null"
)
def test_non_finite_query_vector_is_400(client, http):
    c = client.create_collection("nan-query")
    c.add(ids=["a"], embeddings=[[1.0, 2.0]])
    r = http.post(coll_path(c) + "/query", json={"query_embeddings": [[1e40, 1.0]], "n_results": 1})
    assert_error(r, 400, "InvalidArgumentError")

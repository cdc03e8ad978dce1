"""Rejected writes: each bad input gets the right status and message, and the
collection's data is exactly as before (count and contents). Raw HTTP is used
where the client would refuse the input locally."""

import pytest
from chromadb.errors import InvalidArgumentError

from e2e_util import DB, assert_error, coll_path, snapshot

INCONSISTENT = "Inconsistent number of IDs, embeddings, documents, URIs and metadatas"
EMPTY_ID = "Empty ID, ID must have at least one character"


@pytest.fixture
def col(client):
    c = client.create_collection("validation")
    c.add(
        ids=["a", "b"],
        embeddings=[[1.0, 2.0], [3.0, 4.0]],
        documents=["doc a", "doc b"],
        metadatas=[{"k": 1}, {"k": 2}],
    )
    return c


WRITE_ROUTES = ["add", "upsert", "update"]

BAD_WRITES = [
    # (body, status, error, exact message or None, regex or None)
    # Where Chroma's message is a terse category ("Invalid metadata at index 0")
    # only that prefix is required, so a server may add the reason after it.
    ({"ids": [""], "embeddings": [[1, 2]]}, 400, "InvalidArgumentError", EMPTY_ID, None),
    ({"ids": ["a", ""], "embeddings": [[1, 2], [5, 5]]}, 400, "InvalidArgumentError", EMPTY_ID, None),
    ({"ids": ["x", "y"], "embeddings": [[1, 2]]}, 400, "InvalidArgumentError", INCONSISTENT, None),
    ({"ids": ["a"], "embeddings": [[1, 2], [5, 5]]}, 400, "InvalidArgumentError", INCONSISTENT, None),
    ({"ids": ["a"], "embeddings": [[9, 9]], "documents": ["p", "q"]}, 400, "InvalidArgumentError", INCONSISTENT, None),
    ({"ids": ["a"], "embeddings": [[9, 9]], "metadatas": [{"z": 1}, {"z": 2}]}, 400, "InvalidArgumentError", INCONSISTENT, None),
    ({"ids": ["a"], "embeddings": [[9, 9]], "uris": ["u", "v"]}, 400, "InvalidArgumentError", INCONSISTENT, None),
    ({"ids": ["a", "x"], "embeddings": [[9, 9], [8, 8]], "documents": ["only one"]}, 400, "InvalidArgumentError", INCONSISTENT, None),
    ({"ids": ["a"], "embeddings": [[9, 9]], "metadatas": [{"$bad": 1}]}, 400, "InvalidArgumentError", None, r"^Validation error: metadatas: Invalid metadata at index 0"),
    ({"ids": ["a"], "embeddings": [[9, 9]], "metadatas": [{"#bad": 1}]}, 400, "InvalidArgumentError", None, r"^Validation error: metadatas: Invalid metadata at index 0"),
    ({"ids": ["a"], "embeddings": [[9, 9]], "metadatas": [{"": 1}]}, 400, "InvalidArgumentError", None, r"^Validation error: metadatas: Invalid metadata at index 0"),
    ({"ids": ["a", "x"], "embeddings": [[9, 9], [8, 8]], "metadatas": [{"ok": 1}, {"$bad": 1}]}, 400, "InvalidArgumentError", None, r"^Validation error: metadatas: Invalid metadata at index 1"),
    ({"ids": ["a"], "embeddings": [[9, 9]], "metadatas": [{"nested": {"x": 1}}]}, 422, "ChromaError", None, r"^Failed to deserialize the JSON body.*metadatas\[0\]\.nested"),
    ({"ids": ["a"], "embeddings": [[9, 9]], "metadatas": [{"mixed": [1, "x"]}]}, 422, "ChromaError", None, r"^Failed to deserialize the JSON body"),
    ({"ids": ["a"], "embeddings": [[9, 9]], "metadatas": [{"arr": [[1]]}]}, 422, "ChromaError", None, r"^Failed to deserialize the JSON body"),
    ({"ids": ["a"], "embeddings": [[9, 9]], "metadatas": [{"arr": [None]}]}, 422, "ChromaError", None, r"^Failed to deserialize the JSON body"),
    ({"ids": ["a"], "embeddings": [[9, 9]], "documents": [1]}, 422, "ChromaError", None, r"^Failed to deserialize the JSON body.*documents\[0\]"),
    ({"ids": [1], "embeddings": [[9, 9]]}, 422, "ChromaError", None, r"^Failed to deserialize the JSON body.*ids\[0\]"),
    ({"ids": "a", "embeddings": [[9, 9]]}, 422, "ChromaError", None, r"^Failed to deserialize the JSON body"),
    ({"ids": ["a"], "embeddings": [[9, 9, 9]]}, 400, "InvalidArgumentError", "Collection expecting embedding with dimension of 2, got 3", None),
    ({"ids": ["a"], "embeddings": [[float("1e39"), 1]]}, 400, "InvalidArgumentError", "Validation error: embeddings: Embeddings must not contain NaN or Infinity values", None),
    ({"ids": ["a"], "embeddings": [[]]}, 400, "InvalidArgumentError", "Validation error: embeddings: Each embedding must have at least 1 dimension", None),
]


@pytest.mark.parametrize("route", WRITE_ROUTES)
@pytest.mark.parametrize(
    "body, status, error, message, message_re",
    BAD_WRITES,
    ids=[f"{i}" for i in range(len(BAD_WRITES))],
)
def test_rejected_write_changes_nothing(col, http, route, body, status, error, message, message_re):
    before = snapshot(col)
    r = http.post(coll_path(col) + "/" + route, json=body)
    assert_error(r, status, error, message, message_re)
    assert snapshot(col) == before


def test_missing_embeddings_field(col, http):
    before = snapshot(col)
    for route in ("add", "upsert"):
        r = http.post(coll_path(col) + "/" + route, json={"ids": ["x"], "documents": ["d"]})
        assert_error(r, 422, "ChromaError", message_re=r"missing field `embeddings`")
    assert snapshot(col) == before
    # update does not need embeddings
    r = http.post(coll_path(col) + "/update", json={"ids": ["a"]})
    assert r.status_code == 200
    assert snapshot(col) == before


@pytest.mark.parametrize("ids", [[""], ["a", ""]])
def test_empty_id_via_client(col, ids):
    # the client does not check for empty ids: the server does
    before = snapshot(col)
    with pytest.raises(InvalidArgumentError, match="Empty ID"):
        col.add(ids=ids, embeddings=[[7.0, 7.0]] * len(ids))
    with pytest.raises(InvalidArgumentError, match="Empty ID"):
        col.upsert(ids=ids, embeddings=[[7.0, 7.0]] * len(ids))
    assert snapshot(col) == before


@pytest.mark.parametrize("key", ["$dollar", "#hash"])
def test_reserved_metadata_key_via_client(col, key):
    before = snapshot(col)
    for op in (col.add, col.upsert, col.update):
        with pytest.raises(InvalidArgumentError, match="Invalid metadata at index 0"):
            op(ids=["a"], embeddings=[[7.0, 7.0]], metadatas=[{key: 1}])
    assert snapshot(col) == before


def test_bad_where_on_delete_deletes_nothing(col, http):
    before = snapshot(col)
    for body, message in (
        ({"where": {"k": {"$gt": "x"}}}, r"^Invalid where clause"),
        ({"where": {}}, r"^Invalid where clause"),
        ({"where_document": {"$bogus": "x"}}, r"^Invalid where document clause"),
    ):
        r = http.post(coll_path(col) + "/delete", json=body)
        assert_error(r, 400, "InvalidArgumentError", message_re=message)
    r = http.post(coll_path(col) + "/delete", json={"where_document": {"$regex": "("}})
    assert_error(r, 400, "InvalidArgumentError", message_re=r"^Regex syntax errror")
    assert snapshot(col) == before


def test_delete_limit_without_where(col, http):
    before = snapshot(col)
    r = http.post(coll_path(col) + "/delete", json={"ids": ["a", "b"], "limit": 1})
    assert_error(
        r, 400, "InvalidArgumentError",
        "Validation error: limit, where: limit can only be specified when a where clause is provided",
    )
    r = http.post(coll_path(col) + "/delete", json={"ids": []})
    assert_error(
        r, 400, "InvalidArgumentError",
        "Validation error: ids, where: Either ids or where must be specified",
    )
    assert snapshot(col) == before


@pytest.mark.parametrize(
    "body, field",
    [
        ({"limit": -1}, "limit"),
        ({"offset": -1}, "offset"),
        ({"limit": 1.5}, "limit"),
        ({"include": None}, "include"),
        ({"include": ["bogus"]}, "include"),
        ({"ids": "a"}, "ids"),
    ],
)
def test_bad_get_body_is_422(col, http, body, field):
    r = http.post(coll_path(col) + "/get", json=body)
    msg = assert_error(r, 422, "ChromaError", message_re=r"^Failed to deserialize the JSON body")["message"]
    assert field in msg


@pytest.mark.parametrize(
    "body",
    [
        {"query_embeddings": [[1, 2]], "n_results": -1},
        {"n_results": 1},
        {"query_embeddings": [[1, "x"]]},
    ],
)
def test_bad_query_body_is_422(col, http, body):
    r = http.post(coll_path(col) + "/query", json=body)
    assert_error(r, 422, "ChromaError", message_re=r"^Failed to deserialize the JSON body")


def test_unknown_fields_are_ignored(col, http):
    r = http.post(coll_path(col) + "/get", json={"ids": ["a"], "include": [], "bogus": 1})
    assert r.status_code == 200 and r.json()["ids"] == ["a"]
    r = http.post(coll_path(col) + "/add", json={"ids": ["c"], "embeddings": [[5, 6]], "extra": True})
    assert r.status_code == 201
    assert col.count() == 3


@pytest.mark.chroma_bug(
    "a write rejected for an empty id or inconsistent lengths still fixes the "
    "collection's dimension (dimension becomes the rejected vector's length)"
)
@pytest.mark.parametrize(
    "body",
    [
        {"ids": [""], "embeddings": [[1.0]]},
        {"ids": ["x", "y"], "embeddings": [[1.0, 2.0, 3.0]]},
    ],
)
@pytest.mark.parametrize("route", ["add", "upsert"])
def test_rejected_write_does_not_fix_dimension(client, http, route, body):
    c = client.create_collection("dim-untouched")
    r = http.post(coll_path(c) + "/" + route, json=body)
    assert r.status_code == 400
    assert http.get(DB + "/collections/dim-untouched").json()["dimension"] is None
    c.add(ids=["ok"], embeddings=[[1.0, 2.0]])
    assert c.count() == 1

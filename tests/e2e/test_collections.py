"""Collections: create / get / get_or_create / list (limit, offset) / count /
modify (name, metadata) / delete, and their errors."""

import uuid

import pytest
from chromadb.errors import ChromaError, InvalidArgumentError, NotFoundError

from e2e_util import DB, assert_error

NAME_RULE = (
    "Expected a name containing 3-512 characters from [a-zA-Z0-9._-], "
    "starting and ending with a character in [a-zA-Z0-9]. Got: "
)


def test_create_and_get(client):
    meta = {"s": "text", "i": 7, "f": 1.5, "b": True}
    col = client.create_collection("my-coll_1.x", metadata=meta)
    assert col.name == "my-coll_1.x"
    assert isinstance(col.id, uuid.UUID)
    assert col.metadata == meta
    assert col.tenant == "default_tenant"
    assert col.database == "default_database"

    again = client.get_collection("my-coll_1.x")
    assert again.id == col.id
    assert again.name == col.name
    assert again.metadata == meta
    assert again.configuration_json["hnsw"]["space"] == "l2"


def test_collection_json_shape(client, http):
    col = client.create_collection("shape", metadata={"k": "v"})
    r = http.get(DB + "/collections/shape")
    assert r.status_code == 200
    j = r.json()
    assert j["id"] == str(col.id)
    assert j["name"] == "shape"
    assert j["metadata"] == {"k": "v"}
    assert j["dimension"] is None
    assert j["tenant"] == "default_tenant"
    assert j["database"] == "default_database"
    hnsw = j["configuration_json"]["hnsw"]
    assert hnsw["space"] == "l2"
    assert hnsw["ef_construction"] == 100
    assert hnsw["ef_search"] == 100
    assert hnsw["max_neighbors"] == 16
    # by-id route returns the same collection
    r2 = http.get(DB + f"/collections/by-id/{col.id}")
    assert r2.status_code == 200
    assert r2.json()["id"] == str(col.id) and r2.json()["name"] == "shape"

    col.add(ids=["a"], embeddings=[[1.0, 2.0, 3.0]])
    assert http.get(DB + "/collections/shape").json()["dimension"] == 3


@pytest.mark.chroma_bug(
    "array values in collection metadata panic the server thread ('entered unreachable "
    "code: Array metadata values are written to embedding_metadata_array'); the "
    "connection drops without a response and nothing is created"
)
def test_array_collection_metadata_round_trips(client):
    # The client accepts list values in collection metadata (validate_metadata),
    # and record metadata supports them, so a correct server stores them.
    meta = {"tags": ["x", "y"], "nums": [1, 2], "k": "v"}
    col = client.create_collection("arr-meta", metadata=meta)
    assert col.metadata == meta
    assert client.get_collection("arr-meta").metadata == meta


def test_no_metadata_is_none(client):
    col = client.create_collection("plain")
    assert col.metadata is None
    assert client.get_collection("plain").metadata is None


def test_hnsw_space_from_metadata(client):
    for space in ("l2", "ip", "cosine"):
        col = client.create_collection(f"space-{space}", metadata={"hnsw:space": space})
        got = client.get_collection(f"space-{space}")
        assert got.configuration_json["hnsw"]["space"] == space
        assert got.metadata == {"hnsw:space": space}
        assert col.id == got.id


def test_duplicate_create_is_409(client, http):
    client.create_collection("dup")
    with pytest.raises(ChromaError) as e:
        client.create_collection("dup")
    assert "Collection [dup] already exists" in str(e.value)
    r = http.post(DB + "/collections", json={"name": "dup"})
    assert_error(r, 409, "ChromaError", "Collection [dup] already exists")
    assert client.count_collections() == 1


def test_get_or_create(client):
    first = client.get_or_create_collection("goc", metadata={"v": 1})
    assert first.metadata == {"v": 1}
    second = client.get_or_create_collection("goc", metadata={"v": 2, "other": "x"})
    assert second.id == first.id
    # an existing collection is returned as it is: new metadata is ignored
    assert second.metadata == {"v": 1}
    assert client.get_collection("goc").metadata == {"v": 1}
    assert client.count_collections() == 1


def test_get_missing_collection(client, http):
    with pytest.raises(NotFoundError) as e:
        client.get_collection("nowhere")
    assert "Collection [nowhere] does not exist" in str(e.value)
    assert_error(
        http.get(DB + "/collections/nowhere"),
        404,
        "NotFoundError",
        "Collection [nowhere] does not exist",
    )
    missing = uuid.uuid4()
    assert_error(
        http.get(DB + f"/collections/by-id/{missing}"),
        404,
        "NotFoundError",
        message_re=rf"^Collection \[{missing}\] does not exist",
    )


def test_bad_uuid_in_path_is_400(http):
    r = http.post(DB + "/collections/not-a-uuid/get", json={})
    assert_error(r, 400, "InvalidArgumentError", message_re="UUID")
    r = http.put(DB + "/collections/not-a-uuid", json={"new_name": "zzz"})
    assert_error(r, 400, "InvalidArgumentError", message_re="UUID")


def test_record_routes_on_unknown_collection_are_404(http):
    missing = uuid.uuid4()
    base = DB + f"/collections/{missing}"
    for method, path, body in [
        ("POST", "/add", {"ids": ["a"], "embeddings": [[1.0]]}),
        ("POST", "/upsert", {"ids": ["a"], "embeddings": [[1.0]]}),
        ("POST", "/update", {"ids": ["a"], "embeddings": [[1.0]]}),
        ("POST", "/delete", {"ids": ["a"]}),
        ("POST", "/get", {}),
        ("POST", "/query", {"query_embeddings": [[1.0]]}),
        ("GET", "/count", None),
        ("PUT", "", {"new_name": "abc"}),
    ]:
        r = http.request(method, base + path, json=body)
        assert_error(
            r, 404, "NotFoundError", message_re=rf"^Collection \[{missing}\] does not exist"
        )


def test_delete_collection(client, http):
    col = client.create_collection("doomed")
    col.add(ids=["a"], embeddings=[[1.0, 2.0]])
    other = client.create_collection("survivor")
    other.add(ids=["b"], embeddings=[[3.0]])
    client.delete_collection("doomed")
    with pytest.raises(NotFoundError):
        client.get_collection("doomed")
    assert [c.name for c in client.list_collections()] == ["survivor"]
    assert other.count() == 1
    # record routes on the deleted id are 404 now
    r = http.post(DB + f"/collections/{col.id}/get", json={})
    assert_error(r, 404, "NotFoundError")
    # deleting again is a 404
    with pytest.raises(NotFoundError):
        client.delete_collection("doomed")
    assert_error(
        http.delete(DB + "/collections/doomed"),
        404,
        "NotFoundError",
        "Collection [doomed] does not exist",
    )
    # the name can be reused: a new, empty collection with no dimension yet
    again = client.create_collection("doomed")
    assert again.id != col.id
    assert again.count() == 0
    again.add(ids=["x"], embeddings=[[1.0, 2.0, 3.0]])  # different dimension is fine
    assert again.count() == 1


def test_list_and_count(client):
    assert client.list_collections() == []
    assert client.count_collections() == 0
    names = [f"coll-{i:02d}" for i in range(7)]
    for n in names:
        client.create_collection(n)
    assert client.count_collections() == 7
    full = [c.name for c in client.list_collections()]
    # Chroma orders by collection id (random UUIDs), not by name or creation
    # time, so only the set and the pagination consistency are fixed.
    assert sorted(full) == names
    assert [c.name for c in client.list_collections(limit=3)] == full[:3]
    assert [c.name for c in client.list_collections(limit=3, offset=3)] == full[3:6]
    assert [c.name for c in client.list_collections(limit=3, offset=6)] == full[6:]
    assert [c.name for c in client.list_collections(offset=5)] == full[5:]
    assert client.list_collections(offset=7) == []
    assert client.list_collections(offset=100) == []
    assert client.list_collections(limit=0) == []


def test_list_collections_negative_limit_is_400(http):
    r = http.get(DB + "/collections", params={"limit": -1})
    assert_error(r, 400, "InvalidArgumentError")


def test_list_returns_full_collection_objects(client):
    client.create_collection("listed", metadata={"a": 1})
    (col,) = client.list_collections()
    assert col.name == "listed"
    assert col.metadata == {"a": 1}


def test_modify_name(client):
    col = client.create_collection("before", metadata={"m": 1})
    col.add(ids=["a"], embeddings=[[1.0, 2.0]], documents=["doc"])
    col.modify(name="after")
    assert col.name == "after"
    with pytest.raises(NotFoundError):
        client.get_collection("before")
    got = client.get_collection("after")
    assert got.id == col.id
    assert got.metadata == {"m": 1}
    assert got.get()["documents"] == ["doc"]
    # the old name is free again
    client.create_collection("before")
    assert client.count_collections() == 2


def test_modify_metadata_replaces(client, http):
    col = client.create_collection("meta", metadata={"x": 1, "k": "v"})
    col.modify(metadata={"z": True})
    assert client.get_collection("meta").metadata == {"z": True}
    # modify with only a name keeps the metadata
    col.modify(name="meta2")
    assert client.get_collection("meta2").metadata == {"z": True}
    # raw: null values are dropped, so {"k": null} leaves no metadata at all
    r = http.put(DB + f"/collections/{col.id}", json={"new_metadata": {"k": None, "m": 2}})
    assert r.status_code == 200 and r.json() == {}
    assert client.get_collection("meta2").metadata == {"m": 2}
    r = http.put(DB + f"/collections/{col.id}", json={"new_metadata": {"k": None}})
    assert r.status_code == 200
    assert client.get_collection("meta2").metadata is None
    # an empty body changes nothing
    r = http.put(DB + f"/collections/{col.id}", json={})
    assert r.status_code == 200
    assert client.get_collection("meta2").name == "meta2"


def test_modify_errors(client, http):
    col = client.create_collection("orig", metadata={"keep": 1})
    path = DB + f"/collections/{col.id}"
    assert_error(
        http.put(path, json={"new_name": "x"}),
        400,
        "InvalidArgumentError",
        "Validation error: new_name: " + NAME_RULE + "x",
    )
    assert_error(
        http.put(path, json={"new_metadata": {}}),
        400,
        "InvalidArgumentError",
        "Validation error: new_metadata: Metadata cannot be empty",
    )
    assert_error(
        http.put(path, json={"new_metadata": {"$bad": 1}}),
        400,
        "InvalidArgumentError",
        "Validation error: new_metadata: Metadata key cannot start with '#' or '$': $bad",
    )
    with pytest.raises(InvalidArgumentError):
        col.modify(name="a")
    got = client.get_collection("orig")
    assert got.metadata == {"keep": 1}


@pytest.mark.chroma_bug(
    "renaming onto an existing name is a 500 InternalError (SQLite UNIQUE constraint) "
    "instead of 409 'Collection [x] already exists'"
)
def test_modify_name_to_existing_is_409(client, http):
    a = client.create_collection("first")
    client.create_collection("second")
    r = http.put(DB + f"/collections/{a.id}", json={"new_name": "second"})
    assert_error(r, 409, "ChromaError", "Collection [second] already exists")
    assert client.get_collection("first").id == a.id


@pytest.mark.parametrize(
    "name",
    ["ab", "a", "-abc", "abc-", "_abc", "a b c", "abc$", "äbc", "x" * 513],
)
def test_invalid_collection_names(client, http, name):
    r = http.post(DB + "/collections", json={"name": name})
    assert_error(r, 400, "InvalidArgumentError", "Validation error: name: " + NAME_RULE + name)
    with pytest.raises(InvalidArgumentError):
        client.create_collection(name)
    assert client.count_collections() == 0


@pytest.mark.parametrize(
    "name, message",
    [
        ("a..b", "Validation error: name: Expected a name that does not contains two consecutive periods (..). Got a..b"),
        ("192.168.1.1", "Validation error: name: Expected a name that is not a valid ip address. Got 192.168.1.1"),
    ],
)
def test_invalid_collection_names_special(client, http, name, message):
    assert_error(http.post(DB + "/collections", json={"name": name}), 400, "InvalidArgumentError", message)
    assert client.count_collections() == 0


def test_valid_edge_names(client):
    for name in ["abc", "a.b", "A-Z_0.9", "x" * 512, "1.2.3"]:
        client.create_collection(name)
    assert client.count_collections() == 5


@pytest.mark.parametrize(
    "metadata, message",
    [
        ({}, "Validation error: metadata: Metadata cannot be empty"),
        ({"$x": 1}, "Validation error: metadata: Metadata key cannot start with '#' or '$': $x"),
        ({"#x": 1}, "Validation error: metadata: Metadata key cannot start with '#' or '$': #x"),
        ({"": 1}, "Validation error: metadata: Metadata key cannot be empty"),
    ],
)
def test_invalid_collection_metadata(client, http, metadata, message):
    r = http.post(DB + "/collections", json={"name": "valid-name", "metadata": metadata})
    assert_error(r, 400, "InvalidArgumentError", message)
    assert client.count_collections() == 0

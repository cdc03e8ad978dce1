"""The `where` metadata filter language: every operator, missing keys,
int/float cross comparison, bools vs ints, array metadata, `#document` keys,
and malformed clauses. Results of get() are compared as exact id lists
(get returns records in insertion order)."""

import pytest

from e2e_util import assert_error, coll_path

RECORDS = [
    # id, metadata, document
    ("r1", {"n": 1, "s": "apple", "b": True, "tags": ["red", "green"], "nums": [1, 2], "fl": [1.5]}, "the quick brown fox"),
    ("r2", {"n": 2, "s": "banana", "b": False, "tags": ["yellow"], "nums": [2, 3]}, "lazy dog"),
    ("r3", {"n": 3.5, "s": "cherry", "tags": ["red"]}, "Fox in socks"),
    ("r4", {"n": 1.0}, None),
    ("r5", None, "no metadata here"),
    ("r6", {"other": "x"}, "quick"),
    ("r7", {"n": True, "b": 1}, "true bool"),
    ("r8", {"n": "1"}, "string one"),
    ("r9", {"n": -5, "s": "Apple", "bs": [True, False]}, "negative"),
]
ALL = [r[0] for r in RECORDS]


def but(*excluded):
    return [i for i in ALL if i not in excluded]


@pytest.fixture
def col(client):
    c = client.create_collection("where")
    c.add(
        ids=ALL,
        embeddings=[[float(i), 1.0] for i in range(len(RECORDS))],
        metadatas=[r[1] for r in RECORDS],
        documents=[r[2] for r in RECORDS],
    )
    return c


CASES = [
    # equality (shorthand and $eq)
    ({"n": 1}, ["r1", "r4"]),  # 1 == 1.0
    ({"n": {"$eq": 1}}, ["r1", "r4"]),
    ({"n": 1.0}, ["r1", "r4"]),
    ({"n": {"$eq": 3.5}}, ["r3"]),
    ({"s": "apple"}, ["r1"]),  # case-sensitive
    ({"s": {"$eq": "Apple"}}, ["r9"]),
    ({"n": "1"}, ["r8"]),  # a string never equals a number
    # bools are never equal to ints
    ({"b": True}, ["r1"]),
    ({"b": False}, ["r2"]),
    ({"b": 1}, ["r7"]),
    ({"n": True}, ["r7"]),
    # $ne matches records that lack the key (and records without metadata)
    ({"n": {"$ne": 1}}, but("r1", "r4")),
    ({"n": {"$ne": True}}, but("r7")),
    ({"s": {"$ne": "apple"}}, but("r1")),
    ({"missing_key": {"$ne": 0}}, ALL),
    # numeric comparisons: ints and floats compare across types; bools and
    # strings never take part
    ({"n": {"$gt": 1}}, ["r2", "r3"]),
    ({"n": {"$gte": 1}}, ["r1", "r2", "r3", "r4"]),
    ({"n": {"$lt": 1}}, ["r9"]),
    ({"n": {"$lte": 1}}, ["r1", "r4", "r9"]),
    ({"n": {"$gt": 0.5}}, ["r1", "r2", "r3", "r4"]),
    ({"n": {"$gt": 0}}, ["r1", "r2", "r3", "r4"]),
    ({"n": {"$lt": 3.5}}, ["r1", "r2", "r4", "r9"]),
    ({"n": {"$lte": 3.5}}, ["r1", "r2", "r3", "r4", "r9"]),
    ({"n": {"$gte": 3.5}}, ["r3"]),
    ({"n": {"$gt": 100}}, []),
    ({"missing_key": {"$gt": 0}}, []),
    # $in / $nin
    ({"n": {"$in": [1]}}, ["r1", "r4"]),
    ({"n": {"$in": [1.0, 3.5]}}, ["r1", "r3", "r4"]),
    ({"n": {"$in": [True]}}, ["r7"]),
    ({"n": {"$in": ["1"]}}, ["r8"]),
    ({"s": {"$in": ["apple", "cherry"]}}, ["r1", "r3"]),
    ({"s": {"$in": ["nope"]}}, []),
    ({"n": {"$nin": [1]}}, but("r1", "r4")),  # includes records lacking "n"
    ({"s": {"$nin": ["apple"]}}, but("r1")),
    ({"s": {"$nin": ["apple", "banana", "cherry", "Apple"]}}, but("r1", "r2", "r3", "r9")),
    # $and / $or, nested
    ({"$and": [{"n": {"$gte": 1}}, {"s": {"$ne": "apple"}}]}, ["r2", "r3", "r4"]),
    ({"$or": [{"n": 2}, {"s": "cherry"}]}, ["r2", "r3"]),
    ({"$or": [{"n": 2}, {"$and": [{"s": "apple"}, {"b": True}]}]}, ["r1", "r2"]),
    ({"$and": [{"$or": [{"n": 1}, {"n": 2}]}, {"$or": [{"b": False}, {"s": "apple"}]}]}, ["r1", "r2"]),
    ({"$and": [{"n": {"$gt": 0}}, {"n": {"$lt": 3}}]}, ["r1", "r2", "r4"]),
    # array metadata: $contains / $not_contains test membership
    ({"tags": {"$contains": "red"}}, ["r1", "r3"]),
    ({"tags": {"$contains": "green"}}, ["r1"]),
    ({"tags": {"$contains": "blue"}}, []),
    ({"nums": {"$contains": 2}}, ["r1", "r2"]),
    ({"fl": {"$contains": 1.5}}, ["r1"]),
    ({"bs": {"$contains": True}}, ["r9"]),
    ({"bs": {"$contains": False}}, ["r9"]),
    ({"tags": {"$not_contains": "red"}}, but("r1", "r3")),  # includes records lacking "tags"
    ({"nums": {"$not_contains": 2}}, but("r1", "r2")),
    # array fields are not matched by scalar equality or $in
    ({"tags": "red"}, []),
    ({"tags": {"$in": ["red"]}}, []),
    ({"nums": {"$eq": 1}}, []),
    ({"nums": {"$ne": 1}}, ALL),
    # $contains on a scalar string field is not a substring test
    ({"s": {"$contains": "app"}}, []),
    # document filters inside where, via the "#document" key
    ({"#document": {"$contains": "fox"}}, ["r1"]),
    ({"#document": {"$contains": "Fox"}}, ["r3"]),
    ({"#document": {"$not_contains": "fox"}}, but("r1")),  # includes the null document
    ({"$and": [{"#document": {"$contains": "quick"}}, {"n": 1}]}, ["r1"]),
    ({"$or": [{"#document": {"$contains": "dog"}}, {"s": "cherry"}]}, ["r2", "r3"]),
]


@pytest.mark.parametrize("where, expected", CASES, ids=[str(c[0]) for c in CASES])
def test_where_get(col, where, expected):
    assert col.get(where=where)["ids"] == expected


@pytest.mark.parametrize("where, expected", CASES[::4], ids=[str(c[0]) for c in CASES[::4]])
def test_where_query(col, where, expected):
    res = col.query(query_embeddings=[[0.0, 1.0]], where=where, n_results=len(ALL))
    # query orders by distance: record i is at l2 distance i^2 from [0, 1]
    assert res["ids"] == [expected]


@pytest.mark.parametrize("where, expected", CASES[1::5], ids=[str(c[0]) for c in CASES[1::5]])
def test_where_delete(col, where, expected):
    deleted = col.delete(where=where)
    assert deleted == {"deleted": len(expected)}
    assert col.get()["ids"] == [i for i in ALL if i not in expected]


# Shapes the client refuses locally but the server accepts.
RAW_CASES = [
    ({"#document": {"$regex": "(?i)fox"}}, ["r1", "r3"]),
    ({"#document": {"$not_regex": "^[a-m]"}}, but("r2")),  # null document included
    ({"$and": [{"n": 1}]}, ["r1", "r4"]),
    ({"$or": [{"n": 1}]}, ["r1", "r4"]),
    ({"$and": []}, ALL),
    ({"$or": []}, []),
]


@pytest.mark.parametrize("where, expected", RAW_CASES, ids=[str(c[0]) for c in RAW_CASES])
def test_where_raw(col, http, where, expected):
    r = http.post(coll_path(col) + "/get", json={"where": where, "include": []})
    assert r.status_code == 200, r.text
    assert r.json()["ids"] == expected


INVALID = [
    {},
    {"$eq": 1},
    {"n": {"$gt": "a"}},
    {"n": {"$in": []}},
    {"n": {"$in": [1, "a"]}},
    {"n": {"$in": [1, 3.5]}},  # int and float mixed: not homogeneous
    {"n": {"$in": "x"}},
    {"n": {"$bogus": 1}},
    {"n": {"$gt": 1, "$lt": 3}},
    {"n": {}},
    {"n": [1, 2]},
    {"n": None},
    {"n": {"$eq": None}},
    {"s": {"$regex": "a"}},
    {"tags": {"$contains": ["red"]}},
    {"#document": {"$contains": 1}},
    {"$contains": "x"},
    {"$and": {"n": 1}},
    {"$not": {"n": 1}},
    {"n": 1, "s": "apple"},
]


@pytest.mark.parametrize("where", INVALID, ids=[str(w) for w in INVALID])
def test_invalid_where_is_400(col, http, where):
    for route, extra in (("/get", {}), ("/query", {"query_embeddings": [[0.0, 1.0]]}), ("/delete", {})):
        r = http.post(coll_path(col) + route, json={"where": where, **extra})
        # Chroma says exactly "Invalid where clause"; details may follow
        assert_error(r, 400, "InvalidArgumentError", message_re=r"^Invalid where clause")
    assert col.count() == len(ALL)


def test_document_equality_in_where_is_400(col, http):
    r = http.post(coll_path(col) + "/get", json={"where": {"#document": {"$eq": "lazy dog"}}})
    body = assert_error(r, 400, "InvalidArgumentError")
    assert "#document" in body["message"]


def test_where_with_ids_and_limit(col):
    assert col.get(ids=["r1", "r2", "r3", "r9"], where={"n": {"$gte": 1}})["ids"] == ["r1", "r2", "r3"]
    assert col.get(where={"n": {"$ne": 1}}, limit=3)["ids"] == ["r2", "r3", "r5"]
    assert col.get(where={"n": {"$ne": 1}}, limit=3, offset=3)["ids"] == ["r6", "r7", "r8"]


def test_where_sees_updates(col):
    col.update(ids=["r2"], metadatas=[{"n": 1}])
    assert col.get(where={"n": 1})["ids"] == ["r1", "r2", "r4"]
    col.update(ids=["r1"], metadatas=[{"n": None}])
    assert col.get(where={"n": 1})["ids"] == ["r2", "r4"]
    assert "r1" in col.get(where={"n": {"$ne": 1}})["ids"]
    col.update(ids=["r3"], metadatas=[{"tags": ["blue"]}])
    assert col.get(where={"tags": {"$contains": "red"}})["ids"] == ["r1"]
    assert col.get(where={"tags": {"$contains": "blue"}})["ids"] == ["r3"]

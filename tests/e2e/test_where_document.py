"""`where_document`: $contains / $not_contains / $regex / $not_regex, $and /
$or, combined with `where`, and malformed clauses (including bad regexes)."""

import pytest

from e2e_util import assert_error, coll_path

DOCS = [
    ("d1", "the quick brown fox"),
    ("d2", "lazy dog"),
    ("d3", "Fox in socks"),
    ("d4", None),
    ("d5", "100% pure_joy"),
    ("d6", "naïve café ☕ 東京"),
    ("d7", "ox"),
    ("d8", "line one\nline two"),
]
ALL = [d[0] for d in DOCS]


def but(*excluded):
    return [i for i in ALL if i not in excluded]


@pytest.fixture
def col(client):
    c = client.create_collection("wdoc")
    c.add(
        ids=ALL,
        embeddings=[[float(i)] for i in range(len(DOCS))],
        documents=[d[1] for d in DOCS],
        metadatas=[{"i": i} for i in range(len(DOCS))],
    )
    return c


CASES = [
    ({"$contains": "fox"}, ["d1"]),
    ({"$contains": "Fox"}, ["d3"]),  # case-sensitive
    ({"$contains": "quick brown"}, ["d1"]),
    ({"$contains": "o"}, ["d1", "d2", "d3", "d5", "d7", "d8"]),  # 1-character substrings
    ({"$contains": "ox"}, ["d1", "d3", "d7"]),  # 2-character substrings
    ({"$contains": "%"}, ["d5"]),  # no LIKE wildcards: % and _ are literal
    ({"$contains": "_"}, ["d5"]),
    ({"$contains": "0%"}, ["d5"]),
    ({"$contains": "café"}, ["d6"]),
    ({"$contains": "東京"}, ["d6"]),
    ({"$contains": "☕"}, ["d6"]),
    ({"$contains": "one\nline"}, ["d8"]),
    ({"$contains": "nowhere"}, []),
    ({"$not_contains": "fox"}, but("d1")),  # the null document matches
    ({"$not_contains": "o"}, ["d4", "d6"]),
    ({"$regex": "^[A-Z]"}, ["d3"]),
    ({"$regex": "(?i)^f"}, ["d3"]),
    ({"$regex": "(?i)fox"}, ["d1", "d3"]),
    ({"$regex": "o{2}"}, []),
    ({"$regex": "\\d+%"}, ["d5"]),
    ({"$regex": "^ox$"}, ["d7"]),
    ({"$regex": "b.*n"}, ["d1"]),
    ({"$regex": "caf."}, ["d6"]),
    ({"$not_regex": "o"}, ["d4", "d6"]),
    ({"$not_regex": "^[a-m]"}, but("d2", "d8")),  # null document matches
    ({"$and": [{"$contains": "quick"}, {"$contains": "fox"}]}, ["d1"]),
    ({"$and": [{"$contains": "quick"}, {"$contains": "dog"}]}, []),
    ({"$or": [{"$contains": "dog"}, {"$contains": "socks"}]}, ["d2", "d3"]),
    ({"$or": [{"$regex": "^l"}, {"$and": [{"$contains": "o"}, {"$not_contains": "x"}]}]}, ["d2", "d5", "d8"]),
    ({"$and": [{"$not_contains": "fox"}, {"$not_regex": "(?i)fox"}]}, but("d1", "d3")),
]


@pytest.mark.parametrize("where_document, expected", CASES, ids=[str(c[0]) for c in CASES])
def test_where_document_get(col, where_document, expected):
    assert col.get(where_document=where_document)["ids"] == expected


@pytest.mark.parametrize("where_document, expected", CASES[::3], ids=[str(c[0]) for c in CASES[::3]])
def test_where_document_query(col, where_document, expected):
    # record i is at distance i^2 from [0]: query order == insertion order
    res = col.query(query_embeddings=[[0.0]], where_document=where_document, n_results=len(ALL))
    assert res["ids"] == [expected]


def test_where_document_delete(col):
    assert col.delete(where_document={"$contains": "ox"}) == {"deleted": 3}
    assert col.get()["ids"] == but("d1", "d3", "d7")


def test_where_and_where_document_are_anded(col):
    got = col.get(where={"i": {"$gte": 2}}, where_document={"$contains": "o"})
    assert got["ids"] == ["d3", "d5", "d7", "d8"]
    got = col.get(where={"i": {"$lt": 2}}, where_document={"$regex": "^[A-Z]"})
    assert got["ids"] == []


def test_where_document_sees_updates(col, http):
    col.update(ids=["d2"], documents=["a fox now"], embeddings=[[1.0]])
    assert col.get(where_document={"$contains": "fox"})["ids"] == ["d1", "d2"]
    assert col.get(where_document={"$contains": "dog"})["ids"] == []
    col.upsert(ids=["d4"], documents=["fox four"], embeddings=[[3.0]])
    assert col.get(where_document={"$contains": "fox"})["ids"] == ["d1", "d2", "d4"]
    col.delete(ids=["d1"])
    assert col.get(where_document={"$contains": "fox"})["ids"] == ["d2", "d4"]


def test_empty_contains_raw(col, http):
    # the client refuses "" locally; the server matches every non-null document
    r = http.post(coll_path(col) + "/get", json={"where_document": {"$contains": ""}, "include": []})
    assert r.status_code == 200
    assert r.json()["ids"] == but("d4")


def test_empty_and_raw(col, http):
    r = http.post(coll_path(col) + "/get", json={"where_document": {"$and": []}, "include": []})
    assert r.status_code == 200
    assert r.json()["ids"] == ALL


@pytest.mark.parametrize("pattern", ["(", "[z-a]", "a{2,1}", "(?P<x>a)(?P<x>b)"])
@pytest.mark.parametrize("op", ["$regex", "$not_regex"])
def test_bad_regex_is_400(col, http, op, pattern):
    for route, extra in (("/get", {}), ("/query", {"query_embeddings": [[0.0]]}), ("/delete", {})):
        r = http.post(coll_path(col) + route, json={"where_document": {op: pattern}, **extra})
        # (sic: "errror" is Chroma's spelling)
        assert_error(r, 400, "InvalidArgumentError", message_re=r"^Regex syntax errror: ")
        r = http.post(coll_path(col) + route, json={"where": {"#document": {op: pattern}}, **extra})
        assert_error(r, 400, "InvalidArgumentError", message_re=r"^Regex syntax errror: ")
    assert col.count() == len(ALL)


def test_bad_regex_via_client(col):
    from chromadb.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="Regex"):
        col.get(where_document={"$regex": "("})


INVALID = [
    {},
    {"$bogus": "x"},
    {"$contains": 1},
    {"$contains": None},
    {"$contains": ["a"]},
    {"$contains": "o", "$regex": "x"},
    {"$and": {"$contains": "x"}},
    {"contains": "x"},
]


@pytest.mark.parametrize("where_document", INVALID, ids=[str(w) for w in INVALID])
def test_invalid_where_document_is_400(col, http, where_document):
    for route, extra in (("/get", {}), ("/query", {"query_embeddings": [[0.0]]}), ("/delete", {})):
        r = http.post(coll_path(col) + route, json={"where_document": where_document, **extra})
        # Chroma says exactly "Invalid where document clause"; details may follow
        assert_error(r, 400, "InvalidArgumentError", message_re=r"^Invalid where document clause")
    assert col.count() == len(ALL)

"""What one write may hold. A write holds the server's single writer while it
is indexed, so Prism bounds one request: a document's bytes, a record's
metadata keys, a metadata array's elements, the metadata values of a whole
request, and its records. Over a bound the request is refused at once (400,
naming the bound and its PRISM_* setting) and nothing of it is written; the
largest allowed write is quick, and does not hold up writes to other
collections.

A probe found the need: one 30 MB document held the writer for 52 s, while a
one-record add to another collection waited. Chroma 1.5.9 has none of these
bounds (it fails with a 500 on arrays over 5,461 elements), hence
`prism_only`."""

import base64
import random
import string
import threading
import time

import httpx
import pytest
from chromadb.errors import InvalidArgumentError

from e2e_util import assert_error, coll_path, make_client, snapshot

pytestmark = pytest.mark.prism_only("Prism's own bounds on one write request")

# The defaults (host/engine/src/validate/limits.rs).
MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_ARRAY_LENGTH = 10_000
MAX_BATCH_SIZE = 5461

# Generous: these are behavioural checks on a shared machine, not benchmarks.
AT_ONCE = 5.0
PROMPTLY = 10.0


def varied_text(size: int) -> str:
    """Text with as many distinct trigrams as printable ASCII has: what costs
    the full-text index most (base64, random tokens)."""
    rng = random.Random(7)
    return "".join(rng.choices(string.printable[:94], k=size))


@pytest.fixture
def col(client):
    c = client.create_collection("limits")
    c.add(ids=["a"], embeddings=[[1.0, 2.0]], documents=["kept"], metadatas=[{"k": 1}])
    return c


def timed_post(http, path, body):
    started = time.monotonic()
    resp = http.post(path, json=body)
    return resp, time.monotonic() - started


def test_a_30_mb_document_is_refused_at_once_and_nothing_is_written(col, http):
    before = snapshot(col)
    body = {
        "ids": ["fine", "huge"],
        "embeddings": [[0.0, 1.0], [1.0, 1.0]],
        "documents": ["small", "x" * (30 * 1024 * 1024)],
    }
    resp, took = timed_post(http, f"{coll_path(col)}/add", body)
    assert_error(
        resp, 400, "InvalidArgumentError",
        message_re=rf"^Document at index 1 is {30 * 1024 * 1024} bytes, over the limit of "
        rf"{MAX_DOCUMENT_BYTES} bytes per document\. The limit is set by PRISM_MAX_DOCUMENT_BYTES\.$",
    )
    assert took < AT_ONCE, f"refused after {took:.1f}s"
    assert snapshot(col) == before


def test_a_100_000_element_array_is_refused_at_once_through_the_client(col):
    before = snapshot(col)
    started = time.monotonic()
    with pytest.raises(InvalidArgumentError, match="PRISM_MAX_METADATA_ARRAY_LENGTH") as e:
        col.add(ids=["arr"], embeddings=[[3.0, 4.0]], metadatas=[{"ints": list(range(100_000))}])
    took = time.monotonic() - started
    assert "the array under key 'ints' has 100000 elements, over the limit of 10000" in str(e.value)
    assert took < AT_ONCE, f"refused after {took:.1f}s"
    assert snapshot(col) == before


def test_updates_over_a_bound_are_refused_and_change_nothing(col, http):
    before = snapshot(col)
    body = {"ids": ["a"], "documents": ["y" * (MAX_DOCUMENT_BYTES + 1)]}
    resp, _ = timed_post(http, f"{coll_path(col)}/update", body)
    assert_error(resp, 400, "InvalidArgumentError", message_re="PRISM_MAX_DOCUMENT_BYTES")
    body = {"ids": ["a"], "embeddings": [[1.0, 2.0]], "metadatas": [{"t": [1] * (MAX_ARRAY_LENGTH + 1)}]}
    resp, _ = timed_post(http, f"{coll_path(col)}/upsert", body)
    assert_error(resp, 400, "InvalidArgumentError", message_re="PRISM_MAX_METADATA_ARRAY_LENGTH")
    assert snapshot(col) == before


def test_more_records_than_pre_flight_allows_are_refused(col, http):
    assert http.get("/pre-flight-checks").json()["max_batch_size"] == MAX_BATCH_SIZE
    before = snapshot(col)
    n = MAX_BATCH_SIZE + 1
    body = {"ids": [f"r{i}" for i in range(n)], "embeddings": [[float(i), 0.0] for i in range(n)]}
    resp, _ = timed_post(http, f"{coll_path(col)}/add", body)
    assert_error(
        resp, 400, "InvalidArgumentError",
        message_re=rf"^Cannot submit more than {MAX_BATCH_SIZE} records at once, got {n}.*PRISM_MAX_BATCH_SIZE",
    )
    assert snapshot(col) == before
    body = {key: value[:-1] for key, value in body.items()}
    resp, _ = timed_post(http, f"{coll_path(col)}/add", body)
    assert resp.status_code == 201, resp.text
    assert col.count() == 1 + MAX_BATCH_SIZE


def test_while_the_largest_allowed_add_runs_other_writes_go_on(client, server):
    """A 30 MB add (refused) and the largest allowed add (accepted) race a
    one-record add to another collection, which completes promptly."""
    big = client.create_collection("big")
    other = client.create_collection("other")
    largest = {
        "ids": ["doc", "arr"],
        "embeddings": [[1.0, 0.0], [0.0, 1.0]],
        "documents": [varied_text(MAX_DOCUMENT_BYTES), "small"],
        "metadatas": [{"n": 1}, {"ints": list(range(MAX_ARRAY_LENGTH))}],
    }
    # Base64 of random bytes: 30 MB of varied text, made quickly. Indexed, it
    # would hold the writer for minutes.
    noise = base64.b64encode(random.Random(3).randbytes(30 * 1024 * 1024 * 3 // 4)).decode()
    huge = {"ids": ["huge"], "embeddings": [[1.0, 1.0]], "documents": [noise]}
    results = {}

    def post(name, body):
        with httpx.Client(base_url=server.api, timeout=120) as h:
            results[name] = timed_post(h, f"{coll_path(big)}/add", body)

    threads = [threading.Thread(target=post, args=args) for args in (("huge", huge), ("largest", largest))]
    for t in threads:
        t.start()
    # Long enough for both bodies to arrive: an accepted 30 MB add would
    # hold the writer by now.
    time.sleep(1.0)
    started = time.monotonic()
    other.add(ids=["one"], embeddings=[[0.5, 0.5]])
    waited = time.monotonic() - started
    for t in threads:
        t.join()

    assert waited < PROMPTLY, f"a one-record add waited {waited:.1f}s"
    resp, took = results["huge"]
    assert_error(resp, 400, "InvalidArgumentError", message_re="PRISM_MAX_DOCUMENT_BYTES")
    resp, took = results["largest"]
    assert resp.status_code == 201, resp.text
    assert took < PROMPTLY, f"the largest allowed add took {took:.1f}s"
    assert other.count() == 1
    assert big.get(where_document={"$contains": largest["documents"][0][5000:5030]})["ids"] == ["doc"]
    assert big.get(where={"ints": {"$contains": MAX_ARRAY_LENGTH - 1}})["ids"] == ["arr"]


def test_each_bound_follows_its_setting(start_server):
    srv = start_server(env={
        "PRISM_MAX_BATCH_SIZE": "3",
        "PRISM_MAX_DOCUMENT_BYTES": "10",
        "PRISM_MAX_METADATA_KEYS": "2",
        "PRISM_MAX_METADATA_ARRAY_LENGTH": "4",
        "PRISM_MAX_BATCH_METADATA_VALUES": "6",
    })
    col = make_client(srv).create_collection("tight")
    over = [
        ({"ids": ["1", "2", "3", "4"]}, "PRISM_MAX_BATCH_SIZE", r"more than 3 records"),
        ({"ids": ["1"], "documents": ["eleven byte"]}, "PRISM_MAX_DOCUMENT_BYTES", r"is 11 bytes, over the limit of 10"),
        ({"ids": ["1"], "metadatas": [{"a": 1, "b": 2, "c": 3}]}, "PRISM_MAX_METADATA_KEYS", r"has 3 keys, over the limit of 2"),
        ({"ids": ["1"], "metadatas": [{"a": [1, 2, 3, 4, 5]}]}, "PRISM_MAX_METADATA_ARRAY_LENGTH", r"has 5 elements, over the limit of 4"),
        ({"ids": ["1", "2"], "metadatas": [{"a": [1, 2, 3, 4]}, {"a": [1, 2], "b": "x"}]}, "PRISM_MAX_BATCH_METADATA_VALUES", r"holds 7 values"),
    ]
    with httpx.Client(base_url=srv.api, timeout=60) as h:
        for body, setting, message in over:
            body["embeddings"] = [[float(i), 1.0] for i in range(len(body["ids"]))]
            resp, _ = timed_post(h, f"{coll_path(col)}/add", body)
            assert_error(resp, 400, "InvalidArgumentError", message_re=rf"{message}.*The limit is set by {setting}\.$")
        assert col.count() == 0
        at_limit = {
            "ids": ["1", "2", "3"],
            "embeddings": [[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]],
            "documents": ["ten bytes.", None, "é" * 5],
            "metadatas": [{"a": [1, 2, 3, 4], "b": "x"}, {"c": True}, None],
        }
        resp, _ = timed_post(h, f"{coll_path(col)}/add", at_limit)
        assert resp.status_code == 201, resp.text
    assert col.count() == 3

"""Documents of megabytes: a 4 MB document is added (with
PRISM_MAX_DOCUMENT_BYTES raised; Chroma has no such bound) and
`where_document` finds exactly what it holds. Prism's trigram index holds a
long document as overlapping chunks of a few KiB, and checks a needle longer
than the overlap against the whole document; the needles here are cut at
every 150 bytes of a stretch spanning several chunks, so many cross from one
chunk into the next, at the very start and end, and past the overlap's
length (256 bytes)."""

import random

import pytest

from e2e_util import make_client

MB = 1 << 20
BIG = 4 * MB


def varied_text(size: int, seed: int) -> str:
    """Printable ASCII and multibyte characters: every trigram about new, so
    the chunks are short (about 8 KiB) and end inside characters."""
    rng = random.Random(seed)
    alphabet = [chr(c) for c in range(32, 127)] + ["é", "ß", "€", "中", "𝄞", "😀"]
    # Characters average 1.15 bytes: cut the surplus off the end.
    text = "".join(rng.choices(alphabet, k=size))
    return text.encode()[:size].decode(errors="ignore")


@pytest.fixture(scope="module")
def srv(start_module_server):
    return start_module_server(env={"PRISM_MAX_DOCUMENT_BYTES": str(8 * MB)})


@pytest.fixture(scope="module")
def big():
    return varied_text(BIG, 1)


@pytest.fixture(scope="module")
def col(srv, big):
    """The 4 MB document, another long one, a short one and none; added
    once for the module, whose tests only read it."""
    client = make_client(srv)
    client.reset()
    c = client.create_collection("large")
    c.add(
        ids=["big", "other", "short", "none"],
        embeddings=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]],
        documents=[big, varied_text(300_000, 2), "a short document", None],
    )
    return c


def escape(text: str) -> str:
    """`text` as a literal of Rust's regex syntax."""
    return "".join("\\" + c if c in "\\.+*?()|[]{}^$#&-~" else c for c in text)


def ids(col, where_document):
    return sorted(col.get(where_document=where_document, include=[])["ids"])


def expected(col, docs, test):
    return sorted(i for i, d in docs.items() if test(d))


def check_contains(col, docs, needle):
    holding = expected(col, docs, lambda d: d is not None and needle in d)
    lacking = expected(col, docs, lambda d: d is None or needle not in d)
    shown = repr(needle[:30])
    assert ids(col, {"$contains": needle}) == holding, f"$contains {shown} ({len(needle)} chars)"
    assert ids(col, {"$not_contains": needle}) == lacking, f"$not_contains {shown}"


def documents(col):
    got = col.get(include=["documents"])
    return dict(zip(got["ids"], got["documents"]))


def test_a_4_mb_document_is_added_and_searched_across_its_chunks(col, big):
    docs = documents(col)
    assert docs["big"] == big
    # A stretch of 24,000 characters, three chunks and more: needles of 300
    # and 700 characters every 300, shorter ones every 900.
    start = 1_000_000
    for at in range(start, start + 24_000, 300):
        for length in (300, 700) + ((3, 20, 250) if at % 900 == 0 else ()):
            check_contains(col, docs, big[at:at + length])
    # The very start and end, and the whole document.
    for length in (3, 256, 257, 5_000):
        check_contains(col, docs, big[:length])
        check_contains(col, docs, big[-length:])
    check_contains(col, docs, big)
    # A long needle whose start is there and whose end is not.
    check_contains(col, docs, big[2_000_000:2_000_600] + "\u0001")


def test_regex_with_long_literals_across_chunks(col, big):
    literal = escape(big[3_000_000:3_000_700])
    assert ids(col, {"$regex": literal}) == ["big"]
    assert ids(col, {"$regex": literal + "."}) == ["big"]
    assert ids(col, {"$regex": literal + "\u0001"}) == []
    assert ids(col, {"$not_regex": literal}) == ["none", "other", "short"]
    assert ids(col, {"$regex": f"(?:{literal}|short doc)"}) == ["big", "short"]
    assert ids(col, {"$regex": escape(big[-40:]) + "$"}) == ["big"]


def test_combined_filters_of_a_long_document(col, big):
    needle = big[1_500_000:1_500_400]
    assert ids(col, {"$and": [{"$contains": needle}, {"$not_contains": "short"}]}) == ["big"]
    assert ids(col, {"$or": [{"$contains": needle}, {"$contains": "short doc"}]}) == ["big", "short"]
    assert ids(col, {"$and": [{"$not_contains": needle}, {"$not_contains": "short"}]}) == ["none", "other"]


def test_rewrites_of_a_long_document(srv):
    """Long to short and back, and a delete: the long text's chunks go and
    come back, and go with the record."""
    long = varied_text(1 * MB, 3)
    needle = long[500_000:500_400]
    c = make_client(srv).create_collection("rewrites")
    c.add(ids=["long", "short"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=[long, "short"])
    c.update(ids=["long"], embeddings=[[1.0, 0.0]], documents=["now short"])
    assert ids(c, {"$contains": needle}) == []
    assert ids(c, {"$contains": "now short"}) == ["long"]
    c.upsert(ids=["long"], embeddings=[[1.0, 0.0]], documents=[long])
    assert ids(c, {"$contains": needle}) == ["long"]
    assert ids(c, {"$contains": "now short"}) == []
    c.delete(where_document={"$contains": needle})
    assert ids(c, {"$contains": needle}) == []
    assert ids(c, {"$not_contains": needle}) == ["short"]

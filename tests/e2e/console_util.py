"""Helpers for the web console's tests (test_console_http.py over HTTP,
test_console_browser.py in headless Chromium): a server with htpasswd users
and an rbac policy, the data they browse, and a logged-in HTTP session."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import httpx

from auth_util import BASIC_SERVER, RBAC_SERVER, basic_client, bcrypt_line

PASSWORDS = {"admin": "admin-pw", "editor": "editor-pw", "reader": "reader-pw"}

# admin: everything, the console's admin page included ("*").
# editor: every collection action on every collection, no admin page.
# reader: may list and open databases, and read the `public-*` collections
# only (a grant), nothing else.
AUTHZ_YAML = """\
roles_mapping:
  admin:
    actions: ["*"]
  editor:
    actions: ["tenant:get_tenant", "db:*", "collection:*"]
  visitor:
    actions: ["tenant:get_tenant", "db:get_database", "db:list_databases", "db:list_collections"]
  reader:
    actions: ["collection:get_collection", "collection:get", "collection:query", "collection:count"]
users:
  - id: admin
    role: admin
  - id: editor
    role: editor
  - id: reader
    role: visitor
    grants:
      - role: reader
        collection: "public-*"
"""

GENRES = ["jazz", "rock", "folk"]
DIM = 16


def write_auth_files(d: Path) -> Dict[str, str]:
    """The users and policy files in `d`, and the environment naming them."""
    (d / "users.htpasswd").write_text(
        "\n".join(bcrypt_line(u, p) for u, p in PASSWORDS.items()) + "\n"
    )
    (d / "authz.yaml").write_text(AUTHZ_YAML)
    return {
        "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(d / "users.htpasswd"),
        "CHROMA_SERVER_AUTHZ_PROVIDER": RBAC_SERVER,
        "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(d / "authz.yaml"),
    }


def embedding(genre: int, i: int) -> List[float]:
    """Three clusters, one per genre, each a cloud around its centre
    (deterministic: the same vectors on every run)."""
    rng = random.Random(i)
    v = [rng.gauss(0.0, 0.12) for _ in range(DIM)]
    v[genre * 4] += 1.0
    return v


def fill(srv: Any, user: str = "admin", client: Any = None) -> Tuple[Any, Any]:
    """`public-docs` (150 records, genre metadata, three clusters) and
    `secret-plans` (3 records)."""
    c = client or basic_client(srv, user, PASSWORDS[user])
    public = c.create_collection("public-docs", metadata={"topic": "music"})
    n = 150
    public.add(
        ids=[f"doc-{i:03d}" for i in range(n)],
        embeddings=[embedding(i % 3, i) for i in range(n)],
        documents=[f"A {GENRES[i % 3]} record, number {i}" for i in range(n)],
        metadatas=[{"genre": GENRES[i % 3], "n": i} for i in range(n)],
    )
    secret = c.create_collection("secret-plans")
    secret.add(
        ids=["s1", "s2", "s3"],
        embeddings=[embedding(0, 1), embedding(1, 2), embedding(2, 3)],
        documents=["the plan", "the other plan", "plan C"],
    )
    return public, secret


def db_page(collection: Any = None) -> str:
    base = "/console/tenants/default_tenant/databases/default_database"
    return base if collection is None else f"{base}/collections/{collection.id}"


class Session:
    """A browser's view of the console, over HTTP: cookies kept, redirects
    not followed, same-origin headers sent with forms as a browser does."""

    def __init__(self, srv: Any, verify: Any = True) -> None:
        self.srv = srv
        self.http = httpx.Client(base_url=srv.url, follow_redirects=False, timeout=60, verify=verify)
        self.origin = srv.url

    def login(self, user: str, password: Optional[str] = None) -> httpx.Response:
        return self.post_form(
            "/console/login",
            {"user": user, "password": password or PASSWORDS[user], "next": "/console"},
        )

    def post_form(self, path: str, data: Any, headers: Optional[Dict[str, str]] = None) -> httpx.Response:
        sent = {"origin": self.origin, "sec-fetch-site": "same-origin"}
        sent.update(headers or {})
        return self.http.post(path, data=data, headers=sent)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def csrf(self, path: str = "/console") -> str:
        page = self.get(path)
        assert page.status_code == 200, page.text
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match, page.text
        return match.group(1)

    def cookie(self) -> str:
        jar = dict(self.http.cookies)
        assert len(jar) == 1, jar
        return next(iter(jar.values()))


def wait_until(predicate, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")

"""Tenant/database scopes of token users, enforced by Prism itself (no authz
provider configured), and the server-side singleton rewrite
(CHROMA_OVERWRITE_SINGLETON_TENANT_DATABASE_ACCESS_FROM_AUTH).

Chroma's Python server carries the scopes in the identity but does not
enforce them, and applies the server-side rewrite only to its v1 routes, so
the whole module is Prism-only.
"""

from __future__ import annotations

import pytest

from auth_util import (
    TOKEN_SERVER,
    assert_authn_forbidden,
    assert_authz_forbidden,
    bearer,
    header_client,
    identity,
    request,
    token_client,
)

pytestmark = [
    pytest.mark.auth,
    pytest.mark.prism_only("Chroma does not enforce token scopes"),
]

USERS_YAML = """\
users:
  - id: root
    tokens: [root-token]
  - id: alice
    tenant: acme
    databases: [docs]
    tokens: [alice-token]
  - id: bob
    tenant: acme
    tokens: [bob-token]
  - id: multi
    tenant: "*"
    databases: [db1, db2]
    tokens: [multi-token]
"""

ROOT = bearer("root-token")
ALICE = bearer("alice-token")
BOB = bearer("bob-token")
MULTI = bearer("multi-token")

EMB = {"ids": ["z"], "embeddings": [[0.5, 0.5]]}


def _db(t: str, d: str) -> str:
    return f"/tenants/{t}/databases/{d}"


def _setup(srv):
    """root makes: tenants acme; databases acme/docs, acme/other,
    acme/default_database, default_tenant/db1; collections
    default_tenant/default_database/public, acme/other/secret, acme/docs/mine,
    each with one record. Returns {name: collection id}."""
    ids = {}
    for t, d in [("acme", "docs"), ("acme", "other"), ("acme", "default_database"),
                 ("default_tenant", "db1")]:
        if t != "default_tenant":
            request(srv, "POST", "/tenants", {"name": t}, headers=ROOT)
        r = request(srv, "POST", f"/tenants/{t}/databases", {"name": d}, headers=ROOT)
        assert r.status_code == 200, r.text
    for t, d, name in [("default_tenant", "default_database", "public"),
                       ("acme", "other", "secret"), ("acme", "docs", "mine")]:
        r = request(srv, "POST", f"{_db(t, d)}/collections", {"name": name}, headers=ROOT)
        assert r.status_code == 200, r.text
        ids[name] = r.json()["id"]
        r = request(srv, "POST", f"{_db(t, d)}/collections/{ids[name]}/add",
                    {"ids": ["r1"], "embeddings": [[1.0, 0.0]]}, headers=ROOT)
        assert r.status_code == 201, r.text
    return ids


def _count(srv, t, d, cid):
    r = request(srv, "GET", f"{_db(t, d)}/collections/{cid}/count", headers=ROOT)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def users_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("scopes") / "users.yaml"
    path.write_text(USERS_YAML)
    return path


@pytest.fixture(scope="module")
def scoped(start_module_server, users_file):
    srv = start_module_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users_file),
    })
    return srv, _setup(srv)


# ---------------------------------------------------------------------------
# inside the scope
# ---------------------------------------------------------------------------


def test_scoped_user_works_in_its_tenant_and_database(scoped):
    srv, ids = scoped
    c = token_client(srv, "alice-token", tenant="acme", database="docs")
    assert [x.name for x in c.list_collections()] == ["mine"]
    col = c.create_collection("alice-col")
    col.add(ids=["a"], embeddings=[[1.0, 2.0]])
    assert col.query(query_embeddings=[[1.0, 2.0]], n_results=1)["ids"] == [["a"]]
    assert c.get_collection("mine").count() == 1
    c.delete_collection("alice-col")


def test_tenant_scope_with_every_database(scoped):
    srv, ids = scoped
    for d in ["docs", "other", "default_database"]:
        r = request(srv, "GET", f"{_db('acme', d)}/collections", headers=BOB)
        assert r.status_code == 200, (d, r.text)
    r = request(srv, "POST", f"{_db('acme', 'other')}/collections/{ids['secret']}/get", {}, headers=BOB)
    assert r.status_code == 200 and r.json()["ids"] == ["r1"]
    c = token_client(srv, "bob-token", tenant="acme", database="other")
    assert c.get_collection("secret").count() == 1


def test_database_listings_show_only_the_databases_in_scope(scoped):
    srv, _ = scoped

    def names(headers, tenant, query=""):
        r = request(srv, "GET", f"/tenants/{tenant}/databases{query}", headers=headers)
        assert r.status_code == 200, r.text
        return sorted(d["name"] for d in r.json())

    assert names(ROOT, "acme") == ["default_database", "docs", "other"]
    assert names(BOB, "acme") == ["default_database", "docs", "other"]
    # alice's token holds one database of acme: the others' names stay hidden.
    assert names(ALICE, "acme") == ["docs"]
    assert names(ALICE, "acme", "?offset=1") == []
    # multi may use db1 and db2 in any tenant; default_tenant has db1 only.
    assert names(MULTI, "default_tenant") == ["db1"]
    assert names(MULTI, "default_tenant", "?limit=1") == ["db1"]


def test_database_scope_with_every_tenant(scoped):
    srv, ids = scoped
    r = request(srv, "GET", f"{_db('default_tenant', 'db1')}/collections", headers=MULTI)
    assert r.status_code == 200, r.text
    assert_authz_forbidden(
        request(srv, "GET", f"{_db('default_tenant', 'default_database')}/collections", headers=MULTI)
    )


# ---------------------------------------------------------------------------
# outside the scope: 403, nothing changes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("GET", "/tenants/default_tenant", None),
        ("GET", "/tenants/default_tenant/databases", None),
        ("GET", _db("default_tenant", "default_database"), None),
        ("GET", f"{_db('default_tenant', 'default_database')}/collections", None),
        ("GET", f"{_db('default_tenant', 'default_database')}/collections_count", None),
        ("POST", f"{_db('default_tenant', 'default_database')}/collections", {"name": "x"}),
        ("GET", f"{_db('default_tenant', 'default_database')}/collections/public", None),
        ("DELETE", f"{_db('default_tenant', 'default_database')}/collections/public", None),
        ("GET", f"{_db('acme', 'other')}/collections", None),
        ("GET", f"{_db('acme', 'other')}/collections/secret", None),
        ("POST", f"{_db('acme', 'other')}/collections", {"name": "x"}),
        ("GET", _db("acme", "other"), None),
        ("DELETE", _db("acme", "other"), None),
        ("POST", "/tenants/acme/databases", {"name": "newdb"}),
        ("POST", "/tenants", {"name": "evil"}),
        ("GET", "/tenants/zeta", None),
        ("POST", "/reset", None),
    ],
)
def test_scoped_user_is_refused_outside_its_scope(scoped, method, path, body):
    srv, ids = scoped
    assert_authz_forbidden(request(srv, method, path, body, headers=ALICE))


def test_refused_requests_change_nothing(scoped):
    srv, ids = scoped
    # the parametrized refusals above included reset, deletes and creates
    assert request(srv, "GET", "/tenants/evil", headers=ROOT).status_code == 404
    assert request(srv, "GET", _db("acme", "other"), headers=ROOT).status_code == 200
    assert request(srv, "GET", _db("acme", "newdb"), headers=ROOT).status_code == 404
    r = request(srv, "GET", f"{_db('default_tenant', 'default_database')}/collections/public", headers=ROOT)
    assert r.status_code == 200
    assert _count(srv, "default_tenant", "default_database", ids["public"]) == 1
    assert _count(srv, "acme", "other", ids["secret"]) == 1


RECORD_OPS = [
    ("POST", "add", EMB),
    ("POST", "upsert", EMB),
    ("POST", "update", {"ids": ["r1"], "embeddings": [[9.0, 9.0]]}),
    ("POST", "delete", {"ids": ["r1"]}),
    ("POST", "get", {}),
    ("POST", "query", {"query_embeddings": [[1.0, 0.0]], "n_results": 1}),
    ("GET", "count", None),
]


@pytest.mark.parametrize("method,op,body", RECORD_OPS, ids=[o[1] for o in RECORD_OPS])
def test_record_operations_on_a_collection_of_another_tenant(scoped, method, op, body):
    srv, ids = scoped
    # addressed where the collection really is: outside alice's scope
    r = request(srv, method, f"{_db('default_tenant', 'default_database')}/collections/{ids['public']}/{op}",
                body, headers=ALICE)
    assert_authz_forbidden(r)
    r = request(srv, method, f"{_db('acme', 'other')}/collections/{ids['secret']}/{op}", body, headers=ALICE)
    assert_authz_forbidden(r)
    # addressed under alice's own tenant/database with a foreign collection id:
    # refused too (403, or 404 because the id is not in acme/docs)
    for cid in [ids["public"], ids["secret"]]:
        r = request(srv, method, f"{_db('acme', 'docs')}/collections/{cid}/{op}", body, headers=ALICE)
        assert r.status_code in (403, 404), r.text
        assert r.json().get("error") in ("AuthError", "NotFoundError"), r.text
    got = request(srv, "POST", f"{_db('default_tenant', 'default_database')}/collections/{ids['public']}/get",
                  {"include": ["embeddings"]}, headers=ROOT).json()
    assert got["ids"] == ["r1"] and [list(e) for e in got["embeddings"]] == [[1.0, 0.0]]
    got = request(srv, "POST", f"{_db('acme', 'other')}/collections/{ids['secret']}/get",
                  {"include": ["embeddings"]}, headers=ROOT).json()
    assert got["ids"] == ["r1"] and [list(e) for e in got["embeddings"]] == [[1.0, 0.0]]


def test_modify_collection_of_another_tenant(scoped):
    srv, ids = scoped
    r = request(srv, "PUT", f"{_db('default_tenant', 'default_database')}/collections/{ids['public']}",
                {"new_name": "hijacked"}, headers=ALICE)
    assert_authz_forbidden(r)
    r = request(srv, "PUT", f"{_db('acme', 'docs')}/collections/{ids['public']}",
                {"new_name": "hijacked"}, headers=ALICE)
    assert r.status_code in (403, 404), r.text
    r = request(srv, "GET", f"{_db('default_tenant', 'default_database')}/collections/public", headers=ROOT)
    assert r.status_code == 200


def test_scoped_client_in_the_default_tenant_fails(scoped):
    srv, ids = scoped
    with pytest.raises(Exception, match="Forbidden"):
        token_client(srv, "alice-token")  # default_tenant/default_database
    with pytest.raises(Exception, match="Forbidden"):
        token_client(srv, "alice-token", tenant="acme", database="other")


def test_unscoped_user_reaches_everything(scoped):
    srv, ids = scoped
    for t, d in [("default_tenant", "default_database"), ("acme", "docs"), ("acme", "other")]:
        assert request(srv, "GET", f"{_db(t, d)}/collections", headers=ROOT).status_code == 200


def test_identity_is_not_scoped(scoped):
    srv, ids = scoped
    assert identity(srv, ALICE) == {
        "user_id": "alice", "tenant": "acme", "databases": ["docs"], "attributes": None,
    }


def test_unscoped_user_may_reset(scoped):
    # last in the module: wipes the data
    srv, ids = scoped
    assert_authz_forbidden(request(srv, "POST", "/reset", headers=BOB))
    r = request(srv, "POST", "/reset", headers=ROOT)
    assert r.status_code == 200 and r.json() is True
    assert request(srv, "GET", "/tenants/acme", headers=ROOT).status_code == 404


# ---------------------------------------------------------------------------
# server-side singleton rewrite
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rewriting(start_module_server, users_file):
    srv = start_module_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users_file),
        "CHROMA_OVERWRITE_SINGLETON_TENANT_DATABASE_ACCESS_FROM_AUTH": "true",
    })
    return srv, _setup(srv)


def _names(srv, t, d):
    r = request(srv, "GET", f"{_db(t, d)}/collections", headers=ROOT)
    assert r.status_code == 200, r.text
    return sorted(c["name"] for c in r.json())


def test_rewrite_default_paths_to_the_users_tenant_and_database(rewriting):
    srv, ids = rewriting
    default = _db("default_tenant", "default_database")
    r = request(srv, "POST", f"{default}/collections", {"name": "via-default"}, headers=ALICE)
    assert r.status_code == 200, r.text
    assert r.json()["tenant"] == "acme" and r.json()["database"] == "docs"
    assert "via-default" in _names(srv, "acme", "docs")
    assert "via-default" not in _names(srv, "default_tenant", "default_database")
    r = request(srv, "GET", f"{default}/collections", headers=ALICE)
    assert r.status_code == 200
    assert sorted(c["name"] for c in r.json()) == ["mine", "via-default"]


def test_rewrite_lets_a_plain_client_work(rewriting):
    srv, ids = rewriting
    # no tenant/database given, no client-side overwrite setting
    c = header_client(srv, ALICE)
    col = c.create_collection("plain-client")
    col.add(ids=["1"], embeddings=[[1.0, 1.0]])
    assert "plain-client" in _names(srv, "acme", "docs")
    assert c.get_collection("mine").count() == 1


def test_rewrite_tenant_only_when_databases_are_many(rewriting):
    srv, ids = rewriting
    # bob: tenant acme, every database -> only the tenant is rewritten
    r = request(srv, "POST", f"{_db('default_tenant', 'default_database')}/collections",
                {"name": "bob-col"}, headers=BOB)
    assert r.status_code == 200, r.text
    assert "bob-col" in _names(srv, "acme", "default_database")
    assert "bob-col" not in _names(srv, "default_tenant", "default_database")


def test_no_rewrite_for_unscoped_users(rewriting):
    srv, ids = rewriting
    r = request(srv, "POST", f"{_db('default_tenant', 'default_database')}/collections",
                {"name": "root-col"}, headers=ROOT)
    assert r.status_code == 200, r.text
    assert "root-col" in _names(srv, "default_tenant", "default_database")


def test_rewrite_leaves_explicit_paths_alone(rewriting):
    srv, ids = rewriting
    r = request(srv, "GET", f"{_db('acme', 'docs')}/collections", headers=ALICE)
    assert r.status_code == 200
    assert_authz_forbidden(request(srv, "GET", f"{_db('acme', 'other')}/collections", headers=ALICE))
    assert_authz_forbidden(request(srv, "GET", f"{_db('zeta', 'docs')}/collections", headers=ALICE))
    assert_authn_forbidden(request(srv, "GET", f"{_db('default_tenant', 'default_database')}/collections"))

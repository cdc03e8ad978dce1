"""Role-based authorization from Chroma's authz.yaml
(SimpleRBACAuthorizationProvider; Prism's built-in `rbac` plugin), and
Prism's extensions: `roles: [..]`, scoped `grants`, action globs, the role
attribute from the token users file.

Authorization denials: 403 with "Forbidden"; Chroma's Python server answers
{"detail":"Forbidden"}, Prism {"error":"AuthError","message":"Forbidden"}
(documented difference, see auth_util.assert_authz_forbidden).
"""

from __future__ import annotations

import pytest
from chromadb.errors import ChromaAuthError

from auth_util import (
    BASIC_SERVER,
    admin_client,
    RBAC_SERVER,
    TOKEN_SERVER,
    assert_authn_forbidden,
    assert_authz_forbidden,
    basic_client,
    basic_header,
    bcrypt_line,
    bearer,
    identity,
    raises_authz_denial,
    request,
    token_client,
)

pytestmark = pytest.mark.auth

DB = "/tenants/default_tenant/databases/default_database"

# Every action Chroma's Python server checks (AuthzAction).
ALL_ACTIONS = [
    "system:reset", "tenant:create_tenant", "tenant:get_tenant",
    "db:create_database", "db:get_database", "db:delete_database",
    "db:list_databases", "db:list_collections", "db:count_collections",
    "db:create_collection", "db:get_or_create_collection",
    "collection:get_collection", "collection:delete_collection",
    "collection:update_collection", "collection:add", "collection:delete",
    "collection:get", "collection:query", "collection:count",
    "collection:update", "collection:upsert",
]


def _yaml_list(items):
    return "[" + ", ".join(f'"{a}"' for a in items) + "]"


# ---------------------------------------------------------------------------
# Chroma's form: basic authn + roles_mapping/users (shared with Chroma)
# ---------------------------------------------------------------------------

READER_ACTIONS = [
    "tenant:get_tenant", "db:get_database", "db:list_collections",
    "collection:get_collection", "collection:get", "collection:query", "collection:count",
]

AUTHZ_YAML = f"""\
roles_mapping:
  admin:
    actions: {_yaml_list([a for a in ALL_ACTIONS if a != "db:delete_database"])}
  reader:
    actions: {_yaml_list(READER_ACTIONS)}
users:
  - id: admin
    role: admin
  - id: reader
    role: reader
"""

PASSWORDS = {"admin": "admin-pw", "reader": "reader-pw", "nobody": "nobody-pw"}


@pytest.fixture(scope="module")
def srv(start_module_server, tmp_path_factory):
    d = tmp_path_factory.mktemp("rbac")
    (d / "users.htpasswd").write_text(
        "\n".join(bcrypt_line(u, p) for u, p in PASSWORDS.items()) + "\n"
    )
    (d / "authz.yaml").write_text(AUTHZ_YAML)
    srv = start_module_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(d / "users.htpasswd"),
        "CHROMA_SERVER_AUTHZ_PROVIDER": RBAC_SERVER,
        "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(d / "authz.yaml"),
    })
    adm = basic_client(srv, "admin", PASSWORDS["admin"])
    col = adm.create_collection("shared")
    col.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["A", "B"])
    return srv


def _h(user):
    return basic_header(user, PASSWORDS[user])


def test_admin_can_do_what_its_role_lists(srv):
    c = basic_client(srv, "admin", PASSWORDS["admin"])
    col = c.get_or_create_collection("admin-col")
    col.add(ids=["x"], embeddings=[[1.0, 1.0]])
    col.update(ids=["x"], embeddings=[[2.0, 2.0]])
    col.upsert(ids=["y"], embeddings=[[3.0, 3.0]])
    assert col.count() == 2
    col.delete(ids=["y"])
    c.delete_collection("admin-col")
    adm = admin_client(srv, _h("admin"))
    adm.create_database("rbac-db")
    assert adm.get_database("rbac-db")["name"] == "rbac-db"


def test_role_without_an_action_is_denied(srv):
    # Chroma's own test (test_rbac_authz.py): delete_database is not in the
    # admin role.
    adm = admin_client(srv, _h("admin"))
    adm.create_database("keep-me")
    with raises_authz_denial():
        adm.delete_database("keep-me")
    assert adm.get_database("keep-me")["name"] == "keep-me"


def test_reader_can_query_but_not_write(srv):
    c = basic_client(srv, "reader", PASSWORDS["reader"])
    col = c.get_collection("shared")
    assert col.count() == 2
    assert col.get(ids=["a"])["documents"] == ["A"]
    assert col.query(query_embeddings=[[1.0, 0.0]], n_results=1)["ids"] == [["a"]]
    assert [x.name for x in c.list_collections()] == ["shared"]
    with raises_authz_denial():
        col.add(ids=["c"], embeddings=[[1.0, 1.0]])
    with raises_authz_denial():
        col.upsert(ids=["a"], embeddings=[[5.0, 5.0]])
    with raises_authz_denial():
        col.delete(ids=["a"])
    with raises_authz_denial():
        c.create_collection("reader-col")
    with raises_authz_denial():
        c.delete_collection("shared")
    assert col.count() == 2
    # (not include=["embeddings"]: Chroma's Python server answers that with a
    # 500, AttributeError "'list' object has no attribute 'tolist'")
    assert col.get(ids=["a"], include=["documents"])["documents"] == ["A"]


def test_reader_denials_over_raw_http(srv):
    col = request(srv, "GET", f"{DB}/collections/shared", headers=_h("reader")).json()
    cid = col["id"]
    for method, path, body in [
        ("POST", f"{DB}/collections/{cid}/add", {"ids": ["z"], "embeddings": [[0.0, 0.0]]}),
        ("POST", f"{DB}/collections/{cid}/delete", {"ids": ["a"]}),
        ("PUT", f"{DB}/collections/{cid}", {"new_name": "renamed"}),
        ("POST", f"{DB}/collections", {"name": "r"}),
        ("DELETE", f"{DB}/collections/shared", None),
        ("POST", "/tenants", {"name": "t"}),
        ("POST", "/tenants/default_tenant/databases", {"name": "d"}),
        ("POST", "/reset", None),
    ]:
        assert_authz_forbidden(request(srv, method, path, body, headers=_h("reader")))
    r = request(srv, "POST", f"{DB}/collections/{cid}/get", {}, headers=_h("reader"))
    assert r.status_code == 200 and r.json()["ids"] == ["a", "b"]


def test_authenticated_user_without_a_role_is_denied_everything(srv):
    # "nobody" is in the htpasswd file but not in the authz file.
    assert identity(srv, _h("nobody"))["user_id"] == "nobody"  # identity is not authorized
    with raises_authz_denial():
        basic_client(srv, "nobody", PASSWORDS["nobody"])
    for method, path, body in [
        ("GET", "/tenants/default_tenant", None),
        ("GET", f"{DB}/collections", None),
        ("GET", f"{DB}/collections/shared", None),
    ]:
        assert_authz_forbidden(request(srv, method, path, body, headers=_h("nobody")))


@pytest.mark.parametrize("user", ["nobody", "reader"])
def test_denials_do_not_reveal_what_exists(srv, user):
    # Authorization is decided before any lookup: a denied caller gets the
    # same 403 for a collection, tenant or database that exists and one that
    # does not.
    cid = request(srv, "GET", f"{DB}/collections/shared", headers=_h("admin")).json()["id"]
    unknown = "8a1f9a1c-6f7e-4b43-9b6c-2b8e6d3c9f10"
    pairs = [
        (("DELETE", f"{DB}/collections/shared", None), ("DELETE", f"{DB}/collections/no-such-name", None)),
        (("POST", f"{DB}/collections/{cid}/add", {"ids": ["q"], "embeddings": [[1.0, 1.0]]}),
         ("POST", f"{DB}/collections/{unknown}/add", {"ids": ["q"], "embeddings": [[1.0, 1.0]]})),
        (("PUT", f"{DB}/collections/{cid}", {"new_name": "renamed"}),
         ("PUT", f"{DB}/collections/{unknown}", {"new_name": "renamed"})),
        (("DELETE", "/tenants/default_tenant/databases/default_database", None),
         ("DELETE", "/tenants/default_tenant/databases/no-such-db", None)),
    ]
    if user == "nobody":
        pairs += [
            (("GET", f"{DB}/collections/shared", None), ("GET", f"{DB}/collections/no-such-name", None)),
            (("GET", "/tenants/default_tenant", None), ("GET", "/tenants/no-such-tenant", None)),
            (("GET", DB, None), ("GET", "/tenants/default_tenant/databases/no-such-db", None)),
        ]
    for existing, missing in pairs:
        a = request(srv, *existing, headers=_h(user))
        b = request(srv, *missing, headers=_h(user))
        assert_authz_forbidden(a)
        assert_authz_forbidden(b)
        assert a.json() == b.json()


def test_authentication_comes_first(srv):
    # bad credentials are an authn failure even for actions nobody may do
    assert_authn_forbidden(request(srv, "POST", "/reset"))
    assert_authn_forbidden(request(srv, "POST", "/reset", headers=basic_header("admin", "x")))
    with pytest.raises(ChromaAuthError):
        basic_client(srv, "reader", "wrong")


# ---------------------------------------------------------------------------
# Chroma's example authz.yaml, verbatim (shared with Chroma)
# ---------------------------------------------------------------------------

# chroma-core/chroma examples/basic_functionality/authz/authz.yaml (main):
# roles with obsolete action names (db:reset, collection:peek) and a
# `resources` key that is "not yet supported", users carrying role, tenant and
# tokens. Operators copy this file; a compatible server must accept it.
CHROMA_EXAMPLE_AUTHZ = """\
resource_type_action: # This is here just for reference
  - tenant:create_tenant
  - tenant:get_tenant
  - db:create_database
  - db:get_database
  - db:reset
  - db:list_collections
  - collection:get_collection
  - db:create_collection
  - db:get_or_create_collection
  - collection:delete_collection
  - collection:update_collection
  - collection:add
  - collection:delete
  - collection:get
  - collection:query
  - collection:peek #from API perspective this is the same as collection:get
  - collection:count
  - collection:update
  - collection:upsert

roles_mapping:
  admin:
    actions:
      [
        "tenant:create_tenant",
        "tenant:get_tenant",
        "db:create_database",
        "db:get_database",
        "db:reset",
        "db:list_collections",
        "collection:get_collection",
        "db:create_collection",
        "db:get_or_create_collection",
        "collection:delete_collection",
        "collection:update_collection",
        "collection:add",
        "collection:delete",
        "collection:get",
        "collection:query",
        "collection:peek",
        "collection:update",
        "collection:upsert",
        "collection:count",
      ]
  write:
    actions:
      [
        "tenant:get_tenant",
        "db:get_database",
        "db:list_collections",
        "collection:get_collection",
        "db:create_collection",
        "db:get_or_create_collection",
        "collection:delete_collection",
        "collection:update_collection",
        "collection:add",
        "collection:delete",
        "collection:get",
        "collection:query",
        "collection:peek",
        "collection:update",
        "collection:upsert",
        "collection:count",
      ]
  db_read:
    actions:
      [
        "tenant:get_tenant",
        "db:get_database",
        "db:list_collections",
        "collection:get_collection",
        "db:create_collection",
        "db:get_or_create_collection",
        "collection:delete_collection",
        "collection:update_collection",
      ]
  collection_read:
    actions:
      [
        "tenant:get_tenant",
        "db:get_database",
        "db:list_collections",
        "collection:get_collection",
        "collection:get",
        "collection:query",
        "collection:peek",
        "collection:count",
      ]
  collection_x_read:
    actions:
      [
        "tenant:get_tenant",
        "db:get_database",
        "collection:get_collection",
        "collection:get",
        "collection:query",
        "collection:peek",
        "collection:count",
      ]
    resources: ["<UUID>"] #not yet supported
users:
  - id: user@example.com
    role: admin
    tenant: my_tenant
    tokens:
      - test-token-admin
  - id: Anonymous
    role: db_read
    tokens:
      - my_api_token
"""


def test_chroma_example_authz_file(start_server, tmp_path):
    (tmp_path / "authz.yaml").write_text(CHROMA_EXAMPLE_AUTHZ)
    (tmp_path / "users.htpasswd").write_text(
        bcrypt_line("user@example.com", "admin-pw") + "\n" + bcrypt_line("Anonymous", "anon-pw") + "\n"
    )
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(tmp_path / "users.htpasswd"),
        "CHROMA_SERVER_AUTHZ_PROVIDER": RBAC_SERVER,
        "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(tmp_path / "authz.yaml"),
    })
    admin = basic_client(srv, "user@example.com", "admin-pw")
    col = admin.create_collection("example")
    col.add(ids=["1"], embeddings=[[1.0, 2.0]])
    assert col.query(query_embeddings=[[1.0, 2.0]], n_results=1)["ids"] == [["1"]]
    # db_read: may create collections, may not read or write records
    anon = basic_client(srv, "Anonymous", "anon-pw")
    anon.create_collection("anon-made")
    acol = anon.get_collection("example")
    with raises_authz_denial():
        acol.get()
    with raises_authz_denial():
        acol.add(ids=["2"], embeddings=[[1.0, 1.0]])
    assert col.count() == 1


def test_one_file_for_tokens_and_roles(start_server, tmp_path):
    # Chroma's example style: the users list carries both tokens (read by the
    # token authn provider) and roles (read by the RBAC provider).
    path = tmp_path / "auth.yaml"
    path.write_text(f"""\
roles_mapping:
  admin:
    actions: {_yaml_list(ALL_ACTIONS)}
  reader:
    actions: {_yaml_list(READER_ACTIONS)}
users:
  - id: root
    role: admin
    tokens: [root-token]
  - id: reader
    role: reader
    tokens: [reader-token]
""")
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(path),
        "CHROMA_SERVER_AUTHZ_PROVIDER": RBAC_SERVER,
        "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(path),
    })
    root = token_client(srv, "root-token")
    root.create_collection("col").add(ids=["1"], embeddings=[[1.0]])
    rd = token_client(srv, "reader-token")
    assert rd.get_collection("col").count() == 1
    with raises_authz_denial():
        rd.get_collection("col").add(ids=["2"], embeddings=[[2.0]])


def test_inline_authz_config(start_server):
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "users:\n  - id: root\n    tokens: [root-token]\n"
                                           "  - id: guest\n    tokens: [guest-token]\n",
        "CHROMA_SERVER_AUTHZ_PROVIDER": RBAC_SERVER,
        "CHROMA_SERVER_AUTHZ_CONFIG": f"roles_mapping:\n  admin:\n    actions: {_yaml_list(ALL_ACTIONS)}\n"
                                      "users:\n  - id: root\n    role: admin\n",
    })
    token_client(srv, "root-token").create_collection("inline")
    with raises_authz_denial():
        token_client(srv, "guest-token")


# ---------------------------------------------------------------------------
# Prism's extensions
# ---------------------------------------------------------------------------

EXT_USERS = """\
users:
  - id: root
    tokens: [root-token]
  - id: rita
    role: reader
    tokens: [rita-token]
  - id: dora
    tokens: [dora-token]
  - id: rory
    tokens: [rory-token]
  - id: lister
    tokens: [lister-token]
  - id: nora
    tokens: [nora-token]
  - id: ghost
    role: no-such-role
    tokens: [ghost-token]
"""

EXT_AUTHZ = """\
roles_mapping:
  admin:
    actions: ["system:reset", "tenant:*", "db:*", "collection:*"]
  reader:
    actions: [tenant:get_tenant, db:get_database, db:list_collections,
              collection:get_collection, collection:get, collection:query, collection:count]
  connect:
    actions: [tenant:get_tenant, db:get_database]
  docs-editor:
    actions: ["collection:*", "db:create_collection", "db:get_or_create_collection",
              "db:list_collections"]
  adder:
    actions: [collection:add]
users:
  - id: root
    role: admin
  - id: dora
    grants:
      - role: connect
        tenant: acme
      - role: docs-editor
        tenant: acme
        database: "*"
        collection: "docs-*"
  - id: rory
    roles: [reader, adder]
  - id: lister
    grants:
      - role: docs-editor
        tenant: "acme"
        database: "m?in"
"""


@pytest.fixture(scope="module")
def ext(start_module_server, tmp_path_factory):
    d = tmp_path_factory.mktemp("rbac-ext")
    (d / "users.yaml").write_text(EXT_USERS)
    (d / "authz.yaml").write_text(EXT_AUTHZ)
    srv = start_module_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": "token",
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(d / "users.yaml"),
        "CHROMA_SERVER_AUTHZ_PROVIDER": "rbac",
        "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(d / "authz.yaml"),
    })
    root = bearer("root-token")
    assert request(srv, "POST", "/tenants", {"name": "acme"}, headers=root).status_code == 200
    assert request(srv, "POST", "/tenants/acme/databases", {"name": "main"}, headers=root).status_code == 200
    ids = {}
    for t, d_, name in [("acme", "main", "docs-1"), ("acme", "main", "notes"),
                        ("default_tenant", "default_database", "public")]:
        base = f"/tenants/{t}/databases/{d_}"
        r = request(srv, "POST", f"{base}/collections", {"name": name}, headers=root)
        assert r.status_code == 200, r.text
        ids[name] = r.json()["id"]
        r = request(srv, "POST", f"{base}/collections/{ids[name]}/add",
                    {"ids": ["r1"], "embeddings": [[1.0, 0.0]]}, headers=root)
        assert r.status_code == 201, r.text
    return srv, ids


ACME = "/tenants/acme/databases/main"


@pytest.mark.prism_only("role from the token users file")
def test_role_attribute_from_the_users_file(ext):
    srv, ids = ext
    c = token_client(srv, "rita-token")
    col = c.get_collection("public")
    assert col.count() == 1
    assert col.query(query_embeddings=[[1.0, 0.0]], n_results=1)["ids"] == [["r1"]]
    with raises_authz_denial():
        col.add(ids=["x"], embeddings=[[0.0, 0.0]])
    r = request(srv, "POST", f"{DB}/collections/{ids['public']}/add",
                {"ids": ["x"], "embeddings": [[0.0, 0.0]]}, headers=bearer("rita-token"))
    assert_authz_forbidden(r)


@pytest.mark.prism_only("role attributes")
@pytest.mark.parametrize("token", ["nora-token", "ghost-token"], ids=["no-role", "unknown-role"])
def test_no_usable_role_means_no_access(ext, token):
    srv, ids = ext
    assert identity(srv, bearer(token))["user_id"] in ("nora", "ghost")
    with raises_authz_denial():
        token_client(srv, token)
    assert_authz_forbidden(request(srv, "GET", f"{DB}/collections", headers=bearer(token)))


@pytest.mark.prism_only("roles: [..]")
def test_several_roles(ext):
    srv, ids = ext
    c = token_client(srv, "rory-token")
    col = c.get_collection("public")
    col.add(ids=["rory"], embeddings=[[0.0, 1.0]])          # adder
    assert col.count() == 2                                  # reader
    with raises_authz_denial():
        col.delete(ids=["rory"])                             # neither
    with raises_authz_denial():
        col.upsert(ids=["rory"], embeddings=[[1.0, 1.0]])


@pytest.mark.prism_only("scoped grants")
def test_collection_pattern_grant(ext):
    srv, ids = ext
    dora = bearer("dora-token")
    c = token_client(srv, "dora-token", tenant="acme", database="main")  # connect grant
    docs = c.get_collection("docs-1")
    docs.add(ids=["d"], embeddings=[[0.5, 0.5]])
    assert docs.count() == 2
    assert docs.query(query_embeddings=[[0.5, 0.5]], n_results=1)["ids"] == [["d"]]
    docs.delete(ids=["d"])
    made = c.create_collection("docs-new")                 # name matches docs-*
    made.add(ids=["n"], embeddings=[[1.0, 1.0]])
    with raises_authz_denial():
        c.get_collection("notes")
    with raises_authz_denial():
        c.create_collection("other-stuff")
    # a grant on named collections does not cover database-wide actions
    with raises_authz_denial():
        c.list_collections()
    assert_authz_forbidden(request(srv, "GET", f"{ACME}/collections", headers=dora))
    # record operations by id: the collection's name decides
    for op, body in [("add", {"ids": ["z"], "embeddings": [[0.0, 0.0]]}), ("get", {}),
                     ("delete", {"ids": ["r1"]}), ("query", {"query_embeddings": [[1.0, 0.0]]})]:
        assert_authz_forbidden(
            request(srv, "POST", f"{ACME}/collections/{ids['notes']}/{op}", body, headers=dora))
    r = request(srv, "POST", f"{ACME}/collections/{ids['docs-1']}/get", {}, headers=dora)
    assert r.status_code == 200 and r.json()["ids"] == ["r1"]
    # another tenant: not granted
    with raises_authz_denial():
        token_client(srv, "dora-token")
    assert_authz_forbidden(
        request(srv, "POST", f"{DB}/collections/{ids['public']}/get", {}, headers=dora))
    r = request(srv, "POST", f"{ACME}/collections/{ids['notes']}/get", {}, headers=bearer("root-token"))
    assert r.json()["ids"] == ["r1"]


@pytest.mark.prism_only("scoped grants")
def test_database_pattern_grant(ext):
    srv, ids = ext
    lister = bearer("lister-token")
    # database "m?in" matches "main"; no collection pattern, so database-wide
    # actions are covered
    r = request(srv, "GET", f"{ACME}/collections", headers=lister)
    assert r.status_code == 200, r.text
    assert {c["name"] for c in r.json()} >= {"docs-1", "notes"}
    r = request(srv, "POST", f"{ACME}/collections/{ids['notes']}/get", {}, headers=lister)
    assert r.status_code == 200
    assert_authz_forbidden(request(srv, "GET", f"{DB}/collections", headers=lister))
    # docs-editor has no tenant:get_tenant
    assert_authz_forbidden(request(srv, "GET", "/tenants/acme", headers=lister))


@pytest.mark.prism_only("action globs")
def test_action_globs(ext):
    srv, ids = ext
    root = bearer("root-token")
    for method, path, body in [
        ("GET", "/tenants/acme", None),
        ("GET", "/tenants/acme/databases", None),
        ("GET", f"{ACME}/collections_count", None),
        ("POST", f"{ACME}/collections/{ids['notes']}/upsert", {"ids": ["u"], "embeddings": [[1.0, 1.0]]}),
        ("GET", f"{ACME}/collections/{ids['notes']}/count", None),
    ]:
        r = request(srv, method, path, body, headers=root)
        assert r.status_code in (200, 201), (path, r.text)


@pytest.mark.prism_only("authz denial body")
def test_denial_body_is_chromas_error_shape(ext):
    srv, ids = ext
    r = request(srv, "POST", "/reset", headers=bearer("rita-token"))
    assert r.status_code == 403
    assert r.json() == {"error": "AuthError", "message": "Forbidden"}
    assert "chroma-trace-id" in r.headers


@pytest.mark.prism_only("provider aliases")
@pytest.mark.parametrize("name", ["simple_rbac", "rbac", RBAC_SERVER])
def test_authz_provider_aliases(start_server, tmp_path, name):
    (tmp_path / "authz.yaml").write_text(AUTHZ_YAML)
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": "basic",
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "\n".join(bcrypt_line(u, p) for u, p in PASSWORDS.items()),
        "CHROMA_SERVER_AUTHZ_PROVIDER": name,
        "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(tmp_path / "authz.yaml"),
    })
    assert request(srv, "GET", f"{DB}/collections", headers=_h("reader")).status_code == 200
    assert_authz_forbidden(request(srv, "POST", f"{DB}/collections", {"name": "x"}, headers=_h("reader")))

"""HTTP Basic authentication against an htpasswd file of bcrypt hashes
(Chroma's BasicAuthenticationServerProvider; Prism's built-in `htpasswd`
plugin).

Shared with Chroma's Python server (PRISM_E2E_TARGET=chroma-python) except
where marked prism_only.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import pytest
from chromadb.errors import ChromaAuthError

from auth_util import (
    BASIC_SERVER,
    PROTECTED,
    PUBLIC_GETS,
    apache_htpasswd,
    assert_authn_forbidden,
    basic_client,
    basic_header,
    bcrypt_line,
    header_client,
    identity,
    request,
    route_id,
)

pytestmark = pytest.mark.auth

# user -> password. How each hash is made is in `users_file` below.
USERS = {
    "admin": "admin-pw-1",          # Apache htpasswd -B -C 5 (-c: creates the file)
    "bob": "bob's long passw0rd",   # Apache htpasswd -B -C 12
    "carol": "carol-pw",            # Python bcrypt.hashpw, $2b$, cost 4
    "dave": "pa:ss:word:",          # Python bcrypt; the password holds ':'
    "erin": "erin-pw",              # Python bcrypt with the $2a$ prefix
    "josé": "pässwörd",             # non-ASCII user and password
    "frank": "",                    # empty password
}
# Apache htpasswd -B -C 12; used only by the concurrency test, so that its
# first logins are not in the server's credential cache yet.
GINA = "gina-pw-12"


@pytest.fixture(scope="module")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("basic") / "server.htpasswd"
    apache_htpasswd(path, "admin", USERS["admin"], cost=5, create=True)
    apache_htpasswd(path, "bob", USERS["bob"], cost=12)
    apache_htpasswd(path, "gina", GINA, cost=12)
    lines = [
        bcrypt_line("carol", USERS["carol"], cost=4),
        bcrypt_line("dave", USERS["dave"], cost=4),
        bcrypt_line("erin", USERS["erin"], cost=4, prefix=b"2a"),
        bcrypt_line("josé", USERS["josé"], cost=4),
        bcrypt_line("frank", USERS["frank"], cost=4),
    ]
    with path.open("a") as f:
        f.write("\n".join(lines) + "\n\n")  # a trailing blank line is fine
    text = path.read_text()
    assert "admin:$2y$05$" in text and "bob:$2y$12$" in text
    assert "carol:$2b$04$" in text and "erin:$2a$04$" in text
    return path


@pytest.fixture(scope="module")
def srv(start_module_server, users_file):
    return start_module_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users_file),
    })


# ---------------------------------------------------------------------------
# what needs credentials
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", PUBLIC_GETS)
def test_public_routes_need_no_credentials(srv, path):
    r = request(srv, "GET", path)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("route", PROTECTED, ids=route_id)
def test_protected_routes_refuse_requests_without_credentials(srv, route):
    method, path, body = route
    assert_authn_forbidden(request(srv, method, path, body))


@pytest.mark.parametrize("route", PROTECTED, ids=route_id)
def test_protected_routes_refuse_a_wrong_password(srv, route):
    method, path, body = route
    r = request(srv, method, path, body, headers=basic_header("admin", "not-the-password"))
    assert_authn_forbidden(r)


# ---------------------------------------------------------------------------
# every user, through the real client
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("user", list(USERS))
def test_each_user_works_through_the_python_client(srv, user):
    c = basic_client(srv, user, USERS[user])
    me = c.get_user_identity()
    assert me.user_id == user
    assert me.tenant is None and me.databases is None
    name = f"basic-{list(USERS).index(user)}"
    col = c.get_or_create_collection(name)
    col.upsert(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["A", "B"])
    assert col.count() == 2
    res = col.query(query_embeddings=[[0.9, 0.1]], n_results=1, include=["documents"])
    assert res["ids"] == [["a"]] and res["documents"] == [["A"]]
    assert name in [x.name for x in c.list_collections()]
    assert c.heartbeat() > 0


@pytest.mark.parametrize("user", ["admin", "carol"])
def test_identity_is_the_basic_user(srv, user):
    # Chroma's Python shape: the htpasswd provider knows only the user id.
    assert identity(srv, basic_header(user, USERS[user])) == {
        "user_id": user,
        "tenant": None,
        "databases": None,
        "attributes": None,
    }


def test_users_are_told_apart_request_after_request(srv):
    # A cache of successful authentications must never hand one user's
    # identity to another.
    for _ in range(2):
        for user in ["admin", "carol", "dave", "erin", "josé"]:
            assert identity(srv, basic_header(user, USERS[user]))["user_id"] == user
            r = request(srv, "GET", "/auth/identity", headers=basic_header(user, "wrong"))
            assert_authn_forbidden(r)


def test_password_with_colons(srv):
    # Everything after the first ':' is the password.
    assert identity(srv, basic_header("dave", "pa:ss:word:"))["user_id"] == "dave"
    for wrong in ["pa", "pa:ss", "pa:ss:word"]:
        assert_authn_forbidden(
            request(srv, "GET", "/auth/identity", headers=basic_header("dave", wrong))
        )
    c = basic_client(srv, "dave", "pa:ss:word:")
    assert c.get_user_identity().user_id == "dave"


def test_bcrypt_cost_12_user(srv):
    # Apache's htpasswd -B -C 12: a slow hash still answers within the
    # plugin deadline.
    assert identity(srv, basic_header("bob", USERS["bob"]))["user_id"] == "bob"
    assert_authn_forbidden(
        request(srv, "GET", "/auth/identity", headers=basic_header("bob", "bob's long passw0rd!"))
    )


def _concurrently(n, fn):
    results = [None] * n

    def run(i):
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_concurrent_logins_of_a_slow_hash_user(srv):
    # Twelve clients starting at once (a web app's workers, say), each a first
    # login of a cost-12 user, then twelve wrong passwords at once: each gets
    # its answer (200 / 403), never 503 — being slower under load is not a
    # provider failure. (Chroma's Python server: bcrypt in its thread pool.)
    ok = _concurrently(12, lambda i: request(
        srv, "GET", "/auth/identity", headers=basic_header("gina", GINA), timeout=120))
    assert [r.status_code for r in ok] == [200] * 12, [(r.status_code, r.text) for r in ok]
    bad = _concurrently(12, lambda i: request(
        srv, "GET", "/auth/identity", headers=basic_header("gina", f"wrong-{i}"), timeout=120))
    assert [r.status_code for r in bad] == [403] * 12, [(r.status_code, r.text) for r in bad]
    for r in bad:
        assert_authn_forbidden(r)


def test_raw_authorization_header_on_the_client(srv):
    # What the Java/JS examples do: the header by hand, no client provider.
    c = header_client(srv, basic_header("carol", USERS["carol"]))
    assert c.get_user_identity().user_id == "carol"
    c.get_or_create_collection("raw-header")


# ---------------------------------------------------------------------------
# refusals
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user,password",
    [
        ("admin", "wrong"),          # wrong password
        ("admin", ""),               # empty password
        ("admin", "ADMIN-PW-1"),     # case matters
        ("mallory", "admin-pw-1"),   # unknown user
        ("Admin", "admin-pw-1"),     # user ids are case-sensitive
        ("carol", USERS["admin"]),   # another user's password
    ],
    ids=["wrong-password", "empty-password", "case", "unknown-user", "user-case", "other-users-password"],
)
def test_client_with_bad_credentials_fails_on_construction(srv, user, password):
    # The client asks for its identity (and tenant/database) when built.
    with pytest.raises(ChromaAuthError, match="Forbidden"):
        basic_client(srv, user, password)
    assert_authn_forbidden(
        request(srv, "GET", "/tenants/default_tenant", headers=basic_header(user, password))
    )


def test_client_without_credentials_fails_on_construction(srv):
    with pytest.raises(ChromaAuthError, match="Forbidden"):
        header_client(srv, {})


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


MALFORMED = {
    "garbage-base64": "Basic !!!not*base64!!!",
    "no-colon": "Basic " + _b64(b"adminadmin-pw-1"),
    "empty-user": "Basic " + _b64(b":admin-pw-1"),
    "only-colon": "Basic " + _b64(b":"),
    "scheme-only": "Basic",
    "not-utf8": "Basic " + _b64(b"\xff\xfe:\xfd"),
    "wrong-scheme-bearer": "Bearer " + _b64(b"admin:admin-pw-1"),
    "wrong-scheme-digest": 'Digest username="admin", realm="chroma"',
    "huge-6kb": "Basic " + _b64(b"admin:" + b"x" * 4500),
    "huge-6kb-garbage": "Basic " + "A" * 6000,
    "huge-20kb": "Basic " + _b64(b"admin:" + b"x" * 15000),
    "huge-20kb-garbage": "Basic " + "A" * 20000,
}


@pytest.mark.parametrize("value", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_authorization_headers(srv, value):
    for method, path, body in [
        ("GET", "/auth/identity", None),
        ("GET", "/tenants/default_tenant/databases/default_database/collections", None),
        ("POST", "/tenants/default_tenant/databases/default_database/collections", {"name": "m"}),
    ]:
        assert_authn_forbidden(request(srv, method, path, body, headers={"Authorization": value}))
    # ... and the server is fine afterwards.
    assert identity(srv, basic_header("admin", USERS["admin"]))["user_id"] == "admin"


@pytest.mark.chroma_bug(
    "Chroma strips an optional 'Basic ' prefix (re.sub), so a bare base64 "
    "credential without the scheme is accepted"
)
def test_credentials_without_the_basic_scheme_are_refused(srv):
    bare = _b64(f"admin:{USERS['admin']}".encode())
    assert_authn_forbidden(request(srv, "GET", "/auth/identity", headers={"Authorization": bare}))


def test_credentials_in_another_header_do_not_count(srv):
    good = basic_header("admin", USERS["admin"])["Authorization"]
    for name in ["X-Chroma-Token", "Proxy-Authorization", "X-Authorization"]:
        assert_authn_forbidden(request(srv, "GET", "/auth/identity", headers={name: good}))


# ---------------------------------------------------------------------------
# other ways to configure it
# ---------------------------------------------------------------------------


def test_inline_credentials(start_server):
    # CHROMA_SERVER_AUTHN_CREDENTIALS holds the htpasswd lines themselves.
    lines = [bcrypt_line("ann", "ann-pw"), bcrypt_line("ben", "ben:pw")]
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "\n".join(lines),
    })
    assert basic_client(srv, "ann", "ann-pw").get_user_identity().user_id == "ann"
    assert basic_client(srv, "ben", "ben:pw").get_user_identity().user_id == "ben"
    with pytest.raises(ChromaAuthError):
        basic_client(srv, "ann", "ben:pw")


def test_chroma_docs_recipe(start_server, tmp_path):
    # Chroma's auth docs ("Chroma-native Auth"): `htpasswd -Bbn admin admin
    # > server.htpasswd` (note the blank line -n prints after the entry),
    # CHROMA_SERVER_AUTHN_CREDENTIALS_FILE="server.htpasswd" relative to the
    # server's working directory, client credentials "admin:admin".
    import subprocess
    from auth_util import need_htpasswd

    out = subprocess.run([need_htpasswd(), "-Bbn", "admin", "admin"], check=True,
                         capture_output=True).stdout
    assert out.endswith(b"\n\n")
    (tmp_path / "server.htpasswd").write_bytes(out)
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": "server.htpasswd",
        "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
    })
    assert srv.path.parent == tmp_path  # the server runs in tmp_path
    c = basic_client(srv, "admin", "admin")
    assert c.list_collections() == []
    c.create_collection("docs")
    assert [x.name for x in c.list_collections()] == ["docs"]


def test_empty_variables_count_as_unset(start_server, users_file):
    # docker-compose passes `VAR=${VAR}` of an unset variable as an empty
    # string (the compose file of Chroma's "Multi-User Basic Auth" article
    # does this for every auth variable).
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users_file),
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "",
        "CHROMA_AUTH_TOKEN_TRANSPORT_HEADER": "",
        "CHROMA_SERVER_AUTHZ_PROVIDER": "",
        "CHROMA_SERVER_AUTHZ_CONFIG_FILE": "",
    })
    assert identity(srv, basic_header("carol", USERS["carol"]))["user_id"] == "carol"
    assert_authn_forbidden(request(srv, "GET", "/auth/identity"))


@pytest.mark.prism_only("provider names other than Chroma's class path")
@pytest.mark.parametrize(
    "name",
    ["htpasswd", "basic", "chromadb.auth.basic.BasicAuthServerProvider", "multi_user_htpasswd_file"],
)
def test_provider_aliases(start_server, users_file, name):
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": name,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users_file),
    })
    assert identity(srv, basic_header("carol", USERS["carol"]))["user_id"] == "carol"
    assert_authn_forbidden(request(srv, "GET", "/auth/identity"))


# Chroma's "Multi-User Basic Auth" article (Chroma 0.4): its two users,
# verbatim.
MULTI_USER_ARTICLE_HTPASSWD = (
    "admin:$2y$05$vkBK4b1Vk5O98jNHgr.uduTJsTOfM395sKEKe48EkJCVPH/MBIeHK\n"
    "user1:$2y$05$UQ0kC2x3T2XgeN4WU12BdekUwCJmLjJNhMaMtFNolYdj83OqiEpVu\n"
)


@pytest.mark.prism_only("Chroma 1.x ignores the 0.4 variable names")
def test_legacy_0_4_environment_variables(start_server, tmp_path):
    (tmp_path / "server.htpasswd").write_text(MULTI_USER_ARTICLE_HTPASSWD)
    # the .env and docker-compose environment of the "Multi-User Basic Auth"
    # article; the variables the .env file does not set arrive empty
    srv = start_server(env={
        "IS_PERSISTENT": "TRUE",
        "CHROMA_SERVER_AUTH_PROVIDER": "chromadb.auth.basic.BasicAuthServerProvider",
        "CHROMA_SERVER_AUTH_CREDENTIALS_FILE": "server.htpasswd",
        "CHROMA_SERVER_AUTH_CREDENTIALS": "",
        "CHROMA_SERVER_AUTH_CREDENTIALS_PROVIDER":
            "chroma_auth.authn.basic.MultiUserHtpasswdFileServerAuthCredentialsProvider",
        "CHROMA_SERVER_AUTH_TOKEN_TRANSPORT_HEADER": "",
        "CHROMA_OTEL_EXPORTER_ENDPOINT": "",
        "CHROMA_OTEL_EXPORTER_HEADERS": "",
        "CHROMA_OTEL_SERVICE_NAME": "",
        "CHROMA_OTEL_GRANULARITY": "",
        "CHROMA_SERVER_NOFILE": "",
    })
    # "this should work with or without authentication - it is a public endpoint"
    assert request(srv, "GET", "/heartbeat").status_code == 200
    for user in ["admin", "user1"]:
        c = basic_client(srv, user, "password123")
        assert c.heartbeat() > 0
        c.get_or_create_collection("test_collection")
        assert [x.name for x in c.list_collections()] == ["test_collection"]
    with pytest.raises(ChromaAuthError):
        basic_client(srv, "invalid_user", "password123")
    assert_authn_forbidden(request(srv, "GET", "/tenants/default_tenant"))


@pytest.mark.prism_only("Chroma 1.x ignores the 0.4 variable names")
def test_legacy_inline_credentials(start_server):
    srv = start_server(env={
        "CHROMA_SERVER_AUTH_PROVIDER": "chromadb.auth.basic.BasicAuthServerProvider",
        "CHROMA_SERVER_AUTH_CREDENTIALS": MULTI_USER_ARTICLE_HTPASSWD,
    })
    assert identity(srv, basic_header("user1", "password123"))["user_id"] == "user1"
    assert_authn_forbidden(request(srv, "GET", "/auth/identity"))

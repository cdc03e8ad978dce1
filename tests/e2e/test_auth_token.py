"""Static token authentication (Chroma's TokenAuthenticationServerProvider;
Prism's built-in `token` plugin): one token, or Chroma's YAML users file, in
`Authorization: Bearer` or `X-Chroma-Token` (one of the two, by
configuration).

Shared with Chroma's Python server (PRISM_E2E_TARGET=chroma-python) except
where marked prism_only / chroma_bug.
"""

from __future__ import annotations

import httpx
import pytest
from chromadb.errors import ChromaAuthError

from auth_util import (
    PROTECTED,
    PUBLIC_GETS,
    TOKEN_SERVER,
    assert_authn_forbidden,
    bearer,
    header_client,
    identity,
    request,
    route_id,
    token_client,
)
from e2e_util import IS_CHROMA_PYTHON

pytestmark = pytest.mark.auth

TOKEN = "tok-S1ngle_123"


@pytest.fixture(scope="module")
def bearer_srv(start_module_server):
    """One token, inline, default transport (Authorization: Bearer)."""
    return start_module_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": TOKEN,
    })


@pytest.fixture(scope="module")
def xct_srv(start_module_server):
    """One token, inline, X-Chroma-Token transport."""
    return start_module_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": TOKEN,
        "CHROMA_AUTH_TOKEN_TRANSPORT_HEADER": "X-Chroma-Token",
    })


ANONYMOUS = {"user_id": "anonymous", "tenant": "*", "databases": ["*"], "attributes": None}


# ---------------------------------------------------------------------------
# Authorization: Bearer
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", PUBLIC_GETS)
def test_public_routes_need_no_token(bearer_srv, path):
    assert request(bearer_srv, "GET", path).status_code == 200


@pytest.mark.parametrize("route", PROTECTED, ids=route_id)
def test_protected_routes_refuse_requests_without_a_token(bearer_srv, route):
    method, path, body = route
    assert_authn_forbidden(request(bearer_srv, method, path, body))


@pytest.mark.parametrize("route", PROTECTED, ids=route_id)
def test_protected_routes_refuse_a_wrong_token(bearer_srv, route):
    method, path, body = route
    assert_authn_forbidden(request(bearer_srv, method, path, body, headers=bearer("tok-wrong")))


def test_single_token_is_the_anonymous_user(bearer_srv):
    # One line of credentials = one token for user "anonymous" of every
    # tenant and database.
    assert identity(bearer_srv, bearer(TOKEN)) == ANONYMOUS


def test_bearer_token_through_the_client(bearer_srv):
    c = token_client(bearer_srv, TOKEN)
    me = c.get_user_identity()
    assert (me.user_id, me.tenant, me.databases) == ("anonymous", "*", ["*"])
    col = c.get_or_create_collection("tok")
    col.add(ids=["x"], embeddings=[[1.0, 2.0, 3.0]])
    assert col.get()["ids"] == ["x"]
    # explicitly asking for the Authorization transport is the same
    c2 = token_client(bearer_srv, TOKEN, header="Authorization")
    assert c2.get_collection("tok").count() == 1


def test_raw_bearer_header_on_the_client(bearer_srv):
    c = header_client(bearer_srv, {"Authorization": f"Bearer {TOKEN}"})
    assert c.get_user_identity().user_id == "anonymous"
    c.get_or_create_collection("tok-raw")


def test_client_with_a_wrong_token_fails_on_construction(bearer_srv):
    with pytest.raises(ChromaAuthError, match="Forbidden"):
        token_client(bearer_srv, "tok-wrong")
    with pytest.raises(ChromaAuthError, match="Forbidden"):
        token_client(bearer_srv, TOKEN + "x")
    with pytest.raises(ChromaAuthError, match="Forbidden"):
        header_client(bearer_srv, {})


def test_token_in_the_other_header_is_refused(bearer_srv):
    # A server accepts only its configured header.
    assert_authn_forbidden(
        request(bearer_srv, "GET", "/auth/identity", headers={"X-Chroma-Token": TOKEN})
    )
    with pytest.raises(ChromaAuthError, match="Forbidden"):
        token_client(bearer_srv, TOKEN, header="X-Chroma-Token")


BAD_BEARER = {
    "no-scheme": TOKEN,
    "basic-scheme": f"Basic {TOKEN}",
    "token-scheme": f"Token {TOKEN}",
    "scheme-only": "Bearer",
    "prefix-of-token": "Bearer tok-S1ngle",
    "token-plus-suffix": f"Bearer {TOKEN}0",
    "space-in-token": f"Bearer {TOKEN} extra",
    "non-ascii": "Bearer tök",
    "huge-6kb": "Bearer " + "t" * 6000,
    "huge-20kb": "Bearer " + "t" * 20000,
}


@pytest.mark.parametrize("value", list(BAD_BEARER.values()), ids=list(BAD_BEARER))
def test_malformed_bearer_headers(bearer_srv, value):
    headers = {"Authorization": value.encode("utf-8")}
    with httpx.Client(base_url=bearer_srv.api, timeout=60) as h:
        r = h.get("/auth/identity", headers=headers)
        assert_authn_forbidden(r)
        r = h.get("/tenants/default_tenant/databases/default_database/collections", headers=headers)
        assert_authn_forbidden(r)
    assert identity(bearer_srv, bearer(TOKEN)) == ANONYMOUS


# ---------------------------------------------------------------------------
# X-Chroma-Token
# ---------------------------------------------------------------------------


def test_x_chroma_token_through_the_client(xct_srv):
    c = token_client(xct_srv, TOKEN, header="X-Chroma-Token")
    assert c.get_user_identity().user_id == "anonymous"
    col = c.get_or_create_collection("xct")
    col.add(ids=["x"], embeddings=[[1.0, 2.0]])
    assert col.count() == 1


def test_raw_x_chroma_token_header_on_the_client(xct_srv):
    # What Chroma's CloudClient and the JS client do.
    c = header_client(xct_srv, {"x-chroma-token": TOKEN})
    assert c.get_user_identity().user_id == "anonymous"
    assert identity(xct_srv, {"X-Chroma-Token": TOKEN}) == ANONYMOUS


def test_bearer_is_refused_by_an_x_chroma_token_server(xct_srv):
    assert_authn_forbidden(request(xct_srv, "GET", "/auth/identity", headers=bearer(TOKEN)))
    with pytest.raises(ChromaAuthError, match="Forbidden"):
        token_client(xct_srv, TOKEN)  # client default: Authorization: Bearer
    with pytest.raises(ChromaAuthError, match="Forbidden"):
        header_client(xct_srv, {"Authorization": f"Bearer {TOKEN}"})


@pytest.mark.parametrize("value", ["", "tok-wrong", f"Bearer {TOKEN}", "t" * 6000])
def test_bad_x_chroma_token(xct_srv, value):
    assert_authn_forbidden(request(xct_srv, "GET", "/auth/identity", headers={"X-Chroma-Token": value}))


def test_x_chroma_token_protects_every_route(xct_srv):
    for method, path, body in PROTECTED:
        assert_authn_forbidden(request(xct_srv, method, path, body))
        assert_authn_forbidden(
            request(xct_srv, method, path, body, headers={"X-Chroma-Token": "nope"})
        )


# ---------------------------------------------------------------------------
# users file
# ---------------------------------------------------------------------------

USERS_YAML = """\
users:
  - id: admin
    tokens:
      - admin-token-1
      - admin-token-2
  - id: alice
    tenant: acme
    databases: [docs]
    role: reader
    tokens: [alice-token]
  - id: carl
    tenant: acme
    databases: [docs]
    tokens: [carl-token]
  - id: multi
    tenant: "*"
    databases: [db1, db2]
    tokens: [multi-token]
"""


@pytest.fixture(scope="module")
def users_srv(start_module_server, tmp_path_factory):
    path = tmp_path_factory.mktemp("token-users") / "users.yaml"
    path.write_text(USERS_YAML)
    srv = start_module_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(path),
    })
    # the admin (tenant "*") makes what the scoped users need
    from auth_util import admin_client

    adm = admin_client(srv, bearer("admin-token-1"))
    adm.create_tenant("acme")
    adm.create_database("docs", tenant="acme")
    return srv


def test_users_file_identities(users_srv):
    assert identity(users_srv, bearer("admin-token-1")) == {
        "user_id": "admin", "tenant": "*", "databases": ["*"], "attributes": None,
    }
    assert identity(users_srv, bearer("admin-token-2"))["user_id"] == "admin"
    assert identity(users_srv, bearer("carl-token")) == {
        "user_id": "carl", "tenant": "acme", "databases": ["docs"], "attributes": None,
    }
    assert identity(users_srv, bearer("multi-token")) == {
        "user_id": "multi", "tenant": "*", "databases": ["db1", "db2"], "attributes": None,
    }


def test_users_file_role_attribute(users_srv):
    got = identity(users_srv, bearer("alice-token"))
    expected = {"user_id": "alice", "tenant": "acme", "databases": ["docs"]}
    assert {k: got[k] for k in expected} == expected
    if IS_CHROMA_PYTHON:
        # Chroma's token provider drops the role
        assert got["attributes"] is None
    else:
        # Prism passes it on for authorizers
        assert got["attributes"] == {"role": "reader"}


def test_unknown_token_is_refused(users_srv):
    for tok in ["admin-token-3", "alice", "reader"]:
        assert_authn_forbidden(request(users_srv, "GET", "/auth/identity", headers=bearer(tok)))


def test_client_picks_tenant_and_database_from_identity(users_srv):
    # chroma_overwrite_singleton_tenant_database_access_from_auth=True on the
    # client: a user with one tenant and one database works there without
    # naming them (what CloudClient does).
    c = token_client(
        users_srv, "carl-token",
        settings_extra={"chroma_overwrite_singleton_tenant_database_access_from_auth": True},
    )
    assert (c.tenant, c.database) == ("acme", "docs")
    col = c.get_or_create_collection("carl-col")
    col.add(ids=["1"], embeddings=[[1.0, 1.0]])
    adm = token_client(users_srv, "admin-token-1", tenant="acme", database="docs")
    assert "carl-col" in [x.name for x in adm.list_collections()]
    default = token_client(users_srv, "admin-token-1")
    assert "carl-col" not in [x.name for x in default.list_collections()]


def test_client_explicit_tenant_must_match_identity(users_srv):
    with pytest.raises(ChromaAuthError, match="does not match"):
        token_client(
            users_srv, "carl-token", tenant="other",
            settings_extra={"chroma_overwrite_singleton_tenant_database_access_from_auth": True},
        )


def test_client_keeps_the_defaults_for_an_unscoped_user(users_srv):
    c = token_client(
        users_srv, "admin-token-1",
        settings_extra={"chroma_overwrite_singleton_tenant_database_access_from_auth": True},
    )
    assert (c.tenant, c.database) == ("default_tenant", "default_database")


# ---------------------------------------------------------------------------
# file forms and quirks
# ---------------------------------------------------------------------------


def test_inline_users_yaml(start_server):
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": USERS_YAML,
        "CHROMA_AUTH_TOKEN_TRANSPORT_HEADER": "X-Chroma-Token",
    })
    assert identity(srv, {"X-Chroma-Token": "admin-token-2"})["user_id"] == "admin"
    assert_authn_forbidden(request(srv, "GET", "/auth/identity", headers=bearer("admin-token-2")))


def test_single_token_with_punctuation(start_server):
    # Tokens may hold any ASCII punctuation, ':' included; one line is still
    # one token (not YAML).
    tok = "s3cr3t:t0k3n!#$%&()*+,-./;<=>?@[]^_`{|}~"
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": tok,
    })
    assert identity(srv, bearer(tok)) == ANONYMOUS
    assert token_client(srv, tok).get_user_identity().user_id == "anonymous"


@pytest.mark.chroma_bug(
    "Chroma reads a single-token file with readlines(), keeping the newline in "
    "the token, so no request ever matches it"
)
def test_single_token_file_with_trailing_newline(start_server, tmp_path):
    path = tmp_path / "token.txt"
    path.write_text("chr0ma-t0k3n\n")
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(path),
    })
    assert identity(srv, bearer("chr0ma-t0k3n")) == ANONYMOUS


def test_single_token_file_without_newline(start_server, tmp_path):
    path = tmp_path / "token.txt"
    path.write_text("chr0ma-t0k3n")
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(path),
        "CHROMA_AUTH_TOKEN_TRANSPORT_HEADER": "X-Chroma-Token",
    })
    assert identity(srv, {"X-Chroma-Token": "chr0ma-t0k3n"}) == ANONYMOUS


def test_chroma_docs_token_recipe(start_server):
    # Chroma's auth docs: CHROMA_SERVER_AUTHN_CREDENTIALS="chr0ma-t0k3n",
    # CHROMA_AUTH_TOKEN_TRANSPORT_HEADER="Authorization", the token provider
    # by class path; the client with TokenAuthClientProvider.
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "chr0ma-t0k3n",
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_AUTH_TOKEN_TRANSPORT_HEADER": "Authorization",
    })
    c = token_client(srv, "chr0ma-t0k3n", header="Authorization")
    assert c.list_collections() == []
    # curl -H "Authorization: Bearer chr0ma-t0k3n"
    r = request(srv, "GET", "/tenants/default_tenant/databases/default_database/collections",
                headers=bearer("chr0ma-t0k3n"))
    assert r.status_code == 200 and r.json() == []


@pytest.mark.prism_only("provider names other than Chroma's class path")
@pytest.mark.parametrize("name", ["token", "chromadb.auth.token.TokenAuthServerProvider"])
def test_provider_aliases(start_server, name):
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": name,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": TOKEN,
    })
    assert identity(srv, bearer(TOKEN)) == ANONYMOUS
    assert_authn_forbidden(request(srv, "GET", "/auth/identity"))


@pytest.mark.prism_only("Chroma 1.x ignores the 0.4 variable names")
def test_legacy_0_4_token_variables(start_server):
    # Chroma 0.4: CHROMA_SERVER_AUTH_PROVIDER=chromadb.auth.token.TokenAuthServerProvider,
    # CHROMA_SERVER_AUTH_CREDENTIALS, CHROMA_SERVER_AUTH_TOKEN_TRANSPORT_HEADER
    # with the enum spelling X_CHROMA_TOKEN; the credentials provider is ignored.
    srv = start_server(env={
        "CHROMA_SERVER_AUTH_PROVIDER": "chromadb.auth.token.TokenAuthServerProvider",
        "CHROMA_SERVER_AUTH_CREDENTIALS": "legacy-token",
        "CHROMA_SERVER_AUTH_TOKEN_TRANSPORT_HEADER": "X_CHROMA_TOKEN",
        "CHROMA_SERVER_AUTH_CREDENTIALS_PROVIDER":
            "chromadb.auth.token.TokenConfigServerAuthCredentialsProvider",
    })
    assert identity(srv, {"X-Chroma-Token": "legacy-token"})["user_id"] == "anonymous"
    assert_authn_forbidden(request(srv, "GET", "/auth/identity", headers=bearer("legacy-token")))
    c = token_client(srv, "legacy-token", header="X-Chroma-Token")
    c.get_or_create_collection("legacy")


@pytest.mark.prism_only("Chroma 1.x ignores the 0.4 variable names")
def test_legacy_authorization_spelling(start_server):
    srv = start_server(env={
        "CHROMA_SERVER_AUTH_PROVIDER": "chromadb.auth.token.TokenAuthServerProvider",
        "CHROMA_SERVER_AUTH_CREDENTIALS": "legacy-token",
        "CHROMA_SERVER_AUTH_TOKEN_TRANSPORT_HEADER": "AUTHORIZATION",
    })
    assert identity(srv, bearer("legacy-token"))["user_id"] == "anonymous"
    assert_authn_forbidden(
        request(srv, "GET", "/auth/identity", headers={"X-Chroma-Token": "legacy-token"})
    )


def test_only_the_configured_header_decides(bearer_srv, xct_srv):
    # a wrong token in the other header does not spoil a right one
    both = {"Authorization": f"Bearer {TOKEN}", "X-Chroma-Token": "nope"}
    assert identity(bearer_srv, both) == ANONYMOUS
    both = {"Authorization": "Bearer nope", "X-Chroma-Token": TOKEN}
    assert identity(xct_srv, both) == ANONYMOUS

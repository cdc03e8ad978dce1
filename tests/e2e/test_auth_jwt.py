"""The built-in `jwt` plugin (alias `oidc`): bearer JWTs as OIDC providers
issue them, verified against a JWKS file (RSA, EC P-256/P-384, Ed25519) or a
shared HMAC secret. Tokens are minted here with `cryptography`; allowed
requests go through the real chromadb client. A token that is read and
refused (expired, wrong issuer or audience, bad signature, unknown key,
`alg: none`) is a 401 with `WWW-Authenticate: Bearer error="invalid_token"`
(RFC 6750); no token or one that is not a readable JWT is Chroma's 403. Every refusal's own reason
reaches the audit log. Prism-only (Chroma has no JWT provider)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time

import chromadb
import pytest
from chromadb.config import Settings
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from auth_util import FORBIDDEN, plugin_dir, request
from e2e_util import prism

pytestmark = [pytest.mark.auth, pytest.mark.prism_only("the jwt plugin")]

ISSUER = "https://keycloak.example/realms/prism"
AUDIENCE = "prism"
SECRET = b"an-hmac-secret-of-at-least-32-bytes!"
IDENTITY = "/auth/identity"
POLICY = """\
roles_mapping:
  reader:
    actions: [tenant:get_tenant, db:get_database, db:list_collections, collection:get_collection, collection:get, collection:query, collection:count]
  writer:
    actions: ["collection:*", db:create_collection, db:list_collections, tenant:get_tenant, db:get_database]
"""


# ---------------------------------------------------------------------------
# keys and tokens
# ---------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n: int) -> str:
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class Keys:
    """One key of each kind, and their JWKS entries."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.p256 = ec.generate_private_key(ec.SECP256R1())
        self.p384 = ec.generate_private_key(ec.SECP384R1())
        self.ed = ed25519.Ed25519PrivateKey.generate()

    def kid(self, name: str) -> str:
        return self.prefix + name

    def jwks(self) -> dict:
        pub = self.rsa.public_key().public_numbers()

        def ec_jwk(key, crv: str, size: int) -> dict:
            n = key.public_key().public_numbers()
            return {"kty": "EC", "kid": self.kid(crv), "crv": crv, "use": "sig",
                    "x": b64(n.x.to_bytes(size, "big")), "y": b64(n.y.to_bytes(size, "big"))}

        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        ed_x = self.ed.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"keys": [
            {"kty": "RSA", "kid": self.kid("rsa"), "use": "sig", "n": uint(pub.n), "e": uint(pub.e)},
            ec_jwk(self.p256, "P-256", 32),
            ec_jwk(self.p384, "P-384", 48),
            {"kty": "OKP", "kid": self.kid("ed"), "crv": "Ed25519", "x": b64(ed_x)},
            # Keycloak publishes an encryption key beside its signing keys.
            {"kty": "RSA", "kid": self.kid("enc"), "use": "enc", "alg": "RSA-OAEP",
             "n": uint(pub.n), "e": uint(pub.e)},
        ]}

    def sign(self, alg: str, data: bytes) -> bytes:
        if alg.startswith("HS"):
            digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
            return hmac.new(SECRET, data, digest).digest()
        hash_ = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}.get(alg[2:])
        if alg.startswith("RS"):
            return self.rsa.sign(data, padding.PKCS1v15(), hash_)
        if alg.startswith("PS"):
            return self.rsa.sign(data, padding.PSS(padding.MGF1(hash_), hash_.digest_size), hash_)
        if alg in ("ES256", "ES384"):
            key, size = (self.p256, 32) if alg == "ES256" else (self.p384, 48)
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hash_)))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if alg == "EdDSA":
            return self.ed.sign(data)
        raise ValueError(alg)

    def default_kid(self, alg: str):
        return {"RS": "rsa", "PS": "rsa", "ES": "P-256" if alg == "ES256" else "P-384",
                "Ed": "ed"}.get(alg[:2])

    def token(self, alg: str = "RS256", kid: object = "default", header: dict = None,
              **claims) -> str:
        """A signed token; claims default to a valid one for alice."""
        now = int(time.time())
        body = {"iss": ISSUER, "aud": ["account", AUDIENCE], "sub": "alice",
                "iat": now, "exp": now + 300, "preferred_username": "alice"}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        head = {"alg": alg, "typ": "JWT"}
        if kid == "default":
            kid = self.default_kid(alg)
            kid = self.kid(kid) if kid else None
        if kid is not None:
            head["kid"] = kid
        head.update(header or {})
        signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(body).encode())}"
        sign_alg = head["alg"] if head["alg"] != "none" else None
        signature = self.sign(sign_alg, signing_input.encode()) if sign_alg else b""
        return f"{signing_input}.{b64(signature)}"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------


def builtin_has_jwt() -> bool:
    out = prism("plugin", "list", timeout=60)
    return out.returncode == 0 and any(
        line.split() == ["name:", "jwt"] for line in out.stdout.splitlines())


@pytest.fixture(scope="module")
def extra_plugins(tmp_path_factory):
    """Nothing when the binary embeds `jwt` (a host built after the plugin);
    otherwise a plugin directory with the freshly built component, so the
    tests still select it by its built-in name."""
    if builtin_has_jwt():
        return {}
    d = plugin_dir(tmp_path_factory.mktemp("jwt-plugin"), **{"jwt.wasm": "builtin/jwt.wasm"})
    return {"PRISM_PLUGIN_DIR": str(d)}


@pytest.fixture(scope="module")
def keys():
    return Keys()


@pytest.fixture
def jwt_server(start_server, tmp_path, keys, extra_plugins):
    """start(**env) -> (server, audit log path, jwks path)."""

    def start(jwks: dict = None, authz: str = None, **env):
        jwks_path = tmp_path / "conf" / "jwks.json"
        jwks_path.parent.mkdir(exist_ok=True)
        jwks_path.write_text(json.dumps(jwks or keys.jwks(), indent=2))
        secret = tmp_path / "conf" / "jwt.secret"
        secret.write_bytes(SECRET + b"\n")
        full = {
            "CHROMA_SERVER_AUTHN_PROVIDER": "jwt",
            "PRISM_AUTHN_OPT_JWKS_FILE": str(jwks_path),
            "PRISM_AUTHN_OPT_SECRET_FILE": str(secret),
            "PRISM_AUTHN_OPT_ISSUER": ISSUER,
            "PRISM_AUTHN_OPT_AUDIENCE": AUDIENCE,
            "PRISM_AUTHN_OPT_ROLES_CLAIM": "realm_access.roles",
            **extra_plugins,
            **env,
        }
        if authz is not None:
            policy = tmp_path / "conf" / "authz.yaml"
            policy.write_text(authz)
            full["CHROMA_SERVER_AUTHZ_PROVIDER"] = "rbac"
            full["CHROMA_SERVER_AUTHZ_CONFIG_FILE"] = str(policy)
        log = tmp_path / f"audit-{time.monotonic_ns()}.jsonl"
        srv = start_server(args=["--audit-log", str(log)], env=full)
        return srv, log, jwks_path

    return start


def client_for(srv, token: str):
    return chromadb.HttpClient(host=srv.host, port=srv.port, headers=bearer(token),
                               settings=Settings(anonymized_telemetry=False))


def audit_events(log, want: int, timeout: float = 5.0) -> list:
    deadline = time.time() + timeout
    while True:
        lines = [l for l in log.read_text().splitlines() if l.strip()] if log.exists() else []
        if len(lines) >= want or time.time() > deadline:
            return [json.loads(l)["fields"] for l in lines]
        time.sleep(0.05)


def authn_denials(log, want: int) -> list:
    deadline = time.time() + 5
    while True:
        got = [e for e in audit_events(log, 0) if e["stage"] == "authn" and e["decision"] == "deny"]
        if len(got) >= want or time.time() > deadline:
            return got
        time.sleep(0.05)


def within(seconds: float, check) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.1)
    assert check(), f"not within {seconds} s"


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                 "ES256", "ES384", "EdDSA", "HS256", "HS384", "HS512"])
def test_every_algorithm_through_the_python_client(jwt_server, keys, alg):
    srv, _, _ = jwt_server()
    client = client_for(srv, keys.token(alg))
    assert client.get_user_identity().user_id == "alice"
    col = client.create_collection(f"c-{alg.lower()}")
    col.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]])
    assert col.query(query_embeddings=[[1.0, 0.1]], n_results=1)["ids"] == [["a"]]


def test_identity_carries_roles_and_claims(jwt_server, keys):
    srv, _, _ = jwt_server(PRISM_AUTHN_OPT_USER_CLAIM="preferred_username")
    token = keys.token("ES256", sub="f3a1-uuid", preferred_username="alice@example.com",
                       realm_access={"roles": ["offline_access", "reader"]}, email_verified=True)
    r = request(srv, "GET", IDENTITY, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == "alice@example.com"


def test_no_bearer_token_is_no_credentials(jwt_server):
    srv, log, _ = jwt_server()
    for headers in ({}, {"Authorization": "Basic YWxpY2U6cHc="}):
        r = request(srv, "GET", IDENTITY, headers=headers)
        assert r.status_code == 403 and r.json() == FORBIDDEN
    reasons = [e.get("reason", "") for e in authn_denials(log, 2)]
    assert len(reasons) == 2 and all("no credentials" in r for r in reasons), reasons


def refusals(keys: Keys) -> list:
    now = int(time.time())
    good = keys.token("RS256")
    head, payload, sig = good.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["sub"] = "admin"
    tampered = f"{head}.{b64(json.dumps(forged).encode())}.{sig}"
    unsigned = keys.token("RS256", header={"alg": "none"})
    # (name, token, status, reason in the audit log)
    return [
        ("expired", keys.token("RS256", exp=now - 3600), 401, r"token expired at \d+ \(now \d+, leeway 60 s\)"),
        ("not yet valid", keys.token("ES256", nbf=now + 3600), 401, r"token not valid before \d+ \(now \d+, leeway 60 s\)"),
        ("wrong issuer", keys.token("EdDSA", iss="https://evil.example"), 401, r"wrong issuer: the token's iss is `https://evil\.example`"),
        ("wrong audience", keys.token("ES384", aud="another-app"), 401, r"wrong audience: the token's aud is `another-app`, expected `prism`"),
        ("tampered", tampered, 401, r"bad signature: the token's RS256 signature does not verify with key `rsa`"),
        ("alg none", unsigned, 401, r"unsigned \(`alg: none`\)"),
        ("alg/key mismatch", keys.token("ES256", kid="rsa"), 401, r"alg ES256 does not match key `rsa`"),
        ("hmac with the rsa key", keys.token("HS256", kid="rsa"), 401, r"alg HS256 does not match key `rsa`"),
        ("unknown kid", keys.token("RS256", kid="rotated-away"), 401, r"kid `rotated-away` is not in the JWKS"),
        ("encryption key", keys.token("RS256", kid="enc"), 401, r"kid `enc` is not in the JWKS"),
        ("not a jwt", "opaque-token-123", 403, r"not a JWT"),
    ]


UNAUTHORIZED = {"error": "AuthError", "message": "Unauthorized"}


def test_each_refusal_has_its_status_and_its_own_reason(jwt_server, keys):
    srv, log, _ = jwt_server()
    cases = refusals(keys)
    for name, token, status, _ in cases:
        r = request(srv, "GET", IDENTITY, headers=bearer(token))
        assert r.status_code == status, (name, r.text)
        if status == 401:
            assert r.json() == UNAUTHORIZED, name
            assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"', name
        else:
            assert r.json() == FORBIDDEN, name
            assert "www-authenticate" not in r.headers, name
    denied = authn_denials(log, len(cases))
    assert len(denied) == len(cases), denied
    for (name, _, _, pattern), event in zip(cases, denied):
        assert event["provider"] == "jwt", event
        assert re.search(pattern, event.get("reason", "")), (name, event)
    text = log.read_text() + srv.log_text(200000)
    for name, token, _, _ in cases:
        for part in [token, *token.split(".")]:
            assert len(part) < 16 or part not in text, f"the {name} token leaked into the logs"


def test_key_rotation_takes_effect_while_running(jwt_server, keys):
    old, new = Keys("old-"), Keys("new-")
    srv, log, jwks_path = jwt_server(jwks=old.jwks())
    old_token, new_token = old.token("RS256"), new.token("RS256")
    status = lambda t: request(srv, "GET", IDENTITY, headers=bearer(t)).status_code
    assert status(old_token) == 200
    assert status(new_token) == 401

    # The provider's new JWKS replaces the file (atomically, as a fetcher would).
    tmp = jwks_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(new.jwks()))
    os.replace(tmp, jwks_path)
    within(5, lambda: status(new_token) == 200)
    assert status(old_token) == 401, "the old key still verifies after the JWKS changed"
    reasons = [e.get("reason", "") for e in authn_denials(log, 2)]
    assert "kid `old-rsa` is not in the JWKS" in reasons[-1], reasons

    # A broken JWKS keeps the last good keys.
    jwks_path.write_text("{\n  \"keys\": [\n    {\"kty\": \"RSA\",\n")
    time.sleep(1.5)
    assert status(new_token) == 200
    assert str(jwks_path) in srv.log_text(200000)


def test_realm_roles_meet_rbac_grants(jwt_server, keys):
    srv, _, _ = jwt_server(authz=POLICY)
    # Keycloak lists its default roles first: every role counts, not the first.
    reader = client_for(srv, keys.token(
        "RS256", sub="r1", realm_access={"roles": ["offline_access", "uma_authorization", "reader"]}))
    writer = client_for(srv, keys.token("ES256", sub="w1", realm_access={"roles": ["writer"]}))

    col = writer.create_collection("docs")
    col.add(ids=["a"], embeddings=[[1.0, 2.0]])
    assert [c.name for c in reader.list_collections()] == ["docs"]
    assert reader.get_collection("docs").count() == 1
    with pytest.raises(Exception) as e:
        reader.create_collection("nope")
    assert "forbidden" in str(e.value).lower()
    with pytest.raises(Exception):
        reader.get_collection("docs").add(ids=["b"], embeddings=[[0.0, 1.0]])
    with pytest.raises(Exception):
        nobody = client_for(srv, keys.token("EdDSA", sub="n1", realm_access={"roles": ["offline_access"]}))
        nobody.list_collections()


def test_tenant_and_database_claims_scope_the_caller(jwt_server, keys):
    srv, _, _ = jwt_server(PRISM_AUTHN_OPT_TENANT_CLAIM="org.tenant",
                           PRISM_AUTHN_OPT_DATABASES_CLAIM="org.databases")
    scoped = keys.token("RS256", org={"tenant": "default_tenant", "databases": ["default_database"]})
    r = request(srv, "GET", IDENTITY, headers=bearer(scoped))
    assert r.status_code == 200, r.text
    assert r.json()["tenant"] == "default_tenant"
    assert r.json()["databases"] == ["default_database"]
    other = keys.token("RS256", org={"tenant": "acme", "databases": ["x"]})
    assert request(srv, "GET", "/tenants/default_tenant", headers=bearer(other)).status_code == 403
    # A token without the tenant claim is refused, not given every tenant.
    assert request(srv, "GET", IDENTITY, headers=bearer(keys.token("RS256"))).status_code == 401


def test_configuration_errors_stop_the_server(start_server, tmp_path, extra_plugins):
    from auth_util import wait_refusal
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{\n  "keys": [\n    {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}\n  ]\n}\n')
    base = {"CHROMA_SERVER_AUTHN_PROVIDER": "oidc", "PRISM_AUTHN_OPT_JWKS_FILE": str(jwks),
            "PRISM_AUTHN_OPT_ISSUER": ISSUER, "PRISM_AUTHN_OPT_AUDIENCE": AUDIENCE, **extra_plugins}
    log = wait_refusal(start_server(env=base, wait=False))
    assert str(jwks) in log and "32 bytes" in log, log
    jwks.write_text(json.dumps(Keys().jwks()))
    log = wait_refusal(start_server(env={**base, "PRISM_AUTHN_OPT_ISSUER": ""}, wait=False))
    assert "issuer" in log, log
    log = wait_refusal(start_server(env={**base, "PRISM_AUTHN_OPT_LEEWAY_SECS": "1m"}, wait=False))
    assert "leeway-secs `1m`" in log, log


# ---------------------------------------------------------------------------
# jwks-url: the host fetches the JWKS over HTTPS (the plugin has no network)
# ---------------------------------------------------------------------------


class JwksServer:
    """An HTTPS server on loopback, with the test PKI's certificate, serving
    one JWKS document that a test may replace; counts the fetches."""

    def __init__(self, pki, jwks: dict) -> None:
        import http.server
        import ssl
        import threading

        owner = self
        self.document = json.dumps(jwks).encode()
        self.fetches = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server API)
                owner.fetches += 1
                if self.path != "/realms/prism/protocol/openid-connect/certs":
                    self.send_error(404)
                    return
                body = owner.document
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.server.cert, pki.server.key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://localhost:{self.httpd.server_address[1]}/realms/prism/protocol/openid-connect/certs"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve(self, jwks: dict) -> None:
        self.document = json.dumps(jwks).encode()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_over_https(tmp_path):
    from tls_util import Pki
    (tmp_path / "pki").mkdir()
    pki = Pki(tmp_path / "pki")
    servers = []

    def start(jwks: dict) -> JwksServer:
        server = JwksServer(pki, jwks)
        servers.append(server)
        return server

    yield pki, start
    for server in servers:
        server.close()


def url_server(start_server, url: str, ca, extra_plugins, **env):
    return start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": "jwt",
        "PRISM_AUTHN_OPT_JWKS_URL": url,
        "PRISM_AUTH_FETCH_CA_FILE": str(ca),
        "PRISM_AUTHN_OPT_ISSUER": ISSUER,
        "PRISM_AUTHN_OPT_AUDIENCE": AUDIENCE,
        "PRISM_AUTH_MAX_FAILURES": "0",
        **extra_plugins,
        **env,
    })


def test_jwks_url_is_fetched_over_https_and_refetched_for_an_unknown_kid(
        start_server, jwks_over_https, extra_plugins):
    pki, serve = jwks_over_https
    old, new = Keys("old-"), Keys("new-")
    idp = serve(old.jwks())
    srv = url_server(start_server, idp.url, pki.ca, extra_plugins,
                     PRISM_AUTH_FETCH_MIN_INTERVAL_SECS="0")
    status = lambda t: request(srv, "GET", IDENTITY, headers=bearer(t)).status_code
    assert status(old.token("ES256")) == 200
    fetched = idp.fetches
    assert fetched == 1, "fetched once at start"
    # The provider rotates its keys: a token signed with the new key names a
    # kid the host has not seen, so the host fetches the JWKS again at once.
    idp.serve(new.jwks())
    client = client_for(srv, new.token("RS256"))
    assert client.get_user_identity().user_id == "alice"
    assert idp.fetches == fetched + 1
    assert status(old.token("ES256")) == 401, "the rotated-away key still verifies"
    # A kid that is nowhere costs a fetch (min interval 0 here) and a 401.
    assert status(new.token("RS256", kid="nowhere")) == 401


def test_unknown_kids_do_not_hammer_the_identity_provider(start_server, jwks_over_https, extra_plugins):
    pki, serve = jwks_over_https
    keys = Keys()
    idp = serve(keys.jwks())
    srv = url_server(start_server, idp.url, pki.ca, extra_plugins)  # default min interval: 30 s
    for i in range(20):
        assert request(srv, "GET", IDENTITY, headers=bearer(keys.token("RS256", kid=f"k{i}"))).status_code == 401
    assert idp.fetches == 1, f"{idp.fetches} fetches for 20 unknown kids within the minimum interval"
    assert request(srv, "GET", IDENTITY, headers=bearer(keys.token("RS256"))).status_code == 200


def test_jwks_url_is_refreshed_on_its_interval(start_server, jwks_over_https, extra_plugins):
    pki, serve = jwks_over_https
    old, new = Keys("old-"), Keys("new-")
    idp = serve(old.jwks())
    srv = url_server(start_server, idp.url, pki.ca, extra_plugins, PRISM_AUTH_FETCH_REFRESH_SECS="1",
                     PRISM_AUTH_CACHE_TTL_SECS="0")
    status = lambda t: request(srv, "GET", IDENTITY, headers=bearer(t)).status_code
    assert status(old.token("EdDSA")) == 200
    idp.serve(new.jwks())
    within(6, lambda: status(old.token("EdDSA")) == 401)
    assert status(new.token("EdDSA")) == 200
    # The provider goes away: the last keys stay in force.
    idp.close()
    time.sleep(2.5)
    assert status(new.token("EdDSA")) == 200
    assert "fetching a plugin's document again failed" in srv.log_text(400000)


def test_jwks_url_must_be_https_and_trusted(start_server, jwks_over_https, extra_plugins, tmp_path):
    from auth_util import wait_refusal
    from tls_util import Pki
    pki, serve = jwks_over_https
    idp = serve(Keys().jwks())
    plain = idp.url.replace("https://", "http://")
    log = wait_refusal(start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": "jwt", "PRISM_AUTHN_OPT_JWKS_URL": plain,
        "PRISM_AUTHN_OPT_ISSUER": ISSUER, "PRISM_AUTHN_OPT_AUDIENCE": AUDIENCE,
        **extra_plugins}, wait=False))
    assert "PRISM_AUTHN_OPT_JWKS_URL" in log and "is not an https:// URL" in log, log
    # Signed by a CA the server was not told to trust.
    (tmp_path / "other-pki").mkdir()
    stranger = Pki(tmp_path / "other-pki").ca
    log = wait_refusal(start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": "jwt", "PRISM_AUTHN_OPT_JWKS_URL": idp.url,
        "PRISM_AUTH_FETCH_CA_FILE": str(stranger),
        "PRISM_AUTHN_OPT_ISSUER": ISSUER, "PRISM_AUTHN_OPT_AUDIENCE": AUDIENCE,
        **extra_plugins}, wait=False))
    assert "fetching " + idp.url in log and "certificate" in log.lower(), log


def test_a_console_session_ends_when_its_token_expires(jwt_server, keys):
    """The web console logs in with the token; the session it starts lasts no
    longer than the token (the plugin's `expires-at` attribute)."""
    import httpx

    srv, _, _ = jwt_server()
    console = httpx.Client(base_url=srv.url, follow_redirects=False, timeout=30)
    form = console.get("/console/login")
    assert 'name="token"' in form.text
    short = keys.token(exp=int(time.time()) + 3)
    r = console.post("/console/login", data={"token": short}, headers={"origin": srv.url})
    assert r.status_code == 303, r.text
    assert console.get("/console").status_code == 200
    within(10, lambda: console.get("/console").status_code == 303)
    assert console.get("/console").headers["location"].startswith("/console/login")
    # A token that is still valid logs in as before.
    r = console.post("/console/login", data={"token": keys.token()}, headers={"origin": srv.url})
    assert r.status_code == 303
    assert 'id="who">alice<' in console.get("/console").text

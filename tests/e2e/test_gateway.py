"""Gateway mode (`prism run --upstream URL`): Prism's auth in front of a real
`chroma run` from the chromadb wheel. What is the same as Prism's own API is
proven by the auth tests run with PRISM_E2E_TARGET=gateway and by Chroma's
own suite through a gateway (scripts/chroma-suite.sh --target gateway);
these tests cover what only a gateway has: the upstream's failures, what
crosses to it, TLS to it, scope checks of collection ids it holds, several
gateways over one upstream."""

from __future__ import annotations

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional

import httpx
import pytest

from auth_util import bearer, request, token_client
from conftest import ServerProcess, free_port
from e2e_util import assert_error, make_client, prism

pytestmark = [pytest.mark.auth, pytest.mark.prism_only("gateway mode is Prism's own")]

TOKENS = """\
users:
  - id: root
    tokens: [root-token]
  - id: alice
    tenant: acme
    databases: [docs]
    tokens: [alice-token]
"""

TOKEN_ENV = {"CHROMA_SERVER_AUTHN_PROVIDER": "token"}


@pytest.fixture
def upstream(tmp_path: Path):
    srv = ServerProcess("chroma", tmp_path / "upstream").start()
    yield srv
    srv.stop()


def gateway(start_server, upstream_url: str, env: Optional[Dict[str, str]] = None, wait: bool = True, **kw):
    return start_server(args=["--upstream", upstream_url], env=env or {}, wait=wait, **kw)


def token_env(tmp_path: Path, text: str = TOKENS) -> Dict[str, str]:
    users = tmp_path / "users.yaml"
    users.write_text(text)
    return {**TOKEN_ENV, "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users)}


def first_healthcheck(gw) -> httpx.Response:
    """The first answer of a gateway started without waiting (its readiness
    probe, the heartbeat, fails while the upstream does)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(gw.api + "/healthcheck", timeout=5)
        except httpx.HTTPError:
            assert time.monotonic() < deadline, gw.log_text()
            time.sleep(0.2)


class Recorder:
    """A stand-in upstream: records each request and answers from
    `answer(method, path) -> (status, body, delay)`."""

    def __init__(self, answer, tls: Optional[ssl.SSLContext] = None) -> None:
        self.seen: List[dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.seen.append({
                    "method": self.command, "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                })
                status, payload, delay = answer(self.command, self.path)
                time.sleep(delay)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def chroma_answers(method: str, path: str):
    if path.endswith("/heartbeat"):
        return 200, {"nanosecond heartbeat": 1}, 0
    if path.endswith("/healthcheck"):
        return 200, {"is_executor_ready": True, "is_log_client_ready": True}, 0
    return 404, {"error": "NotFoundError", "message": "nothing here"}, 0


def test_the_chroma_client_works_through_a_gateway_and_the_data_is_upstream(start_server, upstream):
    gw = gateway(start_server, upstream.url)
    client = make_client(gw)
    col = client.create_collection("notes", metadata={"topic": "gw"})
    col.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]],
            documents=["first", "second"], metadatas=[{"k": 1}, {"k": 2}])
    assert col.count() == 2
    assert col.get(where={"k": 2})["ids"] == ["b"]
    assert col.query(query_embeddings=[[1.0, 0.1]], n_results=1)["ids"] == [["a"]]
    # The records are the upstream's: seen there directly.
    direct = make_client(upstream).get_collection("notes")
    assert direct.id == col.id and direct.metadata == {"topic": "gw"}
    assert sorted(direct.get()["ids"]) == ["a", "b"]
    # Errors are the upstream's, in Chroma's shape, with Prism's trace id.
    r = request(gw, "GET", "/tenants/default_tenant/databases/default_database/collections/nope")
    assert_error(r, 404, error="NotFoundError")
    # The data directory is not opened in gateway mode.
    assert not any(gw.path.iterdir()) if gw.path.exists() else True


def test_credentials_never_reach_the_upstream_and_the_trace_id_does(start_server, tmp_path):
    fake = Recorder(chroma_answers)
    try:
        env = {**token_env(tmp_path), "CHROMA_AUTH_TOKEN_TRANSPORT_HEADER": "X-Chroma-Token"}
        gw = gateway(start_server, fake.url, env=env)
        r = httpx.get(
            gw.api + "/tenants/default_tenant/databases/default_database/collections/x",
            headers={"X-Chroma-Token": "root-token", "Authorization": "Bearer other",
                     "Cookie": "__Host-prism-session=s", "X-Custom": "kept"},
        )
        assert_error(r, 404)
        forwarded = [s for s in fake.seen if "/collections/x" in s["path"]]
        assert len(forwarded) == 1, fake.seen
        headers = forwarded[0]["headers"]
        for secret in ("x-chroma-token", "authorization", "cookie"):
            assert secret not in headers, headers
        assert headers["x-custom"] == "kept"
        assert headers["host"] == f"127.0.0.1:{fake.port}"
        trace = r.headers["chroma-trace-id"]
        assert headers["traceparent"].startswith(f"00-{trace}-"), headers
        assert headers["x-forwarded-for"] == "127.0.0.1"
    finally:
        fake.close()


def test_an_upstream_that_is_down_is_a_503_and_healthcheck_says_so(start_server, tmp_path):
    port = free_port()
    gw = gateway(start_server, f"http://127.0.0.1:{port}", wait=False)
    r = first_healthcheck(gw)
    body = assert_error(r, 503, error="ChromaError")
    assert "upstream" in body["message"] and str(port) not in body["message"], body
    assert_error(httpx.get(gw.api + "/heartbeat"), 503)
    r = request(gw, "GET", "/tenants/default_tenant/databases/default_database/collections")
    assert_error(r, 503)
    assert "unreachable" in gw.log_text() or "upstream" in gw.log_text()
    # The upstream comes up: served at once, no restart.
    up = ServerProcess("chroma", tmp_path / "late-upstream", port=port).start()
    try:
        assert httpx.get(gw.api + "/healthcheck").status_code == 200
        assert make_client(gw).list_collections() == []
    finally:
        up.stop()
    assert gw.running()


def test_an_upstream_too_slow_is_a_504(start_server):
    fake = Recorder(lambda m, p: chroma_answers(m, p) if "heartbeat" in p else (200, [], 3))
    try:
        gw = gateway(start_server, fake.url, env={"PRISM_UPSTREAM_TIMEOUT_SECS": "1"})
        started = time.monotonic()
        r = request(gw, "GET", "/tenants/default_tenant/databases/default_database/collections")
        body = assert_error(r, 504, error="ChromaError")
        assert "within 1 s" in body["message"], body
        assert time.monotonic() - started < 2.5
    finally:
        fake.close()


def test_a_collection_id_outside_the_tokens_scope_is_not_found(start_server, upstream, tmp_path):
    gw = gateway(start_server, upstream.url, env=token_env(tmp_path))
    root = bearer("root-token")
    assert request(gw, "POST", "/tenants", {"name": "acme"}, headers=root).status_code == 200
    assert request(gw, "POST", "/tenants/acme/databases", {"name": "docs"}, headers=root).status_code == 200
    other = make_client_with(gw, "root-token").create_collection("secret")
    mine = token_client(gw, "alice-token", tenant="acme", database="docs").create_collection("mine")
    alice = bearer("alice-token")
    # Her own collection by id: served.
    r = request(gw, "GET", f"/tenants/acme/databases/docs/collections/{mine.id}/count", headers=alice)
    assert r.status_code == 200 and r.json() == 0, r.text
    # Another tenant's collection, by id under her own tenant's path: the
    # upstream would serve it; the gateway does not.
    r = request(gw, "GET", f"/tenants/acme/databases/docs/collections/{other.id}/count", headers=alice)
    assert_error(r, 404, error="NotFoundError")
    r = request(gw, "POST", f"/tenants/acme/databases/docs/collections/{other.id}/add",
                {"ids": ["x"], "embeddings": [[1.0]]}, headers=alice)
    assert_error(r, 404)
    # Under its real path: her scope refuses it.
    r = request(gw, "GET", f"/tenants/default_tenant/databases/default_database/collections/{other.id}/count",
                headers=alice)
    assert r.status_code == 403, r.text
    assert make_client(upstream).get_collection("secret").count() == 0


def make_client_with(srv, token: str):
    return token_client(srv, token)


def test_two_gateways_over_one_upstream_share_the_data_and_reload_the_same_files(start_server, upstream, tmp_path):
    env = token_env(tmp_path)
    first = gateway(start_server, upstream.url, env=env)
    second = gateway(start_server, upstream.url, env=env)
    col = token_client(first, "root-token").create_collection("shared")
    col.add(ids=["a"], embeddings=[[1.0, 2.0]])
    assert token_client(second, "root-token").get_collection("shared").get()["ids"] == ["a"]
    # A token added to the shared file reaches both, live.
    users = Path(env["CHROMA_SERVER_AUTHN_CREDENTIALS_FILE"])
    users.write_text(TOKENS + "  - id: carol\n    tokens: [carol-token]\n")
    for gw in (first, second):
        deadline = time.monotonic() + 30
        while request(gw, "GET", "/auth/identity", headers=bearer("carol-token")).status_code != 200:
            assert time.monotonic() < deadline, gw.log_text()
            time.sleep(0.2)
    assert request(second, "GET", "/auth/identity", headers=bearer("carol-token")).json()["user_id"] == "carol"


def test_an_https_upstream_with_a_custom_ca_and_a_client_certificate(start_server, tmp_path):
    from tls_util import Pki

    (tmp_path / "pki").mkdir()
    pki = Pki(tmp_path / "pki")
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(str(pki.server.cert), str(pki.server.key))
    server_side.load_verify_locations(str(pki.ca))
    server_side.verify_mode = ssl.CERT_REQUIRED
    fake = Recorder(chroma_answers, tls=server_side)
    url = fake.url.replace("127.0.0.1", "localhost")
    try:
        trusted = {
            "PRISM_UPSTREAM_CA_FILE": str(pki.ca),
            "PRISM_UPSTREAM_CERT_FILE": str(pki.alice.cert),
            "PRISM_UPSTREAM_KEY_FILE": str(pki.alice.key),
        }
        gw = gateway(start_server, url, env=trusted)
        assert httpx.get(gw.api + "/healthcheck").status_code == 200
        # Without the client certificate the upstream refuses the handshake;
        # without the CA the gateway refuses the upstream's certificate.
        no_cert = gateway(start_server, url, env={"PRISM_UPSTREAM_CA_FILE": str(pki.ca)}, wait=False)
        untrusted = gateway(start_server, url, env={k: v for k, v in trusted.items() if k != "PRISM_UPSTREAM_CA_FILE"}, wait=False)
        for gw in (no_cert, untrusted):
            assert_error(first_healthcheck(gw), 503)
    finally:
        fake.close()


def test_a_body_over_the_limit_is_refused_before_the_upstream_sees_it(start_server):
    fake = Recorder(chroma_answers)
    try:
        gw = gateway(start_server, fake.url, env={"CHROMA_MAX_PAYLOAD_SIZE_BYTES": "1000"})
        path = "/tenants/default_tenant/databases/default_database/collections/00000000-0000-4000-8000-000000000000/add"
        r = request(gw, "POST", path, {"ids": ["x" * 2000], "embeddings": [[1.0]]})
        assert_error(r, 413)
        assert not any("/add" in s["path"] for s in fake.seen)
    finally:
        fake.close()


def test_upstream_settings_that_cannot_work_stop_the_start(tmp_path):
    for args, env, words in [
        (["--upstream", "chroma:8000"], {}, "scheme"),
        (["--upstream", "ftp://chroma"], {}, "neither http nor https"),
        (["--upstream", "http://u:p@chroma"], {}, "credentials in headers"),
        ([], {"PRISM_UPSTREAM_CA_FILE": "/ca.pem"}, "no upstream"),
        (["--upstream", "https://chroma", "--encryption-key-file", "/k"], {}, "no data directory to encrypt"),
    ]:
        done = prism("config", "check", "--path", str(tmp_path / "d"), *args, env=env, timeout=60)
        assert done.returncode != 0 and words in done.stderr, (args, done.stderr)
    done = prism("config", "check", "--upstream", "https://chroma.internal:8000", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "gateway to:     https://chroma.internal:8000" in done.stdout


def test_a_refused_request_leaves_its_connection_usable(start_server, upstream, tmp_path: Path):
    """A write refused by authorization has its body read (and dropped) before
    the refusal, so the connection carries the client's next request, even when
    the body arrives after the decision could have been made."""
    import socket

    env = token_env(tmp_path)
    gw = gateway(start_server, upstream.url, env=env)
    col = token_client(gw, "root-token").create_collection("kept-alive")
    path = f"/api/v2/tenants/default_tenant/databases/default_database/collections/{col.id}/add"
    body = json.dumps({"ids": ["a"], "embeddings": [[1.0, 2.0]]}).encode()
    with socket.create_connection((gw.host, gw.port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: prism\r\nAuthorization: Bearer alice-token\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        time.sleep(0.2)
        sock.sendall(body)
        reader = sock.makefile("rb")
        status = reader.readline()
        headers = {}
        while (line := reader.readline().strip()):
            name, value = line.decode().split(":", 1)
            headers[name.strip().lower()] = value.strip()
        reader.read(int(headers.get("content-length", "0")))
        assert b" 403 " in status, status
        assert headers.get("connection", "").lower() != "close", headers
        sock.sendall(b"GET /api/v2/heartbeat HTTP/1.1\r\nHost: prism\r\n\r\n")
        assert b" 200 " in reader.readline()

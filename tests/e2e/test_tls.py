"""HTTPS with rustls (--tls-cert / --tls-key, PRISM_TLS_*), and client
certificates (--tls-client-ca) whose verified subject reaches the auth
plugins.

The proof of Chroma's improvement proposal on SSL verify (CIP-01022024,
`chroma_server_ssl_verify`): the real chromadb client with `ssl=True` and
`chroma_server_ssl_verify=<ca.pem>` works against a server whose certificate
a test CA signed; the same client without the CA fails verification;
`chroma_server_ssl_verify=False` connects. Certificates are made here with
`cryptography`. Prism-only (Chroma's servers do not terminate TLS).
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path
from typing import Optional

import httpx
import pytest

from auth_util import plugin_dir, wait_refusal
from conftest import prism_bin
from tls_util import Issued, Pki, context, tls_args

pytestmark = pytest.mark.prism_only("TLS is terminated by Prism itself")


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def chroma_client(srv, **settings):
    import chromadb
    from chromadb.config import Settings

    return chromadb.HttpClient(
        host=srv.host, port=srv.port, ssl=True,
        settings=Settings(anonymized_telemetry=False, **settings),
    )


# ---------------------------------------------------------------------------
# Chroma's SSL verify proposal: the Python client over HTTPS
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def https_server(pki, start_module_server):
    return start_module_server(args=tls_args(pki.server), verify=context(pki.ca))


def test_python_client_verifies_the_server_with_the_ca(https_server, pki):
    client = chroma_client(https_server, chroma_server_ssl_verify=str(pki.ca))
    assert client.heartbeat() > 0
    col = client.get_or_create_collection("over-tls")
    col.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["x", "y"])
    got = col.query(query_embeddings=[[0.9, 0.1]], n_results=1)
    assert got["ids"] == [["a"]]
    assert got["documents"] == [["x"]]


def test_python_client_without_the_ca_fails_verification(https_server):
    with pytest.raises(Exception) as raised:
        chroma_client(https_server).heartbeat()
    # The client wraps the cause ("Could not connect to a Chroma server");
    # the chain must hold a certificate verification failure.
    chain, error = [], raised.value
    while error is not None:
        chain.append(repr(error))
        error = error.__cause__ or error.__context__
    assert any("CERTIFICATE_VERIFY_FAILED" in link for link in chain), chain


def test_python_client_with_verification_off_connects(https_server):
    client = chroma_client(https_server, chroma_server_ssl_verify=False)
    assert client.heartbeat() > 0
    assert "over-tls" in [c.name for c in client.list_collections()]


def test_plain_http_is_not_answered_on_the_tls_port(https_server):
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{https_server.host}:{https_server.port}/api/v2/heartbeat", timeout=5)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_are_served(https_server, pki, version):
    ctx = context(pki.ca, minimum_version=version, maximum_version=version)
    with socket.create_connection((https_server.host, https_server.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() == ("TLSv1.2" if version == ssl.TLSVersion.TLSv1_2 else "TLSv1.3")
            assert tls.selected_alpn_protocol() in (None, "http/1.1")


def test_tls_1_1_is_refused(https_server, pki):
    """rustls has no TLS 1.1; a client that offers only 1.1 (told to allow it
    at any cost) gets a handshake alert from the server."""
    ctx = context(pki.ca, minimum_version=ssl.TLSVersion.TLSv1_1, maximum_version=ssl.TLSVersion.TLSv1_1)
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection((https_server.host, https_server.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError) as refused:
            ctx.wrap_socket(raw, server_hostname="localhost")
    message = str(refused.value)
    assert "NO_PROTOCOLS_AVAILABLE" not in message, "this Python cannot offer TLS 1.1 at all"
    # An alert is the server's answer; a local refusal would carry none.
    assert "ALERT" in message.upper(), message


def test_a_slow_handshake_does_not_hold_up_others(https_server, pki):
    """A client that connects and says nothing must not block the accept loop."""
    idle = socket.create_connection((https_server.host, https_server.port), timeout=5)
    try:
        r = httpx.get(f"{https_server.api}/heartbeat", verify=context(pki.ca), timeout=5)
        assert r.status_code == 200
    finally:
        idle.close()


def test_rsa_certificates_and_env_vars(pki, start_server):
    srv = start_server(
        env={
            "PRISM_TLS_CERT": str(pki.server_rsa.cert),
            "PRISM_TLS_KEY": str(pki.server_rsa.key),
            "RUST_LOG": "info",
        },
        verify=context(pki.ca),
    )
    r = httpx.get(f"{srv.api}/heartbeat", verify=context(pki.ca), timeout=5)
    assert r.status_code == 200
    assert "listening on https://" in srv.log_text()


# ---------------------------------------------------------------------------
# refusing to start
# ---------------------------------------------------------------------------


def test_a_key_of_another_certificate_refuses_to_start(pki, start_server):
    srv = start_server(args=["--tls-cert", str(pki.server.cert), "--tls-key", str(pki.alice.key)], wait=False)
    out = wait_refusal(srv)
    assert "does not belong to the certificate" in out, out
    assert str(pki.alice.key) in out


@pytest.mark.parametrize("broken", ["missing", "garbage", "key-as-cert"])
def test_unreadable_certificates_refuse_to_start(pki, start_server, tmp_path, broken):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n")
    cert = {"missing": tmp_path / "nope.pem", "garbage": garbage, "key-as-cert": pki.server.key}[broken]
    srv = start_server(args=["--tls-cert", str(cert), "--tls-key", str(pki.server.key)], wait=False)
    out = wait_refusal(srv)
    assert str(cert) in out, out
    assert "TLS certificate" in out, out


def test_a_certificate_without_a_key_is_a_usage_error(pki, start_server):
    srv = start_server(args=["--tls-cert", str(pki.server.cert)], wait=False)
    out = wait_refusal(srv)
    assert "--tls-key" in out, out


def test_config_check_validates_tls(pki):
    def check(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(prism_bin()), "config", "check", "--path", str(pki.dir / "data"), *args],
            capture_output=True, text=True, timeout=60,
        )

    good = check(*tls_args(pki.server, client_ca=pki.ca))
    assert good.returncode == 0, good.stderr
    assert str(pki.server.cert) in good.stdout
    assert "Required" in good.stdout
    bad = check("--tls-cert", str(pki.server.cert), "--tls-key", str(pki.bob.key))
    assert bad.returncode == 1
    assert "does not belong" in bad.stderr


# ---------------------------------------------------------------------------
# client certificates
# ---------------------------------------------------------------------------


def heartbeat(srv, ca: Path, client: Optional[Issued]) -> int:
    return httpx.get(f"{srv.api}/heartbeat", verify=context(ca, client), timeout=5).status_code


@pytest.fixture(scope="module")
def mtls_server(pki, start_module_server):
    return start_module_server(
        args=tls_args(pki.server, client_ca=pki.ca), verify=context(pki.ca, pki.alice)
    )


def test_required_client_certificates(mtls_server, pki):
    assert heartbeat(mtls_server, pki.ca, pki.alice) == 200
    assert heartbeat(mtls_server, pki.ca, pki.bob) == 200
    for client in (None, pki.mallory):
        with pytest.raises(httpx.HTTPError):
            heartbeat(mtls_server, pki.ca, client)


def identity(srv, ca: Path, client: Optional[Issued]) -> httpx.Response:
    return httpx.get(f"{srv.api}/auth/identity", verify=context(ca, client), timeout=5)


def test_the_verified_subject_reaches_the_plugin(pki, start_server, tmp_path):
    """mTLS as the only credential: the example client-cert plugin takes the
    verified subject as the identity; no certificate means no identity."""
    plugins = plugin_dir(tmp_path / "plugins", **{"client-cert.wasm": "examples/client-cert.wasm"})
    srv = start_server(
        args=tls_args(pki.server, client_ca=pki.ca, client_auth="optional"),
        env={"PRISM_PLUGIN_DIR": str(plugins), "CHROMA_SERVER_AUTHN_PROVIDER": "client-cert"},
        verify=context(pki.ca),
    )
    alice = identity(srv, pki.ca, pki.alice)
    assert alice.status_code == 200, alice.text
    assert alice.json()["user_id"] == "alice"
    assert pki.alice.subject == "CN=alice,O=Example\\, Inc.,C=NL"
    bob = identity(srv, pki.ca, pki.bob)
    assert bob.json()["user_id"] == "bob"
    anonymous = identity(srv, pki.ca, None)
    assert anonymous.status_code == 403
    assert anonymous.json() == {"error": "AuthError", "message": "Forbidden"}
    # A certificate from another CA never gets as far as the plugin.
    with pytest.raises(httpx.HTTPError):
        identity(srv, pki.ca, pki.mallory)


def test_subjects_map_to_scoped_users(pki, start_server, tmp_path):
    plugins = plugin_dir(tmp_path / "plugins", **{"client-cert.wasm": "examples/client-cert.wasm"})
    subjects = tmp_path / "subjects.yaml"
    subjects.write_text(
        "subjects:\n"
        f"  - subject: '{pki.alice.subject}'\n"
        "    user: alice-admin\n"
        "    tenant: default_tenant\n"
        "    databases: [default_database]\n"
    )
    srv = start_server(
        args=tls_args(pki.server, client_ca=pki.ca),
        env={
            "PRISM_PLUGIN_DIR": str(plugins),
            "CHROMA_SERVER_AUTHN_PROVIDER": "client-cert",
            "PRISM_AUTHN_OPT_SUBJECTS_FILE": str(subjects),
        },
        verify=context(pki.ca, pki.alice),
    )
    alice = identity(srv, pki.ca, pki.alice).json()
    assert alice["user_id"] == "alice-admin"
    assert alice["tenant"] == "default_tenant"
    assert alice["databases"] == ["default_database"]
    # bob's certificate is valid but his subject is not listed.
    assert identity(srv, pki.ca, pki.bob).status_code == 403
    # The scope holds: another database is out of reach.
    r = httpx.post(
        f"{srv.api}/tenants/default_tenant/databases",
        json={"name": "elsewhere"},
        verify=context(pki.ca, pki.alice),
        timeout=5,
    )
    assert r.status_code == 403, r.text


# ---------------------------------------------------------------------------
# `prism healthcheck` (the image's HEALTHCHECK), over HTTP and HTTPS
# ---------------------------------------------------------------------------


def healthcheck(port: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(prism_bin()), "healthcheck", "--host", "127.0.0.1", "--port", str(port), *args],
        capture_output=True, text=True, timeout=30,
    )


def test_healthcheck(https_server, mtls_server, pki, start_server):
    plain = start_server()
    assert healthcheck(plain.port).returncode == 0
    # HTTPS: only the server's own certificate is accepted.
    ok = healthcheck(https_server.port, *tls_args(pki.server))
    assert ok.returncode == 0, ok.stderr
    wrong_pin = healthcheck(https_server.port, *tls_args(pki.server_rsa))
    assert wrong_pin.returncode == 1
    assert "not the certificate of --tls-cert" in wrong_pin.stderr, wrong_pin.stderr
    # A server that requires client certificates has answered the handshake.
    mtls = healthcheck(mtls_server.port, *tls_args(pki.server, client_ca=pki.ca))
    assert mtls.returncode == 0, mtls.stderr
    assert "requires a client certificate" in mtls.stdout
    # Speaking plain HTTP to HTTPS, or to nothing, is unhealthy.
    no_tls = healthcheck(https_server.port)
    assert no_tls.returncode == 1
    assert "speaks TLS" in no_tls.stderr and "--tls-cert" in no_tls.stderr, no_tls.stderr
    plain.stop()
    down = healthcheck(plain.port)
    assert down.returncode == 1
    assert "cannot connect" in down.stderr


# ---------------------------------------------------------------------------
# renewed certificates are served without a restart
# ---------------------------------------------------------------------------


def served_certificate(port: int) -> bytes:
    """The DER certificate a fresh connection is served."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.getpeercert(binary_form=True)


def der(issued: Issued) -> bytes:
    return ssl.PEM_cert_to_DER_cert(issued.cert.read_text())


@pytest.mark.prism_only("Prism reloads its certificate files")
def test_a_renewed_certificate_is_served_and_a_broken_one_is_not(pki, start_server, tmp_path):
    import os
    import shutil
    import time

    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "server.pem", live / "server-key.pem"

    def install(issued: Issued) -> None:
        # Renewal tools write both files; each lands by rename.
        for src, dst in ((issued.key, key), (issued.cert, cert)):
            staged = dst.with_suffix(".tmp")
            shutil.copyfile(src, staged)
            os.replace(staged, dst)

    install(pki.server)
    srv = start_server(
        args=["--tls-cert", str(cert), "--tls-key", str(key)],
        verify=context(pki.ca),
        env={"RUST_LOG": "info"},
    )
    assert served_certificate(srv.port) == der(pki.server)
    # An open connection keeps working across the renewal.
    client = httpx.Client(base_url=srv.api, verify=context(pki.ca))
    assert client.get("/heartbeat").status_code == 200

    install(pki.server_rsa)
    deadline = time.monotonic() + 2.0
    while served_certificate(srv.port) != der(pki.server_rsa):
        assert time.monotonic() < deadline, "the renewed certificate was not served within 2 s"
        time.sleep(0.05)
    assert client.get("/heartbeat").status_code == 200
    assert httpx.get(f"{srv.api}/heartbeat", verify=context(pki.ca)).status_code == 200

    # A broken replacement (a key of another certificate) keeps the last good pair.
    shutil.copyfile(pki.server.key, key)
    time.sleep(1.5)
    assert served_certificate(srv.port) == der(pki.server_rsa)
    assert httpx.get(f"{srv.api}/heartbeat", verify=context(pki.ca)).status_code == 200
    assert srv.running()
    log = srv.log_text(50000)
    assert "TLS certificate reloaded" in log, log
    assert "previous certificate stays in force" in log, log

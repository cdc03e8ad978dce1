"""HTTPS with rustls (--tls-cert / --tls-key, PRISM_TLS_*), and client
certificates (--tls-client-ca) whose verified subject reaches the auth
plugins.

The proof of seed 002: the real chromadb client with `ssl=True` and
`chroma_server_ssl_verify=<ca.pem>` works against a server whose certificate
a test CA signed; the same client without the CA fails verification;
`chroma_server_ssl_verify=False` connects. Certificates are made here with
`cryptography`. Prism-only (Chroma's servers do not terminate TLS).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from auth_util import plugin_dir, wait_refusal
from conftest import prism_bin

pytestmark = pytest.mark.prism_only("TLS is terminated by Prism itself")

NOW = dt.datetime.now(dt.timezone.utc)


# ---------------------------------------------------------------------------
# a test PKI
# ---------------------------------------------------------------------------


@dataclass
class Issued:
    cert: Path
    key: Path
    subject: str  # RFC 4514, as Prism renders it


def _name(**attrs: str) -> x509.Name:
    oids = {"C": NameOID.COUNTRY_NAME, "O": NameOID.ORGANIZATION_NAME, "CN": NameOID.COMMON_NAME}
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in attrs.items()])


def _write(dir: Path, stem: str, cert: x509.Certificate, key) -> Issued:
    cert_path, key_path = dir / f"{stem}.pem", dir / f"{stem}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return Issued(cert_path, key_path, cert.subject.rfc4514_string())


class Authority:
    """A CA that signs server and client certificates."""

    def __init__(self, dir: Path, name: str) -> None:
        self.dir = dir
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(O="Prism tests", CN=name)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.pem = _write(dir, name, self.cert, self.key).cert

    def issue(self, stem: str, subject: x509.Name, server: bool, rsa_key: bool = False) -> Issued:
        key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if rsa_key
               else ec.generate_private_key(ec.SECP256R1()))
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ), critical=False)
        )
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]), critical=False)
        return _write(self.dir, stem, builder.sign(self.key, hashes.SHA256()), key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    dir = tmp_path_factory.mktemp("pki")
    ca = Authority(dir, "test-ca")
    rogue = Authority(dir, "rogue-ca")

    class Pki:
        pass

    p = Pki()
    p.dir = dir
    p.ca = ca.pem
    p.server = ca.issue("server", _name(CN="localhost"), server=True)
    # An RSA chain too: both key types load.
    p.server_rsa = ca.issue("server-rsa", _name(CN="localhost"), server=True, rsa_key=True)
    p.alice = ca.issue("alice", _name(C="NL", O="Example, Inc.", CN="alice"), server=False)
    p.bob = ca.issue("bob", _name(O="Example", CN="bob"), server=False)
    p.mallory = rogue.issue("mallory", _name(O="Example", CN="alice"), server=False)
    return p


def tls_args(issued: Issued, client_ca: Optional[Path] = None, client_auth: Optional[str] = None) -> List[str]:
    args = ["--tls-cert", str(issued.cert), "--tls-key", str(issued.key)]
    if client_ca:
        args += ["--tls-client-ca", str(client_ca)]
    if client_auth:
        args += ["--tls-client-auth", client_auth]
    return args


def context(ca: Optional[Path], client: Optional[Issued] = None, **versions) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
    for attr, value in versions.items():
        setattr(ctx, attr, value)
    if client:
        ctx.load_cert_chain(str(client.cert), str(client.key))
    return ctx


def chroma_client(srv, **settings):
    import chromadb
    from chromadb.config import Settings

    return chromadb.HttpClient(
        host=srv.host, port=srv.port, ssl=True,
        settings=Settings(anonymized_telemetry=False, **settings),
    )


# ---------------------------------------------------------------------------
# seed 002: the Python client over HTTPS
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

"""A test PKI for the TLS tests (tests/e2e/test_tls.py, tests/image): a CA,
server certificates for localhost/127.0.0.1, client certificates, and a
rogue CA, made with `cryptography`."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.timezone.utc)


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


class Pki:
    """Everything the tests use, written as PEM files into `dir`."""

    def __init__(self, dir: Path) -> None:
        ca = Authority(dir, "test-ca")
        rogue = Authority(dir, "rogue-ca")
        self.dir = dir
        self.ca = ca.pem
        self.server = ca.issue("server", _name(CN="localhost"), server=True)
        # An RSA chain too: both key types load.
        self.server_rsa = ca.issue("server-rsa", _name(CN="localhost"), server=True, rsa_key=True)
        self.alice = ca.issue("alice", _name(C="NL", O="Example, Inc.", CN="alice"), server=False)
        self.bob = ca.issue("bob", _name(O="Example", CN="bob"), server=False)
        self.mallory = rogue.issue("mallory", _name(O="Example", CN="alice"), server=False)


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

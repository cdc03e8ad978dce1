"""Helpers for the authentication/authorization e2e tests (test_auth_*.py).

Credentials files are made the way operators make them: Apache's `htpasswd -B`
and Python's `bcrypt.hashpw` for Basic auth, Chroma's YAML for token users and
for RBAC. Plugins (.wasm) are taken from `target/plugins/` (built by
scripts/build-plugins.sh).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Optional

import httpx
import pytest

from e2e_util import IS_ANY_CHROMA, IS_CHROMA_PYTHON, assert_error

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGINS_DIR = REPO_ROOT / "target" / "plugins"
HTPASSWD = os.environ.get("HTPASSWD_BIN", "/usr/bin/htpasswd")

BASIC_CLIENT = "chromadb.auth.basic_authn.BasicAuthClientProvider"
TOKEN_CLIENT = "chromadb.auth.token_authn.TokenAuthClientProvider"
BASIC_SERVER = "chromadb.auth.basic_authn.BasicAuthenticationServerProvider"
TOKEN_SERVER = "chromadb.auth.token_authn.TokenAuthenticationServerProvider"
RBAC_SERVER = "chromadb.auth.simple_rbac_authz.SimpleRBACAuthorizationProvider"

# The body of every authentication failure (Chroma's Python server and Prism)
# and of Prism's authorization denials.
FORBIDDEN = {"error": "AuthError", "message": "Forbidden"}

# Public routes (no credentials needed). Chroma's Python server has no
# /healthcheck (404), the Rust server and Prism have it.
PUBLIC_GETS = ["", "/heartbeat", "/version", "/pre-flight-checks"] + (
    [] if IS_CHROMA_PYTHON else ["/healthcheck"]
)

DB = "/tenants/default_tenant/databases/default_database"
# A collection id that exists nowhere: authentication comes before the lookup.
SOME_ID = "8a1f9a1c-6f7e-4b43-9b6c-2b8e6d3c9f10"
# (method, path relative to /api/v2, JSON body) of routes that need
# authentication.
PROTECTED = [
    ("GET", "/auth/identity", None),
    ("POST", "/tenants", {"name": "t-new"}),
    ("GET", "/tenants/default_tenant", None),
    ("GET", "/tenants/default_tenant/databases", None),
    ("POST", "/tenants/default_tenant/databases", {"name": "db-new"}),
    ("GET", DB, None),
    ("DELETE", "/tenants/default_tenant/databases/some_db", None),
    ("GET", f"{DB}/collections", None),
    ("GET", f"{DB}/collections_count", None),
    ("POST", f"{DB}/collections", {"name": "c-new"}),
    ("GET", f"{DB}/collections/some-name", None),
    ("DELETE", f"{DB}/collections/some-name", None),
    ("PUT", f"{DB}/collections/{SOME_ID}", {"new_name": "x"}),
    ("POST", f"{DB}/collections/{SOME_ID}/add", {"ids": ["a"], "embeddings": [[1.0, 2.0]]}),
    ("POST", f"{DB}/collections/{SOME_ID}/upsert", {"ids": ["a"], "embeddings": [[1.0, 2.0]]}),
    ("POST", f"{DB}/collections/{SOME_ID}/update", {"ids": ["a"]}),
    ("POST", f"{DB}/collections/{SOME_ID}/get", {}),
    ("POST", f"{DB}/collections/{SOME_ID}/query", {"query_embeddings": [[1.0, 2.0]], "n_results": 1}),
    ("POST", f"{DB}/collections/{SOME_ID}/delete", {"ids": ["a"]}),
    ("GET", f"{DB}/collections/{SOME_ID}/count", None),
    ("POST", "/reset", None),
]


def route_id(route: tuple) -> str:
    return f"{route[0]} {route[1] or '/'}"


# ---------------------------------------------------------------------------
# plugins
# ---------------------------------------------------------------------------


def plugin_file(relative: str) -> Path:
    """A plugin from target/plugins/ (e.g. "examples/api-keys.wasm"); fails
    the test with instructions when it has not been built."""
    p = PLUGINS_DIR / relative
    if not p.is_file():
        pytest.fail(
            f"plugin {p} is missing: build the plugins with scripts/build-plugins.sh",
            pytrace=False,
        )
    return p


def plugin_dir(dest: Path, **files: str) -> Path:
    """A plugin directory `dest` holding copies of plugins: name=relative, e.g.
    plugin_dir(d, **{"a.wasm": "fixtures/misbehaving.wasm"})."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, relative in files.items():
        shutil.copyfile(plugin_file(relative), dest / name)
    return dest


# ---------------------------------------------------------------------------
# credentials
# ---------------------------------------------------------------------------


def need_htpasswd() -> str:
    if not Path(HTPASSWD).exists() and not shutil.which("htpasswd"):
        pytest.fail(
            f"{HTPASSWD} not found: install apache2-utils (or set HTPASSWD_BIN)",
            pytrace=False,
        )
    return HTPASSWD if Path(HTPASSWD).exists() else shutil.which("htpasswd")  # type: ignore[return-value]


def apache_htpasswd(path: Path, user: str, password: str, cost: int = 5, create: bool = False,
                    scheme: str = "-B") -> str:
    """Add `user` to the htpasswd file `path` with Apache's tool (`htpasswd
    -B -C cost -b [-c]`); returns the line written."""
    cmd = [need_htpasswd()]
    if create:
        cmd.append("-c")
    cmd.append(scheme)
    if scheme == "-B":
        cmd += ["-C", str(cost)]
    cmd += ["-b", str(path), user, password]
    subprocess.run(cmd, check=True, capture_output=True)
    for line in path.read_text().splitlines():
        if line.startswith(user + ":"):
            return line
    raise AssertionError(f"htpasswd did not write {user}: {path.read_text()}")


def bcrypt_line(user: str, password: str, cost: int = 4, prefix: bytes = b"2b") -> str:
    """`user:hash` made with Python's bcrypt (what Chroma's docs suggest)."""
    import bcrypt

    h = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost, prefix=prefix))
    return f"{user}:{h.decode()}"


def basic_header(user: str, password: str) -> Dict[str, str]:
    raw = f"{user}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def bearer(token: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sha256_hex(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# ---------------------------------------------------------------------------
# clients
# ---------------------------------------------------------------------------


def _settings(**kw: Any):
    from chromadb.config import Settings

    return Settings(allow_reset=True, anonymized_telemetry=False, **kw)


def basic_client(srv: Any, user: str, password: str, **kwargs: Any):
    """chromadb.HttpClient with Chroma's Basic client provider."""
    import chromadb

    extra = kwargs.pop("settings_extra", {})
    return chromadb.HttpClient(
        host=srv.host,
        port=srv.port,
        settings=_settings(
            chroma_client_auth_provider=BASIC_CLIENT,
            chroma_client_auth_credentials=f"{user}:{password}",
            **extra,
        ),
        **kwargs,
    )


def token_client(srv: Any, token: str, header: Optional[str] = None, **kwargs: Any):
    """chromadb.HttpClient with Chroma's token client provider; `header` is
    chroma_auth_token_transport_header (None: the client's default,
    Authorization: Bearer)."""
    import chromadb

    extra = kwargs.pop("settings_extra", {})
    if header is not None:
        extra["chroma_auth_token_transport_header"] = header
    return chromadb.HttpClient(
        host=srv.host,
        port=srv.port,
        settings=_settings(
            chroma_client_auth_provider=TOKEN_CLIENT,
            chroma_client_auth_credentials=token,
            **extra,
        ),
        **kwargs,
    )


def header_client(srv: Any, headers: Dict[str, str], **kwargs: Any):
    """chromadb.HttpClient sending raw `headers=` (no client auth provider)."""
    import chromadb

    extra = kwargs.pop("settings_extra", {})
    return chromadb.HttpClient(
        host=srv.host, port=srv.port, headers=headers, settings=_settings(**extra), **kwargs
    )


def admin_client(srv: Any, headers: Dict[str, str]):
    import chromadb

    return chromadb.AdminClient(
        _settings(
            chroma_api_impl="chromadb.api.fastapi.FastAPI",
            chroma_server_host=srv.host,
            chroma_server_http_port=srv.port,
            chroma_server_headers=headers,
        )
    )


def http(srv: Any, headers: Optional[Dict[str, str]] = None, timeout: float = 60) -> httpx.Client:
    return httpx.Client(base_url=srv.api, headers=headers or {}, timeout=timeout)


def request(srv: Any, method: str, path: str, body: Any = None,
            headers: Optional[Dict[str, str]] = None, timeout: float = 60) -> httpx.Response:
    """`method` on /api/v2`path` (absolute URL: httpx would turn base_url +
    "" into ".../api/v2/", a 404 on Chroma's Rust server and Prism)."""
    url = srv.api + path
    with httpx.Client(headers=headers or {}, timeout=timeout) as h:
        if body is None:
            return h.request(method, url)
        return h.request(method, url, json=body)


# ---------------------------------------------------------------------------
# assertions
# ---------------------------------------------------------------------------


def assert_authn_forbidden(resp: httpx.Response) -> None:
    """An authentication failure: 403 {"error":"AuthError","message":"Forbidden"}
    exactly (Chroma's Python server and Prism alike)."""
    assert_error(resp, 403)
    assert resp.json() == FORBIDDEN, resp.text


def assert_authz_forbidden(resp: httpx.Response) -> None:
    """An authorization denial: 403 with "Forbidden". Chroma's Python server
    answers {"detail":"Forbidden"} (FastAPI's HTTPException); Prism answers in
    Chroma's error shape, {"error":"AuthError","message":"Forbidden"} — a
    documented difference."""
    assert resp.status_code == 403, f"expected 403, got {resp.status_code}: {resp.text}"
    if IS_ANY_CHROMA:
        assert "Forbidden" in resp.text, resp.text
    else:
        assert_error(resp, 403)
        assert resp.json() == FORBIDDEN, resp.text


def assert_unavailable(resp: httpx.Response) -> Dict[str, Any]:
    """A plugin failure: 503 {"error":"AuthError","message": "...unavailable..."}."""
    body = assert_error(resp, 503, error="AuthError")
    msg = body["message"].lower()
    assert "unavailable" in msg and "auth" in msg, body
    return body


def raises_authz_denial():
    """pytest.raises for an authorization denial seen through the Python
    client. Prism answers {"error":"AuthError","message":"Forbidden"}, which
    the client raises as ChromaAuthError("Forbidden"). Chroma's Python server
    answers {"detail":"Forbidden"}: the client raises a bare
    Exception('{"detail":"Forbidden"}'), and while it is being constructed
    (its get_tenant check) turns that into ValueError("Could not connect to
    tenant ... Are you sure it exists?")."""
    if IS_ANY_CHROMA:
        return pytest.raises(Exception, match="Forbidden|Could not connect to tenant")
    from chromadb.errors import ChromaAuthError

    return pytest.raises(ChromaAuthError, match="^Forbidden$")


def identity(srv: Any, headers: Dict[str, str]) -> Dict[str, Any]:
    r = request(srv, "GET", "/auth/identity", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def wait_refusal(srv: Any, timeout: float = 90) -> str:
    """Wait for a server started with wait=False to exit; assert it exited
    non-zero without ever serving, and return its output (stdout+stderr)."""
    deadline = time.monotonic() + timeout
    assert srv.proc is not None
    while time.monotonic() < deadline:
        if srv.proc.poll() is not None:
            break
        try:
            r = httpx.get(f"{srv.api}/heartbeat", timeout=1)
            if r.status_code == 200:
                srv.kill()
                raise AssertionError(
                    f"server started although it should have refused to; log:\n{srv.log_text()}"
                )
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    else:
        srv.kill()
        raise AssertionError(f"server neither served nor exited in {timeout}s; log:\n{srv.log_text()}")
    rc = srv.proc.returncode
    text = srv.log_text(tail=20000)
    srv.stop()
    assert rc != 0, f"exit status {rc}; log:\n{text}"
    return text


def start_refused(start_server: Any, env: Dict[str, str]) -> str:
    """Start a server that must refuse to start; returns its output."""
    srv = start_server(env=env, wait=False)
    return wait_refusal(srv)

"""Small helpers shared by the e2e tests (imported as a plain module; pytest
puts this directory on sys.path)."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
from typing import Any, Dict, Optional

import httpx

# "chroma" runs the tests against the real Chroma (the Rust `chroma run`);
# "chroma-python" against Chroma's Python server (`uvicorn chromadb.app:app`,
# the only Chroma 1.5.9 server with authentication; used for the auth tests);
# anything else against Prism.
TARGET = os.environ.get("PRISM_E2E_TARGET", "prism").strip().lower() or "prism"
IS_CHROMA = TARGET == "chroma"
IS_CHROMA_PYTHON = TARGET in ("chroma-python", "chroma_python", "python")
if IS_CHROMA_PYTHON:
    TARGET = "chroma-python"
IS_ANY_CHROMA = IS_CHROMA or IS_CHROMA_PYTHON
# "gateway": Prism in gateway mode (`prism run --upstream URL`) in front of
# a `chroma run` started with it; the auth tests (GATEWAY_MODULES) run.
IS_GATEWAY = TARGET == "gateway"

DEFAULT_TENANT = "default_tenant"
DEFAULT_DATABASE = "default_database"
DB = f"/tenants/{DEFAULT_TENANT}/databases/{DEFAULT_DATABASE}"

ALL_GET = ["embeddings", "documents", "metadatas", "uris"]
ALL_QUERY = ["embeddings", "documents", "metadatas", "uris", "distances"]


def coll_path(col: Any, tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE) -> str:
    """Path (relative to /api/v2) of a collection's record routes (by UUID)."""
    return f"/tenants/{tenant}/databases/{database}/collections/{col.id}"


def assert_error(
    resp: httpx.Response,
    status: int,
    error: Optional[str] = None,
    message: Optional[str] = None,
    message_re: Optional[str] = None,
) -> Dict[str, Any]:
    """A Chroma-style error response: `status`, JSON body {"error","message"},
    and a chroma-trace-id header. `message` is an exact match, `message_re` a
    regex searched in the message."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text}"
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict), body
    assert set(body) >= {"error", "message"}, body
    assert isinstance(body["error"], str) and isinstance(body["message"], str), body
    if error is not None:
        assert body["error"] == error, body
    if message is not None:
        assert body["message"] == message, body
    if message_re is not None:
        assert re.search(message_re, body["message"]), body
    assert "chroma-trace-id" in resp.headers, dict(resp.headers)
    return body


def snapshot(col: Any) -> Dict[str, Any]:
    """Everything observable about a collection's records, for before/after
    comparisons around rejected writes."""
    got = col.get(include=["embeddings", "documents", "metadatas", "uris"])
    emb = got["embeddings"]
    return {
        "count": col.count(),
        "ids": list(got["ids"]),
        "embeddings": [list(map(float, e)) for e in emb] if emb is not None else None,
        "documents": got["documents"],
        "metadatas": got["metadatas"],
        "uris": got["uris"],
    }


def by_id(result: Dict[str, Any], field: str) -> Dict[str, Any]:
    """Map id -> value of `field` in a get() result."""
    return dict(zip(result["ids"], result[field]))


def as_lists(embeddings: Any) -> Any:
    if embeddings is None:
        return None
    return [[float(x) for x in e] for e in embeddings]


def make_client(srv: Any, **kwargs):
    import chromadb
    from chromadb.config import Settings

    return chromadb.HttpClient(
        host=srv.host,
        port=srv.port,
        settings=Settings(allow_reset=True, anonymized_telemetry=False),
        **kwargs,
    )


def make_admin(srv: Any):
    import chromadb
    from chromadb.config import Settings

    return chromadb.AdminClient(
        Settings(
            chroma_api_impl="chromadb.api.fastapi.FastAPI",
            chroma_server_host=srv.host,
            chroma_server_http_port=srv.port,
            allow_reset=True,
            anonymized_telemetry=False,
        )
    )


def post_oversized(host: str, port: int, path: str, size: int, prefix: bytes = b"") -> Optional[httpx.Response]:
    """POST a body of `size` bytes (starting with `prefix`) over a plain socket,
    stopping early if the server answers or closes while we are still sending.
    Returns the parsed response, or None when the connection was dropped
    without any response."""
    s = socket.create_connection((host, port), timeout=60)
    try:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {size}\r\n"
            f"Connection: close\r\n\r\n".encode()
        )
        chunk = b"a" * 65536
        sent = 0
        first = prefix[:size]
        while sent < size:
            readable, _, _ = select.select([s], [], [], 0)
            if readable:
                break
            piece = first if first else chunk[: min(len(chunk), size - sent)]
            first = b""
            try:
                s.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        raw = b""
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                raw += data
        except (ConnectionResetError, socket.timeout):
            pass
    finally:
        s.close()
    if b"\r\n\r\n" not in raw:
        return None
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if ":" in line]
    if any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in headers):
        # de-chunk
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            n = int(size_line.split(b";")[0] or b"0", 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
        headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
    return httpx.Response(status, headers=headers, content=body)


def prism(*args: str, timeout: float = 300, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """Run the `prism` binary under test with `args` and no stdin, its output
    captured; `env` is added to this process's environment."""
    from conftest import prism_bin  # here: conftest imports this module

    return subprocess.run(
        [str(prism_bin()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env} if env else None,
    )

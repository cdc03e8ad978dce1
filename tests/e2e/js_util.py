"""Reads through the real JavaScript `chromadb` client (npm), for tests that
show what a JS user sees. Runs tests/js/reads.mjs with node; scripts/setup-js.sh
installs node and the client (tests/js/node_modules)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

JS_DIR = Path(__file__).resolve().parent.parent / "js"
READS = JS_DIR / "reads.mjs"

# Variables reads.mjs reads; never inherited from the caller's environment.
_JS_ENV = ("JS_QUERY_EMBEDDING", "JS_GET_IDS", "JS_TENANT", "JS_DATABASE")


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise AssertionError("node not found: run scripts/setup-js.sh")
    if not (JS_DIR / "node_modules" / "chromadb").is_dir():
        raise AssertionError(f"{JS_DIR}/node_modules has no chromadb: run scripts/setup-js.sh")
    return node


def _base_url(srv: Any) -> str:
    url = getattr(srv, "url", None)
    if isinstance(url, str) and url:
        return url
    host = srv.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{srv.port}"


def js_reads(
    srv: Any,
    collection: str,
    headers: Optional[Dict[str, str]] = None,
    query: Optional[Sequence[float]] = None,
    get_ids: Optional[Sequence[str]] = None,
    *,
    tenant: Optional[str] = None,
    database: Optional[str] = None,
    timeout: float = 60,
) -> Dict[str, Any]:
    """Read `collection` on `srv` with the JS client, sending `headers`.

    Returns {"get_ids", "count", "peek_ids", "query_ids", "get_by_ids"}: the
    sorted ids of get(), count(), the sorted ids of peek({limit: 100}), of the
    first row of query({queryEmbeddings: [query], nResults: 10}) (query
    defaults to [1, 0]) and of get({ids: get_ids}) ([] without get_ids: the JS
    client refuses an empty id list itself).

    Raises AssertionError (with node's stdout and stderr) when node fails; the
    JS client's error is then in its stdout as {"error": <class name>, "name",
    "message"}, e.g. ChromaForbiddenError for a 403, ChromaUnauthorizedError
    for a 401, ChromaNotFoundError for a 404. Use js_reads_error() to get it.
    """
    proc = _run(srv, collection, headers, query, get_ids, tenant, database, timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f"node reads.mjs failed (exit {proc.returncode}) against {_base_url(srv)} "
            f"collection {collection!r}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
        )
    return _parse(proc)


def js_reads_error(
    srv: Any,
    collection: str,
    headers: Optional[Dict[str, str]] = None,
    **kwargs: Any,
) -> Dict[str, Any]:
    """Like js_reads, for a read that must fail: returns the JS client's error
    {"error": <class name>, "name", "message"}; AssertionError when node
    succeeds instead."""
    proc = _run(
        srv,
        collection,
        headers,
        kwargs.pop("query", None),
        kwargs.pop("get_ids", None),
        kwargs.pop("tenant", None),
        kwargs.pop("database", None),
        kwargs.pop("timeout", 60),
    )
    if kwargs:
        raise TypeError(f"unexpected arguments: {sorted(kwargs)}")
    out = _parse(proc)
    if proc.returncode == 0 or "error" not in out:
        raise AssertionError(f"expected the JS client to fail, got (exit {proc.returncode}): {out}")
    return out


def _run(
    srv: Any,
    collection: str,
    headers: Optional[Dict[str, str]],
    query: Optional[Sequence[float]],
    get_ids: Optional[Sequence[str]],
    tenant: Optional[str],
    database: Optional[str],
    timeout: float,
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in _JS_ENV}
    if query is not None:
        env["JS_QUERY_EMBEDDING"] = json.dumps([float(x) for x in query])
    if get_ids is not None:
        env["JS_GET_IDS"] = json.dumps(list(get_ids))
    if tenant is not None:
        env["JS_TENANT"] = tenant
    if database is not None:
        env["JS_DATABASE"] = database
    header_args = [f"{k}:{v}" for k, v in (headers or {}).items()]
    return subprocess.run(
        [_node(), str(READS), _base_url(srv), collection, *header_args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=str(JS_DIR),
    )


def _parse(proc: subprocess.CompletedProcess) -> Dict[str, Any]:
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    try:
        out = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise AssertionError(
            f"node reads.mjs printed no JSON line (exit {proc.returncode})\n"
            f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
        ) from None
    if not isinstance(out, dict):
        raise AssertionError(f"node reads.mjs printed {out!r}, not an object")
    return out

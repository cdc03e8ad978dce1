"""Slow, idle and silent clients: a connection that sends nothing, a request
head or body trickled in, or a keep-alive connection left idle is closed
after its timeout (PRISM_HEADER_TIMEOUT_SECS, PRISM_IDLE_TIMEOUT_SECS,
PRISM_BODY_TIMEOUT_SECS), and none of them — not hundreds of them, not a
full connection table (PRISM_MAX_CONNECTIONS) — keeps other clients from
being served.

Timeouts here are a second or two, so the tests are quick; the margins
allow for a loaded machine."""

from __future__ import annotations

import json
import resource
import signal
import socket
import ssl
import threading
import time
from typing import Dict, List, Optional, Tuple

import pytest

from e2e_util import make_client
from tls_util import Pki, context, tls_args

pytestmark = pytest.mark.prism_only("Chroma has no header, idle or body timeouts, nor a connection limit")

HEADER_TIMEOUT = 1.0
IDLE_TIMEOUT = 3.0
BODY_TIMEOUT = 2.0
# How late a close may come after its deadline on a busy machine.
SLACK = 2.5

HEARTBEAT = b"GET /api/v2/heartbeat HTTP/1.1\r\nHost: prism\r\n\r\n"


@pytest.fixture(scope="module")
def timed_server(start_module_server):
    return start_module_server(
        env={
            "PRISM_HEADER_TIMEOUT_SECS": str(HEADER_TIMEOUT),
            "PRISM_IDLE_TIMEOUT_SECS": str(IDLE_TIMEOUT),
            "PRISM_BODY_TIMEOUT_SECS": str(BODY_TIMEOUT),
        }
    )


def connect(srv, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection((srv.host, srv.port), timeout=timeout)


def read_response(sock: socket.socket) -> Tuple[int, Dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        data = sock.recv(65536)
        assert data, f"connection closed before a response (got {raw!r})"
        raw += data
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        data = sock.recv(65536)
        assert data, "connection closed mid-body"
        body += data
    return int(lines[0].split()[1]), headers, body


def seconds_until_closed(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closes `sock` (reading and discarding
    anything it sends); fails if it stays open `limit` seconds."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(65536):
            pass
    except socket.timeout:
        pytest.fail(f"connection still open after {limit} s")
    except (ConnectionResetError, ssl.SSLError):
        # A reset, or a TLS connection closed without close_notify: closed.
        pass
    return time.monotonic() - started


def raise_open_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(timed_server):
    with connect(timed_server) as sock:
        waited = seconds_until_closed(sock, HEADER_TIMEOUT + SLACK)
    assert waited >= HEADER_TIMEOUT - 0.2


def test_a_trickled_request_head_is_closed_after_the_header_timeout(timed_server):
    """Bytes arriving do not extend the deadline: the whole head is due."""
    with connect(timed_server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /api/v2/heartbeat HTTP/1.1\r\n")
        closed = False
        for byte in b"Host: prism\r\nX-Slow: 1234567890123456789\r\n":
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.1)
            if time.monotonic() - started > HEADER_TIMEOUT + SLACK:
                break
        if not closed:
            seconds_until_closed(sock, HEADER_TIMEOUT + SLACK)
        waited = time.monotonic() - started
    assert HEADER_TIMEOUT - 0.2 <= waited <= HEADER_TIMEOUT + SLACK


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(timed_server):
    with connect(timed_server) as sock:
        sock.sendall(HEARTBEAT)
        status, headers, _ = read_response(sock)
        assert status == 200 and headers.get("connection") != "close"
        # Idle past the header timeout, within the idle one: still usable.
        time.sleep(HEADER_TIMEOUT + 0.8)
        sock.sendall(HEARTBEAT)
        assert read_response(sock)[0] == 200
        waited = seconds_until_closed(sock, IDLE_TIMEOUT + SLACK)
    assert waited >= IDLE_TIMEOUT - 0.2


def test_a_trickled_body_is_a_408_and_does_not_hold_the_writer(timed_server):
    client = make_client(timed_server)
    slow = client.create_collection("slow-body-target")
    other = client.create_collection("slow-body-other")
    path = (
        f"/api/v2/tenants/default_tenant/databases/default_database/collections/{slow.id}/add"
    )
    body = json.dumps({"ids": ["a"], "embeddings": [[1.0, 2.0]]}).encode()
    outcome: Dict[str, object] = {}

    def trickle() -> None:
        with connect(timed_server) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: prism\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            started = time.monotonic()
            for byte in body:
                try:
                    sock.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    break
                time.sleep(0.25)
                if time.monotonic() - started > BODY_TIMEOUT + SLACK:
                    break
            outcome["response"] = read_response(sock)
            outcome["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=trickle)
    thread.start()
    try:
        # While the upload crawls, writes to other collections go through.
        time.sleep(0.3)
        for i in range(3):
            started = time.monotonic()
            other.add(ids=[f"o{i}"], embeddings=[[float(i), 1.0]])
            assert time.monotonic() - started < 1.0
    finally:
        thread.join(timeout=BODY_TIMEOUT + 2 * SLACK)
    assert not thread.is_alive()
    status, headers, raw = outcome["response"]  # type: ignore[misc]
    assert status == 408, raw
    assert BODY_TIMEOUT - 0.2 <= outcome["elapsed"] <= BODY_TIMEOUT + SLACK  # type: ignore[operator]
    error = json.loads(raw)
    assert error["error"] == "ChromaError"
    assert "PRISM_BODY_TIMEOUT_SECS" in error["message"]
    assert headers.get("connection") == "close"
    assert len(headers.get("chroma-trace-id", "")) == 32
    assert slow.count() == 0 and other.count() == 3


def test_a_body_sent_in_time_is_untouched(timed_server):
    """Slow but within the body timeout: accepted."""
    client = make_client(timed_server)
    col = client.create_collection("slow-but-in-time")
    path = f"/api/v2/tenants/default_tenant/databases/default_database/collections/{col.id}/add"
    body = json.dumps({"ids": ["a"], "embeddings": [[1.0, 2.0]]}).encode()
    with connect(timed_server) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: prism\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        half = len(body) // 2
        sock.sendall(body[:half])
        time.sleep(BODY_TIMEOUT / 2)
        sock.sendall(body[half:])
        status, _, raw = read_response(sock)
    assert status == 201, raw
    assert col.count() == 1


def test_over_tls_a_silent_connection_and_an_idle_one_are_closed_too(start_server, tmp_path):
    """The same deadlines once the handshake is done: the TLS path shares them."""
    pki = Pki(tmp_path)
    tls = context(pki.ca)
    srv = start_server(
        args=tls_args(pki.server),
        env={"PRISM_HEADER_TIMEOUT_SECS": str(HEADER_TIMEOUT), "PRISM_IDLE_TIMEOUT_SECS": "2"},
        verify=tls,
    )
    with tls.wrap_socket(connect(srv), server_hostname="localhost") as silent:
        waited = seconds_until_closed(silent, HEADER_TIMEOUT + SLACK)
    assert waited >= HEADER_TIMEOUT - 0.2
    with tls.wrap_socket(connect(srv), server_hostname="localhost") as idle:
        idle.sendall(HEARTBEAT)
        assert read_response(idle)[0] == 200
        waited = seconds_until_closed(idle, 2 + SLACK)
    assert waited >= 2 - 0.2


def test_hundreds_of_idle_and_half_open_connections_do_not_starve_a_client(start_server):
    stalled = 400
    raise_open_file_limit(stalled + 256)
    srv = start_server()
    client = make_client(srv)
    sockets: List[socket.socket] = []
    try:
        for i in range(stalled):
            sock = connect(srv)
            if i % 2:
                sock.sendall(b"POST /api/v2/tenants HTTP/1.1\r\nContent-Le")
            sockets.append(sock)
        started = time.monotonic()
        col = client.create_collection("among-the-idle")
        col.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]])
        assert col.query(query_embeddings=[[1.0, 0.1]], n_results=1)["ids"] == [["a"]]
        for _ in range(20):
            assert client.heartbeat() > 0
        assert time.monotonic() - started < 5.0
        # The stalled connections are all still open: nothing was dropped
        # to make room.
        sockets[0].sendall(HEARTBEAT)
        assert read_response(sockets[0])[0] == 200
    finally:
        for sock in sockets:
            sock.close()


def test_at_the_connection_limit_new_connections_wait_and_open_ones_keep_working(start_server):
    limit = 5
    srv = start_server(env={"PRISM_MAX_CONNECTIONS": str(limit), "PRISM_HEADER_TIMEOUT_SECS": "30"})
    working = connect(srv)
    idle: List[socket.socket] = []
    waiting: Optional[socket.socket] = None
    try:
        working.sendall(HEARTBEAT)
        assert read_response(working)[0] == 200
        idle = [connect(srv) for _ in range(limit - 1)]
        # The kernel completes the handshake; Prism does not take it yet.
        waiting = connect(srv, timeout=1.0)
        waiting.sendall(HEARTBEAT)
        with pytest.raises(socket.timeout):
            waiting.recv(1)
        for _ in range(3):
            working.sendall(HEARTBEAT)
            assert read_response(working)[0] == 200
        # A slot frees: the waiting connection is served, promptly.
        idle.pop().close()
        waiting.settimeout(3.0)
        assert read_response(waiting)[0] == 200
    finally:
        for sock in [working, *idle, *([waiting] if waiting else [])]:
            sock.close()


def test_sigterm_stops_promptly_with_idle_and_stalled_connections_open(start_server):
    srv = start_server(
        env={"PRISM_HEADER_TIMEOUT_SECS": "2", "PRISM_IDLE_TIMEOUT_SECS": "60", "RUST_LOG": "info"}
    )
    keep_alive = connect(srv)
    keep_alive.sendall(HEARTBEAT)
    assert read_response(keep_alive)[0] == 200
    silent = connect(srv)
    half_head = connect(srv)
    half_head.sendall(b"GET /api/v2/heartbeat HTTP/1.1\r\nHo")
    try:
        time.sleep(0.2)
        started = time.monotonic()
        assert srv.stop(sig=signal.SIGTERM, timeout=20) == 0
        # Idle connections close at once; a half-sent head at the latest at
        # its header timeout.
        assert time.monotonic() - started < 2 + SLACK
        assert "stopped cleanly" in srv.log_text()
    finally:
        for sock in (keep_alive, silent, half_head):
            sock.close()


def test_bad_timeout_settings_refuse_to_start(start_server):
    srv = start_server(env={"PRISM_IDLE_TIMEOUT_SECS": "0"}, wait=False)
    assert srv.proc is not None
    assert srv.proc.wait(timeout=30) != 0
    assert "invalid value for PRISM_IDLE_TIMEOUT_SECS: expected seconds" in srv.log_text()


def test_a_request_answered_before_its_body_arrived_says_the_connection_closes(start_server, tmp_path):
    """A refused login is answered without reading the body: the rest of it is
    still on the connection, which cannot carry another request. The answer
    says `Connection: close`, so a client does not send its next request down
    it (and get no answer); a body that was read keeps the connection open."""
    from auth_util import basic_header, bcrypt_line

    users = tmp_path / "users.htpasswd"
    users.write_text(bcrypt_line("admin", "pw") + "\n")
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": "chromadb.auth.basic_authn.BasicAuthenticationServerProvider",
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users),
    })
    body = json.dumps({"name": "late-body"}).encode()
    path = "/api/v2/tenants/default_tenant/databases/default_database/collections"

    def post(credentials: Dict[str, str]) -> Tuple[int, Dict[str, str]]:
        auth = "".join(f"{k}: {v}\r\n" for k, v in credentials.items())
        with connect(srv) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: prism\r\n{auth}Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            time.sleep(0.2)  # the body comes after the answer could have
            sock.sendall(body)
            status, headers, _ = read_response(sock)
            if headers.get("connection", "").lower() != "close":
                sock.sendall(b"GET /api/v2/heartbeat HTTP/1.1\r\nHost: prism\r\n\r\n")
                assert read_response(sock)[0] == 200
        return status, headers

    status, headers = post(basic_header("admin", "wrong"))
    assert status == 403 and headers.get("connection", "").lower() == "close", headers
    status, headers = post(basic_header("admin", "pw"))
    assert status == 200 and headers.get("connection", "").lower() != "close", headers

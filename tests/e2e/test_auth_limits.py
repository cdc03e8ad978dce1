"""Brute-force limits: failed authentications counted per client address and
per Basic user name; past the threshold uncached attempts get 429 with
Retry-After until the window passes; clients whose credentials are already
verified (cached) are unaffected; X-Forwarded-For is believed only from
trusted proxies. Prism-only (Chroma has no such limits)."""

from __future__ import annotations

import time

import pytest

from auth_util import BASIC_SERVER, basic_header, bcrypt_line, request

pytestmark = [pytest.mark.auth, pytest.mark.prism_only("brute-force limits")]

IDENTITY = "/auth/identity"


def from_client(address: str, user: str, password: str) -> dict:
    headers = basic_header(user, password)
    headers["X-Forwarded-For"] = address
    return headers


@pytest.fixture
def limited(start_server, tmp_path):
    users = tmp_path / "users.htpasswd"
    users.write_text("".join(
        bcrypt_line(u, "right-" + u) + "\n" for u in ("alice", "bob", "carol")
    ))

    def start(trusted: bool = True):
        env = {
            "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
            "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users),
            "PRISM_AUTH_MAX_FAILURES": "3",
            "PRISM_AUTH_FAILURE_WINDOW_SECS": "3",
        }
        if trusted:
            env["PRISM_TRUSTED_PROXIES"] = "127.0.0.1"
        return start_server(env=env)

    return start


def test_an_address_is_limited_and_others_are_not(limited):
    srv = limited()
    # alice logs in (and is cached) from 10.0.0.1 before the attack
    assert request(srv, "GET", IDENTITY, headers=from_client("10.0.0.1", "alice", "right-alice")).status_code == 200
    for _ in range(3):
        r = request(srv, "GET", IDENTITY, headers=from_client("10.0.0.1", "mallory", "guess"))
        assert r.status_code == 403, r.text
    r = request(srv, "GET", IDENTITY, headers=from_client("10.0.0.1", "mallory", "guess"))
    assert r.status_code == 429, r.text
    assert r.json()["error"] == "RateLimitError"
    retry = int(r.headers["retry-after"])
    assert 1 <= retry <= 4, retry
    # even right credentials are refused from that address while uncached...
    r = request(srv, "GET", IDENTITY, headers=from_client("10.0.0.1", "bob", "right-bob"))
    assert r.status_code == 429, r.text
    # ...but an already verified client is unaffected,
    r = request(srv, "GET", IDENTITY, headers=from_client("10.0.0.1", "alice", "right-alice"))
    assert r.status_code == 200, r.text
    # and so is every other address.
    r = request(srv, "GET", IDENTITY, headers=from_client("10.0.0.2", "bob", "right-bob"))
    assert r.status_code == 200, r.text
    # After the window the address may try again.
    time.sleep(retry + 0.5)
    r = request(srv, "GET", IDENTITY, headers=from_client("10.0.0.1", "carol", "right-carol"))
    assert r.status_code == 200, r.text


def test_a_user_name_is_limited_across_addresses(limited):
    srv = limited()
    for i in range(3):
        r = request(srv, "GET", IDENTITY, headers=from_client(f"10.0.1.{i}", "carol", "guess"))
        assert r.status_code == 403, r.text
    r = request(srv, "GET", IDENTITY, headers=from_client("10.0.1.9", "carol", "right-carol"))
    assert r.status_code == 429, r.text
    r = request(srv, "GET", IDENTITY, headers=from_client("10.0.1.9", "bob", "right-bob"))
    assert r.status_code == 200, r.text


def test_forwarded_for_is_ignored_without_trusted_proxies(limited):
    srv = limited(trusted=False)
    for i in range(3):
        # every request claims a different address; all count for 127.0.0.1
        r = request(srv, "GET", IDENTITY, headers=from_client(f"10.0.2.{i}", f"nobody{i}", "guess"))
        assert r.status_code == 403, r.text
    r = request(srv, "GET", IDENTITY, headers=from_client("10.0.2.99", "bob", "right-bob"))
    assert r.status_code == 429, r.text
    # public routes are never limited
    assert request(srv, "GET", "/heartbeat").status_code == 200

"""The web console over plain HTTP (no browser): the login and its limits,
the session cookie's flags, the security headers, CSRF and cross-site
refusals, logout on the server, idle timeout, sessions ended by a change of
credentials, authorization of every console action, HTTPS and auth off.
(test_console_browser.py drives the same pages in Chromium.)"""

from __future__ import annotations

import html
import json
import re
import time

import httpx
import pytest

from auth_util import basic_client, basic_header, request
from console_util import PASSWORDS, Session, db_page, fill, wait_until, write_auth_files
from tls_util import Pki, context, tls_args

pytestmark = [pytest.mark.auth, pytest.mark.prism_only("the web console is Prism's own")]


@pytest.fixture(scope="module")
def srv(start_module_server, tmp_path_factory):
    d = tmp_path_factory.mktemp("console")
    env = write_auth_files(d)
    env["PRISM_AUTH_MAX_FAILURES"] = "3"
    env["PRISM_AUTH_FAILURE_WINDOW_SECS"] = "60"
    srv = start_module_server(env=env)
    srv.public, srv.secret = fill(srv)
    return srv


def logged_in(srv, user: str) -> Session:
    s = Session(srv)
    r = s.login(user)
    assert r.status_code == 303, r.text
    return s


def test_pages_need_a_session_and_send_the_login_form(srv):
    r = httpx.get(f"{srv.url}/console")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login?next=%2Fconsole"
    r = httpx.get(f"{srv.url}/console/login")
    assert r.status_code == 200
    assert 'name="user"' in r.text and 'name="password"' in r.text
    assert "htpasswd" in r.text


def test_every_console_response_carries_the_security_headers(srv):
    s = logged_in(srv, "admin")
    for path in ["/console/login", "/console", db_page(srv.public), "/console/assets/console.css", "/console/nope"]:
        r = s.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp, path
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
    page = s.get("/console")
    assert page.headers["cache-control"] == "no-store"
    # No inline script at all: every <script> names a file.
    assert re.findall(r"<script(?![^>]*\bsrc=)", page.text) == []


def test_login_starts_a_session_with_a_strict_cookie(srv):
    s = Session(srv)
    r = s.login("admin")
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"]
    name, rest = cookie.split("=", 1)
    assert name == "prism-session"
    value = rest.split(";", 1)[0]
    assert len(value) == 43, "256 random bits"
    flags = [f.strip() for f in cookie.split(";")[1:]]
    assert "HttpOnly" in flags and "SameSite=Strict" in flags and "Path=/" in flags
    assert "Secure" not in flags, "plain HTTP"
    home = s.get("/console")
    assert home.status_code == 200
    assert 'id="who">admin<' in home.text
    # The cookie is never in a page.
    assert value not in home.text


def test_the_cookie_alone_never_authorizes_a_change(srv):
    s = logged_in(srv, "editor")
    target = f"{db_page(srv.public)}/delete-records"
    before = srv.public.count()
    token = s.csrf()
    refusals = [
        s.post_form(target, {"ids": "doc-000"}),
        s.post_form(target, {"ids": "doc-000", "csrf": "x" * 43}),
        s.post_form(target, {"ids": "doc-000", "csrf": token}, headers={"origin": "http://evil.example"}),
        s.post_form(target, {"ids": "doc-000", "csrf": token}, headers={"origin": "null"}),
        s.post_form(target, {"ids": "doc-000", "csrf": token}, headers={"sec-fetch-site": "cross-site"}),
        s.post_form(target, {"ids": "doc-000", "csrf": token}, headers={"sec-fetch-site": "same-site"}),
    ]
    assert [r.status_code for r in refusals] == [403] * 6, [r.text for r in refusals]
    assert "CSRF" in refusals[0].text
    assert "Cross-site" in refusals[2].text
    assert srv.public.count() == before
    # The token as a header works as the field does.
    ok = s.post_form(target, {"ids": "doc-149"}, headers={"x-csrf-token": token})
    assert ok.status_code == 303
    assert srv.public.count() == before - 1
    srv.public.add(ids=["doc-149"], embeddings=[[0.0] * 16], metadatas=[{"genre": "folk", "n": 149}],
                   documents=["A folk record, number 149"])


def test_logout_ends_the_session_on_the_server(srv):
    s = logged_in(srv, "reader")
    cookie = s.cookie()
    token = s.csrf()
    r = s.post_form("/console/logout", {"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert "Max-Age=0" in r.headers["set-cookie"]
    # The old cookie, replayed, gets only the login page.
    replay = httpx.get(f"{srv.url}/console", cookies={"prism-session": cookie})
    assert replay.status_code == 303
    assert replay.headers["location"].startswith("/console/login")
    replay = httpx.get(f"{srv.url}{db_page(srv.public)}", cookies={"prism-session": cookie})
    assert replay.status_code == 303
    # Logging out needs the token too.
    s2 = logged_in(srv, "reader")
    assert s2.post_form("/console/logout", {}).status_code == 403
    assert s2.get("/console").status_code == 200


def test_wrong_passwords_count_towards_the_same_429_as_the_api(srv, start_server, tmp_path):
    # Its own server: the failure counters are per server.
    env = write_auth_files(tmp_path)
    env["PRISM_AUTH_MAX_FAILURES"] = "3"
    env["PRISM_AUTH_FAILURE_WINDOW_SECS"] = "60"
    audit = tmp_path / "audit.jsonl"
    own = start_server(env=env, args=["--audit-log", str(audit)])
    s = Session(own)
    for _ in range(3):
        r = s.login("reader", "wrong")
        assert r.status_code == 401
        assert "Wrong user name or password" in r.text
        assert "set-cookie" not in r.headers
    r = s.login("reader", "wrong")
    assert r.status_code == 429
    assert "Too many failed attempts" in r.text
    assert int(r.headers["retry-after"]) > 0
    # The API from the same address is throttled by the same counters.
    api = request(own, "GET", "/auth/identity", headers=basic_header("reader", PASSWORDS["reader"]))
    assert api.status_code == 429
    # And the attempts are in the audit trail, by user, without the password.
    wait_until(lambda: audit.exists() and audit.read_text().count('"authn"') >= 5, what="audit events")
    events = [json.loads(line)["fields"] for line in audit.read_text().splitlines()]
    refused = [e for e in events if e["stage"] == "authn" and e["decision"] == "deny" and e.get("user") == "reader"]
    assert len(refused) == 5, events
    assert "wrong" not in audit.read_text()


def test_a_reader_sees_only_what_it_may_and_forged_actions_are_refused(srv):
    s = logged_in(srv, "reader")
    page = s.get(db_page())
    assert page.status_code == 200
    assert "public-docs" in page.text and "secret-plans" not in page.text
    assert "delete-collection" not in page.text and "create-collection" not in page.text
    records = s.get(db_page(srv.public))
    assert records.status_code == 200 and "doc-000" in records.text
    assert 'id="delete-records"' not in records.text and 'name="ids"' not in records.text
    # The secret collection by its id: refused as the API refuses it.
    secret = s.get(db_page(srv.secret))
    assert secret.status_code == 403 and "the plan" not in secret.text
    # Forged posts, with this session's own CSRF token, are refused by
    # authorization, and nothing changes.
    token = s.csrf()
    before = (srv.public.count(), srv.secret.count())
    for path, data in [
        (f"{db_page(srv.public)}/delete-records", {"ids": "doc-001", "csrf": token}),
        (f"{db_page(srv.public)}/delete-collection", {"csrf": token}),
        (f"{db_page()}/collections", {"name": "reader-made", "csrf": token}),
    ]:
        r = s.post_form(path, data)
        assert r.status_code == 403, (path, r.text)
    assert (srv.public.count(), srv.secret.count()) == before
    admin = basic_client(srv, "admin", PASSWORDS["admin"])
    assert "reader-made" not in [c.name for c in admin.list_collections()]
    # No admin page either.
    assert 'href="/console/admin"' not in s.get("/console").text
    assert s.get("/console/admin").status_code == 403


def test_editor_creates_and_deletes_a_collection(srv):
    s = logged_in(srv, "editor")
    token = s.csrf(db_page())
    r = s.post_form(f"{db_page()}/collections", {"name": "made-in-console", "space": "cosine", "csrf": token})
    assert r.status_code == 303, r.text
    admin = basic_client(srv, "admin", PASSWORDS["admin"])
    made = admin.get_collection("made-in-console")
    assert made.configuration_json["hnsw"]["space"] == "cosine"
    page = s.get(r.headers["location"])
    assert page.status_code == 200 and "made-in-console" in page.text
    r = s.post_form(f"{db_page(made)}/delete-collection", {"csrf": token})
    assert r.status_code == 303
    assert "made-in-console" not in [c.name for c in admin.list_collections()]
    # A name Chroma refuses gets Chroma's message.
    bad = s.post_form(f"{db_page()}/collections", {"name": "x", "csrf": token})
    assert bad.status_code == 400
    assert "Expected a name containing 3-512 characters" in bad.text


def test_a_filter_mistake_shows_chromas_message(srv):
    s = logged_in(srv, "reader")
    where = '{"genre": {"$regex": "j"}}'
    api = request(srv, "POST", f"/tenants/default_tenant/databases/default_database/collections/{srv.public.id}/get",
                  {"where": {"genre": {"$regex": "j"}}}, headers=basic_header("reader", PASSWORDS["reader"]))
    assert api.status_code == 400
    page = s.get(db_page(srv.public), params={"where": where})
    assert page.status_code == 400
    assert api.json()["message"] in html.unescape(page.text)
    ok = s.get(db_page(srv.public), params={"where": '{"genre": "jazz"}'})
    assert ok.status_code == 200
    shown = re.findall(r'class="record" href="[^"]*">([^<]+)<', ok.text)
    assert shown and all(int(i.split("-")[1]) % 3 == 0 for i in shown)
    not_json = s.get(db_page(srv.public), params={"where": "{genre: jazz}"})
    assert not_json.status_code == 400 and "where is not JSON" in not_json.text


def test_admin_page_shows_plugins_and_audit_events_but_no_secrets(start_server, tmp_path):
    env = write_auth_files(tmp_path)
    own = start_server(env=env)
    # Without --audit-log the server records refusals only.
    assert Session(own).login("reader", "not-it").status_code == 401
    s = logged_in(own, "admin")
    page = s.get("/console/admin")
    assert page.status_code == 200
    assert "htpasswd" in page.text and "rbac" in page.text
    assert str(tmp_path / "users.htpasswd") in page.text
    rows = re.findall(r'<tr class="deny">(.*?)</tr>', page.text, re.S)
    assert len(rows) == 1 and "reader" in rows[0] and "bad credentials" in rows[0], page.text
    assert PASSWORDS["admin"] not in page.text
    # A plain value (a token given in the environment) is not shown.
    tok = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": "token",
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "tok-admin-secret-value",
        "PRISM_CONSOLE_LOGIN": "token",
    })
    t = Session(tok)
    r = t.post_form("/console/login", {"token": "tok-admin-secret-value"})
    assert r.status_code == 303, r.text
    admin = t.get("/console/admin")
    assert admin.status_code == 200
    assert "tok-admin-secret-value" not in admin.text
    assert "(set; not shown)" in admin.text


def test_token_login_form_and_a_wrong_token(start_server):
    own = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": "token",
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "right-token",
        "CHROMA_AUTH_TOKEN_TRANSPORT_HEADER": "X-Chroma-Token",
    })
    form = httpx.get(f"{own.url}/console/login")
    assert 'name="token"' in form.text and 'name="password"' not in form.text
    s = Session(own)
    wrong = s.post_form("/console/login", {"token": "wrong-token"})
    assert wrong.status_code == 401 and "That token is not accepted" in wrong.text
    assert s.post_form("/console/login", {"token": "right-token"}).status_code == 303
    assert s.get("/console").status_code == 200


def test_a_session_idles_out(start_server, tmp_path):
    env = write_auth_files(tmp_path)
    env["PRISM_CONSOLE_IDLE_TIMEOUT_SECS"] = "1.5"
    own = start_server(env=env)
    s = logged_in(own, "reader")
    for _ in range(3):
        time.sleep(0.8)
        assert s.get("/console").status_code == 200, "in use, so alive"
    time.sleep(2.0)
    r = s.get("/console")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


def test_a_change_of_credentials_ends_sessions(start_server, tmp_path):
    env = write_auth_files(tmp_path)
    own = start_server(env=env)
    s = logged_in(own, "reader")
    assert s.get("/console").status_code == 200
    users = tmp_path / "users.htpasswd"
    from auth_util import bcrypt_line

    users.write_text(
        "\n".join(bcrypt_line(u, p if u != "reader" else "new-pw") for u, p in PASSWORDS.items()) + "\n"
    )
    wait_until(lambda: s.get("/console").status_code == 303, what="the session to end after the reload")
    assert s.login("reader", "new-pw").status_code == 303
    assert s.get("/console").status_code == 200


def test_after_login_only_console_pages(srv):
    s = Session(srv)
    r = s.post_form("/console/login", {"user": "reader", "password": PASSWORDS["reader"], "next": "https://evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/console"
    s = Session(srv)
    r = s.post_form("/console/login", {"user": "reader", "password": PASSWORDS["reader"], "next": db_page(srv.public)})
    assert r.headers["location"] == db_page(srv.public)


def test_login_from_another_site_is_refused(srv):
    r = httpx.post(f"{srv.url}/console/login", data={"user": "admin", "password": PASSWORDS["admin"]},
                   headers={"origin": "http://evil.example"})
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_over_https_the_cookie_is_secure_and_host_only(start_server, tmp_path):
    (tmp_path / "pki").mkdir()
    pki = Pki(tmp_path / "pki")
    env = write_auth_files(tmp_path)
    own = start_server(env=env, args=tls_args(pki.server), verify=context(pki.ca))
    own.host = "localhost"
    s = Session(own, verify=context(pki.ca))
    r = s.login("reader")
    assert r.status_code == 303, r.text
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-prism-session=")
    assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert s.get("/console").status_code == 200


def test_with_auth_off_the_console_needs_no_login(start_server):
    own = start_server()
    s = Session(own)
    r = s.get("/console")
    assert r.status_code == 303
    r = s.get(r.headers["location"])
    assert r.status_code == 303 and r.headers["location"] == "/console"
    assert "prism-session=" in r.headers["set-cookie"]
    home = s.get("/console")
    assert home.status_code == 200 and "Authentication is off" in home.text
    token = s.csrf(db_page())
    assert s.post_form(f"{db_page()}/collections", {"name": "open-made", "csrf": token}).status_code == 303
    # CSRF still guards changes.
    assert s.post_form(f"{db_page()}/collections", {"name": "open-made-2"}).status_code == 403
    names = [c["name"] for c in httpx.get(f"{own.api}/tenants/default_tenant/databases/default_database/collections").json()]
    assert names == ["open-made"]


def test_the_console_can_be_turned_off(start_server):
    own = start_server(env={"PRISM_CONSOLE": "false"})
    r = httpx.get(f"{own.url}/console")
    assert r.status_code == 404


def test_behind_a_trusted_tls_proxy(start_server, tmp_path):
    """A proxy listed in PRISM_TRUSTED_PROXIES terminates TLS for
    https://public.example: its X-Forwarded-Host is an origin the console
    accepts, and its X-Forwarded-Proto makes the cookie Secure. The same
    headers from a peer that is not trusted change nothing."""
    env = write_auth_files(tmp_path)
    trusted = start_server(env={**env, "PRISM_TRUSTED_PROXIES": "127.0.0.1"})
    forwarded = {"origin": "https://public.example", "x-forwarded-host": "public.example",
                 "x-forwarded-proto": "https"}
    s = Session(trusted)
    r = s.post_form("/console/login", {"user": "reader", "password": PASSWORDS["reader"]}, headers=forwarded)
    assert r.status_code == 303, r.text
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-prism-session=") and "; Secure" in cookie
    value = cookie.split("=", 1)[1].split(";", 1)[0]
    page = httpx.get(f"{trusted.url}/console", headers={**forwarded, "cookie": f"__Host-prism-session={value}"})
    assert page.status_code == 200
    untrusted = start_server(env=env)
    r = Session(untrusted).post_form(
        "/console/login", {"user": "reader", "password": PASSWORDS["reader"]}, headers=forwarded)
    assert r.status_code == 403 and "Cross-site" in r.text

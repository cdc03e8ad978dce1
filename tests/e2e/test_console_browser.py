"""The web console in a real browser: headless Chromium (Debian's package,
installed by scripts/setup-browser.sh) driven by Playwright for Python.

A person logs in, sees only what they may, browses and filters records,
opens a record's neighbours and the collection's picture, logs out, presses
Back and sees nothing, has their old cookie refused; a wrong password shows
an error; a session idles out; a reader has no delete button and a forged
delete is refused; a page from another origin cannot post to the console.
Screenshots of each page go to target/console-screenshots (or
$PRISM_CONSOLE_SCREENSHOTS)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from console_util import PASSWORDS, db_page, fill, write_auth_files
from e2e_util import IS_GATEWAY

pytestmark = [pytest.mark.auth, pytest.mark.prism_only("the web console is Prism's own")]

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("PRISM_CONSOLE_SCREENSHOTS", REPO_ROOT / "target" / "console-screenshots"))
CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: scripts/setup-browser.sh installs it"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def srv(start_module_server, tmp_path_factory):
    d = tmp_path_factory.mktemp("console-browser")
    env = write_auth_files(d)
    env["PRISM_AUTH_MAX_FAILURES"] = "4"
    env["PRISM_AUTH_FAILURE_WINDOW_SECS"] = "60"
    # Every decision audited, so the admin page has them to show.
    srv = start_module_server(env=env, args=["--audit-log", str(d / "audit.jsonl")])
    srv.public, srv.secret = fill(srv)
    return srv


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def go(page, selector: str) -> None:
    """Click what navigates, and wait for the next page."""
    with page.expect_navigation():
        page.click(selector)


def log_in(page, srv, user: str, password: str = None) -> None:
    page.goto(f"{srv.url}/console")
    assert page.url.startswith(f"{srv.url}/console/login")
    page.fill("#user", user)
    page.fill("#password", password or PASSWORDS[user])
    go(page, "#login")


def test_a_person_logs_in_browses_and_logs_out(browser, srv):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # A wrong password: the form says so.
    page.goto(f"{srv.url}/console")
    shot(page, "01-login")
    page.fill("#user", "admin")
    page.fill("#password", "not-the-password")
    go(page, "#login")
    assert page.locator("#login-error").inner_text() == "Wrong user name or password"
    shot(page, "02-login-wrong-password")

    log_in(page, srv, "admin")
    assert page.locator("#who").inner_text() == "admin"
    assert "default_tenant" in page.locator("#tenants").inner_text()
    shot(page, "03-home")

    go(page, "a.database >> text=default_database")
    names = page.locator("a.collection").all_inner_texts()
    assert names == ["public-docs", "secret-plans"]
    row = page.locator("tr[data-collection='public-docs']")
    assert "150" in row.inner_text() and "16" in row.inner_text()
    shot(page, "04-collections")

    go(page, "a.collection >> text=public-docs")
    assert page.locator("a.record").count() == 25
    assert page.locator("#delete-records").count() == 1
    go(page, "#next")
    assert page.locator("a.record").first.inner_text() == "doc-025"
    shot(page, "05-records")

    # Filter; then a mistake shows Chroma's own message.
    page.fill("textarea[name=where]", '{"genre": "jazz"}')
    go(page, "#filter button")
    ids = page.locator("a.record").all_inner_texts()
    assert ids and all(int(i.split("-")[1]) % 3 == 0 for i in ids)
    shot(page, "06-records-filtered")
    page.fill("textarea[name=where]", '{"genre": {"$like": "j"}}')
    go(page, "#filter button")
    # The message of whoever checks the filter: Prism's engine names the
    # operator; in gateway mode the upstream Chroma's own words come through.
    expected = "Invalid where clause" if IS_GATEWAY else "$like"
    assert expected in page.locator("#filter-error").inner_text()
    shot(page, "07-filter-error")

    # A record and its nearest neighbours: its own cluster, nearest first.
    page.goto(f"{srv.url}{db_page(srv.public)}")
    go(page, "a.record >> text=doc-003")
    assert "16 dimensions" in page.locator("#embedding").inner_text()
    neighbours = page.locator("a.neighbour").all_inner_texts()
    assert len(neighbours) == 10 and "doc-003" not in neighbours
    assert all(int(n.split("-")[1]) % 3 == 0 for n in neighbours), neighbours
    distances = [float(d) for d in page.locator("td.distance").all_inner_texts()]
    assert distances == sorted(distances)
    shot(page, "08-record-neighbours")

    # The picture, coloured by genre: a point per record, three colours.
    page.goto(f"{srv.url}{db_page(srv.public)}/map")
    assert page.locator("#projection circle").count() == 150
    page.select_option("select[name=color]", "genre")
    page.wait_for_url("**/map?color=genre")
    legend = page.locator("#legend li").all_inner_texts()
    assert sorted(x.strip() for x in legend) == ["folk", "jazz", "rock"]
    fills = set(page.eval_on_selector_all("#projection circle", "cs => cs.map(c => c.getAttribute('fill'))"))
    assert len(fills) == 3
    shot(page, "09-map")

    page.goto(f"{srv.url}/console/admin")
    assert "rbac" in page.locator("#plugins").inner_text()
    assert page.locator("#audit tr").count() > 5
    shot(page, "10-admin")

    # Log out; Back shows nothing; the old cookie gets only the login page.
    page.goto(f"{srv.url}{db_page(srv.public)}")
    cookies = context.cookies()
    go(page, "#logout")
    assert page.url.startswith(f"{srv.url}/console/login")
    page.go_back()
    page.wait_for_load_state()
    assert page.url.startswith(f"{srv.url}/console/login")
    assert "doc-000" not in page.content()
    shot(page, "11-back-after-logout")
    replay = browser.new_context()
    replay.add_cookies(cookies)
    other = replay.new_page()
    other.goto(f"{srv.url}{db_page(srv.public)}")
    assert other.url.startswith(f"{srv.url}/console/login")
    assert "doc-000" not in other.content()
    replay.close()

    # No script error, no Content-Security-Policy violation, nothing missing:
    # the only failed loads are the two pages that answer with an error.
    expected = [f"status of {code}" for code in (401, 400)]
    assert [e for e in errors if not any(x in e for x in expected)] == [], errors
    context.close()


def test_a_reader_sees_only_permitted_collections_and_cannot_delete(browser, srv):
    context = browser.new_context()
    page = context.new_page()
    log_in(page, srv, "reader")
    page.goto(f"{srv.url}{db_page()}")
    assert page.locator("a.collection").all_inner_texts() == ["public-docs"]
    assert page.locator(".delete-collection").count() == 0
    assert page.locator("#create-collection").count() == 0
    shot(page, "12-reader-collections")
    go(page, "a.collection >> text=public-docs")
    assert page.locator("#delete-records").count() == 0
    assert page.locator("input[name=ids]").count() == 0
    shot(page, "13-reader-records")

    # A forged delete from the reader's own page, with and without the
    # session's CSRF token: both refused, nothing deleted.
    before = srv.public.count()
    target = f"{db_page(srv.public)}/delete-records"
    statuses = page.evaluate(
        """async (target) => {
            const token = document.querySelector('input[name=csrf]').value;
            const post = (body) => fetch(target, {method: 'POST', body: new URLSearchParams(body)}).then(r => r.status);
            return [await post({ids: 'doc-001', csrf: token}), await post({ids: 'doc-001'})];
        }""",
        target,
    )
    assert statuses == [403, 403]
    assert srv.public.count() == before
    context.close()


class _EvilSite(BaseHTTPRequestHandler):
    """Another origin: a page whose form posts to the console on load."""

    target = ""

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = f"""<!doctype html><html><body>
<form id="f" method="post" action="{self.target}">
<input name="ids" value="doc-002"><input name="csrf" value="guessed">
</form>
<script>document.getElementById('f').submit();</script>
</body></html>""".encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_page_from_another_origin_cannot_post_to_the_console(browser, srv):
    context = browser.new_context()
    page = context.new_page()
    log_in(page, srv, "editor")
    before = srv.public.count()
    _EvilSite.target = f"{srv.url}{db_page(srv.public)}/delete-records"
    evil = ThreadingHTTPServer(("127.0.0.1", 0), _EvilSite)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        # Same site (127.0.0.1), another origin (port), and another site
        # (localhost is not 127.0.0.1 to a browser).
        for host in ["127.0.0.1", "localhost"]:
            page.goto(f"http://{host}:{evil.server_address[1]}/")
            page.wait_for_url(_EvilSite.target)
            page.wait_for_load_state()
            assert "doc-002" not in page.content()
        shot(page, "14-cross-origin-refused")
    finally:
        evil.shutdown()
    assert srv.public.count() == before
    assert srv.public.get(ids=["doc-002"])["ids"] == ["doc-002"]
    context.close()


def test_wrong_passwords_lead_to_the_429_limit(browser, start_server, tmp_path):
    env = write_auth_files(tmp_path)
    env["PRISM_AUTH_MAX_FAILURES"] = "2"
    own = start_server(env=env)
    context = browser.new_context()
    page = context.new_page()
    messages = []
    for _ in range(3):
        page.goto(f"{own.url}/console/login")
        page.fill("#user", "reader")
        page.fill("#password", "wrong")
        go(page, "#login")
        messages.append(page.locator("#login-error").inner_text())
    assert messages[:2] == ["Wrong user name or password"] * 2
    assert messages[2].startswith("Too many failed attempts")
    shot(page, "15-login-throttled")
    context.close()


def test_a_session_idles_out_in_the_browser(browser, start_server, tmp_path):
    env = write_auth_files(tmp_path)
    env["PRISM_CONSOLE_IDLE_TIMEOUT_SECS"] = "2"
    own = start_server(env=env)
    context = browser.new_context()
    page = context.new_page()
    log_in(page, own, "reader")
    assert page.locator("#who").inner_text() == "reader"
    time.sleep(3)
    page.reload()
    assert page.url.startswith(f"{own.url}/console/login")
    context.close()


def test_with_auth_off_the_console_opens_without_login(browser, start_server):
    own = start_server()
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{own.url}/console")
    assert page.url == f"{own.url}/console"
    assert "Authentication is off" in page.content()
    go(page, "a.database >> text=default_database")
    page.fill("#create-collection input[name=name]", "from-the-browser")
    go(page, "#create-collection button")
    assert page.url.startswith(f"{own.url}{db_page()}/collections/")
    context.close()

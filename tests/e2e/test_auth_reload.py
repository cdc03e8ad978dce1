"""Live reload: credentials and policy files are watched; a change is
validated and swapped in within 2 s (requests in flight finish on the old
state), a broken file keeps the last good state and is logged with its file
and line, and the credential cache is emptied on every swap. Works with
in-place writes, atomic renames and Kubernetes-style symlink swaps.
Prism-only (Chroma reads its files once)."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time

import pytest

from auth_util import BASIC_SERVER, basic_header, bcrypt_line, plugin_dir, plugin_file, request

pytestmark = [pytest.mark.auth, pytest.mark.prism_only("live reload")]

IDENTITY = "/auth/identity"
DEADLINE = 2.0


def status(srv, user, password):
    return request(srv, "GET", IDENTITY, headers=basic_header(user, password)).status_code


def within(seconds, check):
    """Poll `check` until it is true; return how long it took (or fail)."""
    started = time.time()
    while time.time() - started < seconds + 1.0:
        if check():
            return time.time() - started
        time.sleep(0.05)
    pytest.fail(f"not within {seconds} s")


def line(user):
    return bcrypt_line(user, "pw-" + user) + "\n"


def start(start_server, users_path):
    # No audit events: the log is read for the reload messages.
    return start_server(args=["--audit", "off"], env={
        "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users_path),
    })


def test_add_remove_and_garbage_while_a_client_works(start_server, tmp_path):
    users = tmp_path / "conf" / "users.htpasswd"
    users.parent.mkdir()
    users.write_text(line("alice"))
    srv = start(start_server, users)

    # alice keeps querying the whole time; none of her requests may fail
    stop = threading.Event()
    failures = []

    def busy():
        while not stop.is_set():
            code = status(srv, "alice", "pw-alice")
            if code != 200:
                failures.append(code)

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        assert status(srv, "bob", "pw-bob") == 403
        with open(users, "a") as f:  # in place, as an editor or `htpasswd` does
            f.write(line("bob"))
        took = within(DEADLINE, lambda: status(srv, "bob", "pw-bob") == 200)
        assert took <= DEADLINE, took

        users.write_text(line("alice"))  # bob removed; his login is cached
        took = within(DEADLINE, lambda: status(srv, "bob", "pw-bob") == 403)
        assert took <= DEADLINE, took

        with open(users, "a") as f:
            f.write("this is not an htpasswd line\n")
        time.sleep(1.0)
        assert status(srv, "alice", "pw-alice") == 200
        log = srv.log_text(tail=1_000_000)
        assert "users.htpasswd, line 2" in log, log[-2000:]
        assert "previous configuration stays in force" in log
    finally:
        stop.set()
        worker.join()
    assert failures == [], failures


def test_atomic_rename(start_server, tmp_path):
    users = tmp_path / "users.htpasswd"
    users.write_text(line("alice"))
    srv = start(start_server, users)
    tmp = tmp_path / ".users.tmp"
    tmp.write_text(line("alice") + line("carol"))
    os.replace(tmp, users)
    assert within(DEADLINE, lambda: status(srv, "carol", "pw-carol") == 200) <= DEADLINE


def test_kubernetes_symlink_swap(start_server, tmp_path):
    # A mounted Secret: users -> ..data/users, ..data -> ..2026_v1 (swapped atomically)
    mount = tmp_path / "secret"
    v1 = mount / "..v1"
    v1.mkdir(parents=True)
    (v1 / "users").write_text(line("alice"))
    os.symlink("..v1", mount / "..data")
    os.symlink("..data/users", mount / "users")
    srv = start(start_server, mount / "users")
    assert status(srv, "dave", "pw-dave") == 403

    v2 = mount / "..v2"
    v2.mkdir()
    (v2 / "users").write_text(line("alice") + line("dave"))
    os.symlink("..v2", mount / "..data_tmp")
    os.replace(mount / "..data_tmp", mount / "..data")
    assert within(DEADLINE, lambda: status(srv, "dave", "pw-dave") == 200) <= DEADLINE
    assert status(srv, "alice", "pw-alice") == 200


def test_a_replaced_plugin_serves_its_new_version(start_server, tmp_path):
    """The `versioned` fixture is built twice; swapping build 1's .wasm for
    build 2's under the running server makes build 2 answer, within 2 s, with
    no failed request while a client keeps asking."""
    plugins = plugin_dir(tmp_path / "plugins", **{"versioned.wasm": "fixtures/versioned-1.wasm"})
    srv = start_server(args=["--audit", "off"], env={
        "PRISM_PLUGIN_DIR": str(plugins),
        "CHROMA_SERVER_AUTHN_PROVIDER": "versioned",
        "RUST_LOG": "info",
    })
    token = {"Authorization": "Bearer let-me-in"}

    def who():
        r = request(srv, "GET", IDENTITY, headers=token)
        return r.status_code, r.json().get("user_id") if r.status_code == 200 else r.text

    assert who() == (200, "build-1")
    seen, stop = [], threading.Event()

    def busy():
        while not stop.is_set():
            seen.append(who())

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        staged = plugins / ".versioned.wasm.tmp"
        shutil.copyfile(plugin_file("fixtures/versioned-2.wasm"), staged)
        os.replace(staged, plugins / "versioned.wasm")
        took = within(DEADLINE, lambda: who() == (200, "build-2"))
        assert took <= DEADLINE, took
    finally:
        stop.set()
        worker.join()
    assert all(answer in ((200, "build-1"), (200, "build-2")) for answer in seen), set(seen)
    # Once build 2 answers, build 1 never does again.
    first_new = next(i for i, answer in enumerate(seen + [(200, "build-2")]) if answer[1] == "build-2")
    assert all(answer[1] == "build-2" for answer in seen[first_new:])
    # The log says which file changed and which version replaced which.
    log = srv.log_text(50000)
    assert re.search(
        r"auth configuration reloaded after a change to \S*versioned\.wasm; "
        r"providers versioned 1\.0\.0 -> versioned 2\.0\.0",
        log,
    ), log


def test_an_unloadable_plugin_file_is_skipped_at_reload_as_at_start(start_server, tmp_path):
    users = tmp_path / "users.htpasswd"
    users.write_text(line("alice"))
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    srv = start_server(args=["--audit", "off"], env={
        "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users),
        "PRISM_PLUGIN_DIR": str(plugins),
    })
    assert status(srv, "alice", "pw-alice") == 200
    (plugins / "garbage.wasm").write_bytes(b"not a component")
    with open(users, "a") as f:
        f.write(line("bob"))
    # The credentials change applies; the broken file does not block it.
    took = within(DEADLINE, lambda: status(srv, "bob", "pw-bob") == 200)
    assert took <= DEADLINE, took
    assert status(srv, "alice", "pw-alice") == 200
    log = srv.log_text(tail=1_000_000)
    assert "plugin file skipped" in log and "garbage.wasm" in log, log[-2000:]

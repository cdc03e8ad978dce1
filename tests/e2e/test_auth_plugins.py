"""Plugins loaded from PRISM_PLUGIN_DIR: the example `api-keys` plugin, and the
`misbehaving` fixture that traps, loops or eats memory on request (the host
must contain it: 503, and the server keeps serving).

Prism-only. Needs the plugins built (scripts/build-plugins.sh):
target/plugins/examples/api-keys.wasm, target/plugins/fixtures/misbehaving.wasm.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from auth_util import (
    assert_authn_forbidden,
    assert_authz_forbidden,
    assert_unavailable,
    header_client,
    identity,
    plugin_dir,
    request,
    sha256_hex,
)

pytestmark = [pytest.mark.auth, pytest.mark.prism_only("WebAssembly plugins")]

DB = "/tenants/default_tenant/databases/default_database"

# ---------------------------------------------------------------------------
# api-keys (example plugin)
# ---------------------------------------------------------------------------

TODAY = dt.datetime.now(dt.timezone.utc).date()
KEYS = {
    "valid": ("ci-bot", "key-valid-0123456789abcdef", TODAY + dt.timedelta(days=30), None, None),
    "expired": ("old-bot", "key-expired-0123456789abcdef", TODAY - dt.timedelta(days=1), None, None),
    # "valid until midnight UTC of expires": a key expiring today is already dead
    "expires-today": ("today-bot", "key-today-0123456789abcdef", TODAY, None, None),
    "scoped": ("acme-bot", "key-scoped-0123456789abcdef", TODAY + dt.timedelta(days=30), "acme", ["ci-db"]),
}


def _keys_yaml() -> str:
    out = ["keys:"]
    for user, key, expires, tenant, dbs in KEYS.values():
        out += [f"  - user: {user}", f"    sha256: {sha256_hex(key)}", f"    expires: {expires.isoformat()}"]
        if tenant:
            out.append(f"    tenant: {tenant}")
        if dbs:
            out.append(f"    databases: [{', '.join(dbs)}]")
    return "\n".join(out) + "\n"


def _key(name: str) -> dict:
    return {"X-Api-Key": KEYS[name][1]}


@pytest.fixture(scope="module")
def keys_srv(start_module_server, tmp_path_factory):
    d = tmp_path_factory.mktemp("api-keys")
    plugins = plugin_dir(d / "plugins", **{"api-keys.wasm": "examples/api-keys.wasm"})
    (d / "keys.yaml").write_text(_keys_yaml())
    srv = start_module_server(env={
        "PRISM_PLUGIN_DIR": str(plugins),
        "CHROMA_SERVER_AUTHN_PROVIDER": "api-keys",
        "PRISM_AUTHN_OPT_KEYS_FILE": str(d / "keys.yaml"),
    })
    return srv


def test_api_key_valid(keys_srv):
    me = identity(keys_srv, _key("valid"))
    assert me["user_id"] == "ci-bot"
    assert me["attributes"] == {"expires": KEYS["valid"][2].isoformat()}
    c = header_client(keys_srv, _key("valid"))
    col = c.create_collection("keys")
    col.add(ids=["1"], embeddings=[[1.0, 2.0]])
    assert col.count() == 1


@pytest.mark.parametrize("name", ["expired", "expires-today"])
def test_api_key_expired(keys_srv, name):
    assert_authn_forbidden(request(keys_srv, "GET", "/auth/identity", headers=_key(name)))
    assert_authn_forbidden(request(keys_srv, "GET", f"{DB}/collections", headers=_key(name)))
    with pytest.raises(Exception, match="Forbidden"):
        header_client(keys_srv, _key(name))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Api-Key": "key-unknown"},
        {"X-Api-Key": sha256_hex(KEYS["valid"][1])},   # the digest is not the key
        {"X-Api-Key": KEYS["valid"][1] + "x"},
        {"X-Api-Key": ""},
        {"Authorization": f"Bearer {KEYS['valid'][1]}"},  # wrong header
        {"X-Chroma-Token": KEYS["valid"][1]},
        {"X-Api-Key": "k" * 20000},
    ],
    ids=["none", "unknown", "digest", "suffix", "empty", "bearer", "x-chroma-token", "huge"],
)
def test_api_key_refused(keys_srv, headers):
    assert_authn_forbidden(request(keys_srv, "GET", "/auth/identity", headers=headers))
    assert_authn_forbidden(request(keys_srv, "POST", f"{DB}/collections", {"name": "n"}, headers=headers))


def test_api_key_scopes(keys_srv):
    me = identity(keys_srv, _key("scoped"))
    assert (me["user_id"], me["tenant"], me["databases"]) == ("acme-bot", "acme", ["ci-db"])
    assert_authz_forbidden(request(keys_srv, "GET", f"{DB}/collections", headers=_key("scoped")))
    # the unscoped key makes the scoped key's database
    r = request(keys_srv, "POST", "/tenants", {"name": "acme"}, headers=_key("valid"))
    assert r.status_code == 200, r.text
    r = request(keys_srv, "POST", "/tenants/acme/databases", {"name": "ci-db"}, headers=_key("valid"))
    assert r.status_code == 200, r.text
    c = header_client(keys_srv, _key("scoped"), tenant="acme", database="ci-db")
    c.create_collection("ci-col")


def test_api_keys_public_routes(keys_srv):
    for path in ["", "/heartbeat", "/version", "/pre-flight-checks", "/healthcheck"]:
        assert request(keys_srv, "GET", path).status_code == 200


# ---------------------------------------------------------------------------
# misbehaving fixture
# ---------------------------------------------------------------------------

TIMEOUT_MS = 500
SLACK_S = 2.0


@pytest.fixture(scope="module")
def bad_srv(start_module_server, tmp_path_factory):
    d = tmp_path_factory.mktemp("misbehaving")
    plugins = plugin_dir(d / "plugins", **{"misbehaving.wasm": "fixtures/misbehaving.wasm"})
    return start_module_server(env={
        "PRISM_PLUGIN_DIR": str(plugins),
        "CHROMA_SERVER_AUTHN_PROVIDER": "misbehaving",
        "PRISM_PLUGIN_TIMEOUT_MS": str(TIMEOUT_MS),
        "PRISM_PLUGIN_MEMORY_MB": "32",
    })


def _ordinary_request_works(srv):
    assert identity(srv, {}) == {
        "user_id": "fixture", "tenant": None, "databases": None, "attributes": None,
    }
    r = request(srv, "GET", f"{DB}/collections")
    assert r.status_code == 200, r.text


def test_well_behaved_request(bad_srv):
    _ordinary_request_works(bad_srv)
    c = header_client(bad_srv, {})
    c.get_or_create_collection("fixture-col").add(ids=["1"], embeddings=[[1.0]])


@pytest.mark.parametrize("how", ["trap", "loop", "oom"])
def test_plugin_failure_is_503_and_the_server_keeps_serving(bad_srv, how):
    for _ in range(2):  # twice: the replaced instance must work and fail again
        t0 = time.monotonic()
        r = request(bad_srv, "GET", "/auth/identity", headers={"x-misbehave": how}, timeout=30)
        elapsed = time.monotonic() - t0
        assert_unavailable(r)
        assert elapsed < TIMEOUT_MS / 1000 + SLACK_S, f"{how} took {elapsed:.2f}s"
        _ordinary_request_works(bad_srv)
    r = request(bad_srv, "POST", f"{DB}/collections", {"name": f"x-{how}"},
                headers={"x-misbehave": how}, timeout=30)
    assert_unavailable(r)
    assert request(bad_srv, "GET", f"{DB}/collections/x-{how}").status_code == 404


def test_concurrent_loops_do_not_stop_other_requests(bad_srv):
    results = {}

    def hit(i):
        t0 = time.monotonic()
        r = request(bad_srv, "GET", "/auth/identity", headers={"x-misbehave": "loop"}, timeout=30)
        results[i] = (r.status_code, time.monotonic() - t0)

    threads = [threading.Thread(target=hit, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    _ordinary_request_works(bad_srv)
    ordinary = time.monotonic() - t0
    for t in threads:
        t.join(30)
    assert all(code == 503 for code, _ in results.values()), results
    assert all(el < TIMEOUT_MS / 1000 + SLACK_S + 1 for _, el in results.values()), results
    assert ordinary < TIMEOUT_MS / 1000 + SLACK_S + 1, ordinary
    _ordinary_request_works(bad_srv)


def test_unknown_misbehaviour_is_a_plain_authn_failure(bad_srv):
    # the plugin returns `malformed`: an ordinary 403
    assert_authn_forbidden(request(bad_srv, "GET", "/auth/identity", headers={"x-misbehave": "dance"}))


def test_loop_at_the_default_deadline(start_server, tmp_path):
    # PRISM_PLUGIN_TIMEOUT_MS defaults to 2000
    plugins = plugin_dir(tmp_path / "plugins", **{"m.wasm": "fixtures/misbehaving.wasm"})
    srv = start_server(env={
        "PRISM_PLUGIN_DIR": str(plugins),
        "CHROMA_SERVER_AUTHN_PROVIDER": "misbehaving",
    })
    t0 = time.monotonic()
    r = request(srv, "GET", "/auth/identity", headers={"x-misbehave": "loop"}, timeout=30)
    elapsed = time.monotonic() - t0
    assert_unavailable(r)
    assert 1.5 < elapsed < 2.0 + SLACK_S, elapsed
    _ordinary_request_works(srv)


def test_a_plugin_gets_its_own_deadline_and_memory_cap(start_server, tmp_path):
    """PRISM_AUTHN_PLUGIN_* override the global limits for that plugin only:
    a generous global deadline, a short one for the authenticator."""
    plugins = plugin_dir(tmp_path / "plugins", **{"m.wasm": "fixtures/misbehaving.wasm"})
    srv = start_server(env={
        "PRISM_PLUGIN_DIR": str(plugins),
        "CHROMA_SERVER_AUTHN_PROVIDER": "misbehaving",
        "PRISM_PLUGIN_TIMEOUT_MS": "20000",
        "PRISM_PLUGIN_MEMORY_MB": "512",
        "PRISM_AUTHN_PLUGIN_TIMEOUT_MS": "300",
        "PRISM_AUTHN_PLUGIN_MEMORY_MB": "8",
    })
    for how in ("loop", "oom"):
        t0 = time.monotonic()
        r = request(srv, "GET", "/auth/identity", headers={"x-misbehave": how}, timeout=60)
        elapsed = time.monotonic() - t0
        body = assert_unavailable(r)
        assert elapsed < 0.3 + SLACK_S, f"{how}: {elapsed:.2f} s: the plugin's own deadline was not applied"
    assert "300 ms" in srv.log_text(200000) or "300ms" in srv.log_text(200000), srv.log_text(5000)
    assert "8 MiB" in srv.log_text(200000), srv.log_text(5000)
    _ordinary_request_works(srv)


def _sha256(relative: str) -> str:
    import hashlib
    from auth_util import plugin_file
    return hashlib.sha256(plugin_file(relative).read_bytes()).hexdigest()


def test_a_pinned_plugin_runs_only_with_its_digest(start_server, tmp_path):
    from auth_util import start_refused
    plugins = plugin_dir(tmp_path / "plugins", **{"m.wasm": "fixtures/misbehaving.wasm"})
    env = {"PRISM_PLUGIN_DIR": str(plugins), "CHROMA_SERVER_AUTHN_PROVIDER": "misbehaving"}
    good = _sha256("fixtures/misbehaving.wasm")
    # sha256sum's own output format is accepted as it is.
    srv = start_server(env={**env, "PRISM_AUTHN_PLUGIN_SHA256": f"{good.upper()}  m.wasm"})
    _ordinary_request_works(srv)
    srv.stop()
    other = _sha256("fixtures/versioned-1.wasm")
    out = start_refused(start_server, {**env, "PRISM_AUTHN_PLUGIN_SHA256": other})
    assert "PRISM_AUTHN_PLUGIN_SHA256" in out and good in out and other in out, out
    out = start_refused(start_server, {**env, "PRISM_AUTHN_PLUGIN_SHA256": "abc"})
    assert "is not a SHA-256" in out, out
    out = start_refused(start_server, {**env, "PRISM_AUTHZ_PLUGIN_SHA256": good})
    assert "PRISM_AUTHZ_PLUGIN_SHA256" in out and "applies to no plugin" in out, out


def test_a_replaced_pinned_plugin_is_not_swapped_in(start_server, tmp_path):
    """Live reload keeps the pinned plugin when the file is replaced by
    another build: the new bytes do not match the pin."""
    plugins = plugin_dir(tmp_path / "plugins", **{"v.wasm": "fixtures/versioned-1.wasm"})
    srv = start_server(env={"PRISM_PLUGIN_DIR": str(plugins), "CHROMA_SERVER_AUTHN_PROVIDER": "versioned",
                            "PRISM_AUTHN_PLUGIN_SHA256": _sha256("fixtures/versioned-1.wasm")})
    token = {"Authorization": "Bearer let-me-in"}
    assert identity(srv, token)["user_id"] == "build-1"
    from auth_util import plugin_file
    (plugins / ".v.wasm.tmp").write_bytes(plugin_file("fixtures/versioned-2.wasm").read_bytes())
    (plugins / ".v.wasm.tmp").rename(plugins / "v.wasm")
    deadline = time.monotonic() + 10
    while "not the pinned" not in srv.log_text(200000) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "not the pinned" in srv.log_text(200000)
    assert identity(srv, token)["user_id"] == "build-1"


def test_compiled_plugins_are_kept_on_disk_across_restarts(start_server, tmp_path):
    import os
    import re
    import stat
    cache = tmp_path / "plugin-cache"
    policy = tmp_path / "authz.yaml"
    policy.write_text("roles_mapping:\n  r:\n    actions: ['*']\nusers:\n  - id: u\n    role: r\n    tokens: [t]\n")
    env = {"CHROMA_SERVER_AUTHN_PROVIDER": "token", "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(policy),
           "CHROMA_SERVER_AUTHZ_PROVIDER": "rbac", "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(policy),
           "PRISM_PLUGIN_CACHE_DIR": str(cache), "RUST_LOG": "info"}
    first = start_server(env=env)
    assert identity(first, {"Authorization": "Bearer t"})["user_id"] == "u"
    log = first.log_text(200000)
    assert len(re.findall(r"plugin compiled", log)) >= 2, log[-3000:]
    first.stop()
    entries = sorted(cache.glob("*.cwasm"))
    assert len(entries) >= 2, list(cache.iterdir())
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(e.stat().st_mode) == 0o600 for e in entries)

    second = start_server(path=first.path, env=env)
    assert identity(second, {"Authorization": "Bearer t"})["user_id"] == "u"
    log = second.log_text(200000)
    assert "plugin compiled" not in log, log[-3000:]
    assert len(re.findall(r"compiled plugin loaded from the disk cache", log)) >= 2, log[-3000:]
    second.stop()

    # A damaged entry is compiled again, not loaded.
    damaged = entries[0]
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    third = start_server(path=first.path, env=env)
    assert identity(third, {"Authorization": "Bearer t"})["user_id"] == "u"
    log = third.log_text(200000)
    assert "damaged; compiling again" in log and "plugin compiled" in log, log[-3000:]
    third.stop()

    # A directory others may write is not used (its code would run in Prism).
    os.chmod(cache, 0o777)
    fourth = start_server(path=first.path, env=env)
    assert identity(fourth, {"Authorization": "Bearer t"})["user_id"] == "u"
    log = fourth.log_text(200000)
    assert "writable by other users" in log and "plugin compiled" in log, log[-3000:]

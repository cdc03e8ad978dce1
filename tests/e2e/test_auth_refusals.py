"""Configurations the server must refuse at startup: it exits non-zero
without serving, and its output says why.

Chroma's Python server refuses several of these too (its providers raise
while the app is built, so uvicorn exits 1); those run on both targets, the
message checks only on Prism.
"""

from __future__ import annotations

import re

import pytest

from auth_util import (
    BASIC_SERVER,
    RBAC_SERVER,
    TOKEN_SERVER,
    apache_htpasswd,
    bcrypt_line,
    plugin_dir,
    start_refused,
)
from e2e_util import IS_ANY_CHROMA

pytestmark = pytest.mark.auth


def _prism_says(log: str, *patterns: str) -> None:
    """On Prism, every regex in `patterns` is found in the output."""
    if IS_ANY_CHROMA:
        return
    for p in patterns:
        assert re.search(p, log, re.IGNORECASE | re.MULTILINE), f"{p!r} not in output:\n{log}"


# ---------------------------------------------------------------------------
# shared with Chroma
# ---------------------------------------------------------------------------


def test_unknown_authn_provider(start_server):
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": "chromadb.auth.nope.NoSuchProvider",
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "tok",
    })
    # the message lists what is available
    _prism_says(log, r"chromadb\.auth\.nope\.NoSuchProvider", r"htpasswd", r"\btoken\b")


def test_unknown_authz_provider(start_server):
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "tok",
        "CHROMA_SERVER_AUTHZ_PROVIDER": "no-such-authz",
        "CHROMA_SERVER_AUTHZ_CONFIG": "roles_mapping: {}\nusers: []\n",
    })
    _prism_says(log, r"no-such-authz", r"rbac")


def test_htpasswd_malformed_line(start_server, tmp_path):
    path = tmp_path / "users.htpasswd"
    path.write_text(bcrypt_line("admin", "pw") + "\n" + bcrypt_line("bob", "pw") + "\n"
                    + "this line has no colon\n")
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(path),
    })
    _prism_says(log, re.escape(str(path)), r"\bline 3\b|:3\b")


def test_htpasswd_duplicate_user(start_server, tmp_path):
    path = tmp_path / "users.htpasswd"
    path.write_text(bcrypt_line("admin", "pw1") + "\n" + bcrypt_line("bob", "pw") + "\n"
                    + bcrypt_line("admin", "pw2") + "\n")
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(path),
    })
    _prism_says(log, re.escape(str(path)), r"admin", r"\bline 3\b|:3\b")


def test_credentials_and_credentials_file_together(start_server, tmp_path):
    path = tmp_path / "users.htpasswd"
    path.write_text(bcrypt_line("admin", "pw") + "\n")
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(path),
        "CHROMA_SERVER_AUTHN_CREDENTIALS": bcrypt_line("bob", "pw"),
    })
    _prism_says(log, r"CREDENTIALS")


def test_no_credentials_at_all(start_server):
    start_refused(start_server, {"CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER})


@pytest.mark.parametrize("provider", [BASIC_SERVER, TOKEN_SERVER])
def test_credentials_file_that_does_not_exist(start_server, tmp_path, provider):
    missing = tmp_path / "nope" / "users.txt"
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": provider,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(missing),
    })
    _prism_says(log, re.escape(str(missing)))


def test_authz_config_file_that_does_not_exist(start_server, tmp_path):
    missing = tmp_path / "authz.yaml"
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "tok",
        "CHROMA_SERVER_AUTHZ_PROVIDER": RBAC_SERVER,
        "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(missing),
    })
    _prism_says(log, re.escape(str(missing)))


def test_token_shared_by_two_users(start_server, tmp_path):
    path = tmp_path / "users.yaml"
    path.write_text(
        "users:\n"
        "  - id: alice\n    tokens: [tok-a, shared-tok]\n"
        "  - id: bob\n    tokens: [tok-b, shared-tok]\n"
    )
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(path),
    })
    _prism_says(log, re.escape(str(path)), r"alice", r"bob")
    # the token itself is a secret: Prism does not print it
    if not IS_ANY_CHROMA:
        assert "shared-tok" not in log, log


def test_unknown_token_transport_header(start_server):
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "tok",
        "CHROMA_AUTH_TOKEN_TRANSPORT_HEADER": "Cookie",
    })
    _prism_says(log, r"Cookie")


def test_token_with_invalid_characters(start_server):
    # tokens are ASCII letters, digits and punctuation
    start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "users:\n  - id: a\n    tokens: [\"t\u00f6ken\"]\n",
    })


# ---------------------------------------------------------------------------
# Prism only
# ---------------------------------------------------------------------------


@pytest.mark.prism_only("Chroma starts and then refuses every login of such a user")
@pytest.mark.parametrize(
    "flag,scheme",
    [("-m", "apr1"), ("-s", "SHA"), ("-2", r"\$5\$|SHA|crypt|bcrypt"),
     ("-5", r"\$6\$|SHA|crypt|bcrypt"), ("-d", r"bcrypt"), ("-p", r"bcrypt")],
    ids=["md5-apr1", "sha1", "sha256-crypt", "sha512-crypt", "crypt", "plaintext"],
)
def test_htpasswd_non_bcrypt_hash(start_server, tmp_path, flag, scheme):
    path = tmp_path / "users.htpasswd"
    apache_htpasswd(path, "admin", "admin-pw", cost=4, create=True)
    apache_htpasswd(path, "legacy", "legacy-pw", scheme=flag)
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(path),
    })
    _prism_says(log, re.escape(str(path)), r"\bline 2\b|:2\b", r"legacy", scheme)


@pytest.mark.prism_only("Chroma does not check action names")
def test_rbac_unknown_action(start_server, tmp_path):
    path = tmp_path / "authz.yaml"
    path.write_text(
        "roles_mapping:\n"
        "  admin:\n"
        "    actions: [collection:get, collection:frobnicate]\n"
        "users:\n"
        "  - id: admin\n"
        "    role: admin\n"
    )
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "tok",
        "CHROMA_SERVER_AUTHZ_PROVIDER": RBAC_SERVER,
        "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(path),
    })
    _prism_says(log, re.escape(str(path)), r"collection:frobnicate", r"\bline 3\b|:3\b")


@pytest.mark.prism_only("Chroma does not check roles")
def test_rbac_user_with_undefined_role(start_server):
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "tok",
        "CHROMA_SERVER_AUTHZ_PROVIDER": RBAC_SERVER,
        "CHROMA_SERVER_AUTHZ_CONFIG": "roles_mapping:\n  admin:\n    actions: [\"*\"]\n"
                                      "users:\n  - id: a\n    role: superuser\n",
    })
    _prism_says(log, r"superuser")


@pytest.mark.prism_only(
    "Chroma's Python server starts and then never authorizes anything "
    "(no authn provider means every request is allowed)"
)
def test_authz_without_authn(start_server, tmp_path):
    path = tmp_path / "authz.yaml"
    path.write_text("roles_mapping:\n  admin:\n    actions: [\"*\"]\nusers:\n  - id: a\n    role: admin\n")
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHZ_PROVIDER": RBAC_SERVER,
        "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(path),
    })
    _prism_says(log, r"AUTHN|authentication")


def test_authz_config_and_config_file_together(start_server, tmp_path):
    path = tmp_path / "authz.yaml"
    doc = "roles_mapping:\n  admin:\n    actions: [\"*\"]\nusers:\n  - id: a\n    role: admin\n"
    path.write_text(doc)
    start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "tok",
        "CHROMA_SERVER_AUTHZ_PROVIDER": RBAC_SERVER,
        "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(path),
        "CHROMA_SERVER_AUTHZ_CONFIG": doc,
    })


def test_authz_without_config(start_server):
    start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "tok",
        "CHROMA_SERVER_AUTHZ_PROVIDER": RBAC_SERVER,
    })


@pytest.mark.prism_only("plugins")
def test_duplicate_plugin_names(start_server, tmp_path):
    plugins = plugin_dir(tmp_path / "plugins", **{
        "first.wasm": "fixtures/misbehaving.wasm",
        "second.wasm": "fixtures/misbehaving.wasm",
    })
    log = start_refused(start_server, {
        "PRISM_PLUGIN_DIR": str(plugins),
        "CHROMA_SERVER_AUTHN_PROVIDER": "misbehaving",
    })
    _prism_says(log, r"misbehaving", r"first\.wasm", r"second\.wasm")


@pytest.mark.prism_only("plugins")
def test_plugin_name_taken_by_a_builtin(start_server, tmp_path):
    # a plugin file cannot shadow a built-in provider: copy the built-in
    # htpasswd plugin into the plugin directory
    plugins = plugin_dir(tmp_path / "plugins", **{"htpasswd.wasm": "builtin/htpasswd.wasm"})
    log = start_refused(start_server, {
        "PRISM_PLUGIN_DIR": str(plugins),
        "CHROMA_SERVER_AUTHN_PROVIDER": "htpasswd",
        "CHROMA_SERVER_AUTHN_CREDENTIALS": bcrypt_line("admin", "pw"),
    })
    _prism_says(log, r"htpasswd")


@pytest.mark.prism_only("plugins")
def test_plugin_api_version_mismatch(start_server, tmp_path):
    # Selected, a plugin built for another interface version refuses the
    # start, and the message says why it was not loaded.
    plugins = plugin_dir(tmp_path / "plugins", **{"future-api.wasm": "fixtures/future-api.wasm"})
    log = start_refused(start_server, {
        "PRISM_PLUGIN_DIR": str(plugins),
        "CHROMA_SERVER_AUTHN_PROVIDER": "future-api",
    })
    _prism_says(log, r"no authentication provider is registered as `future-api`", r"Not loaded: .*future-api\.wasm.*9\.0\.0")


@pytest.mark.prism_only("plugins")
def test_an_unloadable_plugin_file_nobody_selected_is_skipped_with_a_warning(start_server, tmp_path):
    # The same at start-up as at reload: a file that is not a loadable plugin
    # cannot take down a configuration that does not use it.
    plugins = plugin_dir(tmp_path / "plugins", **{"future-api.wasm": "fixtures/future-api.wasm"})
    (plugins / "garbage.wasm").write_bytes(b"not a component")
    srv = start_server(env={
        "PRISM_PLUGIN_DIR": str(plugins),
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "tok",
    })
    assert srv.running()
    log = srv.log_text(50000)
    assert re.search(r"plugin file skipped: .*future-api\.wasm.*9\.0\.0", log), log
    assert re.search(r"plugin file skipped: .*garbage\.wasm", log), log


@pytest.mark.prism_only("plugins")
def test_plugin_configure_failure(start_server, tmp_path):
    plugins = plugin_dir(tmp_path / "plugins", **{"m.wasm": "fixtures/misbehaving.wasm"})
    log = start_refused(start_server, {
        "PRISM_PLUGIN_DIR": str(plugins),
        "CHROMA_SERVER_AUTHN_PROVIDER": "misbehaving",
        "PRISM_AUTHN_OPT_FAIL_CONFIGURE": "the reason is 42",
    })
    _prism_says(log, r"the reason is 42")


@pytest.mark.prism_only("plugins")
def test_plugin_trap_while_configuring(start_server, tmp_path):
    plugins = plugin_dir(tmp_path / "plugins", **{"m.wasm": "fixtures/misbehaving.wasm"})
    log = start_refused(start_server, {
        "PRISM_PLUGIN_DIR": str(plugins),
        "CHROMA_SERVER_AUTHN_PROVIDER": "misbehaving",
        "PRISM_AUTHN_OPT_TRAP_CONFIGURE": "1",
    })
    _prism_says(log, r"`misbehaving`.*refused its configuration.*trapped")


@pytest.mark.prism_only("plugins")
def test_plugin_rejects_unknown_fields(start_server, tmp_path):
    plugins = plugin_dir(tmp_path / "plugins", **{"api-keys.wasm": "examples/api-keys.wasm"})
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "keys:\n"
        "  - user: ci-bot\n"
        f"    sha256: {'ab' * 32}\n"
        "    expires: 2099-01-31\n"
        "    role: admin\n"
    )
    log = start_refused(start_server, {
        "PRISM_PLUGIN_DIR": str(plugins),
        "CHROMA_SERVER_AUTHN_PROVIDER": "api-keys",
        "PRISM_AUTHN_OPT_KEYS_FILE": str(keys),
    })
    _prism_says(log, re.escape(str(keys)), r"role")


@pytest.mark.prism_only("plugins")
def test_unknown_provider_lists_plugins_from_the_plugin_dir(start_server, tmp_path):
    plugins = plugin_dir(tmp_path / "plugins", **{"api-keys.wasm": "examples/api-keys.wasm"})
    log = start_refused(start_server, {
        "PRISM_PLUGIN_DIR": str(plugins),
        "CHROMA_SERVER_AUTHN_PROVIDER": "api-key",
    })
    _prism_says(log, r"api-keys", r"htpasswd", r"\btoken\b")


@pytest.mark.prism_only("plugins")
def test_plugin_dir_that_does_not_exist(start_server, tmp_path):
    log = start_refused(start_server, {
        "PRISM_PLUGIN_DIR": str(tmp_path / "no-such-dir"),
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "tok",
    })
    _prism_says(log, r"no-such-dir")


@pytest.mark.prism_only("a plugin of the wrong kind")
def test_authn_provider_that_is_an_authorizer(start_server):
    start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": "rbac",
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "tok",
    })


@pytest.mark.prism_only("Prism's own variables")
@pytest.mark.parametrize(
    "var,value",
    [
        ("PRISM_PLUGIN_TIMEOUT_MS", "0"),
        ("PRISM_PLUGIN_TIMEOUT_MS", "soon"),
        ("PRISM_PLUGIN_MEMORY_MB", "lots"),
        ("PRISM_AUTH_CACHE_TTL_SECS", "-1"),
        ("CHROMA_OVERWRITE_SINGLETON_TENANT_DATABASE_ACCESS_FROM_AUTH", "maybe"),
    ],
)
def test_invalid_auth_variable(start_server, var, value):
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "tok",
        var: value,
    })
    _prism_says(log, var)


@pytest.mark.prism_only("Prism's own variables")
def test_generic_setting_the_plugin_does_not_read(start_server):
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": "htpasswd",
        "CHROMA_SERVER_AUTHN_CREDENTIALS": bcrypt_line("admin", "pw"),
        "PRISM_AUTHN_OPT_NO_SUCH_SETTING": "1",
    })
    _prism_says(log, r"PRISM_AUTHN_OPT_NO_SUCH_SETTING", r"no-such-setting")


# ---------------------------------------------------------------------------
# typos that would leave the server open
# ---------------------------------------------------------------------------


@pytest.mark.prism_only("Chroma starts without auth when its provider variable is misspelt")
@pytest.mark.parametrize(
    "typo, meant",
    [
        ("CHROMA_SERVER_AUTHN_PROVDER", "CHROMA_SERVER_AUTHN_PROVIDER"),
        ("CHROMA_SERVER_AUTHZ_PROVIDR", "CHROMA_SERVER_AUTHZ_PROVIDER"),
        ("PRISM_PLUGIN_TIMOUT_MS", "PRISM_PLUGIN_TIMEOUT_MS"),
    ],
)
def test_a_misspelt_variable_refuses_to_start_and_names_the_right_one(start_server, typo, meant):
    log = start_refused(start_server, {typo: "1000"})
    _prism_says(log, rf"unknown environment variable: {typo} \(did you mean {meant}\?\)")


@pytest.mark.prism_only("Chroma ignores credentials nobody reads")
@pytest.mark.parametrize(
    "env",
    [
        # the provider variable misspelt in a way no check can guess, or forgotten
        {"CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": "/nonexistent/users.htpasswd"},
        {"CHROMA_SERVER_AUTHZ_CONFIG_FILE": "/nonexistent/authz.yaml"},
    ],
)
def test_credentials_or_a_policy_nobody_reads_refuse_to_start(start_server, env):
    log = start_refused(start_server, env)
    (var,) = env
    _prism_says(log, rf"{var}: is set, but no provider reads it")


@pytest.mark.prism_only("Chroma ignores credentials its provider does not read")
def test_a_credentials_file_the_selected_provider_does_not_read_refuses(start_server, tmp_path):
    # The token provider reads tokens from `credentials`/`credentials-file`;
    # a policy file for an authz provider nobody selected is the hole here.
    log = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": "tok",
        "CHROMA_SERVER_AUTHZ_CONFIG": "roles_mapping: {}\nusers: []\n",
    })
    _prism_says(log, r"CHROMA_SERVER_AUTHZ_CONFIG: is set, but no provider reads it")


@pytest.mark.prism_only("Prism's start-up check of variable names")
def test_chromas_own_variables_are_warned_about_not_refused(start_server):
    srv = start_server(env={"CHROMA_SERVER_NOFILE": "65535", "CHROMA_OTEL_GRANULARITY": "all"})
    assert srv.running()
    srv.stop()
    log = srv.log_text(20000)
    assert "CHROMA_SERVER_NOFILE is a Chroma setting Prism does not use" in log, log


@pytest.mark.prism_only("Prism's start-up check of config file keys")
def test_a_misspelt_config_file_key_is_warned_about(tmp_path):
    import subprocess

    from conftest import prism_bin

    config = tmp_path / "config.yaml"
    config.write_text("persit_path: /somewhere\nsqlitedb: {}\n")
    out = subprocess.run(
        [str(prism_bin()), "config", "check", str(config), "--path", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "config file key `persit_path` is unknown and ignored (did you mean `persist_path`?)" in out.stdout, out.stdout
    # Chroma's own keys are ignored quietly.
    assert "ignored keys:   sqlitedb" in out.stdout, out.stdout
    assert "`sqlitedb` is unknown" not in out.stdout

"""The Python plugin SDK, natively, against bindings generated from the
contract it ships (by componentize-py, as a build does):
`python -m pytest plugin-sdk/python/tests`."""

import base64
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def sdk(tmp_path_factory):
    bindings = tmp_path_factory.mktemp("bindings")
    tool = Path(sys.executable).parent / "componentize-py"
    tool = str(tool) if tool.exists() else shutil.which("componentize-py")
    assert tool, "componentize-py is not installed (tests/requirements.txt)"
    subprocess.run([tool, "-d", str(SDK / "prism_plugin_sdk" / "wit"), "-w", "authn-plugin", "bindings",
                    str(bindings)], check=True, capture_output=True)
    sys.path[:0] = [str(bindings), str(SDK)]
    import prism_plugin_sdk
    from componentize_py_types import Err
    from wit_world.imports import types

    yield prism_plugin_sdk, types, Err
    sys.path.remove(str(bindings))
    sys.path.remove(str(SDK))


def request(types, *headers):
    return types.HttpRequest("GET", "/", list(headers), None, None, 0)


def test_metadata_fills_the_contract_version_and_refuses_what_the_host_would(sdk):
    p, types, Err = sdk
    m = p.metadata(name="keys", kind="authn", aliases=["k"], settings=[p.file_setting("keys-file", "k")],
                   cache_key_headers=["X-Key"])
    assert (m.api_version, m.names, m.kind, m.cache_key_headers) == (p.API_VERSION, ["keys", "k"],
                                                                    types.PluginKind.AUTHN, ["x-key"])
    assert m.settings[0].source == types.SettingSource.FILE
    wit = (SDK / "prism_plugin_sdk" / "wit" / "auth.wit").read_text()
    assert f"package prism:auth@{p.API_VERSION};" in wit
    for bad in ({"name": "Keys", "kind": "authn"}, {"name": "keys", "kind": "both"}):
        with pytest.raises(Err) as e:
            p.metadata(**bad)
        assert isinstance(e.value.value, types.PluginError)


def test_credentials_are_read_and_unreadable_ones_are_malformed(sdk):
    p, types, Err = sdk
    basic = base64.b64encode("zoë:pa:ss".encode()).decode()
    assert p.basic_credentials(request(types, ("authorization", f"Basic {basic}"))) == ("zoë", "pa:ss")
    assert p.basic_credentials(request(types, ("authorization", "Bearer x"))) is None
    assert p.bearer_token(request(types, ("authorization", "Bearer  tok "))) == "tok"
    assert p.bearer_token(request(types, ("x-chroma-token", "t2")), "X-Chroma-Token") == "t2"
    assert p.header(request(types, ("x-a", "1"), ("x-a", "2")), "X-A") == "1"
    for headers in (("authorization", "Basic !!!"), ("authorization", "Bearer ")):
        with pytest.raises(Err) as e:
            p.basic_credentials(request(types, headers)) if "Basic" in headers[1] else p.bearer_token(
                request(types, headers))
        assert isinstance(e.value.value, types.AuthnError_Malformed)


def test_errors_and_decisions_are_the_contract_variants(sdk):
    p, types, Err = sdk
    assert isinstance(p.bad_credentials().value, types.AuthnError_BadCredentials)
    assert p.refused("expired").value == types.AuthnError_Refused("expired")
    assert p.unknown_key("kid").value == types.AuthnError_UnknownKey("kid")
    assert p.allow_where({"owner": "alice"}) == types.Decision_AllowWhere('{"owner": "alice"}')
    assert p.deny("no") == types.Decision_Deny("no")
    who = p.identity("bob", attributes=[("role", "r1"), ("role", "r2")])
    assert (p.attribute(who, "role"), p.attributes(who, "role"), p.attribute(who, "team")) == ("r1", ["r1", "r2"],
                                                                                             None)


def test_settings_files_and_lines(sdk):
    p, types, Err = sdk
    config = types.Config(
        settings=[types.Setting("admins", "a, b,,c"), types.Setting("n", "12"), types.Setting("bad", "1.5")],
        files=[types.ConfigFile("keys-file", "/etc/keys.txt", b"# c\n\nteam:k\n  x  \n")],
    )
    s = p.Settings(config)
    assert s.list("admins") == ["a", "b", "c"]
    assert s.number("n", 1, 1, 20) == 12 and s.number("absent", 7) == 7
    with pytest.raises(Err):
        s.number("bad", 1)
    with pytest.raises(Err) as e:
        s.require("absent")
    assert "absent" in e.value.value.message
    keys = s.require_text("keys", "keys-file")
    assert list(keys.lines()) == [(3, "team:k"), (4, "x")]
    error = keys.error(4, "no colon").value
    assert (error.file, error.line, error.message) == ("/etc/keys.txt", 4, "no colon")
    with pytest.raises(Err) as e:
        p.Settings(types.Config([], [types.ConfigFile("f", "p", b"\xff")])).file("f")
    assert "UTF-8" in e.value.value.message


def test_secrets_compare_in_constant_time_by_digest(sdk):
    p, _, _ = sdk
    assert p.constant_time_equal("s3cret", "s3cret") and p.constant_time_equal(b"a", "a")
    assert not p.constant_time_equal("s3cret", "s3cret!") and not p.constant_time_equal("", "a")
    assert p.sha256_hex("k") == hashlib.sha256(b"k").hexdigest()

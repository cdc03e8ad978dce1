"""Plugins in JavaScript, Python and Rust, through the real binary and the
real Python client, built with the pinned toolchains from the package
registries (ComponentizeJS 0.23.0 from npm, componentize-py 0.25.1 from PyPI):

- each language's tutorial (docs/plugins/*.md), its commands run in order
  from an empty directory: `prism plugin new`, the project's own test and
  build, the server, the client, a change rebuilt while the server runs
  (live reload);
- the JavaScript example (examples/js/quota-keys): keys, expiry, quotas,
  a bad keys file refused with its line;
- the Python example (examples/python/access-policy): rules by role, hour
  and network from a YAML policy, a bad policy refused with its line;
- a JavaScript and a Python authorizer that trap and loop forever on some
  actions: 503 for those, the server keeps serving the rest.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import httpx
import pytest

from auth_util import assert_authn_forbidden, assert_authz_forbidden, assert_unavailable, bearer, request
from conftest import REPO_ROOT, free_port, prism_bin
from e2e_util import make_client

pytestmark = [pytest.mark.auth, pytest.mark.prism_only("Prism's plugins")]

BUILD_TIMEOUT = 900
# A JavaScript or Python component takes 10-15 s to compile on first load.
START_TIMEOUT = 180

USERS = """\
users:
  - id: alice
    tokens: [alice-token]
  - id: bob
    role: editor
    tokens: [bob-token]
  - id: carol
    tokens: [carol-token]
"""


def run(command: List[str], cwd: Path, env: Optional[Dict[str, str]] = None, timeout: float = BUILD_TIMEOUT) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command} in {cwd} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def prism_path_env(**extra: str) -> Dict[str, str]:
    """The environment a user has: `prism` on PATH, nothing of ours besides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRISM_", "CHROMA_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{prism_bin().parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def node_build(project: Path, out: Path) -> None:
    run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], project)
    run(["npm", "test"], project)
    run(["npm", "run", "build", "--", "-o", str(out)], project)


def python_build(project: Path, out: Path, tests: bool = True) -> None:
    venv = project / ".venv"
    if not (venv / "bin" / "python").exists():
        run([sys.executable, "-m", "venv", str(venv)], project)
    run([str(venv / "bin" / "pip"), "install", "-q", "-r", "requirements.txt"], project)
    run([str(venv / "bin" / "python"), "-m", "prism_plugin_sdk.build", "-o", str(out)], project)
    if tests:
        run([str(venv / "bin" / "python"), "-m", "unittest", "discover", "tests"], project)


@pytest.fixture(scope="module")
def plugin_cache(tmp_path_factory) -> Path:
    """One disk cache of compiled plugins for the module: a component
    compiles once (10-15 s for JavaScript or Python), not once per server."""
    return tmp_path_factory.mktemp("plugin-cache")


def start(start_server, cache: Path, **env: str):
    return start_server(env={"PRISM_PLUGIN_CACHE_DIR": str(cache), **env}, wait=False)


def ready(srv) -> None:
    srv.wait_ready(timeout=START_TIMEOUT)


def refused_to_start(tmp_path: Path, cache: Path, env: Dict[str, str]) -> str:
    """Run `prism run` with `env`; it must exit non-zero. Its output."""
    done = subprocess.run(
        [str(prism_bin()), "run", "--path", str(tmp_path / "refused"), "--port", str(free_port())],
        env=prism_path_env(PRISM_PLUGIN_CACHE_DIR=str(cache), **env),
        capture_output=True, text=True, timeout=START_TIMEOUT,
    )
    assert done.returncode != 0, done.stdout + done.stderr
    return done.stdout + done.stderr


# --------------------------------------------------------------- tutorials

FENCE = re.compile(r"^```([a-z]*)([^\n]*)\n(.*?)^```", re.M | re.S)
PRINTS = re.compile(r"#\s*prints:\s*(.+?)\s*$")


class Tutorial:
    """Runs a tutorial's blocks in order: `sh` in a shell whose directory
    carries over, `sh server` in the background, `python` with the test
    client (port 8000 pointed at the server; `# prints: X` must be printed;
    `python wait` retried until it holds, for a reload to land)."""

    def __init__(self, home: Path, env: Dict[str, str]) -> None:
        self.cwd = home
        self.env = env
        self.port = free_port()
        self.server: Optional[subprocess.Popen] = None
        self.log = home / "server.log"

    def sh(self, code: str) -> None:
        marker = self.cwd / ".." / f".cwd-{os.getpid()}"
        script = f"set -euo pipefail\n{code}\npwd > {marker.resolve()}\n"
        done = subprocess.run(["bash", "-c", script], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True, timeout=BUILD_TIMEOUT)
        assert done.returncode == 0, f"```sh\n{code}```\nfailed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        self.cwd = Path(marker.resolve().read_text().strip())

    def start_server(self, code: str) -> None:
        env = dict(self.env, CHROMA_SERVER_HTTP_PORT=str(self.port), PRISM_AUTH_MAX_FAILURES="0")
        self.server = subprocess.Popen(["bash", "-c", code], cwd=self.cwd, env=env, start_new_session=True,
                                       stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.server.poll() is None, f"the server exited:\n{self.log.read_text()[-4000:]}"
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"the tutorial's server did not start:\n{self.log.read_text()[-4000:]}")

    def python(self, code: str, wait: bool) -> None:
        code = code.replace("port=8000", f"port={self.port}")
        expected = [m.group(1) for line in code.splitlines() if (m := PRINTS.search(line))]
        deadline = time.monotonic() + (START_TIMEOUT if wait else 0)
        while True:
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
            printed = done.stdout.splitlines()
            if done.returncode == 0 and printed == expected:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"```python\n{code}```\nprinted {printed}, expected {expected}:\n{done.stderr[-3000:]}\n"
                            f"server log:\n{self.log.read_text()[-3000:]}")
            time.sleep(1)

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, 15)
            self.server.wait(timeout=30)


@pytest.mark.parametrize("language", ["javascript", "python", "rust"])
def test_the_tutorial_runs_as_written(language, tmp_path):
    text = (REPO_ROOT / "docs" / "plugins" / f"{language}.md").read_text()
    home = tmp_path / "home"
    home.mkdir()
    extra = {"PRISM_PLUGIN_CACHE_DIR": str(tmp_path / "cache")}
    if language == "rust":
        # Share the repository's build cache: the SDK's dependencies and the
        # standard library scripts/build-plugins.sh compiled are reused.
        extra["CARGO_TARGET_DIR"] = str(REPO_ROOT / "target")
    tutorial = Tutorial(home, prism_path_env(**extra))
    ran = []
    try:
        for lang, info, code in FENCE.findall(text):
            info = info.strip()
            if lang == "sh" and info == "server":
                tutorial.start_server(code)
            elif lang == "sh":
                tutorial.sh(code)
            elif lang == "python":
                tutorial.python(code, wait=info == "wait")
            else:
                continue
            ran.append(f"{lang} {info}".strip())
    finally:
        tutorial.stop()
    # The page has what the test relies on: a server, calls, a reload.
    assert "sh server" in ran and "python" in ran and ran[-1] == "python wait", ran
    assert "auth configuration reloaded" in tutorial.log.read_text(), tutorial.log.read_text()[-3000:]


# --------------------------------------------------------------- examples


@pytest.fixture(scope="module")
def quota_keys(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("js-example") / "plugins" / "quota-keys.wasm"
    node_build(REPO_ROOT / "examples" / "js" / "quota-keys", out)
    return out


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def test_the_javascript_example_counts_quotas_and_expires_keys(quota_keys, plugin_cache, start_server, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text(
        "# name sha256 quota expires\n"
        f"search   {sha256('search-key')}  unlimited never\n"
        f"metered  {sha256('metered-key')} 3/day     never\n"
        f"retired  {sha256('retired-key')} unlimited 2020-01-01\n"
    )
    srv = start(start_server, plugin_cache, PRISM_PLUGIN_DIR=str(quota_keys.parent), CHROMA_SERVER_AUTHN_PROVIDER="quota-keys",
                PRISM_AUTHN_OPT_KEYS_FILE=str(keys), PRISM_AUTHN_PLUGIN_INSTANCES="1")
    ready(srv)
    client = make_client(srv, headers={"X-Api-Key": "search-key"})
    assert client.get_user_identity().user_id == "search"
    client.create_collection("quota-docs").add(ids=["a"], embeddings=[[1.0, 2.0]])
    assert make_client(srv, headers={"Authorization": "Bearer search-key"}).get_collection("quota-docs").count() == 1

    assert_authn_forbidden(request(srv, "GET", "/auth/identity", headers={"X-Api-Key": "nope"}))
    expired = request(srv, "GET", "/auth/identity", headers={"X-Api-Key": "retired-key"})
    assert expired.status_code == 401, expired.text
    # Three a day (the window is the UTC day: a run across midnight could
    # see a fourth allowed, never a refusal before the third).
    for _ in range(3):
        assert request(srv, "GET", "/auth/identity", headers={"X-Api-Key": "metered-key"}).status_code == 200
    over = request(srv, "GET", "/auth/identity", headers={"X-Api-Key": "metered-key"})
    assert over.status_code == 401, over.text
    log = srv.log_text(20000)
    assert "key retired expired at 2020-01-01T00:00:00Z" in log, log
    assert "key metered is over its quota of 3/day" in log, log
    assert "retired-key" not in log and "metered-key" not in log


def test_the_javascript_example_refuses_a_bad_keys_file_with_its_line(quota_keys, plugin_cache, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text(f"search {sha256('k')} unlimited never\nmetered {sha256('k2')} 3/fortnight never\n")
    out = refused_to_start(tmp_path, plugin_cache, {"PRISM_PLUGIN_DIR": str(quota_keys.parent),
                                      "CHROMA_SERVER_AUTHN_PROVIDER": "quota-keys",
                                      "PRISM_AUTHN_OPT_KEYS_FILE": str(keys)})
    assert f"{keys}, line 2: quota \"3/fortnight\"" in out, out


@pytest.fixture(scope="module")
def access_policy(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("python-example") / "plugins" / "access-policy.wasm"
    python_build(REPO_ROOT / "examples" / "python" / "access-policy", out)
    return out


def policy_closed_now() -> str:
    """A policy whose only write rule for everyone is outside the current hour."""
    hour = datetime.datetime.now(datetime.timezone.utc).hour
    window = f"{(hour + 2) % 24:02d}:00-{(hour + 3) % 24:02d}:00"
    return f"""\
rules:
  - name: admins
    users: [alice]
    allow: ["*"]
  - name: writes-later
    users: ["*"]
    allow: [write]
    hours: "{window}"
  - name: editors-from-this-machine
    roles: [editor]
    allow: ["*"]
    networks: [127.0.0.0/8, "::1/128"]
  - name: reads-from-elsewhere
    users: ["*"]
    allow: [read]
    networks: [203.0.113.0/24]
"""


def test_the_python_example_decides_by_role_hour_and_network(access_policy, plugin_cache, start_server, tmp_path):
    users, policy = tmp_path / "users.yaml", tmp_path / "policy.yaml"
    users.write_text(USERS)
    policy.write_text(policy_closed_now())
    srv = start(start_server, plugin_cache, PRISM_PLUGIN_DIR=str(access_policy.parent),
                CHROMA_SERVER_AUTHN_PROVIDER="token", CHROMA_SERVER_AUTHN_CREDENTIALS_FILE=str(users),
                CHROMA_SERVER_AUTHZ_PROVIDER="access-policy", PRISM_AUTHZ_OPT_POLICY_FILE=str(policy))
    ready(srv)
    alice = make_client(srv, headers=bearer("alice-token"))
    alice.create_collection("policy-docs").add(ids=["a"], embeddings=[[1.0, 0.0]])
    bob = make_client(srv, headers=bearer("bob-token"))
    bob.get_collection("policy-docs").add(ids=["b"], embeddings=[[0.0, 1.0]])
    assert bob.get_collection("policy-docs").count() == 2

    carol = bearer("carol-token")
    assert_authz_forbidden(request(srv, "GET", "/tenants/default_tenant/databases/default_database/collections",
                                   headers=carol))
    assert_authz_forbidden(request(srv, "POST", "/tenants/default_tenant/databases/default_database/collections",
                                   {"name": "carol-docs"}, headers=carol))
    log = srv.log_text(20000)
    assert "no rule allows carol db:list_collections at" in log and "from 127.0.0.1" in log, log


def test_the_python_example_refuses_a_bad_policy_with_its_line(access_policy, plugin_cache, tmp_path):
    users, policy = tmp_path / "users.yaml", tmp_path / "policy.yaml"
    users.write_text(USERS)
    policy.write_text("rules:\n  - name: a\n    users: [x]\n    allow: [read]\n  - name: b\n    users: [y]\n"
                      "    allow: [read]\n    hours: 9-5\n")
    out = refused_to_start(tmp_path, plugin_cache, {"PRISM_PLUGIN_DIR": str(access_policy.parent),
                                      "CHROMA_SERVER_AUTHN_PROVIDER": "token",
                                      "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users),
                                      "CHROMA_SERVER_AUTHZ_PROVIDER": "access-policy",
                                      "PRISM_AUTHZ_OPT_POLICY_FILE": str(policy)})
    assert f"{policy}, line 5: rule 'b': hours '9-5'" in out, out


# ------------------------------------------------ traps and endless loops

FAULTS = {
    "js": ("src/plugin.js", "  authorize(identity, action, resource) {\n",
           "    if (action === 'collection:count') null.crash;\n"
           "    if (action === 'collection:query') for (;;) {}\n"),
    "python": ("app.py", "    def authorize(self, identity, action, resource):\n",
               "        if action == 'collection:count':\n            raise RuntimeError('crash')\n"
               "        if action == 'collection:query':\n            while True:\n                pass\n"),
}


@pytest.mark.parametrize("lang", ["js", "python"])
def test_a_guest_that_traps_or_loops_is_contained(lang, plugin_cache, start_server, tmp_path):
    project = tmp_path / "faulty"
    run([str(prism_bin()), "plugin", "new", "--lang", lang, "--kind", "authz", "faulty", str(project)], tmp_path)
    source, anchor, fault = FAULTS[lang]
    path = project / source
    text = path.read_text()
    assert anchor in text
    path.write_text(text.replace(anchor, anchor + fault))
    out = tmp_path / "plugins" / "faulty.wasm"
    if lang == "js":
        run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], project)
        run(["npm", "run", "build", "--", "-o", str(out)], project)
    else:
        # Not the project's tests: they would run the endless loop natively.
        python_build(project, out, tests=False)
    users = tmp_path / "users.yaml"
    users.write_text(USERS)
    srv = start(start_server, plugin_cache, PRISM_PLUGIN_DIR=str(out.parent), CHROMA_SERVER_AUTHN_PROVIDER="token",
                CHROMA_SERVER_AUTHN_CREDENTIALS_FILE=str(users), CHROMA_SERVER_AUTHZ_PROVIDER="faulty",
                PRISM_AUTHZ_OPT_ADMINS="alice", PRISM_AUTHZ_PLUGIN_TIMEOUT_MS="1000")
    ready(srv)
    alice = make_client(srv, headers=bearer("alice-token"))
    col = alice.create_collection("faulty-docs")
    col.add(ids=["a"], embeddings=[[1.0, 2.0]])
    base = f"/tenants/default_tenant/databases/default_database/collections/{col.id}"
    headers = bearer("alice-token")
    for _ in range(2):
        assert_unavailable(request(srv, "GET", f"{base}/count", headers=headers))
        # The loop is cut by the deadline (the log says so, below).
        assert_unavailable(request(srv, "POST", f"{base}/query",
                                   {"query_embeddings": [[1.0, 2.0]], "n_results": 1}, headers=headers))
        # Everything else is still served, by a fresh instance.
        got = request(srv, "POST", f"{base}/get", {}, headers=headers)
        assert got.status_code == 200 and got.json()["ids"] == ["a"], got.text
    assert_authz_forbidden(request(srv, "POST", f"{base}/add",
                                   {"ids": ["b"], "embeddings": [[0.0, 1.0]]}, headers=bearer("bob-token")))
    assert srv.running()
    log = srv.log_text(40000)
    assert "exceeded its 1000 ms deadline" in log, log

"""Every shipped example configuration works: each docker-compose file under
examples/compose is read (its prism service's `environment:` and `volumes:`,
with the image's defaults from the Dockerfile underneath), its container paths
are translated to the example files in the repository or to the files an
operator makes (htpasswd files, certificates, plugins, keys), the real binary
is started with exactly that environment, and with the real Python client
each user the file (or examples/compose/README.md) describes connects, does
what it may, and is refused what it may not.

A compose file without a case here fails `test_example[<file>]`, and so does
a case whose file is gone. The README's table of what each client call needs
(authorization actions) is checked against the server's audit log.

Prism-only: the examples configure Prism (plugins, scopes, TLS).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

import httpx
import pytest
import yaml

from auth_util import (
    admin_client,
    apache_htpasswd,
    assert_authz_forbidden,
    basic_client,
    basic_header,
    header_client,
    identity,
    plugin_dir,
    raises_authz_denial,
    request,
    sha256_hex,
    token_client,
)
from conftest import prism_bin
from tls_util import Pki, context

pytestmark = [pytest.mark.auth, pytest.mark.prism_only("the examples configure Prism")]

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO_ROOT / "examples" / "compose"
README = COMPOSE_DIR / "README.md"
DOCKERFILE = REPO_ROOT / "Dockerfile"

# The service keys this translation understands; any other (command:,
# env_file:, entrypoint: ...) could change how the server starts, so a compose
# file using one fails until the test learns it.
SERVICE_KEYS = {"image", "volumes", "working_dir", "environment", "ports", "networks"}


# ---------------------------------------------------------------------------
# compose files and the image
# ---------------------------------------------------------------------------


def compose_files() -> List[str]:
    """The compose files: YAML files under examples/compose with `services:`
    (authz.yaml is a policy file that token-rbac.yaml mounts)."""
    names = []
    for p in sorted(COMPOSE_DIR.iterdir()):
        if p.suffix in (".yaml", ".yml") and "services" in (yaml.safe_load(p.read_text()) or {}):
            names.append(p.name)
    return names


_VAR = re.compile(
    r"\$(?:(?P<dollar>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: str, shell: Mapping[str, str]) -> str:
    """docker compose's variable interpolation: $$, $VAR, ${VAR},
    ${VAR:-default}, ${VAR-default}, ${VAR:+alt}, ${VAR+alt}, ${VAR:?err}."""

    def sub(m: re.Match) -> str:
        if m.group("dollar"):
            return "$"
        name = m.group("braced") or m.group("plain")
        value, op, arg = shell.get(name), m.group("op"), m.group("arg") or ""
        if op == ":-":
            return value if value else arg
        if op == "-":
            return arg if value is None else value
        if op == ":+":
            return arg if value else ""
        if op == "+":
            return "" if value is None else arg
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            raise AssertionError(f"${{{name}}} is required: {arg}")
        return value or ""

    return _VAR.sub(sub, value)


def compose_environment(service: Dict[str, Any], shell: Mapping[str, str]) -> Dict[str, str]:
    """The service's environment as compose passes it (list or map form; a
    name without a value takes the shell's, and is left out when unset)."""
    raw = service.get("environment") or {}
    pairs: List[Tuple[str, Optional[str]]] = []
    if isinstance(raw, list):
        for entry in raw:
            name, sep, value = str(entry).partition("=")
            pairs.append((name, interpolate(value, shell) if sep else shell.get(name)))
    else:
        for name, value in raw.items():
            if value is None:
                pairs.append((name, shell.get(name)))
            elif isinstance(value, bool):
                pairs.append((name, "true" if value else "false"))
            else:
                pairs.append((name, interpolate(str(value), shell)))
    return {k: v for k, v in pairs if v is not None}


@dataclass
class Image:
    env: Dict[str, str]
    workdir: str
    dirs: List[str]  # directories the image makes (mkdir -p)


def image_defaults() -> Image:
    """ENV, WORKDIR and the directories of the Dockerfile's `base` stage (the
    runtime image's)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stage, env, workdir, dirs = None, {}, "/", []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word == "FROM":
            stage = rest.split()[-1]
        elif stage != "base":
            continue
        elif word == "ENV":
            for token in shlex.split(rest):
                k, _, v = token.partition("=")
                env[k] = v
        elif word == "WORKDIR":
            workdir = rest.strip()
        elif word == "RUN":
            m = re.search(r"mkdir -p((?:\s+/\S+)+)", rest)
            if m:
                dirs += m.group(1).split()
    assert env and dirs, f"no ENV or directories found in the base stage of {DOCKERFILE}"
    return Image(env, workdir, dirs)


def uncomment(text: str, names: Iterable[str]) -> str:
    """The compose text with the commented-out environment entries `NAME=...`
    turned on, as the file's comments tell an operator to."""
    for name in names:
        pattern = re.compile(rf"^(?P<indent>[ \t]*)#\s*(?P<entry>- {re.escape(name)}=.*)$", re.M)
        text, n = pattern.subn(r"\g<indent>\g<entry>", text)
        assert n == 1, f"no commented-out `- {name}=` entry to turn on"
    return text


@dataclass
class Deployment:
    """One compose file on this machine: the server's environment with every
    container path translated to a host path."""

    name: str
    env: Dict[str, str]
    container_env: Dict[str, str]
    mounts: Dict[str, Path] = field(default_factory=dict)  # container path -> host path


class Example:
    """A compose file to run: `ops` is the operator's directory beside the
    compose file (where `./server.htpasswd`, `./plugins`, ... are made), `data`
    the server's data directory."""

    def __init__(self, name: str, tmp_path: Path, start_server: Callable[..., Any]) -> None:
        self.name = name
        self.ops = tmp_path / "compose"
        self.ops.mkdir()
        self.data = tmp_path / "data"
        self.image_root = tmp_path / "image"
        self.volumes = tmp_path / "volumes"
        self._start_server = start_server

    def deployment(self, text: Optional[str] = None, extra_env: Optional[Dict[str, str]] = None
                   ) -> Deployment:
        text = (COMPOSE_DIR / self.name).read_text() if text is None else text
        doc = yaml.safe_load(text)
        services = doc["services"]
        assert len(services) == 1, f"{self.name}: expected one service, got {list(services)}"
        (service,) = services.values()
        unknown = set(service) - SERVICE_KEYS
        assert not unknown, f"{self.name}: the test does not translate {sorted(unknown)}; teach it"
        assert str(service.get("image", "")).startswith("prism"), service.get("image")
        image = image_defaults()
        # Nothing set in the operator's shell and no .env file: every ${VAR}
        # takes its default.
        env = dict(image.env)
        env.update(compose_environment(service, shell={}))
        workdir = PurePosixPath(service.get("working_dir") or image.workdir)
        data_dir = PurePosixPath(env.get("PERSIST_DIRECTORY") or image.env["PERSIST_DIRECTORY"])

        roots: Dict[PurePosixPath, Path] = {}
        for d in image.dirs:
            roots[PurePosixPath(d)] = self.image_root / d.lstrip("/")
        for entry in service.get("volumes") or []:
            assert isinstance(entry, str), f"{self.name}: long volume syntax not understood: {entry}"
            source, target = entry.split(":")[:2]
            target_p = PurePosixPath(target)
            if target_p == data_dir:
                host = self.data
            elif source.startswith((".", "/")):
                rel = source[2:] if source.startswith("./") else source
                in_repo = COMPOSE_DIR / rel
                host = in_repo if in_repo.exists() else self.ops / rel
                if not host.exists():
                    pytest.fail(
                        f"{self.name} mounts {source}: the test must make it in {self.ops} "
                        "as an operator would (see the compose file's comments)",
                        pytrace=False,
                    )
            else:  # a named volume
                host = self.volumes / source
            roots[target_p] = host
        roots[data_dir] = self.data
        for host in roots.values():
            if host != self.data and not host.exists():
                host.mkdir(parents=True)

        def host_path(container: PurePosixPath) -> Optional[Path]:
            for root in sorted(roots, key=lambda r: len(r.parts), reverse=True):
                if container == root or container.is_relative_to(root):
                    return roots[root] / container.relative_to(root)
            return None

        translated: Dict[str, str] = {}
        for k, v in env.items():
            value = v.strip()
            if value.startswith("/"):
                host = host_path(PurePosixPath(value))
                assert host is not None, (
                    f"{self.name}: {k}={value} is neither mounted nor in the image")
                translated[k] = str(host)
            elif value and not value.startswith(("'", '"')):
                host = host_path(workdir / value)
                # A relative value is a path when it names a file there
                # (`server.htpasswd` in working_dir /chroma).
                translated[k] = str(host) if host is not None and host.exists() else v
            else:
                translated[k] = v
        translated["PERSIST_DIRECTORY"] = str(self.data)
        translated.update(extra_env or {})
        return Deployment(self.name, translated, env, {str(k): v for k, v in roots.items()})

    def start(self, text: Optional[str] = None, verify: Optional[Any] = None,
              extra_env: Optional[Dict[str, str]] = None, allow_reset: bool = False):
        d = self.deployment(text, extra_env)
        # Compose files do not set ALLOW_RESET: neither does the test.
        return self._start_server(path=self.data, env=d.env, allow_reset=allow_reset, verify=verify)


@pytest.fixture
def example(tmp_path, start_server) -> Callable[[str], Example]:
    return lambda name: Example(name, tmp_path, start_server)


# ---------------------------------------------------------------------------
# what users do
# ---------------------------------------------------------------------------

RECORDS = {
    "ids": ["a", "b"],
    "embeddings": [[1.0, 0.0], [0.0, 1.0]],
    "documents": ["alpha", "beta"],
}


def writes(client, name: str, create: str = "create"):
    """Create (or get_or_create) `name`, add, query, get and count."""
    col = getattr(client, f"{create}_collection")(name)
    col.add(**RECORDS)
    got = col.query(query_embeddings=[[0.9, 0.1]], n_results=1)
    assert got["ids"] == [["a"]] and got["documents"] == [["alpha"]]
    assert col.get(ids=["b"])["documents"] == ["beta"]
    assert col.count() == 2
    return col


def reads(client, name: str) -> None:
    """What a reader does with a collection someone else filled."""
    col = client.get_collection(name)
    assert col.count() == 2
    assert col.query(query_embeddings=[[0.1, 0.9]], n_results=1)["ids"] == [["b"]]
    assert sorted(col.get()["ids"]) == ["a", "b"]


def refused(fn: Callable[[], Any]) -> None:
    with raises_authz_denial():
        fn()


# ---------------------------------------------------------------------------
# the cases, one per compose file
# ---------------------------------------------------------------------------

CASES: Dict[str, Callable[[Callable[[str], Example]], None]] = {}


def case(name: str):
    def register(fn):
        CASES[name] = fn
        return fn

    return register


@case("basic-auth.yaml")
def basic_auth(example) -> None:
    """Basic auth from ./server.htpasswd (`htpasswd -B`, as the README says);
    no authorization provider: every user may do everything."""
    ex = example("basic-auth.yaml")
    users = ex.ops / "server.htpasswd"
    apache_htpasswd(users, "admin", "admin", create=True)
    apache_htpasswd(users, "alice", "alice-pw")
    srv = ex.start()
    admin = basic_client(srv, "admin", "admin")
    assert admin.heartbeat() > 0
    writes(admin, "admins")
    alice = basic_client(srv, "alice", "alice-pw")
    writes(alice, "alices")
    reads(alice, "admins")
    assert sorted(c.name for c in admin.list_collections()) == ["admins", "alices"]
    refused(lambda: basic_client(srv, "admin", "wrong"))
    refused(lambda: basic_client(srv, "mallory", "admin"))
    refused(lambda: header_client(srv, {}))
    # The data went where PERSIST_DIRECTORY (./chromadb) points.
    assert any(ex.data.iterdir())


@case("token-auth.yaml")
def token_auth(example) -> None:
    """One static token, `chr0ma-t0k3n` (quotes dropped), in
    `Authorization: Bearer`."""
    ex = example("token-auth.yaml")
    srv = ex.start()
    client = token_client(srv, "chr0ma-t0k3n", header="Authorization")
    writes(client, "tokens")
    assert identity(srv, {"Authorization": "Bearer chr0ma-t0k3n"})["user_id"] == "anonymous"
    refused(lambda: token_client(srv, "wrong-token", header="Authorization"))
    # Only the configured header is read.
    refused(lambda: token_client(srv, "chr0ma-t0k3n", header="X-Chroma-Token"))
    refused(lambda: header_client(srv, {}))


ADMIN = "admin-token-change-me"
ANALYST = "analyst-token-change-me"
BOT = "acme-token-change-me"
XCT = "X-Chroma-Token"


@case("token-rbac.yaml")
def token_rbac(example) -> None:
    """authz.yaml's users: admin does everything; analyst reads anywhere;
    acme-docs-bot connects to acme/docs and there creates and uses the
    collections docs-*, and nothing else."""
    ex = example("token-rbac.yaml")
    d = ex.deployment()
    # The repository's authz.yaml is what the server reads.
    assert d.env["CHROMA_SERVER_AUTHN_CREDENTIALS_FILE"] == str(COMPOSE_DIR / "authz.yaml")
    assert d.env["CHROMA_SERVER_AUTHZ_CONFIG_FILE"] == str(COMPOSE_DIR / "authz.yaml")
    srv = ex.start()

    # admin: tenants, databases, collections anywhere.
    admin = admin_client(srv, {XCT: ADMIN})
    admin.create_tenant("acme")
    admin.create_database("docs", tenant="acme")
    admin.create_database("other", tenant="acme")
    root = token_client(srv, ADMIN, header=XCT)
    writes(root, "shared")
    root_acme = token_client(srv, ADMIN, header=XCT, tenant="acme", database="docs")
    private = writes(root_acme, "private-notes")
    writes(root_acme, "docs-admin")
    writes(token_client(srv, ADMIN, header=XCT, tenant="acme", database="other"), "docs-elsewhere")

    # analyst: connects, lists and reads anywhere; writes nothing.
    analyst = token_client(srv, ANALYST, header=XCT)
    assert [c.name for c in analyst.list_collections()] == ["shared"]
    reads(analyst, "shared")
    reads(token_client(srv, ANALYST, header=XCT, tenant="acme", database="docs"), "private-notes")
    col = analyst.get_collection("shared")
    refused(lambda: col.add(ids=["x"], embeddings=[[1.0, 1.0]]))
    refused(lambda: col.delete(ids=["a"]))
    refused(lambda: analyst.create_collection("analysts"))
    refused(lambda: analyst.delete_collection("shared"))
    refused(lambda: admin_client(srv, {XCT: ANALYST}).create_database("mine", tenant="acme"))
    assert root.get_collection("shared").count() == 2

    # acme-docs-bot: connect to acme/docs (tenant:get_tenant, db:get_database) ...
    bot = token_client(srv, BOT, header=XCT, tenant="acme", database="docs")
    # ... create and use docs-* ...
    writes(bot, "docs-manual", create="get_or_create")
    writes(bot, "docs-faq")
    assert bot.get_or_create_collection("docs-manual").count() == 2
    reads(bot, "docs-admin")
    bot.get_collection("docs-faq").upsert(ids=["c"], embeddings=[[1.0, 1.0]], documents=["gamma"])
    bot.get_collection("docs-faq").delete(ids=["c"])
    bot.get_collection("docs-faq").modify(metadata={"owner": "bot"})
    bot.delete_collection("docs-faq")
    # ... and nothing else: no other collection, no listing, no other
    # database or tenant, no admin calls.
    refused(lambda: bot.create_collection("notes"))
    refused(lambda: bot.get_or_create_collection("private-notes"))
    refused(lambda: bot.get_collection("private-notes"))
    r = request(srv, "POST", f"/tenants/acme/databases/docs/collections/{private.id}/add",
                body={"ids": ["x"], "embeddings": [[1.0, 1.0]]}, headers={XCT: BOT})
    assert_authz_forbidden(r)
    refused(lambda: bot.list_collections())
    refused(lambda: bot.count_collections())
    refused(lambda: token_client(srv, BOT, header=XCT))  # default_tenant
    refused(lambda: token_client(srv, BOT, header=XCT, tenant="acme", database="other"))
    refused(lambda: admin_client(srv, {XCT: BOT}).create_database("bots", tenant="acme"))
    refused(lambda: admin_client(srv, {XCT: BOT}).list_databases(tenant="acme"))
    assert root_acme.get_collection("private-notes").count() == 2
    # Unknown tokens and the wrong header.
    refused(lambda: token_client(srv, "nope", header=XCT))
    refused(lambda: token_client(srv, ADMIN, header="Authorization"))


# Chroma's "Multi-User Basic Auth" article: its server.htpasswd, verbatim
# (users admin and user1, password "password123").
ARTICLE_HTPASSWD = (
    "admin:$2y$05$vkBK4b1Vk5O98jNHgr.uduTJsTOfM395sKEKe48EkJCVPH/MBIeHK\n"
    "user1:$2y$05$UQ0kC2x3T2XgeN4WU12BdekUwCJmLjJNhMaMtFNolYdj83OqiEpVu\n"
)


@case("legacy-0.4.yaml")
def legacy(example) -> None:
    """The article's setup: CHROMA_SERVER_AUTH_* with their ${..:-defaults},
    the unset ones empty; the article's two users do everything."""
    ex = example("legacy-0.4.yaml")
    (ex.ops / "server.htpasswd").write_text(ARTICLE_HTPASSWD)
    d = ex.deployment()
    assert d.container_env["CHROMA_SERVER_AUTH_PROVIDER"] == "chromadb.auth.basic.BasicAuthServerProvider"
    assert d.container_env["CHROMA_SERVER_AUTH_CREDENTIALS"] == ""
    srv = ex.start()
    for user in ["admin", "user1"]:
        c = basic_client(srv, user, "password123")
        assert c.heartbeat() > 0
        c.get_or_create_collection("test_collection")
        assert [x.name for x in c.list_collections()] == ["test_collection"]
    writes(basic_client(srv, "user1", "password123"), "user1s")
    refused(lambda: basic_client(srv, "invalid_user", "password123"))
    refused(lambda: basic_client(srv, "admin", "wrong"))
    refused(lambda: header_client(srv, {}))


TODAY = dt.datetime.now(dt.timezone.utc).date()
KEYS = {
    # name: (user, key, expires, tenant, databases)
    "ops": ("ops", "key-ops-0123456789abcdef", TODAY + dt.timedelta(days=30), None, None),
    "ci": ("ci-bot", "key-ci-0123456789abcdef", TODAY + dt.timedelta(days=30),
           "default_tenant", ["default_database"]),
    "expired": ("old-bot", "key-old-0123456789abcdef", TODAY - dt.timedelta(days=1), None, None),
}


@case("custom-plugin.yaml")
def custom_plugin(example) -> None:
    """The api-keys plugin from ./plugins with ./keys.yaml (the plugin's
    README): a valid key works within its scope; expired and unknown keys
    are refused."""
    ex = example("custom-plugin.yaml")
    plugin_dir(ex.ops / "plugins", **{"api-keys.wasm": "examples/api-keys.wasm"})
    lines = ["keys:"]
    for user, key, expires, tenant, dbs in KEYS.values():
        lines += [f"  - user: {user}", f"    sha256: {sha256_hex(key)}", f"    expires: {expires}"]
        if tenant:
            lines += [f"    tenant: {tenant}", f"    databases: [{', '.join(dbs)}]"]
    (ex.ops / "keys.yaml").write_text("\n".join(lines) + "\n")
    srv = ex.start()

    def key(name: str) -> Dict[str, str]:
        return {"X-Api-Key": KEYS[name][1]}

    ops = header_client(srv, key("ops"))
    writes(ops, "ops")
    admin_client(srv, key("ops")).create_tenant("acme")
    ci = header_client(srv, key("ci"))
    assert ci.get_user_identity().user_id == "ci-bot"
    writes(ci, "ci-bots")
    reads(ci, "ops")
    # ci-bot's key is scoped to default_tenant/default_database.
    refused(lambda: header_client(srv, key("ci"), tenant="acme", database="default_database"))
    refused(lambda: admin_client(srv, key("ci")).create_database("ci-db"))
    refused(lambda: header_client(srv, key("expired")))
    refused(lambda: header_client(srv, {"X-Api-Key": "key-unknown-0123456789abcdef"}))
    refused(lambda: header_client(srv, {}))


@case("plugin-and-htpasswd.yaml")
def plugin_and_htpasswd(example) -> None:
    """./server.htpasswd made with `prism htpasswd add` (as the file's
    comments say) and the read-only plugin from ./plugins, found through the
    image's PRISM_PLUGIN_DIR=/plugins: alice (PRISM_AUTHZ_OPT_WRITERS) writes,
    every other user only reads."""
    ex = example("plugin-and-htpasswd.yaml")
    plugin_dir(ex.ops / "plugins", **{"read-only.wasm": "examples/read-only.wasm"})
    users = ex.ops / "server.htpasswd"
    for user, password in [("alice", "pw-alice"), ("bob", "pw-bob")]:
        subprocess.run(
            [str(prism_bin()), "htpasswd", "add", "--cost", "4", str(users), user],
            input=f"{password}\n", text=True, check=True, capture_output=True,
        )
    assert ex.deployment().env["PRISM_PLUGIN_DIR"] == str(ex.ops / "plugins")
    srv = ex.start()
    alice = basic_client(srv, "alice", "pw-alice")
    writes(alice, "shared")
    bob = basic_client(srv, "bob", "pw-bob")
    assert [c.name for c in bob.list_collections()] == ["shared"]
    reads(bob, "shared")
    col = bob.get_collection("shared")
    refused(lambda: bob.create_collection("bobs"))
    refused(lambda: col.add(ids=["x"], embeddings=[[1.0, 1.0]]))
    refused(lambda: col.delete(ids=["a"]))
    refused(lambda: bob.delete_collection("shared"))
    assert alice.get_collection("shared").count() == 2
    alice.delete_collection("shared")
    refused(lambda: basic_client(srv, "bob", "pw-alice"))


@case("tls.yaml")
def tls(example) -> None:
    """HTTPS from ./tls/server.pem and server-key.pem, Basic auth on top;
    then the optional mutual TLS the file's comments describe
    (PRISM_TLS_CLIENT_CA, PRISM_TLS_CLIENT_AUTH=required, or optional)."""
    ex = example("tls.yaml")
    (ex.ops / "tls").mkdir()
    pki = Pki(ex.ops / "tls")  # writes server.pem, server-key.pem, test-ca.pem, ...
    shutil.copyfile(pki.ca, ex.ops / "tls" / "clients-ca.pem")
    users = ex.ops / "server.htpasswd"
    apache_htpasswd(users, "admin", "admin-pw", create=True)
    srv = ex.start(verify=context(pki.ca))
    https = {"ssl": True, "settings_extra": {"chroma_server_ssl_verify": str(pki.ca)}}
    admin = basic_client(srv, "admin", "admin-pw", **https)
    assert srv.url.startswith("https://")
    writes(admin, "over-tls")
    refused(lambda: basic_client(srv, "admin", "wrong", **https))
    with pytest.raises(Exception) as raised:
        basic_client(srv, "admin", "admin-pw", ssl=True)  # without the CA
    chain, error = [], raised.value
    while error is not None:
        chain.append(repr(error))
        error = error.__cause__ or error.__context__
    assert any("CERTIFICATE_VERIFY_FAILED" in link for link in chain), chain
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{srv.host}:{srv.port}/api/v2/heartbeat", timeout=5)
    srv.stop()

    auth = basic_header("admin", "admin-pw")
    text = uncomment((COMPOSE_DIR / "tls.yaml").read_text(),
                     ["PRISM_TLS_CLIENT_CA", "PRISM_TLS_CLIENT_AUTH"])
    for mode in ["required", "optional"]:
        variant = text.replace("PRISM_TLS_CLIENT_AUTH=required", f"PRISM_TLS_CLIENT_AUTH={mode}")
        srv = ex.start(text=variant, verify=context(pki.ca, pki.alice))

        def ident(client_cert) -> httpx.Response:
            return httpx.get(f"{srv.api}/auth/identity", headers=auth,
                             verify=context(pki.ca, client_cert), timeout=5)

        assert ident(pki.alice).json()["user_id"] == "admin"
        with pytest.raises(httpx.HTTPError):
            ident(pki.mallory)  # a certificate from another CA
        if mode == "required":
            with pytest.raises(httpx.HTTPError):
                ident(None)
        else:
            assert ident(None).json()["user_id"] == "admin"
        srv.stop()


@case("encryption.yaml")
def encryption(example) -> None:
    """The data volume encrypted with ./prism.key, mounted as a secret
    (made with `prism key new`, mode 0600): written, read back after a
    restart, and refused without the key."""
    ex = example("encryption.yaml")
    made = subprocess.run([str(prism_bin()), "key", "new", str(ex.ops / "prism.key")],
                          capture_output=True, text=True, timeout=30)
    assert made.returncode == 0, made.stderr
    assert (ex.ops / "prism.key").stat().st_mode & 0o777 == 0o600
    srv = ex.start()
    from e2e_util import make_client
    writes(make_client(srv), "secret")
    srv.stop()
    assert (ex.data / "prism.keys").exists()
    assert b"alpha" not in b"".join(p.read_bytes() for p in ex.data.rglob("*") if p.is_file())
    srv = ex.start()
    reads(make_client(srv), "secret")
    srv.stop()


# ---------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(compose_files()) | set(CASES)))
def test_example(name, example):
    assert name in CASES, (
        f"examples/compose/{name} has no test case: add one to {Path(__file__).name} "
        "(its users connect and do what the file says they may)")
    assert (COMPOSE_DIR / name).is_file(), f"a case for examples/compose/{name}, which is gone"
    CASES[name](example)


def test_every_file_is_a_compose_file_a_mounted_file_or_the_readme():
    mounted = set()
    for name in compose_files():
        service = next(iter(yaml.safe_load((COMPOSE_DIR / name).read_text())["services"].values()))
        for entry in service.get("volumes") or []:
            source = entry.split(":")[0]
            if source.startswith("./"):
                mounted.add(source[2:])
    others = {p.name for p in COMPOSE_DIR.iterdir()} - set(compose_files()) - {"README.md"}
    assert others <= mounted, f"files under examples/compose no compose file uses: {others - mounted}"
    assert "authz.yaml" in mounted


def test_readme_lists_every_compose_file():
    text = README.read_text()
    for name in compose_files():
        assert f"| `{name}` |" in text, f"README.md's table does not list {name}"


# ---------------------------------------------------------------------------
# the README's "What a client needs" table, against the audit log
# ---------------------------------------------------------------------------


Authorized = Tuple[str, Tuple[str, ...]]  # (action, the resource's parts: T, D, N)


def readme_client_table() -> Dict[str, List[Authorized]]:
    """{call: [(action, parts)]} from the README's table under "What a client
    needs": "`db:get_database` (T, D)" is db:get_database on a tenant and a
    database, "(no resource)" on nothing."""
    text = README.read_text()
    section = text.split("## What a client needs", 1)[1].split("\n## ", 1)[0]
    rows: Dict[str, List[Authorized]] = {}
    started = False
    for line in section.splitlines():
        if line.startswith("| client call"):
            started = True
            continue
        if not started or not line.startswith("|") or set(line) <= set("|- "):
            if started and not line.startswith("|"):
                if rows:
                    break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        actions = []
        for action, parts in re.findall(r"`([a-z]+:[a-z_]+)`\s*\(([^)]*)\)", cells[1]):
            parts = tuple(p.strip() for p in parts.split(",")) if parts != "no resource" else ()
            assert set(parts) <= {"T", "D", "N"}, f"README row {cells[0]}: resource ({parts})"
            actions.append((action, parts))
        assert len(actions) == len(re.findall(r"`[a-z]+:[a-z_]+`", cells[1])), (
            f"README row {cells[0]}: every action needs its resource in parentheses")
        for call in re.findall(r"`([^`]+)`", cells[0]):
            rows[call] = actions
    assert rows, "no table under `## What a client needs` in examples/compose/README.md"
    return rows


def audit_events(path: Path) -> List[Dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(l)["fields"] for l in path.read_text().splitlines() if l.strip()]


def test_readme_lists_the_actions_each_client_call_needs(example):
    """Each call of the README's table, made by token-rbac.yaml's admin, is
    authorized as exactly the actions the table lists; connecting as
    acme-docs-bot is tenant:get_tenant on acme then db:get_database on
    acme/docs."""
    ex = example("token-rbac.yaml")
    log = ex.ops.parent / "audit.jsonl"
    srv = ex.start(extra_env={"PRISM_AUDIT_LOG": str(log)}, allow_reset=True)
    marks = [0]

    def authz_actions(fn: Callable[[], Any]) -> Tuple[Any, List[Dict[str, Any]]]:
        """Run fn; the authorization events it caused (up to a marker
        request whose event shows that everything before it is written)."""
        start = len(audit_events(log))
        result = fn()
        marks[0] += 1
        mark = f"audit-mark-{marks[0]}"
        assert request(srv, "GET", f"/tenants/{mark}", headers={XCT: ADMIN}).status_code == 404
        deadline = time.monotonic() + 10
        while True:
            events = audit_events(log)[start:]
            done = [i for i, e in enumerate(events)
                    if e.get("action") == "tenant:get_tenant" and e.get("tenant") == mark]
            if done:
                return result, [e for e in events[:done[0]] if e["stage"] == "authz"]
            assert time.monotonic() < deadline, f"marker {mark} never reached the audit log"
            time.sleep(0.05)

    state: Dict[str, Any] = {}
    admin = admin_client(srv, {XCT: ADMIN})

    def connect():
        state["client"] = token_client(srv, ADMIN, header=XCT)
        return state["client"]

    def client():
        return state["client"]

    def col():
        return state["col"]

    def create():
        state["col"] = client().create_collection("audit-docs")

    calls: Dict[str, Callable[[], Any]] = {
        "HttpClient(tenant=T, database=D)": connect,
        "heartbeat()": lambda: client().heartbeat(),
        "get_version()": lambda: client().get_version(),
        "create_collection(N)": create,
        "get_or_create_collection(N)": lambda: client().get_or_create_collection("audit-docs"),
        "get_collection(N)": lambda: client().get_collection("audit-docs"),
        "list_collections()": lambda: client().list_collections(),
        "count_collections()": lambda: client().count_collections(),
        "col.add(...)": lambda: col().add(**RECORDS),
        "col.upsert(...)": lambda: col().upsert(ids=["c"], embeddings=[[1.0, 1.0]]),
        "col.update(...)": lambda: col().update(ids=["c"], metadatas=[{"k": 1}]),
        "col.get(...)": lambda: col().get(),
        "col.peek()": lambda: col().peek(),
        "col.query(...)": lambda: col().query(query_embeddings=[[1.0, 0.0]], n_results=1),
        "col.count()": lambda: col().count(),
        "col.delete(...)": lambda: col().delete(ids=["c"]),
        "col.modify(...)": lambda: col().modify(metadata={"k": "v"}),
        "delete_collection(N)": lambda: client().delete_collection("audit-docs"),
        "AdminClient(...)": lambda: admin_client(srv, {XCT: ADMIN}),
        "admin.create_tenant(T)": lambda: admin.create_tenant("acme"),
        "admin.get_tenant(T)": lambda: admin.get_tenant("acme"),
        "admin.create_database(D, T)": lambda: admin.create_database("docs", tenant="acme"),
        "admin.get_database(D, T)": lambda: admin.get_database("docs", tenant="acme"),
        "admin.list_databases(T)": lambda: admin.list_databases(tenant="acme"),
        "admin.delete_database(D, T)": lambda: admin.delete_database("docs", tenant="acme"),
        "reset()": lambda: client().reset(),
    }
    table = readme_client_table()
    assert set(table) == set(calls), (
        f"README rows the test does not make: {set(table) - set(calls)}; "
        f"calls the README does not list: {set(calls) - set(table)}")
    seen: Dict[str, List[Authorized]] = {}
    for call, fn in calls.items():  # in this order: each needs the ones before
        _, events = authz_actions(fn)
        assert all(e["decision"] == "allow" for e in events), events
        seen[call] = [
            (e["action"], tuple(p for p, key in (("T", "tenant"), ("D", "database"),
                                                 ("N", "collection")) if e.get(key)))
            for e in events
        ]
    assert seen == table

    # acme-docs-bot: exactly the two connect actions, on its tenant and database.
    try:
        admin.get_tenant("acme")
    except Exception:  # reset() removed it
        admin.create_tenant("acme")
    admin.create_database("docs", tenant="acme")
    _, events = authz_actions(
        lambda: token_client(srv, BOT, header=XCT, tenant="acme", database="docs"))
    assert [(e["action"], e.get("tenant"), e.get("database"), e["decision"]) for e in events] == [
        ("tenant:get_tenant", "acme", None, "allow"),
        ("db:get_database", "acme", "docs", "allow"),
    ], events

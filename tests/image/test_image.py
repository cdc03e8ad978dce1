"""The Docker image, run for real with podman (scripts/test-image.sh builds
it as PRISM_IMAGE): heartbeat and HEALTHCHECK, the non-root user, an
authenticated request with Chroma's variables, a custom plugin from a
mounted /plugins, HTTPS from mounted certificates, data in the volume
surviving a container restart and a new container, and the hardened run: a
read-only root filesystem, every capability dropped, no new privileges."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from auth_util import BASIC_CLIENT, BASIC_SERVER, bcrypt_line  # noqa: E402
from tls_util import Pki, context  # noqa: E402

IMAGE = os.environ.get("PRISM_IMAGE", "localhost/prism:test")
PLUGINS = REPO / "target" / "plugins"


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Container:
    """One detached container on the host network (no CNI needed), on its
    own port."""

    def __init__(self, env: Optional[Dict[str, str]] = None, mounts: List[str] = (),
                 volume: Optional[str] = None, scheme: str = "http", verify=True,
                 options: List[str] = ()) -> None:
        self.name = f"prism-test-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.scheme, self.verify = scheme, verify
        args = ["run", "-d", "--name", self.name, "--network", "host",
                "-e", f"CHROMA_SERVER_HTTP_PORT={self.port}"]
        for key, value in (env or {}).items():
            args += ["-e", f"{key}={value}"]
        for mount in mounts:
            args += ["-v", mount]
        if volume:
            args += ["-v", f"{volume}:/data"]
        args += list(options)
        podman(*args, IMAGE)
        self.wait_ready()

    @property
    def api(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/api/v2"

    def logs(self) -> str:
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = podman("inspect", "--format", "{{.State.Running}}", self.name).stdout.strip()
            if state != "true":
                raise AssertionError(f"container exited:\n{self.logs()}")
            try:
                if httpx.get(f"{self.api}/heartbeat", verify=self.verify, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"not ready after {timeout} s:\n{self.logs()}")

    def stop(self) -> int:
        podman("stop", "--time", "20", self.name)
        return int(podman("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout.strip())

    def start(self) -> None:
        podman("start", self.name)
        self.wait_ready()

    def remove(self) -> None:
        podman("rm", "-f", self.name, check=False)


@pytest.fixture
def containers() -> Iterator:
    started: List[Container] = []

    def run(**kwargs) -> Container:
        c = Container(**kwargs)
        started.append(c)
        return c

    yield run
    for c in started:
        c.remove()


@pytest.fixture
def volume() -> Iterator[str]:
    name = f"prism-test-{uuid.uuid4().hex[:8]}"
    podman("volume", "create", name)
    yield name
    podman("volume", "rm", "-f", name, check=False)


def client(c: Container, host: str = "127.0.0.1", ssl: bool = False, **settings):
    import chromadb
    from chromadb.config import Settings

    return chromadb.HttpClient(host=host, port=c.port, ssl=ssl,
                               settings=Settings(anonymized_telemetry=False, **settings))


def test_non_root_user_and_layout():
    who = podman("run", "--rm", "--entrypoint", "id", IMAGE).stdout
    assert "uid=10001" in who and "gid=10001" in who, who
    assert "uid=0" not in who
    config = podman("image", "inspect", "--format",
                    "{{.Config.User}} {{json .Config.Volumes}} {{json .Config.Healthcheck.Test}}",
                    IMAGE).stdout
    assert config.startswith("10001:10001 "), config
    assert '"/data"' in config
    assert '"prism","healthcheck"' in config.replace(" ", ""), config
    # The binary carries the built-in plugins.
    plugins = podman("run", "--rm", IMAGE, "plugin", "list").stdout
    for name in ("htpasswd", "token", "rbac"):
        assert name in plugins, plugins


def test_heartbeat_and_healthcheck(containers):
    c = containers()
    r = httpx.get(f"{c.api}/heartbeat", timeout=5)
    assert r.status_code == 200
    assert "nanosecond heartbeat" in r.json()
    assert podman("healthcheck", "run", c.name, check=False).returncode == 0
    assert "listening on http://0.0.0.0" in c.logs()


def test_authenticated_request_with_chromas_variables(containers, tmp_path):
    users = tmp_path / "server.htpasswd"
    users.write_text(bcrypt_line("admin", "s3cret") + "\n")
    users.chmod(0o644)
    c = containers(
        env={
            "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
            "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": "/etc/prism/server.htpasswd",
        },
        mounts=[f"{users}:/etc/prism/server.htpasswd:ro"],
    )
    admin = client(c, chroma_client_auth_provider=BASIC_CLIENT,
                   chroma_client_auth_credentials="admin:s3cret")
    assert admin.get_user_identity().user_id == "admin"
    col = admin.create_collection("docs")
    col.add(ids=["a"], embeddings=[[1.0, 2.0]])
    assert col.count() == 1
    anonymous = httpx.get(f"{c.api}/tenants/default_tenant/databases/default_database/collections",
                          timeout=5)
    assert anonymous.status_code == 403
    wrong = httpx.get(f"{c.api}/auth/identity", auth=("admin", "nope"), timeout=5)
    assert wrong.status_code == 403
    # The container's healthcheck needs no credentials.
    assert podman("healthcheck", "run", c.name, check=False).returncode == 0


def test_custom_plugin_and_htpasswd_mounted(containers, tmp_path):
    """examples/compose/plugin-and-htpasswd.yaml: Basic auth from a mounted
    htpasswd file, and the custom `read-only` authz plugin from /plugins."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "read-only.wasm").write_bytes((PLUGINS / "examples" / "read-only.wasm").read_bytes())
    users = tmp_path / "server.htpasswd"
    users.write_text(bcrypt_line("alice", "pw-alice") + "\n" + bcrypt_line("bob", "pw-bob") + "\n")
    for path in (plugins, plugins / "read-only.wasm", users):
        path.chmod(0o755 if path.is_dir() else 0o644)
    c = containers(
        env={
            "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
            "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": "/etc/prism/server.htpasswd",
            "CHROMA_SERVER_AUTHZ_PROVIDER": "read-only",
            "PRISM_AUTHZ_OPT_WRITERS": "alice",
        },
        mounts=[f"{plugins}:/plugins:ro", f"{users}:/etc/prism/server.htpasswd:ro"],
    )
    alice = client(c, chroma_client_auth_provider=BASIC_CLIENT,
                   chroma_client_auth_credentials="alice:pw-alice")
    alice.create_collection("shared").add(ids=["a"], embeddings=[[1.0, 2.0]])
    bob = client(c, chroma_client_auth_provider=BASIC_CLIENT,
                 chroma_client_auth_credentials="bob:pw-bob")
    assert bob.get_collection("shared").count() == 1
    with pytest.raises(Exception) as refused:
        bob.create_collection("bobs")
    assert "Forbidden" in str(refused.value) or "403" in str(refused.value), refused.value
    assert "read-only" in podman("exec", c.name, "prism", "plugin", "list").stdout


def test_https_from_mounted_certificates(containers, tmp_path):
    pki = Pki(tmp_path)
    # The container's user (10001) reads them.
    pki.dir.chmod(0o755)
    for path in pki.dir.iterdir():
        path.chmod(0o644)
    c = containers(
        env={"PRISM_TLS_CERT": "/tls/server.pem", "PRISM_TLS_KEY": "/tls/server-key.pem"},
        mounts=[f"{pki.dir}:/tls:ro"],
        scheme="https",
        verify=context(pki.ca),
    )
    over_tls = client(c, host="localhost", ssl=True, chroma_server_ssl_verify=str(pki.ca))
    assert over_tls.heartbeat() > 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{c.port}/api/v2/heartbeat", timeout=5)
    # HEALTHCHECK speaks HTTPS when PRISM_TLS_* are set.
    assert podman("healthcheck", "run", c.name, check=False).returncode == 0


def test_data_in_the_volume_survives_restarts(containers, volume):
    first = containers(volume=volume)
    col = client(first).create_collection("kept")
    col.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["one", "two"])
    # SIGTERM: graceful shutdown, exit 0.
    assert first.stop() == 0, first.logs()
    first.start()
    assert client(first).get_collection("kept").get(ids=["b"])["documents"] == ["two"]
    first.remove()
    # A new container on the same volume.
    second = containers(volume=volume)
    got = client(second).get_collection("kept").query(query_embeddings=[[1.0, 0.1]], n_results=1)
    assert got["ids"] == [["a"]]


# Docker's and Kubernetes' meaning of a read-only root: podman's --read-only
# alone would mount writable tmpfs on /tmp, /var/tmp and /run, and hide a
# write there that would fail elsewhere.
HARDENED = ["--read-only", "--read-only-tmpfs=false", "--cap-drop=ALL",
            "--security-opt=no-new-privileges"]


def test_read_only_root_and_no_capabilities(containers, volume):
    """The image needs no writable path but its data volume, and no
    capability: it serves, answers its healthcheck and shuts down cleanly
    under --read-only --cap-drop=ALL --security-opt=no-new-privileges."""
    c = containers(volume=volume, options=HARDENED)
    status = podman("exec", c.name, "cat", "/proc/1/status").stdout
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(fields[cap].strip(), 16) == 0, f"{cap}:{fields[cap]}"
    assert fields["NoNewPrivs"].strip() == "1", status
    for path in ("/", "/tmp", "/var/tmp", "/usr/local/bin", "/plugins"):
        denied = podman("exec", c.name, "sh", "-c", f"touch {path}/.prism-w", check=False)
        assert denied.returncode != 0 and "Read-only file system" in denied.stderr, (path, denied)

    r = httpx.get(f"{c.api}/heartbeat", timeout=5)
    assert r.status_code == 200 and "nanosecond heartbeat" in r.json()
    # A real round trip over plain HTTP: create, add, get, query.
    base = f"{c.api}/tenants/default_tenant/databases/default_database/collections"
    created = httpx.post(base, json={"name": "hardened", "metadata": {"hnsw:space": "l2"}}, timeout=10)
    assert created.status_code == 200, created.text
    cid = created.json()["id"]
    added = httpx.post(f"{base}/{cid}/add", timeout=10, json={
        "ids": ["a", "b", "c"],
        "embeddings": [[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]],
        "documents": ["apples", "bananas", "apples and bananas"],
        "metadatas": [{"n": 1}, {"n": 2}, {"n": 3}],
    })
    assert added.status_code in (200, 201), added.text
    got = httpx.post(f"{base}/{cid}/get", timeout=10,
                     json={"where_document": {"$contains": "apples"}, "include": ["documents"]})
    assert got.status_code == 200, got.text
    assert sorted(got.json()["documents"]) == ["apples", "apples and bananas"]
    # The Python client too, with enough rows to sort, index and delete.
    col = client(c).get_collection("hardened")
    col.add(ids=[f"x{i}" for i in range(2000)],
            embeddings=[[float(i % 97), float(i % 89)] for i in range(2000)],
            documents=[f"row {i} {'even' if i % 2 == 0 else 'odd'}" for i in range(2000)],
            metadatas=[{"n": i} for i in range(2000)])
    assert col.query(query_embeddings=[[0.9, 0.1]], n_results=1)["ids"] == [["a"]]
    assert len(col.get(where={"n": {"$gte": 1000}}, where_document={"$contains": "even"},
                       include=[])["ids"]) == 500
    col.delete(where={"n": {"$lt": 1000}})
    # x0..x999 and a, b, c (n = 1, 2, 3) are gone.
    assert col.count() == 1000

    assert podman("healthcheck", "run", c.name, check=False).returncode == 0
    # Shutdown writes nothing outside /data either, and the data is there after.
    assert c.stop() == 0, c.logs()
    c.start()
    assert client(c).get_collection("hardened").count() == 1000
    logs = c.logs()
    assert "Read-only file system" not in logs and "Permission denied" not in logs, logs

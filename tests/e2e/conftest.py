"""End-to-end test harness: starts a real server process and drives it with the
real `chromadb` Python client (and raw HTTP where the client would validate
locally).

Target selection (environment):
  PRISM_E2E_TARGET=chroma   run against the real Chroma server (`chroma run`
                            from the chromadb wheel; CHROMA_BIN overrides the
                            executable). Used to prove the tests are right.
                            It has no authentication: the auth tests are
                            skipped there.
  PRISM_E2E_TARGET=chroma-python
                            run the auth tests (marker `auth`) against
                            Chroma's Python server from the same wheel
                            (`python -m uvicorn chromadb.app:app`, configured
                            through the environment: IS_PERSISTENT,
                            PERSIST_DIRECTORY, ALLOW_RESET, CHROMA_SERVER_AUTHN_*
                            ...), the Chroma server that implements auth.
                            Every other test is skipped on this target.
  PRISM_E2E_TARGET=gateway  run the auth tests of GATEWAY_MODULES against
                            Prism in gateway mode: every Prism server is
                            started with `--upstream URL` in front of a
                            `chroma run` of its own (data beside Prism's).
  otherwise                 run against Prism: PRISM_BIN (default
                            <repo>/target/release/prism), started as
                            `prism run --host 127.0.0.1 --port P --path DIR`
                            with ALLOW_RESET=TRUE.

Fixtures:
  server          session-scoped running server (ServerProcess)
  client          chromadb.HttpClient, server reset before each test
  admin           chromadb.AdminClient for the same server
  http            httpx.Client whose base URL is <server>/api/v2 (raw requests)
  start_server    factory for extra server instances (custom args/env/dir,
                  restarts); all are stopped at the end of the test
  start_module_server
                  the same factory, module-scoped: servers live until the
                  end of the module (for module-scoped fixtures)

Markers:
  @pytest.mark.chroma_bug("why")   the test asserts the *right* behaviour where
                  Chroma 1.5.9 is known to be wrong; skipped when the target
                  is chroma or chroma-python, asserted for Prism.
  @pytest.mark.prism_only("why")   Prism behaviour Chroma does not have (token
                  scopes, plugins, startup refusals, RBAC extensions); skipped
                  on both Chroma targets.
  @pytest.mark.auth   an authentication/authorization test: needs a server
                  with auth, so skipped on the `chroma` target; the only tests
                  run on the `chroma-python` target.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import httpx
import pytest

from e2e_util import (
    IS_ANY_CHROMA,
    IS_CHROMA,
    IS_CHROMA_PYTHON,
    IS_GATEWAY,
    TARGET,
    make_admin,
    make_client,
)

# The tests run in gateway mode: Basic, tokens with scopes, rbac, row
# filters, refusals, limits and audit, each against a gateway over its own
# Chroma.
GATEWAY_MODULES = {
    "test_auth_basic",
    "test_auth_token",
    "test_auth_scopes",
    "test_auth_rbac",
    "test_auth_refusals",
    "test_auth_limits",
    "test_auth_audit",
    "test_row_security",
    "test_console_http",
    "test_console_browser",
}

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
STARTUP_TIMEOUT = float(os.environ.get("PRISM_E2E_STARTUP_TIMEOUT", "60"))

# Environment variables that would change how the server under test is
# configured; the harness sets what it needs explicitly.
_SCRUB_PREFIXES = ("CHROMA_",)
_SCRUB_NAMES = {"ALLOW_RESET", "IS_PERSISTENT", "PERSIST_DIRECTORY", "CONFIG_PATH"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def prism_bin() -> Path:
    p = Path(os.environ.get("PRISM_BIN", "target/release/prism"))
    if not p.is_absolute():
        p = REPO_ROOT / p
    return p


def chroma_bin() -> str:
    explicit = os.environ.get("CHROMA_BIN")
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "chroma"
    if beside.exists():
        return str(beside)
    found = shutil.which("chroma")
    if not found:
        raise RuntimeError("chroma executable not found (set CHROMA_BIN)")
    return found


class ServerProcess:
    """One server process on a loopback port over a data directory."""

    def __init__(
        self,
        target: str,
        path: Path,
        port: Optional[int] = None,
        args: Sequence[str] = (),
        env: Optional[Dict[str, str]] = None,
        config: Optional[Dict[str, object]] = None,
        allow_reset: bool = True,
        verify: Optional[object] = None,
        address_space_limit: Optional[int] = None,
    ) -> None:
        self.target = target
        # RLIMIT_AS in bytes: an allocation past it fails (and a server that
        # does not bound its allocations aborts).
        self.address_space_limit = address_space_limit
        self.path = Path(path)
        self.port = port or free_port()
        self.host = HOST
        self.extra_args = list(args)
        self.extra_env = dict(env or {})
        self.extra_config = dict(config or {})
        self.allow_reset = allow_reset
        # With `verify` (an ssl.SSLContext, or False) the server speaks HTTPS
        # and readiness is probed with it.
        self.verify = verify
        self.proc: Optional[subprocess.Popen] = None
        # Gateway mode: the Chroma this Prism forwards to.
        self.upstream: Optional["ServerProcess"] = None
        self.log_path = self.path.parent / f"{self.path.name}-{self.port}.log"
        self._log = None

    # -- URLs ---------------------------------------------------------------
    @property
    def url(self) -> str:
        scheme = "http" if self.verify is None else "https"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api/v2"

    # -- lifecycle ----------------------------------------------------------
    def _command(self) -> List[str]:
        if self.target == "chroma-python":
            # Chroma's Python (FastAPI) server; configured by environment
            # variables (see _environment).
            return [
                sys.executable, "-m", "uvicorn", "chromadb.app:app",
                "--host", self.host, "--port", str(self.port),
                "--workers", "1", "--log-level", "info",
                *self.extra_args,
            ]
        if self.target == "chroma":
            # `chroma run --path/--port` ignores the environment and has no way
            # to allow reset, so the server gets a YAML config file.
            # (Environment variables CHROMA_<KEY> still override the file.)
            cfg = {
                "persist_path": str(self.path),
                "port": self.port,
                "listen_address": self.host,
                "allow_reset": self.allow_reset,
            }
            cfg.update(self.extra_config)
            cfg_path = self.path.parent / f"{self.path.name}-{self.port}-config.yaml"
            cfg_path.write_text(
                "".join(f"{k}: {_yaml_scalar(v)}\n" for k, v in cfg.items())
            )
            return [chroma_bin(), "run", str(cfg_path), *self.extra_args]
        binary = prism_bin()
        if not binary.exists():
            raise RuntimeError(
                f"Prism binary {binary} not found: build it (cargo build --release) "
                "or set PRISM_BIN, or run with PRISM_E2E_TARGET=chroma"
            )
        upstream = ["--upstream", self.upstream.url] if self.upstream is not None else []
        config = []
        if self.extra_config:
            # JSON is YAML: nested keys (open_telemetry) need no YAML writer.
            cfg_path = self.path.parent / f"{self.path.name}-{self.port}-config.yaml"
            cfg_path.write_text(json.dumps(self.extra_config))
            config = [str(cfg_path)]
        return [
            str(binary),
            "run",
            *config,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--path",
            str(self.path),
            *upstream,
            *self.extra_args,
        ]

    def _environment(self) -> Dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(_SCRUB_PREFIXES) and k not in _SCRUB_NAMES
        }
        if self.target == "chroma-python":
            env["IS_PERSISTENT"] = "TRUE"
            env["PERSIST_DIRECTORY"] = str(self.path)
            env["ANONYMIZED_TELEMETRY"] = "FALSE"
            if self.allow_reset:
                env["ALLOW_RESET"] = "TRUE"
        elif self.target != "chroma" and self.allow_reset:
            env["ALLOW_RESET"] = "TRUE"
        env.setdefault("RUST_LOG", os.environ.get("RUST_LOG", "warn"))
        # The auth tests send many wrong credentials from one address on
        # purpose; brute-force limits are tested on their own
        # (test_auth_limits.py), so they are off unless a test sets them.
        env["PRISM_AUTH_MAX_FAILURES"] = "0"
        env.update(self.extra_env)
        return env

    def start(self, wait: bool = True) -> "ServerProcess":
        if self.target == "gateway" and (self.upstream is None or not self.upstream.running()):
            self.upstream = ServerProcess(
                "chroma", self.path.parent / f"{self.path.name}-upstream",
                allow_reset=self.allow_reset,
            ).start()
        self.path.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self._command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self._environment(),
            cwd=str(self.path.parent),
            start_new_session=True,
            preexec_fn=self._limit_address_space if self.address_space_limit else None,
        )
        if wait:
            self.wait_ready()
        return self

    def _limit_address_space(self) -> None:
        import resource

        limit = self.address_space_limit
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def log_text(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.target} server exited with {self.proc.returncode} "
                    f"during startup; log:\n{self.log_text()}"
                )
            try:
                r = httpx.get(
                    f"{self.api}/heartbeat",
                    timeout=2,
                    verify=True if self.verify is None else self.verify,
                )
                if r.status_code == 200 and "nanosecond heartbeat" in r.json():
                    return
                last = f"{r.status_code} {r.text[:200]}"
            except (httpx.HTTPError, ValueError) as e:
                last = repr(e)
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(
            f"{self.target} server not ready after {timeout}s (last: {last}); "
            f"log:\n{self.log_text()}"
        )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> Optional[int]:
        """Send `sig` and wait for exit; SIGKILL after `timeout`. Returns the
        exit status (negative = killed by that signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        rc = self.proc.returncode
        if self._log:
            self._log.close()
            self._log = None
        return rc

    def stop_upstream(self) -> None:
        """Gateway mode: stop the Chroma behind this Prism."""
        if self.upstream is not None:
            self.upstream.stop()
            self.upstream = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        if self._log:
            self._log.close()
            self._log = None

    def __repr__(self) -> str:
        return f"<{self.target} server {self.url} path={self.path}>"


def _yaml_scalar(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml_scalar(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


# ---------------------------------------------------------------------------
# pytest hooks
# ---------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "chroma_bug(reason): asserts the right behaviour where Chroma 1.5.9 is "
        "wrong; skipped when PRISM_E2E_TARGET=chroma or chroma-python",
    )
    config.addinivalue_line(
        "markers",
        "prism_only(reason): Prism behaviour Chroma does not have; skipped on "
        "the Chroma targets",
    )
    config.addinivalue_line(
        "markers",
        "local_only(reason): needs Prism's own engine; skipped on the "
        "gateway target",
    )
    config.addinivalue_line(
        "markers",
        "auth: needs a server with authentication; skipped on the chroma "
        "target, the only tests run on the chroma-python target",
    )


def pytest_report_header(config: pytest.Config) -> str:
    if IS_CHROMA_PYTHON:
        what = f"{sys.executable} -m uvicorn chromadb.app:app"
    else:
        what = chroma_bin() if IS_CHROMA else str(prism_bin())
    return f"e2e target: {TARGET} ({what})"


def _marker_reason(marker: pytest.Mark) -> str:
    return marker.args[0] if marker.args else marker.kwargs.get("reason", "")


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    if IS_GATEWAY:
        for item in items:
            if item.module.__name__ not in GATEWAY_MODULES:
                item.add_marker(pytest.mark.skip(
                    reason="the gateway target runs the auth tests of GATEWAY_MODULES"))
            elif item.get_closest_marker("local_only") is not None:
                item.add_marker(pytest.mark.skip(
                    reason=f"not in gateway mode: {_marker_reason(item.get_closest_marker('local_only'))}"))
        return
    if not IS_ANY_CHROMA:
        return
    for item in items:
        is_auth = item.get_closest_marker("auth") is not None
        if IS_CHROMA and is_auth:
            item.add_marker(pytest.mark.skip(
                reason="`chroma run` has no authentication; run the auth tests "
                "with PRISM_E2E_TARGET=chroma-python"))
            continue
        if IS_CHROMA_PYTHON and not is_auth:
            item.add_marker(pytest.mark.skip(
                reason="the chroma-python target runs only the auth tests"))
            continue
        marker = item.get_closest_marker("chroma_bug")
        if marker is not None:
            item.add_marker(pytest.mark.skip(
                reason=f"Chroma 1.5.9 bug: {_marker_reason(marker)}"))
            continue
        marker = item.get_closest_marker("prism_only")
        if marker is not None:
            item.add_marker(pytest.mark.skip(
                reason=f"Prism only: {_marker_reason(marker)}"))


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def target() -> str:
    return TARGET


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    base = tmp_path_factory.mktemp("server")
    srv = ServerProcess(TARGET, base / "data").start()
    try:
        yield srv
    finally:
        srv.stop()
        srv.stop_upstream()


def _server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: List[ServerProcess] = []
    counter = [0]

    def start(
        path: Optional[Path] = None,
        port: Optional[int] = None,
        args: Sequence[str] = (),
        env: Optional[Dict[str, str]] = None,
        config: Optional[Dict[str, object]] = None,
        allow_reset: bool = True,
        wait: bool = True,
        verify: Optional[object] = None,
        address_space_limit: Optional[int] = None,
    ) -> ServerProcess:
        if path is None:
            counter[0] += 1
            path = tmp_path / f"data{counter[0]}"
        srv = ServerProcess(
            TARGET, path, port=port, args=args, env=env, config=config,
            allow_reset=allow_reset, verify=verify,
            address_space_limit=address_space_limit,
        )
        started.append(srv)
        return srv.start(wait=wait)

    yield start
    for srv in started:
        srv.stop(timeout=10)
        srv.stop_upstream()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Factory: start_server(path=None, port=None, args=(), env=None,
    config=None, allow_reset=True, wait=True, verify=None,
    address_space_limit=None) -> ServerProcess.

    `path` defaults to a fresh directory; pass an old instance's `.path` (and
    optionally `.port`) to restart on the same data."""
    yield from _server_factory(tmp_path)


@pytest.fixture(scope="module")
def start_module_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., ServerProcess]]:
    """`start_server`, module-scoped: the servers it starts are stopped at the
    end of the module. For module-scoped fixtures sharing one server."""
    yield from _server_factory(tmp_path_factory.mktemp("module-servers"))


@pytest.fixture
def client(server: ServerProcess):
    c = make_client(server)
    c.reset()
    yield c


@pytest.fixture
def admin(server: ServerProcess, client):
    # depends on `client` so that the server has been reset first
    return make_admin(server)


@pytest.fixture
def http(server: ServerProcess, client) -> Iterator[httpx.Client]:
    # depends on `client` so that the server has been reset first
    with httpx.Client(base_url=server.api, timeout=60) as h:
        yield h

"""Build a Python Prism plugin into a WebAssembly component.

    python -m prism_plugin_sdk.build [-o OUT.wasm] [PROJECT_DIR]

The project's ``app.py`` defines ``class Authenticator`` or ``class
Authorizer``; which one picks the WIT world. componentize-py (pinned by this
package) turns the module, this SDK and the packages installed beside it (the
active virtual environment's site-packages) into one component with WASI
stubbed out: a plugin gets no clock, randomness, files or network.

Also writes the generated bindings (``wit_world``) to ``build/bindings`` in
the project, so its tests can import ``app`` natively.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

WIT_DIR = Path(__file__).resolve().parent / "wit"
WORLDS = {"Authenticator": "authn-plugin", "Authorizer": "authz-plugin"}
APP = "app"


class BuildError(Exception):
    pass


def world_of(app: Path) -> str:
    """The world ``app.py`` implements, from the class it defines."""
    try:
        tree = ast.parse(app.read_text(encoding="utf-8"), filename=str(app))
    except (OSError, SyntaxError) as e:
        raise BuildError(f"cannot read {app}: {e}") from e
    found = [node.name for node in tree.body if isinstance(node, ast.ClassDef) and node.name in WORLDS]
    if len(found) != 1:
        raise BuildError(
            f"{app} must define exactly one of `class Authenticator` and `class Authorizer`; "
            f"it defines {' and '.join(found) or 'neither'}"
        )
    return WORLDS[found[0]]


def componentize_py() -> str:
    beside = Path(sys.executable).parent / "componentize-py"
    found = str(beside) if beside.exists() else shutil.which("componentize-py")
    if not found:
        raise BuildError("componentize-py is not installed (pip install prism-plugin-sdk installs it)")
    return found


def bindings(project: Path, world: str) -> Path:
    """Write the generated bindings to build/bindings (for native tests)."""
    out = project / "build" / "bindings"
    shutil.rmtree(out, ignore_errors=True)
    run([componentize_py(), "-d", str(WIT_DIR), "-w", world, "bindings", str(out)], project)
    return out


_CHECK = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app
kinds = {"authn-plugin": ("Authenticator", "AUTHN"), "authz-plugin": ("Authorizer", "AUTHZ")}
cls, kind = kinds[sys.argv[3]]
meta = getattr(app, cls)().metadata()
if meta.kind.name != kind:
    sys.exit(f"app.py defines {cls} but its metadata() says kind {meta.kind.name.lower()}")
print(meta.names[0])
"""


def check(project: Path, bindings_dir: Path, world: str) -> str:
    """Import app.py natively and call metadata(): the plugin's name, and
    its mistakes reported here rather than from inside a component."""
    done = subprocess.run(
        [sys.executable, "-c", _CHECK, str(bindings_dir), str(project), world],
        cwd=project, capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise BuildError(f"app.py does not load natively:\n{done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1]


def build(project: Path, output: Optional[Path] = None) -> Path:
    project = project.resolve()
    app = project / f"{APP}.py"
    if not app.exists():
        raise BuildError(f"{app} does not exist: a plugin project has its plugin in app.py")
    world = world_of(app)
    name = check(project, bindings(project, world), world)
    out = (output or project / f"{name}.wasm").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    paths: List[str] = ["-p", str(project)]
    # The SDK itself, wherever it is installed (site-packages or a source tree).
    paths += ["-p", str(Path(__file__).resolve().parent.parent)]
    # Replaced in one step: a server watching the directory never loads half
    # a file (and ignores this name, which does not end in .wasm).
    partial = out.with_name(f"{out.name}.{os.getpid()}.partial")
    try:
        run(
            [componentize_py(), "-d", str(WIT_DIR), "-w", world, "componentize", "--stub-wasi", *paths, APP,
             "-o", str(partial)],
            project,
        )
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def run(command: List[str], cwd: Path) -> None:
    env = dict(os.environ)
    # componentize-py adds the site-packages of VIRTUAL_ENV (or of the python
    # on PATH): make that the environment this SDK runs in, not another one.
    env["VIRTUAL_ENV"] = sys.prefix
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}".rstrip())


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prism_plugin_sdk.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("project", nargs="?", default=".", type=Path, help="the plugin project [default: .]")
    parser.add_argument("-o", "--output", type=Path, help="the component to write [default: PROJECT/<plugin name>.wasm]")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        out = build(args.project, args.output)
    except BuildError as e:
        print(f"prism-plugin-build-py: {e}", file=sys.stderr)
        return 1
    size = out.stat().st_size / 1e6
    print(f"built {out}: {size:.1f} MB in {time.monotonic() - started:.1f} s")
    print(f"check it as the server would: prism plugin inspect {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

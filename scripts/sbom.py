#!/usr/bin/env python3
"""CycloneDX 1.5 SBOMs for the `prism` binary and for the container image.

  sbom.py binary [--binary FILE] [--out FILE]
      What the `prism` binary is made of: the prism-server package's normal
      dependencies for this machine's target, and the built-in plugins it
      embeds (target/plugins/builtin/*.wasm), each with its own normal
      dependencies for wasm32-wasip2. Components carry a purl
      (pkg:cargo/NAME@VERSION), the licence from Cargo.toml, the SHA-256 of
      the .crate from Cargo.lock, and the dependency graph.
  sbom.py image --binary-sbom FILE [--image REF] [--out FILE]
      The binary's SBOM plus the image's Debian packages (dpkg-query run in
      the image with podman) and its operating system.
  sbom.py validate FILE...
      Check against the CycloneDX 1.5 JSON schema (cyclonedx-python-lib,
      from the project venv).

Why `cargo tree` and not `cargo metadata`'s resolve: metadata unifies
features over every target and dev-dependency too, so it lists crates the
binary does not link; `cargo tree -e normal --target T` resolves them as a
build for T does. A proc-macro crate is kept (the code it generates is in
the binary) but not what it depends on, which only runs inside the compiler.

Only the standard library is used for `binary` and `image`, so they run
with any python3.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.parse
import uuid
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple

REPO = Path(__file__).resolve().parents[1]
SPEC = "1.5"
SERVER_PACKAGE = "prism-server"
BINARY_NAME = "prism"
PLUGIN_OUT = REPO / "target" / "plugins"
WASM_TARGET = "wasm32-wasip2"
CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"
# A stable namespace, so the same inputs give the same serial number.
SERIAL_NS = uuid.UUID("6f1f2c64-9a3e-4d0b-9a55-3c0d5b1e7a10")

Key = Tuple[str, str]  # (name, version)


def run(*cmd: str, cwd: Path = REPO) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"sbom.py: {' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def purl(type_: str, name: str, version: str, namespace: str = "", **qualifiers: str) -> str:
    """A package URL in canonical form (what packageurl-python prints: `+`
    as %2B, `:` kept; qualifiers sorted)."""
    enc = lambda x: urllib.parse.quote(x, safe=":")  # noqa: E731
    path = "/".join(enc(x) for x in (namespace, name) if x)
    out = f"pkg:{type_}/{path}@{enc(version)}"
    if qualifiers:
        out += "?" + "&".join(f"{k}={urllib.parse.quote(v, safe=':/')}" for k, v in sorted(qualifiers.items()))
    return out


def timestamp() -> str:
    # SOURCE_DATE_EPOCH: reproducible documents when the caller wants them.
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc) if epoch
            else dt.datetime.now(dt.timezone.utc))
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def host_triple() -> str:
    for line in run("rustc", "-vV").splitlines():
        if line.startswith("host: "):
            return line.split(": ", 1)[1]
    sys.exit("sbom.py: rustc -vV names no host triple")


# --- the cargo side ---------------------------------------------------------

TREE_LINE = re.compile(r"^(\d+)(\S+) v(\S+)(?: \(([^)]*)\))?(?: \((proc-macro)\))?(?: \(\*\))?$")


def cargo_graph(args: List[str], target: str) -> Tuple[List[Key], Dict[Key, Set[Key]], Set[Key]]:
    """`cargo tree ARGS -e normal --target TARGET` as (roots, edges,
    proc-macro crates)."""
    out = run("cargo", "tree", "--locked", *args, "-e", "normal", "--target", target,
              "--prefix", "depth", "-f", "{p}")
    # cargo tree prints a package's dependencies once, at its first
    # occurrence (possibly under a proc-macro): take the whole graph first.
    roots: List[Key] = []
    edges: Dict[Key, Set[Key]] = {}
    macros: Set[Key] = set()
    stack: List[Key] = []
    for line in out.splitlines():
        if not line.strip():
            continue
        m = TREE_LINE.match(line.strip())
        if not m:
            sys.exit(f"sbom.py: unexpected cargo tree line: {line!r}")
        depth, key = int(m.group(1)), (m.group(2), m.group(3))
        if "proc-macro" in (m.group(4), m.group(5)):
            macros.add(key)
        del stack[depth:]
        edges.setdefault(key, set())
        if stack:
            edges[stack[-1]].add(key)
        else:
            roots.append(key)
        stack.append(key)
    return roots, edges, macros


def reachable(roots: Iterable[Key], edges: Dict[Key, Set[Key]], macros: Set[Key]) -> Dict[Key, Set[Key]]:
    """The part of the graph reachable from `roots` without passing through
    a proc-macro crate."""
    kept: Dict[Key, Set[Key]] = {}
    todo = list(roots)
    while todo:
        key = todo.pop()
        if key in kept:
            continue
        kept[key] = set() if key in macros else set(edges[key])
        todo.extend(kept[key])
    return kept


def lock_checksums() -> Dict[Tuple[str, str, str], str]:
    """(name, version, source) -> SHA-256 of the .crate, from Cargo.lock."""
    sums: Dict[Tuple[str, str, str], str] = {}
    entry: Dict[str, str] = {}

    def flush() -> None:
        if "checksum" in entry:
            sums[(entry["name"], entry["version"], entry.get("source", ""))] = entry["checksum"]

    for line in (REPO / "Cargo.lock").read_text().splitlines():
        if line.strip() == "[[package]]":
            flush()
            entry = {}
            continue
        m = re.match(r'^(name|version|source|checksum) = "(.*)"$', line)
        if m:
            entry[m.group(1)] = m.group(2)
    flush()
    return sums


def spdx_licenses(expr: Optional[str]) -> List[dict]:
    if not expr:
        return []
    # Cargo's old form: "MIT/Apache-2.0" meant either.
    expr = re.sub(r"\s*/\s*", " OR ", expr.strip())
    expr = re.sub(r"\s+", " ", expr)
    if re.fullmatch(r"[A-Za-z0-9.+-]+", expr):
        return [{"license": {"id": expr}}]
    return [{"expression": expr}]


def bundled_sqlite(pkg: dict) -> Optional[dict]:
    """libsqlite3-sys compiles SQLite's own C sources into the binary (the
    `bundled` feature): a component of its own, for scanners that know
    SQLite's advisories by SQLite's version."""
    header = Path(pkg["manifest_path"]).parent / "sqlite3" / "sqlite3.h"
    if not header.is_file():
        return None
    m = re.search(r'#define SQLITE_VERSION\s+"([^"]+)"', header.read_text(errors="replace"))
    if not m:
        return None
    version = m.group(1)
    return {
        "type": "library",
        "bom-ref": purl("generic", "sqlite", version),
        "name": "sqlite",
        "version": version,
        "description": "SQLite, compiled from the amalgamation bundled in libsqlite3-sys",
        "licenses": [{"license": {"id": "blessing"}}],
        "purl": purl("generic", "sqlite", version),
        "externalReferences": [{"type": "website", "url": "https://sqlite.org/"}],
    }


def cargo_component(pkg: dict, sums: Dict[Tuple[str, str, str], str], kind: str = "library") -> dict:
    name, version = pkg["name"], pkg["version"]
    source = pkg.get("source") or ""
    if source:
        if source != CRATES_IO:
            sys.exit(f"sbom.py: {name} {version} comes from {source}, not crates.io "
                     "(deny.toml allows crates.io only)")
        ref = purl("cargo", name, version)
    else:
        # A crate of this workspace: not on crates.io, so say where it is.
        rel = Path(pkg["manifest_path"]).parent.relative_to(REPO).as_posix()
        ref = purl("cargo", name, version, download_url=f"file://{rel}")
    comp: dict = {"type": kind, "bom-ref": ref, "name": name, "version": version}
    if pkg.get("authors"):
        comp["author"] = ", ".join(pkg["authors"])
    if pkg.get("description"):
        comp["description"] = " ".join(pkg["description"].split())
    comp["scope"] = "required"
    checksum = sums.get((name, version, source))
    if checksum:
        comp["hashes"] = [{"alg": "SHA-256", "content": checksum}]
    comp["licenses"] = spdx_licenses(pkg.get("license"))
    if not comp["licenses"]:
        del comp["licenses"]
    comp["purl"] = ref
    refs = []
    for field, kind_ in (("repository", "vcs"), ("homepage", "website"), ("documentation", "documentation")):
        url = pkg.get(field)
        if url and re.match(r"^https?://\S+$", url):
            refs.append({"type": kind_, "url": url})
    if refs:
        comp["externalReferences"] = refs
    return comp


def builtin_plugins(meta: dict) -> List[Tuple[dict, Path]]:
    """The workspace's plugin crates whose component goes into builtin/ (as
    scripts/build-plugins.sh decides), with the built .wasm."""
    members = set(meta["workspace_members"])
    found = []
    for p in meta["packages"]:
        if p["id"] not in members or not any("cdylib" in t["crate_types"] for t in p["targets"]):
            continue
        output = ((p.get("metadata") or {}).get("prism") or {}).get("output")
        if output is None:
            rel = Path(p["manifest_path"]).parent.relative_to(REPO)
            output = f"builtin/{rel.name}.wasm" if rel.parent.as_posix() == "plugins" else ""
        if output.startswith("builtin/"):
            found.append((p, PLUGIN_OUT / output))
    return sorted(found, key=lambda x: x[0]["name"])


def binary_bom(binary: Optional[Path]) -> dict:
    meta = json.loads(run("cargo", "metadata", "--locked", "--format-version", "1"))
    by_key: Dict[Key, dict] = {(p["name"], p["version"]): p for p in meta["packages"]}
    sums = lock_checksums()
    triple = host_triple()

    # Features resolved as the builds resolve them: scripts/test.sh builds the
    # binary with the whole workspace (--workspace), scripts/build-plugins.sh
    # every plugin crate in one run; a crate another member asks features of
    # is built with them. Reaching from our roots only, in that graph, can
    # list a crate the binary would lack when built alone, never the reverse.
    _, host_edges, host_macros = cargo_graph(["--workspace"], triple)
    root = next((k for k in host_edges if k[0] == SERVER_PACKAGE), None)
    if root is None:
        sys.exit(f"sbom.py: no {SERVER_PACKAGE} in cargo tree's output")
    edges = reachable([root], host_edges, host_macros)

    plugins = builtin_plugins(meta)
    if not plugins:
        sys.exit("sbom.py: no built-in plugin crates found (plugins/*)")
    members = set(meta["workspace_members"])
    all_plugins = sorted(p["name"] for p in meta["packages"]
                         if p["id"] in members and any("cdylib" in t["crate_types"] for t in p["targets"]))
    _, wasm_edges, wasm_macros = cargo_graph([a for n in all_plugins for a in ("-p", n)], WASM_TARGET)
    plugin_roots: List[Tuple[Key, Path]] = [((pkg["name"], pkg["version"]), wasm) for pkg, wasm in plugins]
    for k, deps in reachable([r for r, _ in plugin_roots], wasm_edges, wasm_macros).items():
        edges.setdefault(k, set()).update(deps)

    refs: Dict[Key, str] = {}
    components: List[dict] = []
    for key in sorted(edges):
        if key == root:
            continue
        pkg = by_key.get(key)
        if pkg is None:
            sys.exit(f"sbom.py: {key[0]} {key[1]} from cargo tree is not in cargo metadata")
        comp = cargo_component(pkg, sums)
        refs[key] = comp["bom-ref"]
        components.append(comp)
    for proot, wasm in plugin_roots:
        comp = next(c for c in components if c["bom-ref"] == refs[proot])
        comp["description"] = (comp.get("description", "") + "; embedded in the binary as "
                               f"{wasm.name} (a wasm32-wasip2 component)").lstrip("; ")
        # The crate is not published: the hash is the component the binary embeds.
        if wasm.is_file():
            comp["hashes"] = [{"alg": "SHA-256", "content": sha256_file(wasm)}]
        comp["properties"] = [{"name": "prism:embedded-plugin", "value": wasm.name},
                              {"name": "prism:target", "value": WASM_TARGET}]
    extra_deps: Dict[str, List[str]] = {}
    for key in sorted(edges):
        if key[0] == "libsqlite3-sys":
            sqlite = bundled_sqlite(by_key[key])
            if sqlite:
                components.append(sqlite)
                extra_deps[refs[key]] = [sqlite["bom-ref"]]
                extra_deps[sqlite["bom-ref"]] = []

    server = cargo_component(by_key[root], sums, kind="application")
    server["name"] = BINARY_NAME
    server["description"] = (f"the `{BINARY_NAME}` binary of package {SERVER_PACKAGE} "
                             f"({by_key[root].get('description', '').strip()})")
    server["properties"] = [{"name": "prism:package", "value": SERVER_PACKAGE},
                            {"name": "prism:target", "value": triple}]
    if binary is not None:
        server["hashes"] = [{"alg": "SHA-256", "content": sha256_file(binary)}]
    refs[root] = server["bom-ref"]

    dependencies = []
    for key in sorted(edges):
        deps = sorted({refs[d] for d in edges[key]})
        if key == root:
            deps = sorted(set(deps) | {refs[p] for p, _ in plugin_roots})
        ref = refs[key]
        dependencies.append({"ref": ref, "dependsOn": sorted(set(deps) | set(extra_deps.get(ref, [])))})
    for ref, deps in extra_deps.items():
        if not any(d["ref"] == ref for d in dependencies):
            dependencies.append({"ref": ref, "dependsOn": deps})

    rustc = run("rustc", "-V").split()
    return document(server, components, dependencies, tools=[
        {"type": "application", "name": "sbom.py", "version": server["version"],
         "description": "Prism's scripts/sbom.py"},
        {"type": "application", "name": "rustc", "version": rustc[1] if len(rustc) > 1 else "unknown"},
    ])


def document(root: dict, components: List[dict], dependencies: List[dict], tools: List[dict]) -> dict:
    body = {"component": root, "components": components, "dependencies": dependencies}
    serial = uuid.uuid5(SERIAL_NS, json.dumps(body, sort_keys=True))
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC,
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
        "metadata": {
            "timestamp": timestamp(),
            "tools": {"components": tools},
            "component": root,
        },
        "components": components,
        "dependencies": dependencies,
    }


# --- the image side -----------------------------------------------------------

DPKG_FORMAT = r"${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\t${Pre-Depends}\t${Depends}\t${Homepage}\t${binary:Summary}\n"

# Copyright files in Debian's machine-readable format name licences in
# `License:` lines; the first word is the licence's short name.
LICENSE_LINE = re.compile(r"^License:\s*(\S.*?)\s*$", re.M)


def podman(*args: str) -> str:
    return run("podman", *args)


def debian_licenses(copyright_text: str) -> List[str]:
    names = []
    for m in LICENSE_LINE.finditer(copyright_text):
        name = m.group(1)
        if name not in names:
            names.append(name)
    return names


def image_bom(binary_sbom: dict, image: str) -> dict:
    inspect = json.loads(podman("image", "inspect", image))[0]
    image_id = inspect["Id"].split(":")[-1]
    rows = podman("run", "--rm", "--network", "none", "--entrypoint", "dpkg-query", image,
                  "-W", "-f", DPKG_FORMAT)
    os_release = dict(
        line.split("=", 1) for line in podman("run", "--rm", "--network", "none", "--entrypoint",
                                              "cat", image, "/etc/os-release").splitlines()
        if "=" in line)
    os_release = {k: v.strip('"') for k, v in os_release.items()}
    distro_id = os_release.get("ID", "debian")
    distro = f"{distro_id}-{os_release.get('VERSION_ID', '')}".rstrip("-")

    # Every copyright file at once, separated by a marker line.
    copyrights: Dict[str, str] = {}
    dump = podman("run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c",
                  'for f in /usr/share/doc/*/copyright; do [ -f "$f" ] || continue; '
                  'echo "@@@PRISM-SBOM $f"; cat "$f"; done')
    current = None
    for line in dump.splitlines(keepends=True):
        if line.startswith("@@@PRISM-SBOM "):
            current = line.split()[1].split("/")[-2]
            copyrights[current] = ""
        elif current:
            copyrights[current] += line

    packages = []
    for row in rows.splitlines():
        if not row.strip():
            continue
        name, version, arch, src, src_version, pre, deps, homepage, summary = (row.split("\t") + [""] * 9)[:9]
        packages.append(dict(name=name, version=version, arch=arch, src=src or name,
                             src_version=src_version or version, depends=", ".join(x for x in (pre, deps) if x),
                             homepage=homepage, summary=summary))
    installed = {p["name"]: p for p in packages}

    def deb_purl(p: dict) -> str:
        q = {"arch": p["arch"], "distro": distro}
        if p["src"] != p["name"]:
            q["upstream"] = p["src"]
        return purl("deb", p["name"], p["version"], namespace=distro_id, **q)

    os_ref = f"os:{distro}"
    os_comp = {"type": "operating-system", "bom-ref": os_ref, "name": distro_id,
               "version": os_release.get("VERSION_ID", ""),
               "description": os_release.get("PRETTY_NAME", distro)}
    deb_components, deb_deps = [], []
    for p in sorted(packages, key=lambda x: x["name"]):
        comp = {"type": "library", "bom-ref": deb_purl(p), "name": p["name"], "version": p["version"]}
        if p["summary"]:
            comp["description"] = p["summary"]
        comp["scope"] = "required"
        lic = debian_licenses(copyrights.get(p["name"], ""))
        if lic:
            comp["licenses"] = [{"license": {"name": n}} for n in lic]
        comp["purl"] = deb_purl(p)
        if re.match(r"^https?://\S+$", p["homepage"] or ""):
            comp["externalReferences"] = [{"type": "website", "url": p["homepage"]}]
        comp["properties"] = [{"name": "debian:source", "value": f"{p['src']} {p['src_version']}"}]
        deb_components.append(comp)
        on = set()
        for clause in p["depends"].split(","):
            # `a | b`: whichever is installed; versions and arch qualifiers dropped.
            for alt in clause.split("|"):
                dep = re.split(r"[\s(:]", alt.strip(), maxsplit=1)[0]
                if dep in installed:
                    on.add(deb_purl(installed[dep]))
                    break
        deb_deps.append({"ref": comp["bom-ref"], "dependsOn": sorted(on)})
    os_deps = {"ref": os_ref, "dependsOn": sorted(c["bom-ref"] for c in deb_components)}

    binary_root = dict(binary_sbom["metadata"]["component"])
    container = {
        "type": "container",
        "bom-ref": f"container:{image}@sha256:{image_id}",
        "name": image.rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image,
        "version": image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else "latest",
        "description": "Prism's container image: the prism binary on "
                       + os_release.get("PRETTY_NAME", distro),
        "hashes": [{"alg": "SHA-256", "content": image_id}],
        "properties": [{"name": "prism:image-id", "value": f"sha256:{image_id}"}],
    }
    in_image = Path("/usr/local/bin") / BINARY_NAME
    binary_root["properties"] = binary_root.get("properties", []) + [
        {"name": "prism:path", "value": str(in_image)}]
    # The binary's hash as it is in the image (scripts/test-image.sh strips
    # debug info from target/release/prism first).
    digest = podman("run", "--rm", "--network", "none", "--entrypoint", "sha256sum", image,
                    str(in_image)).split()[0]
    binary_root["hashes"] = [{"alg": "SHA-256", "content": digest}]

    components = [binary_root, os_comp] + deb_components + binary_sbom["components"]
    dependencies = ([{"ref": container["bom-ref"], "dependsOn": sorted([binary_root["bom-ref"], os_ref])},
                     os_deps] + deb_deps + binary_sbom["dependencies"])
    tools = binary_sbom["metadata"]["tools"]["components"] + [
        {"type": "application", "name": "podman",
         "version": podman("version", "--format", "{{.Client.Version}}").strip()}]
    return document(container, components, dependencies, tools)


# --- validation ---------------------------------------------------------------

def fast_iri_reference() -> None:
    """jsonschema checks the schema's `iri-reference` format with an Earley
    parser, a sixth of a second per URL: over a minute for these documents.
    A string of ASCII characters is an IRI reference exactly when it is a
    URI reference (RFC 3987 only adds non-ASCII characters), and that a
    regular expression checks (rfc3986-validator, jsonschema's own choice
    for `uri-reference`); anything else still goes to the parser."""
    from jsonschema import Draft7Validator
    from rfc3986_validator import validate_rfc3986

    checkers = Draft7Validator.FORMAT_CHECKER.checkers
    slow, raises = checkers["iri-reference"]

    def iri_reference(instance: object) -> bool:
        if isinstance(instance, str) and instance.isascii():
            return bool(validate_rfc3986(instance, rule="URI_reference"))
        return slow(instance)

    checkers["iri-reference"] = (iri_reference, raises)


def validate(paths: Iterable[Path]) -> int:
    """The schema, and what it leaves unchecked: every purl canonical,
    every licence expression made of SPDX identifiers, every reference in
    the dependency graph naming a component."""
    try:
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonStrictValidator
        from license_expression import get_spdx_licensing
        from packageurl import PackageURL
    except ImportError:
        sys.exit("sbom.py validate: needs cyclonedx-python-lib[json-validation] "
                 "(scripts/setup-python.sh installs it into .venv)")
    fast_iri_reference()
    validator = JsonStrictValidator(SchemaVersion.V1_5)
    licensing = get_spdx_licensing()
    failed = 0
    for path in paths:
        text = path.read_text()
        problems = []
        error = validator.validate_str(text)
        if error:
            # The first line names the rule; the rest is the whole schema.
            problems.append("schema: " + str(error.data).splitlines()[0][:500])
        doc = json.loads(text)
        comps = [doc["metadata"]["component"], *doc.get("components", [])]
        refs = {c["bom-ref"] for c in comps}
        named = {d for dep in doc.get("dependencies", []) for d in [dep["ref"], *dep.get("dependsOn", [])]}
        problems += [f"dependency on an unknown component {r}" for r in sorted(named - refs)]
        for c in comps:
            if "purl" in c:
                try:
                    canonical = PackageURL.from_string(c["purl"]).to_string()
                except ValueError as e:
                    canonical = f"invalid ({e})"
                if canonical != c["purl"]:
                    problems.append(f"purl {c['purl']} is not canonical: {canonical}")
            for lic in c.get("licenses", []):
                if "expression" in lic:
                    info = licensing.validate(lic["expression"])
                    if info.errors or info.invalid_symbols:
                        problems.append(f"{c['name']}: licence {lic['expression']!r}: "
                                        f"{'; '.join(info.errors) or info.invalid_symbols}")
        if problems:
            failed += 1
            print(f"{path}: INVALID", file=sys.stderr)
            for p in problems[:20]:
                print(f"  {p}", file=sys.stderr)
        else:
            print(f"{path}: valid CycloneDX {doc['specVersion']}: {len(doc['components'])} components, "
                  f"{len(doc['dependencies'])} dependency entries", file=sys.stderr)
    return 1 if failed else 0


def write(doc: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"sbom.py: wrote {out} ({len(doc['components'])} components)", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("binary", help="SBOM of the prism binary")
    b.add_argument("--binary", type=Path, help="hash this file as the binary (default: target/release/prism if present)")
    b.add_argument("--out", type=Path, default=REPO / "target" / "sbom" / "prism.cdx.json")
    i = sub.add_parser("image", help="SBOM of the container image")
    i.add_argument("--binary-sbom", type=Path, default=REPO / "target" / "sbom" / "prism.cdx.json")
    i.add_argument("--image", default=os.environ.get("PRISM_IMAGE", "localhost/prism:test"))
    i.add_argument("--out", type=Path, default=REPO / "target" / "sbom" / "prism-image.cdx.json")
    v = sub.add_parser("validate", help="validate against the CycloneDX 1.5 schema")
    v.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args()

    if args.cmd == "binary":
        binary = args.binary
        if binary is None and (REPO / "target" / "release" / BINARY_NAME).is_file():
            binary = REPO / "target" / "release" / BINARY_NAME
        write(binary_bom(binary), args.out)
    elif args.cmd == "image":
        write(image_bom(json.loads(args.binary_sbom.read_text()), args.image), args.out)
    else:
        return validate(args.files)
    return 0


if __name__ == "__main__":
    sys.exit(main())

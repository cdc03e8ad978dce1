"""The plugin tutorial (plugin-sdk/template/README.md) followed from a clean
directory outside the repository, ending where a user ends: the real Python
client calling the server through the plugin they built. (The Rust
integration test `plugin_tutorial` follows the same steps over raw HTTP.)"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import REPO_ROOT, prism_bin
from e2e_util import make_client

pytestmark = [pytest.mark.auth, pytest.mark.prism_only("Prism's plugins")]


def edit(path, *replacements):
    text = path.read_text()
    for old, new in replacements:
        assert old in text, f"{old!r} not in {path}"
        text = text.replace(old, new)
    path.write_text(text)


def test_the_template_built_outside_the_repository_serves_the_python_client(start_server, tmp_path):
    assert not str(tmp_path).startswith(str(REPO_ROOT))
    crate = tmp_path / "team-keys"
    shutil.copytree(REPO_ROOT / "plugin-sdk" / "template", crate, ignore=shutil.ignore_patterns("target"))
    # 1. Copy: rename, point at the SDK, drop the template's build table.
    edit(
        crate / "Cargo.toml",
        ('name = "my-prism-plugin"', 'name = "team-keys"'),
        ('prism-plugin-sdk = { path = ".." }', f'prism-plugin-sdk = {{ path = "{REPO_ROOT / "plugin-sdk"}" }}'),
        ('[package.metadata.prism]\noutput = "examples/template.wasm"\n', ""),
    )
    shutil.copyfile(REPO_ROOT / "Cargo.lock", crate / "Cargo.lock")
    # 2. Change: another name and header.
    edit(
        crate / "src" / "lib.rs",
        ('Metadata::new("team-keys"', 'Metadata::new("python-keys"'),
        ("x-team-key", "x-python-key"),
    )
    # 3. Build with the one command (the repository's build cache, so the
    #    standard library scripts/build-plugins.sh built is reused).
    plugins = tmp_path / "plugins"
    built = subprocess.run(
        [str(prism_bin()), "plugin", "build", str(crate), "-o", str(plugins / "python-keys.wasm")],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "CARGO_TARGET_DIR": str(REPO_ROOT / "target")},
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert "name:        python-keys" in built.stdout, built.stdout
    # 4. Run it.
    keys = tmp_path / "keys.txt"
    keys.write_text("search:k1\nads:k2\n")
    srv = start_server(env={
        "PRISM_PLUGIN_DIR": str(plugins),
        "CHROMA_SERVER_AUTHN_PROVIDER": "python-keys",
        "PRISM_AUTHN_OPT_KEYS_FILE": str(keys),
    })
    # 5. Call it from the Python client.
    client = make_client(srv, headers={"X-Python-Key": "k2"})
    assert client.get_user_identity().user_id == "ads"
    col = client.create_collection("tutorial")
    col.add(ids=["a"], embeddings=[[1.0, 2.0]])
    assert col.count() == 1
    for headers in ({}, {"X-Python-Key": "nope"}, {"X-Team-Key": "k2"}):
        with pytest.raises(Exception, match="(?i)forbidden|auth"):
            make_client(srv, headers=headers).list_collections()

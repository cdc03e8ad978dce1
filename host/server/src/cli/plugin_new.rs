//! `prism plugin new --lang rust|js|python --kind authn|authz NAME [DIR]`: a
//! ready plugin project (source, a test, a README, the build its language
//! expects) from the templates in `plugin-sdk/templates/`, which the binary
//! carries, so a project can be made wherever `prism` is installed.
//!
//! JavaScript and Python projects get the SDK written beside their source
//! (`prism-plugin-sdk/`, with the contract's WIT), so they build with the
//! language's own tools and nothing but the package registries. A Rust
//! project depends on the Rust SDK of a Prism checkout by path (`--sdk`, or
//! the checkout this binary was built in).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::ValueEnum;

/// The language a plugin is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    #[value(alias = "javascript")]
    Js,
    #[value(alias = "py")]
    Python,
}

/// Which decision the plugin makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Who is calling (CHROMA_SERVER_AUTHN_PROVIDER).
    Authn,
    /// May they do this (CHROMA_SERVER_AUTHZ_PROVIDER).
    Authz,
}

/// A file of a template or SDK: its path in the project, its text.
type File = (&'static str, &'static str);

/// Files under `plugin-sdk/`, relative to it, embedded in the binary.
macro_rules! sdk_files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugin-sdk/", $path)))),*]
    };
}

/// The contract the SDKs speak, written into each JS or Python project's SDK.
const WIT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../wit/prism-auth@0.2.0/auth.wit"
));

const RUST_AUTHN: &[File] = sdk_files![
    "templates/rust-authn/Cargo.toml",
    "templates/rust-authn/README.md",
    "templates/rust-authn/src/lib.rs",
];
const RUST_AUTHZ: &[File] = sdk_files![
    "templates/rust-authz/Cargo.toml",
    "templates/rust-authz/README.md",
    "templates/rust-authz/src/lib.rs",
];
const JS_AUTHN: &[File] = sdk_files![
    "templates/js-authn/package.json",
    "templates/js-authn/package-lock.json",
    "templates/js-authn/README.md",
    "templates/js-authn/.gitignore",
    "templates/js-authn/src/plugin.js",
    "templates/js-authn/test/plugin.test.js",
];
const JS_AUTHZ: &[File] = sdk_files![
    "templates/js-authz/package.json",
    "templates/js-authz/package-lock.json",
    "templates/js-authz/README.md",
    "templates/js-authz/.gitignore",
    "templates/js-authz/src/plugin.js",
    "templates/js-authz/test/plugin.test.js",
];
const PYTHON_AUTHN: &[File] = sdk_files![
    "templates/python-authn/app.py",
    "templates/python-authn/README.md",
    "templates/python-authn/.gitignore",
    "templates/python-authn/requirements.txt",
    "templates/python-authn/tests/test_app.py",
];
const PYTHON_AUTHZ: &[File] = sdk_files![
    "templates/python-authz/app.py",
    "templates/python-authz/README.md",
    "templates/python-authz/.gitignore",
    "templates/python-authz/requirements.txt",
    "templates/python-authz/tests/test_app.py",
];
const JS_SDK: &[File] = sdk_files![
    "js/package.json",
    "js/README.md",
    "js/index.js",
    "js/index.d.ts",
    "js/build.js",
    "js/bin/prism-plugin-build.js",
];
const PYTHON_SDK: &[File] = sdk_files![
    "python/pyproject.toml",
    "python/README.md",
    "python/src/prism_plugin_sdk/__init__.py",
    "python/src/prism_plugin_sdk/build.py",
    "python/src/prism_plugin_sdk/py.typed",
];

/// Where the SDK goes in a JS or Python project, and where its WIT goes in it.
const VENDORED_SDK: &str = "prism-plugin-sdk";

/// Make the project; print what was made and what to run next.
pub fn new(
    lang: Lang,
    kind: Kind,
    name: &str,
    dir: Option<&Path>,
    sdk: Option<&Path>,
) -> anyhow::Result<()> {
    check_name(name)?;
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if dir.exists()
        && std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} exists and is not empty: give a new directory",
            dir.display()
        );
    }
    let files = project_files(lang, kind, name, sdk)?;
    for (path, text) in &files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
        if path.contains("/bin/") {
            make_executable(&target)?;
        }
    }
    println!(
        "made {} ({} {} plugin, {} files)",
        dir.display(),
        lang_name(lang),
        kind_name(kind),
        files.len()
    );
    println!("next:\n  cd {}", dir.display());
    for step in next_steps(lang, name) {
        println!("  {step}");
    }
    println!("README.md in it says how to run the plugin in prism.");
    Ok(())
}

/// Every file of the project, placeholders replaced.
fn project_files(
    lang: Lang,
    kind: Kind,
    name: &str,
    sdk: Option<&Path>,
) -> anyhow::Result<Vec<(String, String)>> {
    let (template, placeholder) = match (lang, kind) {
        (Lang::Rust, Kind::Authn) => (RUST_AUTHN, "my-authn-plugin"),
        (Lang::Rust, Kind::Authz) => (RUST_AUTHZ, "my-authz-plugin"),
        (Lang::Js, Kind::Authn) => (JS_AUTHN, "my-authn-plugin"),
        (Lang::Js, Kind::Authz) => (JS_AUTHZ, "my-authz-plugin"),
        (Lang::Python, Kind::Authn) => (PYTHON_AUTHN, "my-authn-plugin"),
        (Lang::Python, Kind::Authz) => (PYTHON_AUTHZ, "my-authz-plugin"),
    };
    let mut files: Vec<(String, String)> = template
        .iter()
        .map(|(path, text)| {
            // templates/<lang>-<kind>/<path in the project>
            let relative = path.splitn(3, '/').nth(2).unwrap_or(path);
            (relative.to_string(), text.replace(placeholder, name))
        })
        .collect();
    match lang {
        Lang::Rust => {
            let sdk = rust_sdk(sdk)?;
            let manifest = files
                .iter_mut()
                .find(|(path, _)| path == "Cargo.toml")
                .expect("every Rust template has a Cargo.toml");
            manifest.1 = rust_manifest(&manifest.1, &sdk);
            // The versions Prism is tested with (cargo drops what the
            // plugin does not use).
            if let Some(lock) = sdk
                .parent()
                .and_then(|checkout| std::fs::read_to_string(checkout.join("Cargo.lock")).ok())
            {
                files.push(("Cargo.lock".into(), lock));
            }
        }
        Lang::Js => vendor(&mut files, JS_SDK, "js/", "wit/auth.wit"),
        Lang::Python => vendor(
            &mut files,
            PYTHON_SDK,
            "python/",
            "src/prism_plugin_sdk/wit/auth.wit",
        ),
    }
    Ok(files)
}

/// The SDK's files under `prism-plugin-sdk/`, with the WIT at `wit_path` in it.
fn vendor(files: &mut Vec<(String, String)>, sdk: &[File], prefix: &str, wit_path: &str) {
    for (path, text) in sdk {
        let relative = path.strip_prefix(prefix).unwrap_or(path);
        files.push((format!("{VENDORED_SDK}/{relative}"), text.to_string()));
    }
    files.push((format!("{VENDORED_SDK}/{wit_path}"), WIT.to_string()));
}

/// The template's manifest without Prism's own build table, depending on the
/// SDK at `sdk`.
fn rust_manifest(template: &str, sdk: &Path) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in template.lines() {
        if line.starts_with("# Only for Prism's own build") || line == "[package.metadata.prism]" {
            skipping = true;
            continue;
        }
        if skipping {
            if line.starts_with('[') && line != "[package.metadata.prism]" {
                skipping = false;
            } else {
                continue;
            }
        }
        if line.starts_with("prism-plugin-sdk = ") {
            let path = sdk
                .display()
                .to_string()
                .replace('\\', "\\\\")
                .replace('"', "\\\"");
            out.push_str(&format!("prism-plugin-sdk = {{ path = \"{path}\" }}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The Rust SDK: `--sdk`, else the checkout this binary was built in.
fn rust_sdk(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let is_sdk = |dir: &Path| {
        std::fs::read_to_string(dir.join("Cargo.toml"))
            .is_ok_and(|m| m.contains("name = \"prism-plugin-sdk\""))
    };
    if let Some(dir) = given {
        let dir = std::fs::canonicalize(dir)
            .with_context(|| format!("--sdk {}: no such directory", dir.display()))?;
        if !is_sdk(&dir) {
            bail!(
                "--sdk {}: not Prism's plugin-sdk (no Cargo.toml for prism-plugin-sdk there)",
                dir.display()
            );
        }
        return Ok(dir);
    }
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugin-sdk");
    let beside_exe = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .map(|dir| dir.join("plugin-sdk"))
            .find(|dir| is_sdk(dir))
    });
    beside_exe
        .into_iter()
        .chain([built_in])
        .find(|dir| is_sdk(dir))
        .and_then(|dir| std::fs::canonicalize(dir).ok())
        .context(
            "a Rust plugin depends on Prism's Rust SDK, and none was found: \
             give the plugin-sdk directory of a Prism checkout with --sdk DIR",
        )
}

/// Names a plugin registers under and its package takes: what npm, Cargo
/// and the host all accept.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !ok {
        bail!(
            "plugin name {name:?}: use lower-case letters, digits and '-', starting with a \
             letter (e.g. team-keys), at most 64 characters"
        );
    }
    Ok(())
}

fn next_steps(lang: Lang, name: &str) -> Vec<String> {
    match lang {
        Lang::Rust => vec![
            "cargo test".into(),
            format!("prism plugin build . -o plugins/{name}.wasm"),
        ],
        Lang::Js => vec![
            "npm install".into(),
            "npm test".into(),
            format!("npm run build -- -o plugins/{name}.wasm"),
        ],
        Lang::Python => vec![
            "python3 -m venv .venv".into(),
            ".venv/bin/pip install -r requirements.txt".into(),
            format!(".venv/bin/python -m prism_plugin_sdk.build -o plugins/{name}.wasm"),
            ".venv/bin/python -m unittest discover tests".into(),
        ],
    }
}

fn lang_name(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "Rust",
        Lang::Js => "JavaScript",
        Lang::Python => "Python",
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Authn => "authentication",
        Kind::Authz => "authorization",
    }
}

#[cfg(unix)]
fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_what_every_package_manager_accepts() {
        for good in ["team-keys", "a", "policy2"] {
            check_name(good).unwrap();
        }
        for bad in [
            "",
            "Team",
            "-x",
            "x-",
            "a_b",
            "a.b",
            "9lives",
            &"x".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_project_names_the_plugin_and_carries_its_sdk() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugin-sdk");
        for lang in [Lang::Rust, Lang::Js, Lang::Python] {
            for kind in [Kind::Authn, Kind::Authz] {
                let files = project_files(lang, kind, "zebra-keys", Some(&sdk)).unwrap();
                // The checkout's Cargo.lock lists the templates themselves.
                let all: String = files
                    .iter()
                    .filter(|(path, _)| path != "Cargo.lock")
                    .map(|(_, text)| text.as_str())
                    .collect();
                assert!(!all.contains("my-authn-plugin") && !all.contains("my-authz-plugin"));
                assert!(all.contains("\"zebra-keys\""), "{lang:?} {kind:?}");
                let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
                assert!(paths.contains(&"README.md"), "{paths:?}");
                match lang {
                    Lang::Rust => {
                        let manifest = &files.iter().find(|(p, _)| p == "Cargo.toml").unwrap().1;
                        assert!(!manifest.contains("metadata.prism"), "{manifest}");
                        assert!(manifest.contains("[lib]"), "{manifest}");
                        assert!(paths.contains(&"Cargo.lock"), "{paths:?}");
                        assert!(manifest.contains(&format!(
                            "prism-plugin-sdk = {{ path = \"{}\" }}",
                            std::fs::canonicalize(&sdk).unwrap().display()
                        )));
                    }
                    Lang::Js => assert!(paths.contains(&"prism-plugin-sdk/wit/auth.wit")),
                    Lang::Python => assert!(
                        paths.contains(&"prism-plugin-sdk/src/prism_plugin_sdk/wit/auth.wit")
                    ),
                }
            }
        }
    }
}

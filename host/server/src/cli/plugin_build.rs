//! `prism plugin build [DIR] [-o OUT.wasm]`: one command from a plugin crate
//! (inside the Prism repository or anywhere else) to a component Prism
//! accepts. It picks the toolchain route the machine has (installing
//! Debian's wasm toolchain when it can), runs cargo with the flags that route
//! needs, checks the result the way `prism plugin inspect` does, and only
//! then writes OUT. The routes are described in docs/TOOLCHAIN.md.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use prism_auth::PluginOrigin;

/// The target every plugin is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Debian's packages that build wasm32-wasip2 without rustup: a Rust
/// (`rustc-web`, `cargo-web`), the standard library's source for
/// `-Z build-std` (`rust-web-src`), the component linker
/// `wasm-component-ld` (`rust-web-llvm`), `wasm-ld` (`lld-22`) and the C
/// library the standard library links against (`wasi-libc`).
pub const DEBIAN_PACKAGES: [&str; 6] = [
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    "rust-web-llvm",
    "lld-22",
    "wasi-libc",
];

/// Where `wasi-libc` puts the C library for wasm32.
const WASI_LIBC_DIR: &str = "/usr/lib/wasm32-wasi";

/// For `prism plugin build --help`.
pub const TOOLCHAIN_HELP: &str = "\
Toolchain routes, the first that works (docs/TOOLCHAIN.md in the Prism repository has the details):
  1. rustup with the wasm32-wasip2 target installed (`rustup target list --installed`):
       cargo build --release --target wasm32-wasip2
  2. Debian's Rust for the web, packages rustc-web cargo-web rust-web-src rust-web-llvm lld-22
     wasi-libc (installed with apt-get when missing and prism runs as root), building the
     standard library from source:
       PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 \\
       RUSTFLAGS='-L /usr/lib/wasm32-wasi -C link-self-contained=no' \\
       cargo build --release --target wasm32-wasip2 -Z build-std=std,panic_abort
  3. rustup without the target: `rustup target add wasm32-wasip2` first (needs rustup's servers).
Otherwise it stops and says what to install.

The crate is built in `<target dir>/wasm` (its own target/, or its workspace's), release,
without debug info, stripped. The component is loaded as `prism run` would before OUT is
written; OUT defaults to ./<package name>.wasm (or <package name>.wasm inside OUT when OUT
is a directory). A crate copied out of the Prism repository needs its prism-plugin-sdk
dependency pointed at the repository's plugin-sdk (an absolute path or a git URL).";

/// How cargo is run to reach wasm32-wasip2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// rustup's toolchain with the target's prebuilt standard library.
    Rustup,
    /// Debian's `rustc-web`, the standard library built from source.
    Debian,
}

/// What the machine has, as far as the routes go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// `None` without rustup; else whether its toolchain has the target.
    pub rustup_target: Option<bool>,
    /// `None` without dpkg; else the packages of [`DEBIAN_PACKAGES`] missing.
    pub debian_missing: Option<Vec<String>>,
    /// Running as root (so apt-get can install).
    pub root: bool,
    /// `apt-get` is on PATH.
    pub apt_get: bool,
}

/// What to do to get a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// A route is ready.
    Use(Route),
    /// Install these Debian packages (apt-get update first), then Debian's route.
    InstallDebian(Vec<String>),
    /// `rustup target add wasm32-wasip2`, then rustup's route.
    AddRustupTarget,
    /// Nothing here can build a component; tell the user what to install.
    Impossible,
}

/// The route to take, in the order of `TOOLCHAIN_HELP`: a ready route
/// first, then installing Debian's packages (root with apt), then adding
/// rustup's target.
pub fn plan(probe: &Probe) -> Plan {
    if probe.rustup_target == Some(true) {
        return Plan::Use(Route::Rustup);
    }
    match &probe.debian_missing {
        Some(missing) if missing.is_empty() => return Plan::Use(Route::Debian),
        Some(missing) if probe.root && probe.apt_get => {
            return Plan::InstallDebian(missing.clone());
        }
        _ => {}
    }
    if probe.rustup_target.is_some() {
        return Plan::AddRustupTarget;
    }
    Plan::Impossible
}

/// Why no route works and exactly what to install; `tried` says what failed.
pub fn no_toolchain_message(probe: &Probe, tried: Option<&str>) -> String {
    let mut out = format!("no toolchain on this machine builds {TARGET} components.\n");
    if let Some(tried) = tried {
        let _ = writeln!(out, "{tried}");
    }
    out.push_str("Install one of:\n");
    let _ = writeln!(
        out,
        "  - rustup's target (needs rustup and its servers): rustup target add {TARGET}"
    );
    let packages = DEBIAN_PACKAGES.join(" ");
    let sudo = if probe.root { "" } else { "sudo " };
    let _ = writeln!(
        out,
        "  - Debian's wasm toolchain (Debian 12, bookworm-security): {sudo}apt-get update && {sudo}apt-get install -y {packages}"
    );
    match &probe.debian_missing {
        Some(missing) if !missing.is_empty() => {
            let _ = writeln!(out, "    (missing here: {})", missing.join(" "));
            if !probe.root {
                let _ = writeln!(
                    out,
                    "    (`prism plugin build` installs them itself when run as root)"
                );
            }
        }
        None => {
            let _ = writeln!(out, "    (this machine has no dpkg: not a Debian system)");
        }
        _ => {}
    }
    let _ = write!(
        out,
        "then run `prism plugin build` again. The routes: {} and `prism plugin build --help`.",
        toolchain_doc()
    );
    out
}

/// docs/TOOLCHAIN.md, with its path when this binary's source tree is here.
fn toolchain_doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/TOOLCHAIN.md");
    match path.canonicalize() {
        Ok(path) => format!(
            "{} (docs/TOOLCHAIN.md in the Prism repository)",
            path.display()
        ),
        Err(_) => "docs/TOOLCHAIN.md in the Prism repository".to_string(),
    }
}

/// The package names `dpkg-query -W -f '${Package} ${Status}\n' PKGS...`
/// does not report installed.
pub fn missing_from_dpkg_query(output: &str) -> Vec<String> {
    DEBIAN_PACKAGES
        .iter()
        .filter(|package| {
            !output.lines().any(|line| {
                line.split_once(' ').is_some_and(|(name, status)| {
                    name.split(':').next() == Some(**package)
                        && status.trim() == "install ok installed"
                })
            })
        })
        .map(|package| package.to_string())
        .collect()
}

/// Whether `rustup target list --installed` printed the target.
pub fn rustup_lists_target(output: &str) -> bool {
    output.lines().any(|line| line.trim() == TARGET)
}

/// What this machine has.
fn probe(crate_dir: &Path) -> Probe {
    let rustup_target = on_path("rustup").then(|| {
        Command::new("rustup")
            .args(["target", "list", "--installed"])
            .current_dir(crate_dir)
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|out| {
                out.status.success() && rustup_lists_target(&String::from_utf8_lossy(&out.stdout))
            })
    });
    let debian_missing = on_path("dpkg-query").then(|| {
        let out = Command::new("dpkg-query")
            .args(["-W", "-f", "${Package} ${Status}\n"])
            .args(DEBIAN_PACKAGES)
            .stderr(Stdio::null())
            .output();
        let mut missing = match out {
            Ok(out) => missing_from_dpkg_query(&String::from_utf8_lossy(&out.stdout)),
            Err(_) => DEBIAN_PACKAGES.iter().map(|p| p.to_string()).collect(),
        };
        // The route runs these two by path.
        for (file, package) in [
            ("/usr/bin/rustc", "rustc-web"),
            ("/usr/bin/cargo", "cargo-web"),
        ] {
            if !Path::new(file).is_file() && !missing.iter().any(|m| m == package) {
                missing.push(package.to_string());
            }
        }
        missing
    });
    Probe {
        rustup_target,
        debian_missing,
        root: is_root(),
        apt_get: on_path("apt-get"),
    }
}

/// Whether an executable `name` is on PATH.
fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(name))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// The effective user is root (from /proc, else `id -u`).
fn is_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(uids) = status.lines().find_map(|l| l.strip_prefix("Uid:"))
    {
        return uids.split_whitespace().nth(1) == Some("0");
    }
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Get a route, installing what the plan says.
fn toolchain(crate_dir: &Path) -> anyhow::Result<Route> {
    let probe = probe(crate_dir);
    match plan(&probe) {
        Plan::Use(route) => Ok(route),
        Plan::InstallDebian(missing) => {
            say(&format!(
                "installing Debian's wasm toolchain (missing: {}) with apt-get",
                missing.join(" ")
            ));
            let installed =
                run_shown(Command::new("apt-get").args(["update", "-qq"])).and_then(|()| {
                    run_shown(
                        Command::new("apt-get")
                            .args(["install", "-y", "-qq"])
                            .args(DEBIAN_PACKAGES)
                            .env("DEBIAN_FRONTEND", "noninteractive"),
                    )
                });
            match installed {
                Ok(()) => Ok(Route::Debian),
                Err(e) => bail!(no_toolchain_message(&probe, Some(&format!("{e:#}")))),
            }
        }
        Plan::AddRustupTarget => {
            say(&format!("adding rustup's {TARGET} target"));
            match run_shown(
                Command::new("rustup")
                    .args(["target", "add", TARGET])
                    .current_dir(crate_dir),
            ) {
                Ok(()) => Ok(Route::Rustup),
                Err(e) => bail!(no_toolchain_message(&probe, Some(&format!("{e:#}")))),
            }
        }
        Plan::Impossible => bail!(no_toolchain_message(&probe, None)),
    }
}

/// Run a command with its output shown; an error naming it when it fails.
fn run_shown(command: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{command:?}");
    let status = command
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .with_context(|| format!("cannot run {shown}"))?;
    anyhow::ensure!(status.success(), "{shown} failed ({status})");
    Ok(())
}

fn say(what: &str) {
    eprintln!("prism plugin build: {what}");
}

/// The cargo program a route runs and the environment it runs with
/// (`None`: removed). Both routes: release without debug info, stripped
/// (as scripts/build-plugins.sh builds the plugins the binary embeds).
pub fn cargo_env(
    route: Route,
    path: Option<&std::ffi::OsStr>,
) -> (&'static str, Vec<(&'static str, Option<OsString>)>) {
    let mut env = vec![
        ("CARGO_PROFILE_RELEASE_DEBUG", Some("false".into())),
        ("CARGO_PROFILE_RELEASE_STRIP", Some("true".into())),
    ];
    match route {
        Route::Rustup => ("cargo", env),
        Route::Debian => {
            let mut dirs = vec![PathBuf::from("/usr/bin")];
            if let Some(path) = path {
                dirs.extend(std::env::split_paths(path));
            }
            let path = std::env::join_paths(dirs).unwrap_or_else(|_| "/usr/bin".into());
            env.extend([
                ("PATH", Some(path)),
                ("RUSTC_BOOTSTRAP", Some("1".into())),
                (
                    "RUSTFLAGS",
                    Some(format!("-L {WASI_LIBC_DIR} -C link-self-contained=no").into()),
                ),
                // These would win over RUSTFLAGS or pick rustup's compiler.
                ("CARGO_ENCODED_RUSTFLAGS", None),
                ("RUSTC", None),
                ("RUSTUP_TOOLCHAIN", None),
            ]);
            ("/usr/bin/cargo", env)
        }
    }
}

/// `cargo` with a route's program and environment.
fn cargo(route: Route) -> Command {
    let (program, env) = cargo_env(route, std::env::var_os("PATH").as_deref());
    let mut command = Command::new(program);
    for (key, value) in env {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    command
}

/// cargo build's arguments for one plugin crate.
pub fn cargo_build_args(route: Route, krate: &PluginCrate) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "build".into(),
        "--release".into(),
        "--lib".into(),
        "--target".into(),
        TARGET.into(),
        "--manifest-path".into(),
        krate.manifest.clone().into(),
        "-p".into(),
        format!("{}@{}", krate.name, krate.version).into(),
        "--target-dir".into(),
        krate.wasm_target_dir().into(),
    ];
    if route == Route::Debian {
        args.extend(["-Z".into(), "build-std=std,panic_abort".into()]);
    }
    args
}

/// The plugin crate, as `cargo metadata --no-deps` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginCrate {
    /// The package name.
    pub name: String,
    pub version: String,
    /// Its Cargo.toml.
    pub manifest: PathBuf,
    /// The cdylib's file stem (`-` as `_`): cargo writes `<lib_name>.wasm`.
    pub lib_name: String,
    /// Its target directory (its workspace's in a workspace).
    pub target_dir: PathBuf,
}

impl PluginCrate {
    /// Where plugins are built: apart from the host's own builds (a
    /// different compiler may build them), and where scripts/build-plugins.sh
    /// builds the repository's plugins, so the two share their work.
    pub fn wasm_target_dir(&self) -> PathBuf {
        self.target_dir.join("wasm")
    }

    /// The component cargo writes.
    pub fn artifact(&self) -> PathBuf {
        self.wasm_target_dir()
            .join(TARGET)
            .join("release")
            .join(format!("{}.wasm", self.lib_name))
    }
}

/// The package of `manifest` in `cargo metadata --no-deps --format-version 1`
/// output, which must be a plugin crate (a cdylib).
pub fn plugin_crate_from_metadata(json: &str, manifest: &Path) -> anyhow::Result<PluginCrate> {
    let meta: serde_json::Value =
        serde_json::from_str(json).context("cannot read cargo metadata's output")?;
    let text = |v: &serde_json::Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let is_cdylib = |target: &serde_json::Value| {
        target["crate_types"]
            .as_array()
            .is_some_and(|types| types.iter().any(|t| t == "cdylib"))
    };
    let Some(package) = packages
        .iter()
        .find(|p| same_path(Path::new(&text(p, "manifest_path")), manifest))
    else {
        let plugins: Vec<String> = packages
            .iter()
            .filter(|p| {
                p["targets"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(is_cdylib))
            })
            .filter_map(|p| {
                Path::new(&text(p, "manifest_path"))
                    .parent()
                    .map(|d| d.display().to_string())
            })
            .collect();
        let hint = if plugins.is_empty() {
            String::new()
        } else {
            format!(": its plugin crates are {}", plugins.join(", "))
        };
        bail!(
            "{} is a workspace, not a crate; give a plugin crate's directory{hint}",
            manifest.display()
        );
    };
    let name = text(package, "name");
    let targets = package["targets"].as_array().cloned().unwrap_or_default();
    let Some(lib) = targets.iter().find(|t| is_cdylib(t)) else {
        bail!(
            "{name} ({}) is not a plugin crate: its library is not a cdylib. A plugin crate's \
             Cargo.toml has\n  [lib]\n  crate-type = [\"cdylib\", \"rlib\"]\n(as a crate `prism plugin new \
             --lang rust` makes has)",
            manifest.display()
        );
    };
    let target_dir = text(&meta, "target_directory");
    anyhow::ensure!(
        !target_dir.is_empty(),
        "cargo metadata named no target directory"
    );
    Ok(PluginCrate {
        version: text(package, "version"),
        manifest: manifest.to_path_buf(),
        lib_name: text(lib, "name").replace('-', "_"),
        target_dir: PathBuf::from(target_dir),
        name,
    })
}

fn same_path(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// The crate directory: DIR, or the current directory.
pub fn crate_dir(dir: Option<&Path>) -> PathBuf {
    dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Where the component goes: OUT (inside it when it is a directory), or
/// `./<package>.wasm`.
pub fn output_path(output: Option<&Path>, package: &str) -> PathBuf {
    let file = format!("{package}.wasm");
    match output {
        None => PathBuf::from(file),
        Some(out) if out.is_dir() || out.as_os_str().to_string_lossy().ends_with('/') => {
            out.join(file)
        }
        Some(out) => out.to_path_buf(),
    }
}

/// What cargo said when it read the manifest, plus what to do about the
/// mistakes people make with a copied template.
pub fn metadata_error_hint(stderr: &str) -> Option<&'static str> {
    if stderr.contains("believes it's in a workspace when it's not") {
        Some(
            "the crate sits inside another Cargo workspace's directory without being one of its \
             members: add an empty `[workspace]` table to the crate's Cargo.toml to build it on \
             its own (or add it to that workspace's members)",
        )
    } else if stderr.contains("prism-plugin-sdk") && stderr.contains("failed to read") {
        Some(
            "cargo cannot find prism-plugin-sdk: point the dependency at the Prism repository's \
             plugin-sdk, e.g. prism-plugin-sdk = { path = \"/abs/path/to/prism/plugin-sdk\" }",
        )
    } else {
        None
    }
}

/// `prism plugin build [DIR] [-o OUT]`.
pub fn build(dir: Option<&Path>, output: Option<&Path>) -> anyhow::Result<()> {
    let dir = crate_dir(dir);
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        // JavaScript and Python projects build with their own tools.
        if dir.join("package.json").is_file() {
            bail!(
                "{} is a JavaScript project: build it with `npm run build -- -o OUT.wasm` there \
                 (docs/plugins/javascript.md)",
                dir.display()
            );
        }
        if dir.join("app.py").is_file() {
            bail!(
                "{} is a Python project: build it with `.venv/bin/python -m prism_plugin_sdk.build \
                 -o OUT.wasm` there (docs/plugins/python.md)",
                dir.display()
            );
        }
        bail!(
            "no Cargo.toml in {}: give a plugin crate's directory (`prism plugin build path/to/crate`); \
             to start one: prism plugin new --lang rust --kind authn NAME",
            dir.display()
        );
    }
    let manifest = manifest
        .canonicalize()
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let dir = manifest.parent().unwrap_or(Path::new("/")).to_path_buf();

    let route = toolchain(&dir)?;
    let meta = cargo(route)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .context("cannot run cargo metadata")?;
    if !meta.status.success() {
        let stderr = String::from_utf8_lossy(&meta.stderr);
        let hint = metadata_error_hint(&stderr)
            .map(|h| format!("\n{h}"))
            .unwrap_or_default();
        bail!(
            "cargo cannot read {}:\n{}{hint}",
            manifest.display(),
            stderr.trim_end()
        );
    }
    let krate = plugin_crate_from_metadata(&String::from_utf8_lossy(&meta.stdout), &manifest)?;

    say(&format!(
        "building {} {} for {TARGET} with {}",
        krate.name,
        krate.version,
        match route {
            Route::Rustup => "rustup's target",
            Route::Debian => "Debian's Rust (-Z build-std)",
        }
    ));
    let status = cargo(route)
        .args(cargo_build_args(route, &krate))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!(
            "cargo build of {} failed ({status}); its errors are above. The toolchain routes: {}",
            krate.name,
            toolchain_doc()
        );
    }

    let artifact = krate.artifact();
    let bytes = std::fs::read(&artifact).with_context(|| {
        format!(
            "cargo succeeded but wrote no {}: is {}'s library the plugin?",
            artifact.display(),
            krate.name
        )
    })?;
    let runtime = crate::cli::plugin::runtime_like_the_server()?;
    let output = output_path(output, &krate.name);
    let plugin = runtime
        .load(PluginOrigin::File(output.clone()), &bytes)
        .with_context(|| {
            format!(
                "{} is not a plugin Prism accepts (does the crate export its plugin with \
                 export_authenticator! or export_authorizer!, as `prism plugin new` crates do?)",
                artifact.display()
            )
        })?;
    write_atomically(&output, &bytes)?;
    say(&format!(
        "wrote {} ({} KiB)",
        output.display(),
        bytes.len().div_ceil(1024)
    ));
    if output.extension().is_none_or(|e| e != "wasm") {
        say("note: a plugin directory (PRISM_PLUGIN_DIR) loads only files named *.wasm");
    }
    print!("{}", super::plugin::describe(&plugin));
    Ok(())
}

/// Write through a hidden temporary file and a rename, so a watched plugin
/// directory never sees half a component.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let temp = parent.join(format!(".{}.tmp", name.to_string_lossy()));
    std::fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(rustup: Option<bool>, missing: Option<&[&str]>, root: bool, apt: bool) -> Probe {
        Probe {
            rustup_target: rustup,
            debian_missing: missing.map(|m| m.iter().map(|s| s.to_string()).collect()),
            root,
            apt_get: apt,
        }
    }

    #[test]
    fn routes_in_order() {
        // rustup's target wins over everything.
        assert_eq!(
            plan(&probe(Some(true), Some(&[]), true, true)),
            Plan::Use(Route::Rustup)
        );
        assert_eq!(
            plan(&probe(Some(true), None, false, false)),
            Plan::Use(Route::Rustup)
        );
        // Then Debian's packages, installed or installable.
        assert_eq!(
            plan(&probe(Some(false), Some(&[]), false, false)),
            Plan::Use(Route::Debian)
        );
        assert_eq!(
            plan(&probe(None, Some(&[]), false, false)),
            Plan::Use(Route::Debian)
        );
        assert_eq!(
            plan(&probe(
                Some(false),
                Some(&["lld-22", "wasi-libc"]),
                true,
                true
            )),
            Plan::InstallDebian(vec!["lld-22".into(), "wasi-libc".into()])
        );
        // Not root, or no apt-get: rustup's target if rustup is there.
        assert_eq!(
            plan(&probe(Some(false), Some(&["lld-22"]), false, true)),
            Plan::AddRustupTarget
        );
        assert_eq!(
            plan(&probe(Some(false), Some(&["lld-22"]), true, false)),
            Plan::AddRustupTarget
        );
        assert_eq!(
            plan(&probe(Some(false), None, true, true)),
            Plan::AddRustupTarget
        );
        // Else nothing.
        assert_eq!(
            plan(&probe(None, Some(&["lld-22"]), false, true)),
            Plan::Impossible
        );
        assert_eq!(plan(&probe(None, None, true, true)), Plan::Impossible);
    }

    #[test]
    fn the_error_says_what_to_install_and_where_to_read() {
        let message = no_toolchain_message(&probe(None, Some(&["lld-22"]), false, true), None);
        assert!(
            message.contains("rustup target add wasm32-wasip2"),
            "{message}"
        );
        assert!(
            message.contains(
                "sudo apt-get install -y rustc-web cargo-web rust-web-src rust-web-llvm lld-22 wasi-libc"
            ),
            "{message}"
        );
        assert!(message.contains("missing here: lld-22"), "{message}");
        assert!(message.contains("docs/TOOLCHAIN.md"), "{message}");
        assert!(message.contains("prism plugin build --help"), "{message}");
        let message = no_toolchain_message(
            &probe(Some(false), None, true, false),
            Some("rustup failed"),
        );
        assert!(message.contains("rustup failed"), "{message}");
        assert!(
            message.contains(" apt-get update && apt-get install"),
            "{message}"
        );
        assert!(message.contains("no dpkg"), "{message}");
    }

    #[test]
    fn dpkg_and_rustup_outputs() {
        let all = "rustc-web install ok installed\ncargo-web install ok installed\n\
                   rust-web-src install ok installed\nrust-web-llvm install ok installed\n\
                   lld-22 install ok installed\nwasi-libc:all install ok installed\n";
        assert!(missing_from_dpkg_query(all).is_empty());
        let some = "rustc-web install ok installed\ncargo-web deinstall ok config-files\n";
        assert_eq!(
            missing_from_dpkg_query(some),
            [
                "cargo-web",
                "rust-web-src",
                "rust-web-llvm",
                "lld-22",
                "wasi-libc"
            ]
        );
        assert_eq!(missing_from_dpkg_query("").len(), 6);
        assert!(rustup_lists_target(
            "x86_64-unknown-linux-gnu\nwasm32-wasip2\n"
        ));
        assert!(!rustup_lists_target(
            "x86_64-unknown-linux-gnu\nwasm32-wasip1\n"
        ));
    }

    fn metadata(manifest: &str, crate_types: &str) -> String {
        format!(
            r#"{{"packages":[
                {{"name":"prism-plugin-sdk","version":"0.1.0","manifest_path":"/r/plugin-sdk/Cargo.toml",
                  "targets":[{{"name":"prism_plugin_sdk","kind":["lib"],"crate_types":["lib"]}}]}},
                {{"name":"my-team-plugin","version":"0.2.0","manifest_path":"{manifest}",
                  "targets":[{{"name":"my_team_plugin","kind":{crate_types},"crate_types":{crate_types}}}]}}],
              "workspace_members":[],"target_directory":"/r/target","workspace_root":"/r","version":1}}"#
        )
    }

    #[test]
    fn reads_the_crate_from_cargo_metadata() {
        let json = metadata("/r/mine/Cargo.toml", r#"["cdylib","rlib"]"#);
        let krate = plugin_crate_from_metadata(&json, Path::new("/r/mine/Cargo.toml")).unwrap();
        assert_eq!(krate.name, "my-team-plugin");
        assert_eq!(krate.version, "0.2.0");
        assert_eq!(krate.lib_name, "my_team_plugin");
        assert_eq!(krate.wasm_target_dir(), Path::new("/r/target/wasm"));
        assert_eq!(
            krate.artifact(),
            Path::new("/r/target/wasm/wasm32-wasip2/release/my_team_plugin.wasm")
        );

        let json = metadata("/r/mine/Cargo.toml", r#"["lib"]"#);
        let e = plugin_crate_from_metadata(&json, Path::new("/r/mine/Cargo.toml")).unwrap_err();
        assert!(e.to_string().contains("not a plugin crate"), "{e}");
        assert!(
            e.to_string()
                .contains("crate-type = [\"cdylib\", \"rlib\"]"),
            "{e}"
        );

        // The workspace's own manifest: not a crate; its plugins are named.
        let json = metadata("/r/mine/Cargo.toml", r#"["cdylib","rlib"]"#);
        let e = plugin_crate_from_metadata(&json, Path::new("/r/Cargo.toml")).unwrap_err();
        assert!(e.to_string().contains("is a workspace, not a crate"), "{e}");
        assert!(e.to_string().contains("/r/mine"), "{e}");

        assert!(plugin_crate_from_metadata("not json", Path::new("/r/Cargo.toml")).is_err());
    }

    #[test]
    fn cargo_runs_as_the_route_needs() {
        let krate = PluginCrate {
            name: "p".into(),
            version: "1.0.0".into(),
            manifest: "/c/Cargo.toml".into(),
            lib_name: "p".into(),
            target_dir: "/c/target".into(),
        };
        let rustup: Vec<String> = cargo_build_args(Route::Rustup, &krate)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            rustup.join(" "),
            "build --release --lib --target wasm32-wasip2 --manifest-path /c/Cargo.toml \
             -p p@1.0.0 --target-dir /c/target/wasm"
        );
        let debian: Vec<String> = cargo_build_args(Route::Debian, &krate)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(debian.join(" ").ends_with("-Z build-std=std,panic_abort"));

        let (program, env) = cargo_env(Route::Rustup, Some("/home/u/.cargo/bin:/usr/bin".as_ref()));
        assert_eq!(program, "cargo");
        assert!(env.contains(&("CARGO_PROFILE_RELEASE_STRIP", Some("true".into()))));
        assert!(env.contains(&("CARGO_PROFILE_RELEASE_DEBUG", Some("false".into()))));
        assert!(!env.iter().any(|(k, _)| *k == "RUSTFLAGS" || *k == "PATH"));

        let (program, env) = cargo_env(Route::Debian, Some("/home/u/.cargo/bin:/usr/bin".as_ref()));
        assert_eq!(program, "/usr/bin/cargo");
        let get = |key: &str| env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
        assert_eq!(
            get("PATH"),
            Some(Some("/usr/bin:/home/u/.cargo/bin:/usr/bin".into()))
        );
        assert_eq!(get("RUSTC_BOOTSTRAP"), Some(Some("1".into())));
        assert_eq!(
            get("RUSTFLAGS"),
            Some(Some(
                "-L /usr/lib/wasm32-wasi -C link-self-contained=no".into()
            ))
        );
        assert_eq!(get("CARGO_ENCODED_RUSTFLAGS"), Some(None));
        assert_eq!(
            get("CARGO_PROFILE_RELEASE_STRIP"),
            Some(Some("true".into()))
        );
    }

    #[test]
    fn arguments_default_to_here_and_the_package_name() {
        assert_eq!(crate_dir(None), Path::new("."));
        assert_eq!(crate_dir(Some(Path::new("../p"))), Path::new("../p"));
        assert_eq!(output_path(None, "my-plugin"), Path::new("my-plugin.wasm"));
        assert_eq!(
            output_path(Some(Path::new("o/x.wasm")), "p"),
            Path::new("o/x.wasm")
        );
        assert_eq!(
            output_path(Some(Path::new("plugins/")), "p"),
            Path::new("plugins/p.wasm")
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            output_path(Some(dir.path()), "p"),
            dir.path().join("p.wasm")
        );
    }

    #[test]
    fn hints_for_a_copied_template() {
        let hint = metadata_error_hint(
            "error: current package believes it's in a workspace when it's not:\ncurrent:   /x/Cargo.toml",
        )
        .unwrap();
        assert!(hint.contains("[workspace]"));
        let hint = metadata_error_hint(
            "error: failed to get `prism-plugin-sdk` as a dependency of package `p`\n\
             Caused by: failed to read `/tmp/plugin-sdk/Cargo.toml`",
        )
        .unwrap();
        assert!(hint.contains("plugin-sdk"));
        assert_eq!(metadata_error_hint("error: something else"), None);
    }

    #[test]
    fn writes_atomically_creating_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("plugins/x.wasm");
        write_atomically(&out, b"abc").unwrap();
        write_atomically(&out, b"abcd").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"abcd");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("plugins"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x.wasm"]);
    }
}

//! The plugin tutorial (plugin-sdk/template/README.md) followed from a clean
//! directory outside the repository: copy the template, change it, build it
//! with the one command (`prism plugin build`), load it into `prism run` and
//! call it over HTTP. (tests/e2e calls plugins from the Python client.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{PRISM, free_port, http_get, prism, text};

/// What `prism plugin build` says when nothing here can build a component
/// and nothing can be installed: the only reason this test skips.
const NO_TOOLCHAIN: &str = "no toolchain on this machine builds wasm32-wasip2 components";

#[test]
fn the_template_becomes_a_running_plugin() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    assert!(
        !work.starts_with(&repo),
        "the copy must be outside {repo:?}"
    );

    // 1. Copy the template; rename the package, point the SDK dependency at
    //    the repository by absolute path, drop the template's build table.
    let krate = work.join("tutorial-plugin");
    copy_dir(&repo.join("plugin-sdk/template"), &krate);
    let manifest = edit(
        &krate.join("Cargo.toml"),
        &[
            (
                r#"name = "my-prism-plugin""#,
                r#"name = "tutorial-plugin""#.to_string(),
            ),
            (
                r#"prism-plugin-sdk = { path = ".." }"#,
                format!(
                    "prism-plugin-sdk = {{ path = \"{}\" }}",
                    repo.join("plugin-sdk").display()
                ),
            ),
            (
                "[package.metadata.prism]\noutput = \"examples/template.wasm\"\n",
                String::new(),
            ),
        ],
    );
    assert!(!manifest.contains("metadata.prism"), "{manifest}");
    // The dependency versions Prism is tested with (the README's optional
    // step), so the test needs no registry index.
    std::fs::copy(repo.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();

    // 2. Change it: its own name, and the header it reads.
    edit(
        &krate.join("src/lib.rs"),
        &[
            (
                r#"Metadata::new("team-keys""#,
                r#"Metadata::new("tutorial-keys""#.to_string(),
            ),
            ("x-team-key", "x-tutorial-key".to_string()),
        ],
    );

    // 3. Build it with the one command. The build cache is the
    //    repository's (CARGO_TARGET_DIR), so the standard library built by
    //    scripts/build-plugins.sh is reused; the crate itself is new.
    let plugins = work.join("plugins");
    let out = prism(
        &[
            "plugin",
            "build",
            krate.to_str().unwrap(),
            "-o",
            plugins.join("x.wasm").to_str().unwrap(),
        ],
        "",
        &[("CARGO_TARGET_DIR", repo.join("target").to_str().unwrap())],
    );
    let t = text(&out);
    if !out.status.success() && t.contains(NO_TOOLCHAIN) {
        eprintln!(
            "SKIPPED the_template_becomes_a_running_plugin: no wasm toolchain here and none \
             can be installed (docs/TOOLCHAIN.md):\n{t}"
        );
        return;
    }
    assert!(out.status.success(), "prism plugin build failed:\n{t}");
    for line in [
        "name:        tutorial-keys",
        "kind:        authentication",
        "version:     0.1.0",
        "[PRISM_AUTHN_OPT_KEYS_FILE]",
        "credentials: cached by x-tutorial-key",
    ] {
        assert!(t.contains(line), "{line:?} missing from:\n{t}");
    }
    let files: Vec<_> = std::fs::read_dir(&plugins)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        files,
        ["x.wasm"],
        "only the component in the plugin directory"
    );

    // 4. Run prism with it.
    let keys = work.join("keys.txt");
    std::fs::write(&keys, "search:k1\nads:k2\n").unwrap();
    let port = free_port();
    let mut server = start_with(
        port,
        &work.join("data"),
        &[
            ("PRISM_PLUGIN_DIR", plugins.to_str().unwrap()),
            ("CHROMA_SERVER_AUTHN_PROVIDER", "tutorial-keys"),
            ("PRISM_AUTHN_OPT_KEYS_FILE", keys.to_str().unwrap()),
        ],
    );

    // 5. Call it.
    let identity = "/api/v2/auth/identity";
    let me = get(port, identity, &[("X-Tutorial-Key", "k2")]);
    assert!(me.starts_with("HTTP/1.1 200"), "{me}");
    assert!(me.contains(r#""user_id":"ads""#), "{me}");
    for refused in [
        get(port, identity, &[]),
        get(port, identity, &[("X-Tutorial-Key", "nope")]),
        get(port, identity, &[("X-Team-Key", "k2")]), // the template's header, changed
    ] {
        assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Copy a directory tree, without build output.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" {
                copy_dir(&entry.path(), &dest);
            }
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Replace each `(old, new)` in a file (each must be there); the new text.
fn edit(path: &Path, replacements: &[(&str, String)]) -> String {
    let mut content = std::fs::read_to_string(path).unwrap();
    for (old, new) in replacements {
        assert!(content.contains(old), "{old:?} not in {}", path.display());
        content = content.replace(old, new);
    }
    std::fs::write(path, &content).unwrap();
    content
}

/// `prism run` with only `env` of the auth variables; waits for the heartbeat.
fn start_with(port: u16, data: &Path, env: &[(&str, &str)]) -> Child {
    let log = data.with_extension("log");
    let mut command = Command::new(PRISM);
    command
        .args(["run", "--port", &port.to_string(), "--path"])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("CHROMA_") || name.starts_with("PRISM_") {
            command.env_remove(&key);
        }
    }
    let mut child = command.envs(env.iter().copied()).spawn().unwrap();
    let started = Instant::now();
    while http_get(port, "/api/v2/heartbeat").is_none() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("prism exited ({status}):\n{}", read(&log));
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start:\n{}",
            read(&log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// GET with extra headers; the whole response.
fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

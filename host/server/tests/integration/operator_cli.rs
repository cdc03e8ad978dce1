//! The operator subcommands of the real `prism` binary: htpasswd files,
//! tokens, plugin listing and inspection, configuration checks.

use std::io::Write;

use std::process::Command;

use crate::support::{plugins_dir, prism, text};

#[test]
fn htpasswd_add_verify_delete() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users");
    let f = file.to_str().unwrap();

    let out = prism(
        &["htpasswd", "add", f, "alice", "--cost", "5"],
        "pa:ss word\n",
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = prism(
        &["htpasswd", "add", f, "bob", "--cost", "4"],
        "hunter2\n",
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let contents = std::fs::read_to_string(&file).unwrap();
    assert!(contents.starts_with("alice:$2y$05$"), "{contents}");
    assert!(contents.contains("\nbob:$2y$04$"), "{contents}");
    assert!(!contents.contains("hunter2"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a new credentials file must be private");
    }

    assert!(
        prism(&["htpasswd", "verify", f, "alice"], "pa:ss word\n", &[])
            .status
            .success()
    );
    let wrong = prism(&["htpasswd", "verify", f, "alice"], "pa:ss\n", &[]);
    assert!(!wrong.status.success());
    assert!(text(&wrong).contains("failed"), "{}", text(&wrong));
    assert!(
        !prism(&["htpasswd", "verify", f, "carol"], "x\n", &[])
            .status
            .success()
    );

    // Apache's own tool reads the file Prism wrote.
    let apache = Command::new("htpasswd")
        .args(["-vb", f, "alice", "pa:ss word"])
        .output()
        .expect("htpasswd (apache2-utils) is needed; scripts/test.sh installs it");
    assert!(
        apache.status.success(),
        "{}",
        String::from_utf8_lossy(&apache.stderr)
    );

    // Changing a password keeps the other users.
    assert!(
        prism(
            &["htpasswd", "add", f, "alice", "--cost", "4"],
            "new\n",
            &[]
        )
        .status
        .success()
    );
    assert!(
        prism(&["htpasswd", "verify", f, "alice"], "new\n", &[])
            .status
            .success()
    );
    assert!(
        prism(&["htpasswd", "verify", f, "bob"], "hunter2\n", &[])
            .status
            .success()
    );

    assert!(
        prism(&["htpasswd", "delete", f, "bob"], "", &[])
            .status
            .success()
    );
    assert!(!std::fs::read_to_string(&file).unwrap().contains("bob:"));
    assert!(
        !prism(&["htpasswd", "delete", f, "bob"], "", &[])
            .status
            .success()
    );

    let bad_user = prism(&["htpasswd", "add", f, "a:b"], "x\n", &[]);
    assert!(!bad_user.status.success());
    let bad_cost = prism(&["htpasswd", "add", f, "x", "--cost", "3"], "x\n", &[]);
    assert!(!bad_cost.status.success());
}

#[test]
fn tokens_are_random_and_in_chromas_alphabet() {
    let one = prism(&["token", "new"], "", &[]);
    let two = prism(&["token", "new"], "", &[]);
    assert!(one.status.success());
    let a = String::from_utf8(one.stdout.clone())
        .unwrap()
        .trim()
        .to_string();
    let b = String::from_utf8(two.stdout).unwrap().trim().to_string();
    assert_eq!(a.len(), 43, "{a}");
    assert_ne!(a, b);
    assert!(
        a.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    );
    let stderr = String::from_utf8(one.stderr).unwrap();
    let digest = stderr.trim().strip_prefix("sha256: ").unwrap();
    assert_eq!(digest.len(), 64);
}

#[test]
fn inspect_shows_what_a_plugin_declares() {
    let dir = plugins_dir();
    let rbac = dir.join("builtin/rbac.wasm");
    let out = prism(&["plugin", "inspect", rbac.to_str().unwrap()], "", &[]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for expected in [
        "name:        rbac",
        "chromadb.auth.simple_rbac_authz.SimpleRBACAuthorizationProvider",
        "kind:        authorization",
        "api version: 0.2.0",
        "wit world:   prism:auth/authz-plugin@0.2.0",
        "config-file",
        "built with:  Rust",
    ] {
        assert!(t.contains(expected), "missing {expected:?} in\n{t}");
    }
    // A plugin built against an older contract this Prism still serves.
    let old = dir.join("fixtures/contract-v0-1.wasm");
    let out = prism(&["plugin", "inspect", old.to_str().unwrap()], "", &[]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("api version: 0.1.0"), "{t}");
    let digest: String = {
        use sha2::Digest as _;
        sha2::Sha256::digest(std::fs::read(&old).unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert!(t.contains(&format!("sha256:      {digest}")), "{t}");
    assert!(
        t.contains("wit world:   prism:auth/authn-plugin@0.1.0"),
        "{t}"
    );
    let future = dir.join("fixtures/future-api.wasm");
    let out = prism(&["plugin", "inspect", future.to_str().unwrap()], "", &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("9.0.0"), "{}", text(&out));
}

#[test]
fn list_reports_builtins_and_refused_plugins() {
    let dir = plugins_dir();
    let plugin_dir = tempfile::tempdir().unwrap();
    let fine = prism(
        &["plugin", "list"],
        "",
        &[("PRISM_PLUGIN_DIR", plugin_dir.path().to_str().unwrap())],
    );
    let t = text(&fine);
    assert!(fine.status.success(), "{t}");
    for name in [
        "name:        htpasswd",
        "name:        token",
        "name:        rbac",
    ] {
        assert!(t.contains(name), "missing {name:?} in\n{t}");
    }

    for copy in ["a.wasm", "b.wasm"] {
        std::fs::copy(
            dir.join("fixtures/misbehaving.wasm"),
            plugin_dir.path().join(copy),
        )
        .unwrap();
    }
    std::fs::copy(
        dir.join("fixtures/future-api.wasm"),
        plugin_dir.path().join("c.wasm"),
    )
    .unwrap();
    let bad = prism(
        &["plugin", "list"],
        "",
        &[("PRISM_PLUGIN_DIR", plugin_dir.path().to_str().unwrap())],
    );
    let t = text(&bad);
    assert!(!bad.status.success(), "{t}");
    assert!(t.contains("also claimed by"), "{t}");
    assert!(t.contains("prism:auth@9.0.0"), "{t}");
    assert!(t.contains("2 plugin problem(s)"), "{t}");
}

#[test]
fn config_check_validates_without_serving() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let users = dir.path().join("users");
    assert!(
        prism(
            &[
                "htpasswd",
                "add",
                users.to_str().unwrap(),
                "admin",
                "--cost",
                "4"
            ],
            "pw\n",
            &[]
        )
        .status
        .success()
    );
    let auth = [
        (
            "CHROMA_SERVER_AUTHN_PROVIDER",
            "chromadb.auth.basic_authn.BasicAuthenticationServerProvider",
        ),
        (
            "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE",
            users.to_str().unwrap(),
        ),
    ];
    let ok = prism(
        &["config", "check", "--path", data.to_str().unwrap()],
        "",
        &auth,
    );
    let t = text(&ok);
    assert!(ok.status.success(), "{t}");
    assert!(
        t.contains("authentication: htpasswd") && t.contains("configuration OK"),
        "{t}"
    );

    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&users)
        .unwrap();
    writeln!(f, "this line is wrong").unwrap();
    let bad = prism(
        &["config", "check", "--path", data.to_str().unwrap()],
        "",
        &auth,
    );
    let t = text(&bad);
    assert!(!bad.status.success());
    assert!(t.contains("line 2"), "{t}");

    let unknown = prism(
        &["config", "check", "--path", data.to_str().unwrap()],
        "",
        &[("CHROMA_SERVER_AUTHN_PROVIDER", "nope")],
    );
    let t = text(&unknown);
    assert!(!unknown.status.success());
    assert!(t.contains("Available") && t.contains("htpasswd"), "{t}");

    std::fs::create_dir_all(dir.path().join("chroma")).unwrap();
    std::fs::write(dir.path().join("chroma/chroma.sqlite3"), b"").unwrap();
    let chroma_dir = prism(
        &[
            "config",
            "check",
            "--path",
            dir.path().join("chroma").to_str().unwrap(),
        ],
        "",
        &[],
    );
    assert!(!chroma_dir.status.success());
    assert!(text(&chroma_dir).contains("chroma.sqlite3"));
}

#[test]
fn run_and_config_check_agree_and_survive_a_non_utf8_environment() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9");
    // The same environment for both: one refusal, the same message.
    let bad = |command: &[&str]| {
        let out = Command::new(crate::support::PRISM)
            .args(command)
            .args(["--port", "0", "--path", data.to_str().unwrap()])
            .env("NOT_UTF8", odd)
            .env("ALLOW_RESET", "perhaps")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{}", text(&out));
        text(&out)
    };
    let check = bad(&["config", "check"]);
    let run = bad(&["run"]);
    for t in [&check, &run] {
        assert!(
            t.contains("invalid value for ALLOW_RESET") && !t.contains("panicked"),
            "{t}"
        );
    }
    let ok = Command::new(crate::support::PRISM)
        .args(["config", "check", "--path", data.to_str().unwrap()])
        .env("NOT_UTF8", odd)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("configuration OK"));
}

#[test]
fn htpasswd_files_can_be_given_to_the_images_user_and_keep_their_owner() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users");
    let f = file.to_str().unwrap();
    let add = |args: &[&str]| {
        let mut all = vec!["htpasswd", "add", f, "alice", "--cost", "4"];
        all.extend_from_slice(args);
        prism(&all, "pw\n", &[])
    };
    let bad = add(&["--owner", "ten"]);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("UID:GID"), "{}", text(&bad));
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !is_root {
        // Only root may give a file away: the refusal says so.
        let out = add(&["--owner", "10001"]);
        assert!(!out.status.success());
        assert!(text(&out).contains("needs root"), "{}", text(&out));
        return;
    }
    let out = add(&["--owner", "10001"]);
    assert!(out.status.success(), "{}", text(&out));
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (10001, 10001));
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // Changing a password later (as root, without --owner) keeps the owner.
    assert!(add(&[]).status.success());
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (10001, 10001));
    let out = add(&["--owner", "20:30"]);
    assert!(out.status.success(), "{}", text(&out));
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (20, 30));
}

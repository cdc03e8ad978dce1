//! `prism backup` beside a running server and `prism restore` into a new
//! directory a server then starts on; and their refusals.

use crate::support::{body_of, free_port, http, run_to_exit, start};

const BASE: &str = "/api/v2/tenants/default_tenant/databases/default_database/collections";

#[test]
fn a_live_servers_directory_is_backed_up_and_restored_into_a_serving_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let mut live = start(port, &data);
    let created = http(port, "POST", BASE, r#"{"name":"kept"}"#);
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    let id = body_of(&created).split("\"id\":\"").nth(1).unwrap()[..36].to_string();
    let ids: Vec<String> = (0..50).map(|i| format!("\"r{i}\"")).collect();
    let vectors: Vec<String> = (0..50).map(|i| format!("[{i}.0, 1.0]")).collect();
    let docs: Vec<String> = (0..50).map(|i| format!("\"doc {i}\"")).collect();
    let add = format!(
        r#"{{"ids":[{}],"embeddings":[{}],"documents":[{}]}}"#,
        ids.join(","),
        vectors.join(","),
        docs.join(",")
    );
    let added = http(port, "POST", &format!("{BASE}/{id}/add"), &add);
    assert!(added.starts_with("HTTP/1.1 201"), "{added}");

    let out = dir.path().join("prism.backup");
    let (ok, text) = run_to_exit(&[
        "backup",
        "--path",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("1 collections, 50 records"), "{text}");
    // Not a terminal: no progress line in what a script captures.
    assert!(!text.contains('\r'), "{text:?}");
    // The server went on serving writes meanwhile and after.
    let more = http(
        port,
        "POST",
        &format!("{BASE}/{id}/add"),
        r#"{"ids":["late"],"embeddings":[[9.0, 9.0]]}"#,
    );
    assert!(more.starts_with("HTTP/1.1 201"), "{more}");
    live.kill().unwrap();
    live.wait().unwrap();

    let restored = dir.path().join("restored");
    let (ok, text) = run_to_exit(&[
        "restore",
        "--from",
        out.to_str().unwrap(),
        "--path",
        restored.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("prism run --path"), "{text}");
    let port = free_port();
    let mut copy = start(port, &restored);
    let count = http(port, "GET", &format!("{BASE}/{id}/count"), "");
    assert_eq!(
        body_of(&count),
        "50",
        "the late write is not in it: {count}"
    );
    let query = http(
        port,
        "POST",
        &format!("{BASE}/{id}/query"),
        r#"{"query_embeddings":[[7.0, 1.0]],"n_results":1,"include":["documents"]}"#,
    );
    assert!(
        body_of(&query).contains(r#""ids":[["r7"]]"#) && body_of(&query).contains("doc 7"),
        "{query}"
    );
    copy.kill().unwrap();
    copy.wait().unwrap();
}

#[test]
fn refusals_exit_non_zero_and_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let refused = |args: &[&str], expect: &[&str]| {
        let (ok, text) = run_to_exit(args);
        assert!(!ok, "{args:?} succeeded: {text}");
        for e in expect {
            assert!(text.contains(e), "{args:?}: {e:?} not in {text}");
        }
    };
    refused(
        &["backup", "--path", &path("missing"), "--out", &path("b")],
        &["missing does not exist"],
    );
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    refused(
        &["backup", "--path", &path("empty"), "--out", &path("b")],
        &["not a Prism data directory", "prism.sqlite3"],
    );

    std::fs::write(
        dir.path().join("notes.txt"),
        "not a backup at all, just text",
    )
    .unwrap();
    refused(
        &[
            "restore",
            "--from",
            &path("notes.txt"),
            "--path",
            &path("t"),
        ],
        &["notes.txt is not a Prism backup"],
    );
    assert!(!dir.path().join("t").exists());

    // A real backup, cut short.
    let data = dir.path().join("data");
    let port = free_port();
    let mut live = start(port, &data);
    live.kill().unwrap();
    live.wait().unwrap();
    let (ok, text) = run_to_exit(&["backup", "--path", &path("data"), "--out", &path("b")]);
    assert!(ok, "{text}");
    let bytes = std::fs::read(dir.path().join("b")).unwrap();
    std::fs::write(dir.path().join("cut"), &bytes[..bytes.len() / 2]).unwrap();
    refused(
        &["restore", "--from", &path("cut"), "--path", &path("t")],
        &["cut is truncated or damaged"],
    );
    assert!(!dir.path().join("t").exists());
    refused(
        &["restore", "--from", &path("b"), "--path", &path("data")],
        &[
            "data is not empty",
            "prism.sqlite3",
            "empty or new directory",
        ],
    );
    refused(&["restore", "--from", &path("b")], &["--path"]);
}

#[test]
fn help_describes_backup_and_restore() {
    let (ok, text) = run_to_exit(&["--help"]);
    assert!(ok);
    assert!(
        text.contains("backup") && text.contains("restore"),
        "{text}"
    );
    let (ok, text) = run_to_exit(&["backup", "--help"]);
    assert!(ok);
    assert!(
        text.contains("--path <DIR>")
            && text.contains("--out <FILE>")
            && text.contains("--encryption-key-file <FILE>")
            && text.contains("PRISM_ENCRYPTION_KEY_FILE")
            && text.contains("read-only"),
        "{text}"
    );
    let (ok, text) = run_to_exit(&["restore", "--help"]);
    assert!(ok);
    assert!(
        text.contains("--from <FILE>")
            && text.contains("--encryption-key-file <FILE>")
            && text.contains("must be empty or not exist"),
        "{text}"
    );
}

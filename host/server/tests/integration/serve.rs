//! The real `prism` binary: start-up refusals, help text, serving, and a clean
//! SIGTERM shutdown.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{PRISM, body_of, free_port, http, http_get, run_to_exit, start};

#[test]
fn acknowledged_writes_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let mut child = start(port, &data);
    let base = "/api/v2/tenants/default_tenant/databases/default_database/collections";
    let created = http(
        port,
        "POST",
        base,
        r#"{"name":"crash","metadata":{"hnsw:space":"ip"}}"#,
    );
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    let id = body_of(&created).split("\"id\":\"").nth(1).unwrap()[..36].to_string();
    let ids: Vec<String> = (0..50).map(|i| format!("\"r{i}\"")).collect();
    let vectors: Vec<String> = (0..50).map(|i| format!("[{i}.0, 1.0]")).collect();
    let add = format!(
        r#"{{"ids":[{}],"embeddings":[{}]}}"#,
        ids.join(","),
        vectors.join(",")
    );
    let added = http(port, "POST", &format!("{base}/{id}/add"), &add);
    assert!(added.starts_with("HTTP/1.1 201"), "{added}");
    let bad = http(
        port,
        "POST",
        &format!("{base}/{id}/add"),
        r#"{"ids":["x","y"],"embeddings":[[1.0,2.0],[1.0]]}"#,
    );
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");

    child.kill().unwrap(); // SIGKILL: no shutdown work happens
    child.wait().unwrap();
    let mut child = start(port, &data);
    let count = http(port, "GET", &format!("{base}/{id}/count"), "");
    assert_eq!(body_of(&count), "50", "{count}");
    let query = http(
        port,
        "POST",
        &format!("{base}/{id}/query"),
        r#"{"query_embeddings":[[1.0,0.0]],"n_results":1,"include":["distances"]}"#,
    );
    assert!(body_of(&query).contains(r#""ids":[["r49"]]"#), "{query}");
    assert!(
        body_of(&query).contains("-48.0"),
        "ip distance 1 - 49: {query}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn refuses_a_directory_holding_chromas_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("chroma.sqlite3"), b"").unwrap();
    let (ok, text) = run_to_exit(&["run", "--port", "0", "--path", dir.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(
        text.contains("chroma.sqlite3") && text.contains("Chroma"),
        "{text}"
    );
    assert!(
        !dir.path().join("prism.sqlite3").exists(),
        "nothing written"
    );
}

#[test]
fn refuses_a_directory_it_cannot_create() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let target = file.join("data");
    let (ok, text) = run_to_exit(&["run", "--port", "0", "--path", target.to_str().unwrap()]);
    assert!(!ok);
    assert!(text.contains("cannot open data directory"), "{text}");
}

#[test]
fn refuses_a_bad_environment_value() {
    let out = Command::new(PRISM)
        .args(["run", "--port", "0"])
        .env("ALLOW_RESET", "perhaps")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ALLOW_RESET"));
}

#[test]
fn help_explains_options_and_environment() {
    let (ok, text) = run_to_exit(&["run", "--help"]);
    assert!(ok);
    for needle in [
        "--host",
        "--port",
        "--path",
        "PERSIST_DIRECTORY",
        "ALLOW_RESET",
        "CHROMA_SERVER_CORS_ALLOW_ORIGINS",
        "persist_path",
    ] {
        assert!(text.contains(needle), "help lacks {needle}:\n{text}");
    }
}

#[test]
fn serves_and_shuts_down_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("config.yaml");
    // The file sets the port; the flag for the path wins over the file's.
    std::fs::write(
        &config,
        format!("port: {port}\npersist_path: /nonexistent/ignored\nopen_telemetry: {{}}\n"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(PRISM)
        .args([
            "run",
            config.to_str().unwrap(),
            "--path",
            data.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let heartbeat = loop {
        if let Some(r) = http_get(port, "/api/v2/heartbeat") {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(heartbeat.starts_with("HTTP/1.1 200"), "{heartbeat}");
    assert!(heartbeat.contains("nanosecond heartbeat"));
    let missing = http_get(port, "/api/v2/nope").unwrap();
    assert!(
        missing.starts_with("HTTP/1.1 404") && missing.contains("chroma-trace-id"),
        "{missing}"
    );
    assert!(data.join("prism.sqlite3").exists());

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(exit.success(), "exit {exit:?}\n{log}");
    assert!(log.contains("listening on http://127.0.0.1"), "{log}");
    assert!(
        log.contains(data.to_str().unwrap()),
        "start-up log names the data directory:\n{log}"
    );
    assert!(log.contains("stopped cleanly"), "{log}");
}

//! Live reload against the real `htpasswd` plugin (`scripts/build-plugins.sh`
//! puts it in `target/plugins/builtin/`): a changed credentials file is
//! served without a restart, a broken one leaves the last good gate in force.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prism_auth::{AuthGate, AuthSettings, HttpRequest, SharedGate, reload};

// admin:secret and bob:secret, bcrypt cost 4.
const ADMIN: &str = "admin:$2y$04$7rK1kA2Axe92KRiE4oF2qeAQwfiTRsnKlEvJWV677mNbBns94lMhC\n";
const BOB: &str = "bob:$2y$04$7rK1kA2Axe92KRiE4oF2qeAQwfiTRsnKlEvJWV677mNbBns94lMhC\n";

fn builtins() -> &'static [(&'static str, &'static [u8])] {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins/builtin/htpasswd.wasm");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the plugins first with scripts/build-plugins.sh",
            path.display()
        )
    });
    Vec::leak(vec![("htpasswd", &*Vec::leak(bytes))])
}

/// `Authorization: Basic` for `user:secret`.
fn basic(user: &str) -> HttpRequest {
    let encoded = match user {
        "admin" => "YWRtaW46c2VjcmV0",
        "bob" => "Ym9iOnNlY3JldA==",
        _ => unreachable!(),
    };
    HttpRequest::new("GET", "/api/v2/auth/identity")
        .with_header("authorization", &format!("Basic {encoded}"))
}

fn lets_in(gates: &SharedGate, user: &str) -> bool {
    gates.current().authenticate(&basic(user)).is_ok()
}

/// Polls until `check` holds or twenty seconds (a loaded CI machine is slow to deliver file events) pass.
fn eventually(check: impl Fn() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_changed_credentials_file_is_served_and_a_broken_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.htpasswd");
    std::fs::write(&users, ADMIN).unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let vars: BTreeMap<String, String> = [
        ("CHROMA_SERVER_AUTHN_PROVIDER", "htpasswd"),
        (
            "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE",
            users.to_str().unwrap(),
        ),
        (
            "PRISM_PLUGIN_DIR",
            dir.path().join("plugins").to_str().unwrap(),
        ),
        ("PRISM_AUTH_CACHE_TTL_SECS", "0"),
        ("PRISM_AUTH_MAX_FAILURES", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let settings = AuthSettings::from_env(&vars).unwrap();
    let builtins = builtins();
    let gates = Arc::new(SharedGate::new(
        AuthGate::from_settings(&settings, builtins).unwrap(),
    ));
    let _watcher = reload::watch(settings, builtins, gates.clone())
        .unwrap()
        .expect("authentication is on, so the files are watched");
    assert!(lets_in(&gates, "admin") && !lets_in(&gates, "bob"));

    std::fs::write(&users, BOB).unwrap();
    assert!(
        eventually(|| lets_in(&gates, "bob")),
        "the new file is served"
    );
    assert!(!lets_in(&gates, "admin"));

    std::fs::write(&users, "bob\n").unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        lets_in(&gates, "bob"),
        "a broken file keeps the last good gate"
    );
}

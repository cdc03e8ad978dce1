//! What the auth gate costs per request: authentication through the real
//! built-in plugins (uncached: the plugin runs; cached: the keyed-hash cache
//! answers) and authorization through `rbac`. Needs the plugins built
//! (`scripts/build-plugins.sh`). Run: `cargo bench -p prism-auth`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use prism_auth::{Action, AuthGate, AuthSettings, HttpRequest, RequestFacts, Resource};

// admin:secret at bcrypt cost 4 (cost 12 is measured separately below).
const USERS_COST4: &str = "admin:$2y$04$7rK1kA2Axe92KRiE4oF2qeAQwfiTRsnKlEvJWV677mNbBns94lMhC\n";
const POLICY: &str = "roles_mapping:\n  reader:\n    actions: [collection:get, collection:query]\n  writer:\n    actions: [\"collection:*\"]\nusers:\n  - id: admin\n    grants:\n      - role: reader\n        tenant: acme\n        collection: \"docs-*\"\n      - role: writer\n        tenant: acme\n        collection: \"logs-*\"\n";

fn builtins() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins/builtin");
    ["htpasswd", "token", "rbac"]
        .iter()
        .map(|name| {
            let path = dir.join(format!("{name}.wasm"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| {
                panic!("{}: {e}; run scripts/build-plugins.sh", path.display())
            });
            (name.to_string(), bytes)
        })
        .collect()
}

fn gate(vars: &[(&str, &str)]) -> AuthGate {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings = AuthSettings::from_env(&vars).unwrap();
    let owned = builtins();
    let borrowed: Vec<(&str, &[u8])> = owned
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    AuthGate::from_settings(&settings, &borrowed).unwrap()
}

fn request(authorization: &str) -> HttpRequest {
    HttpRequest::new(
        "POST",
        "/api/v2/tenants/acme/databases/main/collections/x/query",
    )
    .with_header("host", "localhost:8000")
    .with_header("user-agent", "python-httpx/0.28.1")
    .with_header("content-type", "application/json")
    .with_header("authorization", authorization)
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, USERS_COST4).unwrap();
    let users = users.to_str().unwrap();
    let basic = request("Basic YWRtaW46c2VjcmV0");

    let uncached = gate(&[
        ("CHROMA_SERVER_AUTHN_PROVIDER", "htpasswd"),
        ("CHROMA_SERVER_AUTHN_CREDENTIALS_FILE", users),
        ("PRISM_AUTH_CACHE_TTL_SECS", "0"),
    ]);
    c.bench_function("authn htpasswd bcrypt-cost-4 uncached", |b| {
        b.iter(|| uncached.authenticate(&basic).unwrap())
    });

    let tokens = gate(&[
        ("CHROMA_SERVER_AUTHN_PROVIDER", "token"),
        (
            "CHROMA_SERVER_AUTHN_CREDENTIALS",
            "users:\n  - id: admin\n    tokens: [t-1, t-2]\n  - id: bob\n    tokens: [t-3]\n",
        ),
        ("PRISM_AUTH_CACHE_TTL_SECS", "0"),
    ]);
    let bearer = request("Bearer t-3");
    c.bench_function("authn token uncached", |b| {
        b.iter(|| tokens.authenticate(&bearer).unwrap())
    });

    let full = gate(&[
        ("CHROMA_SERVER_AUTHN_PROVIDER", "htpasswd"),
        ("CHROMA_SERVER_AUTHN_CREDENTIALS_FILE", users),
        ("CHROMA_SERVER_AUTHZ_PROVIDER", "rbac"),
        ("CHROMA_SERVER_AUTHZ_CONFIG", POLICY),
    ]);
    let identity = full.authenticate(&basic).unwrap();
    c.bench_function("authn htpasswd cached", |b| {
        b.iter(|| full.cached_identity(&basic).unwrap())
    });
    let resource = Resource {
        tenant: Some("acme".into()),
        database: Some("main".into()),
        collection: Some("docs-2024".into()),
        collection_id: Some("5d0b6a8e-2f7e-4e43-9d55-3c2f0b1c9a77".into()),
    };
    c.bench_function("authz rbac scoped grant", |b| {
        b.iter(|| {
            full.authorize(
                identity.as_deref(),
                Action::Query,
                &resource,
                &RequestFacts::now(Some("10.0.0.7")),
            )
            .unwrap()
        })
    });
}

fn cost12(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    let hash = bcrypt_cost12_line();
    std::fs::write(&users, hash).unwrap();
    let gate = gate(&[
        ("CHROMA_SERVER_AUTHN_PROVIDER", "htpasswd"),
        (
            "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE",
            users.to_str().unwrap(),
        ),
        ("PRISM_AUTH_CACHE_TTL_SECS", "0"),
    ]);
    let basic = request("Basic YWRtaW46c2VjcmV0");
    let mut group = c.benchmark_group("bcrypt-cost-12");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("authn htpasswd uncached", |b| {
        b.iter(|| gate.authenticate(&basic).unwrap())
    });
    group.finish();
}

/// admin:secret at cost 12, made with Apache's `htpasswd -nbB -C 12`.
fn bcrypt_cost12_line() -> &'static str {
    "admin:$2y$12$GByW4bEly0LZIY06gWzUBuEGW4CPdSHEPYn90dX3FLjI/qWKEkiFe\n"
}

criterion_group!(gate_benches, benches, cost12);
criterion_main!(gate_benches);

//! The WIT boundary, for real: the built-in plugins as WebAssembly
//! components (`target/plugins/builtin/*.wasm`, from
//! `scripts/build-plugins.sh`) called through the plugin host, against the
//! same plugins compiled natively. For any request — arbitrary header names
//! and values, resource names and actions, all crossing the canonical ABI —
//! both must answer the same; the host must never fail a call (no trap, no
//! deadline, no lifting error).
//!
//! The conversions in `host/plugin-host/src/since_v0_1_0.rs` are total
//! field-by-field moves the compiler checks for completeness; what can go
//! wrong at the boundary is the lifting and lowering wasmtime and
//! wit-bindgen generate, so this target runs them. It needs wasmtime built
//! with coverage instrumentation (about ten minutes on two cores), so it is
//! behind the `plugin-host` feature and not in CI's run:
//! `scripts/fuzz.sh --plugin-boundary 600`.
//!
//! Input: lines `authorization`, `x-chroma-token`, tenant, database,
//! collection, action, then any number of `name:value` header lines.

#![no_main]

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use prism_plugin_host as host;
use prism_plugin_htpasswd::Htpasswd;
use prism_plugin_rbac::Rbac;
use prism_plugin_sdk as sdk;
use prism_plugin_sdk::{Authenticator as _, Authorizer as _};
use prism_plugin_token::Tokens;

const HTPASSWD: &str = "admin:$2y$04$7rK1kA2Axe92KRiE4oF2qeAQwfiTRsnKlEvJWV677mNbBns94lMhC\n";
const USERS: &str = "users:\n  - id: admin\n    tokens: [admin-token]\n    role: admin\n  - id: alice\n    tokens: [alice-token]\n    tenant: acme\n";
const POLICY: &str = "roles_mapping:\n  admin:\n    actions: [\"*\"]\n  reader:\n    actions: [collection:get, \"db:list_*\"]\n  member:\n    actions: [collection:query]\n    where: {owner: \"${user}\", team: {$in: [\"${attr.team}\", all]}}\nusers:\n  - id: admin\n    role: admin\n  - id: alice\n    grants:\n      - role: reader\n        tenant: acme\n        collection: \"docs-*\"\n";

struct Both {
    wasm_htpasswd: host::Authenticator,
    wasm_tokens: host::Authenticator,
    wasm_rbac: host::Authorizer,
    htpasswd: Htpasswd,
    tokens: Tokens,
    rbac: Rbac,
}

fn host_config(key: &str, text: &str) -> host::Config {
    host::Config {
        settings: vec![],
        files: vec![host::ConfigFile {
            key: key.into(),
            path: "/fuzz/fixed".into(),
            contents: text.as_bytes().to_vec(),
        }],
    }
}

fn sdk_config(key: &str, text: &str) -> sdk::Config {
    sdk::Config {
        settings: vec![],
        files: vec![sdk::ConfigFile {
            key: key.into(),
            path: "/fuzz/fixed".into(),
            contents: text.as_bytes().to_vec(),
        }],
    }
}

fn both() -> &'static Both {
    static BOTH: OnceLock<Both> = OnceLock::new();
    BOTH.get_or_init(|| {
        let runtime = host::PluginRuntime::new(host::SandboxLimits {
            // Instrumented wasmtime is slower; a deadline is a failure here.
            call_timeout: Duration::from_secs(10),
            memory_bytes: 64 << 20,
            instances: None,
        })
        .expect("runtime");
        let load = |name: &str| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/plugins/builtin")
                .join(format!("{name}.wasm"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run scripts/build-plugins.sh first",
                    path.display()
                )
            });
            Arc::new(
                runtime
                    .load(host::PluginOrigin::File(path), &bytes)
                    .expect("the built-in plugin loads"),
            )
        };
        Both {
            wasm_htpasswd: load("htpasswd")
                .authenticator(host_config("credentials-file", HTPASSWD))
                .expect("configure"),
            wasm_tokens: load("token")
                .authenticator(host_config("credentials-file", USERS))
                .expect("configure"),
            wasm_rbac: load("rbac")
                .authorizer(host_config("config-file", POLICY))
                .expect("configure"),
            htpasswd: Htpasswd::configure(&sdk_config("credentials-file", HTPASSWD)).unwrap(),
            tokens: Tokens::configure(&sdk_config("credentials-file", USERS)).unwrap(),
            rbac: Rbac::configure(&sdk_config("config-file", POLICY)).unwrap(),
        }
    })
}

/// An authentication answer, in terms both sides share.
fn from_host(answer: Result<host::Identity, host::AuthnError>) -> String {
    match answer {
        Ok(who) => format!(
            "ok {:?} {:?} {:?} {:?}",
            who.user_id, who.tenant, who.databases, who.attributes
        ),
        Err(host::AuthnError::NoCredentials) => "no credentials".into(),
        Err(host::AuthnError::BadCredentials) => "bad credentials".into(),
        Err(host::AuthnError::Malformed(m)) => format!("malformed {m}"),
        Err(host::AuthnError::Refused(m)) => format!("refused {m}"),
        Err(host::AuthnError::UnknownKey(m)) => format!("unknown key {m}"),
        Err(host::AuthnError::Internal(m)) => format!("internal {m}"),
    }
}

fn from_sdk(answer: Result<sdk::Identity, sdk::AuthnError>) -> String {
    match answer {
        Ok(who) => format!(
            "ok {:?} {:?} {:?} {:?}",
            who.user_id, who.tenant, who.databases, who.attributes
        ),
        Err(sdk::AuthnError::NoCredentials) => "no credentials".into(),
        Err(sdk::AuthnError::BadCredentials) => "bad credentials".into(),
        Err(sdk::AuthnError::Malformed(m)) => format!("malformed {m}"),
        Err(sdk::AuthnError::Refused(m)) => format!("refused {m}"),
        Err(sdk::AuthnError::UnknownKey(m)) => format!("unknown key {m}"),
        Err(sdk::AuthnError::Internal(m)) => format!("internal {m}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let both = both();
    let mut lines = text.split('\n');
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(v) = lines.next() {
        headers.push(("authorization".into(), v.into()));
    }
    if let Some(v) = lines.next() {
        headers.push(("x-chroma-token".into(), v.into()));
    }
    let part = |p: Option<&str>| p.filter(|s| !s.is_empty()).map(str::to_string);
    let (tenant, database, collection) =
        (part(lines.next()), part(lines.next()), part(lines.next()));
    let action = lines.next().unwrap_or("collection:get").to_string();
    for line in lines.take(32) {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        headers.push((name.to_ascii_lowercase(), value.into()));
    }

    let mut host_request = host::HttpRequest::new("POST", "/api/v2/x");
    host_request.headers = headers.clone();
    let mut sdk_request = sdk::HttpRequest::new("POST", "/api/v2/x");
    sdk_request.headers = headers;

    let basic_user = sdk::basic::from_request(&sdk_request).map(|c| c.user);
    // bcrypt on every well-formed attempt: only for the file's user.
    if basic_user.as_deref().is_ok_and(|u| u == "admin") || basic_user.is_err() {
        let wasm = both
            .wasm_htpasswd
            .authenticate(&host_request)
            .expect("the htpasswd plugin answers");
        assert_eq!(
            from_host(wasm),
            from_sdk(both.htpasswd.authenticate(&sdk_request)),
            "htpasswd"
        );
    }
    let wasm = both
        .wasm_tokens
        .authenticate(&host_request)
        .expect("the token plugin answers");
    assert_eq!(
        from_host(wasm),
        from_sdk(both.tokens.authenticate(&sdk_request)),
        "token"
    );

    let user = sdk_request
        .header("x-chroma-token")
        .ok()
        .flatten()
        .unwrap_or("alice")
        .to_string();
    // Every unlisted user is also a member, whose row filter takes the user
    // id and a team from the (fuzzed) identity.
    let mut attributes = vec![
        ("role".to_string(), action.clone()),
        ("role".to_string(), "member".to_string()),
    ];
    if let Some(team) = &collection {
        attributes.push(("team".to_string(), team.clone()));
    }
    let host_identity = host::Identity {
        user_id: user.clone(),
        tenant: tenant.clone(),
        databases: database.clone().map(|d| vec![d]),
        attributes: attributes.clone(),
    };
    let sdk_identity = sdk::Identity {
        user_id: user,
        tenant: tenant.clone(),
        databases: database.clone().map(|d| vec![d]),
        attributes,
    };
    let host_resource = host::Resource {
        tenant: tenant.clone(),
        database: database.clone(),
        collection: collection.clone(),
        collection_id: None,
    };
    let sdk_resource = sdk::Resource {
        tenant,
        database,
        collection,
        collection_id: None,
    };
    let wasm = both
        .wasm_rbac
        .authorize(&host_identity, &action, &host_resource)
        .expect("the rbac plugin answers");
    let native = both
        .rbac
        .authorize(&sdk_identity, &action, &sdk_resource)
        .expect("authorize answers");
    let wasm = match wasm {
        host::Decision::Allow => "allow".to_string(),
        host::Decision::AllowWhere(rows) => {
            // Whatever the user id holds, it stays a value of the filter.
            let clause: serde_json::Value =
                serde_json::from_str(&rows).expect("the row filter is JSON");
            let owner = clause
                .get("owner")
                .or_else(|| clause.pointer("/$or/0/owner"))
                .and_then(|o| o.as_str());
            assert_eq!(owner, Some(host_identity.user_id.as_str()), "{rows}");
            format!("rows {rows}")
        }
        host::Decision::Deny(why) => format!("deny {why}"),
    };
    let native = match native {
        sdk::Decision::Allow => "allow".to_string(),
        sdk::Decision::AllowWhere(rows) => format!("rows {rows}"),
        sdk::Decision::Deny(why) => format!("deny {why}"),
    };
    assert_eq!(wasm, native, "rbac");
});

//! The plugin host against real plugins built from this repository
//! (`scripts/build-plugins.sh` puts them in `target/plugins/`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prism_plugin_host::{
    API_VERSION, AuthnError, CallError, Config, ConfigFile, ConfigureError, Decision, HttpRequest,
    Identity, LoadError, LoadedPlugin, PluginKind, PluginOrigin, PluginRuntime, Resource,
    SandboxLimits, Setting, SettingSource,
};

fn wasm(rel: &str) -> (PathBuf, Vec<u8>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/plugins")
        .join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the plugins first with scripts/build-plugins.sh",
            path.display()
        )
    });
    (path, bytes)
}

fn runtime(timeout_ms: u64) -> Arc<PluginRuntime> {
    PluginRuntime::new(SandboxLimits {
        call_timeout: Duration::from_millis(timeout_ms),
        memory_bytes: 32 << 20,
        instances: None,
    })
    .unwrap()
}

fn load(rt: &Arc<PluginRuntime>, rel: &str) -> Result<LoadedPlugin, LoadError> {
    let (path, bytes) = wasm(rel);
    rt.load(PluginOrigin::File(path), &bytes)
}

fn settings(pairs: &[(&str, &str)]) -> Config {
    Config {
        settings: pairs
            .iter()
            .map(|(k, v)| Setting {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
        files: vec![],
    }
}

fn with_file(key: &str, path: &str, contents: &[u8]) -> Config {
    Config {
        settings: vec![],
        files: vec![ConfigFile {
            key: key.into(),
            path: path.into(),
            contents: contents.to_vec(),
        }],
    }
}

fn request(headers: &[(&str, &str)]) -> HttpRequest {
    headers.iter().fold(
        HttpRequest::new("GET", "/api/v2/auth/identity"),
        |r, (k, v)| r.with_header(k, v),
    )
}

#[test]
fn builtins_declare_their_names_kinds_and_settings() {
    let rt = runtime(2000);
    let htpasswd = load(&rt, "builtin/htpasswd.wasm").unwrap();
    let m = htpasswd.metadata();
    assert_eq!(m.kind, PluginKind::Authn);
    assert_eq!(m.api_version, API_VERSION);
    assert!(
        m.names
            .contains(&"chromadb.auth.basic_authn.BasicAuthenticationServerProvider".to_string())
    );
    assert!(
        m.settings
            .iter()
            .any(|s| s.key == "credentials-file" && s.source == SettingSource::File)
    );
    assert_eq!(
        htpasswd.world(),
        format!("prism:auth/authn-plugin@{API_VERSION}")
    );

    let rbac = load(&rt, "builtin/rbac.wasm").unwrap();
    assert_eq!(rbac.metadata().kind, PluginKind::Authz);
    assert_eq!(rbac.name(), "rbac");
}

#[test]
fn htpasswd_authenticates_through_the_sandbox() {
    let rt = runtime(2000);
    let plugin = Arc::new(load(&rt, "builtin/htpasswd.wasm").unwrap());
    let config = with_file(
        "credentials-file",
        "users.htpasswd",
        b"admin:$2y$04$7rK1kA2Axe92KRiE4oF2qeAQwfiTRsnKlEvJWV677mNbBns94lMhC\n",
    );
    let authn = plugin.authenticator(config).unwrap();
    // admin:secret
    let ok = authn
        .authenticate(&request(&[("authorization", "Basic YWRtaW46c2VjcmV0")]))
        .unwrap()
        .unwrap();
    assert_eq!(ok.user_id, "admin");
    // admin:wrong
    let bad = authn
        .authenticate(&request(&[("authorization", "Basic YWRtaW46d3Jvbmc=")]))
        .unwrap();
    assert!(matches!(bad, Err(AuthnError::BadCredentials)));
}

#[test]
fn a_refused_configuration_names_file_and_line() {
    let rt = runtime(2000);
    let plugin = Arc::new(load(&rt, "builtin/htpasswd.wasm").unwrap());
    let config = with_file("credentials-file", "/etc/users", b"# users\nadmin\n");
    let Err(ConfigureError::Refused(e)) = plugin.authenticator(config) else {
        panic!("bad file accepted")
    };
    assert_eq!((e.file.as_deref(), e.line), (Some("/etc/users"), Some(2)));
}

#[test]
fn rbac_decides_through_the_sandbox() {
    let rt = runtime(2000);
    let plugin = Arc::new(load(&rt, "builtin/rbac.wasm").unwrap());
    let policy = "roles_mapping:\n  reader:\n    actions: [collection:query]\nusers:\n  - id: ann\n    role: reader\n";
    let authz = plugin.authorizer(settings(&[("config", policy)])).unwrap();
    let ann = Identity {
        user_id: "ann".into(),
        tenant: None,
        databases: None,
        attributes: vec![],
    };
    let anywhere = Resource {
        tenant: Some("t".into()),
        database: Some("d".into()),
        collection: Some("c".into()),
        collection_id: None,
    };
    assert!(matches!(
        authz
            .authorize(&ann, "collection:query", &anywhere)
            .unwrap(),
        Decision::Allow
    ));
    assert!(matches!(
        authz.authorize(&ann, "collection:add", &anywhere).unwrap(),
        Decision::Deny(_)
    ));
}

/// A plugin built against contract 0.1 loads and answers beside 0.2
/// plugins in one runtime, and 0.2's row filters cross whole.
#[test]
fn contract_0_1_plugins_are_served_beside_0_2_ones() {
    let rt = runtime(2000);
    let old = Arc::new(load(&rt, "fixtures/contract-v0-1.wasm").unwrap());
    assert_eq!(old.metadata().api_version, "0.1.0");
    assert_eq!(old.world(), "prism:auth/authn-plugin@0.1.0");
    let rbac = Arc::new(load(&rt, "builtin/rbac.wasm").unwrap());
    assert_eq!(
        rbac.world(),
        format!("prism:auth/authz-plugin@{API_VERSION}")
    );
    assert_ne!(API_VERSION, "0.1.0");

    let authn = old.authenticator(Config::default()).unwrap();
    let who = authn
        .authenticate(&request(&[("authorization", "Bearer v01:ann:member")]))
        .unwrap()
        .unwrap();
    assert_eq!(
        (who.user_id.as_str(), who.attributes.as_slice()),
        ("ann", &[("role".to_string(), "member".to_string())][..])
    );
    assert_eq!(
        authn
            .authenticate(&request(&[("authorization", "Bearer other")]))
            .unwrap(),
        Err(AuthnError::Malformed("not a v01: token".into()))
    );

    let policy = "roles_mapping:\n  member:\n    actions: [collection:get]\n    where: {owner: \"${user}\"}\n";
    let authz = rbac.authorizer(settings(&[("config", policy)])).unwrap();
    assert_eq!(
        authz
            .authorize(&who, "collection:get", &Resource::default())
            .unwrap(),
        Decision::AllowWhere(r#"{"owner":"ann"}"#.into())
    );
}

#[test]
fn values_cross_the_boundary_whole() {
    let rt = runtime(2000);
    let rbac = Arc::new(load(&rt, "builtin/rbac.wasm").unwrap());
    let policy = "roles_mapping:\n  writer:\n    actions: [\"collection:*\"]\n";
    let authz = rbac.authorizer(settings(&[("config", policy)])).unwrap();
    let carol = Identity {
        user_id: "carol".into(),
        tenant: Some("t".into()),
        databases: Some(vec!["d".into()]),
        attributes: vec![("role".into(), "writer".into())],
    };
    let resource = Resource {
        tenant: Some("t".into()),
        ..Resource::default()
    };
    assert_eq!(
        authz
            .authorize(&carol, "collection:add", &resource)
            .unwrap(),
        Decision::Allow
    );
    assert_eq!(
        authz
            .authorize(&carol, "db:create_database", &resource)
            .unwrap(),
        Decision::Deny("no role of user `carol` allows db:create_database here".into())
    );

    let misbehaving = Arc::new(load(&rt, "fixtures/misbehaving.wasm").unwrap());
    let authn = misbehaving.authenticator(Config::default()).unwrap();
    assert_eq!(
        authn
            .authenticate(&request(&[("x-misbehave", "what")]))
            .unwrap(),
        Err(AuthnError::Malformed("unknown x-misbehave `what`".into()))
    );
}

#[test]
fn misbehaving_plugins_are_cut_off_and_replaced() {
    let rt = runtime(300);
    let plugin = Arc::new(load(&rt, "fixtures/misbehaving.wasm").unwrap());
    let authn = plugin.authenticator(settings(&[])).unwrap();

    let trap = authn.authenticate(&request(&[("x-misbehave", "trap")]));
    assert!(matches!(trap, Err(CallError::Trap { .. })), "{trap:?}");

    let started = Instant::now();
    let spin = authn.authenticate(&request(&[("x-misbehave", "loop")]));
    assert!(
        matches!(spin, Err(CallError::Timeout { millis: 300, .. })),
        "{spin:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    let oom = authn.authenticate(&request(&[("x-misbehave", "oom")]));
    assert!(
        matches!(oom, Err(CallError::OutOfMemory { mib: 32, .. })),
        "{oom:?}"
    );

    // A fresh instance serves the next request.
    let fine = authn.authenticate(&request(&[])).unwrap().unwrap();
    assert_eq!(fine.user_id, "fixture");
}

#[test]
fn configure_failures_are_reported() {
    let rt = runtime(500);
    let plugin = Arc::new(load(&rt, "fixtures/misbehaving.wasm").unwrap());
    let refused = plugin
        .clone()
        .authenticator(settings(&[("fail-configure", "because")]));
    assert!(
        matches!(refused, Err(ConfigureError::Refused(ref e)) if e.message.contains("because"))
    );
    let trapped = plugin.authenticator(settings(&[("trap-configure", "yes")]));
    assert!(matches!(
        trapped,
        Err(ConfigureError::Call(CallError::Trap { .. }))
    ));
}

#[test]
fn future_api_versions_and_non_plugins_are_refused() {
    let rt = runtime(500);
    let err = load(&rt, "fixtures/future-api.wasm").unwrap_err();
    assert!(
        matches!(err, LoadError::ApiVersion { ref found, .. } if found == "9.0.0"),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!(
            "serves prism:auth 0.1.x, 0.2.x (the newest, {API_VERSION},"
        )),
        "{err}"
    );

    let junk = rt.load(PluginOrigin::File("junk.wasm".into()), b"not wasm at all");
    assert!(matches!(junk, Err(LoadError::Compile { .. })));
}

#[test]
fn an_authn_plugin_is_not_an_authorizer() {
    let rt = runtime(500);
    let plugin = Arc::new(load(&rt, "fixtures/misbehaving.wasm").unwrap());
    assert!(plugin.authorizer(settings(&[])).is_err());
}

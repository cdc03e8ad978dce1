//! What an unauthenticated client controls: request headers and the names
//! in the path, against the built-in plugins (natively compiled) configured
//! with fixed files. Input: lines, in order `authorization`,
//! `x-chroma-token`, tenant, database, collection, action; a missing line is
//! an absent header or resource part.
//!
//! Checked: no panic anywhere; Basic credentials that parse re-encode to
//! themselves; a token that authenticates is one the file gave, to its user;
//! rbac's glob matcher agrees with a reference implementation, and an
//! rbac decision follows the policy's grants.

#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use prism_plugin_htpasswd::Htpasswd;
use prism_plugin_rbac::Rbac;
use prism_plugin_sdk::{
    Authenticator, AuthnError, Authorizer, Config, ConfigFile, Decision, HttpRequest, Identity,
    Resource, basic, pattern, token,
};
use prism_plugin_token::Tokens;

/// `admin:secret` and `bob:secret`, bcrypt cost 4 (the plugin's own tests').
const HTPASSWD: &str = "admin:$2y$04$7rK1kA2Axe92KRiE4oF2qeAQwfiTRsnKlEvJWV677mNbBns94lMhC\n\
bob:$2b$04$yX2pY.AN4MB2twXJx0iCvOfWzbLx2vNwW4caNTgBkCGyANfNB6iK.\n";

const USERS: &str = "users:
  - id: admin
    tokens: [admin-token]
    role: admin
  - id: alice
    tokens: [\"alice-token\", \"alice:2\"]
    tenant: acme
    databases: [docs]
";

const POLICY: &str = "roles_mapping:
  admin:
    actions: [\"*\"]
  reader:
    actions: [collection:get, collection:query, \"db:list_*\"]
users:
  - id: admin
    role: admin
  - id: alice
    grants:
      - role: reader
        tenant: acme
        database: \"d?cs\"
        collection: \"docs-*\"
";

struct Plugins {
    htpasswd: Htpasswd,
    bearer: Tokens,
    x_chroma: Tokens,
    rbac: Rbac,
}

fn config(key: &str, text: &str, transport: Option<&str>) -> Config {
    Config {
        settings: transport
            .map(|t| prism_plugin_sdk::Setting {
                key: "token-transport-header".into(),
                value: t.into(),
            })
            .into_iter()
            .collect(),
        files: vec![ConfigFile {
            key: key.into(),
            path: "/fuzz/fixed".into(),
            contents: text.as_bytes().to_vec(),
        }],
    }
}

fn plugins() -> &'static Plugins {
    static PLUGINS: OnceLock<Plugins> = OnceLock::new();
    PLUGINS.get_or_init(|| {
        let plugins = configured();
        let basic = |user_password: &str| {
            HttpRequest::new("GET", "/").with_header(
                "authorization",
                &format!("Basic {}", STANDARD.encode(user_password)),
            )
        };
        // Once, the bcrypt path the target leaves out.
        let bob = plugins.htpasswd.authenticate(&basic("bob:secret"));
        assert!(bob.is_ok_and(|who| who.user_id == "bob"));
        assert!(plugins.htpasswd.authenticate(&basic("bob:nope")).is_err());
        plugins
    })
}

fn configured() -> Plugins {
    Plugins {
        htpasswd: Htpasswd::configure(&config("credentials-file", HTPASSWD, None)).unwrap(),
        bearer: Tokens::configure(&config("credentials-file", USERS, None)).unwrap(),
        x_chroma: Tokens::configure(&config("credentials-file", USERS, Some("X-Chroma-Token")))
            .unwrap(),
        rbac: Rbac::configure(&config("config-file", POLICY, None)).unwrap(),
    }
}

const TOKENS: [(&str, &str); 3] = [
    ("admin-token", "admin"),
    ("alice-token", "alice"),
    ("alice:2", "alice"),
];

/// Glob semantics by dynamic programming (the plugin's matcher backtracks
/// greedily): `*` any run of characters, `?` exactly one.
fn glob_reference(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // matched[j]: the pattern so far matches the first j characters.
    let mut matched = vec![false; n.len() + 1];
    matched[0] = true;
    for &c in &p {
        let mut next = vec![false; n.len() + 1];
        for j in 0..=n.len() {
            next[j] = match c {
                '*' => matched[j] || (j > 0 && next[j - 1]),
                '?' => j > 0 && matched[j - 1],
                c => j > 0 && matched[j - 1] && n[j - 1] == c,
            };
        }
        matched = next;
    }
    matched[n.len()]
}

fn check_basic(value: &str, plugins: &Plugins, request: &HttpRequest) {
    match basic::parse(value) {
        Ok(creds) => {
            assert!(!creds.user.is_empty() && !creds.user.contains(':'));
            let again = format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", creds.user, creds.password))
            );
            assert_eq!(basic::parse(&again).ok(), Some(creds));
            // Not authenticated here: every well-formed attempt costs a
            // bcrypt check (a millisecond at the cheapest cost, ten times
            // that instrumented), which would starve the rest of the target.
        }
        Err(_) => {
            let answer = plugins.htpasswd.authenticate(request);
            assert!(
                matches!(
                    answer,
                    Err(AuthnError::NoCredentials | AuthnError::Malformed(_))
                ),
                "{answer:?}"
            );
        }
    }
}

fn check_token(plugin: &Tokens, request: &HttpRequest, sent: Option<&str>) {
    match plugin.authenticate(request) {
        Ok(who) => {
            let sent = sent.expect("authenticated without a token");
            let (_, user) = TOKENS
                .iter()
                .find(|(t, _)| sent.contains(t))
                .unwrap_or_else(|| panic!("{sent:?} authenticated as {who:?}"));
            assert_eq!(&who.user_id, user);
        }
        Err(AuthnError::Internal(e)) => panic!("internal error: {e}"),
        Err(_) => {}
    }
}

fn check_rbac(plugins: &Plugins, identity: &Identity, action: &str, resource: &Resource) {
    let decision = plugins
        .rbac
        .authorize(identity, action, resource)
        .expect("authorize answers");
    let allowed = matches!(decision, Decision::Allow);
    let reader = ["collection:get", "collection:query"].contains(&action)
        || glob_reference("db:list_*", action);
    let expected = match identity.user_id.as_str() {
        "admin" => true,
        "alice" => {
            reader
                && resource.tenant.as_deref() == Some("acme")
                && resource
                    .database
                    .as_deref()
                    .is_some_and(|d| glob_reference("d?cs", d))
                && resource
                    .collection
                    .as_deref()
                    .is_some_and(|c| glob_reference("docs-*", c))
        }
        // A user the policy does not list holds the role its identity names.
        _ => match identity.attribute("role") {
            Some("admin") => true,
            Some("reader") => reader,
            _ => false,
        },
    };
    assert_eq!(
        allowed, expected,
        "{identity:?} {action:?} {resource:?}: {decision:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let plugins = plugins();
    let mut lines = text.split('\n');
    let authorization = lines.next();
    let x_token = lines.next();
    let part = |p: Option<&str>| p.filter(|s| !s.is_empty()).map(str::to_string);
    let resource = Resource {
        tenant: part(lines.next()),
        database: part(lines.next()),
        collection: part(lines.next()),
        collection_id: None,
    };
    let action = lines.next().unwrap_or("collection:get");

    let mut request = HttpRequest::new("POST", "/api/v2/x");
    if let Some(v) = authorization {
        request = request.with_header("Authorization", v);
    }
    if let Some(v) = x_token {
        request = request.with_header("X-Chroma-Token", v);
    }

    if let Some(v) = authorization {
        check_basic(v, plugins, &request);
        if let Ok(t) = token::bearer(&request) {
            assert!(token::is_valid_token(&t));
        }
    }
    check_token(&plugins.bearer, &request, authorization);
    check_token(&plugins.x_chroma, &request, x_token);

    // The glob matcher, on every pair of the input's parts (short enough
    // for the quadratic reference).
    let parts = [
        resource.tenant.as_deref().unwrap_or(""),
        resource.database.as_deref().unwrap_or(""),
        resource.collection.as_deref().unwrap_or(""),
        action,
    ];
    for p in parts.iter().filter(|p| p.len() <= 256) {
        for n in parts.iter().filter(|n| n.len() <= 256) {
            assert_eq!(
                pattern::matches(p, n),
                glob_reference(p, n),
                "pattern {p:?} on {n:?}"
            );
        }
    }

    let mut identities = vec![Identity::user("admin"), Identity::user("alice")];
    if let Some(user) = x_token {
        let mut stranger = Identity::user(user);
        stranger.attributes.push(("role".into(), parts[0].into()));
        identities.push(stranger);
    }
    for identity in &identities {
        check_rbac(plugins, identity, action, &resource);
    }
});

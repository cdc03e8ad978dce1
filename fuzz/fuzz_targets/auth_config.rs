//! The built-in plugins' configuration files, compiled natively (the same
//! source the WebAssembly components are built from): any bytes as an
//! htpasswd file, a token file (one token, or Chroma's YAML users file) and an
//! rbac `authz.yaml`. Each must be accepted or refused with an error, never
//! panic; and what a file accepts must hold afterwards:
//! - every token a users file gives a user (and the token of a one-line file)
//!   authenticates as that user, by either transport;
//! - every user an htpasswd file defines is known (a wrong password is
//!   `BadCredentials`, not a panic), when its bcrypt cost is cheap enough to
//!   try;
//! - every action a role of `authz.yaml` names literally is allowed to a user
//!   holding that role everywhere (Chroma's `role:` form).

#![no_main]

use libfuzzer_sys::fuzz_target;
use prism_plugin_htpasswd::Htpasswd;
use prism_plugin_rbac::Rbac;
use prism_plugin_sdk::config::ConfigText;
use prism_plugin_sdk::{
    ACTIONS, Authenticator, AuthnError, Authorizer, Config, ConfigFile, Decision, HttpRequest,
    Identity, Resource, Setting, htpasswd,
};
use prism_plugin_token::Tokens;
use serde_yaml::Value as Yaml;

fn file_config(key: &str, contents: &[u8], settings: Vec<Setting>) -> Config {
    Config {
        settings,
        files: vec![ConfigFile {
            key: key.into(),
            path: "/fuzz/input".into(),
            contents: contents.to_vec(),
        }],
    }
}

fn bearer(token: &str) -> HttpRequest {
    HttpRequest::new("GET", "/api/v2/auth/identity")
        .with_header("authorization", &format!("Bearer {token}"))
}

fn basic(user: &str, password: &str) -> HttpRequest {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    HttpRequest::new("GET", "/api/v2/auth/identity")
        .with_header("authorization", &format!("Basic {encoded}"))
}

fn str_of(y: &Yaml) -> Option<&str> {
    y.as_str()
}

/// `(user id, token)` pairs of a YAML users file, where both are plain strings.
fn yaml_tokens(doc: &Yaml) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for user in doc
        .get("users")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
    {
        let Some(id) = user.get("id").and_then(str_of) else {
            continue;
        };
        for token in user
            .get("tokens")
            .and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
        {
            if let Some(t) = str_of(token) {
                out.push((id.to_string(), t.to_string()));
            }
        }
    }
    out
}

fn check_tokens(data: &[u8]) {
    for header in ["", "X-Chroma-Token"] {
        let settings = vec![Setting {
            key: "token-transport-header".into(),
            value: header.into(),
        }];
        let Ok(plugin) = Tokens::configure(&file_config("credentials-file", data, settings)) else {
            continue;
        };
        let text = std::str::from_utf8(data).expect("a configured file is UTF-8");
        let request = |token: &str| {
            if header.is_empty() {
                bearer(token)
            } else {
                HttpRequest::new("GET", "/").with_header("x-chroma-token", token)
            }
        };
        let expected: Vec<(String, String)> = if text.trim().contains('\n') {
            // The plugin reads only `users`; a document serde_yaml cannot
            // hold as a whole (a repeated key elsewhere) is not checked.
            let Ok(doc) = serde_yaml::from_str::<Yaml>(text) else {
                continue;
            };
            yaml_tokens(&doc)
        } else {
            vec![("anonymous".into(), text.trim().to_string())]
        };
        for (user, token) in expected {
            match plugin.authenticate(&request(&token)) {
                Ok(who) => assert_eq!(who.user_id, user, "token {token:?}"),
                Err(e) => panic!("the token {token:?} of {user:?} is refused: {e:?}"),
            }
        }
        // A token nobody was given.
        let stranger = plugin.authenticate(&request("fuzz-no-such-token-0"));
        assert!(
            matches!(stranger, Err(AuthnError::BadCredentials)) || stranger.is_ok(),
            "{stranger:?}"
        );
    }
}

/// Highest bcrypt cost bcrypt would spend on one check of this file.
const MAX_COST: u32 = 5;

fn check_htpasswd(data: &[u8]) {
    let Ok(plugin) = Htpasswd::configure(&file_config("credentials-file", data, vec![])) else {
        return;
    };
    let text = std::str::from_utf8(data).expect("a configured file is UTF-8");
    let entries = htpasswd::parse(&ConfigText {
        origin: "/fuzz/input".into(),
        from_file: true,
        text,
    })
    .expect("the plugin accepted the file");
    let cheap = entries.iter().all(|e| {
        e.hash
            .split('$')
            .nth(2)
            .and_then(|c| c.parse::<u32>().ok())
            .is_some_and(|c| c <= MAX_COST)
    });
    if !cheap {
        return;
    }
    // One user, with a password no fuzzer-made hash is likely to hold.
    let user = &entries[0].user;
    match plugin.authenticate(&basic(user, "fuzz password 0")) {
        Ok(who) => assert_eq!(&who.user_id, user),
        Err(AuthnError::BadCredentials) => {}
        Err(e) => panic!("user {user:?} of the file: {e:?}"),
    }
}

fn check_rbac(data: &[u8]) {
    let config = file_config("config-file", data, vec![]);
    let Ok(plugin) = Rbac::configure(&config) else {
        return;
    };
    let text = std::str::from_utf8(data).expect("a configured file is UTF-8");
    let Ok(doc) = serde_yaml::from_str::<Yaml>(text) else {
        return;
    };
    let roles = doc.get("roles_mapping");
    let everywhere = Resource {
        tenant: Some("default_tenant".into()),
        database: Some("default_database".into()),
        collection: Some("docs".into()),
        collection_id: None,
    };
    let nowhere = Resource {
        tenant: None,
        database: None,
        collection: None,
        collection_id: None,
    };
    for user in doc
        .get("users")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
    {
        let Some(id) = user.get("id").and_then(str_of) else {
            continue;
        };
        let identity = Identity::user(id);
        for action in ACTIONS {
            plugin
                .authorize(&identity, action, &everywhere)
                .expect("authorize answers");
            plugin
                .authorize(&identity, action, &nowhere)
                .expect("authorize answers");
        }
        let Some(role) = user.get("role").and_then(str_of) else {
            continue;
        };
        let definition = roles.and_then(|r| r.get(role));
        if definition.is_some_and(|d| d.get("where").is_some()) {
            // A row filter may name attributes this identity lacks.
            continue;
        }
        let actions = definition
            .and_then(|r| r.get("actions"))
            .and_then(Yaml::as_sequence);
        for action in actions.into_iter().flatten().filter_map(str_of) {
            if !ACTIONS.contains(&action) {
                continue;
            }
            let decision = plugin.authorize(&identity, action, &everywhere);
            assert!(
                matches!(decision, Ok(Decision::Allow)),
                "{id:?} with role {role:?} is refused {action}: {decision:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_tokens(data);
    check_htpasswd(data);
    check_rbac(data);
});

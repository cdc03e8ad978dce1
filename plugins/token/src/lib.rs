//! Static token authentication, as Chroma's `TokenAuthenticationServerProvider`:
//! one token, or a YAML users file (`users: [{id, tokens, tenant, databases}]`),
//! sent as `Authorization: Bearer <token>` or `X-Chroma-Token: <token>`.

#![forbid(unsafe_code)]

use prism_plugin_sdk::config::ConfigText;
use prism_plugin_sdk::token::{Transport, is_valid_token};
use prism_plugin_sdk::{
    Authenticator, AuthnError, Config, ConfigError, HttpRequest, Identity, Metadata, SettingSpec,
    export_authenticator, secret, yaml,
};
use serde::Deserialize;

/// The configured users and where their tokens arrive.
pub struct Tokens {
    transport: Transport,
    digests: Vec<[u8; 32]>,
    /// The identity each digest (same index) stands for.
    owners: Vec<Identity>,
}

#[derive(Deserialize)]
struct UsersFile {
    #[serde(default)]
    users: Vec<User>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    id: String,
    #[serde(default)]
    tokens: Vec<String>,
    tenant: Option<String>,
    databases: Option<Vec<String>>,
    /// Read by the rbac plugin when one file serves both; passed on as an attribute.
    role: Option<String>,
    // Read by the rbac plugin when one file serves both; ignored here.
    #[serde(default, rename = "roles")]
    _roles: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "grants")]
    _grants: Option<serde::de::IgnoredAny>,
}

impl Authenticator for Tokens {
    fn metadata() -> Metadata {
        Metadata::new("token", env!("CARGO_PKG_VERSION"))
            .alias("chromadb.auth.token_authn.TokenAuthenticationServerProvider")
            .alias("chromadb.auth.token.TokenAuthServerProvider")
            .description("static tokens, one or per user with tenant/database scopes")
            .setting(SettingSpec::file(
                "credentials-file",
                "a file holding one token, or Chroma's YAML users file",
            ))
            .setting(SettingSpec::value(
                "credentials",
                "one token, or the YAML users document, inline",
            ))
            .setting(SettingSpec::value(
                "token-transport-header",
                "Authorization (Bearer, the default) or X-Chroma-Token",
            ))
            .cache_key_headers(&["authorization", "x-chroma-token"])
    }

    fn configure(config: &Config) -> Result<Self, ConfigError> {
        let header = config.setting("token-transport-header").unwrap_or("");
        let transport = Transport::parse(header).ok_or_else(|| {
            ConfigError::new(format!(
                "token-transport-header `{header}` is not one of Authorization, X-Chroma-Token"
            ))
        })?;
        let source = config.require_text("credentials", "credentials-file")?;
        let (digests, owners) = parse_users(&source)?;
        Ok(Tokens {
            transport,
            digests,
            owners,
        })
    }

    fn authenticate(&self, request: &HttpRequest) -> Result<Identity, AuthnError> {
        let token = self.transport.token(request)?;
        secret::find(&self.digests, token.as_bytes())
            .map(|i| self.owners[i].clone())
            .ok_or(AuthnError::BadCredentials)
    }
}

type Users = (Vec<[u8; 32]>, Vec<Identity>);

fn parse_users(source: &ConfigText<'_>) -> Result<Users, ConfigError> {
    let text = source.text.trim();
    if !text.contains('\n') {
        // Chroma: a single line is one token for the anonymous user of every
        // tenant and database.
        if !is_valid_token(text) {
            return Err(source.error_at(
                1,
                "the token is empty or holds characters other than ASCII letters, digits and punctuation",
            ));
        }
        let mut owner = Identity::user("anonymous");
        owner.tenant = Some("*".into());
        owner.databases = Some(vec!["*".into()]);
        return Ok((vec![secret::digest(text.as_bytes())], vec![owner]));
    }
    let file: UsersFile = yaml::parse(source)?;
    let mut digests = Vec::new();
    let mut owners = Vec::new();
    let mut seen_tokens: Vec<(&str, &str)> = Vec::new();
    for (n, user) in file.users.iter().enumerate() {
        let line = yaml::line_of_entry(source.text, "id", &user.id).unwrap_or(0);
        if user.id.is_empty() {
            return Err(source.error_at(line, format!("user {} has an empty id", n + 1)));
        }
        if file.users[..n].iter().any(|u| u.id == user.id) {
            return Err(source.error_at(line, format!("user `{}` is defined twice", user.id)));
        }
        let mut owner = Identity::user(&user.id);
        owner.tenant = Some(user.tenant.clone().unwrap_or_else(|| "*".into()));
        owner.databases = Some(user.databases.clone().unwrap_or_else(|| vec!["*".into()]));
        if let Some(role) = &user.role {
            owner.attributes.push(("role".into(), role.clone()));
        }
        for token in &user.tokens {
            // Name the line without echoing the token into logs.
            let line = yaml::line_of(source.text, token, 1).unwrap_or(0);
            if !is_valid_token(token) {
                return Err(source.error_at(
                    line,
                    format!(
                        "a token of user `{}` holds characters other than ASCII letters, digits and punctuation",
                        user.id
                    ),
                ));
            }
            if let Some((other, _)) = seen_tokens.iter().find(|(_, t)| *t == token.as_str()) {
                return Err(source.error_at(
                    yaml::line_of(source.text, token, line + 1).unwrap_or(line),
                    format!("users `{other}` and `{}` share a token", user.id),
                ));
            }
            seen_tokens.push((&user.id, token));
            digests.push(secret::digest(token.as_bytes()));
            owners.push(owner.clone());
        }
    }
    if digests.is_empty() {
        return Err(ConfigError {
            file: Some(source.origin.clone()),
            line: None,
            message: "no tokens are defined".into(),
        });
    }
    Ok((digests, owners))
}

export_authenticator!(Tokens);

#[cfg(test)]
mod tests {
    use super::*;
    use prism_plugin_sdk::{ConfigFile, Setting};

    const USERS: &str = "\
users:
  - id: admin
    tokens: [admin-token]
  - id: alice
    tenant: acme
    databases: [docs]
    role: reader
    tokens:
      - alice-1
      - alice-2
";

    fn config(text: &str, header: Option<&str>) -> Config {
        Config {
            settings: header
                .map(|h| Setting {
                    key: "token-transport-header".into(),
                    value: h.into(),
                })
                .into_iter()
                .collect(),
            files: vec![ConfigFile {
                key: "credentials-file".into(),
                path: "users.yaml".into(),
                contents: text.as_bytes().to_vec(),
            }],
        }
    }

    fn request(name: &str, value: &str) -> HttpRequest {
        HttpRequest::new("GET", "/").with_header(name, value)
    }

    #[test]
    fn users_file_gives_scoped_identities() {
        let p = Tokens::configure(&config(USERS, None)).unwrap();
        let alice = p
            .authenticate(&request("authorization", "Bearer alice-2"))
            .unwrap();
        assert_eq!(alice.user_id, "alice");
        assert_eq!(alice.tenant.as_deref(), Some("acme"));
        assert_eq!(alice.databases, Some(vec!["docs".to_string()]));
        assert_eq!(alice.attribute("role"), Some("reader"));
        let admin = p
            .authenticate(&request("authorization", "Bearer admin-token"))
            .unwrap();
        assert_eq!(admin.tenant.as_deref(), Some("*"));
        assert!(matches!(
            p.authenticate(&request("authorization", "Bearer nope")),
            Err(AuthnError::BadCredentials)
        ));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let p = Tokens::configure(&config(USERS, Some("X-Chroma-Token"))).unwrap();
        assert!(
            p.authenticate(&request("x-chroma-token", "alice-1"))
                .is_ok()
        );
        assert!(matches!(
            p.authenticate(&request("authorization", "Bearer alice-1")),
            Err(AuthnError::NoCredentials)
        ));
        assert!(Tokens::configure(&config(USERS, Some("Cookie"))).is_err());
    }

    #[test]
    fn a_single_line_is_one_anonymous_token() {
        let p = Tokens::configure(&config("s3cr3t-token\n", None)).unwrap();
        let who = p
            .authenticate(&request("authorization", "Bearer s3cr3t-token"))
            .unwrap();
        assert_eq!(who.user_id, "anonymous");
        assert_eq!(who.databases, Some(vec!["*".to_string()]));
    }

    #[test]
    fn a_single_line_with_colons_is_still_a_token() {
        let p = Tokens::configure(&config("s3cr3t:t0k3n!#", None)).unwrap();
        assert!(
            p.authenticate(&request("authorization", "Bearer s3cr3t:t0k3n!#"))
                .is_ok()
        );
    }

    #[test]
    fn shared_tokens_are_refused_at_the_second_line() {
        let text = "users:\n  - id: a\n    tokens: [same]\n  - id: b\n    tokens: [same]\n";
        let Err(e) = Tokens::configure(&config(text, None)) else {
            panic!("shared token accepted")
        };
        assert_eq!(e.line, Some(5));
        assert!(
            e.message.contains("`a`") && e.message.contains("`b`"),
            "{}",
            e.message
        );
        assert!(
            !e.message.contains("same"),
            "the token leaked into the error"
        );
    }

    #[test]
    fn one_file_can_serve_rbac_too() {
        let text = "roles_mapping:\n  r:\n    actions: [\"*\"]\nusers:\n  - id: a\n    role: r\n    roles: [r]\n    grants:\n      - role: r\n        tenant: t\n    tokens: [tok]\n";
        let p = Tokens::configure(&config(text, None)).unwrap();
        assert_eq!(
            p.authenticate(&request("authorization", "Bearer tok"))
                .unwrap()
                .user_id,
            "a"
        );
    }

    #[test]
    fn bad_documents_are_refused() {
        for text in [
            "users:\n  - id: a\n    tokenz: [x]\n",
            "users:\n  - id: a\n    tokens: [\"has space\"]\n",
            "users: []\n",
            "users:\n  - id: a\n    tokens: [x]\n  - id: a\n    tokens: [y]\n",
        ] {
            assert!(Tokens::configure(&config(text, None)).is_err(), "{text}");
        }
    }
}

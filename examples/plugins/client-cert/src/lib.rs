//! Example plugin: authentication by TLS client certificate (mTLS).
//!
//! Prism verifies the certificate against `--tls-client-ca` during the
//! handshake and hands the plugin the verified subject as an RFC 4514 string
//! (`CN=alice,O=Example`). This plugin turns subjects into identities:
//!
//! ```yaml
//! subjects:
//!   - subject: "CN=alice,O=Example"   # exact RFC 4514 subject
//!     user: alice
//!     tenant: acme                    # optional scope, as token users have
//!     databases: [prod]
//! ```
//!
//! Without a subjects file every verified certificate is let in, its common
//! name (`CN`) being the user id and no scope applied.

#![forbid(unsafe_code)]

use prism_plugin_sdk::{
    Authenticator, AuthnError, Config, ConfigError, HttpRequest, Identity, Metadata, SettingSpec,
    export_authenticator, yaml,
};
use serde::Deserialize;

/// Who each subject is, or `None` to let every verified certificate in by CN.
pub struct ClientCert {
    subjects: Option<Vec<(String, Identity)>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectsFile {
    subjects: Vec<SubjectEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectEntry {
    subject: String,
    user: String,
    tenant: Option<String>,
    databases: Option<Vec<String>>,
}

impl Authenticator for ClientCert {
    fn metadata() -> Metadata {
        // No cache-key headers: the subject is all there is, and a lookup is
        // cheaper than the cache.
        Metadata::new("client-cert", env!("CARGO_PKG_VERSION"))
            .description("TLS client certificates: the verified subject is the identity")
            .setting(SettingSpec::value("subjects", "the subjects YAML, inline"))
            .setting(SettingSpec::file(
                "subjects-file",
                "YAML map of certificate subjects to users (default: any verified certificate, user = CN)",
            ))
    }

    fn configure(config: &Config) -> Result<Self, ConfigError> {
        let Some(source) = config.text_from("subjects", "subjects-file")? else {
            return Ok(ClientCert { subjects: None });
        };
        let file: SubjectsFile = yaml::parse(&source)?;
        let mut subjects: Vec<(String, Identity)> = Vec::new();
        for entry in file.subjects {
            let line = yaml::line_of_entry(source.text, "subject", &entry.subject).unwrap_or(0);
            if subjects.iter().any(|(s, _)| *s == entry.subject) {
                return Err(source.error_at(line, "this subject is listed twice"));
            }
            if common_name(&entry.subject).is_none() && !entry.subject.contains('=') {
                return Err(source.error_at(
                    line,
                    format!(
                        "`{}` is not a subject like CN=alice,O=Example",
                        entry.subject
                    ),
                ));
            }
            let mut identity = Identity::user(&entry.user);
            identity.tenant = entry.tenant;
            identity.databases = entry.databases;
            identity
                .attributes
                .push(("certificate-subject".into(), entry.subject.clone()));
            subjects.push((entry.subject, identity));
        }
        Ok(ClientCert {
            subjects: Some(subjects),
        })
    }

    fn authenticate(&self, request: &HttpRequest) -> Result<Identity, AuthnError> {
        let subject = request
            .client_certificate_subject
            .as_deref()
            .ok_or(AuthnError::NoCredentials)?;
        match &self.subjects {
            Some(subjects) => subjects
                .iter()
                .find(|(s, _)| s == subject)
                .map(|(_, identity)| identity.clone())
                .ok_or(AuthnError::BadCredentials),
            None => {
                let mut identity =
                    Identity::user(common_name(subject).ok_or(AuthnError::BadCredentials)?);
                identity
                    .attributes
                    .push(("certificate-subject".into(), subject.to_string()));
                Ok(identity)
            }
        }
    }
}

/// The `CN` of an RFC 4514 subject (the first one: the most specific).
fn common_name(subject: &str) -> Option<&str> {
    split_unescaped(subject, ',')
        .into_iter()
        .flat_map(|rdn| split_unescaped(rdn, '+'))
        .find_map(|attribute| attribute.strip_prefix("CN="))
        .filter(|cn| !cn.is_empty() && !cn.contains('\\'))
}

/// `text` split at `separator`s that are not escaped with a backslash.
fn split_unescaped(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == separator => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

export_authenticator!(ClientCert);

#[cfg(test)]
mod tests {
    use super::*;
    use prism_plugin_sdk::{ConfigFile, Setting};

    fn request(subject: Option<&str>) -> HttpRequest {
        let mut request = HttpRequest::new("GET", "/api/v2/auth/identity");
        request.client_certificate_subject = subject.map(String::from);
        request
    }

    #[test]
    fn any_verified_certificate_by_common_name() {
        let plugin = ClientCert::configure(&Config {
            settings: vec![],
            files: vec![],
        })
        .unwrap();
        let who = plugin
            .authenticate(&request(Some("CN=alice,O=Example\\, Inc.")))
            .unwrap();
        assert_eq!(who.user_id, "alice");
        assert!(matches!(
            plugin.authenticate(&request(None)),
            Err(AuthnError::NoCredentials)
        ));
        assert!(matches!(
            plugin.authenticate(&request(Some("O=No Common Name"))),
            Err(AuthnError::BadCredentials)
        ));
    }

    #[test]
    fn listed_subjects_only() {
        let text =
            "subjects:\n  - subject: \"CN=alice,O=Example\"\n    user: alice\n    tenant: acme\n";
        let plugin = ClientCert::configure(&Config {
            settings: vec![],
            files: vec![ConfigFile {
                key: "subjects-file".into(),
                path: "subjects.yaml".into(),
                contents: text.as_bytes().to_vec(),
            }],
        })
        .unwrap();
        let who = plugin
            .authenticate(&request(Some("CN=alice,O=Example")))
            .unwrap();
        assert_eq!(
            (who.user_id.as_str(), who.tenant.as_deref()),
            ("alice", Some("acme"))
        );
        assert!(matches!(
            plugin.authenticate(&request(Some("CN=alice,O=Elsewhere"))),
            Err(AuthnError::BadCredentials)
        ));
    }

    #[test]
    fn duplicate_subjects_are_refused_with_their_line() {
        let text = "subjects:\n  - subject: CN=a\n    user: a\n  - subject: CN=a\n    user: b\n";
        let error = ClientCert::configure(&Config {
            settings: vec![Setting {
                key: "subjects".into(),
                value: text.into(),
            }],
            files: vec![],
        })
        .err()
        .unwrap();
        assert!(error.message.contains("twice"), "{}", error.message);
    }
}

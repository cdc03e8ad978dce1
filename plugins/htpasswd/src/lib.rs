//! Multi-user HTTP Basic authentication from an htpasswd file of bcrypt hashes
//! (Apache's `htpasswd -B`, Python's `bcrypt`), as Chroma's
//! `BasicAuthenticationServerProvider`.

#![forbid(unsafe_code)]

use prism_plugin_sdk::htpasswd::{self, HtpasswdEntry};
use prism_plugin_sdk::{
    Authenticator, AuthnError, Config, ConfigError, HttpRequest, Identity, Metadata, SettingSpec,
    basic, export_authenticator, password,
};

/// The configured users.
pub struct Htpasswd {
    users: Vec<HtpasswdEntry>,
}

impl Authenticator for Htpasswd {
    fn metadata() -> Metadata {
        Metadata::new("htpasswd", env!("CARGO_PKG_VERSION"))
            .alias("basic")
            .alias("chromadb.auth.basic_authn.BasicAuthenticationServerProvider")
            .alias("chromadb.auth.basic.BasicAuthServerProvider")
            .alias("multi_user_htpasswd_file")
            .description("HTTP Basic auth against an htpasswd file of bcrypt hashes")
            .setting(SettingSpec::file(
                "credentials-file",
                "htpasswd file (user:bcrypt-hash per line)",
            ))
            .setting(SettingSpec::value(
                "credentials",
                "htpasswd lines given inline instead of a file",
            ))
            .cache_key_headers(&["authorization"])
    }

    fn configure(config: &Config) -> Result<Self, ConfigError> {
        let source = config.require_text("credentials", "credentials-file")?;
        let users = htpasswd::parse(&source)?;
        Ok(Htpasswd { users })
    }

    fn authenticate(&self, request: &HttpRequest) -> Result<Identity, AuthnError> {
        let credentials = basic::from_request(request)?;
        match self.users.iter().find(|u| u.user == credentials.user) {
            Some(user) if password::verify(&credentials.password, &user.hash) => {
                Ok(Identity::user(&user.user))
            }
            Some(_) => Err(AuthnError::BadCredentials),
            None => {
                // Spend what a wrong password costs, so timing does not tell
                // an unknown user from a known one.
                let _ = password::verify(&credentials.password, &self.users[0].hash);
                Err(AuthnError::BadCredentials)
            }
        }
    }
}

export_authenticator!(Htpasswd);

#[cfg(test)]
mod tests {
    use super::*;
    use prism_plugin_sdk::{ConfigFile, Setting};

    const ADMIN: &str = "admin:$2y$04$7rK1kA2Axe92KRiE4oF2qeAQwfiTRsnKlEvJWV677mNbBns94lMhC";
    const BOB: &str = "bob:$2b$04$yX2pY.AN4MB2twXJx0iCvOfWzbLx2vNwW4caNTgBkCGyANfNB6iK.";

    fn file(contents: &str) -> Config {
        Config {
            settings: vec![],
            files: vec![ConfigFile {
                key: "credentials-file".into(),
                path: "/srv/users".into(),
                contents: contents.as_bytes().to_vec(),
            }],
        }
    }

    fn basic(user_pass: &str) -> HttpRequest {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_pass);
        HttpRequest::new("GET", "/api/v2/auth/identity")
            .with_header("authorization", &format!("Basic {encoded}"))
    }

    #[test]
    fn several_users_each_with_their_password() {
        let p = Htpasswd::configure(&file(&format!("{ADMIN}\n{BOB}\n"))).unwrap();
        assert_eq!(
            p.authenticate(&basic("admin:secret")).unwrap().user_id,
            "admin"
        );
        assert_eq!(p.authenticate(&basic("bob:secret")).unwrap().user_id, "bob");
    }

    #[test]
    fn unknown_user_and_wrong_password_look_the_same() {
        let p = Htpasswd::configure(&file(ADMIN)).unwrap();
        assert!(matches!(
            p.authenticate(&basic("admin:nope")),
            Err(AuthnError::BadCredentials)
        ));
        assert!(matches!(
            p.authenticate(&basic("eve:secret")),
            Err(AuthnError::BadCredentials)
        ));
    }

    #[test]
    fn inline_credentials_work_and_both_sources_are_refused() {
        let inline = Config {
            settings: vec![Setting {
                key: "credentials".into(),
                value: ADMIN.into(),
            }],
            files: vec![],
        };
        let p = Htpasswd::configure(&inline).unwrap();
        assert!(p.authenticate(&basic("admin:secret")).is_ok());
        let mut both = file(BOB);
        both.settings = inline.settings;
        assert!(Htpasswd::configure(&both).is_err());
    }

    #[test]
    fn config_errors_name_file_and_line() {
        let Err(e) = Htpasswd::configure(&file(&format!("{ADMIN}\n{ADMIN}\n"))) else {
            panic!("duplicate user accepted");
        };
        assert_eq!((e.file.as_deref(), e.line), (Some("/srv/users"), Some(2)));
    }

    #[test]
    fn malformed_headers_are_malformed_not_bad() {
        let p = Htpasswd::configure(&file(ADMIN)).unwrap();
        assert!(matches!(
            p.authenticate(&basic("no-colon")),
            Err(AuthnError::Malformed(_))
        ));
    }
}

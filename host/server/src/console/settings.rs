//! The console's settings: `PRISM_CONSOLE`, `PRISM_CONSOLE_IDLE_TIMEOUT_SECS`,
//! `PRISM_CONSOLE_SESSION_LIFETIME_SECS` and `PRISM_CONSOLE_LOGIN`.

use std::time::Duration;

use super::session::SessionLimits;

/// Sessions end after this long unused.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Sessions end this long after login.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// What the login form asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginForm {
    /// A user name and password, sent to the plugin as `Authorization: Basic`.
    Password,
    /// A token, sent to the plugin in `header`, or (when `None`) both as
    /// `Authorization: Bearer` and as `X-Chroma-Token`, the two places
    /// Chroma's token transport may name.
    Token {
        /// The one header the provider reads, when it is neither.
        header: Option<String>,
    },
}

/// The console's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// Whether `/console` is served at all.
    pub enabled: bool,
    /// Idle timeout of a session.
    pub idle_timeout: Duration,
    /// Absolute lifetime of a session.
    pub lifetime: Duration,
    /// The login form, when set rather than chosen by provider.
    pub login: Option<LoginForm>,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            enabled: true,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            lifetime: DEFAULT_LIFETIME,
            login: None,
        }
    }
}

impl ConsoleSettings {
    /// How long sessions last.
    pub fn session_limits(&self) -> SessionLimits {
        SessionLimits {
            idle: self.idle_timeout,
            lifetime: self.lifetime,
        }
    }

    /// The login form for the authentication provider `provider` (the name
    /// or alias it was chosen by): as set, or a password for the htpasswd
    /// provider and a token for any other.
    pub fn login_form(&self, provider: &str) -> LoginForm {
        if let Some(form) = &self.login {
            return form.clone();
        }
        match provider {
            "htpasswd" => LoginForm::Password,
            _ => LoginForm::Token { header: None },
        }
    }
}

/// `PRISM_CONSOLE_LOGIN`: `password`, `token` or `token:HEADER`.
pub fn parse_login_form(value: &str) -> Result<LoginForm, String> {
    let value = value.trim();
    match value.split_once(':') {
        None if value.eq_ignore_ascii_case("password") => Ok(LoginForm::Password),
        None if value.eq_ignore_ascii_case("token") => Ok(LoginForm::Token { header: None }),
        Some((kind, header)) if kind.eq_ignore_ascii_case("token") => {
            let header = header.trim().to_ascii_lowercase();
            axum::http::HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| format!("`{header}` is not a header name"))?;
            Ok(LoginForm::Token {
                header: Some(header),
            })
        }
        _ => Err(format!(
            "expected password, token or token:HEADER, got {value:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_follows_the_provider_unless_set() {
        let settings = ConsoleSettings::default();
        assert_eq!(settings.login_form("htpasswd"), LoginForm::Password);
        assert_eq!(
            settings.login_form("jwt"),
            LoginForm::Token { header: None }
        );
        let set = ConsoleSettings {
            login: Some(LoginForm::Password),
            ..settings
        };
        assert_eq!(set.login_form("my-authn-plugin"), LoginForm::Password);
    }

    #[test]
    fn login_forms_parse() {
        assert_eq!(parse_login_form("Password"), Ok(LoginForm::Password));
        assert_eq!(
            parse_login_form("token:X-Team-Key"),
            Ok(LoginForm::Token {
                header: Some("x-team-key".into())
            })
        );
        assert!(parse_login_form("token:bad header").is_err());
        assert!(parse_login_form("cookie").is_err());
    }
}

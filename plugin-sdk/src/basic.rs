//! HTTP Basic credentials (RFC 7617).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::{AuthnError, HttpRequest};

/// Credentials taken from an `Authorization: Basic` header.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// The user id: everything before the first `:`.
    pub user: String,
    /// The password: everything after the first `:` (it may contain `:`).
    pub password: String,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Longest `Authorization` header value looked at; longer ones are refused
/// before any decoding work.
pub const MAX_HEADER_LEN: usize = 8 * 1024;

/// The request's Basic credentials. `NoCredentials` when there is no
/// `Authorization` header or it uses another scheme; `Malformed` when it is
/// Basic but not valid base64 of `user:password` in UTF-8.
pub fn from_request(request: &HttpRequest) -> Result<BasicCredentials, AuthnError> {
    match request.header("authorization")? {
        None => Err(AuthnError::NoCredentials),
        Some(value) => parse(value),
    }
}

/// Parse an `Authorization` header value.
pub fn parse(value: &str) -> Result<BasicCredentials, AuthnError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(AuthnError::Malformed(
            "the Authorization header is too long".into(),
        ));
    }
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthnError::NoCredentials);
    }
    let decoded = STANDARD
        .decode(rest.trim())
        .map_err(|_| AuthnError::Malformed("Basic credentials are not valid base64".into()))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| AuthnError::Malformed("Basic credentials are not UTF-8".into()))?;
    let (user, password) = text.split_once(':').ok_or_else(|| {
        AuthnError::Malformed("Basic credentials have no `:` between user and password".into())
    })?;
    if user.is_empty() {
        return Err(AuthnError::Malformed(
            "Basic credentials have an empty user id".into(),
        ));
    }
    Ok(BasicCredentials {
        user: user.to_string(),
        password: password.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> String {
        format!("Basic {}", STANDARD.encode(s))
    }

    #[test]
    fn password_may_contain_colons() {
        let c = parse(&header("admin:pa:ss:")).unwrap();
        assert_eq!(c.user, "admin");
        assert_eq!(c.password, "pa:ss:");
    }

    #[test]
    fn scheme_is_case_insensitive_and_empty_password_is_allowed() {
        let c = parse(&header("u:").replace("Basic", "bAsIc")).unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("u", ""));
    }

    #[test]
    fn other_schemes_are_no_credentials() {
        assert!(matches!(
            parse("Bearer abc"),
            Err(AuthnError::NoCredentials)
        ));
        assert!(matches!(parse(""), Err(AuthnError::NoCredentials)));
    }

    #[test]
    fn garbage_is_malformed() {
        for bad in [
            "Basic !!!notbase64",
            "Basic",
            &header("no-colon"),
            &header(":password"),
            &format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', b'x'])),
            &format!("Basic {}", "A".repeat(MAX_HEADER_LEN)),
        ] {
            assert!(
                matches!(parse(bad), Err(AuthnError::Malformed(_))),
                "{bad:.40}"
            );
        }
    }

    #[test]
    fn debug_output_hides_the_password() {
        let c = parse(&header("u:hunter2")).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}

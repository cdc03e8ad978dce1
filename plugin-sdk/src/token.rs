//! Bearer tokens and tokens in custom headers.

use crate::basic::MAX_HEADER_LEN;
use crate::{AuthnError, HttpRequest};

/// Where a client sends its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `Authorization: Bearer <token>` (Chroma's default).
    AuthorizationBearer,
    /// `X-Chroma-Token: <token>`.
    XChromaToken,
}

impl Transport {
    /// Parse Chroma's `chroma_auth_token_transport_header` value:
    /// `Authorization` or `X-Chroma-Token` (any case; Chroma 0.4's
    /// `AUTHORIZATION` / `X_CHROMA_TOKEN` spellings too).
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "" | "authorization" => Some(Transport::AuthorizationBearer),
            "x-chroma-token" => Some(Transport::XChromaToken),
            _ => None,
        }
    }

    /// The header name, lower-case.
    pub fn header(self) -> &'static str {
        match self {
            Transport::AuthorizationBearer => "authorization",
            Transport::XChromaToken => "x-chroma-token",
        }
    }

    /// The token this transport carries in `request`.
    pub fn token(self, request: &HttpRequest) -> Result<String, AuthnError> {
        match self {
            Transport::AuthorizationBearer => bearer(request),
            Transport::XChromaToken => from_header(request, "x-chroma-token"),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(request: &HttpRequest) -> Result<String, AuthnError> {
    let value = request
        .header("authorization")?
        .ok_or(AuthnError::NoCredentials)?;
    check_len(value)?;
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthnError::NoCredentials);
    }
    checked(rest.trim())
}

/// The whole value of a header as a token (`X-Chroma-Token`, `X-Api-Key`).
pub fn from_header(request: &HttpRequest, name: &str) -> Result<String, AuthnError> {
    let value = request.header(name)?.ok_or(AuthnError::NoCredentials)?;
    check_len(value)?;
    checked(value.trim())
}

fn check_len(value: &str) -> Result<(), AuthnError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(AuthnError::Malformed("the token header is too long".into()));
    }
    Ok(())
}

fn checked(token: &str) -> Result<String, AuthnError> {
    if token.is_empty() {
        return Err(AuthnError::Malformed("the token is empty".into()));
    }
    if !is_valid_token(token) {
        return Err(AuthnError::Malformed(
            "tokens may hold only ASCII letters, digits and punctuation".into(),
        ));
    }
    Ok(token.to_string())
}

/// Chroma's token alphabet: ASCII letters, digits and punctuation.
pub fn is_valid_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b.is_ascii_punctuation())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> HttpRequest {
        headers
            .iter()
            .fold(HttpRequest::new("GET", "/"), |r, (k, v)| {
                r.with_header(k, v)
            })
    }

    #[test]
    fn transport_names() {
        for v in ["Authorization", "AUTHORIZATION", ""] {
            assert_eq!(Transport::parse(v), Some(Transport::AuthorizationBearer));
        }
        for v in ["X-Chroma-Token", "X_CHROMA_TOKEN", "x-chroma-token"] {
            assert_eq!(Transport::parse(v), Some(Transport::XChromaToken));
        }
        assert_eq!(Transport::parse("Cookie"), None);
    }

    #[test]
    fn bearer_needs_the_scheme() {
        let r = request(&[("authorization", "Bearer abc-123")]);
        assert_eq!(bearer(&r).unwrap(), "abc-123");
        let r = request(&[("authorization", "bearer  abc ")]);
        assert_eq!(bearer(&r).unwrap(), "abc");
        let r = request(&[("authorization", "abc-123")]);
        assert!(matches!(bearer(&r), Err(AuthnError::NoCredentials)));
        let r = request(&[("authorization", "Bearer ")]);
        assert!(matches!(bearer(&r), Err(AuthnError::Malformed(_))));
        assert!(matches!(
            bearer(&request(&[])),
            Err(AuthnError::NoCredentials)
        ));
    }

    #[test]
    fn only_the_configured_header_counts() {
        let r = request(&[("authorization", "Bearer abc")]);
        assert!(matches!(
            Transport::XChromaToken.token(&r),
            Err(AuthnError::NoCredentials)
        ));
        let r = request(&[("x-chroma-token", "abc")]);
        assert_eq!(Transport::XChromaToken.token(&r).unwrap(), "abc");
    }

    #[test]
    fn bad_alphabet_and_repeated_headers_are_malformed() {
        let r = request(&[("x-chroma-token", "ab c")]);
        assert!(matches!(
            from_header(&r, "x-chroma-token"),
            Err(AuthnError::Malformed(_))
        ));
        let r = request(&[("x-chroma-token", "é")]);
        assert!(matches!(
            from_header(&r, "x-chroma-token"),
            Err(AuthnError::Malformed(_))
        ));
        let r = request(&[("x-chroma-token", "a"), ("X-Chroma-Token", "b")]);
        assert!(matches!(
            from_header(&r, "x-chroma-token"),
            Err(AuthnError::Malformed(_))
        ));
    }
}

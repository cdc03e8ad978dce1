//! Taking a compact JWS (`header.payload.signature`, RFC 7515 section 7.1)
//! apart. Nothing here trusts the token: the payload stays bytes until the
//! signature over it has been checked.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::alg::Alg;

/// Why a token could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the bearer token is not a JWT (expected three base64url parts separated by `.`)")]
    NotAJwt,
    #[error("encrypted tokens (JWE) are not accepted; send a signed JWT")]
    Encrypted,
    #[error("the token's {0} is not valid base64url")]
    Base64(&'static str),
    #[error("the token's header is not a JSON object")]
    HeaderNotJson,
    #[error("the token's header has no `alg`")]
    NoAlg,
    #[error("the token is unsigned (`alg: none`), which is never accepted")]
    AlgNone,
    #[error("the token's alg `{0}` is not supported (supported: {list})", list = supported())]
    UnsupportedAlg(String),
    #[error("the token's `kid` is not a string")]
    KidNotString,
    #[error(
        "the token marks header parameters critical ({0}), which this plugin does not understand"
    )]
    Critical(String),
    #[error("the token's payload is not a JSON object")]
    PayloadNotJson,
}

fn supported() -> String {
    Alg::ALL.map(Alg::name).join(", ")
}

/// A token split into its parts, the header parsed.
#[derive(Debug)]
pub struct Jws<'t> {
    pub alg: Alg,
    pub kid: Option<String>,
    /// `header.payload` as sent: what the signature covers.
    pub signing_input: &'t [u8],
    payload: Vec<u8>,
    pub signature: Vec<u8>,
}

impl<'t> Jws<'t> {
    /// Split and decode `token`, reading the header only.
    pub fn parse(token: &'t str) -> Result<Self, TokenError> {
        let parts: Vec<&str> = token.split('.').collect();
        match parts.len() {
            3 => {}
            5 => return Err(TokenError::Encrypted),
            _ => return Err(TokenError::NotAJwt),
        }
        // The header first, so that an unsigned token (`alg: none`, empty
        // signature) is refused as what it is.
        let header = decode(parts[0], "header")?;
        let header: Map<String, Value> =
            serde_json::from_slice(&header).map_err(|_| TokenError::HeaderNotJson)?;
        let alg = match header.get("alg") {
            None => return Err(TokenError::NoAlg),
            Some(Value::String(name)) if name.eq_ignore_ascii_case("none") => {
                return Err(TokenError::AlgNone);
            }
            Some(Value::String(name)) => {
                Alg::from_name(name).ok_or_else(|| TokenError::UnsupportedAlg(printable(name)))?
            }
            Some(other) => return Err(TokenError::UnsupportedAlg(printable(&other.to_string()))),
        };
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(TokenError::KidNotString),
        };
        // RFC 7515 4.1.11: a recipient must refuse a token whose `crit`
        // names extensions it does not implement, and this one implements none.
        if let Some(crit) = header.get("crit") {
            return Err(TokenError::Critical(printable(&crit.to_string())));
        }
        let payload = decode(parts[1], "payload")?;
        let signature = decode(parts[2], "signature")?;
        let signing_input = &token.as_bytes()[..parts[0].len() + 1 + parts[1].len()];
        Ok(Jws {
            alg,
            kid,
            signing_input,
            payload,
            signature,
        })
    }

    /// The claims; call only once the signature has been verified.
    pub fn verified_claims(&self) -> Result<Map<String, Value>, TokenError> {
        serde_json::from_slice(&self.payload).map_err(|_| TokenError::PayloadNotJson)
    }
}

fn decode(part: &str, what: &'static str) -> Result<Vec<u8>, TokenError> {
    if part.is_empty() {
        return Err(TokenError::Base64(what));
    }
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Base64(what))
}

/// A value from a token made safe for a log line: control characters
/// escaped, and cut short, since the sender chose it.
pub fn printable(text: &str) -> String {
    const MAX: usize = 80;
    let mut out: String = text
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    #[test]
    fn reads_alg_and_kid_and_keeps_the_signing_input() {
        let t = token(
            r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#,
            r#"{"sub":"a"}"#,
        );
        let jws = Jws::parse(&t).unwrap();
        assert_eq!((jws.alg, jws.kid.as_deref()), (Alg::Es256, Some("k1")));
        assert_eq!(jws.signing_input, t.rsplit_once('.').unwrap().0.as_bytes());
        assert_eq!(jws.signature, b"sig");
        assert_eq!(jws.verified_claims().unwrap()["sub"], "a");
    }

    #[test]
    fn unsigned_and_unreadable_tokens_are_refused() {
        let cases = [
            (token(r#"{"alg":"none"}"#, "{}"), TokenError::AlgNone),
            (token(r#"{"alg":"NONE"}"#, "{}"), TokenError::AlgNone),
            (token(r#"{"typ":"JWT"}"#, "{}"), TokenError::NoAlg),
            (
                token(r#"{"alg":"HS1"}"#, "{}"),
                TokenError::UnsupportedAlg("HS1".into()),
            ),
            (token("[]", "{}"), TokenError::HeaderNotJson),
            (
                token(r#"{"alg":"RS256","kid":7}"#, "{}"),
                TokenError::KidNotString,
            ),
            (
                token(r#"{"alg":"RS256","crit":["exp"]}"#, "{}"),
                TokenError::Critical(r#"[\"exp\"]"#.into()),
            ),
            ("a.b".into(), TokenError::NotAJwt),
            ("a.b.c.d.e".into(), TokenError::Encrypted),
            ("!!.e30.e30".into(), TokenError::Base64("header")),
            (
                format!("{}.e30.", b64(r#"{"alg":"HS256"}"#)),
                TokenError::Base64("signature"),
            ),
        ];
        for (t, want) in cases {
            assert_eq!(Jws::parse(&t).unwrap_err(), want, "{t}");
        }
        let t = token(r#"{"alg":"HS256"}"#, "not json");
        assert_eq!(
            Jws::parse(&t).unwrap().verified_claims().unwrap_err(),
            TokenError::PayloadNotJson
        );
    }

    #[test]
    fn printable_escapes_and_truncates() {
        assert_eq!(printable("a\nb"), "a\\nb");
        assert_eq!(printable(&"x".repeat(100)).chars().count(), 81);
    }
}

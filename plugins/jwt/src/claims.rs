//! What a verified token's claims must say, and the identity they map to.

use std::fmt;

use prism_plugin_sdk::Identity;
use serde_json::{Map, Value};

use crate::jose::printable;

/// Registered claims that never become identity attributes.
const NOT_ATTRIBUTES: &[&str] = &["iss", "aud", "exp", "nbf", "iat", "jti"];

/// A claim named by a dotted path (`realm_access.roles`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    text: String,
}

impl ClaimPath {
    /// `None` when a segment is empty (`a..b`, `.a`).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() || text.split('.').any(str::is_empty) {
            return None;
        }
        Some(ClaimPath { text: text.into() })
    }

    /// The claim's value, if every step of the path is there. A claim whose
    /// own name contains dots (`https://example.com/roles`, as Auth0 names
    /// custom claims) is found whole before the path is split.
    fn find<'c>(&self, claims: &'c Map<String, Value>) -> Option<&'c Value> {
        if let Some(v) = claims.get(&self.text) {
            return Some(v);
        }
        let mut segments = self.text.split('.');
        let mut value = claims.get(segments.next()?)?;
        for segment in segments {
            value = value.as_object()?.get(segment)?;
        }
        Some(value)
    }

    /// The top-level claim the path starts at.
    fn top(&self) -> &str {
        self.text.split('.').next().unwrap_or(&self.text)
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a validly signed token is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClaimError {
    #[error("token expired at {exp} (now {now}, leeway {leeway} s)")]
    Expired { exp: i64, now: u64, leeway: u64 },
    #[error("token not valid before {nbf} (now {now}, leeway {leeway} s)")]
    NotYetValid { nbf: i64, now: u64, leeway: u64 },
    #[error("the token has no exp claim (tokens that never expire are not accepted)")]
    NoExpiry,
    #[error("the token's `{0}` claim is not a number of seconds")]
    NotATime(&'static str),
    #[error("wrong issuer: the token's iss is `{got}`, expected `{want}`")]
    WrongIssuer { got: String, want: String },
    #[error("the token has no iss claim (expected `{0}`)")]
    NoIssuer(String),
    #[error("wrong audience: the token's aud is {got}, expected {want}")]
    WrongAudience { got: String, want: String },
    #[error("the token has no aud claim (expected {0})")]
    NoAudience(String),
    #[error("the token has no `{claim}` claim (the {setting} setting names it)")]
    Missing {
        claim: String,
        setting: &'static str,
    },
    #[error("the token's `{0}` claim is not a string")]
    NotAString(String),
    #[error("the token's `{0}` claim is not a string or a list of strings")]
    NotStrings(String),
}

/// The checks and the mapping, from the plugin's settings.
#[derive(Debug)]
pub struct ClaimRules {
    pub issuer: String,
    /// Accepted audiences; empty means any (`audience: *`).
    pub audiences: Vec<String>,
    pub leeway: u64,
    pub user: ClaimPath,
    pub tenant: Option<ClaimPath>,
    pub databases: Option<ClaimPath>,
    pub roles: Option<ClaimPath>,
}

impl ClaimRules {
    /// Check the time window, issuer and audience, then map the claims to
    /// an identity. `now` is when the host received the request.
    pub fn identity(&self, claims: &Map<String, Value>, now: u64) -> Result<Identity, ClaimError> {
        let expires_at = self.check_time(claims, now)?;
        self.check_issuer(claims)?;
        self.check_audience(claims)?;

        let user = string(claims, &self.user, "user-claim")?;
        let mut identity = Identity::user(user);
        if let Some(path) = &self.tenant {
            identity.tenant = Some(string(claims, path, "tenant-claim")?);
        }
        if let Some(path) = &self.databases {
            let value = path
                .find(claims)
                .ok_or_else(|| missing(path, "databases-claim"))?;
            identity.databases = Some(strings(value, path)?);
        }
        // A user without roles is still a user: authorization decides.
        if let Some(path) = &self.roles
            && let Some(value) = path.find(claims)
        {
            for role in strings(value, path)? {
                identity.attributes.push(("role".into(), role));
            }
        }
        // The host ends what it started on this identity (a console
        // session) when the token would no longer be accepted.
        identity
            .attributes
            .push(("expires-at".into(), expires_at.to_string()));
        let mapped: Vec<&str> = [
            Some(&self.user),
            self.tenant.as_ref(),
            self.databases.as_ref(),
            self.roles.as_ref(),
        ]
        .into_iter()
        .flatten()
        .flat_map(|p| [p.top(), p.text.as_str()])
        .collect();
        for (name, value) in claims {
            // Roles come from roles-claim only: a top-level `role` claim
            // would otherwise grant what the operator did not map.
            if NOT_ATTRIBUTES.contains(&name.as_str())
                || mapped.contains(&name.as_str())
                || name == "role"
            {
                continue;
            }
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            identity.attributes.push((name.clone(), text));
        }
        Ok(identity)
    }

    /// The token's expiry (`exp`), if `now` is within its time window.
    fn check_time(&self, claims: &Map<String, Value>, now: u64) -> Result<i64, ClaimError> {
        let leeway = self.leeway;
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let exp = time(claims, "exp")?.ok_or(ClaimError::NoExpiry)?;
        if now_i > exp.saturating_add_unsigned(leeway) {
            return Err(ClaimError::Expired { exp, now, leeway });
        }
        if let Some(nbf) = time(claims, "nbf")?
            && now_i.saturating_add_unsigned(leeway) < nbf
        {
            return Err(ClaimError::NotYetValid { nbf, now, leeway });
        }
        Ok(exp)
    }

    fn check_issuer(&self, claims: &Map<String, Value>) -> Result<(), ClaimError> {
        match claims.get("iss") {
            Some(Value::String(iss)) if *iss == self.issuer => Ok(()),
            Some(Value::String(iss)) => Err(ClaimError::WrongIssuer {
                got: printable(iss),
                want: self.issuer.clone(),
            }),
            Some(_) => Err(ClaimError::NotAString("iss".into())),
            None => Err(ClaimError::NoIssuer(self.issuer.clone())),
        }
    }

    fn check_audience(&self, claims: &Map<String, Value>) -> Result<(), ClaimError> {
        if self.audiences.is_empty() {
            return Ok(());
        }
        let want = || {
            self.audiences
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        // RFC 7519 4.1.3: one string, or an array of them.
        let got: Vec<&str> = match claims.get("aud") {
            None => return Err(ClaimError::NoAudience(want())),
            Some(Value::String(aud)) => vec![aud],
            Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).collect(),
            Some(_) => return Err(ClaimError::NotStrings("aud".into())),
        };
        if got.iter().any(|g| self.audiences.iter().any(|a| a == g)) {
            return Ok(());
        }
        let shown: Vec<String> = got
            .iter()
            .take(5)
            .map(|g| format!("`{}`", printable(g)))
            .collect();
        Err(ClaimError::WrongAudience {
            got: if shown.is_empty() {
                "empty".into()
            } else {
                shown.join(", ")
            },
            want: want(),
        })
    }
}

fn missing(path: &ClaimPath, setting: &'static str) -> ClaimError {
    ClaimError::Missing {
        claim: path.to_string(),
        setting,
    }
}

/// A NumericDate (RFC 7519 2: seconds, possibly fractional).
fn time(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, ClaimError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            // Saturating float-to-int: absurd values stay absurd, not wrapped.
            (None, Some(f)) if f.is_finite() => Ok(Some(f.floor() as i64)),
            _ => Err(ClaimError::NotATime(name)),
        },
        Some(_) => Err(ClaimError::NotATime(name)),
    }
}

fn string(
    claims: &Map<String, Value>,
    path: &ClaimPath,
    setting: &'static str,
) -> Result<String, ClaimError> {
    match path.find(claims) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        None => Err(missing(path, setting)),
        Some(_) => Err(ClaimError::NotAString(path.to_string())),
    }
}

/// A string or an array of strings (roles, databases).
fn strings(value: &Value, path: &ClaimPath) -> Result<Vec<String>, ClaimError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ClaimError::NotStrings(path.to_string())),
        _ => Err(ClaimError::NotStrings(path.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: "https://idp.example/realms/prism".into(),
            audiences: vec!["prism".into()],
            leeway: 60,
            user: ClaimPath::parse("sub").unwrap(),
            tenant: None,
            databases: None,
            roles: ClaimPath::parse("realm_access.roles"),
        }
    }

    fn claims(extra: Value) -> Map<String, Value> {
        let mut c = json!({
            "iss": "https://idp.example/realms/prism",
            "aud": ["account", "prism"],
            "sub": "alice",
            "exp": 1_000,
            "iat": 900,
        });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c.as_object().unwrap().clone()
    }

    #[test]
    fn time_window_honours_the_leeway() {
        let r = rules();
        assert!(r.identity(&claims(json!({})), 1_060).is_ok());
        assert_eq!(
            r.identity(&claims(json!({})), 1_061)
                .unwrap_err()
                .to_string(),
            "token expired at 1000 (now 1061, leeway 60 s)"
        );
        let early = claims(json!({"nbf": 500}));
        assert!(r.identity(&early, 440).is_ok());
        assert_eq!(
            r.identity(&early, 439).unwrap_err(),
            ClaimError::NotYetValid {
                nbf: 500,
                now: 439,
                leeway: 60
            }
        );
        let mut no_exp = claims(json!({}));
        no_exp.remove("exp");
        assert_eq!(r.identity(&no_exp, 0).unwrap_err(), ClaimError::NoExpiry);
        assert!(r.identity(&claims(json!({"exp": 1000.9})), 1_060).is_ok());
        assert_eq!(
            r.identity(&claims(json!({"exp": "1000"})), 0).unwrap_err(),
            ClaimError::NotATime("exp")
        );
    }

    #[test]
    fn issuer_and_audience_must_match() {
        let r = rules();
        let e = r
            .identity(&claims(json!({"iss": "https://evil"})), 0)
            .unwrap_err();
        assert!(e.to_string().starts_with("wrong issuer"), "{e}");
        let e = r.identity(&claims(json!({"aud": "other"})), 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "wrong audience: the token's aud is `other`, expected `prism`"
        );
        assert!(r.identity(&claims(json!({"aud": "prism"})), 0).is_ok());
        let mut no_aud = claims(json!({}));
        no_aud.remove("aud");
        assert!(matches!(
            r.identity(&no_aud, 0),
            Err(ClaimError::NoAudience(_))
        ));
        let any = ClaimRules {
            audiences: vec![],
            ..rules()
        };
        assert!(any.identity(&no_aud, 0).is_ok());
    }

    #[test]
    fn claims_map_to_the_identity() {
        let r = ClaimRules {
            user: ClaimPath::parse("preferred_username").unwrap(),
            tenant: ClaimPath::parse("org.tenant"),
            databases: ClaimPath::parse("dbs"),
            ..rules()
        };
        let c = claims(json!({
            "preferred_username": "alice",
            "org": {"tenant": "acme"},
            "dbs": ["docs", "wiki"],
            "realm_access": {"roles": ["reader", "writer"]},
            "email_verified": true,
            "age": 42,
            "role": "admin",
            "jti": "abc",
        }));
        let who = r.identity(&c, 0).unwrap();
        assert_eq!(who.user_id, "alice");
        assert_eq!(who.tenant.as_deref(), Some("acme"));
        assert_eq!(who.databases, Some(vec!["docs".into(), "wiki".into()]));
        let attrs: Vec<(&str, &str)> = who
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            attrs,
            [
                ("role", "reader"),
                ("role", "writer"),
                ("expires-at", "1000"),
                ("sub", "alice"),
                ("email_verified", "true"),
                ("age", "42"),
            ]
        );
    }

    #[test]
    fn configured_claims_must_be_present_and_well_typed() {
        let r = ClaimRules {
            tenant: ClaimPath::parse("tenant"),
            ..rules()
        };
        assert_eq!(
            r.identity(&claims(json!({})), 0).unwrap_err().to_string(),
            "the token has no `tenant` claim (the tenant-claim setting names it)"
        );
        assert_eq!(
            rules()
                .identity(&claims(json!({"realm_access": {"roles": [1]}})), 0)
                .unwrap_err(),
            ClaimError::NotStrings("realm_access.roles".into())
        );
        // A single role may be a plain string; no roles is no error.
        let who = rules()
            .identity(&claims(json!({"realm_access": {"roles": "reader"}})), 0)
            .unwrap();
        assert_eq!(who.attribute("role"), Some("reader"));
        assert!(rules().identity(&claims(json!({})), 0).is_ok());
        let dotted = ClaimRules {
            roles: ClaimPath::parse("https://example.com/roles"),
            ..rules()
        };
        let who = dotted
            .identity(&claims(json!({"https://example.com/roles": ["a"]})), 0)
            .unwrap();
        assert_eq!(who.attribute("role"), Some("a"));
        assert_eq!(ClaimPath::parse("a..b"), None);
    }
}

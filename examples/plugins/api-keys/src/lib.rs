//! Example plugin: API keys with expiry dates.
//!
//! Callers send `X-Api-Key: <key>`. The keys file lists each key's SHA-256
//! (never the key itself), who it belongs to, what it may touch and the day
//! it stops working:
//!
//! ```yaml
//! keys:
//!   - user: ci-bot
//!     sha256: 2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b
//!     expires: 2027-01-31        # valid until 2027-01-31T00:00:00Z
//!     tenant: acme               # optional scope, as token users have
//!     databases: [ci]
//! ```
//!
//! Make a key and its digest with `openssl rand -hex 24` and
//! `printf %s "$KEY" | sha256sum`.

#![forbid(unsafe_code)]

use prism_plugin_sdk::{
    Authenticator, AuthnError, Config, ConfigError, HttpRequest, Identity, Metadata, SettingSpec,
    export_authenticator, secret, token, yaml,
};
use serde::Deserialize;

/// The configured keys.
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
    keys: Vec<Key>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    user: String,
    sha256: String,
    expires: String,
    tenant: Option<String>,
    databases: Option<Vec<String>>,
}

struct Key {
    identity: Identity,
    /// Seconds since the Unix epoch at which the key stops working.
    expires_at: u64,
}

impl Authenticator for ApiKeys {
    fn metadata() -> Metadata {
        // No cache_key_headers: the answer depends on the time, so Prism must
        // ask on every request (a SHA-256 is cheap).
        Metadata::new("api-keys", env!("CARGO_PKG_VERSION"))
            .description("API keys (X-Api-Key) with expiry dates, stored as SHA-256 digests")
            .setting(SettingSpec::file("keys-file", "the YAML keys file"))
    }

    fn configure(config: &Config) -> Result<Self, ConfigError> {
        let source = config.require_text("keys", "keys-file")?;
        let file: KeysFile = yaml::parse(&source)?;
        let mut digests = Vec::new();
        let mut keys = Vec::new();
        for entry in file.keys {
            let line = yaml::line_of_entry(source.text, "sha256", &entry.sha256).unwrap_or(0);
            let digest = parse_hex_digest(&entry.sha256)
                .ok_or_else(|| source.error_at(line, "sha256 must be 64 hex digits"))?;
            if digests.contains(&digest) {
                return Err(source.error_at(line, "this key is listed twice"));
            }
            let expires_at = parse_day(&entry.expires).ok_or_else(|| {
                source.error_at(
                    yaml::line_of_entry(source.text, "expires", &entry.expires).unwrap_or(line),
                    format!("expires `{}` is not a date like 2027-01-31", entry.expires),
                )
            })?;
            let mut identity = Identity::user(&entry.user);
            identity.tenant = entry.tenant;
            identity.databases = entry.databases;
            identity
                .attributes
                .push(("expires".into(), entry.expires.clone()));
            digests.push(digest);
            keys.push(Key {
                identity,
                expires_at,
            });
        }
        Ok(ApiKeys { digests, keys })
    }

    fn authenticate(&self, request: &HttpRequest) -> Result<Identity, AuthnError> {
        let sent = token::from_header(request, "x-api-key")?;
        let key = secret::find(&self.digests, sent.as_bytes())
            .map(|i| &self.keys[i])
            .ok_or(AuthnError::BadCredentials)?;
        if request.received_at >= key.expires_at {
            return Err(AuthnError::BadCredentials);
        }
        Ok(key.identity.clone())
    }
}

fn parse_hex_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `YYYY-MM-DD` as seconds since the Unix epoch (midnight UTC).
fn parse_day(day: &str) -> Option<u64> {
    let mut parts = day.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 1970 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400).ok()
}

export_authenticator!(ApiKeys);

#[cfg(test)]
mod tests {
    use super::*;
    use prism_plugin_sdk::ConfigFile;

    // The digest is replaced by sha256("ci-key-1") in the test.
    const KEYS: &str = "\
keys:
  - user: ci-bot
    sha256: 6d2a5cfa6e1ff5ad5a3e0e5c0c74bfb1e17ad2db5bd1af8a3ff6f7c1d33b0c36
    expires: 2027-01-31
    tenant: acme
    databases: [ci]
";

    #[test]
    fn dates() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2000-03-01"), Some(951_868_800));
        assert_eq!(parse_day("2027-13-01"), None);
        assert_eq!(parse_day("tomorrow"), None);
    }

    fn request(key: &str, at: u64) -> HttpRequest {
        HttpRequest::new("GET", "/")
            .with_header("x-api-key", key)
            .received_at(at)
    }

    #[test]
    fn keys_work_until_they_expire() {
        let digest: String = secret::digest(b"ci-key-1")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let text = KEYS.replace(
            "6d2a5cfa6e1ff5ad5a3e0e5c0c74bfb1e17ad2db5bd1af8a3ff6f7c1d33b0c36",
            &digest,
        );
        let plugin = ApiKeys::configure(&Config {
            settings: vec![],
            files: vec![ConfigFile {
                key: "keys-file".into(),
                path: "keys.yaml".into(),
                contents: text.into_bytes(),
            }],
        })
        .unwrap();
        let before = parse_day("2027-01-30").unwrap();
        let after = parse_day("2027-01-31").unwrap();
        let who = plugin.authenticate(&request("ci-key-1", before)).unwrap();
        assert_eq!(
            (who.user_id.as_str(), who.tenant.as_deref()),
            ("ci-bot", Some("acme"))
        );
        assert!(matches!(
            plugin.authenticate(&request("ci-key-1", after)),
            Err(AuthnError::BadCredentials)
        ));
        assert!(matches!(
            plugin.authenticate(&request("other", before)),
            Err(AuthnError::BadCredentials)
        ));
    }
}

//! The plugin's settings: where its keys come from and what the claims must
//! say. Every problem is a configuration error, so the server refuses to
//! start (or a reload keeps the previous configuration).

use prism_plugin_sdk::{Config, ConfigError, SettingSpec};

use crate::claims::{ClaimPath, ClaimRules};
use crate::keys::KeySet;

/// Default clock skew allowed on `exp` and `nbf`.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;
/// Largest leeway accepted: more would make `exp` meaningless.
const MAX_LEEWAY_SECS: u64 = 3600;

/// Every setting the plugin reads, for its metadata.
pub fn specs() -> Vec<SettingSpec> {
    vec![
        SettingSpec::file(
            "jwks-file",
            "the identity provider's JWKS (its jwks_uri document), for RS*/PS*/ES256/ES384/EdDSA",
        ),
        SettingSpec::url(
            "jwks-url",
            "the identity provider's jwks_uri (https://), fetched by Prism, refreshed, and fetched again for an unknown kid",
        ),
        SettingSpec::value("jwks", "the JWKS document, inline (instead of jwks-file)"),
        SettingSpec::file(
            "secret-file",
            "a shared secret of at least 32 bytes, for HS256/384/512",
        ),
        SettingSpec::value("issuer", "the `iss` tokens must carry (required)"),
        SettingSpec::value(
            "audience",
            "accepted `aud` values, comma-separated (required; `*` accepts any)",
        ),
        SettingSpec::value(
            "leeway-secs",
            "clock skew allowed on exp and nbf, in seconds (default 60)",
        ),
        SettingSpec::value("user-claim", "claim holding the user id (default `sub`)"),
        SettingSpec::value(
            "tenant-claim",
            "claim holding the tenant (default: any tenant)",
        ),
        SettingSpec::value(
            "databases-claim",
            "claim holding the databases, a string or list (default: any database)",
        ),
        SettingSpec::value(
            "roles-claim",
            "claim holding the roles, a string or list, e.g. realm_access.roles",
        ),
    ]
}

/// The keys and the claim rules.
pub fn read(config: &Config) -> Result<(KeySet, ClaimRules), ConfigError> {
    let mut keys = KeySet::default();
    if let Some(source) = config.text_from("jwks", "jwks-file")? {
        keys.add_jwks(&source)?;
    }
    if let Some(fetched) = config.file("jwks-url") {
        keys.add_jwks(&fetched.text()?)?;
    }
    if let Some(file) = config.file("secret-file") {
        keys.add_secret(&file.path, &file.contents)?;
    }
    if keys.len() == 0 {
        return Err(ConfigError::new(
            "no key to verify tokens with: set `jwks-url` or `jwks-file` (the identity provider's JWKS), `jwks` or `secret-file` (an HMAC secret)",
        ));
    }
    let issuer = non_empty(config, "issuer")?.ok_or_else(|| {
        ConfigError::new(
            "set `issuer` to the iss your identity provider puts in tokens (Keycloak: https://HOST/realms/REALM)",
        )
    })?;
    let audience = non_empty(config, "audience")?.ok_or_else(|| {
        ConfigError::new(
            "set `audience` to the aud tokens for Prism carry (the client id), or `*` to accept any",
        )
    })?;
    let audiences = if audience == "*" {
        Vec::new()
    } else {
        audience
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect()
    };
    let leeway = match config.setting("leeway-secs") {
        None => DEFAULT_LEEWAY_SECS,
        Some(text) => text
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|s| *s <= MAX_LEEWAY_SECS)
            .ok_or_else(|| {
                ConfigError::new(format!(
                    "leeway-secs `{text}` is not a number of seconds from 0 to {MAX_LEEWAY_SECS}"
                ))
            })?,
    };
    let rules = ClaimRules {
        issuer,
        audiences,
        leeway,
        user: claim(config, "user-claim")?
            .unwrap_or_else(|| ClaimPath::parse("sub").expect("a valid path")),
        tenant: claim(config, "tenant-claim")?,
        databases: claim(config, "databases-claim")?,
        roles: claim(config, "roles-claim")?,
    };
    Ok((keys, rules))
}

/// A setting's value; an empty one is refused rather than taken as unset.
fn non_empty(config: &Config, key: &str) -> Result<Option<String>, ConfigError> {
    match config.setting(key).map(str::trim) {
        None => Ok(None),
        Some("") => Err(ConfigError::new(format!("`{key}` is empty"))),
        Some(value) => Ok(Some(value.to_string())),
    }
}

fn claim(config: &Config, key: &str) -> Result<Option<ClaimPath>, ConfigError> {
    non_empty(config, key)?
        .map(|text| {
            ClaimPath::parse(&text).ok_or_else(|| {
                ConfigError::new(format!(
                    "{key} `{text}` is not a claim name or dotted path (realm_access.roles)"
                ))
            })
        })
        .transpose()
}

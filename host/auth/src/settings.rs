//! Which providers to use and how to configure them, from the environment:
//! Chroma's variables (current and 0.4-era names) plus Prism's own.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use prism_plugin_host::SandboxLimits;

use crate::fetch::FetchSettings;
use crate::limiter::LimitSettings;

/// Where built-in and custom plugins are looked for when `PRISM_PLUGIN_DIR`
/// is not set.
pub const DEFAULT_PLUGIN_DIR: &str = "/etc/prism/plugins";

/// How long a verified credential is trusted without asking the plugin again.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);

/// A problem with the auth environment.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct SettingsError {
    /// The variable at fault.
    pub var: String,
    /// What is wrong.
    pub message: String,
}

/// One setting for a plugin and the variable it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingValue {
    /// The plugin's key (`credentials-file`).
    pub key: String,
    /// The value (for file settings, the path).
    pub value: String,
    /// The environment variable that set it.
    pub var: String,
    /// Set through Chroma's variables: passed only if the plugin reads the
    /// key (Chroma ignores variables its provider does not use), where a
    /// generic `PRISM_*_OPT_*` setting the plugin does not read is an error.
    pub lenient: bool,
}

/// The provider chosen for one kind of decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderChoice {
    /// The name or alias asked for.
    pub name: String,
    /// The variable that asked for it.
    pub var: String,
    /// Its settings.
    pub settings: Vec<SettingValue>,
    /// The deadline and memory cap of its calls: the global ones unless
    /// `PRISM_AUTHN_PLUGIN_*` / `PRISM_AUTHZ_PLUGIN_*` set its own.
    pub limits: SandboxLimits,
    /// The SHA-256 (lower-case hex) its component must have, when pinned.
    pub sha256: Option<String>,
}

/// Everything about auth that the environment decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// The authentication provider, if any.
    pub authn: Option<ProviderChoice>,
    /// The authorization provider, if any.
    pub authz: Option<ProviderChoice>,
    /// Directory of extra plugins.
    pub plugin_dir: PathBuf,
    /// Whether the directory was set explicitly (then it must exist).
    pub plugin_dir_explicit: bool,
    /// Sandbox limits for plugin calls.
    pub limits: SandboxLimits,
    /// Credential cache lifetime (zero disables the cache).
    pub cache_ttl: Duration,
    /// Chroma's `chroma_overwrite_singleton_tenant_database_access_from_auth`.
    pub overwrite_singleton: bool,
    /// Brute-force limits on failed authentications.
    pub limits_on_failures: LimitSettings,
    /// Peers whose `X-Forwarded-For` is believed (exact addresses, or `*`).
    pub trusted_proxies: Vec<String>,
    /// How plugins' `url` settings are fetched.
    pub fetch: FetchSettings,
    /// Where compiled plugins are kept across restarts (`None`: nowhere).
    pub plugin_cache_dir: Option<PathBuf>,
}

/// Every environment variable the auth gate reads, besides the
/// [`OPTION_PREFIXES`] ones; the server refuses unknown auth variables
/// against this list.
pub const VARIABLES: &[&str] = &[
    "CHROMA_SERVER_AUTHN_PROVIDER",
    "CHROMA_SERVER_AUTH_PROVIDER",
    "CHROMA_SERVER_AUTHZ_PROVIDER",
    "CHROMA_SERVER_AUTHN_CREDENTIALS",
    "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE",
    "CHROMA_AUTH_TOKEN_TRANSPORT_HEADER",
    "CHROMA_SERVER_AUTH_CREDENTIALS",
    "CHROMA_SERVER_AUTH_CREDENTIALS_FILE",
    "CHROMA_SERVER_AUTH_TOKEN_TRANSPORT_HEADER",
    "CHROMA_SERVER_AUTHZ_CONFIG",
    "CHROMA_SERVER_AUTHZ_CONFIG_FILE",
    "CHROMA_OVERWRITE_SINGLETON_TENANT_DATABASE_ACCESS_FROM_AUTH",
    "PRISM_PLUGIN_TIMEOUT_MS",
    "PRISM_PLUGIN_MEMORY_MB",
    "PRISM_AUTH_CACHE_TTL_SECS",
    "PRISM_AUTH_MAX_FAILURES",
    "PRISM_AUTH_FAILURE_WINDOW_SECS",
    "PRISM_TRUSTED_PROXIES",
    "PRISM_PLUGIN_DIR",
    "PRISM_AUTH_FETCH_CA_FILE",
    "PRISM_AUTH_FETCH_TIMEOUT_SECS",
    "PRISM_AUTH_FETCH_REFRESH_SECS",
    "PRISM_AUTH_FETCH_MIN_INTERVAL_SECS",
    "PRISM_PLUGIN_CACHE_DIR",
    "PRISM_AUTHN_PLUGIN_TIMEOUT_MS",
    "PRISM_AUTHN_PLUGIN_MEMORY_MB",
    "PRISM_AUTHN_PLUGIN_SHA256",
    "PRISM_AUTHN_PLUGIN_INSTANCES",
    "PRISM_AUTHZ_PLUGIN_TIMEOUT_MS",
    "PRISM_AUTHZ_PLUGIN_MEMORY_MB",
    "PRISM_AUTHZ_PLUGIN_SHA256",
    "PRISM_AUTHZ_PLUGIN_INSTANCES",
];

/// Prefixes of the variables that set any plugin setting by its key.
pub const OPTION_PREFIXES: &[&str] = &["PRISM_AUTHN_OPT_", "PRISM_AUTHZ_OPT_"];

/// Plugin settings that carry secrets or policy: given to a provider that
/// does not read them, or with no provider selected, they would protect
/// nothing while the operator believes they do.
pub(crate) const MUST_BE_READ: &[&str] =
    &["credentials", "credentials-file", "config", "config-file"];

const AUTHN_VARS: &[(&str, &str)] = &[
    ("CHROMA_SERVER_AUTHN_CREDENTIALS", "credentials"),
    ("CHROMA_SERVER_AUTHN_CREDENTIALS_FILE", "credentials-file"),
    (
        "CHROMA_AUTH_TOKEN_TRANSPORT_HEADER",
        "token-transport-header",
    ),
    // Chroma 0.4's names.
    ("CHROMA_SERVER_AUTH_CREDENTIALS", "credentials"),
    ("CHROMA_SERVER_AUTH_CREDENTIALS_FILE", "credentials-file"),
    (
        "CHROMA_SERVER_AUTH_TOKEN_TRANSPORT_HEADER",
        "token-transport-header",
    ),
];

const AUTHZ_VARS: &[(&str, &str)] = &[
    ("CHROMA_SERVER_AUTHZ_CONFIG", "config"),
    ("CHROMA_SERVER_AUTHZ_CONFIG_FILE", "config-file"),
];

impl AuthSettings {
    /// The header the authentication provider is told to read tokens from
    /// (`CHROMA_AUTH_TOKEN_TRANSPORT_HEADER`), if set.
    pub fn token_transport_header(&self) -> Option<&str> {
        self.authn
            .as_ref()?
            .settings
            .iter()
            .find(|s| s.key == "token-transport-header")
            .map(|s| s.value.as_str())
    }

    /// Read the settings from environment variables (empty values count as
    /// unset, as docker-compose's `${VAR}` of an unset variable is empty).
    pub fn from_env(vars: &BTreeMap<String, String>) -> Result<Self, SettingsError> {
        let get = |name: &str| vars.get(name).map(|v| unquote(v)).filter(|v| !v.is_empty());
        let authn_var = [
            "CHROMA_SERVER_AUTHN_PROVIDER",
            "CHROMA_SERVER_AUTH_PROVIDER",
        ]
        .into_iter()
        .find(|v| get(v).is_some());
        let mut limits = SandboxLimits::default();
        if let Some(ms) = number(vars, "PRISM_PLUGIN_TIMEOUT_MS", 1, 600_000)? {
            limits.call_timeout = Duration::from_millis(ms);
        }
        if let Some(mb) = number(vars, "PRISM_PLUGIN_MEMORY_MB", 4, 65_536)? {
            limits.memory_bytes = (mb as usize) << 20;
        }
        let authn = authn_var
            .map(|var| -> Result<ProviderChoice, SettingsError> {
                Ok(ProviderChoice {
                    name: get(var).unwrap_or_default().to_string(),
                    var: var.to_string(),
                    settings: collect(vars, AUTHN_VARS, "PRISM_AUTHN_OPT_"),
                    limits: plugin_limits(vars, "PRISM_AUTHN_PLUGIN_", limits)?,
                    sha256: pinned(vars, "PRISM_AUTHN_PLUGIN_SHA256")?,
                })
            })
            .transpose()?;
        let authz = get("CHROMA_SERVER_AUTHZ_PROVIDER")
            .map(|name| -> Result<ProviderChoice, SettingsError> {
                Ok(ProviderChoice {
                    name: name.to_string(),
                    var: "CHROMA_SERVER_AUTHZ_PROVIDER".into(),
                    settings: collect(vars, AUTHZ_VARS, "PRISM_AUTHZ_OPT_"),
                    limits: plugin_limits(vars, "PRISM_AUTHZ_PLUGIN_", limits)?,
                    sha256: pinned(vars, "PRISM_AUTHZ_PLUGIN_SHA256")?,
                })
            })
            .transpose()?;
        for (prefix, chosen, provider) in [
            (
                "PRISM_AUTHN_PLUGIN_",
                authn.is_some(),
                "CHROMA_SERVER_AUTHN_PROVIDER",
            ),
            (
                "PRISM_AUTHZ_PLUGIN_",
                authz.is_some(),
                "CHROMA_SERVER_AUTHZ_PROVIDER",
            ),
        ] {
            if let Some(var) = vars
                .iter()
                .find(|(k, v)| k.starts_with(prefix) && !unquote(v).is_empty())
                .map(|(k, _)| k)
                .filter(|_| !chosen)
            {
                return Err(SettingsError {
                    var: var.clone(),
                    message: format!("applies to no plugin: {provider} is not set"),
                });
            }
        }
        if authn.is_none() {
            unread(
                vars,
                AUTHN_VARS,
                "PRISM_AUTHN_OPT_",
                "an authentication provider (CHROMA_SERVER_AUTHN_PROVIDER)",
            )?;
        }
        if authz.is_none() {
            unread(
                vars,
                AUTHZ_VARS,
                "PRISM_AUTHZ_OPT_",
                "an authorization provider (CHROMA_SERVER_AUTHZ_PROVIDER)",
            )?;
        }
        let cache_ttl = number(vars, "PRISM_AUTH_CACHE_TTL_SECS", 0, 86_400)?
            .map_or(DEFAULT_CACHE_TTL, Duration::from_secs);
        let overwrite_singleton =
            match get("CHROMA_OVERWRITE_SINGLETON_TENANT_DATABASE_ACCESS_FROM_AUTH") {
                None => false,
                Some(v) => parse_bool(v).ok_or_else(|| SettingsError {
                    var: "CHROMA_OVERWRITE_SINGLETON_TENANT_DATABASE_ACCESS_FROM_AUTH".into(),
                    message: format!("`{v}` is not true or false"),
                })?,
            };
        let mut limits_on_failures = LimitSettings::default();
        if let Some(n) = number(vars, "PRISM_AUTH_MAX_FAILURES", 0, 1_000_000)? {
            limits_on_failures.max_failures = n as u32;
        }
        if let Some(secs) = number(vars, "PRISM_AUTH_FAILURE_WINDOW_SECS", 1, 86_400)? {
            limits_on_failures.window = Duration::from_secs(secs);
        }
        let trusted_proxies = get("PRISM_TRUSTED_PROXIES")
            .map(|v| {
                v.split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let plugin_dir = get("PRISM_PLUGIN_DIR");
        let mut fetch = FetchSettings {
            ca_file: get("PRISM_AUTH_FETCH_CA_FILE").map(PathBuf::from),
            ..FetchSettings::default()
        };
        if let Some(secs) = number(vars, "PRISM_AUTH_FETCH_TIMEOUT_SECS", 1, 300)? {
            fetch.timeout = Duration::from_secs(secs);
        }
        if let Some(secs) = number(vars, "PRISM_AUTH_FETCH_REFRESH_SECS", 1, 86_400)? {
            fetch.refresh = Duration::from_secs(secs);
        }
        if let Some(secs) = number(vars, "PRISM_AUTH_FETCH_MIN_INTERVAL_SECS", 0, 86_400)? {
            fetch.min_interval = Duration::from_secs(secs);
        }
        Ok(AuthSettings {
            authn,
            authz,
            plugin_dir: PathBuf::from(plugin_dir.unwrap_or(DEFAULT_PLUGIN_DIR)),
            plugin_dir_explicit: plugin_dir.is_some(),
            limits,
            cache_ttl,
            overwrite_singleton,
            limits_on_failures,
            trusted_proxies,
            fetch,
            plugin_cache_dir: plugin_cache_dir(vars),
        })
    }
}

/// A value as written in a compose file's list form (`- KEY="value"`) keeps
/// its quotes; Chroma users' files do this, so one pair of matching
/// surrounding quotes is dropped.
fn unquote(value: &str) -> &str {
    let v = value.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

fn collect(
    vars: &BTreeMap<String, String>,
    chroma: &[(&str, &str)],
    generic_prefix: &str,
) -> Vec<SettingValue> {
    let mut out: Vec<SettingValue> = Vec::new();
    for (var, key) in chroma {
        let Some(value) = vars.get(*var).map(|v| unquote(v)).filter(|v| !v.is_empty()) else {
            continue;
        };
        // The current name wins over the 0.4-era one for the same key.
        if out.iter().any(|s| s.key == *key) {
            continue;
        }
        out.push(SettingValue {
            key: (*key).to_string(),
            value: value.to_string(),
            var: (*var).to_string(),
            lenient: true,
        });
    }
    for (var, value) in vars {
        let Some(suffix) = var.strip_prefix(generic_prefix) else {
            continue;
        };
        let value = unquote(value);
        if value.is_empty() || suffix.is_empty() {
            continue;
        }
        let key = suffix.to_ascii_lowercase().replace('_', "-");
        out.retain(|s| s.key != key);
        out.push(SettingValue {
            key,
            value: value.to_string(),
            var: var.clone(),
            lenient: false,
        });
    }
    out
}

/// Refuse settings for a provider that is not selected: credentials or a
/// policy nobody reads mean the server is more open than its operator thinks.
fn unread(
    vars: &BTreeMap<String, String>,
    chroma: &[(&str, &str)],
    generic_prefix: &str,
    missing: &str,
) -> Result<(), SettingsError> {
    let Some(setting) = collect(vars, chroma, generic_prefix)
        .into_iter()
        .find(|s| !s.lenient || MUST_BE_READ.contains(&s.key.as_str()))
    else {
        return Ok(());
    };
    Err(SettingsError {
        message: format!(
            "is set, but no provider reads it: select {missing}, or unset {}",
            setting.var
        ),
        var: setting.var,
    })
}

/// `PRISM_PLUGIN_CACHE_DIR` (`off`: none), else the user's cache directory
/// (`$XDG_CACHE_HOME/prism/plugins`, `$HOME/.cache/prism/plugins`), as
/// wasmtime's own command line keeps its cache.
fn plugin_cache_dir(vars: &BTreeMap<String, String>) -> Option<PathBuf> {
    let get = |name: &str| vars.get(name).map(|v| unquote(v)).filter(|v| !v.is_empty());
    match get("PRISM_PLUGIN_CACHE_DIR") {
        Some(v) if v.eq_ignore_ascii_case("off") => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => get("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| get("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .map(|cache| cache.join("prism").join("plugins")),
    }
}

/// One plugin's limits: `global`, with `PREFIX` `TIMEOUT_MS` / `MEMORY_MB`
/// in place of the global values where set, and `PREFIX` `INSTANCES`.
fn plugin_limits(
    vars: &BTreeMap<String, String>,
    prefix: &str,
    global: SandboxLimits,
) -> Result<SandboxLimits, SettingsError> {
    let mut limits = global;
    if let Some(ms) = number(vars, &format!("{prefix}TIMEOUT_MS"), 1, 600_000)? {
        limits.call_timeout = Duration::from_millis(ms);
    }
    if let Some(mb) = number(vars, &format!("{prefix}MEMORY_MB"), 4, 65_536)? {
        limits.memory_bytes = (mb as usize) << 20;
    }
    if let Some(n) = number(vars, &format!("{prefix}INSTANCES"), 1, 1_024)? {
        limits.instances = Some(n as u32);
    }
    Ok(limits)
}

/// A pinned SHA-256: 64 hex digits (as `sha256sum` or `prism plugin hash`
/// print them), lower-cased.
fn pinned(vars: &BTreeMap<String, String>, var: &str) -> Result<Option<String>, SettingsError> {
    let Some(raw) = vars
        .get(var)
        .map(|v| unquote(v).trim())
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    // `sha256sum` prints `DIGEST  FILE`; `sha256:DIGEST` is the OCI form.
    let digest = raw.split_whitespace().next().unwrap_or(raw);
    let digest = digest.strip_prefix("sha256:").unwrap_or(digest);
    if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(Some(digest.to_ascii_lowercase()))
    } else {
        Err(SettingsError {
            var: var.to_string(),
            message: format!("`{raw}` is not a SHA-256 (64 hex digits)"),
        })
    }
}

fn number(
    vars: &BTreeMap<String, String>,
    var: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, SettingsError> {
    let Some(raw) = vars.get(var).map(|v| unquote(v)).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match raw.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(SettingsError {
            var: var.to_string(),
            message: format!("`{raw}` is not a whole number from {min} to {max}"),
        }),
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_read_here_is_listed() {
        let source = include_str!("settings.rs");
        let names: Vec<&str> = source
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.starts_with("CHROMA_") || s.starts_with("PRISM_"))
            // Whole names; prefixes such as "PRISM_" end in `_`.
            .filter(|s| !s.ends_with('_'))
            .filter(|s| s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
            .collect();
        assert!(names.len() > 20);
        for name in names {
            assert!(
                VARIABLES.contains(&name) || OPTION_PREFIXES.iter().any(|p| name.starts_with(p)),
                "{name} is read but not in VARIABLES"
            );
        }
    }

    #[test]
    fn credentials_or_a_policy_for_no_provider_are_refused() {
        for (var, value) in [
            ("CHROMA_SERVER_AUTHN_CREDENTIALS_FILE", "/etc/users"),
            ("CHROMA_SERVER_AUTH_CREDENTIALS", "admin:pw"),
            ("PRISM_AUTHN_OPT_KEYS_FILE", "/k"),
            ("CHROMA_SERVER_AUTHZ_CONFIG_FILE", "/etc/authz.yaml"),
        ] {
            let err = AuthSettings::from_env(&vars(&[(var, value)])).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.message.contains("no provider reads it"), "{err}");
        }
        // A transport header is also a client setting: not a refusal.
        assert!(
            AuthSettings::from_env(&vars(&[(
                "CHROMA_AUTH_TOKEN_TRANSPORT_HEADER",
                "X-Chroma-Token"
            )]))
            .is_ok()
        );
        // Empty, as compose writes an unset ${VAR}: not set at all.
        assert!(
            AuthSettings::from_env(&vars(&[("CHROMA_SERVER_AUTHN_CREDENTIALS_FILE", "")])).is_ok()
        );
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn nothing_set_means_no_auth() {
        let s = AuthSettings::from_env(&vars(&[])).unwrap();
        assert_eq!((s.authn, s.authz), (None, None));
        assert_eq!(s.plugin_dir, PathBuf::from(DEFAULT_PLUGIN_DIR));
        assert_eq!(s.limits, SandboxLimits::default());
    }

    #[test]
    fn chroma_variables_map_to_plugin_keys() {
        let s = AuthSettings::from_env(&vars(&[
            (
                "CHROMA_SERVER_AUTHN_PROVIDER",
                "chromadb.auth.token_authn.TokenAuthenticationServerProvider",
            ),
            ("CHROMA_SERVER_AUTHN_CREDENTIALS_FILE", "/etc/users.yaml"),
            ("CHROMA_AUTH_TOKEN_TRANSPORT_HEADER", "X-Chroma-Token"),
            ("CHROMA_SERVER_AUTH_CREDENTIALS_FILE", "/old/ignored"),
            ("CHROMA_SERVER_AUTHN_CREDENTIALS", ""),
            ("CHROMA_SERVER_AUTHZ_PROVIDER", "rbac"),
            ("CHROMA_SERVER_AUTHZ_CONFIG_FILE", "/etc/authz.yaml"),
            ("PRISM_AUTHZ_OPT_EXTRA_KEY", "v"),
        ]))
        .unwrap();
        let authn = s.authn.unwrap();
        let keys: Vec<(&str, &str)> = authn
            .settings
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("credentials-file", "/etc/users.yaml"),
                ("token-transport-header", "X-Chroma-Token")
            ]
        );
        let authz = s.authz.unwrap();
        assert_eq!(authz.settings[0].key, "config-file");
        assert_eq!(
            (authz.settings[1].key.as_str(), authz.settings[1].lenient),
            ("extra-key", false)
        );
    }

    #[test]
    fn compose_list_quotes_are_dropped() {
        let s = AuthSettings::from_env(&vars(&[
            ("CHROMA_SERVER_AUTHN_PROVIDER", "\"token\""),
            ("CHROMA_SERVER_AUTHN_CREDENTIALS", "\"chr0ma-t0k3n\""),
            ("CHROMA_AUTH_TOKEN_TRANSPORT_HEADER", "'Authorization'"),
        ]))
        .unwrap();
        let authn = s.authn.unwrap();
        assert_eq!(authn.name, "token");
        assert_eq!(authn.settings[0].value, "chr0ma-t0k3n");
        assert_eq!(authn.settings[1].value, "Authorization");
        assert_eq!(unquote("\"a"), "\"a");
    }

    #[test]
    fn chroma_0_4_names_still_work() {
        let s = AuthSettings::from_env(&vars(&[
            (
                "CHROMA_SERVER_AUTH_PROVIDER",
                "chromadb.auth.basic.BasicAuthServerProvider",
            ),
            ("CHROMA_SERVER_AUTH_CREDENTIALS_FILE", "server.htpasswd"),
        ]))
        .unwrap();
        let authn = s.authn.unwrap();
        assert_eq!(authn.var, "CHROMA_SERVER_AUTH_PROVIDER");
        assert_eq!(authn.settings[0].key, "credentials-file");
    }

    #[test]
    fn each_plugin_may_have_its_own_limits_and_pin() {
        let digest = "AB".repeat(32);
        let s = AuthSettings::from_env(&vars(&[
            ("CHROMA_SERVER_AUTHN_PROVIDER", "token"),
            ("CHROMA_SERVER_AUTHZ_PROVIDER", "rbac"),
            ("PRISM_PLUGIN_TIMEOUT_MS", "500"),
            ("PRISM_AUTHZ_PLUGIN_TIMEOUT_MS", "9000"),
            ("PRISM_AUTHN_PLUGIN_MEMORY_MB", "256"),
            ("PRISM_AUTHN_PLUGIN_INSTANCES", "1"),
            (
                "PRISM_AUTHN_PLUGIN_SHA256",
                &format!("{digest}  plugin.wasm"),
            ),
        ]))
        .unwrap();
        let (authn, authz) = (s.authn.unwrap(), s.authz.unwrap());
        assert_eq!(authn.limits.call_timeout, Duration::from_millis(500));
        assert_eq!(authn.limits.memory_bytes, 256 << 20);
        assert_eq!(authz.limits.call_timeout, Duration::from_millis(9000));
        assert_eq!(authz.limits.memory_bytes, s.limits.memory_bytes);
        assert_eq!(
            (authn.limits.instances, authz.limits.instances),
            (Some(1), None)
        );
        assert_eq!(authn.sha256, Some("ab".repeat(32)));
        assert_eq!(authz.sha256, None);

        for (var, value, says) in [
            ("PRISM_AUTHN_PLUGIN_SHA256", "abc", "not a SHA-256"),
            ("PRISM_AUTHN_PLUGIN_TIMEOUT_MS", "0", "whole number"),
            ("PRISM_AUTHZ_PLUGIN_MEMORY_MB", "64", "applies to no plugin"),
            ("PRISM_AUTHN_PLUGIN_INSTANCES", "0", "whole number"),
        ] {
            let e = AuthSettings::from_env(&vars(&[
                ("CHROMA_SERVER_AUTHN_PROVIDER", "token"),
                (var, value),
            ]))
            .unwrap_err();
            assert_eq!(e.var, var);
            assert!(e.message.contains(says), "{e}");
        }
    }

    #[test]
    fn limits_and_flags_are_validated() {
        let s = AuthSettings::from_env(&vars(&[
            ("PRISM_PLUGIN_TIMEOUT_MS", "500"),
            ("PRISM_PLUGIN_MEMORY_MB", "32"),
            ("PRISM_AUTH_CACHE_TTL_SECS", "0"),
            (
                "CHROMA_OVERWRITE_SINGLETON_TENANT_DATABASE_ACCESS_FROM_AUTH",
                "True",
            ),
            ("PRISM_PLUGIN_DIR", "/plugins"),
        ]))
        .unwrap();
        assert_eq!(s.limits.call_timeout, Duration::from_millis(500));
        assert_eq!(s.limits.memory_bytes, 32 << 20);
        assert!(s.cache_ttl.is_zero() && s.overwrite_singleton && s.plugin_dir_explicit);
        for bad in [
            ("PRISM_PLUGIN_TIMEOUT_MS", "0"),
            ("PRISM_PLUGIN_MEMORY_MB", "lots"),
            (
                "CHROMA_OVERWRITE_SINGLETON_TENANT_DATABASE_ACCESS_FROM_AUTH",
                "maybe",
            ),
        ] {
            let e = AuthSettings::from_env(&vars(&[bad])).unwrap_err();
            assert_eq!(e.var, bad.0);
        }
    }
}

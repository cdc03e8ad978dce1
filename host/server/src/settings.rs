//! Server settings from three sources, in order of precedence: command-line
//! flags, environment variables (Chroma's names), then a YAML config file
//! (Chroma's `chroma run config.yaml` keys).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use prism_engine::validate::limits::{self, Limit, WriteLimits};

use crate::console::ConsoleSettings;
use crate::console::settings::parse_login_form;
use crate::gateway::UpstreamSettings;
use crate::otlp::OtlpSettings;
use crate::otlp::settings::OpenTelemetryConfig;
use serde::Deserialize;
use thiserror::Error;

/// The YAML config file; the keys of Chroma's `rust/frontend/src/config.rs`
/// that mean something to a single-node server.
#[derive(Debug, Default, Deserialize)]
pub struct FileConfig {
    /// Data directory.
    pub persist_path: Option<PathBuf>,
    /// Listen port.
    pub port: Option<u16>,
    /// Listen address.
    pub listen_address: Option<String>,
    /// Largest request body.
    pub max_payload_size_bytes: Option<usize>,
    /// CORS origins.
    pub cors_allow_origins: Option<Vec<String>>,
    /// Allow `POST /reset`.
    pub allow_reset: Option<bool>,
    /// Key file of an encrypted data directory (Prism's own key).
    pub encryption_key_file: Option<PathBuf>,
    /// Gateway mode: the Chroma to forward to (Prism's own key).
    pub upstream: Option<String>,
    /// Where traces go (Chroma's key).
    pub open_telemetry: Option<OpenTelemetryConfig>,
    /// Chroma keys Prism accepts and ignores (so Chroma's files load unchanged).
    #[serde(flatten)]
    pub ignored: serde_yaml::Mapping,
}

/// The config file keys Prism reads.
pub const CONFIG_KEYS: &[&str] = &[
    "persist_path",
    "port",
    "listen_address",
    "max_payload_size_bytes",
    "cors_allow_origins",
    "allow_reset",
    "encryption_key_file",
    "upstream",
    "open_telemetry",
];

/// Keys of Chroma's `chroma run` config file that mean nothing to a single
/// Prism server; accepted so Chroma's files load unchanged.
pub const CHROMA_CONFIG_KEYS: &[&str] = &[
    "sqlite_filename",
    "sqlitedb",
    "service_name",
    "circuit_breaker",
    "scorecard_enabled",
    "scorecard",
    "sysdb",
    "log",
    "executor",
    "collections_with_segments_provider",
    "default_knn_index",
    "enable_span_indexing",
    "tenants_to_migrate_immediately",
    "tenants_to_migrate_immediately_threshold",
];

/// Problems with the configuration.
#[derive(Debug, Error)]
pub enum SettingsError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The config file is not valid YAML of the expected shape.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// File.
        path: PathBuf,
        /// Cause.
        source: serde_yaml::Error,
    },
    /// An environment variable has a value that cannot be used.
    #[error("invalid value for {name}: {detail}")]
    Env {
        /// Variable.
        name: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// The effective settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Listen host.
    pub host: String,
    /// Listen port.
    pub port: u16,
    /// Data directory.
    pub persist_path: PathBuf,
    /// Allow reset.
    pub allow_reset: bool,
    /// Key file of an encrypted data directory; `None` serves it plain.
    pub encryption_key_file: Option<PathBuf>,
    /// CORS origins.
    pub cors_allow_origins: Vec<String>,
    /// Largest request body.
    pub max_payload_bytes: usize,
    /// Most results one query request may return.
    pub max_query_results: usize,
    /// Most vectors a collection holds outside its graph before writes wait
    /// for the indexer.
    pub max_unindexed_vectors: usize,
    /// What one add, update or upsert may hold.
    pub write_limits: WriteLimits,
    /// Time a client has to send a request head.
    pub header_timeout: Duration,
    /// Time a keep-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// Time a client has to send a request body.
    pub body_timeout: Duration,
    /// Most connections open at once; `None` derives it from the open-file
    /// limit.
    pub max_connections: Option<usize>,
    /// The web console.
    pub console: ConsoleSettings,
    /// Gateway mode: the upstream Chroma; `None` serves the data directory.
    pub upstream: Option<UpstreamSettings>,
    /// Serve `GET /metrics` (`PRISM_METRICS`, on by default; guarded by
    /// authentication when it is on).
    pub metrics: bool,
    /// Export traces over OTLP, when an endpoint is configured.
    pub otlp: Option<OtlpSettings>,
}

/// Defaults, as `chroma run` has them (with Prism's own data directory).
pub const DEFAULT_HOST: &str = "localhost";
/// Default port.
pub const DEFAULT_PORT: u16 = 8000;
/// Default data directory.
pub const DEFAULT_PATH: &str = "./prism-data";
/// Chroma's default body limit: 40 MiB.
pub const DEFAULT_MAX_PAYLOAD: usize = 40 * 1024 * 1024;
/// Default header timeout (hyper's and Go's usual): generous for any client
/// that means to send a request.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Default idle timeout: longer than clients keep idle connections to reuse
/// (the Python client 40 s, Go's default 90 s), so a server-side close
/// never races a client's reuse.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Default body timeout: a 40 MiB body at about 1 Mbit/s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(300);

/// Values given on the command line.
#[derive(Debug, Default, Clone)]
pub struct FlagValues {
    /// `--host`.
    pub host: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--path`.
    pub path: Option<PathBuf>,
    /// `--encryption-key-file`.
    pub encryption_key_file: Option<PathBuf>,
    /// `--upstream`.
    pub upstream: Option<String>,
}

/// Read the environment through a lookup function (tests pass a map).
pub trait Env {
    /// The variable's value, if set.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment, read once at start-up: every setting, the auth
/// providers and their options come from this one copy, so no two parts of
/// start-up can see different environments.
#[derive(Debug, Clone, Default)]
pub struct EnvSnapshot {
    vars: BTreeMap<String, String>,
}

impl EnvSnapshot {
    /// Copy the process environment. A variable whose name or value is not
    /// UTF-8 cannot be one Prism reads, and is left out (rather than a
    /// panic, as `std::env::vars` would).
    pub fn capture() -> Self {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect::<BTreeMap<_, _>>()
            .into()
    }

    /// Every variable.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }
}

#[cfg(test)]
impl EnvSnapshot {
    /// An environment of exactly these variables, for tests.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>()
            .into()
    }
}

impl From<BTreeMap<String, String>> for EnvSnapshot {
    fn from(vars: BTreeMap<String, String>) -> Self {
        Self { vars }
    }
}

impl Env for EnvSnapshot {
    fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

fn env_bool(env: &dyn Env, name: &'static str) -> Result<Option<bool>, SettingsError> {
    env.get(name)
        .map(|v| match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            other => Err(SettingsError::Env {
                name,
                detail: format!("expected true or false, got {other:?}"),
            }),
        })
        .transpose()
}

fn env_parse<T: std::str::FromStr>(
    env: &dyn Env,
    name: &'static str,
) -> Result<Option<T>, SettingsError>
where
    T::Err: std::fmt::Display,
{
    env.get(name)
        .map(|v| {
            v.trim().parse::<T>().map_err(|e| SettingsError::Env {
                name,
                detail: e.to_string(),
            })
        })
        .transpose()
}

/// A duration in seconds (decimals allowed), more than zero.
fn env_secs(env: &dyn Env, name: &'static str) -> Result<Option<Duration>, SettingsError> {
    let Some(secs) = env_parse::<f64>(env, name)? else {
        return Ok(None);
    };
    let invalid = |detail: &str| SettingsError::Env {
        name,
        detail: format!("{detail}, got {secs}"),
    };
    if secs <= 0.0 {
        return Err(invalid("expected seconds, more than 0"));
    }
    Duration::try_from_secs_f64(secs)
        .map(Some)
        .map_err(|_| invalid("expected a number of seconds"))
}

/// A count of at least one.
fn env_positive(env: &dyn Env, name: &'static str) -> Result<Option<usize>, SettingsError> {
    match env_parse::<usize>(env, name)? {
        Some(0) => Err(SettingsError::Env {
            name,
            detail: "expected at least 1, got 0".to_string(),
        }),
        other => Ok(other),
    }
}

/// The bounds on one write: each `PRISM_MAX_*` variable of
/// [`prism_engine::validate::limits`], at least 1, or its default.
fn write_limits(env: &dyn Env) -> Result<WriteLimits, SettingsError> {
    let bound = |limit: Limit| -> Result<usize, SettingsError> {
        Ok(env_positive(env, limit.variable)?.unwrap_or(limit.default))
    };
    Ok(WriteLimits {
        max_batch_size: bound(limits::BATCH_SIZE)?,
        max_document_bytes: bound(limits::DOCUMENT_BYTES)?,
        max_metadata_keys: bound(limits::METADATA_KEYS)?,
        max_metadata_array_length: bound(limits::METADATA_ARRAY_LENGTH)?,
        max_batch_metadata_values: bound(limits::BATCH_METADATA_VALUES)?,
    })
}

/// `CHROMA_SERVER_CORS_ALLOW_ORIGINS` is a JSON list in Chroma; a comma list is accepted too.
fn env_origins(env: &dyn Env) -> Result<Option<Vec<String>>, SettingsError> {
    let name = "CHROMA_SERVER_CORS_ALLOW_ORIGINS";
    env.get(name)
        .map(|v| {
            let v = v.trim();
            if v.starts_with('[') {
                serde_json::from_str(v).map_err(|e| SettingsError::Env {
                    name,
                    detail: e.to_string(),
                })
            } else {
                Ok(v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect())
            }
        })
        .transpose()
}

/// `PRISM_CONSOLE`, `PRISM_CONSOLE_IDLE_TIMEOUT_SECS`,
/// `PRISM_CONSOLE_SESSION_LIFETIME_SECS`, `PRISM_CONSOLE_LOGIN`.
fn console_settings(env: &dyn Env) -> Result<ConsoleSettings, SettingsError> {
    let defaults = ConsoleSettings::default();
    let login = "PRISM_CONSOLE_LOGIN";
    Ok(ConsoleSettings {
        enabled: env_bool(env, "PRISM_CONSOLE")?.unwrap_or(defaults.enabled),
        idle_timeout: env_secs(env, "PRISM_CONSOLE_IDLE_TIMEOUT_SECS")?
            .unwrap_or(defaults.idle_timeout),
        lifetime: env_secs(env, "PRISM_CONSOLE_SESSION_LIFETIME_SECS")?
            .unwrap_or(defaults.lifetime),
        login: env
            .get(login)
            .map(|v| {
                parse_login_form(&v).map_err(|detail| SettingsError::Env {
                    name: login,
                    detail,
                })
            })
            .transpose()?,
    })
}

/// Load the config file.
pub fn load_file(path: &Path) -> Result<FileConfig, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
        path: path.into(),
        source,
    })?;
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    serde_yaml::from_str(&text).map_err(|source| SettingsError::Parse {
        path: path.into(),
        source,
    })
}

impl Settings {
    /// Combine flags, environment and file; flags win over env, env over file.
    pub fn resolve(
        flags: &FlagValues,
        env: &dyn Env,
        file: &FileConfig,
    ) -> Result<Self, SettingsError> {
        let persistent = env_bool(env, "IS_PERSISTENT")?;
        let env_path = env
            .get("PERSIST_DIRECTORY")
            .map(PathBuf::from)
            .or_else(|| env.get("CHROMA_PERSIST_PATH").map(PathBuf::from));
        if persistent == Some(false) {
            tracing::warn!(
                "IS_PERSISTENT=false: Prism always persists; data goes to the persist path"
            );
        }
        Ok(Self {
            host: flags
                .host
                .clone()
                .or_else(|| env.get("CHROMA_SERVER_HOST"))
                .or_else(|| env.get("CHROMA_HOST_ADDR"))
                .or_else(|| file.listen_address.clone())
                .unwrap_or_else(|| DEFAULT_HOST.to_string()),
            port: match flags.port {
                Some(p) => p,
                None => env_parse(env, "CHROMA_SERVER_HTTP_PORT")?
                    .or(env_parse(env, "CHROMA_HOST_PORT")?)
                    .or(file.port)
                    .unwrap_or(DEFAULT_PORT),
            },
            persist_path: flags
                .path
                .clone()
                .or(env_path)
                .or_else(|| file.persist_path.clone())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH)),
            encryption_key_file: flags
                .encryption_key_file
                .clone()
                .or_else(|| env.get("PRISM_ENCRYPTION_KEY_FILE").map(PathBuf::from))
                .or_else(|| file.encryption_key_file.clone()),
            allow_reset: env_bool(env, "ALLOW_RESET")?
                .or(file.allow_reset)
                .unwrap_or(false),
            cors_allow_origins: env_origins(env)?
                .or_else(|| file.cors_allow_origins.clone())
                .unwrap_or_default(),
            max_payload_bytes: env_parse(env, "CHROMA_MAX_PAYLOAD_SIZE_BYTES")?
                .or(file.max_payload_size_bytes)
                .unwrap_or(DEFAULT_MAX_PAYLOAD),
            max_query_results: env_parse(env, "PRISM_MAX_QUERY_RESULTS")?
                .unwrap_or(prism_engine::DEFAULT_MAX_QUERY_RESULTS),
            max_unindexed_vectors: env_positive(env, "PRISM_MAX_UNINDEXED_VECTORS")?
                .unwrap_or(prism_engine::index::DEFAULT_MAX_UNINDEXED),
            write_limits: write_limits(env)?,
            header_timeout: env_secs(env, "PRISM_HEADER_TIMEOUT_SECS")?
                .unwrap_or(DEFAULT_HEADER_TIMEOUT),
            idle_timeout: env_secs(env, "PRISM_IDLE_TIMEOUT_SECS")?.unwrap_or(DEFAULT_IDLE_TIMEOUT),
            body_timeout: env_secs(env, "PRISM_BODY_TIMEOUT_SECS")?.unwrap_or(DEFAULT_BODY_TIMEOUT),
            max_connections: env_positive(env, "PRISM_MAX_CONNECTIONS")?,
            console: console_settings(env)?,
            upstream: upstream_settings(flags, env, file)?,
            metrics: env_bool(env, "PRISM_METRICS")?.unwrap_or(true),
            otlp: crate::otlp::settings::resolve(env, file.open_telemetry.as_ref())?,
        })
    }
}

/// `--upstream` / `PRISM_UPSTREAM` / `upstream:` and the `PRISM_UPSTREAM_*`
/// variables that go with it.
fn upstream_settings(
    flags: &FlagValues,
    env: &dyn Env,
    file: &FileConfig,
) -> Result<Option<UpstreamSettings>, SettingsError> {
    let path = |name: &str| env.get(name).map(PathBuf::from);
    let url = flags
        .upstream
        .clone()
        .or_else(|| env.get("PRISM_UPSTREAM"))
        .or_else(|| file.upstream.clone());
    let Some(url) = url else {
        for name in [
            "PRISM_UPSTREAM_CA_FILE",
            "PRISM_UPSTREAM_CERT_FILE",
            "PRISM_UPSTREAM_KEY_FILE",
            "PRISM_UPSTREAM_TIMEOUT_SECS",
        ] {
            if env.get(name).is_some() {
                return Err(SettingsError::Env {
                    name: "PRISM_UPSTREAM",
                    detail: format!(
                        "{name} is set but no upstream is (--upstream or PRISM_UPSTREAM)"
                    ),
                });
            }
        }
        return Ok(None);
    };
    Ok(Some(UpstreamSettings {
        url: url.trim().to_string(),
        ca_file: path("PRISM_UPSTREAM_CA_FILE"),
        client_certificate: path("PRISM_UPSTREAM_CERT_FILE"),
        client_key: path("PRISM_UPSTREAM_KEY_FILE"),
        http2: false,
        timeout: env_secs(env, "PRISM_UPSTREAM_TIMEOUT_SECS")?
            .unwrap_or(crate::gateway::upstream::DEFAULT_TIMEOUT),
    }))
}

/// The socket address for a listen host and port.
pub fn listen_address(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    // "localhost" may resolve to ::1 first; Chroma's clients and tests use IPv4.
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .with_context(|| format!("cannot resolve listen host {host}"))?
        .next()
        .with_context(|| format!("listen host {host} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<&'static str, &'static str>);

    impl Env for MapEnv {
        fn get(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    fn env(pairs: &[(&'static str, &'static str)]) -> MapEnv {
        MapEnv(pairs.iter().copied().collect())
    }

    #[test]
    fn defaults_mirror_chroma_run() {
        let s =
            Settings::resolve(&FlagValues::default(), &env(&[]), &FileConfig::default()).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.allow_reset),
            ("localhost", 8000, false)
        );
        assert_eq!(s.persist_path, PathBuf::from("./prism-data"));
        assert_eq!(s.max_payload_bytes, 40 * 1024 * 1024);
    }

    #[test]
    fn flags_beat_env_and_env_beats_file() {
        let file: FileConfig = serde_yaml::from_str(
            "persist_path: /file\nport: 7000\nallow_reset: false\nopen_telemetry: {}\n",
        )
        .unwrap();
        let e = env(&[
            ("PERSIST_DIRECTORY", "/env"),
            ("CHROMA_SERVER_HTTP_PORT", "7100"),
            ("ALLOW_RESET", "TRUE"),
        ]);
        let s = Settings::resolve(&FlagValues::default(), &e, &file).unwrap();
        assert_eq!(
            (s.persist_path.to_str().unwrap(), s.port, s.allow_reset),
            ("/env", 7100, true)
        );
        let flags = FlagValues {
            port: Some(7200),
            path: Some("/flag".into()),
            host: None,
            encryption_key_file: None,
            upstream: None,
        };
        let s = Settings::resolve(&flags, &e, &file).unwrap();
        assert_eq!((s.persist_path.to_str().unwrap(), s.port), ("/flag", 7200));
        let s = Settings::resolve(&FlagValues::default(), &env(&[]), &file).unwrap();
        assert_eq!((s.persist_path.to_str().unwrap(), s.port), ("/file", 7000));
    }

    #[test]
    fn cors_origins_take_json_or_commas_and_bad_values_fail() {
        let s = Settings::resolve(
            &FlagValues::default(),
            &env(&[(
                "CHROMA_SERVER_CORS_ALLOW_ORIGINS",
                r#"["http://a", "http://b"]"#,
            )]),
            &FileConfig::default(),
        )
        .unwrap();
        assert_eq!(s.cors_allow_origins, ["http://a", "http://b"]);
        let s = Settings::resolve(
            &FlagValues::default(),
            &env(&[("CHROMA_SERVER_CORS_ALLOW_ORIGINS", "*")]),
            &FileConfig::default(),
        )
        .unwrap();
        assert_eq!(s.cors_allow_origins, ["*"]);
        assert!(
            Settings::resolve(
                &FlagValues::default(),
                &env(&[("ALLOW_RESET", "maybe")]),
                &FileConfig::default()
            )
            .is_err()
        );
        assert!(
            Settings::resolve(
                &FlagValues::default(),
                &env(&[("CHROMA_SERVER_HTTP_PORT", "x")]),
                &FileConfig::default()
            )
            .is_err()
        );
    }

    #[test]
    fn connection_timeouts_and_limit() {
        let resolve = |pairs: &[(&'static str, &'static str)]| {
            Settings::resolve(&FlagValues::default(), &env(pairs), &FileConfig::default())
        };
        let s = resolve(&[]).unwrap();
        assert_eq!(
            (s.header_timeout, s.idle_timeout, s.body_timeout),
            (
                DEFAULT_HEADER_TIMEOUT,
                DEFAULT_IDLE_TIMEOUT,
                DEFAULT_BODY_TIMEOUT
            )
        );
        assert_eq!(s.max_connections, None);
        let s = resolve(&[
            ("PRISM_HEADER_TIMEOUT_SECS", "2"),
            ("PRISM_IDLE_TIMEOUT_SECS", "0.5"),
            ("PRISM_BODY_TIMEOUT_SECS", " 3 "),
            ("PRISM_MAX_CONNECTIONS", "50"),
        ])
        .unwrap();
        assert_eq!(
            (s.header_timeout, s.idle_timeout, s.body_timeout),
            (
                Duration::from_secs(2),
                Duration::from_millis(500),
                Duration::from_secs(3)
            )
        );
        assert_eq!(s.max_connections, Some(50));
        for bad in [
            ("PRISM_HEADER_TIMEOUT_SECS", "0"),
            ("PRISM_IDLE_TIMEOUT_SECS", "-1"),
            ("PRISM_BODY_TIMEOUT_SECS", "inf"),
            ("PRISM_BODY_TIMEOUT_SECS", "NaN"),
            ("PRISM_BODY_TIMEOUT_SECS", "soon"),
            ("PRISM_MAX_CONNECTIONS", "0"),
            ("PRISM_MAX_CONNECTIONS", "-5"),
        ] {
            let err = resolve(&[bad]).expect_err(bad.0).to_string();
            assert!(err.contains(bad.0), "{err}");
        }
    }
    #[test]
    fn write_limits_default_and_each_variable_sets_one() {
        let resolve = |pairs: &[(&'static str, &'static str)]| {
            Settings::resolve(&FlagValues::default(), &env(pairs), &FileConfig::default())
        };
        assert_eq!(resolve(&[]).unwrap().write_limits, WriteLimits::default());
        let s = resolve(&[
            ("PRISM_MAX_BATCH_SIZE", "10"),
            ("PRISM_MAX_DOCUMENT_BYTES", "11"),
            ("PRISM_MAX_METADATA_KEYS", "12"),
            ("PRISM_MAX_METADATA_ARRAY_LENGTH", "13"),
            ("PRISM_MAX_BATCH_METADATA_VALUES", "14"),
        ])
        .unwrap();
        assert_eq!(
            s.write_limits,
            WriteLimits {
                max_batch_size: 10,
                max_document_bytes: 11,
                max_metadata_keys: 12,
                max_metadata_array_length: 13,
                max_batch_metadata_values: 14,
            }
        );
        for bad in [
            ("PRISM_MAX_DOCUMENT_BYTES", "0"),
            ("PRISM_MAX_BATCH_SIZE", "-1"),
            ("PRISM_MAX_METADATA_KEYS", "many"),
        ] {
            let err = resolve(&[bad]).expect_err(bad.0).to_string();
            assert!(err.contains(bad.0), "{err}");
        }
    }

    #[test]
    fn the_upstream_comes_from_flag_env_or_file_and_its_variables_need_it() {
        let file = FileConfig {
            upstream: Some("http://file:8000".into()),
            ..FileConfig::default()
        };
        let s = Settings::resolve(&FlagValues::default(), &env(&[]), &file).unwrap();
        assert_eq!(s.upstream.unwrap().url, "http://file:8000");
        let e = env(&[
            ("PRISM_UPSTREAM", "https://env:8000"),
            ("PRISM_UPSTREAM_TIMEOUT_SECS", "2.5"),
        ]);
        let s = Settings::resolve(&FlagValues::default(), &e, &file).unwrap();
        let upstream = s.upstream.unwrap();
        assert_eq!(upstream.url, "https://env:8000");
        assert_eq!(upstream.timeout, Duration::from_millis(2500));
        let flags = FlagValues {
            upstream: Some("http://flag:8000".into()),
            ..FlagValues::default()
        };
        let s = Settings::resolve(&flags, &e, &file).unwrap();
        assert_eq!(s.upstream.unwrap().url, "http://flag:8000");
        let lonely = env(&[("PRISM_UPSTREAM_CA_FILE", "/ca.pem")]);
        let error = Settings::resolve(&FlagValues::default(), &lonely, &FileConfig::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("no upstream"), "{error}");
        assert!(
            Settings::resolve(&FlagValues::default(), &env(&[]), &FileConfig::default())
                .unwrap()
                .upstream
                .is_none()
        );
    }
}

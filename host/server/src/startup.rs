//! One start-up path. [`prepare`] reads the flags, one snapshot of the
//! environment and the config file, and checks everything a server needs
//! before it serves: settings, data directory, listen address, TLS files and
//! the auth plugins. `prism run` serves what it prepared; `prism config
//! check` prepares the same and only prints it, so the two cannot disagree.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use prism_auth::{AuthGate, AuthSettings};

use crate::builtin::BUILTIN_PLUGINS;
use crate::cli::args::ServerArgs;
use crate::gateway::Upstream;
use crate::settings::{self, EnvSnapshot, Settings};
use crate::tls::TlsFiles;
use crate::variables;

/// A server ready to be served, every part of it checked.
pub struct Prepared {
    /// What an operator should know but that does not stop a start: Chroma
    /// variables Prism ignores, an expired certificate.
    pub warnings: Vec<String>,
    /// Listen address, data directory and HTTP limits.
    pub settings: Settings,
    /// Where it listens.
    pub listen: SocketAddr,
    /// Keys of the config file that mean nothing to Prism (Chroma's own).
    pub ignored_config_keys: Vec<String>,
    /// HTTPS, when configured.
    pub tls: Option<PreparedTls>,
    /// The auth providers the environment selects.
    pub auth: AuthSettings,
    /// The gate built from them, plugins configured.
    pub gate: AuthGate,
    /// The key of an encrypted data directory, read and checked.
    pub encryption: Option<prism_engine::EncryptionKey>,
    /// What `config check` says about encryption (never the key).
    pub encryption_status: String,
    /// Gateway mode: the upstream Chroma to forward to.
    pub upstream: Option<Upstream>,
}

/// HTTPS from PEM files, loaded and checked.
pub struct PreparedTls {
    /// The files it came from (reported, and watched for renewals).
    pub files: TlsFiles,
    /// rustls' configuration.
    pub config: Arc<rustls::ServerConfig>,
    /// E.g. an expired certificate: served, but said.
    pub warning: Option<String>,
}

/// Check everything `prism run` would start with. Blocking: configuring a
/// plugin may block (WASI's stdio does), so call it before the async runtime.
pub fn prepare(args: &ServerArgs, env: &EnvSnapshot) -> anyhow::Result<Prepared> {
    let mut warnings = variables::check(env)?;
    let file = args.file_config()?;
    let (ignored_config_keys, unknown): (Vec<String>, Vec<String>) = file
        .ignored
        .keys()
        .filter_map(|k| k.as_str().map(String::from))
        .partition(|k| settings::CHROMA_CONFIG_KEYS.contains(&k.as_str()));
    warnings.extend(unknown.iter().map(|key| unknown_config_key(key)));
    let settings = Settings::resolve(&args.flags(), env, &file)?;
    let upstream = settings
        .upstream
        .as_ref()
        .map(Upstream::new)
        .transpose()
        .context("cannot set up gateway mode")?;
    if upstream.is_some() && settings.encryption_key_file.is_some() {
        anyhow::bail!(
            "gateway mode (--upstream) has no data directory to encrypt: the upstream holds the data; drop the encryption key file"
        );
    }
    if upstream.is_none() {
        prism_engine::check_data_dir(&settings.persist_path).with_context(|| {
            format!(
                "cannot open data directory {}",
                settings.persist_path.display()
            )
        })?;
    }
    let encryption = settings
        .encryption_key_file
        .as_ref()
        .map(|file| -> anyhow::Result<prism_engine::EncryptionKey> {
            let key = prism_engine::crypto::key_file::read(file)?;
            Ok(prism_engine::EncryptionKey {
                file: file.clone(),
                key: Arc::new(key),
            })
        })
        .transpose()?;
    let encryption_status = match &upstream {
        Some(upstream) => format!(
            "none here: gateway mode, the data is upstream at {}",
            upstream.shown()
        ),
        None => prism_engine::crypto::unlock::check(
            &settings.persist_path,
            encryption.as_ref().map(|e| &*e.key),
            settings.encryption_key_file.as_deref(),
        )?,
    };
    let listen = settings::listen_address(&settings.host, settings.port)?;
    let tls = args
        .tls
        .files()
        .map(|files| -> anyhow::Result<PreparedTls> {
            Ok(PreparedTls {
                config: files.server_config()?,
                warning: files.certificate_warning(),
                files,
            })
        })
        .transpose()?;
    if let Some(warning) = tls.as_ref().and_then(|t| t.warning.clone()) {
        warnings.push(warning);
    }
    let auth = AuthSettings::from_env(env.vars())?;
    let started = std::time::Instant::now();
    let gate =
        AuthGate::from_settings(&auth, BUILTIN_PLUGINS).context("cannot set up authentication")?;
    if gate.authenticates() {
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "auth plugins ready"
        );
    }
    Ok(Prepared {
        warnings,
        settings,
        listen,
        ignored_config_keys,
        tls,
        auth,
        gate,
        encryption,
        encryption_status,
        upstream,
    })
}

/// A config file key neither Prism nor Chroma reads: most likely a typo,
/// which would otherwise leave a setting at its default unnoticed.
fn unknown_config_key(key: &str) -> String {
    let near = settings::CONFIG_KEYS
        .iter()
        .chain(settings::CHROMA_CONFIG_KEYS)
        .map(|known| (variables::edit_distance(key, known), *known))
        .min()
        .filter(|(distance, _)| *distance <= key.len().div_ceil(4));
    match near {
        Some((_, known)) => {
            format!("config file key `{key}` is unknown and ignored (did you mean `{known}`?)")
        }
        None => format!(
            "config file key `{key}` is unknown and ignored (Prism reads: {})",
            settings::CONFIG_KEYS.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_config_keys_are_named_with_the_nearest_known_one() {
        assert_eq!(
            unknown_config_key("persit_path"),
            "config file key `persit_path` is unknown and ignored (did you mean `persist_path`?)"
        );
        assert!(unknown_config_key("zzz").contains("Prism reads: persist_path, port"));
    }
}

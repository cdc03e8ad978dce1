//! Turning [`AuthSettings`] into a ready [`AuthGate`]: load the registry,
//! resolve provider names, read the files the plugins need, configure them.

use sha2::{Digest, Sha256};
use std::sync::Arc;

use prism_plugin_host::{
    Config, ConfigFile, ConfigureError, LoadedPlugin, PluginKind, PluginRuntime, Setting,
    SettingSource,
};

use crate::cache::CredentialCache;
use crate::fetch::{Documents, FetchSettings};
use crate::gate::{AuthGate, AuthnProvider};
use crate::registry::{Registry, RegistryError};
use crate::settings::{AuthSettings, ProviderChoice};

/// Why auth could not be set up; the server refuses to start with this.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The plugin registry could not be built, or a name not resolved.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Authorization without authentication has no identity to decide on.
    #[error(
        "CHROMA_SERVER_AUTHZ_PROVIDER is set but no authentication provider is: set CHROMA_SERVER_AUTHN_PROVIDER too"
    )]
    AuthzWithoutAuthn,
    /// A setting the plugin does not read, a file that cannot be read.
    #[error("{var}: {message}")]
    Setting {
        /// The variable at fault.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// The plugin refused its configuration or failed configuring.
    #[error("{kind} provider `{name}` ({origin}) refused its configuration: {reason}")]
    Configure {
        /// Which kind.
        kind: &'static str,
        /// The plugin.
        name: String,
        /// Where it came from.
        origin: String,
        /// The plugin's explanation.
        reason: Box<ConfigureError>,
    },
    /// The selected plugin is not the one its pinned SHA-256 names.
    #[error(transparent)]
    Pinned(Box<PinMismatch>),
    /// The sandbox could not be created.
    #[error("cannot start the plugin runtime: {0}")]
    Runtime(String),
}

/// A plugin other than the one pinned.
#[derive(Debug, thiserror::Error)]
#[error(
    "{var}: the {kind} provider `{name}` ({origin}) has SHA-256 {found}, not the pinned {pinned}; refusing to run a plugin other than the one pinned"
)]
pub struct PinMismatch {
    /// The pinning variable.
    pub var: &'static str,
    /// Which kind.
    pub kind: &'static str,
    /// The plugin.
    pub name: String,
    /// Where it came from.
    pub origin: String,
    /// Its digest.
    pub found: String,
    /// The digest it should have.
    pub pinned: String,
}

impl AuthGate {
    /// Build the gate the settings describe. With no provider selected no
    /// plugin is even loaded.
    pub fn from_settings(
        settings: &AuthSettings,
        builtins: &[(&str, &[u8])],
    ) -> Result<Self, SetupError> {
        let (authn_choice, authz_choice) = match (&settings.authn, &settings.authz) {
            (None, None) => return Ok(AuthGate::open()),
            (None, Some(_)) => return Err(SetupError::AuthzWithoutAuthn),
            (Some(authn), authz) => (authn, authz),
        };
        let runtime = shared_runtime(settings.limits, settings.plugin_cache_dir.as_deref())?;
        let registry = Registry::load(
            &runtime,
            builtins,
            Some(&settings.plugin_dir),
            settings.plugin_dir_explicit,
        )?;

        let plugin = registry.find(&authn_choice.name, PluginKind::Authn)?;
        check_pin(
            &plugin,
            authn_choice,
            "PRISM_AUTHN_PLUGIN_SHA256",
            "authentication",
        )?;
        let config = plugin_config(&plugin, authn_choice, &settings.fetch)?;
        let credentials = credentials_digest(&plugin.sha256(), &config);
        let authenticator = plugin
            .clone()
            .authenticator_under(config, authn_choice.limits)
            .map_err(|source| configure_error("authentication", &plugin, source))?;
        let cache = CredentialCache::new(
            plugin.name(),
            &plugin.metadata().cache_key_headers,
            settings.cache_ttl,
        );
        let authorizer = match authz_choice {
            None => None,
            Some(choice) => {
                let plugin = registry.find(&choice.name, PluginKind::Authz)?;
                check_pin(
                    &plugin,
                    choice,
                    "PRISM_AUTHZ_PLUGIN_SHA256",
                    "authorization",
                )?;
                let config = plugin_config(&plugin, choice, &settings.fetch)?;
                Some(
                    plugin
                        .clone()
                        .authorizer_under(config, choice.limits)
                        .map_err(|source| configure_error("authorization", &plugin, source))?,
                )
            }
        };
        tracing::info!(
            authn = plugin.name(),
            authn_sha256 = %plugin.sha256(),
            authz = authorizer.as_ref().map(|a| a.plugin().name()),
            authz_sha256 = authorizer.as_ref().map(|a| a.plugin().sha256()),
            cache_ttl_secs = settings.cache_ttl.as_secs(),
            authn_timeout_ms = authn_choice.limits.call_timeout.as_millis() as u64,
            authn_memory_mib = authn_choice.limits.memory_bytes >> 20,
            authz_timeout_ms = authz_choice.as_ref().map(|c| c.limits.call_timeout.as_millis() as u64),
            authz_memory_mib = authz_choice.as_ref().map(|c| c.limits.memory_bytes >> 20),
            "auth enabled"
        );
        Ok(AuthGate::new(
            AuthnProvider {
                authenticator,
                cache,
                credentials,
            },
            authorizer,
            settings.overwrite_singleton,
            settings.limits_on_failures,
            settings.trusted_proxies.clone(),
        ))
    }
}

/// What the authentication provider was configured with (its component,
/// settings and files), as one digest: when it changes, every credential
/// may have changed, and sessions started with the old ones end.
fn credentials_digest(plugin_sha256: &str, config: &Config) -> [u8; 32] {
    let mut digest = Sha256::new();
    let mut field = |bytes: &[u8]| {
        digest.update((bytes.len() as u64).to_le_bytes());
        digest.update(bytes);
    };
    field(plugin_sha256.as_bytes());
    for setting in &config.settings {
        field(setting.key.as_bytes());
        field(setting.value.as_bytes());
    }
    for file in &config.files {
        field(file.key.as_bytes());
        field(&file.contents);
    }
    digest.finalize().into()
}

/// One plugin runtime per process (per limits), kept across reloads so its
/// compiled components are reused.
fn shared_runtime(
    limits: prism_plugin_host::SandboxLimits,
    cache_dir: Option<&std::path::Path>,
) -> Result<Arc<PluginRuntime>, SetupError> {
    type Shared = (Arc<PluginRuntime>, Option<std::path::PathBuf>);
    static RUNTIME: parking_lot::Mutex<Option<Shared>> = parking_lot::Mutex::new(None);
    let mut slot = RUNTIME.lock();
    if let Some((runtime, _)) = slot
        .as_ref()
        .filter(|(r, dir)| r.limits() == limits && dir.as_deref() == cache_dir)
    {
        return Ok(runtime.clone());
    }
    let runtime = PluginRuntime::with_disk_cache(limits, cache_dir).map_err(SetupError::Runtime)?;
    *slot = Some((runtime.clone(), cache_dir.map(Into::into)));
    Ok(runtime)
}

/// Refuse a plugin whose bytes are not the ones the operator pinned.
fn check_pin(
    plugin: &LoadedPlugin,
    choice: &ProviderChoice,
    var: &'static str,
    kind: &'static str,
) -> Result<(), SetupError> {
    let Some(pinned) = &choice.sha256 else {
        return Ok(());
    };
    let found = plugin.sha256();
    if &found == pinned {
        return Ok(());
    }
    Err(SetupError::Pinned(Box::new(PinMismatch {
        var,
        kind,
        name: plugin.name().to_string(),
        origin: plugin.origin().to_string(),
        found,
        pinned: pinned.clone(),
    })))
}

fn configure_error(
    kind: &'static str,
    plugin: &LoadedPlugin,
    source: ConfigureError,
) -> SetupError {
    SetupError::Configure {
        kind,
        name: plugin.name().to_string(),
        origin: plugin.origin().to_string(),
        reason: Box::new(source),
    }
}

/// The plugin's [`Config`]: every setting it declares that the environment
/// sets, files read and documents fetched by the host.
fn plugin_config(
    plugin: &LoadedPlugin,
    choice: &ProviderChoice,
    fetch: &FetchSettings,
) -> Result<Config, SetupError> {
    let specs = &plugin.metadata().settings;
    let mut config = Config {
        settings: vec![],
        files: vec![],
    };
    for value in &choice.settings {
        let Some(spec) = specs.iter().find(|s| s.key == value.key) else {
            if value.lenient && !crate::settings::MUST_BE_READ.contains(&value.key.as_str()) {
                tracing::warn!(
                    var = %value.var,
                    plugin = plugin.name(),
                    "{} is not read by the provider `{}`; ignored",
                    value.var,
                    plugin.name()
                );
                continue;
            }
            let known: Vec<&str> = specs.iter().map(|s| s.key.as_str()).collect();
            return Err(SetupError::Setting {
                var: value.var.clone(),
                message: format!(
                    "provider `{}` has no setting `{}` (it reads: {})",
                    plugin.name(),
                    value.key,
                    if known.is_empty() {
                        "nothing".into()
                    } else {
                        known.join(", ")
                    }
                ),
            });
        };
        let contents = match spec.source {
            SettingSource::Value => {
                config.settings.push(Setting {
                    key: value.key.clone(),
                    value: value.value.clone(),
                });
                continue;
            }
            SettingSource::File => {
                std::fs::read(&value.value).map_err(|e| format!("cannot read {}: {e}", value.value))
            }
            SettingSource::Url => Documents::global()
                .get(&value.value, fetch)
                .map_err(|e| e.to_string()),
        };
        let contents = contents.map_err(|message| SetupError::Setting {
            var: value.var.clone(),
            message,
        })?;
        config.files.push(ConfigFile {
            key: value.key.clone(),
            path: value.value.clone(),
            contents,
        });
    }
    Ok(config)
}

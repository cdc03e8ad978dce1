//! Prism's plugin host: compiles auth plugins (WebAssembly components built
//! against `wit/auth.wit`), reads what they declare, configures them, and calls
//! them in a sandbox: no filesystem, network or environment, a memory cap and
//! a per-call deadline. A plugin that traps, overruns its deadline or its
//! memory is cut off, its instance thrown away, and the caller gets an error
//! to refuse the request with.
//!
//! Nothing here knows about HTTP or about which plugin is selected; that is
//! the server's business.

mod bindings;
mod pool;
mod sandbox;

use std::fmt;
use std::sync::Arc;

use sha2::Digest as _;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config as EngineConfig, Engine, Store};

pub use bindings::authn::prism::auth::types::{
    AuthnError, Config, ConfigError, ConfigFile, Decision, HttpRequest, Identity, PluginKind,
    PluginMetadata, Resource, Setting, SettingSpec,
};
pub use pool::{Authenticator, Authorizer};
pub use sandbox::SandboxLimits;
use sandbox::{EpochTicker, Sandbox};

/// The interface version this host implements.
pub const API_VERSION: &str = "0.1.0";

/// WIT package name every plugin's exports live under.
const PACKAGE: &str = "prism:auth";

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a component wasmtime can compile.
    #[error("{origin}: not a WebAssembly component Prism can load: {reason}")]
    Compile {
        /// Where the plugin came from.
        origin: PluginOrigin,
        /// wasmtime's explanation.
        reason: String,
    },
    /// A component, but not of a world this host serves.
    #[error("{origin}: {reason}")]
    NotAPlugin {
        /// Where the plugin came from.
        origin: PluginOrigin,
        /// What is wrong.
        reason: String,
    },
    /// Written against an interface version this host does not support.
    #[error(
        "{origin}: built for prism:auth@{found}, but this Prism supports prism:auth@{API_VERSION} (0.1.x); rebuild the plugin against this Prism's plugin-sdk"
    )]
    ApiVersion {
        /// Where the plugin came from.
        origin: PluginOrigin,
        /// The version it declares.
        found: String,
    },
    /// Its metadata call failed.
    #[error("{origin}: could not read its metadata: {reason}")]
    Metadata {
        /// Where the plugin came from.
        origin: PluginOrigin,
        /// What went wrong.
        reason: String,
    },
}

/// Why a configured plugin could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum ConfigureError {
    /// The plugin refused its configuration.
    #[error("{}", describe_config_error(.0))]
    Refused(ConfigError),
    /// The plugin failed while configuring.
    #[error(transparent)]
    Call(#[from] CallError),
}

fn describe_config_error(e: &ConfigError) -> String {
    match (&e.file, e.line) {
        (Some(file), Some(line)) => format!("{file}, line {line}: {}", e.message),
        (Some(file), None) => format!("{file}: {}", e.message),
        _ => e.message.clone(),
    }
}

/// Why a call into a plugin produced no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The call ran past the deadline and was interrupted.
    #[error("plugin `{plugin}` exceeded its {millis} ms deadline")]
    Timeout {
        /// The plugin's name.
        plugin: String,
        /// The deadline.
        millis: u128,
    },
    /// The instance tried to grow its memory past the cap.
    #[error("plugin `{plugin}` exceeded its {mib} MiB memory cap")]
    OutOfMemory {
        /// The plugin's name.
        plugin: String,
        /// The cap.
        mib: usize,
    },
    /// The plugin trapped (a panic, an unreachable, a bad access).
    #[error("plugin `{plugin}` trapped: {reason}")]
    Trap {
        /// The plugin's name.
        plugin: String,
        /// wasmtime's description.
        reason: String,
    },
    /// The plugin returned an error of its own.
    #[error("plugin `{plugin}` failed: {reason}")]
    Failed {
        /// The plugin's name.
        plugin: String,
        /// Its message.
        reason: String,
    },
}

/// Where a plugin's bytes came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginOrigin {
    /// Built into the `prism` binary.
    Builtin(String),
    /// A `.wasm` file.
    File(std::path::PathBuf),
}

impl fmt::Display for PluginOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginOrigin::Builtin(name) => write!(f, "built-in plugin {name}"),
            PluginOrigin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Compiles plugins and owns what their instances share: the engine, the
/// WASI linker, the epoch thread and the limits.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<Sandbox>,
    limits: SandboxLimits,
    /// Compiled components by the SHA-256 of their bytes, so reloading a
    /// configuration recompiles only plugins that changed.
    compiled: parking_lot::Mutex<std::collections::HashMap<[u8; 32], Component>>,
    _ticker: EpochTicker,
}

/// A compiled plugin and what it says about itself.
pub struct LoadedPlugin {
    runtime: Arc<PluginRuntime>,
    origin: PluginOrigin,
    metadata: PluginMetadata,
    world: World,
}

enum World {
    Authn(bindings::authn::AuthnPluginPre<Sandbox>),
    Authz(bindings::authz::AuthzPluginPre<Sandbox>),
}

impl PluginRuntime {
    /// A runtime whose plugin calls run under `limits`.
    pub fn new(limits: SandboxLimits) -> Result<Arc<Self>, String> {
        let mut config = EngineConfig::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| e.to_string())?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| e.to_string())?;
        let ticker = EpochTicker::start(&engine).map_err(|e| e.to_string())?;
        Ok(Arc::new(PluginRuntime {
            engine,
            linker,
            limits,
            compiled: parking_lot::Mutex::new(std::collections::HashMap::new()),
            _ticker: ticker,
        }))
    }

    /// The limits calls run under.
    pub fn limits(&self) -> SandboxLimits {
        self.limits
    }

    /// Compile a plugin, check its interface version and read its metadata.
    pub fn load(
        self: &Arc<Self>,
        origin: PluginOrigin,
        bytes: &[u8],
    ) -> Result<LoadedPlugin, LoadError> {
        let digest: [u8; 32] = sha2::Sha256::digest(bytes).into();
        let cached = self.compiled.lock().get(&digest).cloned();
        let component = match cached {
            Some(component) => component,
            None => {
                let component =
                    Component::new(&self.engine, bytes).map_err(|e| LoadError::Compile {
                        origin: origin.clone(),
                        reason: format!("{e:#}"),
                    })?;
                self.compiled.lock().insert(digest, component.clone());
                component
            }
        };
        let kind = self.world_of(&origin, &component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::NotAPlugin {
                origin: origin.clone(),
                reason: format!("it imports something Prism does not provide: {e:#}"),
            })?;
        let not_plugin = |e: wasmtime::Error| LoadError::NotAPlugin {
            origin: origin.clone(),
            reason: format!("{e:#}"),
        };
        let world = match kind {
            PluginKind::Authn => {
                World::Authn(bindings::authn::AuthnPluginPre::new(pre).map_err(not_plugin)?)
            }
            PluginKind::Authz => {
                World::Authz(bindings::authz::AuthzPluginPre::new(pre).map_err(not_plugin)?)
            }
        };
        let mut plugin = LoadedPlugin {
            runtime: self.clone(),
            origin: origin.clone(),
            metadata: PluginMetadata {
                names: vec![],
                kind,
                api_version: String::new(),
                version: String::new(),
                description: String::new(),
                settings: vec![],
                cache_key_headers: vec![],
            },
            world,
        };
        let metadata = plugin
            .read_metadata()
            .map_err(|reason| LoadError::Metadata {
                origin: origin.clone(),
                reason,
            })?;
        if !api_version_supported(&metadata.api_version) {
            return Err(LoadError::ApiVersion {
                origin,
                found: metadata.api_version,
            });
        }
        if metadata.names.is_empty() || metadata.names.iter().any(|n| n.trim().is_empty()) {
            return Err(LoadError::Metadata {
                origin,
                reason: "it declares no name (or an empty one)".into(),
            });
        }
        if metadata.kind != kind {
            return Err(LoadError::Metadata {
                origin,
                reason: "its metadata declares a different kind than the world it exports".into(),
            });
        }
        plugin.metadata = metadata;
        Ok(plugin)
    }

    /// Which world the component exports, by the names of its exports; a
    /// version this host does not serve is reported as such.
    fn world_of(
        &self,
        origin: &PluginOrigin,
        component: &Component,
    ) -> Result<PluginKind, LoadError> {
        let ty = component.component_type();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        for name in &exports {
            let Some(rest) = name.strip_prefix(&format!("{PACKAGE}/")) else {
                continue;
            };
            let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
            let kind = match interface {
                "authenticator" => PluginKind::Authn,
                "authorizer" => PluginKind::Authz,
                _ => continue,
            };
            if !api_version_supported(version) {
                return Err(LoadError::ApiVersion {
                    origin: origin.clone(),
                    found: version.to_string(),
                });
            }
            return Ok(kind);
        }
        Err(LoadError::NotAPlugin {
            origin: origin.clone(),
            reason: format!(
                "it exports neither {PACKAGE}/authenticator nor {PACKAGE}/authorizer (it exports: {})",
                if exports.is_empty() {
                    "nothing".to_string()
                } else {
                    exports.join(", ")
                }
            ),
        })
    }

    fn new_store(&self) -> Store<Sandbox> {
        let mut store = Store::new(&self.engine, Sandbox::new(&self.limits));
        store.limiter(|s| &mut s.memory);
        store.set_epoch_deadline(self.limits.deadline_ticks());
        store
    }
}

impl HttpRequest {
    /// A request with no headers and no client details.
    pub fn new(method: &str, path: &str) -> Self {
        HttpRequest {
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            client_address: None,
            client_certificate_subject: None,
            received_at: 0,
        }
    }

    /// The request with one more header (name lower-cased).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }
}

/// 0.x versions are compatible within a minor version, later ones within a
/// major version (semver).
fn api_version_supported(version: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    };
    match (parse(version), parse(API_VERSION)) {
        (Some((0, minor)), Some((0, ours))) => minor == ours,
        (Some((major, _)), Some((ours, _))) => major == ours && major != 0,
        _ => false,
    }
}

impl LoadedPlugin {
    /// What the plugin declared.
    pub fn metadata(&self) -> &PluginMetadata {
        &self.metadata
    }

    /// Where it came from.
    pub fn origin(&self) -> &PluginOrigin {
        &self.origin
    }

    /// Its canonical (first) name.
    pub fn name(&self) -> &str {
        self.metadata
            .names
            .first()
            .map(String::as_str)
            .unwrap_or("?")
    }

    /// The WIT world it targets, as `prism:auth/authn-plugin@0.1.0`.
    pub fn world(&self) -> String {
        let world = match self.metadata.kind {
            PluginKind::Authn => "authn-plugin",
            PluginKind::Authz => "authz-plugin",
        };
        format!("{PACKAGE}/{world}@{}", self.metadata.api_version)
    }

    fn read_metadata(&self) -> Result<PluginMetadata, String> {
        let mut store = self.runtime.new_store();
        let result = match &self.world {
            World::Authn(pre) => pre
                .instantiate(&mut store)
                .and_then(|b| b.prism_auth_authenticator().call_metadata(&mut store)),
            World::Authz(pre) => pre
                .instantiate(&mut store)
                .and_then(|b| b.prism_auth_authorizer().call_metadata(&mut store)),
        };
        match result {
            Ok(Ok(metadata)) => Ok(metadata),
            Ok(Err(e)) => Err(e.message),
            Err(e) => Err(format!("{e:#}")),
        }
    }

    /// Configure an authenticator; fails if this is an authorizer or the
    /// plugin refuses `config`.
    pub fn authenticator(self: Arc<Self>, config: Config) -> Result<Authenticator, ConfigureError> {
        Authenticator::new(self, config)
    }

    /// Configure an authorizer; fails if this is an authenticator or the
    /// plugin refuses `config`.
    pub fn authorizer(self: Arc<Self>, config: Config) -> Result<Authorizer, ConfigureError> {
        Authorizer::new(self, config)
    }
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("origin", &self.origin)
            .field("names", &self.metadata.names)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::api_version_supported;

    #[test]
    fn versions() {
        assert!(api_version_supported("0.1.0"));
        assert!(api_version_supported("0.1.7"));
        assert!(!api_version_supported("0.2.0"));
        assert!(!api_version_supported("1.0.0"));
        assert!(!api_version_supported("9.0.0"));
        assert!(!api_version_supported(""));
    }
}

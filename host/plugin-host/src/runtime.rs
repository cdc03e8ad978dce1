//! The runtime every plugin shares: the wasmtime engine, the WASI linker,
//! the epoch thread, the limits and the cache of compiled components; and
//! loading, which turns bytes into a [`LoadedPlugin`] after checking the
//! contract version it was built against.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::Digest as _;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config as EngineConfig, Engine, Store};

use crate::contract::{Contract, PACKAGE, supported};
use crate::disk_cache::DiskCache;
use crate::error::{LoadError, PluginOrigin};
use crate::plugin::LoadedPlugin;
use crate::sandbox::{EpochTicker, Sandbox, SandboxLimits};
use crate::types::PluginKind;
use crate::world::Linked;

/// Compiles plugins and owns what their instances share: the engine, the
/// WASI linker, the epoch thread and the limits.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<Sandbox>,
    pub(crate) limits: SandboxLimits,
    /// Compiled components by the SHA-256 of their bytes, so reloading a
    /// configuration recompiles only plugins that changed.
    compiled: parking_lot::Mutex<HashMap<[u8; 32], Component>>,
    /// The same on disk, across restarts, when configured.
    disk: Option<DiskCache>,
    _ticker: EpochTicker,
}

impl PluginRuntime {
    /// A runtime whose plugin calls run under `limits`.
    pub fn new(limits: SandboxLimits) -> Result<Arc<Self>, String> {
        Self::with_disk_cache(limits, None)
    }

    /// A runtime that also keeps compiled plugins in `cache_dir`, so a
    /// restart loads them instead of compiling them again. A directory that
    /// is not safe to run code from (writable by others, another user's) is
    /// not used, with a warning.
    pub fn with_disk_cache(
        limits: SandboxLimits,
        cache_dir: Option<&std::path::Path>,
    ) -> Result<Arc<Self>, String> {
        let mut config = EngineConfig::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| e.to_string())?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| e.to_string())?;
        let ticker = EpochTicker::start(&engine).map_err(|e| e.to_string())?;
        let disk = cache_dir.and_then(|dir| match DiskCache::open(dir, &engine) {
            Ok(cache) => Some(cache),
            Err(reason) => {
                tracing::warn!(%reason, "compiled plugins are not cached on disk");
                None
            }
        });
        Ok(Arc::new(PluginRuntime {
            engine,
            linker,
            limits,
            compiled: parking_lot::Mutex::new(HashMap::new()),
            disk,
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
        let (digest, component) = self.compile(&origin, bytes)?;
        let (kind, contract) = self.world_of(&origin, &component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::NotAPlugin {
                origin: origin.clone(),
                reason: format!("it imports something Prism does not provide: {e:#}"),
            })?;
        let linked = Linked::new(pre, kind, contract).map_err(|e| LoadError::NotAPlugin {
            origin: origin.clone(),
            reason: format!("{e:#}"),
        })?;
        let metadata = match linked.metadata(&mut self.new_store()) {
            Ok(Ok(metadata)) => metadata,
            Ok(Err(reason)) => return Err(LoadError::Metadata { origin, reason }),
            Err(e) => {
                return Err(LoadError::Metadata {
                    origin,
                    reason: format!("{e:#}"),
                });
            }
        };
        if !supported(&metadata.api_version) {
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
        Ok(LoadedPlugin {
            runtime: self.clone(),
            origin,
            metadata,
            linked,
            digest,
            producers: crate::producers::read(bytes),
        })
    }

    /// The component and the SHA-256 of its bytes.
    fn compile(
        &self,
        origin: &PluginOrigin,
        bytes: &[u8],
    ) -> Result<([u8; 32], Component), LoadError> {
        let digest: [u8; 32] = sha2::Sha256::digest(bytes).into();
        if let Some(component) = self.compiled.lock().get(&digest).cloned() {
            return Ok((digest, component));
        }
        let started = std::time::Instant::now();
        let cached = self
            .disk
            .as_ref()
            .and_then(|disk| disk.load(&self.engine, &digest));
        let component = match cached {
            Some(component) => {
                tracing::info!(%origin, ms = started.elapsed().as_millis() as u64, "compiled plugin loaded from the disk cache");
                component
            }
            None => {
                let component =
                    Component::new(&self.engine, bytes).map_err(|e| LoadError::Compile {
                        origin: origin.clone(),
                        reason: format!("{e:#}"),
                    })?;
                tracing::info!(%origin, bytes = bytes.len(), ms = started.elapsed().as_millis() as u64, "plugin compiled");
                if let Some(disk) = &self.disk {
                    disk.store(&digest, &component);
                }
                component
            }
        };
        self.compiled.lock().insert(digest, component.clone());
        Ok((digest, component))
    }

    /// Which world, of which contract version, the component exports, by the
    /// names of its exports; a version this host does not serve is reported
    /// as such.
    fn world_of(
        &self,
        origin: &PluginOrigin,
        component: &Component,
    ) -> Result<(PluginKind, Contract), LoadError> {
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
            let Some(contract) = Contract::of(version) else {
                return Err(LoadError::ApiVersion {
                    origin: origin.clone(),
                    found: version.to_string(),
                });
            };
            return Ok((kind, contract));
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

    pub(crate) fn new_store(&self) -> Store<Sandbox> {
        self.new_store_under(&self.limits)
    }

    /// A store whose calls run under `limits`.
    pub(crate) fn new_store_under(&self, limits: &SandboxLimits) -> Store<Sandbox> {
        let mut store = Store::new(&self.engine, Sandbox::new(limits));
        store.limiter(|s| &mut s.memory);
        store.set_epoch_deadline(limits.deadline_ticks());
        store
    }
}

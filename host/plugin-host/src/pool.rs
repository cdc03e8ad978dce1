//! Configured plugins and their pools of ready instances.
//!
//! An instance is instantiated from the plugin's pre-linked component and
//! configured once, then reused for call after call. An instance whose call
//! failed (trap, deadline, memory) is dropped, never reused: its state may be
//! anything. The next call gets a fresh one.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use wasmtime::Store;

use crate::error::{CallError, ConfigureError};
use crate::plugin::LoadedPlugin;
use crate::sandbox::{Sandbox, SandboxLimits};
use crate::types::{AuthnError, Config, Decision, HttpRequest, Identity, Resource};
use crate::world::{AuthnInstance, AuthzInstance, Instance};

/// Instances kept idle per plugin; more are made under load and dropped after.
const MAX_IDLE: usize = 16;

struct Live<B> {
    store: Store<Sandbox>,
    bindings: B,
}

struct Pool<B> {
    plugin: Arc<LoadedPlugin>,
    config: Config,
    /// This plugin's deadline and memory cap (the runtime's unless the
    /// operator set the plugin's own).
    limits: SandboxLimits,
    idle: Mutex<Vec<Live<B>>>,
    running: CallSlots,
}

/// At most one running call per core and plugin (or the operator's
/// `instances`). The deadline is wall-clock time, so without this a burst of
/// slow calls (bcrypt at cost 12 takes ~0.3 s) would share the cores, each
/// take longer than its deadline, and be cut off as if the plugin had hung.
/// Waiting here does not count. Since an instance is only made when none is
/// idle, this also bounds how many instances exist.
struct CallSlots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl CallSlots {
    fn new(limit: Option<u32>) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        CallSlots {
            free: Mutex::new(limit.map_or(cores, |n| n.max(1) as usize)),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock();
        while *free == 0 {
            self.freed.wait(&mut free);
        }
        *free -= 1;
        SlotGuard(self)
    }
}

struct SlotGuard<'a>(&'a CallSlots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock() += 1;
        self.0.freed.notify_one();
    }
}

impl<B: Instance> Pool<B> {
    /// Make the first instance now, so a configuration the plugin refuses is
    /// reported at startup rather than on the first request.
    fn new(
        plugin: Arc<LoadedPlugin>,
        config: Config,
        limits: SandboxLimits,
    ) -> Result<Self, ConfigureError> {
        let pool = Pool {
            plugin,
            config,
            limits,
            idle: Mutex::new(Vec::new()),
            running: CallSlots::new(limits.instances),
        };
        let first = pool.spawn()?;
        pool.idle.lock().push(first);
        Ok(pool)
    }

    fn spawn(&self) -> Result<Live<B>, ConfigureError> {
        let mut store = self.plugin.runtime.new_store_under(&self.limits);
        let bindings = B::instantiate(&self.plugin.linked, &mut store)
            .map_err(|e| self.classify(e, &store))?;
        match bindings.configure(&mut store, &self.config) {
            Ok(Ok(())) => Ok(Live { store, bindings }),
            Ok(Err(refused)) => Err(ConfigureError::Refused(refused)),
            Err(e) => Err(ConfigureError::Call(self.classify(e, &store))),
        }
    }

    /// Run `f` on an idle (or fresh) instance under a new deadline.
    fn call<R>(
        &self,
        f: impl FnOnce(&B, &mut Store<Sandbox>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let _slot = self.running.acquire();
        let idle = self.idle.lock().pop();
        let mut live = match idle {
            Some(live) => live,
            None => self.spawn().map_err(|e| match e {
                ConfigureError::Call(e) => e,
                ConfigureError::Refused(e) => CallError::Failed {
                    plugin: self.plugin.name().to_string(),
                    reason: format!("configuration refused on a new instance: {}", e.message),
                },
            })?,
        };
        live.store.set_epoch_deadline(self.limits.deadline_ticks());
        match f(&live.bindings, &mut live.store) {
            Ok(result) => {
                let mut idle = self.idle.lock();
                if idle.len() < MAX_IDLE {
                    idle.push(live);
                }
                Ok(result)
            }
            Err(e) => {
                let error = self.classify(e, &live.store);
                tracing::warn!(plugin = self.plugin.name(), %error, "plugin call failed; instance discarded");
                Err(error)
            }
        }
    }

    /// Linear memory an idle instance holds, if one is idle.
    fn idle_memory(&self) -> Option<usize> {
        self.idle
            .lock()
            .first()
            .map(|live| live.store.data().memory.reserved)
    }

    fn classify(&self, error: wasmtime::Error, store: &Store<Sandbox>) -> CallError {
        let plugin = self.plugin.name().to_string();
        let limits = self.limits;
        if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            CallError::Timeout {
                plugin,
                millis: limits.call_timeout.as_millis(),
            }
        } else if store.data().memory.exceeded {
            CallError::OutOfMemory {
                plugin,
                mib: limits.memory_bytes >> 20,
            }
        } else {
            CallError::Trap {
                plugin,
                reason: format!("{error:#}")
                    .lines()
                    .next()
                    .unwrap_or("unknown")
                    .to_string(),
            }
        }
    }
}

/// A configured authentication plugin, ready to call from any thread.
pub struct Authenticator {
    pool: Pool<AuthnInstance>,
}

impl Authenticator {
    pub(crate) fn new(
        plugin: Arc<LoadedPlugin>,
        config: Config,
        limits: SandboxLimits,
    ) -> Result<Self, ConfigureError> {
        Ok(Authenticator {
            pool: Pool::new(plugin, config, limits)?,
        })
    }

    /// The deadline and memory cap its calls run under.
    pub fn limits(&self) -> SandboxLimits {
        self.pool.limits
    }

    /// The plugin behind it.
    pub fn plugin(&self) -> &LoadedPlugin {
        &self.pool.plugin
    }

    /// Linear memory an idle instance holds (what each instance costs), if
    /// one is idle.
    pub fn instance_memory(&self) -> Option<usize> {
        self.pool.idle_memory()
    }

    /// Identify the sender of `request`. Blocks for as long as the plugin
    /// runs (at most the deadline): call it from a blocking thread.
    pub fn authenticate(
        &self,
        request: &HttpRequest,
    ) -> Result<Result<Identity, AuthnError>, CallError> {
        self.pool
            .call(|instance, store| instance.authenticate(store, request))
    }
}

/// A configured authorization plugin, ready to call from any thread.
pub struct Authorizer {
    pool: Pool<AuthzInstance>,
}

impl Authorizer {
    pub(crate) fn new(
        plugin: Arc<LoadedPlugin>,
        config: Config,
        limits: SandboxLimits,
    ) -> Result<Self, ConfigureError> {
        Ok(Authorizer {
            pool: Pool::new(plugin, config, limits)?,
        })
    }

    /// The deadline and memory cap its calls run under.
    pub fn limits(&self) -> SandboxLimits {
        self.pool.limits
    }

    /// The plugin behind it.
    pub fn plugin(&self) -> &LoadedPlugin {
        &self.pool.plugin
    }

    /// Linear memory an idle instance holds (what each instance costs), if
    /// one is idle.
    pub fn instance_memory(&self) -> Option<usize> {
        self.pool.idle_memory()
    }

    /// Decide whether `identity` may do `action` on `resource`. Blocks for as
    /// long as the plugin runs (at most the deadline).
    pub fn authorize(
        &self,
        identity: &Identity,
        action: &str,
        resource: &Resource,
    ) -> Result<Decision, CallError> {
        let plugin = self.pool.plugin.name().to_string();
        self.pool
            .call(|instance, store| instance.authorize(store, identity, action, resource))?
            .map_err(|reason| CallError::Failed { plugin, reason })
    }
}

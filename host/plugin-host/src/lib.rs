//! Prism's plugin host: compiles auth plugins (WebAssembly components built
//! against the WIT contract in `wit/prism-auth@<version>/`), reads what they
//! declare, configures them, and calls them in a sandbox: no filesystem,
//! network or environment, a memory cap and a per-call deadline. A plugin
//! that traps, overruns its deadline or its memory is cut off, its instance
//! thrown away, and the caller gets an error to refuse the request with.
//!
//! Callers see only this crate's own types ([`HttpRequest`], [`Identity`],
//! [`Resource`], [`Decision`], ...): the bindings generated from each contract
//! version stay in that version's `since_v*` module, which converts to and
//! from them, so supporting a new version changes nothing outside this crate.
//!
//! Nothing here knows about HTTP or about which plugin is selected; that is
//! the server's business.

// One `unsafe` call, reviewed where it is: loading a compiled plugin from
// the disk cache (`disk_cache.rs`).
#![deny(unsafe_code)]

mod contract;
mod contract_common;
mod disk_cache;
mod error;
mod plugin;
mod pool;
mod producers;
mod runtime;
mod sandbox;
mod since_v0_1_0;
mod since_v0_2_0;
mod types;
mod world;

pub use contract::API_VERSION;
pub use error::{CallError, ConfigureError, LoadError, PluginOrigin};
pub use plugin::LoadedPlugin;
pub use pool::{Authenticator, Authorizer};
pub use runtime::PluginRuntime;
pub use sandbox::SandboxLimits;
pub use types::{
    AuthnError, Config, ConfigError, ConfigFile, Decision, HttpRequest, Identity, PluginKind,
    PluginMetadata, Resource, Setting, SettingSource, SettingSpec,
};

//! Prism's auth gate. Every request that is not public passes through
//! [`AuthGate`]: the selected authentication plugin says who is calling
//! (answers cached under a keyed hash), the identity's tenant/database scope
//! is enforced, and the selected authorization plugin decides on the action.
//! No HTTP here: the server turns requests into [`HttpRequest`]s and
//! [`AuthFailure`]s into responses. [`reload`] rebuilds the gate when the
//! files it was built from change, [`fetch`] gets the documents plugins'
//! `url` settings name.
//!
//! The request, identity, resource and plugin types here are the plugin
//! host's own, never the bindings generated from a WIT contract version:
//! which versions of the contract plugins were built against is
//! `prism-plugin-host`'s business alone.

#![forbid(unsafe_code)]

mod action;
mod cache;
pub mod fetch;
mod gate;
mod limiter;
mod registry;
pub mod reload;
mod settings;
mod setup;

pub use action::Action;
pub use cache::CredentialCache;
pub use gate::{
    AuthFailure, AuthGate, HOST_ATTRIBUTE_PREFIX, RequestFacts, Scope, SharedGate, basic_user,
    database_scope,
};
pub use limiter::{FailureLimiter, LimitSettings};
pub use prism_plugin_host::{
    CallError, Config, ConfigFile, ConfigureError, Decision, HttpRequest, Identity, LoadError,
    LoadedPlugin, PluginKind, PluginMetadata, PluginOrigin, PluginRuntime, Resource, SandboxLimits,
    Setting, SettingSource, SettingSpec,
};
pub use registry::{Registry, RegistryError, SurveyEntry, kind_name, plugin_files};
pub use settings::{
    AuthSettings, DEFAULT_CACHE_TTL, DEFAULT_PLUGIN_DIR, OPTION_PREFIXES, ProviderChoice,
    SettingsError, VARIABLES,
};
pub use setup::SetupError;

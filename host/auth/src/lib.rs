//! Prism's auth gate. Every request that is not public passes through
//! [`AuthGate`]: the selected authentication plugin says who is calling
//! (answers cached under a keyed hash), the identity's tenant/database scope
//! is enforced, and the selected authorization plugin decides on the action.
//! No HTTP here: the server turns requests into [`HttpRequest`]s and
//! [`AuthFailure`]s into responses.

mod action;
mod cache;
mod gate;
mod limiter;
mod registry;
mod settings;
mod setup;

pub use action::Action;
pub use cache::CredentialCache;
pub use gate::{AuthFailure, AuthGate, Scope, SharedGate, basic_user};
pub use limiter::{FailureLimiter, LimitSettings};
pub use prism_plugin_host::{
    CallError, HttpRequest, Identity, LoadError, LoadedPlugin, PluginKind, PluginOrigin,
    PluginRuntime, Resource, SandboxLimits,
};
pub use registry::{Registry, RegistryError, SurveyEntry, kind_name, plugin_files};
pub use settings::{
    AuthSettings, DEFAULT_CACHE_TTL, DEFAULT_PLUGIN_DIR, ProviderChoice, SettingsError,
};
pub use setup::SetupError;

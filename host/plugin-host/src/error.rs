//! What can go wrong loading, configuring and calling a plugin, and where a
//! plugin came from (every error names it).

use std::fmt;

use crate::contract::{API_VERSION, PACKAGE, supported_range};
use crate::types::ConfigError;

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
        "{origin}: built for {PACKAGE}@{found}, but this Prism serves {PACKAGE} {range} (the newest, {API_VERSION}, is what its plugin-sdk builds); rebuild the plugin against this Prism's plugin-sdk",
        range = supported_range()
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

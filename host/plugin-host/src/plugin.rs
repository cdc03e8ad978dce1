//! A loaded plugin: what it declared, where it came from, and the way to a
//! configured [`Authenticator`] or [`Authorizer`].

use std::fmt;
use std::sync::Arc;

use crate::contract::PACKAGE;
use crate::error::{ConfigureError, PluginOrigin};
use crate::pool::{Authenticator, Authorizer};
use crate::runtime::PluginRuntime;
use crate::types::{Config, PluginKind, PluginMetadata};
use crate::world::Linked;

/// A compiled plugin and what it says about itself.
pub struct LoadedPlugin {
    pub(crate) runtime: Arc<PluginRuntime>,
    pub(crate) origin: PluginOrigin,
    pub(crate) metadata: PluginMetadata,
    pub(crate) linked: Linked,
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

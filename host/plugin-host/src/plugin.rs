//! A loaded plugin: what it declared, where it came from, and the way to a
//! configured [`Authenticator`] or [`Authorizer`].

use std::fmt;
use std::sync::Arc;

use crate::contract::PACKAGE;
use crate::error::{ConfigureError, PluginOrigin};
use crate::pool::{Authenticator, Authorizer};
use crate::producers::Producers;
use crate::runtime::PluginRuntime;
use crate::sandbox::SandboxLimits;
use crate::types::{Config, PluginKind, PluginMetadata};
use crate::world::Linked;

/// A compiled plugin and what it says about itself.
pub struct LoadedPlugin {
    pub(crate) runtime: Arc<PluginRuntime>,
    pub(crate) origin: PluginOrigin,
    pub(crate) metadata: PluginMetadata,
    pub(crate) linked: Linked,
    /// SHA-256 of the component's bytes.
    pub(crate) digest: [u8; 32],
    pub(crate) producers: Producers,
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

    /// The SHA-256 of the component's bytes, in lower-case hex (what
    /// `sha256sum` prints, and what pinning compares).
    pub fn sha256(&self) -> String {
        self.digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The language and toolchain the component says it was built with
    /// (its `producers` sections), when it says.
    pub fn built_with(&self) -> Option<String> {
        crate::producers::describe(&self.producers)
    }

    /// Configure an authenticator; fails if this is an authorizer or the
    /// plugin refuses `config`.
    pub fn authenticator(self: Arc<Self>, config: Config) -> Result<Authenticator, ConfigureError> {
        let limits = self.runtime.limits;
        Authenticator::new(self, config, limits)
    }

    /// [`Self::authenticator`] whose calls run under `limits` instead of the
    /// runtime's (a larger guest, say).
    pub fn authenticator_under(
        self: Arc<Self>,
        config: Config,
        limits: SandboxLimits,
    ) -> Result<Authenticator, ConfigureError> {
        Authenticator::new(self, config, limits)
    }

    /// Configure an authorizer; fails if this is an authenticator or the
    /// plugin refuses `config`.
    pub fn authorizer(self: Arc<Self>, config: Config) -> Result<Authorizer, ConfigureError> {
        let limits = self.runtime.limits;
        Authorizer::new(self, config, limits)
    }

    /// [`Self::authorizer`] whose calls run under `limits` instead of the
    /// runtime's.
    pub fn authorizer_under(
        self: Arc<Self>,
        config: Config,
        limits: SandboxLimits,
    ) -> Result<Authorizer, ConfigureError> {
        Authorizer::new(self, config, limits)
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

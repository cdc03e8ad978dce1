//! A plugin's bindings at whichever contract version it was built for. The
//! rest of the crate calls these; only this file, [`crate::contract`] and the
//! `since_v*` modules know that there are versions.

use wasmtime::Store;
use wasmtime::component::InstancePre;

use crate::contract::Contract;
use crate::sandbox::Sandbox;
use crate::since_v0_1_0 as v0_1;
use crate::since_v0_2_0 as v0_2;
use crate::types::{
    AuthnError, Config, ConfigError, Decision, HttpRequest, Identity, PluginKind, PluginMetadata,
    Resource,
};

/// A compiled plugin linked against the sandbox, by world and version.
pub(crate) enum Linked {
    AuthnV0_1(v0_1::AuthnPre),
    AuthzV0_1(v0_1::AuthzPre),
    AuthnV0_2(v0_2::AuthnPre),
    AuthzV0_2(v0_2::AuthzPre),
}

impl Linked {
    /// Link `pre` as world `kind` of contract `contract`.
    pub(crate) fn new(
        pre: InstancePre<Sandbox>,
        kind: PluginKind,
        contract: Contract,
    ) -> wasmtime::Result<Self> {
        Ok(match (kind, contract) {
            (PluginKind::Authn, Contract::V0_1) => Linked::AuthnV0_1(v0_1::AuthnPre::new(pre)?),
            (PluginKind::Authz, Contract::V0_1) => Linked::AuthzV0_1(v0_1::AuthzPre::new(pre)?),
            (PluginKind::Authn, Contract::V0_2) => Linked::AuthnV0_2(v0_2::AuthnPre::new(pre)?),
            (PluginKind::Authz, Contract::V0_2) => Linked::AuthzV0_2(v0_2::AuthzPre::new(pre)?),
        })
    }

    /// Instantiate once and ask the plugin what it is: the metadata, or the
    /// plugin's own error message.
    pub(crate) fn metadata(
        &self,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<Result<PluginMetadata, String>> {
        match self {
            Linked::AuthnV0_1(pre) => pre.instantiate(store)?.metadata(store),
            Linked::AuthzV0_1(pre) => pre.instantiate(store)?.metadata(store),
            Linked::AuthnV0_2(pre) => pre.instantiate(store)?.metadata(store),
            Linked::AuthzV0_2(pre) => pre.instantiate(store)?.metadata(store),
        }
    }
}

/// What a pool needs of an instance, whatever its world and version.
pub(crate) trait Instance: Sized {
    /// A fresh instance of `linked`; an error if it is of the other world.
    fn instantiate(linked: &Linked, store: &mut Store<Sandbox>) -> wasmtime::Result<Self>;
    /// Configure it (once, before any decision).
    fn configure(
        &self,
        store: &mut Store<Sandbox>,
        config: &Config,
    ) -> wasmtime::Result<Result<(), ConfigError>>;
}

/// A live authentication instance.
pub(crate) enum AuthnInstance {
    V0_1(v0_1::AuthnInstance),
    V0_2(v0_2::AuthnInstance),
}

/// A live authorization instance.
pub(crate) enum AuthzInstance {
    V0_1(v0_1::AuthzInstance),
    V0_2(v0_2::AuthzInstance),
}

impl Instance for AuthnInstance {
    fn instantiate(linked: &Linked, store: &mut Store<Sandbox>) -> wasmtime::Result<Self> {
        match linked {
            Linked::AuthnV0_1(pre) => pre.instantiate(store).map(AuthnInstance::V0_1),
            Linked::AuthnV0_2(pre) => pre.instantiate(store).map(AuthnInstance::V0_2),
            Linked::AuthzV0_1(_) | Linked::AuthzV0_2(_) => {
                Err(wasmtime::Error::msg("not an authentication plugin"))
            }
        }
    }

    fn configure(
        &self,
        store: &mut Store<Sandbox>,
        config: &Config,
    ) -> wasmtime::Result<Result<(), ConfigError>> {
        match self {
            AuthnInstance::V0_1(instance) => instance.configure(store, config),
            AuthnInstance::V0_2(instance) => instance.configure(store, config),
        }
    }
}

impl AuthnInstance {
    pub(crate) fn authenticate(
        &self,
        store: &mut Store<Sandbox>,
        request: &HttpRequest,
    ) -> wasmtime::Result<Result<Identity, AuthnError>> {
        match self {
            AuthnInstance::V0_1(instance) => instance.authenticate(store, request),
            AuthnInstance::V0_2(instance) => instance.authenticate(store, request),
        }
    }
}

impl Instance for AuthzInstance {
    fn instantiate(linked: &Linked, store: &mut Store<Sandbox>) -> wasmtime::Result<Self> {
        match linked {
            Linked::AuthzV0_1(pre) => pre.instantiate(store).map(AuthzInstance::V0_1),
            Linked::AuthzV0_2(pre) => pre.instantiate(store).map(AuthzInstance::V0_2),
            Linked::AuthnV0_1(_) | Linked::AuthnV0_2(_) => {
                Err(wasmtime::Error::msg("not an authorization plugin"))
            }
        }
    }

    fn configure(
        &self,
        store: &mut Store<Sandbox>,
        config: &Config,
    ) -> wasmtime::Result<Result<(), ConfigError>> {
        match self {
            AuthzInstance::V0_1(instance) => instance.configure(store, config),
            AuthzInstance::V0_2(instance) => instance.configure(store, config),
        }
    }
}

impl AuthzInstance {
    /// The decision, or the plugin's own error message.
    pub(crate) fn authorize(
        &self,
        store: &mut Store<Sandbox>,
        identity: &Identity,
        action: &str,
        resource: &Resource,
    ) -> wasmtime::Result<Result<Decision, String>> {
        match self {
            AuthzInstance::V0_1(instance) => instance.authorize(store, identity, action, resource),
            AuthzInstance::V0_2(instance) => instance.authorize(store, identity, action, resource),
        }
    }
}

//! Contract 0.2 (`wit/prism-auth@0.2.0`): the bindings wasmtime generates
//! from it, and their conversions to and from the host's own types
//! ([`crate::types`]). A plugin built against any 0.2.x is served here.
//! Since 0.1: settings fetched from a URL, authentication refusals with a
//! reason (`refused`, `unknown-key`), and decisions that allow only the
//! records matching a filter (`allow-where`).

use wasmtime::Store;
use wasmtime::component::InstancePre;

use crate::sandbox::Sandbox;
use crate::types as host;

/// The WIT this module binds; its package line is the version's one source.
pub(crate) const WIT: &str = include_str!("../../../wit/prism-auth@0.2.0/auth.wit");

/// The contract version this module binds.
pub(crate) const VERSION: &str = crate::contract::package_line(WIT).1;

mod authn {
    wasmtime::component::bindgen!({
        world: "authn-plugin",
        path: "../../wit/prism-auth@0.2.0",
    });
}

mod authz {
    wasmtime::component::bindgen!({
        world: "authz-plugin",
        path: "../../wit/prism-auth@0.2.0",
        with: { "prism:auth/types": super::authn::prism::auth::types },
    });
}

use authn::prism::auth::types as wit;

/// Whether a plugin that declares `version` speaks this contract.
pub(crate) fn serves(version: &str) -> bool {
    crate::contract::compatible(version, VERSION)
}

crate::contract_common::contract_common!();

// The conversions of the records this version words its own way.

impl From<wit::SettingSpec> for host::SettingSpec {
    fn from(spec: wit::SettingSpec) -> Self {
        let wit::SettingSpec {
            key,
            description,
            source,
        } = spec;
        host::SettingSpec {
            key,
            description,
            source: match source {
                wit::SettingSource::Value => host::SettingSource::Value,
                wit::SettingSource::File => host::SettingSource::File,
                wit::SettingSource::Url => host::SettingSource::Url,
            },
        }
    }
}

impl From<wit::AuthnError> for host::AuthnError {
    fn from(error: wit::AuthnError) -> Self {
        match error {
            wit::AuthnError::NoCredentials => host::AuthnError::NoCredentials,
            wit::AuthnError::BadCredentials => host::AuthnError::BadCredentials,
            wit::AuthnError::Malformed(m) => host::AuthnError::Malformed(m),
            wit::AuthnError::Refused(m) => host::AuthnError::Refused(m),
            wit::AuthnError::UnknownKey(m) => host::AuthnError::UnknownKey(m),
            wit::AuthnError::Internal(m) => host::AuthnError::Internal(m),
        }
    }
}

impl From<wit::Decision> for host::Decision {
    fn from(decision: wit::Decision) -> Self {
        match decision {
            wit::Decision::Allow => host::Decision::Allow,
            wit::Decision::AllowWhere(filter) => host::Decision::AllowWhere(filter),
            wit::Decision::Deny(reason) => host::Decision::Deny(reason),
        }
    }
}

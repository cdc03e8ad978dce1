//! Contract 0.1 (`wit/prism-auth@0.1.0`): the bindings wasmtime generates
//! from it, and their conversions to and from the host's own types
//! ([`crate::types`]). A plugin built against any 0.1.x is served here.

use wasmtime::Store;
use wasmtime::component::InstancePre;

use crate::sandbox::Sandbox;
use crate::types as host;

/// The WIT this module binds; its package line is the version's one source.
pub(crate) const WIT: &str = include_str!("../../../wit/prism-auth@0.1.0/auth.wit");

/// The contract version this module binds.
pub(crate) const VERSION: &str = crate::contract::package_line(WIT).1;

mod authn {
    wasmtime::component::bindgen!({
        world: "authn-plugin",
        path: "../../wit/prism-auth@0.1.0",
    });
}

mod authz {
    wasmtime::component::bindgen!({
        world: "authz-plugin",
        path: "../../wit/prism-auth@0.1.0",
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
            is_file,
        } = spec;
        host::SettingSpec {
            key,
            description,
            source: if is_file {
                host::SettingSource::File
            } else {
                host::SettingSource::Value
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
            wit::AuthnError::Internal(m) => host::AuthnError::Internal(m),
        }
    }
}

impl From<wit::Decision> for host::Decision {
    fn from(decision: wit::Decision) -> Self {
        match decision {
            wit::Decision::Allow => host::Decision::Allow,
            wit::Decision::Deny(reason) => host::Decision::Deny(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_cross_unchanged() {
        let mut request = host::HttpRequest::new("POST", "/x").with_header("A", "1");
        request.client_address = Some("10.0.0.1".into());
        request.received_at = 7;
        let crossed = wit::HttpRequest::from(&request);
        assert_eq!(
            (crossed.headers, crossed.client_address, crossed.received_at),
            (vec![("a".into(), "1".into())], Some("10.0.0.1".into()), 7)
        );
    }
}

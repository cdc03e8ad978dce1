//! Test fixture: an authorizer that claims a future interface version, to
//! prove the host refuses plugins it cannot serve. It implements the
//! generated bindings by hand because the SDK always reports its own version.

#![forbid(unsafe_code)]

use prism_plugin_sdk::bindings::authz::exports::prism::auth::authorizer::Guest;
use prism_plugin_sdk::{
    Config, ConfigError, Decision, Identity, PluginError, PluginKind, PluginMetadata, Resource,
};

/// The fixture.
#[allow(dead_code)]
pub struct FutureApi;

impl Guest for FutureApi {
    fn metadata() -> Result<PluginMetadata, PluginError> {
        Ok(PluginMetadata {
            names: vec!["future-api".into()],
            kind: PluginKind::Authz,
            api_version: "9.0.0".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "test fixture from a future API version".into(),
            settings: vec![],
            cache_key_headers: vec![],
        })
    }

    fn configure(_: Config) -> Result<(), ConfigError> {
        Ok(())
    }

    fn authorize(_: Identity, _: String, _: Resource) -> Result<Decision, PluginError> {
        Ok(Decision::Allow)
    }
}

#[cfg(target_arch = "wasm32")]
prism_plugin_sdk::bindings::authz::__export_authz_world!(
    FutureApi with_types_in prism_plugin_sdk::bindings::authz
);

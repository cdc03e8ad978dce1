//! Test fixture: an authenticator built against contract 0.1
//! (`wit/prism-auth@0.1.0`), to prove a host that speaks 0.2 keeps loading
//! and serving plugins built before it. `Authorization: Bearer
//! v01:USER[:ROLE]` is USER (with a `role` attribute); any other bearer
//! token is bad credentials, refused with a reason through 0.1's
//! `malformed`.

// No `forbid(unsafe_code)`: the generated export glue is `unsafe`; the SDK
// keeps it inside itself, this fixture has no SDK.

wit_bindgen::generate!({
    world: "authn-plugin",
    path: "../../../wit/prism-auth@0.1.0",
});

use exports::prism::auth::authenticator::Guest;
use prism::auth::types::{
    AuthnError, Config, ConfigError, HttpRequest, Identity, PluginError, PluginKind, PluginMetadata,
};

/// The fixture.
#[allow(dead_code)]
pub struct ContractV01;

impl Guest for ContractV01 {
    fn metadata() -> Result<PluginMetadata, PluginError> {
        Ok(PluginMetadata {
            names: vec!["contract-v0-1".into()],
            kind: PluginKind::Authn,
            api_version: "0.1.0".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "test fixture built against contract 0.1".into(),
            settings: vec![],
            cache_key_headers: vec!["authorization".into()],
        })
    }

    fn configure(_: Config) -> Result<(), ConfigError> {
        Ok(())
    }

    fn authenticate(request: HttpRequest) -> Result<Identity, AuthnError> {
        let Some((_, value)) = request.headers.iter().find(|(k, _)| k == "authorization") else {
            return Err(AuthnError::NoCredentials);
        };
        let Some(token) = value.strip_prefix("Bearer ") else {
            return Err(AuthnError::NoCredentials);
        };
        let Some(rest) = token.strip_prefix("v01:") else {
            return Err(AuthnError::Malformed("not a v01: token".into()));
        };
        let (user, role) = rest.split_once(':').unwrap_or((rest, ""));
        if user.is_empty() {
            return Err(AuthnError::BadCredentials);
        }
        Ok(Identity {
            user_id: user.into(),
            tenant: None,
            databases: None,
            attributes: if role.is_empty() {
                vec![]
            } else {
                vec![("role".into(), role.into())]
            },
        })
    }
}

#[cfg(target_arch = "wasm32")]
export!(ContractV01);

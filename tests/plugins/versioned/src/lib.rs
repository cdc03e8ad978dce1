//! Test fixture: an authenticator whose answers say which build it is. Built
//! once plain (`versioned-1.wasm`) and once with feature `v2`
//! (`versioned-2.wasm`), so a test can swap one file for the other under a
//! running server and see the new build answer.

#![forbid(unsafe_code)]

use prism_plugin_sdk::{
    Authenticator, AuthnError, Config, ConfigError, HttpRequest, Identity, Metadata,
    export_authenticator, token,
};

/// The build: 1, or 2 with feature `v2`.
const BUILD: &str = if cfg!(feature = "v2") { "2" } else { "1" };

/// Lets in `Authorization: Bearer let-me-in` as user `build-<BUILD>`.
pub struct Versioned;

impl Authenticator for Versioned {
    fn metadata() -> Metadata {
        Metadata::new("versioned", &format!("{BUILD}.0.0"))
            .description("test fixture: tells which build answers")
            .cache_key_headers(&["authorization"])
    }

    fn configure(_: &Config) -> Result<Self, ConfigError> {
        Ok(Versioned)
    }

    fn authenticate(&self, request: &HttpRequest) -> Result<Identity, AuthnError> {
        if token::bearer(request)? != "let-me-in" {
            return Err(AuthnError::BadCredentials);
        }
        Ok(Identity::user(format!("build-{BUILD}")))
    }
}

export_authenticator!(Versioned);

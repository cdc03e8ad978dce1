//! Bearer JWTs as identity providers issue them (Keycloak, Auth0, Entra ID,
//! Okta, Dex): `Authorization: Bearer <JWS>`, signed with a key from the
//! provider's JWKS (RS256/384/512, PS256/384/512, ES256, ES384, EdDSA with
//! Ed25519) or with a shared secret (HS256/384/512).
//!
//! A token is accepted when its signature verifies with a key that fits its
//! `alg` (never `none`; an RSA key is never an HMAC secret), its `kid` names
//! a configured key (a token without one is accepted only when exactly one
//! key fits its algorithm), `iss` is the configured issuer, `aud` (a string
//! or an array) holds a configured audience, `exp` is present and not past
//! and `nbf`, if present, not ahead, each by more than the leeway (60 s by
//! default). "Now" is the time the host received the request: a plugin has
//! no clock of its own.
//!
//! The identity: `user-claim` (default `sub`) is the user id;
//! `tenant-claim` and `databases-claim` (a string or a list), when set, scope
//! it and must be present; each value of `roles-claim`
//! (`realm_access.roles` for Keycloak realm roles) becomes one `role`
//! attribute, which the rbac plugin matches against `authz.yaml`. Claim
//! names are dotted paths into nested objects. Other top-level string,
//! number and boolean claims become attributes, except the registered
//! `iss`, `aud`, `exp`, `nbf`, `iat`, `jti`, the mapped claims, and a
//! top-level `role` (roles come from `roles-claim` only).
//!
//! Limits worth knowing:
//! - **Refusals and their reasons.** A token that is not a readable JWT is
//!   `malformed(reason)`; one that is unsigned (`alg: none`), encrypted or
//!   of an unsupported algorithm, with a bad signature, a wrong issuer or
//!   audience, or outside its validity window is `refused(reason)` (the
//!   host answers 401 with `WWW-Authenticate: Bearer error="invalid_token"`);
//!   an unknown `kid` is `unknown-key(reason)`, on which the host fetches
//!   `jwks-url` again (rate-limited) and asks once more. Each reason goes to
//!   the audit log (`token expired at 1700000000 (now 1700000100, leeway
//!   60 s)`) and never contains the token; values taken from it (kid, iss,
//!   aud) are escaped and cut short. A request without
//!   `Authorization: Bearer` is `no-credentials`.
//! - **The host's credential cache.** The plugin declares
//!   `cache-key-headers: [authorization]`, so the host reuses a successful
//!   authentication for the same header for up to its cache TTL
//!   (`PRISM_AUTH_CACHE_TTL_SECS`, default 30 s) without asking the plugin:
//!   a token may be accepted up to that long past its `exp` (plus the
//!   leeway). Set the TTL to 0 where that matters. A JWKS change reloads
//!   the plugin and empties the cache, so a removed key stops working at
//!   once.
//! - **Where the keys come from.** `jwks-url`: the provider's `jwks_uri`,
//!   which the host fetches over HTTPS (the plugin has no network), every
//!   `PRISM_AUTH_FETCH_REFRESH_SECS` and when a token names an unknown kid.
//!   `jwks-file`: a file the host watches. `jwks`: inline. `secret-file`:
//!   an HMAC secret. Keys from all that are set count.

#![forbid(unsafe_code)]

mod alg;
mod claims;
mod jose;
mod keys;
mod settings;
mod verify;

use prism_plugin_sdk::{
    Authenticator, AuthnError, Config, ConfigError, HttpRequest, Identity, Metadata,
    export_authenticator, token,
};

use crate::claims::ClaimRules;
use crate::jose::{Jws, TokenError};
use crate::keys::{KeyError, KeySet};

/// The configured keys and claim rules.
pub struct Jwt {
    keys: KeySet,
    rules: ClaimRules,
}

impl Authenticator for Jwt {
    fn metadata() -> Metadata {
        settings::specs().into_iter().fold(
            Metadata::new("jwt", env!("CARGO_PKG_VERSION"))
                .alias("oidc")
                .description(
                    "bearer JWTs from an OIDC provider (JWKS) or signed with a shared secret",
                )
                .cache_key_headers(&["authorization"]),
            Metadata::setting,
        )
    }

    fn configure(config: &Config) -> Result<Self, ConfigError> {
        let (keys, rules) = settings::read(config)?;
        Ok(Jwt { keys, rules })
    }

    fn authenticate(&self, request: &HttpRequest) -> Result<Identity, AuthnError> {
        let token = token::bearer(request)?;
        self.check(&token, request.received_at)
    }
}

impl Jwt {
    /// The identity `token` stands for at `now`, or why it stands for none:
    /// unreadable (`malformed`), naming a key the JWKS lacks (`unknown-key`,
    /// worth fetching the JWKS again), or refused.
    fn check(&self, token: &str, now: u64) -> Result<Identity, AuthnError> {
        let malformed = |e: &dyn std::fmt::Display| AuthnError::Malformed(e.to_string());
        let refused = |e: &dyn std::fmt::Display| AuthnError::Refused(e.to_string());
        let jws = Jws::parse(token).map_err(|e| match e {
            // Readable, and refused for what it asks: no signature, a
            // signature or encryption scheme this plugin does not accept.
            TokenError::AlgNone
            | TokenError::UnsupportedAlg(_)
            | TokenError::Encrypted
            | TokenError::Critical(_) => refused(&e),
            e => malformed(&e),
        })?;
        let key = self
            .keys
            .select(jws.alg, jws.kid.as_deref())
            .map_err(|e| match e {
                KeyError::UnknownKid(_) => AuthnError::UnknownKey(e.to_string()),
                e => refused(&e),
            })?;
        verify::verify(key, jws.alg, jws.signing_input, &jws.signature).map_err(|e| refused(&e))?;
        let claims = jws.verified_claims().map_err(|e| malformed(&e))?;
        self.rules.identity(&claims, now).map_err(|e| refused(&e))
    }
}

export_authenticator!(Jwt);

#[cfg(test)]
mod tests;

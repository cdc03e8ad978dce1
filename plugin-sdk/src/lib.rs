//! # Writing a Prism auth plugin
//!
//! Prism makes every authentication and authorization decision in a
//! WebAssembly component: a *plugin*. This crate is all a plugin author needs:
//! implement [`Authenticator`] (who is calling?) or [`Authorizer`] (may they
//! do this?) and export it with one macro. The host hands the plugin its
//! settings and the contents of its files; a plugin has no filesystem, no
//! network and no environment of its own.
//!
//! ## Tutorial: an authenticator in five steps
//!
//! **1. Start from a template.** `prism plugin new --lang rust --kind authn
//! my-plugin` makes the crate (the tutorial: docs/plugins/rust.md in the Prism
//! repository), or make a library crate by hand:
//!
//! ```toml
//! [package]
//! name = "my-plugin"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! prism-plugin-sdk = { path = "../prism/plugin-sdk" }
//! ```
//!
//! **2. Describe the plugin.** [`Metadata`] names it (the name operators put in
//! `CHROMA_SERVER_AUTHN_PROVIDER`), lists the settings it reads, and says which
//! request headers its answer depends on, so Prism can cache successful
//! logins instead of asking the plugin on every request.
//!
//! **3. Configure it.** [`Authenticator::configure`] receives a [`Config`]:
//! the settings the operator gave and the contents of files named by settings
//! declared with [`SettingSpec::file`]. Parse everything here and refuse bad
//! input with a [`ConfigError`] that names the file and line; Prism then
//! refuses to start and shows the operator your message.
//!
//! **4. Decide.** [`Authenticator::authenticate`] gets an [`HttpRequest`]
//! (lower-case header names) and returns an [`Identity`] or an [`AuthnError`].
//!
//! **5. Export and build.**
//!
//! ```no_run
//! use prism_plugin_sdk::{
//!     AuthnError, Authenticator, Config, ConfigError, HttpRequest, Identity, Metadata,
//!     SettingSpec, export_authenticator, secret, token,
//! };
//!
//! /// One shared key, sent as `X-Api-Key`.
//! struct ApiKey {
//!     key: String,
//! }
//!
//! impl Authenticator for ApiKey {
//!     fn metadata() -> Metadata {
//!         Metadata::new("api-key", env!("CARGO_PKG_VERSION"))
//!             .description("one shared key in the X-Api-Key header")
//!             .setting(SettingSpec::value("key", "the key callers must send"))
//!             .cache_key_headers(&["x-api-key"])
//!     }
//!
//!     fn configure(config: &Config) -> Result<Self, ConfigError> {
//!         let key = config.require("key")?.to_string();
//!         Ok(ApiKey { key })
//!     }
//!
//!     fn authenticate(&self, request: &HttpRequest) -> Result<Identity, AuthnError> {
//!         let sent = token::from_header(request, "x-api-key")?;
//!         if secret::equal(sent.as_bytes(), self.key.as_bytes()) {
//!             Ok(Identity::user("api-key-holder"))
//!         } else {
//!             Err(AuthnError::BadCredentials)
//!         }
//!     }
//! }
//!
//! export_authenticator!(ApiKey);
//! ```
//!
//! Build it as a `wasm32-wasip2` component with `prism plugin build` (one
//! command, on whichever wasm toolchain the machine has; Prism's
//! docs/TOOLCHAIN.md says what the routes are), drop the `.wasm` into Prism's
//! plugin directory (`PRISM_PLUGIN_DIR`), and select it:
//!
//! ```sh
//! PRISM_PLUGIN_DIR=./my-plugins CHROMA_SERVER_AUTHN_PROVIDER=api-key \
//!   PRISM_AUTHN_OPT_KEY=s3cret prism run
//! ```
//!
//! Settings reach a plugin from `PRISM_AUTHN_OPT_<KEY>` / `PRISM_AUTHZ_OPT_<KEY>`
//! (key upper-cased, `-` as `_`) and, for the built-in keys, from Chroma's own
//! variables (`CHROMA_SERVER_AUTHN_CREDENTIALS_FILE` → `credentials-file`).
//!
//! To take Chroma's variables, name your settings as the built-ins do:
//!
//! | Chroma's variable | setting key |
//! |---|---|
//! | `CHROMA_SERVER_AUTHN_CREDENTIALS` | `credentials` |
//! | `CHROMA_SERVER_AUTHN_CREDENTIALS_FILE` | `credentials-file` (a file setting) |
//! | `CHROMA_AUTH_TOKEN_TRANSPORT_HEADER` | `token-transport-header` |
//! | `CHROMA_SERVER_AUTHZ_CONFIG` | `config` |
//! | `CHROMA_SERVER_AUTHZ_CONFIG_FILE` | `config-file` (a file setting) |
//!
//! A Chroma credentials or policy variable (`credentials`, `credentials-file`,
//! `config`, `config-file`) that the selected plugin does not declare makes
//! the server refuse to start: credentials nobody reads protect nothing. Any
//! other Chroma variable the plugin does not declare is ignored with a
//! warning, and a `PRISM_AUTHN_OPT_*` key it does not declare is refused.
//!
//! ## Rules a plugin lives by
//! - Never trap: return errors. A panic, an endless loop or unbounded memory
//!   gets the call cut off (a deadline and a memory cap apply), the request
//!   refused and the instance thrown away.
//! - The host may run several instances of a plugin at once, each configured
//!   with the same [`Config`]; keep no state that must be shared between them.
//! - Compare secrets with [`secret::equal`], never `==`.
//! - Unknown user and wrong password must look the same: return
//!   [`AuthnError::BadCredentials`] for both, and spend the same time.
//!
//! - A token that reads but is refused (expired, wrong issuer) is
//!   [`AuthnError::Refused`] with the reason (the host answers 401 and logs
//!   the reason); one naming a key the configuration lacks is
//!   [`AuthnError::UnknownKey`], on which the host fetches the plugin's
//!   [`SettingSpec::url`] settings again and asks once more.
//!
//! An authorizer is the same with [`Authorizer`] and [`export_authorizer!`];
//! [`ACTIONS`] lists the action names the host asks about. Besides
//! [`Decision::Allow`] and [`Decision::Deny`], it may answer
//! [`Decision::AllowWhere`] with a `where` clause (JSON text in Chroma's
//! filter language): the host then lets the action reach only the records
//! that match (row-level security; docs/ROW_LEVEL_SECURITY.md).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

extern crate self as prism_plugin_sdk;

pub mod basic;
#[doc(hidden)]
pub mod bindings;
pub mod config;
mod contract;
pub mod htpasswd;
mod metadata;
pub mod password;
pub mod pattern;
pub mod secret;
pub mod token;
pub mod yaml;

pub use bindings::authn::prism::auth::types::{
    AuthnError, Config, ConfigError, ConfigFile, Decision, HttpRequest, Identity, PluginError,
    PluginKind, PluginMetadata, Resource, Setting, SettingSource, SettingSpec,
};
pub use contract::{ACTIONS, API_VERSION, READ_ACTIONS};
pub use metadata::Metadata;

/// An authentication plugin: who is calling?
pub trait Authenticator: Sized + 'static {
    /// Names, settings and cache policy; called before [`configure`](Self::configure).
    fn metadata() -> Metadata;
    /// Build the plugin from its configuration, or say what is wrong with it.
    fn configure(config: &Config) -> Result<Self, ConfigError>;
    /// Identify the caller of one request.
    fn authenticate(&self, request: &HttpRequest) -> Result<Identity, AuthnError>;
}

/// An authorization plugin: may this identity do this?
pub trait Authorizer: Sized + 'static {
    /// Names and settings; called before [`configure`](Self::configure).
    fn metadata() -> Metadata;
    /// Build the plugin from its configuration, or say what is wrong with it.
    fn configure(config: &Config) -> Result<Self, ConfigError>;
    /// Decide whether `identity` may do `action` (one of Chroma's action
    /// names, such as `collection:query`) on `resource`.
    fn authorize(
        &self,
        identity: &Identity,
        action: &str,
        resource: &Resource,
    ) -> Result<Decision, PluginError>;
}

impl Identity {
    /// A user with no tenant or database scope and no attributes.
    pub fn user(user_id: impl Into<String>) -> Self {
        Identity {
            user_id: user_id.into(),
            tenant: None,
            databases: None,
            attributes: Vec::new(),
        }
    }

    /// The value of an attribute.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl HttpRequest {
    /// A request with no headers, received at the epoch; for tests, with
    /// [`with_header`](Self::with_header) and [`received_at`](Self::received_at).
    pub fn new(method: &str, path: &str) -> Self {
        HttpRequest {
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            client_address: None,
            client_certificate_subject: None,
            received_at: 0,
        }
    }

    /// The request with one more header (name lower-cased, as the host sends it).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// The request as received at `unix_seconds`.
    pub fn received_at(mut self, unix_seconds: u64) -> Self {
        self.received_at = unix_seconds;
        self
    }

    /// Every value of a header (name compared case-insensitively).
    pub fn header_values<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The header's value if it was sent exactly once; `Err` if sent twice.
    pub fn header(&self, name: &str) -> Result<Option<&str>, AuthnError> {
        let mut values = self.header_values(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(AuthnError::Malformed(format!(
                "the {name} header was sent more than once"
            )));
        }
        Ok(first)
    }
}

impl ConfigError {
    /// An error about the configuration as a whole.
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError {
            file: None,
            line: None,
            message: message.into(),
        }
    }

    /// An error at a line of a file.
    pub fn at(file: impl Into<String>, line: u32, message: impl Into<String>) -> Self {
        ConfigError {
            file: Some(file.into()),
            line: Some(line),
            message: message.into(),
        }
    }
}

impl PluginError {
    /// A plugin failure with a message.
    pub fn new(message: impl Into<String>) -> Self {
        PluginError {
            message: message.into(),
        }
    }
}

/// Export a type implementing [`Authenticator`] as the plugin's component.
#[macro_export]
macro_rules! export_authenticator {
    ($plugin:ty) => {
        #[doc(hidden)]
        #[allow(dead_code)]
        pub struct __PrismAuthnExport;

        impl $crate::bindings::authn::exports::prism::auth::authenticator::Guest for __PrismAuthnExport {
            fn metadata() -> ::core::result::Result<$crate::PluginMetadata, $crate::PluginError> {
                ::core::result::Result::Ok(
                    <$plugin as $crate::Authenticator>::metadata()
                        .into_wit($crate::PluginKind::Authn),
                )
            }

            fn configure(config: $crate::Config) -> ::core::result::Result<(), $crate::ConfigError> {
                $crate::__private::configure(<$plugin as $crate::Authenticator>::configure(&config)?);
                ::core::result::Result::Ok(())
            }

            fn authenticate(
                request: $crate::HttpRequest,
            ) -> ::core::result::Result<$crate::Identity, $crate::AuthnError> {
                $crate::__private::with_plugin::<$plugin, _>(
                    |plugin| $crate::Authenticator::authenticate(plugin, &request),
                )
                .unwrap_or_else(|| {
                    ::core::result::Result::Err($crate::AuthnError::Internal(
                        "authenticate called before configure".into(),
                    ))
                })
            }
        }

        // Only a WebAssembly build exports the component's functions; a native
        // build (the plugin's unit tests) just type-checks them.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::authn::__export_authn_world!(
            __PrismAuthnExport with_types_in $crate::bindings::authn
        );
    };
}

/// Export a type implementing [`Authorizer`] as the plugin's component.
#[macro_export]
macro_rules! export_authorizer {
    ($plugin:ty) => {
        #[doc(hidden)]
        #[allow(dead_code)]
        pub struct __PrismAuthzExport;

        impl $crate::bindings::authz::exports::prism::auth::authorizer::Guest for __PrismAuthzExport {
            fn metadata() -> ::core::result::Result<$crate::PluginMetadata, $crate::PluginError> {
                ::core::result::Result::Ok(
                    <$plugin as $crate::Authorizer>::metadata().into_wit($crate::PluginKind::Authz),
                )
            }

            fn configure(config: $crate::Config) -> ::core::result::Result<(), $crate::ConfigError> {
                $crate::__private::configure(<$plugin as $crate::Authorizer>::configure(&config)?);
                ::core::result::Result::Ok(())
            }

            fn authorize(
                identity: $crate::Identity,
                action: ::std::string::String,
                resource: $crate::Resource,
            ) -> ::core::result::Result<$crate::Decision, $crate::PluginError> {
                $crate::__private::with_plugin::<$plugin, _>(|plugin| {
                    $crate::Authorizer::authorize(plugin, &identity, &action, &resource)
                })
                .unwrap_or_else(|| {
                    ::core::result::Result::Err($crate::PluginError::new(
                        "authorize called before configure",
                    ))
                })
            }
        }

        // Only a WebAssembly build exports the component's functions; a native
        // build (the plugin's unit tests) just type-checks them.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::authz::__export_authz_world!(
            __PrismAuthzExport with_types_in $crate::bindings::authz
        );
    };
}

#[doc(hidden)]
pub mod __private {
    //! Support for the export macros; not part of the API.

    use std::any::Any;
    use std::cell::RefCell;

    pub use wit_bindgen::rt as wit_bindgen_rt;

    thread_local! {
        // A component instance is single-threaded; this holds the configured plugin.
        static PLUGIN: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    }

    /// Keep the configured plugin for later calls.
    pub fn configure<T: 'static>(plugin: T) {
        PLUGIN.with(|slot| *slot.borrow_mut() = Some(Box::new(plugin)));
    }

    /// Run `f` with the configured plugin, or `None` before `configure`.
    pub fn with_plugin<T: 'static, R>(f: impl FnOnce(&T) -> R) -> Option<R> {
        PLUGIN.with(|slot| {
            let slot = slot.borrow();
            slot.as_ref()?.downcast_ref::<T>().map(f)
        })
    }
}

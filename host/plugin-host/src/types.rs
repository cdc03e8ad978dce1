//! The contract's values as the rest of Prism sees them: plain Rust types that
//! belong to no WIT version. Each `since_v*` module converts between these
//! and its generated bindings, so a new contract version changes nothing
//! outside this crate.

/// Which decision a plugin makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginKind {
    /// Who is calling (reads the request, returns an identity).
    Authn,
    /// May this identity do this action on this resource.
    Authz,
}

/// A configuration key a plugin reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingSpec {
    /// The key, lower-case kebab-case (`credentials-file`).
    pub key: String,
    /// One line for `prism plugin inspect` and error messages.
    pub description: String,
    /// Where the value comes from.
    pub source: SettingSource,
}

/// Where a setting's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingSource {
    /// The value itself.
    Value,
    /// A path: the host reads the file and passes its contents.
    File,
    /// An `https://` URL: the host fetches the document and passes its
    /// contents (contract 0.2 on).
    Url,
}

impl SettingSource {
    /// Whether the plugin receives the contents of a document, not the value.
    pub fn is_document(self) -> bool {
        !matches!(self, SettingSource::Value)
    }
}

/// What a plugin says about itself before it is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginMetadata {
    /// Names it is registered under; the first is canonical.
    pub names: Vec<String>,
    /// Its kind.
    pub kind: PluginKind,
    /// The contract version it was written against.
    pub api_version: String,
    /// The plugin's own version.
    pub version: String,
    /// One line for `prism plugin list`.
    pub description: String,
    /// Every configuration key it reads.
    pub settings: Vec<SettingSpec>,
    /// Authn only: the (lower-case) headers its answer depends on; empty
    /// means never cache.
    pub cache_key_headers: Vec<String>,
}

/// A setting given to a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A file the host read on a plugin's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// The setting that named the file.
    pub key: String,
    /// The path as configured, for error messages only.
    pub path: String,
    /// The file's contents.
    pub contents: Vec<u8>,
}

/// Everything a plugin is configured with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Plain settings.
    pub settings: Vec<Setting>,
    /// Files named by file settings, read by the host.
    pub files: Vec<ConfigFile>,
}

/// Why a plugin refused its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file at fault (its path as configured), if any.
    pub file: Option<String>,
    /// 1-based line in that file, if known.
    pub line: Option<u32>,
    /// What is wrong.
    pub message: String,
}

/// The parts of an HTTP request an authenticator may look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Header names are lower-case; a header sent twice appears twice.
    pub headers: Vec<(String, String)>,
    /// The peer's IP address (after trusted-proxy handling), if known.
    pub client_address: Option<String>,
    /// The verified TLS client certificate's subject, if any.
    pub client_certificate_subject: Option<String>,
    /// Seconds since the Unix epoch when the host received the request.
    pub received_at: u64,
}

impl HttpRequest {
    /// A request with no headers and no client details.
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

    /// The request with one more header (name lower-cased).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }
}

/// Who the caller is. `tenant` and `databases` scope what the caller may
/// touch; `*` (or none) means any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user.
    pub user_id: String,
    /// The tenant the caller is confined to.
    pub tenant: Option<String>,
    /// The databases the caller is confined to.
    pub databases: Option<Vec<String>>,
    /// Free-form facts for authorizers (a role, a team, an expiry).
    pub attributes: Vec<(String, String)>,
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthnError {
    /// The request carries no credentials the plugin understands.
    NoCredentials,
    /// Credentials were present and wrong.
    BadCredentials,
    /// Credentials were present and unreadable.
    Malformed(String),
    /// Credentials were present, readable and refused, and why (contract
    /// 0.2 on; answered 401).
    Refused(String),
    /// The credentials name a key the configuration lacks (contract 0.2
    /// on): fetched settings are fetched again and the plugin asked once
    /// more.
    UnknownKey(String),
    /// The plugin failed.
    Internal(String),
}

/// What an action is done to. Unused parts are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    /// The tenant.
    pub tenant: Option<String>,
    /// The database.
    pub database: Option<String>,
    /// The collection's name, when the host knows it.
    pub collection: Option<String>,
    /// The collection's id, for routes that address it by id.
    pub collection_id: Option<String>,
}

/// An authorization decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Allowed on the records matching this `where` clause (JSON text in
    /// Chroma's filter language) only (contract 0.2 on).
    AllowWhere(String),
    /// Denied, and why (for the log; callers see "Forbidden").
    Deny(String),
}

//! What a plugin declares about itself.

use crate::{API_VERSION, PluginKind, PluginMetadata, SettingSource, SettingSpec};

/// A plugin's self-description; the SDK fills in its kind and API version.
#[derive(Debug, Clone)]
pub struct Metadata {
    names: Vec<String>,
    version: String,
    description: String,
    settings: Vec<SettingSpec>,
    cache_key_headers: Vec<String>,
}

impl Metadata {
    /// A plugin registered as `name`, at the plugin's own `version`.
    pub fn new(name: &str, version: &str) -> Self {
        Metadata {
            names: vec![name.to_string()],
            version: version.to_string(),
            description: String::new(),
            settings: Vec::new(),
            cache_key_headers: Vec::new(),
        }
    }

    /// Another name operators may select the plugin by.
    pub fn alias(mut self, name: &str) -> Self {
        self.names.push(name.to_string());
        self
    }

    /// One line saying what the plugin does.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }

    /// A configuration key the plugin reads.
    pub fn setting(mut self, spec: SettingSpec) -> Self {
        self.settings.push(spec);
        self
    }

    /// The headers a successful authentication depends on and nothing else,
    /// so the host may cache it. Leave unset when the answer also depends on
    /// time, the client address or anything else.
    pub fn cache_key_headers(mut self, headers: &[&str]) -> Self {
        self.cache_key_headers = headers.iter().map(|h| h.to_ascii_lowercase()).collect();
        self
    }

    #[doc(hidden)]
    pub fn into_wit(self, kind: PluginKind) -> PluginMetadata {
        PluginMetadata {
            names: self.names,
            kind,
            api_version: API_VERSION.to_string(),
            version: self.version,
            description: self.description,
            settings: self.settings,
            cache_key_headers: self.cache_key_headers,
        }
    }
}

impl SettingSpec {
    /// A setting whose value is used as given.
    pub fn value(key: &str, description: &str) -> Self {
        SettingSpec {
            key: key.to_string(),
            description: description.to_string(),
            source: SettingSource::Value,
        }
    }

    /// A setting whose value is a path; the plugin receives the file's contents.
    pub fn file(key: &str, description: &str) -> Self {
        SettingSpec {
            key: key.to_string(),
            description: description.to_string(),
            source: SettingSource::File,
        }
    }

    /// A setting whose value is an `https://` URL; the host fetches the
    /// document, hands the plugin its contents like a file's, fetches it
    /// again on an interval and when the plugin answers
    /// [`AuthnError::UnknownKey`](crate::AuthnError::UnknownKey), and
    /// reconfigures the plugin when it changed. Plugins get no network
    /// themselves.
    pub fn url(key: &str, description: &str) -> Self {
        SettingSpec {
            key: key.to_string(),
            description: description.to_string(),
            source: SettingSource::Url,
        }
    }
}

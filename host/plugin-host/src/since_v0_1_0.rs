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

/// An authentication plugin of this version, linked and ready to instantiate.
pub(crate) struct AuthnPre(authn::AuthnPluginPre<Sandbox>);

/// An authorization plugin of this version, linked and ready to instantiate.
pub(crate) struct AuthzPre(authz::AuthzPluginPre<Sandbox>);

/// A live authentication instance of this version.
pub(crate) struct AuthnInstance(authn::AuthnPlugin);

/// A live authorization instance of this version.
pub(crate) struct AuthzInstance(authz::AuthzPlugin);

impl AuthnPre {
    pub(crate) fn new(pre: InstancePre<Sandbox>) -> wasmtime::Result<Self> {
        authn::AuthnPluginPre::new(pre).map(AuthnPre)
    }

    pub(crate) fn instantiate(
        &self,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<AuthnInstance> {
        self.0.instantiate(store).map(AuthnInstance)
    }
}

impl AuthzPre {
    pub(crate) fn new(pre: InstancePre<Sandbox>) -> wasmtime::Result<Self> {
        authz::AuthzPluginPre::new(pre).map(AuthzPre)
    }

    pub(crate) fn instantiate(
        &self,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<AuthzInstance> {
        self.0.instantiate(store).map(AuthzInstance)
    }
}

impl AuthnInstance {
    pub(crate) fn metadata(
        &self,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<Result<host::PluginMetadata, String>> {
        let answer = self.0.prism_auth_authenticator().call_metadata(store)?;
        Ok(answer.map(Into::into).map_err(|e| e.message))
    }

    pub(crate) fn configure(
        &self,
        store: &mut Store<Sandbox>,
        config: &host::Config,
    ) -> wasmtime::Result<Result<(), host::ConfigError>> {
        let config = wit::Config::from(config);
        let answer = self
            .0
            .prism_auth_authenticator()
            .call_configure(store, &config)?;
        Ok(answer.map_err(Into::into))
    }

    pub(crate) fn authenticate(
        &self,
        store: &mut Store<Sandbox>,
        request: &host::HttpRequest,
    ) -> wasmtime::Result<Result<host::Identity, host::AuthnError>> {
        let request = wit::HttpRequest::from(request);
        let answer = self
            .0
            .prism_auth_authenticator()
            .call_authenticate(store, &request)?;
        Ok(answer.map(Into::into).map_err(Into::into))
    }
}

impl AuthzInstance {
    pub(crate) fn metadata(
        &self,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<Result<host::PluginMetadata, String>> {
        let answer = self.0.prism_auth_authorizer().call_metadata(store)?;
        Ok(answer.map(Into::into).map_err(|e| e.message))
    }

    pub(crate) fn configure(
        &self,
        store: &mut Store<Sandbox>,
        config: &host::Config,
    ) -> wasmtime::Result<Result<(), host::ConfigError>> {
        let config = wit::Config::from(config);
        let answer = self
            .0
            .prism_auth_authorizer()
            .call_configure(store, &config)?;
        Ok(answer.map_err(Into::into))
    }

    /// The decision, or the plugin's own error message.
    pub(crate) fn authorize(
        &self,
        store: &mut Store<Sandbox>,
        identity: &host::Identity,
        action: &str,
        resource: &host::Resource,
    ) -> wasmtime::Result<Result<host::Decision, String>> {
        let identity = wit::Identity::from(identity);
        let resource = wit::Resource::from(resource);
        let answer = self
            .0
            .prism_auth_authorizer()
            .call_authorize(store, &identity, action, &resource)?;
        Ok(answer.map(Into::into).map_err(|e| e.message))
    }
}

// The conversions destructure every record, so a field added to the WIT is a
// compile error here rather than a value silently dropped.

impl From<wit::PluginKind> for host::PluginKind {
    fn from(kind: wit::PluginKind) -> Self {
        match kind {
            wit::PluginKind::Authn => host::PluginKind::Authn,
            wit::PluginKind::Authz => host::PluginKind::Authz,
        }
    }
}

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
            is_file,
        }
    }
}

impl From<wit::PluginMetadata> for host::PluginMetadata {
    fn from(metadata: wit::PluginMetadata) -> Self {
        let wit::PluginMetadata {
            names,
            kind,
            api_version,
            version,
            description,
            settings,
            cache_key_headers,
        } = metadata;
        host::PluginMetadata {
            names,
            kind: kind.into(),
            api_version,
            version,
            description,
            settings: settings.into_iter().map(Into::into).collect(),
            cache_key_headers,
        }
    }
}

impl From<&host::Config> for wit::Config {
    fn from(config: &host::Config) -> Self {
        let host::Config { settings, files } = config;
        wit::Config {
            settings: settings
                .iter()
                .map(|host::Setting { key, value }| wit::Setting {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            files: files
                .iter()
                .map(
                    |host::ConfigFile {
                         key,
                         path,
                         contents,
                     }| wit::ConfigFile {
                        key: key.clone(),
                        path: path.clone(),
                        contents: contents.clone(),
                    },
                )
                .collect(),
        }
    }
}

impl From<wit::ConfigError> for host::ConfigError {
    fn from(error: wit::ConfigError) -> Self {
        let wit::ConfigError {
            file,
            line,
            message,
        } = error;
        host::ConfigError {
            file,
            line,
            message,
        }
    }
}

impl From<&host::HttpRequest> for wit::HttpRequest {
    fn from(request: &host::HttpRequest) -> Self {
        let host::HttpRequest {
            method,
            path,
            headers,
            client_address,
            client_certificate_subject,
            received_at,
        } = request;
        wit::HttpRequest {
            method: method.clone(),
            path: path.clone(),
            headers: headers.clone(),
            client_address: client_address.clone(),
            client_certificate_subject: client_certificate_subject.clone(),
            received_at: *received_at,
        }
    }
}

impl From<&host::Identity> for wit::Identity {
    fn from(identity: &host::Identity) -> Self {
        let host::Identity {
            user_id,
            tenant,
            databases,
            attributes,
        } = identity;
        wit::Identity {
            user_id: user_id.clone(),
            tenant: tenant.clone(),
            databases: databases.clone(),
            attributes: attributes.clone(),
        }
    }
}

impl From<wit::Identity> for host::Identity {
    fn from(identity: wit::Identity) -> Self {
        let wit::Identity {
            user_id,
            tenant,
            databases,
            attributes,
        } = identity;
        host::Identity {
            user_id,
            tenant,
            databases,
            attributes,
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

impl From<&host::Resource> for wit::Resource {
    fn from(resource: &host::Resource) -> Self {
        let host::Resource {
            tenant,
            database,
            collection,
            collection_id,
        } = resource;
        wit::Resource {
            tenant: tenant.clone(),
            database: database.clone(),
            collection: collection.clone(),
            collection_id: collection_id.clone(),
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
    fn the_module_is_named_after_its_version() {
        let expected = format!("since_v{}", VERSION.replace('.', "_"));
        assert!(
            module_path!().ends_with(&format!("::{expected}::tests")),
            "{} binds {VERSION}: rename it {expected}",
            module_path!()
        );
    }

    /// The bindings are generated from the directory [`VERSION`] is read from.
    #[test]
    fn the_bindings_and_the_version_name_one_directory() {
        let source = include_str!("since_v0_1_0.rs");
        let dir = format!("../../wit/prism-auth@{VERSION}");
        let paths: Vec<&str> = source
            .lines()
            .filter_map(|l| l.trim().strip_prefix("path: \""))
            .collect();
        assert_eq!(paths, [format!("{dir}\","), format!("{dir}\",")]);
        assert!(source.contains(&format!("include_str!(\"../{dir}/auth.wit\")")));
    }

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

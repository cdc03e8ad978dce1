//! What every contract version's module has in common: the wrappers around
//! its generated bindings, and the conversions of the records no version has
//! changed yet. Each `since_v*` module invokes [`contract_common!`] after
//! declaring its `authn` and `authz` bindings and `use`-ing their types as
//! `wit`; a record that a new version changes moves out of the macro into the
//! modules, each with its own conversion.

/// The shared part of a `since_v*` module (see the module docs).
macro_rules! contract_common {
    () => {
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
    };
}

pub(crate) use contract_common;

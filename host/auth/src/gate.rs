//! The decisions: authenticate (cached), enforce the identity's scope,
//! authorize.

use std::sync::Arc;

use prism_plugin_host::{
    Authenticator, AuthnError, Authorizer, CallError, Decision, HttpRequest, Identity, Resource,
};

use crate::action::Action;
use crate::cache::CredentialCache;

/// Why a request is refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthFailure {
    /// No, bad or malformed credentials; callers cannot tell which.
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    /// Authenticated but not allowed.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A plugin failed; the request is refused (fail closed).
    #[error("auth unavailable: {0}")]
    Unavailable(CallError),
}

pub(crate) struct AuthnProvider {
    pub(crate) authenticator: Authenticator,
    pub(crate) cache: CredentialCache,
}

/// The tenant and database a request acts on, after Chroma's
/// singleton-overwrite rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Tenant.
    pub tenant: Option<String>,
    /// Database.
    pub database: Option<String>,
}

/// The configured providers.
pub struct AuthGate {
    authn: Option<AuthnProvider>,
    authz: Option<Authorizer>,
    overwrite_singleton: bool,
}

const DEFAULT_TENANT: &str = "default_tenant";
const DEFAULT_DATABASE: &str = "default_database";

impl AuthGate {
    /// No authentication: everyone may do everything (Chroma's default).
    pub fn open() -> Self {
        AuthGate {
            authn: None,
            authz: None,
            overwrite_singleton: false,
        }
    }

    pub(crate) fn new(
        authn: AuthnProvider,
        authz: Option<Authorizer>,
        overwrite_singleton: bool,
    ) -> Self {
        AuthGate {
            authn: Some(authn),
            authz,
            overwrite_singleton,
        }
    }

    /// Whether requests are authenticated at all.
    pub fn authenticates(&self) -> bool {
        self.authn.is_some()
    }

    /// Whether an authorization plugin decides (and so wants collection
    /// names resolved).
    pub fn authorizes(&self) -> bool {
        self.authz.is_some()
    }

    /// The authentication provider's name, for logs.
    pub fn authn_name(&self) -> Option<&str> {
        self.authn.as_ref().map(|a| a.authenticator.plugin().name())
    }

    /// The authorization provider's name, for logs.
    pub fn authz_name(&self) -> Option<&str> {
        self.authz.as_ref().map(|a| a.plugin().name())
    }

    /// The identity a fresh cache entry holds for this request, without
    /// calling any plugin; `None` means [`authenticate`](Self::authenticate)
    /// must run (on a blocking thread).
    pub fn cached_identity(&self, request: &HttpRequest) -> Option<Arc<Identity>> {
        let authn = self.authn.as_ref()?;
        authn.cache.get(&authn.cache.key_of(request)?)
    }

    /// Who sent `request`: `Ok(None)` when authentication is off. Calls the
    /// plugin unless the cache answers; blocks for as long as it runs.
    pub fn authenticate(
        &self,
        request: &HttpRequest,
    ) -> Result<Option<Arc<Identity>>, AuthFailure> {
        let Some(authn) = &self.authn else {
            return Ok(None);
        };
        let key = authn.cache.key_of(request);
        if let Some(identity) = key.as_ref().and_then(|k| authn.cache.get(k)) {
            return Ok(Some(identity));
        }
        match authn.authenticator.authenticate(request) {
            Ok(Ok(identity)) => {
                let identity = Arc::new(identity);
                if let Some(key) = key {
                    authn.cache.put(key, identity.clone());
                }
                Ok(Some(identity))
            }
            Ok(Err(e)) => Err(AuthFailure::Unauthenticated(match e {
                AuthnError::NoCredentials => "no credentials".into(),
                AuthnError::BadCredentials => "bad credentials".into(),
                AuthnError::Malformed(m) => format!("malformed credentials: {m}"),
                AuthnError::Internal(m) => format!("provider error: {m}"),
            })),
            Err(e) => Err(AuthFailure::Unavailable(e)),
        }
    }

    /// Forget every cached credential (the credentials changed).
    pub fn clear_cache(&self) {
        if let Some(authn) = &self.authn {
            authn.cache.clear();
        }
    }

    /// The tenant and database a request addressed to `tenant`/`database`
    /// acts on. With `chroma_overwrite_singleton_tenant_database_access_from_auth`
    /// set, a request for the default tenant (database) goes to the caller's
    /// only tenant (database), as Chroma's Python server does.
    pub fn scope(
        &self,
        identity: Option<&Identity>,
        tenant: Option<&str>,
        database: Option<&str>,
    ) -> Scope {
        let mut scope = Scope {
            tenant: tenant.map(String::from),
            database: database.map(String::from),
        };
        let Some(identity) = identity.filter(|_| self.overwrite_singleton) else {
            return scope;
        };
        if let Some(t) = identity.tenant.as_deref().filter(|t| *t != "*")
            && tenant.is_none_or(|x| x == DEFAULT_TENANT)
        {
            scope.tenant = Some(t.to_string());
        }
        if let Some([d]) = identity.databases.as_deref()
            && d != "*"
            && database.is_none_or(|x| x == DEFAULT_DATABASE)
        {
            scope.database = Some(d.clone());
        }
        scope
    }

    /// May `identity` do `action` on `resource`? First the identity's own
    /// tenant/database scope, then the authorization plugin, if any. Blocks
    /// while the plugin runs.
    pub fn authorize(
        &self,
        identity: Option<&Identity>,
        action: Action,
        resource: &Resource,
    ) -> Result<(), AuthFailure> {
        let Some(identity) = identity else {
            return Ok(());
        };
        if let Err(reason) = within_scope(identity, action, resource) {
            tracing::info!(user = %identity.user_id, %action, %reason, "denied by the identity's scope");
            return Err(AuthFailure::Forbidden(reason));
        }
        let Some(authz) = &self.authz else {
            return Ok(());
        };
        match authz.authorize(identity, action.as_str(), resource) {
            Ok(Decision::Allow) => Ok(()),
            Ok(Decision::Deny(reason)) => {
                tracing::info!(user = %identity.user_id, %action, %reason, "denied by the authorization provider");
                Err(AuthFailure::Forbidden(reason))
            }
            Err(e) => Err(AuthFailure::Unavailable(e)),
        }
    }
}

/// A token scoped to a tenant and databases reaches nothing else; `*` (or no
/// scope) means any. Actions above any tenant (reset) need an unscoped identity.
fn within_scope(identity: &Identity, action: Action, resource: &Resource) -> Result<(), String> {
    let tenant_scope = identity.tenant.as_deref().filter(|t| *t != "*");
    let db_scope = identity
        .databases
        .as_deref()
        .filter(|dbs| !dbs.iter().any(|d| d == "*"));
    if tenant_scope.is_none() && db_scope.is_none() {
        return Ok(());
    }
    if action == Action::Reset {
        return Err(format!(
            "`{}` is scoped and may not reset the server",
            identity.user_id
        ));
    }
    if let Some(allowed) = tenant_scope
        && resource.tenant.as_deref() != Some(allowed)
    {
        return Err(format!(
            "`{}` may only use tenant `{allowed}`",
            identity.user_id
        ));
    }
    if let (Some(allowed), Some(database)) = (db_scope, resource.database.as_deref())
        && !allowed.iter().any(|d| d == database)
    {
        return Err(format!(
            "`{}` may not use database `{database}`",
            identity.user_id
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(tenant: Option<&str>, dbs: Option<&[&str]>) -> Identity {
        Identity {
            user_id: "u".into(),
            tenant: tenant.map(String::from),
            databases: dbs.map(|d| d.iter().map(|s| s.to_string()).collect()),
            attributes: vec![],
        }
    }

    fn res(t: Option<&str>, d: Option<&str>) -> Resource {
        Resource {
            tenant: t.map(String::from),
            database: d.map(String::from),
            collection: None,
            collection_id: None,
        }
    }

    #[test]
    fn unscoped_identities_reach_everything() {
        for id in [who(None, None), who(Some("*"), Some(&["*"]))] {
            assert!(within_scope(&id, Action::Reset, &res(None, None)).is_ok());
            assert!(within_scope(&id, Action::Query, &res(Some("x"), Some("y"))).is_ok());
        }
    }

    #[test]
    fn scoped_identities_stay_inside() {
        let id = who(Some("acme"), Some(&["docs", "wiki"]));
        assert!(within_scope(&id, Action::Query, &res(Some("acme"), Some("docs"))).is_ok());
        assert!(within_scope(&id, Action::ListDatabases, &res(Some("acme"), None)).is_ok());
        assert!(within_scope(&id, Action::Query, &res(Some("acme"), Some("hr"))).is_err());
        assert!(within_scope(&id, Action::Query, &res(Some("other"), Some("docs"))).is_err());
        assert!(within_scope(&id, Action::CreateTenant, &res(Some("evil"), None)).is_err());
        assert!(within_scope(&id, Action::Reset, &res(None, None)).is_err());
        let any_db = who(Some("acme"), Some(&["*"]));
        assert!(within_scope(&any_db, Action::Query, &res(Some("acme"), Some("hr"))).is_ok());
    }

    #[test]
    fn singleton_overwrite_replaces_defaults_only() {
        let mut gate = AuthGate::open();
        gate.overwrite_singleton = true;
        let id = who(Some("acme"), Some(&["docs"]));
        let s = gate.scope(Some(&id), Some("default_tenant"), Some("default_database"));
        assert_eq!(
            (s.tenant.as_deref(), s.database.as_deref()),
            (Some("acme"), Some("docs"))
        );
        let s = gate.scope(Some(&id), Some("other"), Some("db"));
        assert_eq!(
            (s.tenant.as_deref(), s.database.as_deref()),
            (Some("other"), Some("db"))
        );
        let many = who(Some("*"), Some(&["a", "b"]));
        let s = gate.scope(
            Some(&many),
            Some("default_tenant"),
            Some("default_database"),
        );
        assert_eq!(s.tenant.as_deref(), Some("default_tenant"));
        gate.overwrite_singleton = false;
        let s = gate.scope(Some(&id), Some("default_tenant"), None);
        assert_eq!(s.tenant.as_deref(), Some("default_tenant"));
    }
}

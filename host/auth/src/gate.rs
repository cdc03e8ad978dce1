//! The decisions: authenticate (cached), enforce the identity's scope,
//! authorize.

use std::sync::Arc;

use prism_plugin_host::{
    Authenticator, AuthnError, Authorizer, CallError, Decision, HttpRequest, Identity, Resource,
};

use std::time::Duration;

use base64::Engine as _;

use crate::action::Action;
use crate::cache::CredentialCache;
use crate::limiter::{FailureLimiter, LimitSettings};

/// Why a request is refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthFailure {
    /// No, bad or malformed credentials; callers cannot tell which.
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    /// Readable credentials refused for a stated reason (an expired
    /// token, say); answered 401 as bearer-token servers do.
    #[error("credentials refused: {0}")]
    Refused(String),
    /// The credentials name a key the configuration lacks: worth fetching
    /// the plugin's documents again and asking once more
    /// ([`SharedGate::refetch`]); otherwise answered as [`Self::Refused`].
    #[error("credentials name an unknown key: {0}")]
    UnknownKey(String),
    /// Authenticated but not allowed.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A plugin failed; the request is refused (fail closed).
    #[error("auth unavailable: {0}")]
    Unavailable(CallError),
    /// Too many failed authentications from this client or for this user;
    /// try again after the duration.
    #[error("too many failed authentications; retry in {0:?}")]
    Throttled(Duration),
}

pub(crate) struct AuthnProvider {
    pub(crate) authenticator: Authenticator,
    pub(crate) cache: CredentialCache,
    /// Digest of the provider's component and configuration.
    pub(crate) credentials: [u8; 32],
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

/// The gate in force, replaceable while requests are served: each request
/// takes the current gate once and finishes on it; a reload swaps in a new
/// one (with an empty credential cache) for the requests after.
pub struct SharedGate {
    current: parking_lot::RwLock<Arc<AuthGate>>,
    refetch: parking_lot::RwLock<Option<Refetch>>,
}

/// Fetches plugins' documents again and puts a new gate in force if they
/// changed; whether it did.
type Refetch = Box<dyn Fn() -> bool + Send + Sync>;

impl SharedGate {
    /// Start with `gate`.
    pub fn new(gate: AuthGate) -> Self {
        SharedGate {
            current: parking_lot::RwLock::new(Arc::new(gate)),
            refetch: parking_lot::RwLock::new(None),
        }
    }

    /// The gate in force now.
    pub fn current(&self) -> Arc<AuthGate> {
        self.current.read().clone()
    }

    /// Put `gate` in force for every later request.
    pub fn replace(&self, gate: AuthGate) {
        *self.current.write() = Arc::new(gate);
    }

    /// What to do when a plugin answers `unknown-key` (see [`Self::refetch`]).
    pub fn on_unknown_key(&self, refetch: Refetch) {
        *self.refetch.write() = Some(refetch);
    }

    /// Who sent `request`, asked of `gate` (the one in force when the
    /// request arrived). When the plugin answers `unknown-key` and fetching
    /// its documents again puts a new gate in force (a key rotation), the
    /// new gate is asked once more. The gate that answered, and its answer;
    /// a failure is counted towards the brute-force limits once. Blocks.
    pub fn authenticate(
        &self,
        gate: Arc<AuthGate>,
        request: &HttpRequest,
    ) -> (Arc<AuthGate>, Result<Option<Arc<Identity>>, AuthFailure>) {
        let outcome = gate.authenticate(request);
        let (gate, outcome) = match outcome {
            Err(AuthFailure::UnknownKey(_)) if self.refetch() => {
                let gate = self.current();
                let outcome = gate.authenticate(request);
                (gate, outcome)
            }
            outcome => (gate, outcome),
        };
        if let Err(AuthFailure::UnknownKey(reason)) = &outcome {
            gate.count_failure(request, reason);
        }
        (gate, outcome)
    }

    /// Fetch the plugins' documents again (rate-limited) and, if they
    /// changed, put a gate configured with them in force; whether it did.
    fn refetch(&self) -> bool {
        self.refetch
            .read()
            .as_ref()
            .is_some_and(|refetch| refetch())
    }
}

/// The configured providers.
pub struct AuthGate {
    authn: Option<AuthnProvider>,
    authz: Option<Authorizer>,
    overwrite_singleton: bool,
    limiter: FailureLimiter,
    trusted_proxies: Vec<String>,
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
            limiter: FailureLimiter::new(LimitSettings {
                max_failures: 0,
                window: Duration::from_secs(1),
            }),
            trusted_proxies: Vec::new(),
        }
    }

    pub(crate) fn new(
        authn: AuthnProvider,
        authz: Option<Authorizer>,
        overwrite_singleton: bool,
        limits: LimitSettings,
        trusted_proxies: Vec<String>,
    ) -> Self {
        AuthGate {
            authn: Some(authn),
            authz,
            overwrite_singleton,
            limiter: FailureLimiter::new(limits),
            trusted_proxies,
        }
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy,
    /// in which case the right-most `X-Forwarded-For` entry that is not
    /// itself a trusted proxy.
    pub fn client_address(&self, peer: Option<&str>, forwarded_for: &[&str]) -> Option<String> {
        let trusted = |a: &str| self.trusts_proxy(a);
        let peer = peer?;
        if !trusted(peer) {
            return Some(peer.to_string());
        }
        let hops: Vec<&str> = forwarded_for
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        hops.iter()
            .rev()
            .find(|h| !trusted(h))
            .or(hops.first())
            .map_or(Some(peer.to_string()), |h| Some((*h).to_string()))
    }

    /// Whether `peer` is a proxy whose `X-Forwarded-*` headers are believed
    /// (`PRISM_TRUSTED_PROXIES`).
    pub fn trusts_proxy(&self, peer: &str) -> bool {
        self.trusted_proxies.iter().any(|t| t == "*" || t == peer)
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

    /// The providers in force as `name version` (authentication, then
    /// authorization), for logs.
    pub fn providers(&self) -> Vec<String> {
        let authn = self.authn.as_ref().map(|a| a.authenticator.plugin());
        let authz = self.authz.as_ref().map(|a| a.plugin());
        authn
            .into_iter()
            .chain(authz)
            .map(|p| format!("{} {}", p.name(), p.metadata().version))
            .collect()
    }

    /// Which credentials are in force: a digest of the authentication
    /// provider's component, settings and files (`None` without
    /// authentication). A reload that changes any of them changes it, and
    /// console sessions started under the old value end.
    pub fn credentials_digest(&self) -> Option<[u8; 32]> {
        self.authn.as_ref().map(|a| a.credentials)
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
        let address = request.client_address.as_deref();
        let user = basic_user(request);
        if let Some(wait) = self.limiter.blocked(address, user.as_deref()) {
            return Err(AuthFailure::Throttled(wait));
        }
        let result = self.call_authenticator(authn, request, key);
        // An unknown key may be a rotation the shared gate fetches and asks
        // again about ([`SharedGate::authenticate`]): counted there, once.
        if let Err(AuthFailure::Unauthenticated(reason) | AuthFailure::Refused(reason)) = &result {
            self.count_failure(request, reason);
        }
        result
    }

    /// Count a failed authentication of `request` towards the brute-force
    /// limits (per client address, and per Basic user name).
    fn count_failure(&self, request: &HttpRequest, reason: &str) {
        let address = request.client_address.as_deref();
        self.limiter
            .record_failure(address, basic_user(request).as_deref());
        tracing::debug!(client = address, %reason, "failed authentication counted");
    }

    fn call_authenticator(
        &self,
        authn: &AuthnProvider,
        request: &HttpRequest,
        key: Option<[u8; 32]>,
    ) -> Result<Option<Arc<Identity>>, AuthFailure> {
        match authn.authenticator.authenticate(request) {
            Ok(Ok(identity)) => {
                let identity = Arc::new(identity);
                if let Some(key) = key {
                    authn.cache.put(key, identity.clone());
                }
                Ok(Some(identity))
            }
            Ok(Err(e)) => Err(match e {
                AuthnError::NoCredentials => AuthFailure::Unauthenticated("no credentials".into()),
                AuthnError::BadCredentials => {
                    AuthFailure::Unauthenticated("bad credentials".into())
                }
                AuthnError::Malformed(m) => {
                    AuthFailure::Unauthenticated(format!("malformed credentials: {m}"))
                }
                AuthnError::Refused(m) => AuthFailure::Refused(m),
                AuthnError::UnknownKey(m) => AuthFailure::UnknownKey(m),
                AuthnError::Internal(m) => {
                    AuthFailure::Unauthenticated(format!("provider error: {m}"))
                }
            }),
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
    /// tenant/database scope, then the authorization plugin, if any, which
    /// also sees the request's [`RequestFacts`]. Blocks while the plugin
    /// runs. Allowed, the answer is the `where` clause (JSON text) the
    /// records acted on must match, when the plugin restricted them; only
    /// actions on records carry one.
    pub fn authorize(
        &self,
        identity: Option<&Identity>,
        action: Action,
        resource: &Resource,
        facts: &RequestFacts<'_>,
    ) -> Result<Option<String>, AuthFailure> {
        let Some(identity) = identity else {
            return Ok(None);
        };
        if let Err(reason) = within_scope(identity, action, resource) {
            tracing::info!(user = %identity.user_id, %action, %reason, "denied by the identity's scope");
            return Err(AuthFailure::Forbidden(reason));
        }
        let Some(authz) = &self.authz else {
            return Ok(None);
        };
        match authz.authorize(&facts.told(identity), action.as_str(), resource) {
            Ok(Decision::Allow) => Ok(None),
            Ok(Decision::AllowWhere(filter)) => Ok(action.acts_on_records().then_some(filter)),
            Ok(Decision::Deny(reason)) => {
                tracing::info!(user = %identity.user_id, %action, %reason, "denied by the authorization provider");
                Err(AuthFailure::Forbidden(reason))
            }
            Err(e) => Err(AuthFailure::Unavailable(e)),
        }
    }
}

/// The user name of `Authorization: Basic` credentials, to count failures per
/// user as well as per address, and to name who tried in audit events.
pub fn basic_user(request: &HttpRequest) -> Option<String> {
    let (_, value) = request.headers.iter().find(|(k, _)| k == "authorization")?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || rest.len() > 8 * 1024 {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(u, _)| u.to_string())
}

/// The databases `identity` is confined to; `None` when any (no scope, or
/// `*`). Listings show an identity no more than this.
pub fn database_scope(identity: &Identity) -> Option<&[String]> {
    identity
        .databases
        .as_deref()
        .filter(|dbs| !dbs.iter().any(|d| d == "*"))
}

/// A token scoped to a tenant and databases reaches nothing else; `*` (or no
/// scope) means any. Actions above any tenant (reset) need an unscoped identity.
fn within_scope(identity: &Identity, action: Action, resource: &Resource) -> Result<(), String> {
    let tenant_scope = identity.tenant.as_deref().filter(|t| *t != "*");
    let db_scope = database_scope(identity);
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

/// What the host tells an authorization plugin about the request besides
/// who made it, as identity attributes under the reserved `prism.` prefix
/// (the contract's authorizer sees no request): `prism.client-address` (the
/// peer, after trusted-proxy handling, when known) and `prism.received-at`
/// (seconds since the Unix epoch). Rules by time of day or network need
/// them, and an authentication plugin cannot forge them: attributes it set
/// under `prism.` are dropped.
pub struct RequestFacts<'a> {
    pub client_address: Option<&'a str>,
    pub received_at: u64,
}

/// The prefix of attributes only the host sets.
pub const HOST_ATTRIBUTE_PREFIX: &str = "prism.";

impl RequestFacts<'_> {
    /// Facts about a request received now.
    pub fn now(client_address: Option<&str>) -> RequestFacts<'_> {
        let received_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        RequestFacts {
            client_address,
            received_at,
        }
    }

    /// `identity` as the authorizer sees it.
    fn told(&self, identity: &Identity) -> Identity {
        let mut seen = identity.clone();
        seen.attributes
            .retain(|(key, _)| !key.starts_with(HOST_ATTRIBUTE_PREFIX));
        if let Some(address) = self.client_address {
            seen.attributes
                .push(("prism.client-address".into(), address.to_string()));
        }
        seen.attributes
            .push(("prism.received-at".into(), self.received_at.to_string()));
        seen
    }
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
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut gate = AuthGate::open();
        assert_eq!(
            gate.client_address(Some("1.2.3.4"), &["9.9.9.9"])
                .as_deref(),
            Some("1.2.3.4")
        );
        gate.trusted_proxies = vec!["127.0.0.1".into(), "10.0.0.2".into()];
        assert_eq!(
            gate.client_address(Some("127.0.0.1"), &["6.6.6.6, 9.9.9.9, 10.0.0.2"])
                .as_deref(),
            Some("9.9.9.9"),
            "the right-most untrusted hop; earlier ones are the client's to forge"
        );
        assert_eq!(
            gate.client_address(Some("127.0.0.1"), &[]).as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            gate.client_address(Some("5.5.5.5"), &["9.9.9.9"])
                .as_deref(),
            Some("5.5.5.5")
        );
    }

    #[test]
    fn basic_user_names_are_read_for_counting() {
        let r = HttpRequest::new("GET", "/").with_header("authorization", "Basic YWxpY2U6eA==");
        assert_eq!(basic_user(&r).as_deref(), Some("alice"));
        let r = HttpRequest::new("GET", "/").with_header("authorization", "Bearer x");
        assert_eq!(basic_user(&r), None);
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

    #[test]
    fn the_authorizer_is_told_the_request_and_no_forged_facts() {
        let mut identity = who(None, None);
        identity.attributes = vec![
            ("role".into(), "reader".into()),
            ("prism.client-address".into(), "10.9.9.9".into()),
        ];
        let facts = RequestFacts {
            client_address: Some("192.0.2.7"),
            received_at: 1_800_000_000,
        };
        assert_eq!(
            facts.told(&identity).attributes,
            [
                ("role".into(), "reader".into()),
                ("prism.client-address".into(), "192.0.2.7".into()),
                ("prism.received-at".into(), "1800000000".into()),
            ]
        );
        let unknown = RequestFacts {
            client_address: None,
            received_at: 5,
        };
        assert_eq!(
            unknown.told(&identity).attributes,
            [
                ("role".into(), "reader".into()),
                ("prism.received-at".into(), "5".into()),
            ]
        );
    }
}

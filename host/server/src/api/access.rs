//! The only road from a request to the engine. A handler gets a [`Caller`]
//! (authenticated, or anonymous when auth is off), names the action and its
//! target, and receives an [`Authorized`] — the sole holder of the engine.
//! [`AppState`]'s fields are private to this module, so a route that skips
//! the check cannot reach any data.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use prism_auth::{
    Action, AuthFailure, AuthGate, CallError, HttpRequest, Identity, RequestFacts, Resource,
    SharedGate,
};
use prism_engine::{Engine, EngineError, RecordSelector, RowFilter};
use uuid::Uuid;

use super::TraceId;
use super::error::{ApiError, ErrorKind};
use super::extract::collection_uuid;
use crate::audit::{self, AuditEvent};
use crate::gateway::Gateway;
use crate::listen::Peer;
use crate::metrics::{self, Outcome};

/// What the router hands every handler.
#[derive(Clone)]
pub struct AppState {
    data: Data,
    gates: Arc<SharedGate>,
}

/// Where the records are: two implementations of the same data interface,
/// reached only through [`Authorized`].
#[derive(Clone)]
enum Data {
    /// Prism's own engine.
    Local(Arc<Engine>),
    /// An upstream Chroma, in gateway mode.
    Upstream(Arc<Gateway>),
}

impl AppState {
    /// State over an engine, guarded by whichever gate `gates` holds.
    pub fn new(engine: Arc<Engine>, gates: Arc<SharedGate>) -> Self {
        AppState {
            data: Data::Local(engine),
            gates,
        }
    }

    /// State of a gateway to an upstream Chroma, guarded the same way.
    pub fn gateway(gateway: Arc<Gateway>, gates: Arc<SharedGate>) -> Self {
        AppState {
            data: Data::Upstream(gateway),
            gates,
        }
    }

    /// The upstream, for the routes that answer anyone (heartbeat, version,
    /// pre-flight checks, healthcheck) and reach no data.
    pub fn public_upstream(&self) -> Option<&Arc<Gateway>> {
        match &self.data {
            Data::Upstream(gateway) => Some(gateway),
            Data::Local(_) => None,
        }
    }
}

/// Who is calling: the identity the authentication plugin returned, or
/// nobody in particular when authentication is off.
#[derive(Clone)]
pub struct Caller {
    data: Data,
    /// The gate in force when the request arrived; it finishes on it.
    gate: Arc<AuthGate>,
    identity: Option<Arc<Identity>>,
    /// For audit events.
    trace: Trace,
}

/// Where a request came from, for audit events.
#[derive(Clone, Default)]
struct Trace {
    id: String,
    client: Option<String>,
}

impl AppState {
    /// The auth gate in force now (which providers, whose credentials); it
    /// reaches no data.
    pub fn gate(&self) -> Arc<AuthGate> {
        self.gates.current()
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let gate = state.gates.current();
        if !gate.authenticates() {
            return Ok(Caller::anonymous(state));
        }
        let trace_id = parts
            .extensions
            .get::<TraceId>()
            .map_or_else(String::new, |t| t.0.clone());
        let request = plugin_request(parts, &gate);
        authenticate(state, gate, request, trace_id).await
    }
}

/// Who sent `request` (built by [`plugin_request`], possibly with other
/// credentials, as the console's login form does), asked of `gate`: the
/// credential cache, the brute-force limits and the audit trail exactly as
/// for an API request.
pub async fn authenticate(
    state: &AppState,
    gate: Arc<AuthGate>,
    request: HttpRequest,
    trace_id: String,
) -> Result<Caller, ApiError> {
    let data = state.data.clone();
    let trace = Trace {
        id: trace_id,
        client: request.client_address.clone(),
    };
    let audit_authn = |gate: &AuthGate, user: Option<&str>, allowed: bool, reason: Option<&str>| {
        audit::record(AuditEvent {
            trace_id: &trace.id,
            client: trace.client.as_deref(),
            user,
            stage: "authn",
            action: None,
            resource: None,
            allowed,
            reason,
            provider: gate.authn_name(),
        })
    };
    if let Some(identity) = gate.cached_identity(&request) {
        audit_authn(&gate, Some(&identity.user_id), true, Some("cached"));
        metrics::auth_decision(
            "authn",
            gate.authn_name().unwrap_or("none"),
            Outcome::Cached,
        );
        return Ok(Caller {
            data,
            gate,
            identity: Some(identity),
            trace,
        });
    }
    let claimed_user = prism_auth::basic_user(&request);
    let gates = state.gates.clone();
    let (gate, outcome, elapsed) = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let (gate, outcome) = gates.authenticate(gate, &request);
        (gate, outcome, started.elapsed())
    })
    .await
    .map_err(worker_failed)?;
    count_decision(
        "authn",
        gate.authn_name().unwrap_or("none"),
        true,
        &outcome,
        elapsed,
    );
    match outcome {
        Ok(identity) => {
            let user = identity.as_deref().map(|i| i.user_id.as_str());
            audit_authn(&gate, user, true, None);
            Ok(Caller {
                data,
                gate,
                identity,
                trace,
            })
        }
        Err(failure) => {
            audit_authn(
                &gate,
                claimed_user.as_deref(),
                false,
                Some(&failure.to_string()),
            );
            Err(refusal(&gate, failure))
        }
    }
}

/// What an action is done to, as the route names it.
pub enum Target<'a> {
    /// The whole server (reset, cloud-only features).
    Server,
    /// A tenant.
    Tenant(&'a str),
    /// A database of a tenant.
    Database(&'a str, &'a str),
    /// A collection addressed by name.
    CollectionNamed(&'a str, &'a str, &'a str),
    /// A collection addressed by id (parsed here: a malformed id is a 400).
    CollectionId(&'a str, &'a str, &'a str),
}

/// The tenant, database and collection an authorized request acts on.
#[derive(Debug, Clone)]
pub struct At {
    /// Tenant (after the singleton overwrite).
    pub tenant: String,
    /// Database (after the singleton overwrite).
    pub database: String,
    collection_id: Option<Uuid>,
    /// Row-level security: the only records of the collection the caller
    /// may see, when authorization restricted them.
    rows: Option<RowFilter>,
}

impl At {
    /// The collection id of a [`Target::CollectionId`] target.
    pub fn collection_id(&self) -> Uuid {
        self.collection_id.unwrap_or_default()
    }

    /// The collection id of the target, if it names one.
    pub fn collection_id_if_any(&self) -> Option<Uuid> {
        self.collection_id
    }

    /// The records the caller may see, if authorization restricted them.
    pub fn rows(&self) -> Option<&RowFilter> {
        self.rows.as_ref()
    }

    /// `request` with its record selector (found by `selector`)
    /// restricted to the caller's rows.
    pub fn restrict<R>(
        &self,
        mut request: R,
        selector: impl FnOnce(&mut R) -> &mut RecordSelector,
    ) -> R {
        selector(&mut request).rows = self.rows.clone();
        request
    }
}

/// Permission to run one engine call (the authorization plugin, if any,
/// decides on the same blocking thread just before it), or to forward one
/// request upstream in gateway mode.
pub struct Authorized {
    data: Data,
    at: At,
    pending: Option<PendingCheck>,
    /// An identity's scope was checked against the route's tenant and
    /// database (not so when authentication is off).
    scoped: bool,
}

impl Caller {
    /// Nobody in particular: authentication is off.
    pub fn anonymous(state: &AppState) -> Caller {
        Caller {
            data: state.data.clone(),
            gate: state.gates.current(),
            identity: None,
            trace: Trace::default(),
        }
    }

    /// A caller whose identity was established earlier (the console's
    /// session, started by [`authenticate`]); its decisions are made by the
    /// gate in force now, and audited under `trace_id`.
    pub fn resumed(
        state: &AppState,
        identity: Option<Arc<Identity>>,
        trace_id: String,
        client: Option<String>,
    ) -> Caller {
        Caller {
            data: state.data.clone(),
            gate: state.gates.current(),
            identity,
            trace: Trace {
                id: trace_id,
                client,
            },
        }
    }

    /// The client's address (the forwarded one from a trusted proxy), when
    /// the caller was authenticated.
    pub fn client_address(&self) -> Option<&str> {
        self.trace.client.as_deref()
    }

    /// The caller's identity as shared.
    pub fn shared_identity(&self) -> Option<Arc<Identity>> {
        self.identity.clone()
    }

    /// Whether the caller may do `action` to `target`, asked as
    /// [`authorize`](Self::authorize) asks but not recorded in the audit
    /// trail: the console asks it to decide which buttons to show, and the
    /// action itself, if taken, is checked and recorded again.
    pub async fn may(&self, action: Action, target: Target<'_>) -> bool {
        match self.clone().authorize_as(action, target, false).await {
            Ok(authorized) => authorized.check().await.is_ok(),
            Err(_) => false,
        }
    }

    /// The caller's identity; `None` when authentication is off.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_deref()
    }

    /// Check that the caller may do `action` to `target`: the identity's
    /// scope now, the authorization plugin (if any) when the returned
    /// [`Authorized`] runs.
    pub async fn authorize(
        self,
        action: Action,
        target: Target<'_>,
    ) -> Result<Authorized, ApiError> {
        self.authorize_as(action, target, true).await
    }

    async fn authorize_as(
        self,
        action: Action,
        target: Target<'_>,
        audited: bool,
    ) -> Result<Authorized, ApiError> {
        let (tenant, database, name, id) = match target {
            Target::Server => (None, None, None, None),
            Target::Tenant(t) => (Some(t), None, None, None),
            Target::Database(t, d) => (Some(t), Some(d), None, None),
            Target::CollectionNamed(t, d, n) => (Some(t), Some(d), Some(n), None),
            Target::CollectionId(t, d, raw) => (Some(t), Some(d), None, Some(raw)),
        };
        let scope = self.gate.scope(self.identity.as_deref(), tenant, database);
        let collection_id = id.map(collection_uuid).transpose()?;
        let at = At {
            tenant: scope.tenant.clone().unwrap_or_default(),
            database: scope.database.clone().unwrap_or_default(),
            collection_id,
            rows: None,
        };
        let mut authorized = Authorized {
            data: self.data.clone(),
            at,
            pending: None,
            scoped: false,
        };
        let Some(identity) = self.identity else {
            return Ok(authorized);
        };
        authorized.scoped = true;
        let resource = Resource {
            tenant: scope.tenant,
            database: scope.database,
            collection: name.map(String::from),
            collection_id: collection_id.map(|id| id.to_string()),
        };
        let check = PendingCheck {
            gate: self.gate,
            identity,
            action,
            resource,
            trace: self.trace,
            audited,
        };
        if check.gate.authorizes() {
            // The plugin runs on the blocking thread that runs the engine
            // call, saving a thread hop per request.
            authorized.pending = Some(check);
        } else {
            // Only the identity's scope: nothing to wait for, and no rows.
            check.decide(None)?;
        }
        Ok(authorized)
    }
}

/// An authorization plugin decision still to be made before the engine call.
struct PendingCheck {
    gate: Arc<AuthGate>,
    identity: Arc<Identity>,
    action: Action,
    resource: Resource,
    trace: Trace,
    /// Recorded in the audit trail (not when the console only asks).
    audited: bool,
}

impl PendingCheck {
    /// Decide and record the decision; allowed, the answer is the row
    /// filter authorization restricted the records to, if it did. A route
    /// that addresses its collection by id passes the collection's name,
    /// so grants by collection-name pattern work for it too.
    fn decide(mut self, collection_name: Option<String>) -> Result<Option<RowFilter>, ApiError> {
        if collection_name.is_some() {
            self.resource.collection = collection_name;
        }
        let started = std::time::Instant::now();
        let decision = self.gate.authorize(
            Some(&self.identity),
            self.action,
            &self.resource,
            &RequestFacts::now(self.trace.client.as_deref()),
        );
        if self.audited {
            count_decision(
                "authz",
                self.gate.authz_name().unwrap_or("scope"),
                self.gate.authorizes(),
                &decision,
                started.elapsed(),
            );
        }
        // Allowed on some records only, the event says which.
        let reason = match &decision {
            Ok(rows) => rows.as_ref().map(|text| format!("row filter {text}")),
            Err(failure) => Some(failure.to_string()),
        };
        if !self.audited {
            return match decision {
                Ok(_) => Ok(None),
                Err(failure) => Err(refusal(&self.gate, failure)),
            };
        }
        audit::record(AuditEvent {
            trace_id: &self.trace.id,
            client: self.trace.client.as_deref(),
            user: Some(&self.identity.user_id),
            stage: "authz",
            action: Some(self.action.as_str()),
            resource: Some(&self.resource),
            allowed: decision.is_ok(),
            reason: reason.as_deref(),
            provider: Some(self.gate.authz_name().unwrap_or("scope")),
        });
        let rows = decision.map_err(|f| refusal(&self.gate, f))?;
        rows.map(|text| self.row_filter(&text)).transpose()
    }

    /// The plugin's row filter, parsed; one that does not parse is the
    /// plugin's fault, refused as a failed plugin is (fail closed).
    fn row_filter(&self, text: &str) -> Result<RowFilter, ApiError> {
        serde_json::from_str(text)
            .map_err(|e| e.to_string())
            .and_then(|clause| RowFilter::new(&clause).map_err(|e| e.to_string()))
            .map_err(|error| {
                tracing::error!(
                    provider = self.gate.authz_name(),
                    user = %self.identity.user_id,
                    action = %self.action,
                    %error,
                    "the authorization provider allowed with a row filter that does not parse; request refused"
                );
                ApiError::new(
                    ErrorKind::AuthUnavailable,
                    "Authorization is unavailable: the auth provider returned a row filter that does not parse (details in the server log)",
                )
            })
    }
}

impl Authorized {
    /// Run the engine call on a blocking thread.
    pub async fn run<T, F>(self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Engine, &At) -> Result<T, EngineError> + Send + 'static,
    {
        let Authorized {
            data,
            mut at,
            pending,
            ..
        } = self;
        let Data::Local(engine) = data else {
            return Err(ApiError::internal(
                "a route of the local engine was reached in gateway mode",
            ));
        };
        tokio::task::spawn_blocking(move || {
            if let Some(check) = pending {
                let name = at
                    .collection_id
                    .and_then(|id| engine.collection_name(&at.tenant, &at.database, id).ok());
                at.rows = check.decide(name)?;
            }
            f(&engine, &at).map_err(ApiError::from)
        })
        .await
        .map_err(worker_failed)?
    }

    /// In gateway mode: finish the authorization against the upstream (a
    /// collection addressed by id must be in the tenant and database the
    /// route names, which is what the identity's scope was checked
    /// against) and hand over what to forward where.
    pub async fn upstream(self) -> Result<(Arc<Gateway>, At), ApiError> {
        let Authorized {
            data,
            mut at,
            pending,
            scoped,
        } = self;
        let Data::Upstream(gateway) = data else {
            return Err(ApiError::internal(
                "a gateway route was reached with the local engine",
            ));
        };
        // Looked up first (grants may name collections), refused after the
        // decision: a denied caller learns nothing of what exists.
        let place = match at.collection_id {
            Some(_) if scoped => Some(gateway.collection_name(&at).await),
            _ => None,
        };
        if let Some(check) = pending {
            let name = place.as_ref().and_then(|p| p.as_ref().ok().cloned());
            at.rows = tokio::task::spawn_blocking(move || check.decide(name))
                .await
                .map_err(worker_failed)??;
        }
        if let Some(Err(error)) = place {
            return Err(error);
        }
        Ok((gateway, at))
    }

    /// Whether the data is Prism's own engine (not an upstream's).
    pub fn is_local(&self) -> bool {
        matches!(self.data, Data::Local(_))
    }

    /// Finish the authorization without an engine call (routes that answer
    /// without data still check who is asking).
    pub async fn check(self) -> Result<(), ApiError> {
        match self.data {
            Data::Local(_) => self.run(|_, _| Ok(())).await,
            Data::Upstream(_) => self.upstream().await.map(|_| ()),
        }
    }
}

/// Count a decision of `stage` in the metrics, and the plugin call that
/// made it when one did.
fn count_decision<T>(
    stage: &'static str,
    provider: &str,
    by_plugin: bool,
    decision: &Result<T, AuthFailure>,
    elapsed: std::time::Duration,
) {
    let (outcome, failure) = match decision {
        Ok(_) => (Outcome::Allowed, None),
        Err(AuthFailure::Throttled(_)) => (Outcome::Throttled, None),
        Err(AuthFailure::Unavailable(error)) => (
            Outcome::Failed,
            Some(match error {
                CallError::Trap { .. } => "trap",
                CallError::Timeout { .. } => "timeout",
                CallError::OutOfMemory { .. } => "memory",
                CallError::Failed { .. } => "error",
            }),
        ),
        Err(_) => (Outcome::Denied, None),
    };
    metrics::auth_decision(stage, provider, outcome);
    if by_plugin && outcome != Outcome::Throttled {
        metrics::plugin_call(stage, provider, elapsed, failure);
    }
}

fn worker_failed(e: tokio::task::JoinError) -> ApiError {
    ApiError::internal(format!("worker failed: {e}"))
}

/// Every refusal looks like the reference Python server's; why is logged.
fn refusal(gate: &AuthGate, failure: AuthFailure) -> ApiError {
    match failure {
        AuthFailure::Unauthenticated(reason) => {
            tracing::debug!(provider = gate.authn_name(), %reason, "authentication failed");
            ApiError::new(ErrorKind::Forbidden, "Forbidden")
        }
        AuthFailure::Refused(reason) | AuthFailure::UnknownKey(reason) => {
            tracing::debug!(provider = gate.authn_name(), %reason, "credentials refused");
            ApiError::new(ErrorKind::Unauthorized, "Unauthorized")
        }
        AuthFailure::Forbidden(_) => ApiError::new(ErrorKind::Forbidden, "Forbidden"),
        AuthFailure::Throttled(wait) => {
            let secs = wait.as_secs() + 1;
            ApiError::too_many(
                format!("Too many failed authentication attempts; retry in {secs} s"),
                secs,
            )
        }
        AuthFailure::Unavailable(error) => {
            tracing::error!(%error, "auth plugin failed; request refused");
            ApiError::new(
                ErrorKind::AuthUnavailable,
                "Authentication is unavailable: the auth provider failed (details in the server log)",
            )
        }
    }
}

/// What an authentication plugin sees of a request; the client address is
/// the peer's, or the forwarded one when the peer is a trusted proxy.
pub fn plugin_request(parts: &Parts, gate: &AuthGate) -> HttpRequest {
    let peer = parts
        .extensions
        .get::<ConnectInfo<Peer>>()
        .map(|ConnectInfo(peer)| peer);
    let peer_address = peer.map(|peer| peer.address.ip().to_string());
    let forwarded: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    HttpRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        client_address: gate.client_address(peer_address.as_deref(), &forwarded),
        client_certificate_subject: peer.and_then(|peer| peer.certificate_subject.clone()),
        received_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    }
}

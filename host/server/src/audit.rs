//! The audit trail: one structured (JSON) event per authentication and
//! authorization decision, on the `prism::audit` tracing target, which the
//! logging setup sends to stderr or to `--audit-log FILE` apart from the
//! ordinary log. Events carry who, from where, what, on what, the decision,
//! why, and which provider decided — never credentials.

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::ValueEnum;
use prism_auth::Resource;

/// Which decisions are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditMode {
    /// Every decision.
    All,
    /// Only allowed requests.
    Allowed,
    /// Only refused requests (denied, throttled, failed).
    Denied,
    /// None.
    Off,
}

static MODE: OnceLock<AuditMode> = OnceLock::new();

/// Set once at startup; before that, everything is recorded.
pub fn set_mode(mode: AuditMode) {
    let _ = MODE.set(mode);
}

/// The tracing target audit events use.
pub const TARGET: &str = "prism::audit";

/// One decision.
pub struct AuditEvent<'a> {
    /// The request's trace id.
    pub trace_id: &'a str,
    /// The client's address (after trusted-proxy handling).
    pub client: Option<&'a str>,
    /// The user, when known.
    pub user: Option<&'a str>,
    /// `authn` or `authz`.
    pub stage: &'static str,
    /// Chroma's action name (authorization only).
    pub action: Option<&'a str>,
    /// What the action is done to (authorization only).
    pub resource: Option<&'a Resource>,
    /// Whether the request may go on.
    pub allowed: bool,
    /// Why (for refusals; "cached" for cache hits).
    pub reason: Option<&'a str>,
    /// The provider that decided (`scope` when the identity's own scope did).
    pub provider: Option<&'a str>,
}

/// Record `event` if the mode wants it.
pub fn record(event: AuditEvent<'_>) {
    let mode = MODE.get().copied().unwrap_or(AuditMode::All);
    let wanted = match mode {
        AuditMode::All => true,
        AuditMode::Allowed => event.allowed,
        AuditMode::Denied => !event.allowed,
        AuditMode::Off => false,
    };
    if !wanted {
        return;
    }
    let r = event.resource;
    remember(&event);
    tracing::info!(
        target: TARGET,
        trace_id = event.trace_id,
        client = event.client,
        user = event.user,
        stage = event.stage,
        action = event.action,
        tenant = r.and_then(|r| r.tenant.as_deref()),
        database = r.and_then(|r| r.database.as_deref()),
        collection = r.and_then(|r| r.collection.as_deref()),
        collection_id = r.and_then(|r| r.collection_id.as_deref()),
        decision = if event.allowed { "allow" } else { "deny" },
        reason = event.reason,
        provider = event.provider,
        "auth decision"
    );
}

/// How many of the latest recorded events the console's admin page can show.
pub const RECENT_CAPACITY: usize = 200;

/// A recorded event as the console shows it.
#[derive(Debug, Clone)]
pub struct RecentEvent {
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// The request's trace id.
    pub trace_id: String,
    /// The client's address.
    pub client: Option<String>,
    /// The user, when known.
    pub user: Option<String>,
    /// `authn` or `authz`.
    pub stage: &'static str,
    /// The action (authorization only).
    pub action: Option<String>,
    /// `tenant/database/collection`, as far as known.
    pub resource: Option<String>,
    /// Whether the request could go on.
    pub allowed: bool,
    /// Why.
    pub reason: Option<String>,
    /// Which provider decided.
    pub provider: Option<String>,
}

static RECENT: parking_lot::Mutex<VecDeque<RecentEvent>> = parking_lot::Mutex::new(VecDeque::new());

fn remember(event: &AuditEvent<'_>) {
    let resource = event.resource.map(|r| {
        [&r.tenant, &r.database, &r.collection]
            .iter()
            .filter_map(|part| part.as_deref())
            .collect::<Vec<_>>()
            .join("/")
    });
    let recent = RecentEvent {
        at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        trace_id: event.trace_id.to_string(),
        client: event.client.map(String::from),
        user: event.user.map(String::from),
        stage: event.stage,
        action: event.action.map(String::from),
        resource,
        allowed: event.allowed,
        reason: event.reason.map(String::from),
        provider: event.provider.map(String::from),
    };
    let mut events = RECENT.lock();
    if events.len() == RECENT_CAPACITY {
        events.pop_front();
    }
    events.push_back(recent);
}

/// The latest recorded events, newest first.
pub fn recent() -> Vec<RecentEvent> {
    RECENT.lock().iter().rev().cloned().collect()
}

//! The audit trail: one structured (JSON) event per authentication and
//! authorization decision, on the `prism::audit` tracing target, which the
//! logging setup sends to stderr or to `--audit-log FILE` apart from the
//! ordinary log. Events carry who, from where, what, on what, the decision,
//! why, and which provider decided — never credentials.

use std::sync::OnceLock;

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

//! Console sessions, kept in memory: a random 256-bit id in the cookie,
//! only its SHA-256 here, an idle timeout and an absolute lifetime, the
//! session's CSRF token, and the credentials digest it was started under.
//!
//! Sessions do not survive a restart. Keeping them would mean writing
//! what opens them to disk (even hashed ids let whoever reads the data
//! directory see who is logged in, and forging one needs only write access
//! to it); logging in again after a restart is the safe price.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use prism_auth::Identity;
use sha2::{Digest, Sha256};

/// Most sessions kept at once; past it the least recently used ends.
/// Each needs a successful login, so this bounds memory, not abuse.
const MAX_SESSIONS: usize = 10_000;

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Ends a session not used for this long.
    pub idle: Duration,
    /// Ends a session this long after login, used or not.
    pub lifetime: Duration,
}

/// One logged-in browser.
#[derive(Clone)]
pub struct Session {
    /// Who logged in; `None` when authentication is off.
    pub identity: Option<Arc<Identity>>,
    /// Must accompany every state-changing request of this session.
    pub csrf_token: String,
    /// The credentials in force at login ([`prism_auth::AuthGate::credentials_digest`]).
    credentials: Option<[u8; 32]>,
    started: Instant,
    last_used: Instant,
    /// When the identity itself lapses (its `expires-at` attribute: a
    /// token's expiry), if sooner than the session's lifetime.
    lapses: Option<SystemTime>,
}

/// The identity attribute an authentication provider sets to the time (in
/// seconds since the Unix epoch) its credentials stop being accepted.
pub const EXPIRES_AT: &str = "expires-at";

/// The sessions of one server.
pub struct SessionStore {
    limits: SessionLimits,
    sessions: parking_lot::Mutex<HashMap<[u8; 32], Session>>,
}

/// A new session's cookie value: shown to the browser once, never stored.
pub struct NewSession {
    /// The cookie value.
    pub cookie: String,
    /// The session.
    pub session: Session,
}

impl SessionStore {
    /// An empty store.
    pub fn new(limits: SessionLimits) -> Self {
        SessionStore {
            limits,
            sessions: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// How long sessions last.
    pub fn limits(&self) -> SessionLimits {
        self.limits
    }

    /// Start a session for `identity`, under the credentials `credentials`.
    pub fn start(
        &self,
        identity: Option<Arc<Identity>>,
        credentials: Option<[u8; 32]>,
    ) -> NewSession {
        let cookie = random_token();
        let now = Instant::now();
        let lapses = identity.as_deref().and_then(|i| {
            let (_, secs) = i.attributes.iter().find(|(k, _)| k == EXPIRES_AT)?;
            let secs: u64 = secs.parse().ok()?;
            UNIX_EPOCH.checked_add(Duration::from_secs(secs))
        });
        let session = Session {
            identity,
            csrf_token: random_token(),
            credentials,
            started: now,
            last_used: now,
            lapses,
        };
        let mut sessions = self.sessions.lock();
        self.forget_expired(&mut sessions, now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| *k)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(digest(&cookie), session.clone());
        NewSession { cookie, session }
    }

    /// The session `cookie` opens, if it is live and was started under the
    /// credentials in force now (`credentials`); using it keeps it from
    /// idling out. A session found expired or outdated ends.
    pub fn resume(&self, cookie: &str, credentials: Option<[u8; 32]>) -> Option<Session> {
        let key = digest(cookie);
        let now = Instant::now();
        let mut sessions = self.sessions.lock();
        let session = sessions.get_mut(&key)?;
        if self.expired(session, now) || session.credentials != credentials {
            sessions.remove(&key);
            return None;
        }
        session.last_used = now;
        Some(session.clone())
    }

    /// End the session `cookie` opens; whether there was one.
    pub fn end(&self, cookie: &str) -> bool {
        self.sessions.lock().remove(&digest(cookie)).is_some()
    }

    /// Sessions live now.
    pub fn len(&self) -> usize {
        let mut sessions = self.sessions.lock();
        self.forget_expired(&mut sessions, Instant::now());
        sessions.len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn expired(&self, session: &Session, now: Instant) -> bool {
        now.duration_since(session.last_used) >= self.limits.idle
            || now.duration_since(session.started) >= self.limits.lifetime
            || session.lapses.is_some_and(|at| SystemTime::now() >= at)
    }

    fn forget_expired(&self, sessions: &mut HashMap<[u8; 32], Session>, now: Instant) {
        sessions.retain(|_, s| !self.expired(s, now));
    }
}

/// 256 random bits, URL-safe base64.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

/// Whether two tokens are equal, in time independent of where they differ
/// (both are hashed first, so their lengths do not show either).
pub fn tokens_equal(a: &str, b: &str) -> bool {
    let (a, b) = (digest(a), digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(idle_ms: u64, lifetime_ms: u64) -> SessionStore {
        SessionStore::new(SessionLimits {
            idle: Duration::from_millis(idle_ms),
            lifetime: Duration::from_millis(lifetime_ms),
        })
    }

    fn alice() -> Option<Arc<Identity>> {
        Some(Arc::new(Identity {
            user_id: "alice".into(),
            tenant: None,
            databases: None,
            attributes: vec![],
        }))
    }

    #[test]
    fn a_session_is_found_by_its_cookie_only_and_ends_on_logout() {
        let store = store(60_000, 60_000);
        let new = store.start(alice(), Some([1; 32]));
        assert_eq!(new.cookie.len(), 43, "256 bits in URL-safe base64");
        let found = store.resume(&new.cookie, Some([1; 32])).unwrap();
        assert_eq!(found.identity.unwrap().user_id, "alice");
        assert_eq!(found.csrf_token, new.session.csrf_token);
        assert!(store.resume("not-the-cookie", Some([1; 32])).is_none());
        assert!(store.end(&new.cookie));
        assert!(store.resume(&new.cookie, Some([1; 32])).is_none());
        assert!(!store.end(&new.cookie));
    }

    #[test]
    fn the_store_holds_no_cookie_value() {
        let store = store(60_000, 60_000);
        let new = store.start(alice(), None);
        let sessions = store.sessions.lock();
        assert!(!sessions.contains_key(new.cookie.as_bytes()));
        assert!(sessions.contains_key(&digest(&new.cookie)));
    }

    #[test]
    fn changed_credentials_end_the_session() {
        let store = store(60_000, 60_000);
        let new = store.start(alice(), Some([1; 32]));
        assert!(store.resume(&new.cookie, Some([2; 32])).is_none());
        assert!(
            store.resume(&new.cookie, Some([1; 32])).is_none(),
            "ended, not just refused"
        );
    }

    #[test]
    fn an_idle_session_ends_and_a_used_one_lives_until_its_lifetime() {
        let store = store(400, 1_000);
        let idle = store.start(alice(), None);
        let used = store.start(alice(), None);
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(200));
            assert!(store.resume(&used.cookie, None).is_some());
        }
        assert!(
            store.resume(&idle.cookie, None).is_none(),
            "idle for 800 ms"
        );
        std::thread::sleep(Duration::from_millis(250));
        assert!(
            store.resume(&used.cookie, None).is_none(),
            "used 250 ms ago, but past its lifetime"
        );
        assert!(store.is_empty());
    }

    #[test]
    fn a_session_ends_when_its_identity_lapses() {
        let store = store(60_000, 60_000);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let token_user = |expires: u64| {
            Some(Arc::new(Identity {
                user_id: "alice".into(),
                tenant: None,
                databases: None,
                attributes: vec![(EXPIRES_AT.into(), expires.to_string())],
            }))
        };
        let lapsed = store.start(token_user(now - 1), None);
        let later = store.start(token_user(now + 3_600), None);
        assert!(store.resume(&lapsed.cookie, None).is_none());
        assert!(store.resume(&later.cookie, None).is_some());
    }

    #[test]
    fn tokens_compare_by_value() {
        assert!(tokens_equal("abc", "abc"));
        assert!(!tokens_equal("abc", "abd"));
        assert!(!tokens_equal("abc", ""));
    }
}

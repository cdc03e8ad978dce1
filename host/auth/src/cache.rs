//! Successful authentications, remembered for a short time so bcrypt is not
//! paid on every request.
//!
//! Entries are keyed by an HMAC-SHA256 (under a key made at startup) of the
//! provider and the headers its answer depends on: the secret itself is never
//! stored, and the key cannot be computed without the process's memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use prism_plugin_host::{HttpRequest, Identity};
use sha2::Sha256;

/// Entries kept at most; past this, expired ones are dropped and, if that is
/// not enough, everything (a flood of distinct valid credentials is rare).
const MAX_ENTRIES: usize = 10_000;

/// A verified identity and when it was verified.
type Entry = (Arc<Identity>, Instant);

/// A keyed-hash cache of verified credentials.
pub struct CredentialCache {
    key: [u8; 32],
    ttl: Duration,
    /// Header names (lower-case) the provider's answer depends on.
    headers: Vec<String>,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl CredentialCache {
    /// A cache for a provider whose answer depends on `headers` only; with
    /// no headers or a zero TTL nothing is ever cached.
    pub fn new(provider: &str, headers: &[String], ttl: Duration) -> Self {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        // Bind the key to the provider so two providers never share entries.
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(provider.as_bytes());
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        CredentialCache {
            key,
            ttl,
            headers: headers.iter().map(|h| h.to_ascii_lowercase()).collect(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self) -> bool {
        !self.headers.is_empty() && !self.ttl.is_zero()
    }

    /// The cache key of a request, or `None` if it carries none of the
    /// headers (nothing worth caching) or caching is off.
    pub fn key_of(&self, request: &HttpRequest) -> Option<[u8; 32]> {
        if !self.enabled() {
            return None;
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        let mut any = false;
        for name in &self.headers {
            mac.update(name.as_bytes());
            mac.update(&[0]);
            for (_, value) in request.headers.iter().filter(|(k, _)| k == name) {
                any = true;
                mac.update(&(value.len() as u64).to_le_bytes());
                mac.update(value.as_bytes());
            }
            mac.update(&[0xff]);
        }
        // The verified client certificate is part of who is asking: the same
        // headers over another certificate must be asked about afresh.
        match &request.client_certificate_subject {
            Some(subject) => {
                mac.update(&[1]);
                mac.update(subject.as_bytes());
            }
            None => mac.update(&[0]),
        }
        any.then(|| mac.finalize().into_bytes().into())
    }

    /// The identity remembered under `key`, if still fresh.
    pub fn get(&self, key: &[u8; 32]) -> Option<Arc<Identity>> {
        let mut entries = self.entries.lock();
        match entries.get(key) {
            Some((identity, at)) if at.elapsed() < self.ttl => Some(identity.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remember a verified identity.
    pub fn put(&self, key: [u8; 32], identity: Arc<Identity>) {
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (identity, Instant::now()));
    }

    /// Forget everything (credentials changed).
    pub fn clear(&self) {
        self.entries.lock().clear();
    }

    /// Entries held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> HttpRequest {
        headers
            .iter()
            .fold(HttpRequest::new("GET", "/"), |r, (k, v)| {
                r.with_header(k, v)
            })
    }

    fn who(name: &str) -> Arc<Identity> {
        Arc::new(Identity {
            user_id: name.into(),
            tenant: None,
            databases: None,
            attributes: vec![],
        })
    }

    #[test]
    fn keys_depend_on_the_declared_headers_only() {
        let c = CredentialCache::new("p", &["authorization".into()], Duration::from_secs(60));
        let a = c.key_of(&request(&[("authorization", "Basic a"), ("x-other", "1")]));
        let b = c.key_of(&request(&[("authorization", "Basic a"), ("x-other", "2")]));
        let d = c.key_of(&request(&[("authorization", "Basic b")]));
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_ne!(a, d);
        assert_eq!(c.key_of(&request(&[("x-other", "1")])), None);
    }

    #[test]
    fn keys_depend_on_the_client_certificate() {
        let c = CredentialCache::new("p", &["authorization".into()], Duration::from_secs(60));
        let plain = request(&[("authorization", "Bearer x")]);
        let mut alice = plain.clone();
        alice.client_certificate_subject = Some("CN=alice".into());
        let mut bob = plain.clone();
        bob.client_certificate_subject = Some("CN=bob".into());
        let keys = [c.key_of(&plain), c.key_of(&alice), c.key_of(&bob)];
        assert!(keys.iter().all(Option::is_some));
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[1], keys[2]);
    }

    #[test]
    fn two_caches_never_share_keys() {
        let h = vec!["authorization".to_string()];
        let one = CredentialCache::new("p", &h, Duration::from_secs(60));
        let two = CredentialCache::new("p", &h, Duration::from_secs(60));
        let r = request(&[("authorization", "Bearer x")]);
        assert_ne!(one.key_of(&r), two.key_of(&r));
    }

    #[test]
    fn entries_expire_and_clear() {
        let c = CredentialCache::new("p", &["authorization".into()], Duration::from_millis(30));
        let k = c.key_of(&request(&[("authorization", "x")])).unwrap();
        c.put(k, who("u"));
        assert_eq!(c.get(&k).unwrap().user_id, "u");
        std::thread::sleep(Duration::from_millis(40));
        assert!(c.get(&k).is_none());
        c.put(k, who("u"));
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn disabled_without_headers_or_ttl() {
        let none = CredentialCache::new("p", &[], Duration::from_secs(60));
        assert_eq!(none.key_of(&request(&[("authorization", "x")])), None);
        let zero = CredentialCache::new("p", &["authorization".into()], Duration::ZERO);
        assert_eq!(zero.key_of(&request(&[("authorization", "x")])), None);
    }
}

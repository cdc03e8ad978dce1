//! Brute-force limits: failed authentications are counted per client address
//! and, for Basic credentials, per user name, in fixed windows. Past the
//! threshold, uncached attempts from that address (or for that user) are
//! refused until the window ends. Requests whose credentials the cache
//! already vouches for are never limited, so a locked-out attacker does not
//! lock out the real user.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Keys tracked at most; the oldest windows are dropped past this.
const MAX_KEYS: usize = 100_000;

/// Thresholds; `max_failures == 0` turns limiting off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// Failures allowed per key and window.
    pub max_failures: u32,
    /// Window length.
    pub window: Duration,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            max_failures: 10,
            window: Duration::from_secs(60),
        }
    }
}

/// Counts failures per key.
pub struct FailureLimiter {
    settings: LimitSettings,
    windows: Mutex<HashMap<String, (u32, Instant)>>,
}

impl FailureLimiter {
    /// A limiter with these thresholds.
    pub fn new(settings: LimitSettings) -> Self {
        FailureLimiter {
            settings,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn keys(address: Option<&str>, user: Option<&str>) -> impl Iterator<Item = String> {
        address
            .map(|a| format!("addr:{a}"))
            .into_iter()
            .chain(user.map(|u| format!("user:{u}")))
    }

    /// `Some(wait)` if any key is over its limit: how long until it is not.
    pub fn blocked(&self, address: Option<&str>, user: Option<&str>) -> Option<Duration> {
        if self.settings.max_failures == 0 {
            return None;
        }
        let windows = self.windows.lock();
        Self::keys(address, user)
            .filter_map(|k| {
                let (count, start) = windows.get(&k)?;
                let elapsed = start.elapsed();
                (*count >= self.settings.max_failures && elapsed < self.settings.window)
                    .then(|| self.settings.window - elapsed)
            })
            .max()
    }

    /// Count one failed authentication.
    pub fn record_failure(&self, address: Option<&str>, user: Option<&str>) {
        if self.settings.max_failures == 0 {
            return;
        }
        let mut windows = self.windows.lock();
        if windows.len() >= MAX_KEYS {
            let window = self.settings.window;
            windows.retain(|_, (_, start)| start.elapsed() < window);
        }
        for key in Self::keys(address, user) {
            let entry = windows.entry(key).or_insert((0, Instant::now()));
            if entry.1.elapsed() >= self.settings.window {
                *entry = (0, Instant::now());
            }
            entry.0 += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max: u32, window_ms: u64) -> FailureLimiter {
        FailureLimiter::new(LimitSettings {
            max_failures: max,
            window: Duration::from_millis(window_ms),
        })
    }

    #[test]
    fn blocks_after_the_threshold_until_the_window_ends() {
        let l = limiter(3, 200);
        for _ in 0..2 {
            l.record_failure(Some("10.0.0.1"), None);
        }
        assert!(l.blocked(Some("10.0.0.1"), None).is_none());
        l.record_failure(Some("10.0.0.1"), None);
        let wait = l.blocked(Some("10.0.0.1"), None).unwrap();
        assert!(wait <= Duration::from_millis(200));
        assert!(
            l.blocked(Some("10.0.0.2"), None).is_none(),
            "other clients are unaffected"
        );
        std::thread::sleep(Duration::from_millis(220));
        assert!(l.blocked(Some("10.0.0.1"), None).is_none());
    }

    #[test]
    fn user_names_are_counted_across_addresses() {
        let l = limiter(2, 10_000);
        l.record_failure(Some("a"), Some("alice"));
        l.record_failure(Some("b"), Some("alice"));
        assert!(l.blocked(Some("c"), Some("alice")).is_some());
        assert!(l.blocked(Some("c"), Some("bob")).is_none());
    }

    #[test]
    fn zero_turns_it_off() {
        let l = limiter(0, 10_000);
        for _ in 0..100 {
            l.record_failure(Some("a"), None);
        }
        assert!(l.blocked(Some("a"), None).is_none());
    }
}

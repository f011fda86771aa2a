//! The rate limit on failed calls (docs/security.md, "Failed calls are rate limited").
//!
//! Failed HTTPS calls and refused Host API commands are counted per key — a source address,
//! a Host API connection, an identity — in fixed windows. A key that failed `limit` times in
//! its window is throttled until the window ends: its calls are refused at once (HTTP 429 /
//! `TOO_MANY_FAILURES`), without running and without an audit event each; they are only
//! counted, and the window's count is reported once, as one summary, when the window is over.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::lockout::MAX_TRACKED_ADDRESSES;

/// The parameters (`[server]` of `sigil.toml`: `failure_limit`, `failure_window_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureLimitPolicy {
    /// Failures per key and window before the key is throttled (default 50).
    pub limit: u32,
    /// The window (default 60 s).
    pub window: Duration,
}

impl Default for FailureLimitPolicy {
    fn default() -> Self {
        Self {
            limit: 50,
            window: Duration::from_secs(60),
        }
    }
}

/// A throttled key's window that is over: what its summary audit event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottledWindow {
    /// The key (`address 192.0.2.1`, `identity jenkins`, `connection 192.0.2.1:5000`).
    pub key: String,
    /// Failures counted in the window before it was throttled (the limit).
    pub failures: u32,
    /// Calls refused as throttled in the window.
    pub refused: u32,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
    refused: u32,
}

/// Failures per key in fixed windows, in memory (per node); see the module docs.
#[derive(Debug, Default)]
pub struct FailureLimiter {
    windows: HashMap<String, Window>,
}

impl FailureLimiter {
    /// `Err(retry_after)` when `key` is throttled at `now`; the refused call is counted.
    pub fn check(
        &mut self,
        key: &str,
        now: Instant,
        policy: &FailureLimitPolicy,
    ) -> Result<(), Duration> {
        let Some(window) = self.windows.get_mut(key) else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(window.start);
        if elapsed >= policy.window || window.failures < policy.limit.max(1) {
            return Ok(());
        }
        window.refused = window.refused.saturating_add(1);
        Err(policy.window.saturating_sub(elapsed))
    }

    /// Counts one failure of `key` at `now`. Returns the key's previous window when it was
    /// throttled and is over (its summary is due).
    pub fn failure(
        &mut self,
        key: &str,
        now: Instant,
        policy: &FailureLimitPolicy,
    ) -> Option<ThrottledWindow> {
        let mut ended = None;
        if self.windows.len() >= MAX_TRACKED_ADDRESSES && !self.windows.contains_key(key) {
            // Bound memory: windows that are over and were not throttled say nothing.
            self.windows.retain(|_, w| {
                now.saturating_duration_since(w.start) < policy.window || w.refused > 0
            });
            if self.windows.len() >= MAX_TRACKED_ADDRESSES {
                return None;
            }
        }
        let window = self.windows.entry(key.to_owned()).or_insert(Window {
            start: now,
            failures: 0,
            refused: 0,
        });
        if now.saturating_duration_since(window.start) >= policy.window {
            if window.refused > 0 {
                ended = Some(ThrottledWindow {
                    key: key.to_owned(),
                    failures: window.failures,
                    refused: window.refused,
                });
            }
            *window = Window {
                start: now,
                failures: 0,
                refused: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
        ended
    }

    /// Removes every window that is over at `now` and returns those that were throttled
    /// (their summaries are due).
    pub fn drain_ended(
        &mut self,
        now: Instant,
        policy: &FailureLimitPolicy,
    ) -> Vec<ThrottledWindow> {
        let mut ended = Vec::new();
        self.windows.retain(|key, w| {
            if now.saturating_duration_since(w.start) < policy.window {
                return true;
            }
            if w.refused > 0 {
                ended.push(ThrottledWindow {
                    key: key.clone(),
                    failures: w.failures,
                    refused: w.refused,
                });
            }
            false
        });
        ended.sort_by(|a, b| a.key.cmp(&b.key));
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> FailureLimitPolicy {
        FailureLimitPolicy {
            limit: 3,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_key_is_throttled_after_the_limit_until_its_window_ends() {
        let p = policy();
        let mut l = FailureLimiter::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check("a", t0, &p), Ok(()));
            assert_eq!(l.failure("a", t0, &p), None);
        }
        let t1 = t0 + Duration::from_secs(20);
        assert_eq!(l.check("a", t1, &p), Err(Duration::from_secs(40)));
        assert_eq!(l.check("a", t1, &p), Err(Duration::from_secs(40)));
        // Another key is not affected.
        assert_eq!(l.check("b", t1, &p), Ok(()));
        assert_eq!(l.drain_ended(t1, &p), Vec::new());
        let t2 = t0 + Duration::from_secs(60);
        assert_eq!(l.check("a", t2, &p), Ok(()));
        assert_eq!(
            l.drain_ended(t2, &p),
            vec![ThrottledWindow {
                key: "a".into(),
                failures: 3,
                refused: 2
            }]
        );
        assert_eq!(l.drain_ended(t2, &p), Vec::new());
    }

    #[test]
    fn a_new_failure_after_the_window_reports_the_throttled_one() {
        let p = policy();
        let mut l = FailureLimiter::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            l.failure("a", t0, &p);
        }
        assert!(l.check("a", t0, &p).is_err());
        let later = t0 + Duration::from_secs(61);
        assert_eq!(
            l.failure("a", later, &p),
            Some(ThrottledWindow {
                key: "a".into(),
                failures: 3,
                refused: 1
            })
        );
        assert_eq!(l.check("a", later, &p), Ok(()));
        // A window that was never throttled reports nothing.
        assert_eq!(l.failure("a", later + Duration::from_secs(61), &p), None);
    }
}

//! The lockout rules: how long a locked identity stays locked, and the per-address throttle
//! that applies before any identity counter (docs/security.md, "Lockout").
//!
//! An identity locks for `base × 2^n` (capped at `max`), `n` being how many failures past the
//! threshold it has had since its last successful login: a lock ends by itself, the first
//! failure after it locks again for twice as long, a success starts over. A source address
//! that failed `address_limit` logins in a row is refused without any password check or
//! identity counter for the same growing duration, so one address cannot run identities
//! into lockout faster than its own throttle allows.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Most addresses the throttle remembers; past it, the addresses quiet longest are forgotten.
pub const MAX_TRACKED_ADDRESSES: usize = 65_536;

/// The lockout parameters (`[server]` of `sigil.toml`; the threshold is the stored setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// The first lock's duration (`lockout_base_secs`, default 60 s).
    pub base: Duration,
    /// The longest lock (`lockout_max_secs`, default 1 h).
    pub max: Duration,
    /// Failed logins in a row from one source address before it is throttled
    /// (`address_failure_limit`, default 3, below the default identity threshold of 5).
    pub address_limit: u32,
    /// Whether an administrator (an identity holding an `admin:*` permission) must log in
    /// over HTTPS with its bound client certificate (`admin_login_requires_certificate`).
    pub admin_requires_certificate: bool,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(60),
            max: Duration::from_secs(3600),
            address_limit: 3,
            admin_requires_certificate: false,
        }
    }
}

impl LockoutPolicy {
    /// The duration of the lock numbered `step` (0 for the first): `base × 2^step`, capped.
    pub fn lock_duration(&self, step: u32) -> Duration {
        let factor = 1u32.checked_shl(step.min(31)).unwrap_or(u32::MAX);
        self.base
            .saturating_mul(factor)
            .min(self.max.max(self.base))
    }
}

#[derive(Debug, Clone, Copy)]
struct AddressEntry {
    failures: u32,
    blocks: u32,
    blocked_until: Option<Instant>,
    last_failure: Instant,
}

/// Failed logins per source address, in memory (per node): see the module docs.
#[derive(Debug, Default)]
pub struct AddressThrottle {
    entries: HashMap<IpAddr, AddressEntry>,
}

impl AddressThrottle {
    /// `Err(remaining)` while `address` is throttled at `now`.
    pub fn check(&self, address: IpAddr, now: Instant) -> Result<(), Duration> {
        match self.entries.get(&address).and_then(|e| e.blocked_until) {
            Some(until) if until > now => Err(until.duration_since(now)),
            _ => Ok(()),
        }
    }

    /// Records a failed login from `address`; returns the throttle duration when this failure
    /// starts one. A success does not clear the address (an attacker holding one valid
    /// account could otherwise reset it); an address quiet for `policy.max` is forgotten.
    pub fn failure(
        &mut self,
        address: IpAddr,
        now: Instant,
        policy: &LockoutPolicy,
    ) -> Option<Duration> {
        if self.entries.len() >= MAX_TRACKED_ADDRESSES {
            self.entries
                .retain(|_, e| now.saturating_duration_since(e.last_failure) < policy.max);
        }
        if self.entries.len() >= MAX_TRACKED_ADDRESSES {
            // Still full: forget the longest-quiet address to bound memory.
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_failure)
                .map(|(a, _)| *a);
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        let entry = self.entries.entry(address).or_insert(AddressEntry {
            failures: 0,
            blocks: 0,
            blocked_until: None,
            last_failure: now,
        });
        if now.saturating_duration_since(entry.last_failure) >= policy.max
            && entry.blocked_until.is_none_or(|u| u <= now)
        {
            // Quiet for the longest lock: start over.
            *entry = AddressEntry {
                failures: 0,
                blocks: 0,
                blocked_until: None,
                last_failure: now,
            };
        }
        entry.last_failure = now;
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures < policy.address_limit.max(1) {
            return None;
        }
        let duration = policy.lock_duration(entry.blocks);
        entry.failures = 0;
        entry.blocks = entry.blocks.saturating_add(1);
        entry.blocked_until = now.checked_add(duration);
        Some(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            base: Duration::from_secs(60),
            max: Duration::from_secs(600),
            address_limit: 3,
            admin_requires_certificate: false,
        }
    }

    #[test]
    fn lock_duration_doubles_up_to_the_cap() {
        let p = policy();
        assert_eq!(p.lock_duration(0), Duration::from_secs(60));
        assert_eq!(p.lock_duration(1), Duration::from_secs(120));
        assert_eq!(p.lock_duration(3), Duration::from_secs(480));
        assert_eq!(p.lock_duration(4), Duration::from_secs(600));
        assert_eq!(p.lock_duration(u32::MAX), Duration::from_secs(600));
    }

    #[test]
    fn address_is_throttled_after_the_limit_and_for_longer_each_time() {
        let p = policy();
        let mut t = AddressThrottle::default();
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        let now = Instant::now();
        assert_eq!(t.failure(a, now, &p), None);
        assert_eq!(t.failure(a, now, &p), None);
        assert_eq!(t.failure(a, now, &p), Some(Duration::from_secs(60)));
        assert_eq!(t.check(a, now), Err(Duration::from_secs(60)));
        assert_eq!(t.check(b, now), Ok(()));
        let later = now + Duration::from_secs(61);
        assert_eq!(t.check(a, later), Ok(()));
        t.failure(a, later, &p);
        t.failure(a, later, &p);
        assert_eq!(t.failure(a, later, &p), Some(Duration::from_secs(120)));
        // Quiet for the cap: forgotten.
        let much_later = later + Duration::from_secs(2000);
        assert_eq!(t.failure(a, much_later, &p), None);
    }
}

/// How many refusals per key (a connection, an identity) are audited one by one in a window
/// (`refused_audit_limit`, `refused_audit_window_secs`); past it they are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusalAuditPolicy {
    /// Refusals audited one by one per window and key (default 20).
    pub limit: u32,
    /// The window (default 60 s).
    pub window: Duration,
}

impl Default for RefusalAuditPolicy {
    fn default() -> Self {
        Self {
            limit: 20,
            window: Duration::from_secs(60),
        }
    }
}

/// What to do with one refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalAudit {
    /// Audit it; `suppressed_before` refusals of the key's previous window were only counted.
    Audit {
        /// Refusals counted but not audited in the previous window.
        suppressed_before: u32,
    },
    /// Over the limit: count it; `first` for the first one of the window (audit one summary).
    Count {
        /// The first refusal over the limit in this window.
        first: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

/// Refusals per key in fixed windows, in memory (per node), so that a client cannot grow the
/// audit log without bound by repeating refused commands.
#[derive(Debug, Default)]
pub struct RefusalBudget {
    windows: HashMap<String, Window>,
}

impl RefusalBudget {
    /// Counts one refusal for `key` at `now`.
    pub fn take(&mut self, key: &str, now: Instant, policy: &RefusalAuditPolicy) -> RefusalAudit {
        if self.windows.len() >= MAX_TRACKED_ADDRESSES {
            self.windows
                .retain(|_, w| now.saturating_duration_since(w.start) < policy.window);
        }
        let window = self.windows.entry(key.to_owned()).or_insert(Window {
            start: now,
            count: 0,
        });
        let mut suppressed_before = 0;
        if now.saturating_duration_since(window.start) >= policy.window {
            suppressed_before = window.count.saturating_sub(policy.limit);
            *window = Window {
                start: now,
                count: 0,
            };
        }
        window.count = window.count.saturating_add(1);
        if window.count <= policy.limit {
            RefusalAudit::Audit { suppressed_before }
        } else {
            RefusalAudit::Count {
                first: window.count == policy.limit.saturating_add(1),
            }
        }
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn refusals_past_the_limit_are_counted_and_reported_in_the_next_window() {
        let p = RefusalAuditPolicy {
            limit: 2,
            window: Duration::from_secs(60),
        };
        let mut b = RefusalBudget::default();
        let now = Instant::now();
        let audit = |n| RefusalAudit::Audit {
            suppressed_before: n,
        };
        assert_eq!(b.take("c", now, &p), audit(0));
        assert_eq!(b.take("c", now, &p), audit(0));
        assert_eq!(b.take("c", now, &p), RefusalAudit::Count { first: true });
        assert_eq!(b.take("c", now, &p), RefusalAudit::Count { first: false });
        assert_eq!(b.take("other", now, &p), audit(0));
        let later = now + Duration::from_secs(60);
        assert_eq!(b.take("c", later, &p), audit(2));
        assert_eq!(b.take("c", later, &p), audit(0));
    }
}

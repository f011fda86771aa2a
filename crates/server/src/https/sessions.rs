//! HTTPS sessions: random 256-bit bearer tokens mapped to a domain [`Session`], kept in memory.
//!
//! Tokens are looked up by their SHA-256, so a lookup never compares the secret itself and the
//! map never holds a usable token. A session expires after [`IDLE_TIMEOUT`] without use; the
//! registry holds at most [`MAX_SESSIONS`] (expired ones are dropped first when it is full).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::Rng;
use sha2::{Digest, Sha256};
use sigil_domain::Session;
use zeroize::Zeroizing;

/// A session ends after this long without a request.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Most live sessions (bounds memory an attacker with valid credentials can use).
pub(crate) const MAX_SESSIONS: usize = 4096;
/// Random bytes per token.
const TOKEN_BYTES: usize = 32;

struct Entry {
    session: Session,
    last_used: Instant,
}

/// The registry of live HTTPS sessions.
pub(crate) struct Sessions {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    idle: Duration,
    max: usize,
}

/// The registry is full of live sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RegistryFull;

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    /// A registry with the given idle timeout and capacity.
    pub(crate) fn new(idle: Duration, max: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            idle,
            max,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        // A panic while holding the lock cannot leave the map half-updated (single inserts
        // and removes), so a poisoned lock is still usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores `session` under a new random token and returns the token (shown once).
    pub(crate) fn create(
        &self,
        session: Session,
        now: Instant,
    ) -> Result<Zeroizing<String>, RegistryFull> {
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        rand::rng().fill_bytes(bytes.as_mut());
        let token = Zeroizing::new(hex::encode(*bytes));
        let mut entries = self.lock();
        if entries.len() >= self.max {
            let idle = self.idle;
            entries.retain(|_, e| now.saturating_duration_since(e.last_used) < idle);
            if entries.len() >= self.max {
                return Err(RegistryFull);
            }
        }
        entries.insert(
            key(&token),
            Entry {
                session,
                last_used: now,
            },
        );
        Ok(token)
    }

    /// The session of `token`, if it is live; marks it used. An expired session is removed.
    pub(crate) fn get(&self, token: &str, now: Instant) -> Option<Session> {
        let mut entries = self.lock();
        let k = key(token);
        let entry = entries.get_mut(&k)?;
        if now.saturating_duration_since(entry.last_used) >= self.idle {
            entries.remove(&k);
            return None;
        }
        entry.last_used = now;
        Some(entry.session.clone())
    }

    /// Replaces the session of a live `token` (after another login on it). False if it is gone.
    pub(crate) fn put(&self, token: &str, session: Session, now: Instant) -> bool {
        match self.lock().get_mut(&key(token)) {
            Some(entry) => {
                entry.session = session;
                entry.last_used = now;
                true
            }
            None => false,
        }
    }

    /// Ends the session of `token`; true if there was one.
    pub(crate) fn remove(&self, token: &str) -> bool {
        self.lock().remove(&key(token)).is_some()
    }

    /// Live and expired-but-not-yet-dropped sessions.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_domain::Interface;

    #[test]
    fn tokens_are_random_and_expire_when_idle() {
        let sessions = Sessions::new(Duration::from_secs(60), 8);
        let t0 = Instant::now();
        let a = sessions.create(Session::new(Interface::Https), t0).unwrap();
        let b = sessions.create(Session::new(Interface::Https), t0).unwrap();
        assert_ne!(*a, *b);
        assert_eq!(a.len(), 64);
        assert!(sessions.get(&a, t0 + Duration::from_secs(59)).is_some());
        // Use extends the session.
        assert!(sessions.get(&a, t0 + Duration::from_secs(118)).is_some());
        assert!(sessions.get(&b, t0 + Duration::from_secs(60)).is_none());
        assert!(
            sessions.get(&b, t0).is_none(),
            "an expired session is dropped"
        );
        assert!(sessions.get("not-a-token", t0).is_none());
        assert!(sessions.remove(&a));
        assert!(!sessions.remove(&a));
        assert!(!sessions.put(&a, Session::new(Interface::Https), t0));
    }

    #[test]
    fn bounded_count_drops_expired_first() {
        let sessions = Sessions::new(Duration::from_secs(60), 2);
        let t0 = Instant::now();
        let _a = sessions.create(Session::new(Interface::Https), t0).unwrap();
        let _b = sessions.create(Session::new(Interface::Https), t0).unwrap();
        assert_eq!(
            sessions.create(Session::new(Interface::Https), t0),
            Err(RegistryFull)
        );
        let later = t0 + Duration::from_secs(61);
        assert!(
            sessions
                .create(Session::new(Interface::Https), later)
                .is_ok()
        );
        assert_eq!(sessions.len(), 1);
    }
}

//! HTTPS sessions: random 256-bit bearer tokens mapped to a domain [`Session`], kept in the
//! store so that every node sharing the database sees them (a login through one node works
//! through another; a logout deletes the row and ends the session on every node at once).
//!
//! Tokens are stored and looked up by their SHA-256, so the database never holds a usable
//! token. A session expires after [`IDLE_TIMEOUT`] without use; at most [`MAX_SESSIONS`] exist
//! (idle ones are deleted first when a session is created). Marking a session used is a write,
//! so it is done at most once per [`TOUCH_EVERY`]: a session may therefore end up to that much
//! earlier than [`IDLE_TIMEOUT`] after its last use. Every request reads the row, so nothing
//! about a session is cached on a node.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use sha2::{Digest, Sha256};
use sigil_domain::store::StoreResult;
use sigil_domain::{Session, Store};
use zeroize::Zeroizing;

/// A session ends after this long without a request.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Most live sessions over all nodes (bounds what an attacker with valid credentials can use).
pub(crate) const MAX_SESSIONS: u32 = 4096;
/// A session's last use is written at most this often.
pub(crate) const TOUCH_EVERY: Duration = Duration::from_secs(30);
/// Random bytes per token.
const TOKEN_BYTES: usize = 32;

/// The sessions of the deployment, in its store.
pub(crate) struct Sessions {
    store: Arc<dyn Store>,
    idle: Duration,
    max: u32,
}

/// Why a session could not be created.
#[derive(Debug)]
pub(crate) enum CreateError {
    /// [`MAX_SESSIONS`] live sessions exist.
    Full,
    /// The store failed.
    Store(sigil_domain::StoreError),
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn ns(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

/// Wall-clock time in Unix ns: nodes compare each other's times, so not a monotonic clock.
pub(crate) fn now_ns() -> i64 {
    ns(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default())
}

impl Sessions {
    /// Sessions in `store` with the given idle timeout and capacity.
    pub(crate) fn new(store: Arc<dyn Store>, idle: Duration, max: u32) -> Self {
        Self { store, idle, max }
    }

    /// Stores `session` under a new random token and returns the token (shown once).
    pub(crate) async fn create(
        &self,
        session: &Session,
        now: i64,
    ) -> Result<Zeroizing<String>, CreateError> {
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        rand::rng().fill_bytes(bytes.as_mut());
        let token = Zeroizing::new(hex::encode(*bytes));
        let created = self
            .store
            .create_session(
                &key(&token),
                &session.record(),
                now,
                now.saturating_sub(ns(self.idle)),
                self.max,
            )
            .await
            .map_err(CreateError::Store)?;
        if created {
            Ok(token)
        } else {
            Err(CreateError::Full)
        }
    }

    /// The session of `token`, if it is live, with no roles yet (the caller revalidates it);
    /// marks it used. An expired session is deleted.
    pub(crate) async fn get(&self, token: &str, now: i64) -> StoreResult<Option<Session>> {
        let k = key(token);
        let Some((record, last_used)) = self.store.get_session(&k).await? else {
            return Ok(None);
        };
        let idle = now.saturating_sub(last_used);
        if idle >= ns(self.idle) {
            self.store.delete_session(&k).await?;
            return Ok(None);
        }
        if idle >= ns(TOUCH_EVERY) && !self.store.update_session(&k, None, now).await? {
            // Logged out on another node since the read.
            return Ok(None);
        }
        Ok(Some(Session::from_record(record)))
    }

    /// Replaces the session of a live `token` (after another login on it, or when an identity
    /// dropped out). False if it is gone.
    pub(crate) async fn put(&self, token: &str, session: &Session, now: i64) -> StoreResult<bool> {
        self.store
            .update_session(&key(token), Some(&session.record()), now)
            .await
    }

    /// Ends the session of `token`; true if there was one.
    pub(crate) async fn remove(&self, token: &str) -> StoreResult<bool> {
        self.store.delete_session(&key(token)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_domain::{Identity, IdentityKind, IdentityName, Interface};

    async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = sigil_store::SqliteStore::open(
            &dir.path().join("sigil.db"),
            sigil_store::SqliteOptions::default(),
        )
        .await
        .unwrap();
        (dir, Arc::new(store))
    }

    fn alice() -> Session {
        let mut session = Session::new(Interface::Https);
        let identity = Identity::new(IdentityName::new("alice").unwrap(), IdentityKind::Person);
        session.login(&identity, &[]).unwrap();
        session
    }

    const SEC: i64 = 1_000_000_000;

    #[tokio::test]
    async fn tokens_are_random_and_expire_when_idle() {
        let (_dir, store) = store().await;
        let sessions = Sessions::new(store, Duration::from_secs(60), 8);
        let t0 = 1_000 * SEC;
        let a = sessions.create(&alice(), t0).await.unwrap();
        let b = sessions.create(&alice(), t0).await.unwrap();
        assert_ne!(*a, *b);
        assert_eq!(a.len(), 64);
        let got = sessions.get(&a, t0 + 59 * SEC).await.unwrap().unwrap();
        assert_eq!(got.identities(), alice().identities());
        // Use extends the session.
        assert!(sessions.get(&a, t0 + 118 * SEC).await.unwrap().is_some());
        assert!(sessions.get(&b, t0 + 60 * SEC).await.unwrap().is_none());
        assert!(
            sessions.get(&b, t0).await.unwrap().is_none(),
            "an expired session is deleted"
        );
        assert!(sessions.get("not-a-token", t0).await.unwrap().is_none());
        assert!(sessions.remove(&a).await.unwrap());
        assert!(!sessions.remove(&a).await.unwrap());
        assert!(!sessions.put(&a, &alice(), t0).await.unwrap());
    }

    #[tokio::test]
    async fn bounded_count_drops_expired_first() {
        let (_dir, store) = store().await;
        let sessions = Sessions::new(store, Duration::from_secs(60), 2);
        let t0 = 1_000 * SEC;
        let _a = sessions.create(&alice(), t0).await.unwrap();
        let _b = sessions.create(&alice(), t0).await.unwrap();
        assert!(matches!(
            sessions.create(&alice(), t0).await,
            Err(CreateError::Full)
        ));
        assert!(sessions.create(&alice(), t0 + 61 * SEC).await.is_ok());
    }
}

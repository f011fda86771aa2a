//! Live TLS connections by client certificate, so that revoking a certificate closes the
//! connections that presented it (the TLS configuration refresh only refuses new handshakes).
//!
//! Each connection that presented a client certificate registers its SHA-256 fingerprint for
//! as long as it runs and waits on the returned [`Registration`]; [`LiveConnections::revoke`]
//! wakes every connection of that certificate, and its task drops the connection at once
//! (nothing more is read or answered on it). Connections of the same certificate share one
//! watch channel, removed when the last of them ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};
use tokio::sync::watch;

type Fingerprint = [u8; 32];

struct Slot {
    revoked: watch::Sender<bool>,
    connections: usize,
}

/// The registry (one per server, in [`crate::AppState`]).
#[derive(Default)]
pub struct LiveConnections {
    slots: Mutex<HashMap<Fingerprint, Slot>>,
}

/// One connection's place in the registry; dropping it unregisters the connection.
pub struct Registration {
    registry: Arc<LiveConnections>,
    fingerprint: Fingerprint,
    revoked: watch::Receiver<bool>,
}

impl LiveConnections {
    fn slots(&self) -> MutexGuard<'_, HashMap<Fingerprint, Slot>> {
        // Whole-entry inserts and removes only: a poisoned lock is still consistent.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection that presented the client certificate `der`.
    pub fn register(self: &Arc<Self>, der: &[u8]) -> Registration {
        let fingerprint: Fingerprint = Sha256::digest(der).into();
        let mut slots = self.slots();
        let slot = slots.entry(fingerprint).or_insert_with(|| Slot {
            revoked: watch::Sender::new(false),
            connections: 0,
        });
        slot.connections += 1;
        Registration {
            registry: self.clone(),
            fingerprint,
            revoked: slot.revoked.subscribe(),
        }
    }

    /// Closes every live connection that presented the certificate `der`; returns how many
    /// there were.
    pub fn revoke(&self, der: &[u8]) -> usize {
        let fingerprint: Fingerprint = Sha256::digest(der).into();
        match self.slots().get(&fingerprint) {
            Some(slot) => {
                slot.revoked.send_replace(true);
                slot.connections
            }
            None => 0,
        }
    }

    /// Connections registered now (all certificates).
    pub fn len(&self) -> usize {
        self.slots().values().map(|s| s.connections).sum()
    }

    /// Whether no connection is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Registration {
    /// Resolves once the certificate is revoked (never, while it is not).
    pub async fn revoked(&mut self) {
        if self.revoked.wait_for(|revoked| *revoked).await.is_err() {
            // The registry keeps the sender while this registration lives: not reached.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut slots = self.registry.slots();
        if let Some(slot) = slots.get_mut(&self.fingerprint) {
            slot.connections = slot.connections.saturating_sub(1);
            if slot.connections == 0 {
                slots.remove(&self.fingerprint);
            }
        }
    }
}

/// Runs `serve` until it ends or the certificate `der` (when there is one) is revoked; then
/// the connection (owned by `serve`) is dropped, which closes it.
pub(crate) async fn serve_until_revoked(
    registry: &Arc<LiveConnections>,
    der: Option<&[u8]>,
    what: &str,
    peer: std::net::SocketAddr,
    serve: impl std::future::Future<Output = ()>,
) {
    let Some(der) = der else {
        serve.await;
        return;
    };
    let mut registration = registry.register(der);
    tokio::select! {
        // Revocation first: once it is signalled, nothing more is served on the connection.
        biased;
        () = registration.revoked() => {
            tracing::info!(%peer, "{what} connection closed: its client certificate was revoked");
        }
        () = serve => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn revoking_wakes_the_connections_of_that_certificate_only() {
        let registry = Arc::new(LiveConnections::default());
        let mut a1 = registry.register(b"cert-a");
        let mut a2 = registry.register(b"cert-a");
        let mut b = registry.register(b"cert-b");
        assert_eq!(registry.len(), 3);
        assert_eq!(registry.revoke(b"cert-a"), 2);
        a1.revoked().await;
        a2.revoked().await;
        assert!(
            !*b.revoked.borrow_and_update(),
            "another certificate stays open"
        );
        assert_eq!(registry.revoke(b"cert-c"), 0);
        drop(a1);
        drop(a2);
        assert_eq!(registry.len(), 1);
        drop(b);
        assert!(registry.is_empty());
    }
}

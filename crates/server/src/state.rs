//! What every request handler shares: the store, the key vault, the TLS configurations.

use std::sync::Arc;

use sigil_domain::{PasswordParams, Store};
use time::OffsetDateTime;

use crate::config::ServerConfig;
use crate::service::cache::CachedStore;
use crate::tls::SwappableConfig;
use sigil_custody::Keystore;

/// State shared by the Host API and the HTTPS API (one service layer for both).
pub struct AppState {
    /// Resolved configuration.
    pub config: ServerConfig,
    /// Persistent state (the same object as `cache`: commits through it keep the cache right).
    pub store: Arc<dyn Store>,
    /// Cached reads of what only administrators change (policies, enabled commands, settings,
    /// verified certificate chains), for the per-request paths.
    pub cache: Arc<CachedStore>,
    /// Master key and opened signing keys.
    pub vault: Keystore,
    /// argon2id cost of new password hashes.
    pub password_params: PasswordParams,
    /// Host API listener TLS configuration (swapped when its chain, client CAs or CRLs change).
    pub host_api_tls: SwappableConfig,
    /// HTTPS listener TLS configuration.
    pub https_tls: SwappableConfig,
    /// Live connections by client certificate (revoking one closes its connections).
    pub live: Arc<crate::live::LiveConnections>,
    /// Wakes long-polling retrievals when a request or release changes state.
    pub changes: crate::service::wait::Changes,
    /// Serializes adding files to releases on this node (the store's revision check still
    /// guards against other nodes): pipelined uploads of one release would otherwise mostly
    /// lose the revision race and retry.
    pub release_lock: tokio::sync::Mutex<()>,
    /// Which listeners accept connections (readiness).
    pub listeners: crate::metrics::Listeners,
    /// Failed logins per source address on this node (checked before any identity counter).
    pub login_throttle: std::sync::Mutex<sigil_domain::AddressThrottle>,
    /// Refused commands per connection and per identity on this node (audit budget).
    pub refusals: std::sync::Mutex<sigil_domain::RefusalBudget>,
    /// Failed calls per address, connection and identity on this node (rate limit).
    pub failures: std::sync::Mutex<sigil_domain::FailureLimiter>,
    /// What a signature waits for before it takes a thread of the blocking pool.
    pub signing_slots: crate::service::slots::SigningSlots,
}

impl AppState {
    /// State over an opened store and vault; the password cost comes from the configuration.
    /// The store is wrapped in the read cache ([`CachedStore`]).
    pub fn new(
        config: ServerConfig,
        store: Arc<dyn Store>,
        vault: Keystore,
        host_api_tls: SwappableConfig,
        https_tls: SwappableConfig,
    ) -> Self {
        let cache = Arc::new(CachedStore::new(store));
        Self {
            password_params: config.password_params,
            config,
            store: cache.clone(),
            cache,
            vault,
            host_api_tls,
            https_tls,
            live: Arc::default(),
            changes: Default::default(),
            release_lock: tokio::sync::Mutex::new(()),
            listeners: Default::default(),
            login_throttle: std::sync::Mutex::default(),
            refusals: std::sync::Mutex::default(),
            failures: std::sync::Mutex::default(),
            signing_slots: crate::service::slots::SigningSlots::new(
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            ),
        }
    }

    /// The current time, truncated to whole seconds (what the store and the wire keep).
    pub fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(0).unwrap_or(now)
    }
}

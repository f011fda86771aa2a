//! What every request handler shares: the store, the key vault, the TLS configurations.

use std::sync::Arc;

use sigil_domain::{PasswordParams, Store};
use time::OffsetDateTime;

use crate::config::ServerConfig;
use crate::tls::SwappableConfig;
use crate::vault::KeyVault;

/// State shared by the Host API and the HTTPS API (one service layer for both).
pub struct AppState {
    /// Resolved configuration.
    pub config: ServerConfig,
    /// Persistent state.
    pub store: Arc<dyn Store>,
    /// Master key and opened signing keys.
    pub vault: KeyVault,
    /// argon2id cost of new password hashes.
    pub password_params: PasswordParams,
    /// Host API listener TLS configuration (swapped when its chain, client CAs or CRLs change).
    pub host_api_tls: SwappableConfig,
    /// HTTPS listener TLS configuration.
    pub https_tls: SwappableConfig,
}

impl AppState {
    /// State over an opened store and vault; the password cost comes from the configuration.
    pub fn new(
        config: ServerConfig,
        store: Arc<dyn Store>,
        vault: KeyVault,
        host_api_tls: SwappableConfig,
        https_tls: SwappableConfig,
    ) -> Self {
        Self {
            password_params: config.password_params,
            config,
            store,
            vault,
            host_api_tls,
            https_tls,
        }
    }

    /// The current time, truncated to whole seconds (what the store and the wire keep).
    pub fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(0).unwrap_or(now)
    }
}

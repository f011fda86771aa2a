//! The server's error type: what failed, phrased for the operator or the client.

use sigil_domain::StoreError;
use thiserror::Error;

/// Why a server operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Configuration file or option problem.
    #[error("configuration: {0}")]
    Config(String),
    /// Reading or writing a file of the deployment failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Master key or sealed key problem.
    #[error(transparent)]
    Custody(#[from] sigil_custody::CustodyError),
    /// A key backend (sealed software keystore or HSM) failed.
    #[error(transparent)]
    Keystore(#[from] sigil_custody::KeystoreError),
    /// A backup file cannot be written or opened (damaged, another master key).
    #[error(transparent)]
    Backup(#[from] sigil_custody::backup::BackupFileError),
    /// Key generation or signing failed.
    #[error(transparent)]
    Key(#[from] sigil_keys::KeyError),
    /// Certificate or CA operation failed.
    #[error(transparent)]
    Pki(#[from] sigil_pki::PkiError),
    /// TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A record that should exist does not.
    #[error("{0} does not exist")]
    NotFound(String),
    /// The master key is split into key components and none were given: start with
    /// [`crate::server::unseal_with_components`] and [`crate::server::start_with_master_key`].
    #[error(
        "this deployment's master key is split into key components ({threshold} of {count} \
         needed) and there is no key file to read: start the server with {threshold} of the \
         custodians' components"
    )]
    NeedsComponents {
        /// Components needed (M).
        threshold: u8,
        /// Components issued (N).
        count: u8,
    },
    /// The deployment is in a state that does not allow the operation.
    #[error("{0}")]
    State(String),
    /// A service operation (PKI, identities) failed. Shown to the operator (init, start,
    /// quickstart), so an internal failure shows its detail here, unlike to a peer.
    #[error("{}", .0.for_operator())]
    Service(#[from] crate::service::ServiceError),
}

impl ServerError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

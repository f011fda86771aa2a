//! Client errors.

use std::path::PathBuf;

use sigil_proto::ErrorCode;

/// Broad class of an error: what the user has to fix. The CLI maps it to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The profile, a secret source or an argument is wrong (fix the configuration).
    Config,
    /// The server refused the request (bad input, policy, permission, login).
    Refused,
    /// The connection or the TLS handshake failed, or the server closed the connection.
    Connection,
    /// The server failed while doing what was asked.
    ServerFailure,
    /// Anything else (a local file, a malformed answer).
    Other,
}

/// Everything that can go wrong in the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The profile file cannot be read or is not valid.
    #[error("profile {path}: {message}")]
    Profile {
        /// The profile file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The arguments do not fit together.
    #[error("{0}")]
    Usage(String),
    /// No password could be found for an identity or the PKCS#12 file.
    #[error("{0}")]
    Secret(String),
    /// The TCP connection could not be made.
    #[error(
        "cannot connect to the Host API at {address}: {source} (is the server running, is host_api in the profile right?)"
    )]
    Connect {
        /// The address in the profile.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// TLS setup or handshake failed.
    #[error("TLS with the Host API failed: {0}")]
    Tls(String),
    /// Reading or writing the connection failed.
    #[error("Host API connection: {0}")]
    Io(#[source] std::io::Error),
    /// The server closed the connection.
    #[error("the server closed the connection{0}")]
    Closed(String),
    /// The server answered with a failure (`ER`).
    #[error("{command} refused by the server: {code}: {message}")]
    Server {
        /// The command code.
        command: String,
        /// The server's error code.
        code: ErrorCode,
        /// The server's message.
        message: String,
    },
    /// The server's answer is not what the protocol says.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// The TSA did not give a valid time-stamp for the signature.
    #[error("time-stamp from {url} failed: {message}; nothing was written")]
    Timestamp {
        /// The TSA's URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A local file could not be read, digested or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl ClientError {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Profile { .. } | Self::Secret(_) | Self::Usage(_) => ErrorKind::Config,
            Self::Connect { .. }
            | Self::Tls(_)
            | Self::Io(_)
            | Self::Closed(_)
            | Self::Timestamp { .. } => ErrorKind::Connection,
            Self::Server { code, .. } => match code {
                ErrorCode::Internal | ErrorCode::SigningFailed => ErrorKind::ServerFailure,
                _ => ErrorKind::Refused,
            },
            Self::Protocol(_) | Self::File { .. } => ErrorKind::Other,
        }
    }

    /// The server's error code, when the server refused.
    pub fn server_code(&self) -> Option<&ErrorCode> {
        match self {
            Self::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    pub(crate) fn file(path: &std::path::Path, message: impl std::fmt::Display) -> Self {
        Self::File {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}

/// Result with [`ClientError`].
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

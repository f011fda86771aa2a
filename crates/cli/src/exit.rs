//! Exit codes (documented in `docs/cli.md`) and the mapping of errors to them.

use std::fmt;

use sigil_client::{ClientError, ErrorKind};

/// Everything signed / the command succeeded.
pub(crate) const OK: u8 = 0;
/// Any other error.
pub(crate) const OTHER: u8 = 1;
/// Usage or configuration error (arguments, profile, secrets).
pub(crate) const USAGE: u8 = 2;
/// Refused by the server (bad input, policy, permission, login).
pub(crate) const REFUSED: u8 = 3;
/// A signing request was denied.
pub(crate) const DENIED: u8 = 4;
/// A signing request expired before it was approved.
pub(crate) const EXPIRED: u8 = 5;
/// `--wait` ran out before the request was final.
pub(crate) const TIMED_OUT: u8 = 6;
/// Connection or TLS error.
pub(crate) const CONNECTION: u8 = 7;
/// The server failed (signing failed, internal error).
pub(crate) const SERVER_FAILED: u8 = 8;
/// `sigil verify`: nothing invalid, but a signature could not be checked (algorithm).
pub(crate) const NOT_CHECKED: u8 = 9;

/// An error that carries its exit code.
#[derive(Debug)]
pub(crate) struct Exit {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// An error with an explicit exit code.
pub(crate) fn fail(code: u8, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Exit {
        code,
        message: message.into(),
    })
}

/// A usage error (exit 2).
pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    fail(USAGE, message)
}

/// The exit code of a client error class.
pub(crate) fn of_kind(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Config => USAGE,
        ErrorKind::Refused => REFUSED,
        ErrorKind::Connection => CONNECTION,
        ErrorKind::ServerFailure => SERVER_FAILED,
        ErrorKind::Other => OTHER,
    }
}

/// The exit code of an error: the first cause that knows its code.
pub(crate) fn code_of(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<Exit>() {
            return e.code;
        }
        if let Some(e) = cause.downcast_ref::<ClientError>() {
            return of_kind(e.kind());
        }
        if let Some(e) = cause.downcast_ref::<sigil_client::https::HttpsError>() {
            return of_kind(e.kind());
        }
    }
    OTHER
}

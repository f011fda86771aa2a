//! Sigil client library: everything `sigil sign` needs on the build machine.
//!
//! | module | job |
//! |---|---|
//! | [`profile`] | the client profile TOML, password sources in the contract's order |
//! | [`connection`] | one mutual-TLS Host API connection: typed calls, correlation ids, pipelining |
//! | [`job`] | signing jobs: format detection and client-side digests |
//! | [`sign`] | upload many jobs on one connection, wait (long polling), retrieve, write results |
//! | [`timestamp`] | RFC 3161 time-stamps over the returned signatures (`--timestamp`) |
//! | [`release`] | several files as one release: checks, `RAUR`, uploads into it, the manifest |
//! | [`manifest`] | the release manifest: written once every file is signed, verified later |
//! | [`https`] | the HTTPS JSON API: a logged-in session, one typed method per route |
//! | [`error`] | [`ClientError`] and its [`ErrorKind`] (which the CLI maps to exit codes) |
//!
//! The file never leaves the machine: only its digest (hash, Authenticode image digest, or
//! the JAR `.SF` digest) is sent; the result is embedded locally.

pub mod connection;
pub mod error;
pub mod https;
pub mod job;
pub mod manifest;
pub mod openpgp;
pub mod profile;
pub mod release;
pub mod sign;
pub mod timestamp;
pub mod verbatim;

pub use connection::Connection;
pub use error::{ClientError, ErrorKind};
pub use job::{Format, FormatChoice, Job, PreparedJob, detect_format};
pub use profile::{IdentityConfig, Profile};
pub use sign::{JobOutcome, JobResult, NoProgress, Progress, SignOptions, prepare_jobs, sign_jobs};

//! Sigil client library: everything `sigil sign` needs on the build machine.
//!
//! | module | job |
//! |---|---|
//! | [`profile`] | the client profile TOML, password sources in the contract's order |
//! | [`connection`] | one mutual-TLS Host API connection: typed calls, correlation ids, pipelining |
//! | [`job`] | signing jobs: format detection and client-side digests |
//! | [`sign`] | upload many jobs on one connection, wait with back-off, retrieve, write results |
//! | [`timestamp`] | RFC 3161 time-stamps over the returned signatures (`--timestamp`) |
//! | [`error`] | [`ClientError`] and its [`ErrorKind`] (which the CLI maps to exit codes) |
//!
//! The file never leaves the machine: only its digest (hash, Authenticode image digest, or
//! the JAR `.SF` digest) is sent; the result is embedded locally.

pub mod connection;
pub mod error;
pub mod job;
pub mod profile;
pub mod sign;
pub mod timestamp;

pub use connection::Connection;
pub use error::{ClientError, ErrorKind};
pub use job::{Format, FormatChoice, Job, PreparedJob, detect_format};
pub use profile::{IdentityConfig, Profile};
pub use sign::{JobOutcome, JobResult, NoProgress, Progress, SignOptions, prepare_jobs, sign_jobs};

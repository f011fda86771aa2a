//! What Sigil's integration tests share across crates: the independent tools they build inputs
//! with and verify outputs with.
//!
//! - [`tools`]: run a tool ([`run`], [`run_ok`], [`stdout_ok`], [`output`]), require it on
//!   the PATH ([`require`]), read its output ([`output_text`]), list a directory
//!   ([`entries`]), a file's mode bits ([`mode`]).
//! - [`osslsigncode`]: `osslsigncode verify` ([`osslsigncode_verify`],
//!   [`osslsigncode_verify_with`]) and what it said ([`OsslVerify`]).
//! - [`builders`]: inputs made by independent tools: an MSI by `wixl` ([`wixl_msi`]), a
//!   cabinet by `gcab` ([`gcab_create`], read back by [`gcab_extract`]), an unsigned catalog by
//!   `openssl asn1parse` ([`unsigned_catalog`]), an RPM by `rpmbuild`
//!   ([`builders::rpmbuild_package`]).
//! - [`gpg`]: GnuPG in a throw-away home ([`gpg()`]).
//! - [`jarsigner`]: `jarsigner -verify` ([`jarsigner::jarsigner_verify`]) and what a good
//!   signature looks like to it ([`jarsigner::assert_jarsigner_accepts`]).
//! - [`openssl`]: the `openssl` command line ([`openssl::openssl`]), `openssl s_client` as an
//!   independent TLS client ([`s_client`]), a key and CSR made by openssl ([`openssl_csr`]).
//!
//! The real-server harnesses, behind features so a crate that needs only the tool wrappers
//! does not build the server:
//!
//! | module | feature | for |
//! |---|---|---|
//! | `server` | `server` | `sigil init` options, the test server configuration (`server::config`: ports 0, cheap hashes, throttles off), a fresh deployment, profiles pointed at a running server |
//! | `world` | `server` | a quickstart deployment with its server running and the `sigil` binary run as a user runs it (CLI and client tests) |
//! | `hostapi` | `hostapi` | an `init` deployment with identities, a code-signing CA, keys and policies, and a rustls + `sigil-proto` Host API client (the server's tests) |
//! | `pkcs11` | `pkcs11` | a quickstart world with EC and PSS policies, the built `libsigil_pkcs11.so`, the HTTPS API through `curl` (the PKCS#11 module's tests) |
//! | `softhsm` | `softhsm` | a fresh SoftHSM2 token directory per test: the test re-runs itself in a child process (custody's and the server's HSM tests) |
//!
//! What stays in a crate's own `tests/`: fixtures of that crate only: `sigil-authenticode`'s
//! PE files built by mingw-w64, its throw-away PKI and the reference signatures made by
//! `openssl cms`/`osslsigncode sign` for its parser; `sigil-jar`'s PKI, JARs and signature
//! blocks; `sigil-pki`'s test CA; the CLI's `sigil` binary helpers (they need the binary's
//! `CARGO_BIN_EXE_sigil`).
//!
//! Every wrapper **fails** the test with the tool's output (and the Debian package to install)
//! when the tool is missing or refuses: no test skips. `scripts/test.sh` installs the tools.
//!
//! The crate is a dev-dependency only (`publish = false`): it panics by design, that is how a
//! test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod builders;
pub mod gpg;
#[cfg(feature = "hostapi")]
pub mod hostapi;
pub mod jarsigner;
pub mod openssl;
pub mod osslsigncode;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "softhsm")]
pub mod softhsm;
pub mod tools;
#[cfg(feature = "server")]
pub mod world;

pub use builders::{UNSIGNED_CATALOG, gcab_create, gcab_extract, unsigned_catalog, wixl_msi};
pub use gpg::gpg;
pub use openssl::{openssl_csr, s_client};
pub use osslsigncode::{OsslVerify, osslsigncode_verify, osslsigncode_verify_with};
pub use tools::{entries, mode, output, output_text, require, run, run_ok, stdout_ok};

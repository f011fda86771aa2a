//! What Sigil's integration tests share across crates: the independent tools they build inputs
//! with and verify outputs with.
//!
//! - [`tools`]: run a tool ([`run`], [`run_ok`]), require it on the PATH ([`require`]),
//!   read its output ([`output_text`]), list a directory ([`entries`]).
//! - [`osslsigncode`]: `osslsigncode verify` ([`osslsigncode_verify`],
//!   [`osslsigncode_verify_with`]) and what it said ([`OsslVerify`]).
//! - [`builders`]: inputs made by independent tools: an MSI by `wixl` ([`wixl_msi`]), a
//!   cabinet by `gcab` ([`gcab_create`], read back by [`gcab_extract`]), an unsigned catalog by
//!   `openssl asn1parse` ([`unsigned_catalog`]).
//! - [`gpg`]: GnuPG in a throw-away home ([`gpg()`]).
//! - `world` (feature `server`): the real-server harness, a quickstart deployment on
//!   ephemeral loopback ports (`world::World`, `world::world`, `world::world_with`) and the
//!   `sigil` binary run as a user runs it (`world::run_sigil`).
//!
//! Every wrapper **fails** the test with the tool's output (and the Debian package to install)
//! when the tool is missing or refuses: no test skips. `scripts/test.sh` installs the tools.
//!
//! The crate is a dev-dependency only (`publish = false`): it panics by design, that is how a
//! test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod builders;
pub mod gpg;
pub mod osslsigncode;
pub mod tools;
#[cfg(feature = "server")]
pub mod world;

pub use builders::{UNSIGNED_CATALOG, gcab_create, gcab_extract, unsigned_catalog, wixl_msi};
pub use gpg::gpg;
pub use osslsigncode::{OsslVerify, osslsigncode_verify, osslsigncode_verify_with};
pub use tools::{entries, output_text, require, run, run_ok};

//! RPM packages for Sigil: the layout of a package (lead, signature header, main header,
//! payload) read with every length and count bounded, and the signature header rewritten
//! with an OpenPGP header-only signature the way `rpmsign --addsign` of rpm 4.18 writes it.
//!
//! **Why by hand.** Sigil signs an RPM like every other format: the client hashes the main
//! header, only the digest travels, and the client puts the server's OpenPGP signature into
//! the signature header. That needs two small things: where the main header lies, and a
//! signature header with one entry replaced. The `rpm` crate (rpm-rs) reads a whole package
//! into its own model, writes it back whole, and signs through `pgp` (rpgp) keys, a second
//! RustCrypto generation Sigil does not use (see `sigil-openpgp`); the format pieces needed
//! here are a few fixed structures, specified in rpm's `lib/header.c`, `lib/signature.c` and
//! `sign/rpmgensig.c`.
//!
//! What rpm 4.18 (Debian 12) writes and checks, and so what this crate does:
//! - a package built by rpm 4.14 or later carries a payload digest in its main header; its
//!   signature is the **header-only** one, `RPMSIGTAG_RSA` (268) for an RSA key or
//!   `RPMSIGTAG_DSA` (267) for DSA/EdDSA, an OpenPGP v4 binary signature over the main header
//!   (from its magic to the end of its data). `rpm -K` checks it together with the header
//!   and payload digests rpmbuild wrote;
//! - `rpmsign` 4.18 refuses ECDSA keys (`makeSigTag`: "Unsupported PGP pubkey algorithm");
//! - older packages (no payload digest) would also need the header+payload signature
//!   (`RPMSIGTAG_PGP`, 1002): they are refused with a clear error.

#![forbid(unsafe_code)]

mod error;
mod header;
mod package;

pub use error::RpmError;
pub use header::{Entry, Header, MAX_SIGNATURE_HEADER_LEN};
pub use package::{
    HeaderSignatureTag, LEAD_LEN, LEAD_MAGIC, Package, PayloadDigest, is_rpm, read_package,
    signature_header_bytes,
};

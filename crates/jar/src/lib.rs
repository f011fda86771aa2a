//! JAR signing for Sigil: the format knowledge of both sides.
//!
//! A signed JAR carries three extra files in `META-INF/` (JAR File
//! Specification, "Signed JAR File"):
//!
//! - `MANIFEST.MF` lists a digest of every entry ([`manifest`]);
//! - `<SIGNER>.SF` lists a digest of the manifest and of each manifest section
//!   ([`signature_file`]);
//! - `<SIGNER>.RSA` / `.EC` is a detached PKCS#7 SignedData over the `.SF`.
//!
//! Sigil never moves the archive: the **client** computes the manifest and the
//! `.SF` ([`prepare`]), sends only the digest of the `.SF`
//! ([`PreparedJar::signature_file_digest`]), the **server** returns the
//! signature block ([`sign_signature_file_digest`], on the `sigil_pki::cms`
//! builder), and the client writes the signed JAR
//! ([`PreparedJar::write_signed`]): new META-INF files first, every other
//! entry copied byte for byte, atomically. [`verify`] checks a signed JAR's
//! digests locally.
//!
//! The archive reader ([`Archive`]) is bounded and strict: every limit is a
//! constant in [`limits`], and hostile archives (overlapping entries, unsafe
//! names, duplicates, zip bombs, encryption, ...) give a typed
//! [`ArchiveError`] before anything is signed.
//!
//! ```no_run
//! use std::path::Path;
//! use sigil_jar::{HashAlgorithm, SignOptions, SignatureBlockKind, SignerName};
//!
//! # fn server_sign(_digest: &[u8]) -> Vec<u8> { Vec::new() }
//! # fn main() -> Result<(), sigil_jar::JarError> {
//! let jar = Path::new("app.jar");
//! let options = SignOptions::new(SignerName::from_alias("release")?, HashAlgorithm::Sha256);
//! let prepared = sigil_jar::prepare(jar, &options)?;
//! let block = server_sign(&prepared.signature_file_digest()); // PKCS#7 over the .SF
//! prepared.write_signed(jar, &block, SignatureBlockKind::Rsa, jar)?;
//! assert!(sigil_jar::verify(jar)?.is_intact());
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod archive;
mod block;
mod digest;
mod error;
pub mod limits;
pub mod manifest;
mod sign;
pub mod signature_file;
mod signer;
mod verify;

pub use archive::{Archive, Entry, Source};
pub use block::{SignatureBlock, sign_signature_file_digest};
pub use digest::{HashAlgorithm, Hasher, JarDigest, from_digest_attribute};
pub use error::{ArchiveError, JarError, ManifestError};
pub use manifest::{Attribute, Manifest, Section};
pub use sign::{DEFAULT_CREATED_BY, PreparedJar, SignOptions, prepare, prepare_archive};
pub use signer::{SignatureBlockKind, SignerName};
pub use verify::{
    BlockSignatureStatus, SignerReport, VerifyReport, check_block_signature, verify, verify_archive,
};

//! Authenticode for Sigil: everything Sigil knows about signing Windows PE files, and the
//! other members of the Authenticode family ([`Subject`]: MSI packages, cabinets,
//! PowerShell scripts, catalogs), which share the signature and differ in what is hashed
//! and where the signature is kept ([`prepare_file`], [`sign_subject_digest`],
//! [`verify_subject_file`]).
//!
//! Sigil signs an executable without the executable leaving the build machine:
//!
//! 1. the **client** computes the Authenticode image digest of the file
//!    ([`image_digest_file`]) and sends only the digest;
//! 2. the **server** builds the signed content ([`AuthenticodeContent`], the
//!    `SpcIndirectDataContent` carrying the digest) and the Authenticode signed
//!    attributes ([`signed_attributes`]), and signs them into a PKCS#7
//!    SignedData with `sigil_pki::cms` ([`sign_image_digest`]);
//! 3. the **client** embeds the returned PKCS#7 into the file
//!    ([`embed_signature`]), replacing an existing signature or nesting the new
//!    one beside it ([`EmbedMode`]). A client that signs a large file reads it
//!    once with [`prepare_image`] (digest and partial PE checksum), may copy it
//!    next to the output while the server works ([`PreparedImage::stage`]), and
//!    embeds with [`PreparedImage::embed`] without reading the image again;
//! 4. anyone can check the result locally ([`verify_file`]).
//!
//! PE headers are parsed with bounds checks on every offset ([`PeLayout`]);
//! files are streamed through one fixed buffer, so memory stays flat whatever
//! their size. The format references are Microsoft's "PE Format" and "Windows
//! Authenticode Portable Executable Signature Format"; where practice differs
//! from the documents, this crate does what signtool and osslsigncode do (see
//! `docs/authenticode.md`).
//!
//! ```
//! use sigil_authenticode::{AuthenticodeContent, image_digest};
//! use sigil_keys::HashAlgorithm;
//!
//! # fn main() -> Result<(), sigil_authenticode::AuthenticodeError> {
//! # let pe = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/pe/tiny64.exe")).unwrap();
//! // Client: hash the image.
//! let digest = image_digest(&mut std::io::Cursor::new(pe), HashAlgorithm::Sha256)?;
//! assert_eq!(digest.layout.cert_table, None); // not signed yet
//!
//! // Server: the content to sign; CMS messageDigest covers `message_digest_input()`.
//! let content = AuthenticodeContent::for_pe_image(digest.algorithm, &digest.digest)?;
//! assert_eq!(content.econtent_der()[0], 0x30); // the SEQUENCE itself goes into eContent
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cab;
pub mod catalog;
mod checksum;
mod content;
mod digest;
mod embed;
mod error;
mod file;
mod msi;
mod nest;
mod pe;
mod prepare;
mod script;
mod sign;
mod signature;
mod subject;
mod verify;
mod wincert;

pub use content::{
    AuthenticodeContent, DigestInfo, MAX_PROGRAM_NAME_CHARS, MAX_URL_LEN, OBSOLETE_FILE_LINK,
    SIP_GUID_MSI, SIP_GUID_POWERSHELL, SPC_CAB_DATA_OBJID, SPC_INDIRECT_DATA_OBJID,
    SPC_INDIVIDUAL_SP_KEY_PURPOSE_OBJID, SPC_NESTED_SIGNATURE_OBJID, SPC_PE_IMAGE_DATA_OBJID,
    SPC_SIPINFO_OBJID, SPC_SP_OPUS_INFO_OBJID, SPC_STATEMENT_TYPE_OBJID,
    SpcAttributeTypeAndOptionalValue, SpcIndirectDataContent, SpcLink, SpcPeImageData,
    SpcSerializedObject, SpcSipInfo, SpcSpOpusInfo, SpcString, signed_attributes,
};
pub use digest::{ImageDigest, image_digest, image_digest_file};
pub use embed::{EmbedMode, EmbedReport, Placement, embed_signature};
pub use error::{
    AuthenticodeError, CabError, CatalogError, MsiError, PeError, Result, ScriptError,
};
pub use file::{PreparedFile, SubjectReport, prepare_file, verify_subject_file};
pub use msi::tree::{MAX_MSI_DEPTH, MAX_MSI_ENTRIES};
pub use msi::{is_other_compound_file, msi_digest};
pub use pe::{CertificateTable, MAX_IMAGE_LEN, MAX_SECTIONS, PeKind, PeLayout, Section};
pub use prepare::{FileIdentity, PreparedImage, StagedImage, prepare_and_stage, prepare_image};
pub use script::{MAX_SCRIPT_LEN, script_digest};
pub use sign::{sign_image_digest, sign_subject_digest};
pub use signature::{Check, MAX_NESTING_DEPTH, MAX_SIGNATURES};
pub use subject::{CFB_SIGNATURE, DETECT_LEN, SCRIPT_EXTENSIONS, Subject};
pub use verify::{SignatureReport, VerificationReport, verify, verify_file};
pub use wincert::{
    MAX_CERT_ENTRIES, MAX_CERT_TABLE_LEN, WIN_CERT_REVISION_2_0, WIN_CERT_TYPE_PKCS_SIGNED_DATA,
};

//! Errors, grouped by fault: the PE file is malformed ([`PeError`]), the
//! embedded or supplied signature is malformed, the caller asked for
//! something impossible, or the file system failed.

use std::io;

use const_oid::ObjectIdentifier;
use thiserror::Error;

/// The PE file is malformed or outside what Sigil accepts.
///
/// Every variant names the structure at fault; none of them is recoverable by
/// retrying: the file has to be rebuilt (or is not a PE image at all).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeError {
    /// The file ends before a header it must contain.
    #[error(
        "the file is truncated: the {what} needs {needed} bytes but the file has {file_len}; is it a complete PE image?"
    )]
    Truncated {
        /// The structure that does not fit.
        what: &'static str,
        /// Bytes the structure needs from the start of the file.
        needed: u64,
        /// The file's length.
        file_len: u64,
    },
    /// The file does not start with `MZ`.
    #[error("not a PE image: the file does not start with the MS-DOS signature \"MZ\"")]
    BadDosSignature,
    /// `e_lfanew` points outside the file.
    #[error(
        "not a PE image: the MS-DOS header points to a PE header at offset {e_lfanew}, outside the {file_len}-byte file"
    )]
    PeHeaderOutOfFile {
        /// The `e_lfanew` field.
        e_lfanew: u32,
        /// The file's length.
        file_len: u64,
    },
    /// The `PE\0\0` signature is missing.
    #[error("not a PE image: no \"PE\\0\\0\" signature at offset {offset}")]
    BadPeSignature {
        /// Where the signature was expected.
        offset: u64,
    },
    /// The optional header magic is neither PE32 nor PE32+.
    #[error(
        "unsupported optional header magic {magic:#06x}: only PE32 (0x10b) and PE32+ (0x20b) images can be signed"
    )]
    BadOptionalHeaderMagic {
        /// The magic found.
        magic: u16,
    },
    /// The optional header is too small to hold the certificate table entry.
    #[error(
        "the optional header is {size} bytes, too small to hold the CheckSum and Certificate Table fields ({needed} bytes needed)"
    )]
    OptionalHeaderTooSmall {
        /// `SizeOfOptionalHeader`.
        size: u16,
        /// The size needed.
        needed: u16,
    },
    /// `NumberOfRvaAndSizes` leaves no room for the Certificate Table (index 4).
    #[error(
        "the image declares {count} data directories; Authenticode needs at least 5 (the Certificate Table is entry 4)"
    )]
    TooFewDataDirectories {
        /// `NumberOfRvaAndSizes`.
        count: u32,
    },
    /// More sections than the PE format allows.
    #[error("the image declares {count} sections; the PE format allows at most {max}")]
    TooManySections {
        /// `NumberOfSections`.
        count: u16,
        /// The limit.
        max: u16,
    },
    /// The section table runs past the end of the file.
    #[error(
        "the section table ({count} entries at offset {offset}) runs past the end of the {file_len}-byte file"
    )]
    SectionTableOutOfFile {
        /// Where the section table starts.
        offset: u64,
        /// `NumberOfSections`.
        count: u16,
        /// The file's length.
        file_len: u64,
    },
    /// A section's raw data lies (partly) outside the file, or inside the certificate table.
    #[error(
        "section {index} ({name}) has raw data at {start}..{end}, beyond the end of the image data at {limit}"
    )]
    SectionOutOfFile {
        /// Index in the section table.
        index: usize,
        /// The section name, lossily decoded.
        name: String,
        /// `PointerToRawData`.
        start: u64,
        /// `PointerToRawData + SizeOfRawData`.
        end: u64,
        /// End of the image data (file length, or start of the certificate table).
        limit: u64,
    },
    /// Two sections claim the same file bytes.
    #[error("sections {first} and {second} overlap in the file (raw data ranges intersect)")]
    SectionsOverlap {
        /// Index of the earlier section.
        first: usize,
        /// Index of the section that starts inside it.
        second: usize,
    },
    /// Exactly one of the certificate table's offset and size is zero.
    #[error(
        "the Certificate Table entry is inconsistent (offset {offset}, size {size}): both must be zero or both non-zero"
    )]
    CertificateTableInconsistent {
        /// The entry's file offset.
        offset: u32,
        /// The entry's size.
        size: u32,
    },
    /// The certificate table is outside the file or overlaps the headers.
    #[error(
        "the attribute certificate table (offset {offset}, size {size}) lies outside the image data (headers end at {headers_end}, file is {file_len} bytes)"
    )]
    CertificateTableOutOfBounds {
        /// The table's file offset.
        offset: u64,
        /// The table's size.
        size: u64,
        /// End of the headers and section table.
        headers_end: u64,
        /// The file's length.
        file_len: u64,
    },
    /// Data follows the certificate table (possible tampering, see MS12-024).
    #[error(
        "the attribute certificate table (offset {offset}, size {size}) is not at the end of the {file_len}-byte file; refusing a file with data after its signature"
    )]
    CertificateTableNotAtEnd {
        /// The table's file offset.
        offset: u64,
        /// The table's size.
        size: u64,
        /// The file's length.
        file_len: u64,
    },
    /// The certificate table does not start on an 8-byte boundary.
    #[error(
        "the attribute certificate table starts at offset {offset}, which is not 8-byte aligned"
    )]
    CertificateTableMisaligned {
        /// The table's file offset.
        offset: u64,
    },
    /// The file is larger than a PE image can be (its offsets are 32-bit).
    #[error("the file is {len} bytes; PE images (and their signatures) are limited to {max} bytes")]
    FileTooLarge {
        /// The file's length.
        len: u64,
        /// The limit.
        max: u64,
    },
}

/// The PowerShell script cannot be signed or verified as it is.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScriptError {
    /// Larger than Sigil reads into memory.
    #[error("the script is {len} bytes; scripts of at most {max} bytes are signed")]
    TooLarge {
        /// Its length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// Neither UTF-8 nor UTF-16LE with a byte-order mark.
    #[error(
        "the script is not UTF-8 (invalid byte sequence at offset {offset}) nor UTF-16LE with a byte-order mark: save it as UTF-8 or UTF-16"
    )]
    NotUtf8 {
        /// Where the invalid sequence starts.
        offset: usize,
    },
    /// UTF-16 text with an odd number of bytes.
    #[error(
        "the script starts with a UTF-16LE byte-order mark but has an odd length ({len} bytes): it is truncated"
    )]
    OddUtf16Length {
        /// Its length.
        len: usize,
    },
    /// A `# SIG # Begin signature block` line that does not start a well-formed block.
    #[error(
        "the script has a \"# SIG # Begin signature block\" line at offset {offset}, but what follows is not a signature block ({reason}): remove the block, or the text after it, and sign again"
    )]
    BadSignatureBlock {
        /// Byte offset of the line break before the block.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// The signature block is the whole script.
    #[error("the script holds nothing but a signature block")]
    OnlySignatureBlock,
}

/// The MSI package cannot be signed or verified as it is.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MsiError {
    /// Not a readable compound file.
    #[error("not a valid MSI package (compound file): {reason}; is the file complete?")]
    Malformed {
        /// What the compound-file reader said.
        reason: String,
    },
    /// More entries than Sigil reads.
    #[error("the MSI package has more than {max} streams and storages")]
    TooManyEntries {
        /// The limit.
        max: usize,
    },
    /// Storages nested deeper than Sigil follows.
    #[error("the MSI package nests storages more than {max} levels deep")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// Nesting into a package signed with `MsiDigitalSignatureEx`.
    #[error(
        "the MSI package's signature uses MsiDigitalSignatureEx, which Sigil does not write: a nested signature would break it; sign without --append to replace the signature"
    )]
    NestWithDigitalSignatureEx,
}

/// The cabinet (CAB) file is malformed or outside what Sigil signs.
///
/// Every variant names the header field at fault; the file has to be rebuilt
/// (or is not a cabinet at all).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CabError {
    /// The file ends before a structure it must contain.
    #[error(
        "the cabinet is truncated: the {what} needs {needed} bytes but the file has {file_len}; is it a complete CAB file?"
    )]
    Truncated {
        /// The structure that does not fit.
        what: &'static str,
        /// Bytes needed from the start of the file.
        needed: u64,
        /// The file's length.
        file_len: u64,
    },
    /// The file does not start with `MSCF`.
    #[error("not a cabinet file: it does not start with the signature \"MSCF\"")]
    BadSignature,
    /// A header field has a value the format does not allow.
    #[error("the cabinet header field {field} is {value:#x}, {expected}: the header is corrupt")]
    BadField {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// What it must be.
        expected: &'static str,
    },
    /// The cabinet is part of a multi-cabinet set, or has flags Sigil does not handle.
    #[error(
        "the cabinet has header flags {flags:#06x}; Sigil signs single cabinets only (no previous/next cabinet in a set): rebuild it as one cabinet"
    )]
    UnsupportedFlags {
        /// The `flags` field.
        flags: u16,
    },
    /// The reserved area is not the 20-byte Authenticode signature area.
    #[error(
        "the cabinet has a reserved area (cbCFHeader {header}, cbCFFolder {folder}, cbCFData {data}, marker {marker:#010x}) that is not an Authenticode signature area; Sigil only signs cabinets without per-folder or per-data reserves"
    )]
    UnsupportedReserve {
        /// `cbCFHeader`.
        header: u16,
        /// `cbCFFolder`.
        folder: u8,
        /// `cbCFData`.
        data: u8,
        /// The first 4 bytes of the reserve (0x00100000 in a signature area).
        marker: u32,
    },
    /// The signature area does not end the file, or only one of its offset and size is set.
    #[error(
        "the cabinet's signature area (offset {offset}, size {size}) does not end the {file_len}-byte file: the header lies or data follows the signature"
    )]
    BadSignatureArea {
        /// The area's offset.
        offset: u64,
        /// The area's size.
        size: u64,
        /// The file's length.
        file_len: u64,
    },
    /// `cbCabinet` does not match the file.
    #[error(
        "the cabinet header says the cabinet is {declared} bytes, but its contents are {actual} bytes: the header lies or the file was cut or extended"
    )]
    LengthMismatch {
        /// `cbCabinet`.
        declared: u64,
        /// The file's length without the signature area.
        actual: u64,
    },
    /// `coffFiles` is not where the folder entries end.
    #[error(
        "the cabinet header puts the first file entry at {declared}, but the {folders} folder entries end at {actual}: the header is corrupt"
    )]
    FilesOffsetMismatch {
        /// `coffFiles`.
        declared: u64,
        /// Where the CFFOLDER entries end.
        actual: u64,
        /// `cFolders`.
        folders: u16,
    },
    /// A folder's data starts outside the cabinet's data.
    #[error(
        "folder {index} of the cabinet starts its data at {offset}, outside the data area {start}..{end}: the header is corrupt"
    )]
    FolderOutOfFile {
        /// Index of the CFFOLDER entry.
        index: usize,
        /// Its `coffCabStart`.
        offset: u64,
        /// Where the data area starts (after the folder entries).
        start: u64,
        /// Where it ends (the signature area or the end of the file).
        end: u64,
    },
    /// The signed cabinet would not fit the format's 32-bit offsets.
    #[error("the cabinet is {len} bytes; signed cabinets are limited to {max} bytes")]
    FileTooLarge {
        /// The length the signed file would have.
        len: u64,
        /// The limit.
        max: u64,
    },
}

/// The catalog (`.cat`) file is malformed or not a catalog.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CatalogError {
    /// The file is not a DER PKCS#7 `ContentInfo` holding a `SignedData`.
    #[error("not a catalog file: it is not a DER PKCS#7 SignedData ({reason})")]
    NotPkcs7 {
        /// What is wrong.
        reason: String,
    },
    /// The SignedData holds something else than a certificate trust list.
    #[error(
        "not a catalog file: the PKCS#7 content type is {content_type}, not a certificate trust list (1.3.6.1.4.1.311.10.1)"
    )]
    NotCatalog {
        /// The content type found.
        content_type: const_oid::ObjectIdentifier,
    },
    /// The SignedData does not carry its certificate trust list (or not as a SEQUENCE).
    #[error(
        "the catalog file does not carry its certificate trust list (no eContent, or not a SEQUENCE): rebuild it with makecat"
    )]
    NoTrustList,
    /// A catalog cannot hold nested signatures.
    #[error(
        "a catalog file holds one signature; nesting another one is not supported: sign it without --append to replace its signature"
    )]
    NestingUnsupported,
}

/// Why an Authenticode operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AuthenticodeError {
    /// Reading or writing a file failed.
    #[error("I/O error while trying to {op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// The PE image is malformed.
    #[error(transparent)]
    Pe(#[from] PeError),
    /// The MSI package is malformed.
    #[error(transparent)]
    Msi(#[from] MsiError),
    /// The PowerShell script is malformed.
    #[error(transparent)]
    Script(#[from] ScriptError),
    /// The cabinet file is malformed.
    #[error(transparent)]
    Cab(#[from] CabError),
    /// The catalog file is malformed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The file has no Authenticode signature.
    #[error("the file is not signed (it has no Authenticode signature)")]
    NotSigned,
    /// The attribute certificate table does not hold a readable `WIN_CERTIFICATE` list.
    #[error("the attribute certificate table is malformed: {reason}")]
    BadCertificateTable {
        /// What is wrong.
        reason: String,
    },
    /// The certificate table has no PKCS#7 `WIN_CERTIFICATE` entry.
    #[error(
        "the attribute certificate table holds no PKCS#7 signature (WIN_CERT_TYPE_PKCS_SIGNED_DATA, revision 2.0)"
    )]
    NoPkcs7Entry,
    /// A signature (embedded, or handed in for embedding) is not valid Authenticode PKCS#7.
    #[error("malformed Authenticode signature: {reason}")]
    MalformedSignature {
        /// What is wrong.
        reason: String,
    },
    /// A structure is larger than the limit Sigil accepts.
    #[error("the {what} is {len} bytes; the limit is {max} bytes")]
    TooLarge {
        /// The structure.
        what: &'static str,
        /// Its length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The signature names a digest algorithm Sigil does not support.
    #[error("unsupported digest algorithm {oid}: Sigil supports SHA-256, SHA-384 and SHA-512")]
    UnsupportedDigestAlgorithm {
        /// The algorithm's object identifier.
        oid: ObjectIdentifier,
    },
    /// A digest does not have its algorithm's length.
    #[error("a {algorithm} digest is {expected} bytes long, got {actual}")]
    DigestLength {
        /// The algorithm.
        algorithm: sigil_keys::HashAlgorithm,
        /// Its output length.
        expected: usize,
        /// The length received.
        actual: usize,
    },
    /// The signature to embed was made for a different file (or a modified one).
    #[error(
        "the signature covers image digest {signed} but this file's {algorithm} image digest is {actual}: it was signed for another file or the file changed since it was hashed"
    )]
    DigestMismatch {
        /// The algorithm.
        algorithm: sigil_keys::HashAlgorithm,
        /// The digest in the signature (hex).
        signed: String,
        /// The digest of the file (hex).
        actual: String,
    },
    /// The file changed (length, modification or change time, or it was replaced) since it
    /// was hashed, or while it was copied.
    #[error(
        "the file changed since it was hashed (its size, modification time or inode differ): nothing was written; sign it again once nothing else writes to it"
    )]
    FileChanged,
    /// Building or verifying the CMS SignedData failed.
    #[error(transparent)]
    Cms(#[from] sigil_pki::cms::CmsError),
    /// Sigil cannot do this for this kind of file.
    #[error("{} ({subject}): {reason}", .subject.description())]
    UnsupportedSubject {
        /// The kind of file.
        subject: crate::Subject,
        /// Why not.
        reason: &'static str,
    },
    /// The signature to embed was made for another kind of file.
    #[error(
        "the signature is for a {} but this file is a {}: it was made for another file; sign this one again",
        .found.description(),
        .expected.description()
    )]
    WrongSubject {
        /// The kind of file being signed.
        expected: crate::Subject,
        /// The kind the signature names.
        found: crate::Subject,
    },
    /// A text field cannot be encoded (e.g. a program name outside Unicode's BMP).
    #[error("invalid {field}: {reason}")]
    InvalidText {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Encoding a DER structure failed.
    #[error("encoding the {what} failed: {source}")]
    Encode {
        /// The structure.
        what: &'static str,
        /// The encoder's error.
        source: der::Error,
    },
}

impl AuthenticodeError {
    /// Shorthand for an I/O error while doing `op`.
    pub(crate) fn io(op: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| AuthenticodeError::Io { op, source }
    }

    /// Shorthand for a malformed signature.
    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        AuthenticodeError::MalformedSignature {
            reason: reason.into(),
        }
    }

    /// Shorthand for an encoding failure of `what`.
    pub(crate) fn encode(what: &'static str) -> impl FnOnce(der::Error) -> Self {
        move |source| AuthenticodeError::Encode { what, source }
    }
}

/// Result alias for this crate.
pub type Result<T, E = AuthenticodeError> = std::result::Result<T, E>;

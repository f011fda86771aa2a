//! Typed errors, grouped by what went wrong.

use std::io;
use std::path::PathBuf;

/// The archive is not a ZIP/JAR this crate accepts.
///
/// Every variant names the entry (when there is one) and says what to do; none
/// of them ever leads to a signed output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// Reading the archive failed.
    #[error("cannot read the archive: {0}")]
    Io(#[from] io::Error),
    /// No end-of-central-directory record: not a ZIP file, or cut short.
    #[error(
        "not a JAR/ZIP archive (no end-of-central-directory record); check that the file is complete"
    )]
    NotAnArchive,
    /// A structure of the archive ends before it should.
    #[error(
        "the archive is truncated or corrupt: {what} lies outside the file; rebuild the archive"
    )]
    Truncated {
        /// Which structure.
        what: &'static str,
    },
    /// The central directory is inconsistent with the end record.
    #[error(
        "the central directory is inconsistent ({detail}); rebuild the archive with the jar tool"
    )]
    BadCentralDirectory {
        /// What is inconsistent.
        detail: &'static str,
    },
    /// Spanned or split archives.
    #[error("multi-disk (spanned) archives are not supported; rebuild the archive as one file")]
    MultiDisk,
    /// More entries than [`crate::limits::MAX_ENTRIES`].
    #[error("the archive declares {count} entries, more than the limit of {limit}")]
    TooManyEntries {
        /// Declared count.
        count: u64,
        /// The limit.
        limit: u64,
    },
    /// The central directory is larger than [`crate::limits::MAX_CENTRAL_DIRECTORY_BYTES`].
    #[error("the central directory is {size} bytes, more than the limit of {limit}")]
    CentralDirectoryTooLarge {
        /// Declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// An entry name is not UTF-8 (JAR entry names are UTF-8).
    #[error("entry #{index} has a name that is not valid UTF-8; JAR entry names must be UTF-8")]
    NameNotUtf8 {
        /// Position in the central directory.
        index: usize,
    },
    /// An entry name could escape the extraction directory or is ambiguous.
    #[error("entry {name:?} has an unsafe name ({reason}); rename it in the build")]
    UnsafeName {
        /// The name.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Two entries with the same name.
    #[error("entry {name:?} appears more than once; a JAR must not contain duplicate names")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// Two entries share bytes, or an entry runs into the central directory.
    #[error("entry {name:?} overlaps {other}; the archive is malformed or crafted")]
    Overlap {
        /// The entry.
        name: String,
        /// What it overlaps (another entry or the central directory).
        other: String,
    },
    /// The local header disagrees with the central directory.
    #[error(
        "entry {name:?}: the local header disagrees with the central directory ({field}); the archive is malformed or crafted"
    )]
    LocalHeaderMismatch {
        /// The entry.
        name: String,
        /// Which field.
        field: &'static str,
    },
    /// A ZIP64 extra field is missing or malformed.
    #[error("entry {name:?}: malformed extra field ({detail})")]
    BadExtraField {
        /// The entry.
        name: String,
        /// What is wrong.
        detail: &'static str,
    },
    /// The data descriptor disagrees with the central directory.
    #[error("entry {name:?}: the data descriptor disagrees with the central directory")]
    DataDescriptorMismatch {
        /// The entry.
        name: String,
    },
    /// Encrypted entries cannot be signed.
    #[error("entry {name:?} is encrypted; JAR entries must not be encrypted")]
    Encrypted {
        /// The entry.
        name: String,
    },
    /// Only stored (0) and deflated (8) entries are supported.
    #[error(
        "entry {name:?} uses compression method {method}; only stored (0) and deflate (8) are supported in a JAR"
    )]
    UnsupportedCompression {
        /// The entry.
        name: String,
        /// The method number.
        method: u16,
    },
    /// A declared size above [`crate::limits::MAX_ENTRY_UNCOMPRESSED_BYTES`].
    #[error(
        "entry {name:?} declares {declared} uncompressed bytes, more than the limit of {limit}"
    )]
    EntryTooLarge {
        /// The entry.
        name: String,
        /// Declared size.
        declared: u64,
        /// The limit.
        limit: u64,
    },
    /// The declared sizes add up to more than [`crate::limits::MAX_TOTAL_UNCOMPRESSED_BYTES`].
    #[error(
        "the entries declare {declared} uncompressed bytes in total, more than the limit of {limit}"
    )]
    ArchiveTooLarge {
        /// Sum of declared sizes.
        declared: u64,
        /// The limit.
        limit: u64,
    },
    /// Compression ratio above [`crate::limits::MAX_COMPRESSION_RATIO`] (zip bomb).
    #[error(
        "entry {name:?} declares a compression ratio of {ratio}:1, more than the limit of {limit}:1 (zip bomb?)"
    )]
    CompressionRatio {
        /// The entry.
        name: String,
        /// Uncompressed / compressed.
        ratio: u64,
        /// The limit.
        limit: u64,
    },
    /// The entry's data does not have the declared size.
    #[error(
        "entry {name:?} decompresses to {actual} bytes but declares {declared}; the archive is corrupt or crafted"
    )]
    SizeMismatch {
        /// The entry.
        name: String,
        /// Declared uncompressed size.
        declared: u64,
        /// Bytes produced (a lower bound when more than declared).
        actual: u64,
    },
    /// CRC-32 mismatch.
    #[error("entry {name:?} fails its CRC-32 check; the archive is corrupt")]
    CrcMismatch {
        /// The entry.
        name: String,
    },
    /// The compressed data cannot be decompressed.
    #[error("entry {name:?} has corrupt compressed data: {source}")]
    CorruptData {
        /// The entry.
        name: String,
        /// Decoder error.
        source: io::Error,
    },
    /// An entry read into memory is larger than allowed for its kind.
    #[error("entry {name:?} is {size} bytes, more than the limit of {limit} for this kind of file")]
    EntryTooLargeToRead {
        /// The entry.
        name: String,
        /// Declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}

/// A manifest or signature file does not follow the JAR specification.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file is larger than [`crate::limits::MAX_MANIFEST_BYTES`].
    #[error("the manifest is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A line is longer than [`crate::limits::MAX_MANIFEST_LINE_BYTES`].
    #[error("line {line}: longer than {limit} bytes")]
    LineTooLong {
        /// 1-based line number.
        line: usize,
        /// The limit.
        limit: usize,
    },
    /// The last line has no line break (the JDK would silently drop it).
    #[error(
        "line {line}: the last line has no line break; the JDK would ignore it, so it is refused"
    )]
    UnterminatedLastLine {
        /// 1-based line number.
        line: usize,
    },
    /// A header line is not `Name: value`.
    #[error("line {line}: not a `Name: value` header")]
    MalformedHeader {
        /// 1-based line number.
        line: usize,
    },
    /// A header name has a character outside `A-Z a-z 0-9 - _`, or is too long.
    #[error(
        "line {line}: invalid header name (1 to 70 of A-Z a-z 0-9 - _, starting with a letter or digit)"
    )]
    InvalidHeaderName {
        /// 1-based line number.
        line: usize,
    },
    /// A continuation line (starting with a space) without a header before it.
    #[error("line {line}: continuation line without a header before it")]
    OrphanContinuation {
        /// 1-based line number.
        line: usize,
    },
    /// A value is not UTF-8 or contains NUL.
    #[error("line {line}: the value is not UTF-8 text without NUL")]
    InvalidValue {
        /// 1-based line number.
        line: usize,
    },
    /// A value is longer than [`crate::limits::MAX_HEADER_VALUE_BYTES`].
    #[error("line {line}: the value is longer than {limit} bytes")]
    ValueTooLong {
        /// 1-based line number.
        line: usize,
        /// The limit.
        limit: usize,
    },
    /// More headers in a section than [`crate::limits::MAX_HEADERS_PER_SECTION`].
    #[error("line {line}: more than {limit} headers in one section")]
    TooManyHeaders {
        /// 1-based line number.
        line: usize,
        /// The limit.
        limit: usize,
    },
    /// An individual section does not start with `Name:`.
    #[error("line {line}: an individual section must start with a `Name:` header")]
    SectionWithoutName {
        /// 1-based line number.
        line: usize,
    },
    /// `Name:` in the main section.
    #[error("line {line}: the main section must not contain a `Name:` header")]
    NameInMainSection {
        /// 1-based line number.
        line: usize,
    },
    /// The same header twice in a section.
    #[error("line {line}: header {header:?} appears twice in the same section")]
    DuplicateHeader {
        /// 1-based line number.
        line: usize,
        /// The header name.
        header: String,
    },
    /// Two sections for the same entry name.
    #[error("line {line}: a second section for entry {name:?}")]
    DuplicateSection {
        /// 1-based line number.
        line: usize,
        /// The entry name.
        name: String,
    },
    /// A header to be written has an invalid name.
    #[error("cannot write header {header:?}: invalid header name")]
    InvalidHeaderNameToWrite {
        /// The header name.
        header: String,
    },
    /// A value to be written contains CR, LF or NUL.
    #[error("cannot write header {header:?}: the value contains CR, LF or NUL")]
    InvalidValueToWrite {
        /// The header name.
        header: String,
    },
}

/// Anything that can go wrong while signing or verifying a JAR.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JarError {
    /// The archive is malformed, hostile or unreadable.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// `META-INF/MANIFEST.MF` does not follow the specification.
    #[error("META-INF/MANIFEST.MF: {0}")]
    Manifest(ManifestError),
    /// A signature file does not follow the specification.
    #[error("{file}: {error}")]
    SignatureFile {
        /// The `.SF` entry name.
        file: String,
        /// What is wrong.
        error: ManifestError,
    },
    /// More than one entry is a manifest (names differing only in case).
    #[error("the archive contains more than one manifest ({first:?} and {second:?}); remove one")]
    AmbiguousManifest {
        /// First manifest entry.
        first: String,
        /// Second manifest entry.
        second: String,
    },
    /// The signer name is not usable as `META-INF/<NAME>.SF`.
    #[error("invalid signer name {name:?}: {reason}")]
    InvalidSignerName {
        /// The name given.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The `Created-By` value cannot be written.
    #[error("invalid Created-By value: {0}")]
    InvalidCreatedBy(ManifestError),
    /// The signature block is empty, too large or not DER.
    #[error("the signature block is not usable: {reason}")]
    InvalidSignatureBlock {
        /// Why.
        reason: &'static str,
    },
    /// Building or checking the PKCS#7 signature block failed.
    #[error("signature block: {0}")]
    Cms(#[from] sigil_pki::cms::CmsError),
    /// The archive changed between computing the `.SF` and writing the signed JAR.
    #[error("{path} changed since its signature file was computed; sign it again")]
    ArchiveChanged {
        /// The archive.
        path: PathBuf,
    },
    /// Opening, writing or renaming a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

impl JarError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

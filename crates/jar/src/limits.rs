//! Every bound the crate applies to untrusted input, in one place.
//!
//! The archive, its manifest and its signature files come from a build machine
//! that Sigil does not control; each count and length read from them is checked
//! against one of these constants before anything is allocated or trusted.

/// Most entries an archive may declare (ZIP64 archives with 65,536+ entries are fine).
pub const MAX_ENTRIES: u64 = 500_000;

/// Largest central directory read into memory.
pub const MAX_CENTRAL_DIRECTORY_BYTES: u64 = 128 * 1024 * 1024;

/// Longest entry name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 4096;

/// Largest declared uncompressed size of one entry.
pub const MAX_ENTRY_UNCOMPRESSED_BYTES: u64 = 8 * 1024 * 1024 * 1024;

/// Largest sum of declared uncompressed sizes of all entries.
pub const MAX_TOTAL_UNCOMPRESSED_BYTES: u64 = 64 * 1024 * 1024 * 1024;

/// Largest ratio uncompressed / compressed accepted for an entry larger than
/// [`RATIO_CHECK_MIN_BYTES`] (deflate's own maximum is about 1032:1; real class
/// files and resources stay far below this bound).
pub const MAX_COMPRESSION_RATIO: u64 = 200;

/// Entries whose declared uncompressed size is at most this are exempt from the
/// ratio check (a small run of zeros legitimately compresses very well).
pub const RATIO_CHECK_MIN_BYTES: u64 = 1024 * 1024;

/// Largest `META-INF/MANIFEST.MF` read or written.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// Largest signature file (`META-INF/*.SF`) read.
pub const MAX_SIGNATURE_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Largest signature block (`META-INF/*.RSA`, `*.EC`, `*.DSA`) accepted.
pub const MAX_SIGNATURE_BLOCK_BYTES: u64 = 1024 * 1024;

/// Longest manifest line accepted on input, in bytes without the line break.
/// The specification says 72; the JDK reads lines of up to 512 bytes, and so do we.
pub const MAX_MANIFEST_LINE_BYTES: usize = 512;

/// Longest line written, in bytes without the line break (JAR specification:
/// "No line may be longer than 72 bytes (not characters), in its UTF8-encoded form").
pub const MANIFEST_LINE_WIDTH: usize = 72;

/// Longest header name (JAR specification: `name: alphanum *headerchar`, at most 70 bytes).
pub const MAX_HEADER_NAME_BYTES: usize = 70;

/// Longest header value after joining continuation lines (the specification
/// asks for at least 65,535 bytes).
pub const MAX_HEADER_VALUE_BYTES: usize = 1024 * 1024;

/// Most headers in one manifest section.
pub const MAX_HEADERS_PER_SECTION: usize = 1024;

/// Longest signer name (`META-INF/<NAME>.SF`), as jarsigner enforces.
pub const MAX_SIGNER_NAME_CHARS: usize = 8;

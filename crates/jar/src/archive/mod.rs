//! A bounded ZIP reader and a raw-copying ZIP writer, written for JARs.
//!
//! The reader walks the central directory itself (rather than through a
//! general ZIP library) because signing needs what such libraries hide: the
//! exact byte span of every entry (to refuse overlaps and to copy entries
//! without recompressing), the raw central-directory record (to keep extra
//! fields, comments and timestamps), and strict agreement between local
//! headers, data descriptors and the central directory.

mod bytes;
mod names;
mod read;
mod source;
pub(crate) mod write;

pub use names::{MANIFEST_NAME, is_directory, is_manifest, is_signature_related};
pub use read::{Archive, Entry};
pub use source::Source;

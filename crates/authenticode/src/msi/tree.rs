//! The MSI digest over a compound file's tree, as the MSI SIP and osslsigncode 2.9 (`msi.c`)
//! compute it.
//!
//! - **Content digest** (`DigitalSignature`): for a storage, its children sorted by name
//!   (below), each stream's bytes, each sub-storage recursively, then the storage's own
//!   16-byte CLSID; starting at the root, without the root's `\u{5}DigitalSignature` stream.
//! - **Pre-hash** (`MsiDigitalSignatureEx`, optional): the same walk over metadata only —
//!   for every entry but the root its name (UTF-16LE, no terminator); for a storage or the
//!   root its CLSID, for a stream the low 32 bits of its size (LE); its state bits; for every
//!   entry but the root its creation and modification times. When a package has the
//!   `\u{5}MsiDigitalSignatureEx` stream, the signed digest is `H(pre-hash ‖ content)`.
//! - **Order:** names compared as osslsigncode does, `memcmp` of the UTF-16LE bytes with
//!   their terminator (so byte order, not code-unit order), the longer first on a tie.
//! - `\u{5}MsiDigitalSignatureEx` is skipped at every level and `\u{5}DigitalSignature` at
//!   the root only (osslsigncode's precedence); empty streams add nothing.
//!
//! The compound file itself is read by the `cfb` crate. It reports stream CLSIDs and times
//! as zero (MS-CFB says they MUST be); a package breaking that rule would pre-hash
//! differently here than in osslsigncode — such a package is not signed with
//! `MsiDigitalSignatureEx` by Sigil, which only verifies it.

use std::cmp::Ordering;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use cfb::CompoundFile;
use sigil_keys::{HashAlgorithm, Hasher};

use crate::digest::STREAM_BUFFER_LEN;
use crate::error::{AuthenticodeError, MsiError, Result};

/// The signature stream's name.
pub(crate) const DIGITAL_SIGNATURE: &str = "\u{5}DigitalSignature";
/// The pre-hash stream's name.
pub(crate) const DIGITAL_SIGNATURE_EX: &str = "\u{5}MsiDigitalSignatureEx";
/// Most entries (streams and storages) read from one package.
pub const MAX_MSI_ENTRIES: usize = 65_536;
/// Deepest storage nesting followed.
pub const MAX_MSI_DEPTH: usize = 32;

/// One entry of the tree, in hashing order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    /// Its path in the compound file.
    pub(crate) path: PathBuf,
    /// Its name, UTF-16LE, without terminator.
    name: Vec<u8>,
    /// Storage (or root) rather than stream.
    storage: bool,
    /// The raw CLSID (storages), the state bits, the times, the size.
    clsid: [u8; 16],
    state_bits: u32,
    created: u64,
    modified: u64,
    len: u64,
    /// Children of a storage, in hashing order.
    children: Vec<Node>,
}

/// The package's tree, with what signing needs to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tree {
    root: Node,
    /// The root has a `\u{5}DigitalSignature` stream: its length.
    pub(crate) signature_len: Option<u64>,
    /// The root has a `\u{5}MsiDigitalSignatureEx` stream.
    pub(crate) has_ex: bool,
}

impl Tree {
    /// Reads the directory of `file`, bounded by [`MAX_MSI_ENTRIES`] and [`MAX_MSI_DEPTH`].
    pub(crate) fn read<F: Read + Seek>(file: &CompoundFile<F>) -> Result<Tree> {
        let mut count = 0;
        let root_entry = file.root_entry();
        let mut root = node(&root_entry);
        root.children = children(file, Path::new("/"), 0, &mut count)?;
        let signature_len = root
            .children
            .iter()
            .find(|c| !c.storage && c.name == utf16(DIGITAL_SIGNATURE))
            .map(|c| c.len);
        let has_ex = root
            .children
            .iter()
            .any(|c| !c.storage && c.name == utf16(DIGITAL_SIGNATURE_EX));
        Ok(Tree {
            root,
            signature_len,
            has_ex,
        })
    }

    /// The digests of the package with each of `algorithms` (with the pre-hash first when
    /// `with_ex`), reading every stream once.
    pub(crate) fn digests<F: Read + Seek>(
        &self,
        file: &mut CompoundFile<F>,
        algorithms: &[HashAlgorithm],
        with_ex: bool,
    ) -> Result<Vec<Vec<u8>>> {
        let mut hashers: Vec<Hasher> = algorithms
            .iter()
            .map(|a| {
                let mut hasher = Hasher::new(*a);
                if with_ex {
                    hasher.update(&self.prehash(*a));
                }
                hasher
            })
            .collect();
        let mut buffer = vec![0u8; STREAM_BUFFER_LEN];
        hash_content(file, &self.root, true, &mut hashers, &mut buffer)?;
        Ok(hashers.into_iter().map(Hasher::finalize).collect())
    }

    /// The `MsiDigitalSignatureEx` pre-hash with `algorithm`.
    pub(crate) fn prehash(&self, algorithm: HashAlgorithm) -> Vec<u8> {
        let mut hasher = Hasher::new(algorithm);
        prehash_storage(&self.root, true, &mut hasher);
        hasher.finalize()
    }
}

/// A node without children for `entry`.
fn node(entry: &cfb::Entry) -> Node {
    Node {
        path: entry.path().to_path_buf(),
        name: utf16(entry.name()),
        storage: entry.is_storage(),
        clsid: entry.clsid().to_bytes_le(),
        state_bits: entry.state_bits(),
        created: filetime(entry.created()),
        modified: filetime(entry.modified()),
        len: entry.len(),
        children: Vec::new(),
    }
}

/// The children of the storage at `path`, sorted, with their own children.
fn children<F: Read + Seek>(
    file: &CompoundFile<F>,
    path: &Path,
    depth: usize,
    count: &mut usize,
) -> Result<Vec<Node>> {
    if depth > MAX_MSI_DEPTH {
        return Err(MsiError::TooDeep { max: MAX_MSI_DEPTH }.into());
    }
    let mut nodes = Vec::new();
    for entry in file.read_storage(path).map_err(malformed)? {
        *count += 1;
        if *count > MAX_MSI_ENTRIES {
            return Err(MsiError::TooManyEntries {
                max: MAX_MSI_ENTRIES,
            }
            .into());
        }
        let mut child = node(&entry);
        if child.storage {
            child.children = children(file, entry.path(), depth + 1, count)?;
        }
        nodes.push(child);
    }
    nodes.sort_by(|a, b| hash_order(&a.name, &b.name));
    Ok(nodes)
}

/// osslsigncode's order: `memcmp` over the shorter name with its 2-byte terminator, then
/// the longer name first.
fn hash_order(a: &[u8], b: &[u8]) -> Ordering {
    let a: Vec<u8> = a.iter().copied().chain([0, 0]).collect();
    let b: Vec<u8> = b.iter().copied().chain([0, 0]).collect();
    let n = a.len().min(b.len());
    match a.get(..n).cmp(&b.get(..n)) {
        Ordering::Equal => b.len().cmp(&a.len()),
        other => other,
    }
}

/// Whether `node`, a child of a storage (`at_root`: of the root), is left out of both digests.
fn skipped(node: &Node, at_root: bool) -> bool {
    node.name == utf16(DIGITAL_SIGNATURE_EX) || (at_root && node.name == utf16(DIGITAL_SIGNATURE))
}

fn hash_content<F: Read + Seek>(
    file: &mut CompoundFile<F>,
    storage: &Node,
    at_root: bool,
    hashers: &mut [Hasher],
    buffer: &mut [u8],
) -> Result<()> {
    for child in &storage.children {
        if skipped(child, at_root) {
            continue;
        }
        if child.storage {
            hash_content(file, child, false, hashers, buffer)?;
            continue;
        }
        let mut stream = file.open_stream(&child.path).map_err(malformed)?;
        loop {
            let n = stream
                .read(buffer)
                .map_err(AuthenticodeError::io("read a stream of the MSI package"))?;
            let Some(chunk) = buffer.get(..n).filter(|c| !c.is_empty()) else {
                break;
            };
            for hasher in hashers.iter_mut() {
                hasher.update(chunk);
            }
        }
    }
    for hasher in hashers.iter_mut() {
        hasher.update(&storage.clsid);
    }
    Ok(())
}

fn prehash_metadata(node: &Node, is_root: bool, hasher: &mut Hasher) {
    if !is_root {
        hasher.update(&node.name);
    }
    if node.storage {
        hasher.update(&node.clsid);
    } else {
        // The low 32 bits of the size, as osslsigncode reads it.
        hasher.update(&(node.len as u32).to_le_bytes());
    }
    hasher.update(&node.state_bits.to_le_bytes());
    if !is_root {
        hasher.update(&node.created.to_le_bytes());
        hasher.update(&node.modified.to_le_bytes());
    }
}

fn prehash_storage(storage: &Node, is_root: bool, hasher: &mut Hasher) {
    prehash_metadata(storage, is_root, hasher);
    for child in &storage.children {
        if skipped(child, is_root) {
            continue;
        }
        if child.storage {
            prehash_storage(child, false, hasher);
        } else {
            prehash_metadata(child, false, hasher);
        }
    }
}

/// A name as UTF-16LE bytes.
pub(crate) fn utf16(name: &str) -> Vec<u8> {
    name.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A time as a FILETIME (100 ns since 1601), the value `cfb` read it from.
fn filetime(time: std::time::SystemTime) -> u64 {
    const UNIX_EPOCH_FILETIME: u64 = 116_444_736_000_000_000;
    let ticks = |d: std::time::Duration| {
        d.as_secs()
            .saturating_mul(10_000_000)
            .saturating_add(u64::from(d.subsec_nanos() / 100))
    };
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => UNIX_EPOCH_FILETIME.saturating_add(ticks(after)),
        Err(before) => UNIX_EPOCH_FILETIME.saturating_sub(ticks(before.duration())),
    }
}

/// A compound-file error from `cfb` as a malformed package.
pub(crate) fn malformed(error: std::io::Error) -> AuthenticodeError {
    MsiError::Malformed {
        reason: error.to_string(),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_utf16le_bytes_with_the_terminator() {
        let mut names = vec![
            utf16("b"),
            utf16("ab"),
            utf16("a"),
            utf16("\u{0100}"),
            utf16("\u{00ff}"),
        ];
        names.sort_by(|a, b| hash_order(a, b));
        // "\u{100}" is 00 01, "\u{ff}" is FF 00: byte order, not code-unit order.
        assert_eq!(
            names,
            vec![
                utf16("\u{0100}"),
                utf16("a"),
                utf16("ab"),
                utf16("b"),
                utf16("\u{00ff}")
            ]
        );
    }

    #[test]
    fn filetimes_round_trip_through_system_time() {
        for value in [0u64, 1, 116_444_736_000_000_000, 133_000_000_000_000_123] {
            let time = cfb_time(value);
            assert_eq!(filetime(time), value);
        }
    }

    /// What `cfb` hands out for a FILETIME.
    fn cfb_time(value: u64) -> std::time::SystemTime {
        const UNIX_EPOCH_FILETIME: u64 = 116_444_736_000_000_000;
        let to = |t: u64| std::time::Duration::new(t / 10_000_000, (t % 10_000_000) as u32 * 100);
        if value >= UNIX_EPOCH_FILETIME {
            std::time::UNIX_EPOCH + to(value - UNIX_EPOCH_FILETIME)
        } else {
            std::time::UNIX_EPOCH - to(UNIX_EPOCH_FILETIME - value)
        }
    }
}

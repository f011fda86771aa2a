//! An RPM header blob (magic, index, data store) read into entries and written back, as
//! `lib/header.c` of rpm lays it out: 16-byte index entries (tag, type, offset, count, big
//! endian), the data of each entry aligned for its type, and the region (tag 62 in a signature
//! header) as the first index entry pointing at a trailer entry at the end of the store.

use crate::error::RpmError;

/// The magic that starts every header: `8E AD E8`, version 1, four reserved zero bytes.
pub(crate) const HEADER_MAGIC: [u8; 8] = [0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
/// Largest signature header read (index and store). rpmbuild writes a few hundred bytes plus
/// the reserved space (4 KiB); IMA file signatures can make it larger.
pub const MAX_SIGNATURE_HEADER_LEN: usize = 32 << 20;
/// Most index entries in a signature header.
const MAX_SIGNATURE_ENTRIES: usize = 4096;
/// `RPMTAG_HEADERSIGNATURES`: the signature header's region tag.
pub(crate) const REGION_SIGNATURES: u32 = 62;
/// `RPMTAG_HEADERIMAGE`: what some old packages put in the signature region's trailer.
const REGION_IMAGE: u32 = 61;
/// `RPM_BIN_TYPE`.
pub(crate) const TYPE_BIN: u32 = 7;
const REGION_LEN: usize = 16;

/// One index entry with its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The tag.
    pub tag: u32,
    /// The data type (0 null … 9 i18n string).
    pub kind: u32,
    /// The element count.
    pub count: u32,
    /// The data bytes.
    pub data: Vec<u8>,
}

/// A header: its entries (without the region, which is rebuilt when written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The entries, in index order.
    pub entries: Vec<Entry>,
}

pub(crate) fn be32(bytes: &[u8], at: usize) -> Result<u32, RpmError> {
    bytes
        .get(at..at + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| RpmError::malformed("a header is cut short"))
}

/// The alignment the data of a type needs in the store.
fn alignment(kind: u32) -> usize {
    match kind {
        3 => 2,
        4 => 4,
        5 => 8,
        _ => 1,
    }
}

/// The length of an entry's data at `store[offset..]`, every string's terminator found
/// within the store.
fn data_len(kind: u32, count: u32, store: &[u8], offset: usize) -> Result<usize, RpmError> {
    let count = count as usize;
    let fixed = |size: usize| {
        count
            .checked_mul(size)
            .ok_or_else(|| RpmError::malformed("a header entry's count overflows"))
    };
    let len = match kind {
        0 => 0,
        1 | 2 | 7 => fixed(1)?,
        3 => fixed(2)?,
        4 => fixed(4)?,
        5 => fixed(8)?,
        6 | 8 | 9 => {
            if kind == 6 && count != 1 {
                return Err(RpmError::malformed("a string entry's count is not 1"));
            }
            let rest = store
                .get(offset..)
                .ok_or_else(|| RpmError::malformed("a header entry points past its store"))?;
            let mut len = 0;
            for _ in 0..count {
                let end = rest
                    .get(len..)
                    .and_then(|r| r.iter().position(|&b| b == 0))
                    .ok_or_else(|| RpmError::malformed("a header string is not terminated"))?;
                len += end + 1;
            }
            len
        }
        other => {
            return Err(RpmError::malformed(format!(
                "a header entry has the unknown type {other}"
            )));
        }
    };
    match offset.checked_add(len) {
        Some(end) if end <= store.len() => Ok(len),
        _ => Err(RpmError::malformed(
            "a header entry's data runs past its store",
        )),
    }
}

/// The index and store lengths a header's 16-byte intro announces, checked against `max_len`.
pub(crate) fn intro(
    bytes: &[u8],
    max_entries: usize,
    max_len: usize,
) -> Result<(usize, usize), RpmError> {
    if bytes.get(..8) != Some(&HEADER_MAGIC[..]) {
        return Err(RpmError::malformed(
            "a header does not start with the header magic",
        ));
    }
    let entries = be32(bytes, 8)? as usize;
    let store = be32(bytes, 12)? as usize;
    if entries == 0 || entries > max_entries {
        return Err(RpmError::malformed(format!(
            "a header announces {entries} entries (at most {max_entries})"
        )));
    }
    if entries * 16 + store > max_len {
        return Err(RpmError::malformed(format!(
            "a header announces {} bytes (at most {max_len})",
            entries * 16 + store
        )));
    }
    Ok((entries, store))
}

impl Header {
    /// Reads a signature header: `bytes` holds the intro, the index and the store, nothing
    /// more. The region must come first and cover every entry (what rpm writes).
    pub fn parse_signature(bytes: &[u8]) -> Result<Self, RpmError> {
        Self::parse(
            bytes,
            REGION_SIGNATURES,
            MAX_SIGNATURE_ENTRIES,
            MAX_SIGNATURE_HEADER_LEN,
        )
    }

    /// Reads a header whose region is `region` (62 for a signature header, 63 for a main
    /// header), with at most `max_entries` entries and `max_len` bytes. The region may cover
    /// fewer entries than the index holds (entries added after the package was built).
    pub(crate) fn parse(
        bytes: &[u8],
        region: u32,
        max_entries: usize,
        max_len: usize,
    ) -> Result<Self, RpmError> {
        let (count, store_len) = intro(bytes, max_entries, max_len)?;
        if bytes.len() != 16 + count * 16 + store_len {
            return Err(RpmError::malformed(
                "a header's length is not what it announces",
            ));
        }
        let index = bytes.get(16..16 + count * 16).unwrap_or_default();
        let store = bytes.get(16 + count * 16..).unwrap_or_default();
        let raw = |i: usize| -> Result<(u32, u32, u32, u32), RpmError> {
            let at = i * 16;
            Ok((
                be32(index, at)?,
                be32(index, at + 4)?,
                be32(index, at + 8)?,
                be32(index, at + 12)?,
            ))
        };
        // The region: first entry, its trailer's negative offset covering the whole index.
        let (tag, kind, offset, len) = raw(0)?;
        if tag != region || kind != TYPE_BIN || len != REGION_LEN as u32 {
            return Err(RpmError::malformed(format!(
                "a header does not start with its region (tag {region})"
            )));
        }
        let trailer_at = offset as usize;
        let trailer = store
            .get(trailer_at..trailer_at + REGION_LEN)
            .ok_or_else(|| RpmError::malformed("a header's region trailer is outside its store"))?;
        let (t_tag, t_kind, t_offset, t_len) = (
            be32(trailer, 0)?,
            be32(trailer, 4)?,
            be32(trailer, 8)?,
            be32(trailer, 12)?,
        );
        let covered = (t_offset as i32).checked_neg().map(|n| n as i64);
        let image_fixup = region == REGION_SIGNATURES && t_tag == REGION_IMAGE;
        if !(t_tag == region || image_fixup)
            || t_kind != TYPE_BIN
            || t_len != REGION_LEN as u32
            || !covered.is_some_and(|c| c >= 16 && c <= count as i64 * 16 && c % 16 == 0)
        {
            return Err(RpmError::malformed(
                "a header's region trailer does not cover its entries",
            ));
        }
        let mut entries = Vec::with_capacity(count - 1);
        let mut end = 0usize;
        for i in 1..count {
            let (tag, kind, offset, count) = raw(i)?;
            let offset = offset as usize;
            if tag == region || offset < end || !offset.is_multiple_of(alignment(kind)) {
                return Err(RpmError::malformed(format!(
                    "a header's entry {tag} overlaps or is misaligned"
                )));
            }
            let len = data_len(kind, count, store, offset)?;
            if offset < trailer_at + REGION_LEN && offset + len > trailer_at {
                return Err(RpmError::malformed(format!(
                    "a header's entry {tag} overlaps its region trailer"
                )));
            }
            end = offset + len;
            let data = store.get(offset..end).unwrap_or_default().to_vec();
            entries.push(Entry {
                tag,
                kind,
                count,
                data,
            });
        }
        Ok(Self { entries })
    }

    /// The entry with `tag`.
    pub fn get(&self, tag: u32) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }

    /// The header's bytes (intro, index, store) in rpm's layout: entries sorted by tag after
    /// the region, each entry's data aligned for its type, the region trailer last.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut entries: Vec<&Entry> = self.entries.iter().collect();
        entries.sort_by_key(|e| e.tag);
        let count = entries.len() + 1;
        let mut index = Vec::with_capacity(count * 16);
        let mut store = Vec::new();
        let mut rows = Vec::with_capacity(count - 1);
        for entry in entries {
            while store.len() % alignment(entry.kind) != 0 {
                store.push(0);
            }
            rows.push([entry.tag, entry.kind, store.len() as u32, entry.count]);
            store.extend_from_slice(&entry.data);
        }
        let trailer_at = store.len() as u32;
        let covered = (count as u32 * 16).wrapping_neg();
        for word in [REGION_SIGNATURES, TYPE_BIN, covered, REGION_LEN as u32] {
            store.extend_from_slice(&word.to_be_bytes());
        }
        for word in [REGION_SIGNATURES, TYPE_BIN, trailer_at, REGION_LEN as u32] {
            index.extend_from_slice(&word.to_be_bytes());
        }
        for row in rows {
            for word in row {
                index.extend_from_slice(&word.to_be_bytes());
            }
        }
        let mut out = Vec::with_capacity(16 + index.len() + store.len());
        out.extend_from_slice(&HEADER_MAGIC);
        out.extend_from_slice(&(count as u32).to_be_bytes());
        out.extend_from_slice(&(store.len() as u32).to_be_bytes());
        out.extend_from_slice(&index);
        out.extend_from_slice(&store);
        out
    }
}

//! Opening an archive: end record, central directory, local headers, and
//! every consistency check, before a single entry is trusted.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use flate2::read::DeflateDecoder;

use super::bytes::{Cursor, extra_blocks};
use super::names::check_entry_name;
use super::source::{RangeReader, Source, read_exact_at};
use crate::digest::{HashAlgorithm, Hasher, JarDigest};
use crate::error::{ArchiveError, JarError};
use crate::limits::{
    MAX_CENTRAL_DIRECTORY_BYTES, MAX_COMPRESSION_RATIO, MAX_ENTRIES, MAX_ENTRY_UNCOMPRESSED_BYTES,
    MAX_TOTAL_UNCOMPRESSED_BYTES, RATIO_CHECK_MIN_BYTES,
};

pub(crate) const LOCAL_HEADER_SIG: u32 = 0x0403_4b50;
pub(crate) const CENTRAL_HEADER_SIG: u32 = 0x0201_4b50;
pub(crate) const DATA_DESCRIPTOR_SIG: u32 = 0x0807_4b50;
pub(crate) const EOCD_SIG: u32 = 0x0605_4b50;
pub(crate) const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
pub(crate) const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
pub(crate) const ZIP64_EXTRA_TAG: u16 = 0x0001;
pub(crate) const U32_SENTINEL: u32 = 0xFFFF_FFFF;
pub(crate) const U16_SENTINEL: u16 = 0xFFFF;

pub(crate) const METHOD_STORED: u16 = 0;
pub(crate) const METHOD_DEFLATED: u16 = 8;
const METHOD_AES: u16 = 99;
const FLAG_ENCRYPTED: u16 = 1 << 0;
pub(crate) const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;

const EOCD_LEN: usize = 22;
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_EOCD_LEN: usize = 56;
const CENTRAL_HEADER_LEN: usize = 46;
const LOCAL_HEADER_LEN: usize = 30;
const MAX_COMMENT_LEN: usize = 0xFFFF;
const STREAM_BUFFER: usize = 64 * 1024;
const MIN_STREAM_BUFFER: u64 = 512;

/// One entry of the central directory, checked against its local header.
#[derive(Clone, Debug)]
pub struct Entry {
    pub(crate) name: String,
    pub(crate) version_made_by: u16,
    pub(crate) version_needed: u16,
    pub(crate) flags: u16,
    pub(crate) method: u16,
    pub(crate) mod_time: u16,
    pub(crate) mod_date: u16,
    pub(crate) crc32: u32,
    pub(crate) compressed_size: u64,
    pub(crate) uncompressed_size: u64,
    pub(crate) local_header_offset: u64,
    pub(crate) data_offset: u64,
    pub(crate) end_offset: u64,
    pub(crate) internal_attributes: u16,
    pub(crate) external_attributes: u32,
    pub(crate) extra: Vec<u8>,
    pub(crate) comment: Vec<u8>,
    /// Whether the central record keeps each size in its ZIP64 extra field.
    pub(crate) zip64_uncompressed: bool,
    pub(crate) zip64_compressed: bool,
}

impl Entry {
    /// The entry name (UTF-8, `/`-separated, checked safe).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Whether the entry is a directory (name ends with `/`).
    pub fn is_directory(&self) -> bool {
        super::is_directory(&self.name)
    }
    /// General-purpose flags.
    pub fn flags(&self) -> u16 {
        self.flags
    }
    /// Compression method (0 stored, 8 deflate).
    pub fn method(&self) -> u16 {
        self.method
    }
    /// CRC-32 of the uncompressed data.
    pub fn crc32(&self) -> u32 {
        self.crc32
    }
    /// Compressed size in bytes.
    pub fn compressed_size(&self) -> u64 {
        self.compressed_size
    }
    /// Declared uncompressed size in bytes.
    pub fn uncompressed_size(&self) -> u64 {
        self.uncompressed_size
    }
    /// Offset of the local header.
    pub fn local_header_offset(&self) -> u64 {
        self.local_header_offset
    }
    /// Offset of the (compressed) data.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }
    /// Offset just past the data and its data descriptor, if any.
    pub fn end_offset(&self) -> u64 {
        self.end_offset
    }
    /// Whether sizes and CRC follow the data in a data descriptor (streamed entry).
    pub fn has_data_descriptor(&self) -> bool {
        self.flags & FLAG_DATA_DESCRIPTOR != 0
    }
    /// Whether the central record uses ZIP64 fields for this entry.
    pub fn is_zip64(&self) -> bool {
        self.zip64_compressed || self.zip64_uncompressed || self.local_header_offset >= 0xFFFF_FFFF
    }
    /// MS-DOS modification time and date, as stored.
    pub fn dos_time_date(&self) -> (u16, u16) {
        (self.mod_time, self.mod_date)
    }
}

/// An open, fully checked archive.
///
/// Opening validates everything that can be validated without decompressing;
/// [`Archive::stream_entry`] checks the rest (actual size, CRC-32) while the
/// data flows.
#[derive(Debug)]
pub struct Archive<S: Source = File> {
    source: S,
    entries: Vec<Entry>,
    comment: Vec<u8>,
    fingerprint: Vec<u8>,
}

impl Archive<File> {
    /// Opens and checks the archive at `path`.
    pub fn open(path: &Path) -> Result<Self, JarError> {
        let file = File::open(path).map_err(JarError::io(path))?;
        Ok(Self::from_source(file)?)
    }
}

/// What the end records say.
struct EndRecord {
    entries: u64,
    cd_size: u64,
    cd_offset: u64,
    /// Where the central directory must end: the ZIP64 end record, or the end record.
    cd_end: u64,
    comment: Vec<u8>,
}

impl<S: Source> Archive<S> {
    /// Reads and checks the archive in `source`.
    pub fn from_source(source: S) -> Result<Self, ArchiveError> {
        let len = source.len()?;
        let end = read_end_record(&source, len)?;
        if end.entries > MAX_ENTRIES {
            return Err(ArchiveError::TooManyEntries {
                count: end.entries,
                limit: MAX_ENTRIES,
            });
        }
        if end.cd_size > MAX_CENTRAL_DIRECTORY_BYTES {
            return Err(ArchiveError::CentralDirectoryTooLarge {
                size: end.cd_size,
                limit: MAX_CENTRAL_DIRECTORY_BYTES,
            });
        }
        if end.cd_offset.checked_add(end.cd_size) != Some(end.cd_end) {
            return Err(ArchiveError::BadCentralDirectory {
                detail: "it does not end where the end record starts",
            });
        }
        if end.cd_size < end.entries.saturating_mul(CENTRAL_HEADER_LEN as u64) {
            return Err(ArchiveError::BadCentralDirectory {
                detail: "too small for the declared number of entries",
            });
        }
        let cd_len = usize::try_from(end.cd_size).map_err(|_| ArchiveError::Truncated {
            what: "the central directory",
        })?;
        let mut cd = vec![0u8; cd_len];
        if !read_exact_at(&source, &mut cd, end.cd_offset)? {
            return Err(ArchiveError::Truncated {
                what: "the central directory",
            });
        }
        // The fingerprint covers the central directory and end records, which
        // name every entry's CRC, sizes and position.
        let mut fp = HashAlgorithm::Sha256.hasher();
        fp.update(&cd);
        let mut tail = vec![0u8; usize::try_from(len - end.cd_end).unwrap_or(0)];
        if !read_exact_at(&source, &mut tail, end.cd_end)? {
            return Err(ArchiveError::Truncated {
                what: "the end record",
            });
        }
        fp.update(&tail);
        fp.update(&len.to_le_bytes());

        let mut entries = parse_central_directory(&cd, end.entries)?;
        drop(cd);
        check_entries(&entries)?;
        for entry in &mut entries {
            read_local_header(&source, entry, end.cd_offset)?;
        }
        check_no_overlap(&entries, end.cd_offset)?;
        Ok(Self {
            source,
            entries,
            comment: end.comment,
            fingerprint: fp.finish(),
        })
    }

    /// The entries, in central-directory order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry named exactly `name` (a linear scan).
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The archive comment.
    pub fn comment(&self) -> &[u8] {
        &self.comment
    }

    /// A digest of the central directory, end records and file length: it
    /// changes when any entry's content (CRC), size, position or name changes.
    pub fn fingerprint(&self) -> &[u8] {
        &self.fingerprint
    }

    /// Decompresses `entry` into `sink`, checking the actual size against the
    /// declared one as the bytes flow (never more than declared is produced)
    /// and the CRC-32 at the end. Returns the number of bytes written.
    pub fn stream_entry<W: Write + ?Sized>(
        &self,
        entry: &Entry,
        sink: &mut W,
    ) -> Result<u64, ArchiveError> {
        let end = entry.data_offset.saturating_add(entry.compressed_size);
        let raw = RangeReader::new(&self.source, entry.data_offset, end);
        let mut reader: Box<dyn Read + '_> = match entry.method {
            METHOD_STORED => Box::new(raw),
            METHOD_DEFLATED => Box::new(DeflateDecoder::new(raw)),
            method => {
                return Err(ArchiveError::UnsupportedCompression {
                    name: entry.name.clone(),
                    method,
                });
            }
        };
        // Small entries (most of a JAR) get a small buffer.
        let size = entry
            .uncompressed_size
            .clamp(MIN_STREAM_BUFFER, STREAM_BUFFER as u64);
        let mut buf = vec![0u8; usize::try_from(size).unwrap_or(STREAM_BUFFER)];
        let mut total: u64 = 0;
        let mut crc = crc32fast::Hasher::new();
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ArchiveError::CorruptData {
                        name: entry.name.clone(),
                        source,
                    });
                }
            };
            total = total.saturating_add(n as u64);
            if total > entry.uncompressed_size {
                return Err(ArchiveError::SizeMismatch {
                    name: entry.name.clone(),
                    declared: entry.uncompressed_size,
                    actual: total,
                });
            }
            let chunk = buf.get(..n).unwrap_or_default();
            crc.update(chunk);
            sink.write_all(chunk)?;
        }
        if total != entry.uncompressed_size {
            return Err(ArchiveError::SizeMismatch {
                name: entry.name.clone(),
                declared: entry.uncompressed_size,
                actual: total,
            });
        }
        if crc.finalize() != entry.crc32 {
            return Err(ArchiveError::CrcMismatch {
                name: entry.name.clone(),
            });
        }
        Ok(total)
    }

    /// The digest of `entry`'s uncompressed content.
    pub fn entry_digest(
        &self,
        entry: &Entry,
        algorithm: HashAlgorithm,
    ) -> Result<Vec<u8>, ArchiveError> {
        let mut h: Hasher = algorithm.hasher();
        self.stream_entry(entry, &mut h)?;
        Ok(h.finish())
    }

    /// Reads `entry` into memory, refusing a declared size above `limit`.
    pub fn read_entry(&self, entry: &Entry, limit: u64) -> Result<Vec<u8>, ArchiveError> {
        if entry.uncompressed_size > limit {
            return Err(ArchiveError::EntryTooLargeToRead {
                name: entry.name.clone(),
                size: entry.uncompressed_size,
                limit,
            });
        }
        let mut out = Vec::with_capacity(usize::try_from(entry.uncompressed_size).unwrap_or(0));
        self.stream_entry(entry, &mut out)?;
        Ok(out)
    }

    /// Copies the entry's local header, compressed data and data descriptor
    /// byte for byte.
    pub(crate) fn copy_raw<W: Write + ?Sized>(
        &self,
        entry: &Entry,
        out: &mut W,
    ) -> std::io::Result<u64> {
        let mut raw = RangeReader::new(&self.source, entry.local_header_offset, entry.end_offset);
        std::io::copy(&mut raw, out)
    }
}

fn bad_cd(detail: &'static str) -> ArchiveError {
    ArchiveError::BadCentralDirectory { detail }
}

fn read_end_record<S: Source>(source: &S, len: u64) -> Result<EndRecord, ArchiveError> {
    let tail_len = len.min((EOCD_LEN + MAX_COMMENT_LEN) as u64);
    let tail_start = len - tail_len;
    let mut tail = vec![0u8; usize::try_from(tail_len).unwrap_or(0)];
    if !read_exact_at(source, &mut tail, tail_start)? {
        return Err(ArchiveError::NotAnArchive);
    }
    let Some(last_start) = tail.len().checked_sub(EOCD_LEN) else {
        return Err(ArchiveError::NotAnArchive);
    };
    // The last end record whose comment runs exactly to the end of the file.
    let found = (0..=last_start).rev().find(|&i| {
        let mut c = Cursor::new(tail.get(i..).unwrap_or_default());
        c.u32() == Some(EOCD_SIG)
            && c.bytes(16).is_some()
            && c.u16().map(usize::from) == Some(last_start - i)
    });
    let Some(i) = found else {
        return Err(ArchiveError::NotAnArchive);
    };
    let eocd_pos = tail_start + i as u64;
    let mut c = Cursor::new(tail.get(i + 4..).unwrap_or_default());
    let (disk, cd_disk, disk_entries, entries, cd_size, cd_offset, comment_len) = (
        c.u16(),
        c.u16(),
        c.u16(),
        c.u16(),
        c.u32(),
        c.u32(),
        c.u16(),
    );
    let (
        Some(disk),
        Some(cd_disk),
        Some(disk_entries),
        Some(entries),
        Some(cd_size),
        Some(cd_offset),
        Some(comment_len),
    ) = (
        disk,
        cd_disk,
        disk_entries,
        entries,
        cd_size,
        cd_offset,
        comment_len,
    )
    else {
        return Err(ArchiveError::NotAnArchive);
    };
    let comment = c
        .bytes(usize::from(comment_len))
        .ok_or(ArchiveError::NotAnArchive)?
        .to_vec();

    if let Some(z) = read_zip64_end(source, eocd_pos)? {
        return Ok(EndRecord { comment, ..z });
    }
    if disk != 0 || cd_disk != 0 || disk_entries != entries {
        return Err(ArchiveError::MultiDisk);
    }
    Ok(EndRecord {
        entries: u64::from(entries),
        cd_size: u64::from(cd_size),
        cd_offset: u64::from(cd_offset),
        cd_end: eocd_pos,
        comment,
    })
}

/// The ZIP64 end record, when a locator precedes the end record.
fn read_zip64_end<S: Source>(source: &S, eocd_pos: u64) -> Result<Option<EndRecord>, ArchiveError> {
    let Some(locator_pos) = eocd_pos.checked_sub(ZIP64_LOCATOR_LEN as u64) else {
        return Ok(None);
    };
    let mut locator = [0u8; ZIP64_LOCATOR_LEN];
    if !read_exact_at(source, &mut locator, locator_pos)? {
        return Ok(None);
    }
    let mut c = Cursor::new(&locator);
    if c.u32() != Some(ZIP64_LOCATOR_SIG) {
        return Ok(None);
    }
    let (Some(disk), Some(z64_pos), Some(disks)) = (c.u32(), c.u64(), c.u32()) else {
        return Err(ArchiveError::Truncated {
            what: "the ZIP64 end locator",
        });
    };
    if disk != 0 || disks > 1 {
        return Err(ArchiveError::MultiDisk);
    }
    if z64_pos.saturating_add(ZIP64_EOCD_LEN as u64) > locator_pos {
        return Err(bad_cd("the ZIP64 end record overlaps its locator"));
    }
    let mut rec = [0u8; ZIP64_EOCD_LEN];
    if !read_exact_at(source, &mut rec, z64_pos)? {
        return Err(ArchiveError::Truncated {
            what: "the ZIP64 end record",
        });
    }
    let mut c = Cursor::new(&rec);
    if c.u32() != Some(ZIP64_EOCD_SIG) {
        return Err(bad_cd(
            "the ZIP64 locator does not point to a ZIP64 end record",
        ));
    }
    let _record_size = c.u64();
    let _versions = c.u32();
    let fields = (c.u32(), c.u32(), c.u64(), c.u64(), c.u64(), c.u64());
    let (
        Some(disk),
        Some(cd_disk),
        Some(disk_entries),
        Some(entries),
        Some(cd_size),
        Some(cd_offset),
    ) = fields
    else {
        return Err(ArchiveError::Truncated {
            what: "the ZIP64 end record",
        });
    };
    if disk != 0 || cd_disk != 0 || disk_entries != entries {
        return Err(ArchiveError::MultiDisk);
    }
    Ok(Some(EndRecord {
        entries,
        cd_size,
        cd_offset,
        cd_end: z64_pos,
        comment: Vec::new(),
    }))
}

fn parse_central_directory(cd: &[u8], count: u64) -> Result<Vec<Entry>, ArchiveError> {
    let mut c = Cursor::new(cd);
    // `count` is bounded by MAX_ENTRIES and by the central directory's size.
    let mut entries = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for index in 0..usize::try_from(count).unwrap_or(0) {
        entries.push(parse_central_header(&mut c, index)?);
    }
    if c.remaining() != 0 {
        return Err(bad_cd("bytes left after the declared number of entries"));
    }
    Ok(entries)
}

fn parse_central_header(c: &mut Cursor<'_>, index: usize) -> Result<Entry, ArchiveError> {
    let truncated = || ArchiveError::Truncated {
        what: "a central directory record",
    };
    if c.u32() != Some(CENTRAL_HEADER_SIG) {
        return Err(bad_cd("a central directory record has a wrong signature"));
    }
    let mut f16 = || c.u16().ok_or_else(truncated);
    let version_made_by = f16()?;
    let version_needed = f16()?;
    let flags = f16()?;
    let method = f16()?;
    let mod_time = f16()?;
    let mod_date = f16()?;
    let crc32 = c.u32().ok_or_else(truncated)?;
    let csize32 = c.u32().ok_or_else(truncated)?;
    let usize32 = c.u32().ok_or_else(truncated)?;
    let mut f16 = || c.u16().ok_or_else(truncated);
    let name_len = f16()?;
    let extra_len = f16()?;
    let comment_len = f16()?;
    let disk = f16()?;
    let internal_attributes = f16()?;
    let external_attributes = c.u32().ok_or_else(truncated)?;
    let offset32 = c.u32().ok_or_else(truncated)?;
    let name_raw = c.bytes(usize::from(name_len)).ok_or_else(truncated)?;
    let extra = c
        .bytes(usize::from(extra_len))
        .ok_or_else(truncated)?
        .to_vec();
    let comment = c
        .bytes(usize::from(comment_len))
        .ok_or_else(truncated)?
        .to_vec();
    let name = std::str::from_utf8(name_raw)
        .map_err(|_| ArchiveError::NameNotUtf8 { index })?
        .to_owned();

    let bad_extra = |detail| ArchiveError::BadExtraField {
        name: name.clone(),
        detail,
    };
    let mut zip64: Option<&[u8]> = None;
    for block in extra_blocks(&extra) {
        let (tag, data) = block.map_err(|()| bad_extra("a block runs past the extra field"))?;
        if tag == ZIP64_EXTRA_TAG && zip64.is_none() {
            zip64 = Some(data);
        }
    }
    let zip64_uncompressed = usize32 == U32_SENTINEL;
    let zip64_compressed = csize32 == U32_SENTINEL;
    let (mut uncompressed_size, mut compressed_size, mut offset, mut disk_start) = (
        u64::from(usize32),
        u64::from(csize32),
        u64::from(offset32),
        u32::from(disk),
    );
    if zip64_uncompressed || zip64_compressed || offset32 == U32_SENTINEL || disk == U16_SENTINEL {
        let data =
            zip64.ok_or_else(|| bad_extra("ZIP64 sizes announced but no ZIP64 extra field"))?;
        let mut z = Cursor::new(data);
        let missing = || bad_extra("the ZIP64 extra field is too short");
        if zip64_uncompressed {
            uncompressed_size = z.u64().ok_or_else(missing)?;
        }
        if zip64_compressed {
            compressed_size = z.u64().ok_or_else(missing)?;
        }
        if offset32 == U32_SENTINEL {
            offset = z.u64().ok_or_else(missing)?;
        }
        if disk == U16_SENTINEL {
            disk_start = z.u32().ok_or_else(missing)?;
        }
    }
    if disk_start != 0 {
        return Err(ArchiveError::MultiDisk);
    }
    Ok(Entry {
        name,
        version_made_by,
        version_needed,
        flags,
        method,
        mod_time,
        mod_date,
        crc32,
        compressed_size,
        uncompressed_size,
        local_header_offset: offset,
        data_offset: 0,
        end_offset: 0,
        internal_attributes,
        external_attributes,
        extra,
        comment,
        zip64_uncompressed,
        zip64_compressed,
    })
}

/// Names, duplicates, encryption, methods and the zip-bomb bounds.
fn check_entries(entries: &[Entry]) -> Result<(), ArchiveError> {
    let mut seen = HashSet::with_capacity(entries.len());
    let mut total: u64 = 0;
    for e in entries {
        check_entry_name(&e.name)?;
        if !seen.insert(e.name.as_str()) {
            return Err(ArchiveError::DuplicateName {
                name: e.name.clone(),
            });
        }
        if e.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) != 0 || e.method == METHOD_AES {
            return Err(ArchiveError::Encrypted {
                name: e.name.clone(),
            });
        }
        if e.method != METHOD_STORED && e.method != METHOD_DEFLATED {
            return Err(ArchiveError::UnsupportedCompression {
                name: e.name.clone(),
                method: e.method,
            });
        }
        if e.uncompressed_size > MAX_ENTRY_UNCOMPRESSED_BYTES {
            return Err(ArchiveError::EntryTooLarge {
                name: e.name.clone(),
                declared: e.uncompressed_size,
                limit: MAX_ENTRY_UNCOMPRESSED_BYTES,
            });
        }
        if e.method == METHOD_STORED && e.compressed_size != e.uncompressed_size {
            return Err(ArchiveError::SizeMismatch {
                name: e.name.clone(),
                declared: e.uncompressed_size,
                actual: e.compressed_size,
            });
        }
        if e.uncompressed_size > RATIO_CHECK_MIN_BYTES {
            let ratio = e.uncompressed_size / e.compressed_size.max(1);
            if ratio > MAX_COMPRESSION_RATIO {
                return Err(ArchiveError::CompressionRatio {
                    name: e.name.clone(),
                    ratio,
                    limit: MAX_COMPRESSION_RATIO,
                });
            }
        }
        total = total.saturating_add(e.uncompressed_size);
        if total > MAX_TOTAL_UNCOMPRESSED_BYTES {
            return Err(ArchiveError::ArchiveTooLarge {
                declared: total,
                limit: MAX_TOTAL_UNCOMPRESSED_BYTES,
            });
        }
    }
    Ok(())
}

/// Checks the local header against the central record and finds where the
/// entry's data and data descriptor end.
fn read_local_header<S: Source>(
    source: &S,
    e: &mut Entry,
    cd_offset: u64,
) -> Result<(), ArchiveError> {
    let mismatch = |field| ArchiveError::LocalHeaderMismatch {
        name: e.name.clone(),
        field,
    };
    let truncated = ArchiveError::Truncated {
        what: "a local header",
    };
    if e.local_header_offset
        .saturating_add(LOCAL_HEADER_LEN as u64)
        > cd_offset
    {
        return Err(ArchiveError::Overlap {
            name: e.name.clone(),
            other: "the central directory".into(),
        });
    }
    let mut fixed = [0u8; LOCAL_HEADER_LEN];
    if !read_exact_at(source, &mut fixed, e.local_header_offset)? {
        return Err(truncated);
    }
    let mut c = Cursor::new(&fixed);
    let header = (
        c.u32(),
        c.u16(),
        c.u16(),
        c.u16(),
        c.u32(),
        c.u32(),
        c.u32(),
        c.u32(),
        c.u16(),
        c.u16(),
    );
    let (
        Some(sig),
        Some(_needed),
        Some(flags),
        Some(method),
        Some(_time_date),
        Some(crc),
        Some(csize32),
        Some(usize32),
        Some(name_len),
        Some(extra_len),
    ) = header
    else {
        return Err(truncated);
    };
    if sig != LOCAL_HEADER_SIG {
        return Err(mismatch("signature"));
    }
    if flags & (FLAG_ENCRYPTED | FLAG_DATA_DESCRIPTOR)
        != e.flags & (FLAG_ENCRYPTED | FLAG_DATA_DESCRIPTOR)
    {
        return Err(mismatch("flags"));
    }
    if method != e.method {
        return Err(mismatch("compression method"));
    }
    let mut var = vec![0u8; usize::from(name_len) + usize::from(extra_len)];
    let var_offset = e.local_header_offset + LOCAL_HEADER_LEN as u64;
    if !read_exact_at(source, &mut var, var_offset)? {
        return Err(truncated);
    }
    let (name, extra) = var.split_at(usize::from(name_len));
    if name != e.name.as_bytes() {
        return Err(mismatch("name"));
    }
    let mut zip64: Option<&[u8]> = None;
    for (tag, data) in extra_blocks(extra).flatten() {
        if tag == ZIP64_EXTRA_TAG && zip64.is_none() {
            zip64 = Some(data);
        }
    }
    if flags & FLAG_DATA_DESCRIPTOR == 0 {
        let (mut usize_local, mut csize_local) = (u64::from(usize32), u64::from(csize32));
        if let Some(data) = zip64 {
            let mut z = Cursor::new(data);
            if data.len() >= 16 {
                usize_local = z.u64().unwrap_or(usize_local);
                csize_local = z.u64().unwrap_or(csize_local);
            } else {
                if usize32 == U32_SENTINEL {
                    usize_local = z.u64().unwrap_or(usize_local);
                }
                if csize32 == U32_SENTINEL {
                    csize_local = z.u64().unwrap_or(csize_local);
                }
            }
        }
        if crc != e.crc32 {
            return Err(mismatch("CRC-32"));
        }
        if usize_local != e.uncompressed_size || csize_local != e.compressed_size {
            return Err(mismatch("sizes"));
        }
    }
    e.data_offset = var_offset + var.len() as u64;
    let data_end = e
        .data_offset
        .checked_add(e.compressed_size)
        .filter(|end| *end <= cd_offset)
        .ok_or_else(|| ArchiveError::Overlap {
            name: e.name.clone(),
            other: "the central directory".into(),
        })?;
    e.end_offset = data_end;
    if flags & FLAG_DATA_DESCRIPTOR != 0 {
        let wide = zip64.is_some()
            || e.compressed_size >= u64::from(U32_SENTINEL)
            || e.uncompressed_size >= u64::from(U32_SENTINEL);
        e.end_offset = data_end + read_data_descriptor(source, e, data_end, cd_offset, wide)?;
    }
    Ok(())
}

/// Checks the data descriptor after the data; returns its length.
fn read_data_descriptor<S: Source>(
    source: &S,
    e: &Entry,
    at: u64,
    cd_offset: u64,
    wide: bool,
) -> Result<u64, ArchiveError> {
    let mut buf = [0u8; 24];
    let available = usize::try_from(cd_offset - at)
        .unwrap_or(usize::MAX)
        .min(buf.len());
    let window = buf.get_mut(..available).unwrap_or_default();
    if !read_exact_at(source, window, at)? {
        return Err(ArchiveError::Truncated {
            what: "a data descriptor",
        });
    }
    let mut c = Cursor::new(window);
    let mut crc = c.u32();
    if crc == Some(DATA_DESCRIPTOR_SIG) {
        crc = c.u32();
    }
    let sizes = if wide {
        (c.u64(), c.u64())
    } else {
        (c.u32().map(u64::from), c.u32().map(u64::from))
    };
    match (crc, sizes) {
        (Some(crc), (Some(csize), Some(usize)))
            if crc == e.crc32 && csize == e.compressed_size && usize == e.uncompressed_size =>
        {
            Ok(c.position() as u64)
        }
        _ => Err(ArchiveError::DataDescriptorMismatch {
            name: e.name.clone(),
        }),
    }
}

/// No two entries (local header through data descriptor) share a byte.
fn check_no_overlap(entries: &[Entry], cd_offset: u64) -> Result<(), ArchiveError> {
    let mut spans: Vec<(u64, u64, &str)> = entries
        .iter()
        .map(|e| (e.local_header_offset, e.end_offset, e.name.as_str()))
        .collect();
    spans.sort_unstable();
    for pair in spans.windows(2) {
        if let [(_, prev_end, prev), (start, _, name)] = pair
            && start < prev_end
        {
            return Err(ArchiveError::Overlap {
                name: (*name).to_owned(),
                other: format!("entry {prev:?}"),
            });
        }
    }
    if let Some((_, end, name)) = spans.last()
        && *end > cd_offset
    {
        return Err(ArchiveError::Overlap {
            name: (*name).to_owned(),
            other: "the central directory".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_inputs_that_look_like_an_end_record_are_refused() {
        for len in 0..EOCD_LEN {
            let mut data = EOCD_SIG.to_le_bytes().to_vec();
            data.resize(len.max(4), 0);
            data.truncate(len);
            assert!(matches!(
                Archive::from_source(data),
                Err(ArchiveError::NotAnArchive)
            ));
        }
    }

    #[test]
    fn an_empty_archive_opens() {
        let mut data = EOCD_SIG.to_le_bytes().to_vec();
        data.resize(EOCD_LEN, 0);
        let a = Archive::from_source(data).unwrap();
        assert!(a.entries().is_empty());
    }
}

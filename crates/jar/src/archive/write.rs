//! Writing the signed archive: new entries deflated, existing entries copied
//! byte for byte, central directory rebuilt with the new offsets.

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::Compression;
use flate2::write::DeflateEncoder;

use super::bytes::extra_blocks;
use super::read::{
    CENTRAL_HEADER_SIG, EOCD_SIG, LOCAL_HEADER_SIG, METHOD_DEFLATED, U16_SENTINEL, U32_SENTINEL,
    ZIP64_EOCD_SIG, ZIP64_EXTRA_TAG, ZIP64_LOCATOR_SIG,
};
use super::{Archive, Entry, Source};

/// "Version made by" for new entries: MS-DOS host (0), so that no Unix
/// permission bits are present (jarsigner warns about POSIX attributes),
/// specification 2.0.
const MADE_BY_DOS_20: u16 = 20;
const VERSION_NEEDED_DEFLATE: u16 = 20;
const VERSION_NEEDED_ZIP64: u16 = 45;

/// Counts bytes written, so that every entry's offset is known.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A ZIP writer that keeps the central directory in memory (it is small) and
/// streams everything else.
pub(crate) struct ZipWriter<W: Write> {
    out: Counting<W>,
    central: Vec<u8>,
    count: u64,
    dos_time: (u16, u16),
}

impl<W: Write> ZipWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        Self {
            out: Counting {
                inner: out,
                written: 0,
            },
            central: Vec::new(),
            count: 0,
            dos_time: dos_time_now(),
        }
    }

    /// Adds a new deflated entry without Unix attributes.
    pub(crate) fn add_deflated(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data)?;
        let compressed = enc.finish()?;
        let crc = crc32fast::hash(data);
        let (csize, usize) = (fits_u32(compressed.len())?, fits_u32(data.len())?);
        let name_len = u16::try_from(name.len()).map_err(|_| too_big())?;
        let offset = self.out.written;
        let (time, date) = self.dos_time;

        let mut h = Vec::with_capacity(30 + name.len());
        put32(&mut h, LOCAL_HEADER_SIG);
        put16(&mut h, VERSION_NEEDED_DEFLATE);
        put16(&mut h, 0);
        put16(&mut h, METHOD_DEFLATED);
        put16(&mut h, time);
        put16(&mut h, date);
        put32(&mut h, crc);
        put32(&mut h, csize);
        put32(&mut h, usize);
        put16(&mut h, name_len);
        put16(&mut h, 0);
        h.extend_from_slice(name.as_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&compressed)?;

        let mut extra = Vec::new();
        let offset32 = if offset >= u64::from(U32_SENTINEL) {
            put16(&mut extra, ZIP64_EXTRA_TAG);
            put16(&mut extra, 8);
            put64(&mut extra, offset);
            U32_SENTINEL
        } else {
            u32::try_from(offset).map_err(|_| too_big())?
        };
        let c = &mut self.central;
        put32(c, CENTRAL_HEADER_SIG);
        put16(c, MADE_BY_DOS_20);
        put16(
            c,
            if extra.is_empty() {
                VERSION_NEEDED_DEFLATE
            } else {
                VERSION_NEEDED_ZIP64
            },
        );
        put16(c, 0);
        put16(c, METHOD_DEFLATED);
        put16(c, time);
        put16(c, date);
        put32(c, crc);
        put32(c, csize);
        put32(c, usize);
        put16(c, name_len);
        put16(c, u16::try_from(extra.len()).map_err(|_| too_big())?);
        put16(c, 0); // comment
        put16(c, 0); // disk
        put16(c, 0); // internal attributes
        put32(c, 0); // external attributes: none
        put32(c, offset32);
        c.extend_from_slice(name.as_bytes());
        c.extend_from_slice(&extra);
        self.count += 1;
        Ok(())
    }

    /// Copies `entry` from `archive` without recompressing, keeping its local
    /// header, data descriptor, timestamps, attributes, extra fields and comment.
    pub(crate) fn copy_entry<S: Source>(
        &mut self,
        archive: &Archive<S>,
        entry: &Entry,
    ) -> io::Result<()> {
        let offset = self.out.written;
        let copied = archive.copy_raw(entry, &mut self.out)?;
        if copied != entry.end_offset - entry.local_header_offset {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "entry shorter than expected",
            ));
        }
        let offset_in_zip64 = offset >= u64::from(U32_SENTINEL);
        let extra = central_extra(entry, offset, offset_in_zip64)?;
        let zip64 = entry.zip64_uncompressed || entry.zip64_compressed || offset_in_zip64;
        let version_needed = if zip64 {
            entry.version_needed.max(VERSION_NEEDED_ZIP64)
        } else {
            entry.version_needed
        };
        let c = &mut self.central;
        put32(c, CENTRAL_HEADER_SIG);
        put16(c, entry.version_made_by);
        put16(c, version_needed);
        put16(c, entry.flags);
        put16(c, entry.method);
        put16(c, entry.mod_time);
        put16(c, entry.mod_date);
        put32(c, entry.crc32);
        put32(
            c,
            if entry.zip64_compressed {
                U32_SENTINEL
            } else {
                fits_u32_u64(entry.compressed_size)?
            },
        );
        put32(
            c,
            if entry.zip64_uncompressed {
                U32_SENTINEL
            } else {
                fits_u32_u64(entry.uncompressed_size)?
            },
        );
        put16(c, u16::try_from(entry.name.len()).map_err(|_| too_big())?);
        put16(c, u16::try_from(extra.len()).map_err(|_| too_big())?);
        put16(
            c,
            u16::try_from(entry.comment.len()).map_err(|_| too_big())?,
        );
        put16(c, 0);
        put16(c, entry.internal_attributes);
        put32(c, entry.external_attributes);
        put32(
            c,
            if offset_in_zip64 {
                U32_SENTINEL
            } else {
                fits_u32_u64(offset)?
            },
        );
        c.extend_from_slice(entry.name.as_bytes());
        c.extend_from_slice(&extra);
        c.extend_from_slice(&entry.comment);
        self.count += 1;
        Ok(())
    }

    /// Writes the central directory and end records (ZIP64 ones when needed);
    /// returns the inner writer.
    pub(crate) fn finish(mut self, comment: &[u8]) -> io::Result<W> {
        let cd_offset = self.out.written;
        self.out.write_all(&self.central)?;
        let cd_size = self.central.len() as u64;
        let needs_zip64 = self.count >= u64::from(U16_SENTINEL)
            || cd_size >= u64::from(U32_SENTINEL)
            || cd_offset >= u64::from(U32_SENTINEL);
        let mut end = Vec::with_capacity(98 + comment.len());
        if needs_zip64 {
            let z64_offset = cd_offset + cd_size;
            put32(&mut end, ZIP64_EOCD_SIG);
            put64(&mut end, 44); // size of the rest of this record
            put16(&mut end, VERSION_NEEDED_ZIP64);
            put16(&mut end, VERSION_NEEDED_ZIP64);
            put32(&mut end, 0);
            put32(&mut end, 0);
            put64(&mut end, self.count);
            put64(&mut end, self.count);
            put64(&mut end, cd_size);
            put64(&mut end, cd_offset);
            put32(&mut end, ZIP64_LOCATOR_SIG);
            put32(&mut end, 0);
            put64(&mut end, z64_offset);
            put32(&mut end, 1);
        }
        let count16 = u16::try_from(self.count)
            .ok()
            .filter(|n| *n < U16_SENTINEL)
            .unwrap_or(U16_SENTINEL);
        let size32 = u32::try_from(cd_size)
            .ok()
            .filter(|n| *n < U32_SENTINEL)
            .unwrap_or(U32_SENTINEL);
        let offset32 = u32::try_from(cd_offset)
            .ok()
            .filter(|n| *n < U32_SENTINEL)
            .unwrap_or(U32_SENTINEL);
        put32(&mut end, EOCD_SIG);
        put16(&mut end, 0);
        put16(&mut end, 0);
        put16(&mut end, count16);
        put16(&mut end, count16);
        put32(&mut end, size32);
        put32(&mut end, offset32);
        put16(
            &mut end,
            u16::try_from(comment.len()).map_err(|_| too_big())?,
        );
        end.extend_from_slice(comment);
        self.out.write_all(&end)?;
        self.out.flush()?;
        Ok(self.out.inner)
    }
}

/// The central extra field for a copied entry: unchanged, except that the
/// ZIP64 block is rebuilt for the entry's new offset.
fn central_extra(entry: &Entry, offset: u64, offset_in_zip64: bool) -> io::Result<Vec<u8>> {
    let has_zip64_block = extra_blocks(&entry.extra)
        .flatten()
        .any(|(tag, _)| tag == ZIP64_EXTRA_TAG);
    let mut zip64 = Vec::new();
    if entry.zip64_uncompressed {
        put64(&mut zip64, entry.uncompressed_size);
    }
    if entry.zip64_compressed {
        put64(&mut zip64, entry.compressed_size);
    }
    if offset_in_zip64 {
        put64(&mut zip64, offset);
    }
    if !has_zip64_block && zip64.is_empty() {
        return Ok(entry.extra.clone());
    }
    let mut out = Vec::with_capacity(entry.extra.len() + zip64.len() + 4);
    let mut placed = false;
    let mut put_zip64 = |out: &mut Vec<u8>| -> io::Result<()> {
        if !placed && !zip64.is_empty() {
            put16(out, ZIP64_EXTRA_TAG);
            put16(out, u16::try_from(zip64.len()).map_err(|_| too_big())?);
            out.extend_from_slice(&zip64);
        }
        placed = true;
        Ok(())
    };
    for (tag, data) in extra_blocks(&entry.extra).flatten() {
        if tag == ZIP64_EXTRA_TAG {
            put_zip64(&mut out)?;
        } else {
            put16(&mut out, tag);
            put16(&mut out, u16::try_from(data.len()).map_err(|_| too_big())?);
            out.extend_from_slice(data);
        }
    }
    put_zip64(&mut out)?;
    Ok(out)
}

fn put16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn too_big() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "a ZIP field overflows its width",
    )
}

fn fits_u32(n: usize) -> io::Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|n| *n < U32_SENTINEL)
        .ok_or_else(too_big)
}

fn fits_u32_u64(n: u64) -> io::Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|n| *n < U32_SENTINEL)
        .ok_or_else(too_big)
}

/// The current time as MS-DOS time and date (UTC; two-second resolution).
fn dos_time_now() -> (u16, u16) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    dos_time(secs)
}

/// Seconds since 1970 (UTC) to MS-DOS `(time, date)`, clamped to 1980..=2107.
pub(crate) fn dos_time(unix_secs: u64) -> (u16, u16) {
    let days = i64::try_from(unix_secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = unix_secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if year < 1980 {
        return (0, (1 << 5) | 1);
    }
    let year = year.min(2107);
    let date = ((year - 1980) << 9) | (month << 5) | day;
    let time = ((rem / 3600) << 11) | (((rem % 3600) / 60) << 5) | ((rem % 60) / 2);
    (
        u16::try_from(time).unwrap_or(0),
        u16::try_from(date).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::dos_time;

    #[test]
    fn dos_time_matches_known_dates() {
        // 2026-11-28 15:22:36 UTC
        let (t, d) = dos_time(1_795_879_356);
        assert_eq!(d >> 9, 2026 - 1980);
        assert_eq!((d >> 5) & 0xF, 11);
        assert_eq!(d & 0x1F, 28);
        assert_eq!((t >> 11, (t >> 5) & 0x3F, (t & 0x1F) * 2), (15, 22, 36));
        assert_eq!(dos_time(0), (0, (1 << 5) | 1));
    }
}

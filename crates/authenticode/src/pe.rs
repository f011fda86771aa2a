//! Bounded PE/COFF header parsing: just what Authenticode needs.
//!
//! Follows Microsoft's "PE Format" specification: MS-DOS header → `e_lfanew`
//! → `PE\0\0` → COFF file header → optional header (PE32 magic `0x10b` or
//! PE32+ magic `0x20b`) → data directories → section table. Only the headers
//! are read (at most `24 + 65 535 + 96 × 40` bytes after `e_lfanew`), never the
//! whole file, and every offset is checked against the file length with 64-bit
//! arithmetic before it is used.

use std::io::{Read, Seek, SeekFrom};

use crate::error::{AuthenticodeError, PeError, Result};

/// Length of the MS-DOS header (`IMAGE_DOS_HEADER`).
const DOS_HEADER_LEN: u64 = 64;
/// Offset of `e_lfanew` (file offset of the PE signature) in the MS-DOS header.
const E_LFANEW_OFFSET: usize = 0x3c;
/// `PE\0\0` plus the 20-byte COFF file header.
const NT_HEADER_PREFIX_LEN: u64 = 4 + 20;
/// Offset of the optional header from `e_lfanew`.
const OPTIONAL_HEADER_FROM_PE: u64 = NT_HEADER_PREFIX_LEN;
/// "The number of sections [...] the Windows loader limits the number of sections to 96." (PE Format, COFF File Header)
pub const MAX_SECTIONS: u16 = 96;
/// Length of one section table entry (`IMAGE_SECTION_HEADER`).
const SECTION_HEADER_LEN: u64 = 40;
/// Optional header magic of a PE32 image.
const PE32_MAGIC: u16 = 0x10b;
/// Optional header magic of a PE32+ image.
const PE32_PLUS_MAGIC: u16 = 0x20b;
/// Offset of `CheckSum` in the optional header (same for PE32 and PE32+).
const CHECKSUM_IN_OPTIONAL: u64 = 64;
/// Length of the `CheckSum` field.
pub(crate) const CHECKSUM_LEN: u64 = 4;
/// Index of the Certificate Table in the data directories.
const CERTIFICATE_TABLE_INDEX: u64 = 4;
/// Length of one data directory entry (`VirtualAddress`, `Size`).
pub(crate) const DATA_DIRECTORY_LEN: u64 = 8;
/// Authenticode offsets are 32-bit: no image (with its signature) can be larger.
pub const MAX_IMAGE_LEN: u64 = u32::MAX as u64;
/// The attribute certificate table is quadword aligned (PE Format, "The Attribute Certificate Table").
pub(crate) const CERT_TABLE_ALIGN: u64 = 8;

/// PE32 or PE32+.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeKind {
    /// 32-bit image (optional header magic `0x10b`).
    Pe32,
    /// 64-bit image (optional header magic `0x20b`).
    Pe32Plus,
}

impl PeKind {
    /// Offset of the data directories in the optional header.
    fn data_directories_offset(self) -> u64 {
        match self {
            PeKind::Pe32 => 96,
            PeKind::Pe32Plus => 112,
        }
    }
}

/// One section's raw data in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The 8-byte name, lossily decoded and without trailing NULs.
    pub name: String,
    /// `PointerToRawData`.
    pub raw_offset: u64,
    /// `SizeOfRawData`.
    pub raw_size: u64,
}

/// The existing attribute certificate table (a *file offset*, not an RVA).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertificateTable {
    /// File offset of the table.
    pub offset: u64,
    /// Size of the table in bytes.
    pub size: u64,
}

/// Where the fields that Authenticode cares about are in a PE file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeLayout {
    /// PE32 or PE32+.
    pub kind: PeKind,
    /// Length of the whole file.
    pub file_len: u64,
    /// File offset of the optional header's `CheckSum` field (excluded from the digest).
    pub checksum_offset: u64,
    /// The `CheckSum` value stored in the file.
    pub stored_checksum: u32,
    /// File offset of the Certificate Table data directory entry (excluded from the digest).
    pub cert_dir_offset: u64,
    /// End of the headers and section table.
    pub headers_end: u64,
    /// The existing attribute certificate table, when the file is signed.
    pub cert_table: Option<CertificateTable>,
    /// The sections with raw data, in section-table order.
    pub sections: Vec<Section>,
}

impl PeLayout {
    /// Parses the headers of a PE image read from `reader` (its whole length is the file).
    ///
    /// Reads only the headers; the reader's position afterwards is unspecified.
    pub fn parse<R: Read + Seek>(reader: &mut R) -> Result<Self> {
        let file_len = reader
            .seek(SeekFrom::End(0))
            .map_err(AuthenticodeError::io("find the length of the PE file"))?;
        if file_len > MAX_IMAGE_LEN {
            return Err(PeError::FileTooLarge {
                len: file_len,
                max: MAX_IMAGE_LEN,
            }
            .into());
        }

        let dos = read_region(reader, 0, DOS_HEADER_LEN, file_len, "MS-DOS header")?;
        if dos.get(..2) != Some(b"MZ".as_slice()) {
            return Err(PeError::BadDosSignature.into());
        }
        let e_lfanew = le_u32(&dos, E_LFANEW_OFFSET);
        let pe_offset = u64::from(e_lfanew);
        if pe_offset >= file_len {
            return Err(PeError::PeHeaderOutOfFile { e_lfanew, file_len }.into());
        }

        let nt = read_region(
            reader,
            pe_offset,
            NT_HEADER_PREFIX_LEN,
            file_len,
            "PE signature and COFF file header",
        )?;
        if nt.get(..4) != Some(b"PE\0\0".as_slice()) {
            return Err(PeError::BadPeSignature { offset: pe_offset }.into());
        }
        let section_count = le_u16(&nt, 4 + 2);
        let optional_len = le_u16(&nt, 4 + 16);
        if section_count > MAX_SECTIONS {
            return Err(PeError::TooManySections {
                count: section_count,
                max: MAX_SECTIONS,
            }
            .into());
        }

        let optional_offset = pe_offset + OPTIONAL_HEADER_FROM_PE;
        let magic_bytes = read_region(reader, optional_offset, 2, file_len, "optional header")?;
        let kind = match le_u16(&magic_bytes, 0) {
            PE32_MAGIC => PeKind::Pe32,
            PE32_PLUS_MAGIC => PeKind::Pe32Plus,
            magic => return Err(PeError::BadOptionalHeaderMagic { magic }.into()),
        };
        let dirs_offset = kind.data_directories_offset();
        let cert_dir_in_optional = dirs_offset + CERTIFICATE_TABLE_INDEX * DATA_DIRECTORY_LEN;
        let needed = cert_dir_in_optional + DATA_DIRECTORY_LEN;
        if u64::from(optional_len) < needed {
            return Err(PeError::OptionalHeaderTooSmall {
                size: optional_len,
                // Fits: at most 112 + 5 × 8.
                needed: u16::try_from(needed).unwrap_or(u16::MAX),
            }
            .into());
        }
        let optional = read_region(
            reader,
            optional_offset,
            u64::from(optional_len),
            file_len,
            "optional header",
        )?;
        let rva_count = le_u32(&optional, to_usize(dirs_offset - 4));
        if u64::from(rva_count) <= CERTIFICATE_TABLE_INDEX {
            return Err(PeError::TooFewDataDirectories { count: rva_count }.into());
        }
        let stored_checksum = le_u32(&optional, to_usize(CHECKSUM_IN_OPTIONAL));
        let cert_va = le_u32(&optional, to_usize(cert_dir_in_optional));
        let cert_size = le_u32(&optional, to_usize(cert_dir_in_optional + 4));

        let section_table_offset = optional_offset + u64::from(optional_len);
        let section_table_len = u64::from(section_count) * SECTION_HEADER_LEN;
        let headers_end = section_table_offset + section_table_len;
        if headers_end > file_len {
            return Err(PeError::SectionTableOutOfFile {
                offset: section_table_offset,
                count: section_count,
                file_len,
            }
            .into());
        }
        let table = read_region(
            reader,
            section_table_offset,
            section_table_len,
            file_len,
            "section table",
        )?;

        let cert_table = certificate_table(cert_va, cert_size, headers_end, file_len)?;
        let data_end = cert_table.map_or(file_len, |t| t.offset);
        let sections = sections(&table, data_end)?;

        Ok(PeLayout {
            kind,
            file_len,
            checksum_offset: optional_offset + CHECKSUM_IN_OPTIONAL,
            stored_checksum,
            cert_dir_offset: optional_offset + cert_dir_in_optional,
            headers_end,
            cert_table,
            sections,
        })
    }

    /// Parses the headers of an in-memory PE image.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse(&mut std::io::Cursor::new(bytes))
    }

    /// End of the image data: the start of the certificate table, or the end of the file.
    pub fn image_end(&self) -> u64 {
        self.cert_table.map_or(self.file_len, |t| t.offset)
    }

    /// Zero bytes to add after the image data so that a certificate table starts 8-byte aligned.
    ///
    /// Always 0 for a signed file (its table is already aligned).
    pub fn padding_len(&self) -> u64 {
        padding_to(self.image_end(), CERT_TABLE_ALIGN)
    }

    /// Where a (new) certificate table starts: the image end plus padding.
    pub fn padded_image_end(&self) -> u64 {
        self.image_end() + self.padding_len()
    }
}

/// Bytes to add to `len` to reach a multiple of `align`.
pub(crate) fn padding_to(len: u64, align: u64) -> u64 {
    (align - len % align) % align
}

/// Validates the Certificate Table data directory entry.
fn certificate_table(
    offset: u32,
    size: u32,
    headers_end: u64,
    file_len: u64,
) -> Result<Option<CertificateTable>, PeError> {
    match (offset, size) {
        (0, 0) => return Ok(None),
        (0, _) | (_, 0) => return Err(PeError::CertificateTableInconsistent { offset, size }),
        _ => {}
    }
    let (offset, size) = (u64::from(offset), u64::from(size));
    let end = offset + size;
    if offset < headers_end || end > file_len {
        return Err(PeError::CertificateTableOutOfBounds {
            offset,
            size,
            headers_end,
            file_len,
        });
    }
    // Since MS12-024 nothing may follow the signature.
    if end != file_len {
        return Err(PeError::CertificateTableNotAtEnd {
            offset,
            size,
            file_len,
        });
    }
    if offset % CERT_TABLE_ALIGN != 0 {
        return Err(PeError::CertificateTableMisaligned { offset });
    }
    Ok(Some(CertificateTable { offset, size }))
}

/// Reads the section table and checks the raw data ranges: inside `[0, data_end)`, no overlaps.
fn sections(table: &[u8], data_end: u64) -> Result<Vec<Section>, PeError> {
    let mut sections = Vec::new();
    // (start, end, index) of each section with raw data, for the overlap check.
    let mut ranges = Vec::new();
    for (index, entry) in table.chunks_exact(to_usize(SECTION_HEADER_LEN)).enumerate() {
        let name_bytes = entry.get(..8).unwrap_or_default();
        let name = String::from_utf8_lossy(name_bytes)
            .trim_end_matches('\0')
            .to_owned();
        let raw_size = u64::from(le_u32(entry, 16));
        let raw_offset = u64::from(le_u32(entry, 20));
        if raw_size == 0 {
            // Uninitialised data (.bss): nothing in the file.
            continue;
        }
        let end = raw_offset + raw_size;
        if end > data_end {
            return Err(PeError::SectionOutOfFile {
                index,
                name,
                start: raw_offset,
                end,
                limit: data_end,
            });
        }
        ranges.push((raw_offset, end, index));
        sections.push(Section {
            name,
            raw_offset,
            raw_size,
        });
    }
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        if let [(_, first_end, first), (second_start, _, second)] = pair
            && second_start < first_end
        {
            return Err(PeError::SectionsOverlap {
                first: *first,
                second: *second,
            });
        }
    }
    Ok(sections)
}

/// Reads `len` bytes at `offset`, after checking that they lie inside the file.
fn read_region<R: Read + Seek>(
    reader: &mut R,
    offset: u64,
    len: u64,
    file_len: u64,
    what: &'static str,
) -> Result<Vec<u8>> {
    let needed = offset + len;
    if needed > file_len {
        return Err(PeError::Truncated {
            what,
            needed,
            file_len,
        }
        .into());
    }
    // `len` is a header size bounded by the callers (≤ 64 KiB + 96 × 40).
    let mut buf = vec![0; to_usize(len)];
    reader
        .seek(SeekFrom::Start(offset))
        .map_err(AuthenticodeError::io("seek in the PE file"))?;
    reader
        .read_exact(&mut buf)
        .map_err(AuthenticodeError::io("read the PE headers"))?;
    Ok(buf)
}

/// Little-endian `u16` at `at`; 0 when out of range (callers read only checked regions).
pub(crate) fn le_u16(bytes: &[u8], at: usize) -> u16 {
    bytes
        .get(at..at + 2)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u16::from_le_bytes)
}

/// Little-endian `u32` at `at`; 0 when out of range (callers read only checked regions).
pub(crate) fn le_u32(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// Converts an offset already bounded by [`MAX_IMAGE_LEN`] to `usize`.
pub(crate) fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

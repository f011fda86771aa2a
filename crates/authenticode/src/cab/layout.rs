//! The cabinet header (`CFHEADER`) and folder table (`CFFOLDER`), parsed with every
//! offset checked, and the header of the signed file derived from them.
//!
//! Microsoft "Cabinet File Format" (MS-CAB): a 36-byte `CFHEADER`; with
//! `cfhdrRESERVE_PRESENT` it is followed by `cbCFHeader` (u16), `cbCFFolder` (u8),
//! `cbCFData` (u8) and `cbCFHeader` reserved bytes; then the optional names of the
//! previous/next cabinet, `cFolders` 8-byte `CFFOLDER` entries, the `CFFILE` entries at
//! `coffFiles`, and the `CFDATA` blocks each folder points to (`coffCabStart`).
//!
//! Authenticode keeps its signature in a 20-byte header reserve, as signtool and
//! osslsigncode write it (MS-CAB leaves the reserve's contents to the application):
//! `cbCFHeader` 20, `cbCFFolder` 0, `cbCFData` 0, and the reserve
//! `{ 0x00100000, signature offset, signature size, 8 zero bytes }`. The signature
//! (DER PKCS#7, zero-padded to a multiple of 8) ends the file; `cbCabinet` covers the
//! cabinet without it. Signing an unsigned cabinet adds this reserve: the header grows
//! by 24 bytes, so `cbCabinet`, `coffFiles` and every `coffCabStart` grow by 24.

use std::io::{Read, Seek, SeekFrom};

use crate::error::{AuthenticodeError, CabError, Result};
use crate::pe::{le_u16, le_u32};

/// `MSCF`, the first bytes of a cabinet.
pub const CAB_MAGIC: &[u8; 4] = b"MSCF";
/// Length of the fixed `CFHEADER`.
const HEADER_LEN: usize = 36;
/// Bytes the signature area adds to the header: `cbCFHeader`/`cbCFFolder`/`cbCFData`
/// and the 20-byte reserve.
pub(crate) const RESERVE_GROWTH: u32 = 24;
/// Length of the header of a signed cabinet.
pub(crate) const SIGNED_HEADER_LEN: usize = HEADER_LEN + RESERVE_GROWTH as usize;
/// `cbCFHeader` of the signature area.
const SIGNATURE_RESERVE_LEN: u16 = 20;
/// First four bytes of the signature area.
const SIGNATURE_RESERVE_MARKER: u32 = 0x0010_0000;
/// Where the signature's offset and size are stored in a signed header.
pub(crate) const SIGNATURE_OFFSET_FIELD: usize = 44;
pub(crate) const SIGNATURE_SIZE_FIELD: usize = 48;
/// `cfhdrRESERVE_PRESENT`.
const FLAG_RESERVE_PRESENT: u16 = 0x0004;
/// Length of one `CFFOLDER` entry (without a per-folder reserve).
const FOLDER_LEN: usize = 8;
/// Largest signed cabinet: its offsets and sizes are 32-bit.
pub const MAX_CAB_LEN: u64 = u32::MAX as u64;

/// Where a signed cabinet keeps its signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CabSignatureArea {
    /// File offset of the signature (= `cbCabinet`).
    pub offset: u64,
    /// Its size, padding included; the area ends the file.
    pub size: u64,
}

/// A cabinet's header, checked against the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CabLayout {
    /// The file's length.
    pub file_len: u64,
    /// `cFolders`.
    pub folders: u16,
    /// `cFiles`.
    pub files: u16,
    /// The signature area, when the cabinet has one.
    pub signature: Option<CabSignatureArea>,
    /// The header and folder table, `[0, coffFiles)`, as they are in the file.
    pub(crate) prefix: Vec<u8>,
}

impl CabLayout {
    /// Parses and checks the header of the cabinet in `reader`.
    ///
    /// Refuses what is not a single cabinet with, at most, the Authenticode signature
    /// reserve, and every header whose offsets or lengths disagree with the file
    /// ([`CabError`]). Reads at most the header and the folder table (≤ 524 340 bytes).
    pub fn parse<R: Read + Seek>(reader: &mut R) -> Result<Self> {
        let file_len = reader
            .seek(SeekFrom::End(0))
            .map_err(AuthenticodeError::io("read the cabinet's length"))?;
        reader
            .seek(SeekFrom::Start(0))
            .map_err(AuthenticodeError::io("read the cabinet header"))?;
        let truncated = |what, needed: usize| CabError::Truncated {
            what,
            needed: needed as u64,
            file_len,
        };
        let mut header = [0; SIGNED_HEADER_LEN];
        let fixed = read_up_to(reader, &mut header)?;
        if fixed < 4 || header.get(..4) != Some(CAB_MAGIC.as_slice()) {
            return Err(CabError::BadSignature.into());
        }
        if fixed < HEADER_LEN {
            return Err(truncated("cabinet header", HEADER_LEN).into());
        }
        let u16_at = |at: usize| le_u16(&header, at);
        let u32_at = |at: usize| le_u32(&header, at);
        let u8_at = |at: usize| header.get(at).copied().unwrap_or_default();
        let field = |field, value: u64, expected| CabError::BadField {
            field,
            value,
            expected,
        };
        for (name, at) in [("reserved1", 4), ("reserved2", 12), ("reserved3", 20)] {
            if u32_at(at) != 0 {
                return Err(field(name, u32_at(at).into(), "must be zero").into());
            }
        }
        if u8_at(25) != 1 {
            return Err(field("versionMajor", u8_at(25).into(), "must be 1").into());
        }
        let flags = u16_at(30);
        if flags & !FLAG_RESERVE_PRESENT != 0 {
            return Err(CabError::UnsupportedFlags { flags }.into());
        }
        let signed = flags & FLAG_RESERVE_PRESENT != 0;
        let header_len = if signed {
            SIGNED_HEADER_LEN
        } else {
            HEADER_LEN
        };
        if fixed < header_len {
            return Err(truncated("cabinet header with its reserved area", header_len).into());
        }

        let signature = if signed {
            let (cb_header, cb_folder, cb_data) = (u16_at(36), u8_at(38), u8_at(39));
            let marker = u32_at(40);
            if cb_header != SIGNATURE_RESERVE_LEN
                || cb_folder != 0
                || cb_data != 0
                || marker != SIGNATURE_RESERVE_MARKER
            {
                return Err(CabError::UnsupportedReserve {
                    header: cb_header,
                    folder: cb_folder,
                    data: cb_data,
                    marker,
                }
                .into());
            }
            let offset = u64::from(u32_at(SIGNATURE_OFFSET_FIELD));
            let size = u64::from(u32_at(SIGNATURE_SIZE_FIELD));
            if offset == 0 || size == 0 || offset + size != file_len {
                return Err(CabError::BadSignatureArea {
                    offset,
                    size,
                    file_len,
                }
                .into());
            }
            Some(CabSignatureArea { offset, size })
        } else {
            None
        };
        let content_end = signature.map_or(file_len, |s| s.offset);
        let declared = u64::from(u32_at(8));
        if declared != content_end {
            return Err(CabError::LengthMismatch {
                declared,
                actual: content_end,
            }
            .into());
        }
        // Signing adds the reserve (unsigned) and the signature: both must keep 32-bit offsets.
        let growth = if signed { 0 } else { RESERVE_GROWTH.into() };
        if content_end + growth > MAX_CAB_LEN {
            return Err(CabError::FileTooLarge {
                len: content_end + growth,
                max: MAX_CAB_LEN,
            }
            .into());
        }

        let folders = u16_at(26);
        let folders_end = header_len + usize::from(folders) * FOLDER_LEN;
        let coff_files = u64::from(u32_at(16));
        if coff_files != folders_end as u64 {
            return Err(CabError::FilesOffsetMismatch {
                declared: coff_files,
                actual: folders_end as u64,
                folders,
            }
            .into());
        }
        if folders_end as u64 > content_end {
            return Err(truncated("folder table", folders_end).into());
        }
        let mut prefix = part(&header, 0..header_len).to_vec();
        let mut table = vec![0; folders_end - header_len];
        reader
            .seek(SeekFrom::Start(header_len as u64))
            .and_then(|_| reader.read_exact(&mut table))
            .map_err(AuthenticodeError::io("read the cabinet's folder table"))?;
        for (index, folder) in table.chunks_exact(FOLDER_LEN).enumerate() {
            let offset = u64::from(le_u32(folder, 0));
            if offset < folders_end as u64 || offset > content_end {
                return Err(CabError::FolderOutOfFile {
                    index,
                    offset,
                    start: folders_end as u64,
                    end: content_end,
                }
                .into());
            }
        }
        prefix.extend_from_slice(&table);
        Ok(CabLayout {
            file_len,
            folders,
            files: u16_at(28),
            signature,
            prefix,
        })
    }

    /// Where the cabinet's own data ends (the signature area or the end of the file).
    pub fn content_end(&self) -> u64 {
        self.signature.map_or(self.file_len, |s| s.offset)
    }

    /// Where the folder table ends and the file entries start (`coffFiles`).
    pub fn files_offset(&self) -> u64 {
        self.prefix.len() as u64
    }

    /// The header and folder table of the signed file, with the signature's offset set and
    /// its size zero. For a signed cabinet that is its own; an unsigned one gains the
    /// signature reserve, which moves `coffFiles` and every folder's data by 24 bytes.
    pub(crate) fn signed_prefix(&self) -> Vec<u8> {
        let prefix = self.prefix.as_slice();
        let mut out = if self.signature.is_some() {
            prefix.to_vec()
        } else {
            // No overflow: parse checked content_end + 24 fits in 32 bits.
            let grown = |at: usize| (le_u32(prefix, at) + RESERVE_GROWTH).to_le_bytes();
            let mut out = Vec::with_capacity(prefix.len() + SIGNED_HEADER_LEN - HEADER_LEN);
            out.extend_from_slice(part(prefix, 0..8));
            out.extend_from_slice(&grown(8)); // cbCabinet
            out.extend_from_slice(part(prefix, 12..16));
            out.extend_from_slice(&grown(16)); // coffFiles
            out.extend_from_slice(part(prefix, 20..30));
            out.extend_from_slice(&FLAG_RESERVE_PRESENT.to_le_bytes());
            out.extend_from_slice(part(prefix, 32..HEADER_LEN));
            out.extend_from_slice(&SIGNATURE_RESERVE_LEN.to_le_bytes());
            out.extend_from_slice(&[0, 0]); // cbCFFolder, cbCFData
            out.extend_from_slice(&SIGNATURE_RESERVE_MARKER.to_le_bytes());
            out.extend_from_slice(&[0; 16]); // offset, size, 8 reserved bytes
            let folders = prefix.get(HEADER_LEN..).unwrap_or_default();
            for folder in folders.chunks_exact(FOLDER_LEN) {
                out.extend_from_slice(&(le_u32(folder, 0) + RESERVE_GROWTH).to_le_bytes());
                out.extend_from_slice(part(folder, 4..FOLDER_LEN));
            }
            out
        };
        let content_end = self.content_end() + (out.len() - prefix.len()) as u64;
        // Fits: parse checked content_end (+ 24 when unsigned) against MAX_CAB_LEN.
        put_u32(&mut out, SIGNATURE_OFFSET_FIELD, content_end as u32);
        put_u32(&mut out, SIGNATURE_SIZE_FIELD, 0);
        out
    }
}

/// `bytes[range]`, or nothing when out of range (callers use checked regions).
fn part(bytes: &[u8], range: std::ops::Range<usize>) -> &[u8] {
    bytes.get(range).unwrap_or_default()
}

/// Writes a little-endian `u32` at `at` (callers use checked regions).
pub(crate) fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    if let Some(field) = bytes.get_mut(at..at + 4) {
        field.copy_from_slice(&value.to_le_bytes());
    }
}

/// Reads into `buf` until it is full or the reader ends; returns the bytes read.
fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let Some(rest) = buf.get_mut(filled..) else {
            break;
        };
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(AuthenticodeError::io("read the cabinet header")(e)),
        }
    }
    Ok(filled)
}

//! A tiny ZIP writer for tests that builds well-formed and deliberately
//! malformed archives byte by byte.

#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::Write;

/// One entry as it will be written.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    pub(crate) name: Vec<u8>,
    /// Name in the local header when different from the central one.
    pub(crate) local_name: Option<Vec<u8>>,
    /// Bytes stored in the archive (already compressed for method 8).
    pub(crate) data: Vec<u8>,
    pub(crate) method: u16,
    pub(crate) flags: u16,
    pub(crate) crc: u32,
    /// Declared uncompressed size.
    pub(crate) usize: u64,
    /// Declared compressed size (defaults to `data.len()`).
    pub(crate) csize: Option<u64>,
    /// Central offset of the local header; when set, nothing is written for
    /// this entry (its header lives inside another entry's data).
    pub(crate) embedded_at: Option<u64>,
}

pub(crate) fn stored(name: &str, data: &[u8]) -> Spec {
    Spec {
        name: name.as_bytes().to_vec(),
        local_name: None,
        data: data.to_vec(),
        method: 0,
        flags: 0,
        crc: crc32fast::hash(data),
        usize: data.len() as u64,
        csize: None,
        embedded_at: None,
    }
}

pub(crate) fn deflated(name: &str, plain: &[u8]) -> Spec {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(plain).unwrap();
    Spec {
        data: enc.finish().unwrap(),
        method: 8,
        ..stored(name, plain)
    }
}

fn sizes32(s: &Spec) -> (u32, u32, bool) {
    let csize = s.csize.unwrap_or(s.data.len() as u64);
    let big = s.usize >= 0xFFFF_FFFF || csize >= 0xFFFF_FFFF;
    if big {
        (0xFFFF_FFFF, 0xFFFF_FFFF, true)
    } else {
        (csize as u32, s.usize as u32, false)
    }
}

/// The local header (and nothing else) of `s`.
pub(crate) fn local_header(s: &Spec) -> Vec<u8> {
    let (csize, usize, _) = sizes32(s);
    let name = s.local_name.as_ref().unwrap_or(&s.name);
    let mut h = Vec::new();
    h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    h.extend_from_slice(&20u16.to_le_bytes());
    h.extend_from_slice(&s.flags.to_le_bytes());
    h.extend_from_slice(&s.method.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&0x5B7Cu16.to_le_bytes());
    h.extend_from_slice(&s.crc.to_le_bytes());
    h.extend_from_slice(&csize.to_le_bytes());
    h.extend_from_slice(&usize.to_le_bytes());
    h.extend_from_slice(&(name.len() as u16).to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(name);
    h
}

/// Builds an archive; `declared_entries` overrides the count in a ZIP64 end record.
pub(crate) fn build(specs: &[Spec], declared_entries: Option<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for s in specs {
        let offset = match s.embedded_at {
            Some(at) => at,
            None => {
                let at = out.len() as u64;
                out.extend_from_slice(&local_header(s));
                out.extend_from_slice(&s.data);
                at
            }
        };
        let (csize, usize, big) = sizes32(s);
        let mut extra = Vec::new();
        if big {
            extra.extend_from_slice(&1u16.to_le_bytes());
            extra.extend_from_slice(&16u16.to_le_bytes());
            extra.extend_from_slice(&s.usize.to_le_bytes());
            extra.extend_from_slice(&s.csize.unwrap_or(s.data.len() as u64).to_le_bytes());
        }
        let c = &mut central;
        c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        c.extend_from_slice(&20u16.to_le_bytes());
        c.extend_from_slice(&20u16.to_le_bytes());
        c.extend_from_slice(&s.flags.to_le_bytes());
        c.extend_from_slice(&s.method.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&0x5B7Cu16.to_le_bytes());
        c.extend_from_slice(&s.crc.to_le_bytes());
        c.extend_from_slice(&csize.to_le_bytes());
        c.extend_from_slice(&usize.to_le_bytes());
        c.extend_from_slice(&(s.name.len() as u16).to_le_bytes());
        c.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        c.extend_from_slice(&[0u8; 8]); // comment length, disk, internal, external (low half)
        c.extend_from_slice(&[0u8; 2]);
        c.extend_from_slice(&(offset as u32).to_le_bytes());
        c.extend_from_slice(&s.name);
        c.extend_from_slice(&extra);
    }
    let cd_offset = out.len() as u64;
    out.extend_from_slice(&central);
    let count = specs.len() as u64;
    if let Some(declared) = declared_entries {
        let z64 = out.len() as u64;
        out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&[0u8; 8]);
        out.extend_from_slice(&declared.to_le_bytes());
        out.extend_from_slice(&declared.to_le_bytes());
        out.extend_from_slice(&(central.len() as u64).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&z64.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    let count16 = if declared_entries.is_some() {
        0xFFFF
    } else {
        count as u16
    };
    out.extend_from_slice(&count16.to_le_bytes());
    out.extend_from_slice(&count16.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&(cd_offset as u32).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

//! The Authenticode image digest, streamed over a file.
//!
//! "Windows Authenticode Portable Executable Signature Format", *Calculating
//! the PE Image Hash*: hash the file except the `CheckSum` field, the
//! Certificate Table data directory entry and the attribute certificate table.
//! Like osslsigncode (and signtool), the bytes are hashed in file order from
//! offset 0 to the start of the certificate table — headers, sections and any
//! data after the last section alike — and an unsigned file whose length is
//! not a multiple of 8 is hashed as if padded with zeros to the next multiple
//! of 8, which is exactly what embedding writes before the certificate table.
//! The digest is therefore the same before and after signing, in replace and
//! in nested mode.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use sigil_keys::{HashAlgorithm, Hasher};

use crate::checksum::PeChecksum;
use crate::error::{AuthenticodeError, Result};
use crate::pe::{CHECKSUM_LEN, DATA_DIRECTORY_LEN, PeLayout};

/// Size of the one buffer used to stream a file (memory stays flat whatever the file size).
pub(crate) const STREAM_BUFFER_LEN: usize = 1 << 20;

/// An image digest together with the layout facts the embedding side needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageDigest {
    /// The hash algorithm.
    pub algorithm: HashAlgorithm,
    /// The Authenticode image digest.
    pub digest: Vec<u8>,
    /// The PE layout: checksum field, certificate table, padding to add when embedding.
    pub layout: PeLayout,
}

/// Computes the Authenticode image digest of the PE image in `reader`.
///
/// Streams the file once through a fixed buffer.
pub fn image_digest<R: Read + Seek>(
    reader: &mut R,
    algorithm: HashAlgorithm,
) -> Result<ImageDigest> {
    let layout = PeLayout::parse(reader)?;
    let scan = scan(reader, &layout, &[algorithm], false)?;
    let digest = scan.digests.into_iter().next().unwrap_or_default();
    Ok(ImageDigest {
        algorithm,
        digest,
        layout,
    })
}

/// Computes the Authenticode image digest of the PE file at `path`.
pub fn image_digest_file(path: &Path, algorithm: HashAlgorithm) -> Result<ImageDigest> {
    let mut file = File::open(path).map_err(AuthenticodeError::io("open the PE file"))?;
    image_digest(&mut file, algorithm)
}

/// Which bytes of a PE file the image digest covers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HashedRanges {
    checksum: u64,
    cert_dir: u64,
    end: u64,
}

impl HashedRanges {
    /// The hashed ranges of a file with this layout: `[0, image_end)` minus the two fields.
    pub(crate) fn new(layout: &PeLayout) -> Self {
        HashedRanges {
            checksum: layout.checksum_offset,
            cert_dir: layout.cert_dir_offset,
            end: layout.image_end(),
        }
    }

    /// Calls `hash` with each part of `chunk` (which starts at file offset `pos`) that is hashed.
    pub(crate) fn for_each_part(&self, pos: u64, chunk: &[u8], mut hash: impl FnMut(&[u8])) {
        let ranges = [
            (0, self.checksum),
            (self.checksum + CHECKSUM_LEN, self.cert_dir),
            (self.cert_dir + DATA_DIRECTORY_LEN, self.end),
        ];
        let chunk_end = pos + chunk.len() as u64;
        for (start, end) in ranges {
            let (from, to) = (start.max(pos), end.min(chunk_end));
            if from < to
                && let Some(part) = usize::try_from(from - pos)
                    .ok()
                    .zip(usize::try_from(to - pos).ok())
                    .and_then(|(a, b)| chunk.get(a..b))
            {
                hash(part);
            }
        }
    }
}

/// What one pass over a file produced.
pub(crate) struct Scan {
    /// One image digest per requested algorithm, in order.
    pub(crate) digests: Vec<Vec<u8>>,
    /// The PE checksum of the whole file, when requested.
    pub(crate) checksum: Option<u32>,
}

/// Streams the file once: image digests for each algorithm and, optionally, the PE checksum.
pub(crate) fn scan<R: Read + Seek>(
    reader: &mut R,
    layout: &PeLayout,
    algorithms: &[HashAlgorithm],
    with_checksum: bool,
) -> Result<Scan> {
    let ranges = HashedRanges::new(layout);
    let mut hashers: Vec<Hasher> = algorithms.iter().map(|a| Hasher::new(*a)).collect();
    let mut checksum = with_checksum.then(|| PeChecksum::new(layout.checksum_offset));
    let read_end = if with_checksum {
        layout.file_len
    } else {
        layout.image_end()
    };

    reader
        .seek(SeekFrom::Start(0))
        .map_err(AuthenticodeError::io("seek to the start of the PE file"))?;
    let mut buffer = vec![0; STREAM_BUFFER_LEN];
    let mut pos = 0u64;
    while pos < read_end {
        let want = usize::try_from(read_end - pos)
            .unwrap_or(usize::MAX)
            .min(buffer.len());
        let chunk = buffer.get_mut(..want).unwrap_or_default();
        reader.read_exact(chunk).map_err(AuthenticodeError::io(
            "read the PE file (did it change while being hashed?)",
        ))?;
        ranges.for_each_part(pos, chunk, |part| {
            hashers.iter_mut().for_each(|h| h.update(part));
        });
        if let Some(checksum) = checksum.as_mut() {
            checksum.update(chunk);
        }
        pos += want as u64;
    }
    let padding = vec![0; usize::try_from(layout.padding_len()).unwrap_or_default()];
    Ok(Scan {
        digests: hashers
            .into_iter()
            .map(|mut h| {
                h.update(&padding);
                h.finalize()
            })
            .collect(),
        checksum: checksum.map(|c| c.finish()),
    })
}

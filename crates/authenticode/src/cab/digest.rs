//! The Authenticode digest of a cabinet, streamed over the file.
//!
//! What osslsigncode 2.9 (`cab.c`) and signtool hash, over the file *as it is once
//! signed* (an unsigned cabinet is hashed with the signature reserve it will gain, so
//! the digest is the same before signing, after signing and after re-signing):
//!
//! | signed-file bytes | hashed |
//! |---|---|
//! | 0..4 `signature` (`MSCF`) | yes |
//! | 4..8 `reserved1` | no |
//! | 8..34 `cbCabinet` … `setID` | yes |
//! | 34..56 `iCabinet`, `cbCFHeader`/`cbCFFolder`/`cbCFData`, signature marker, offset and size, first 4 reserved bytes | no |
//! | 56..60 last 4 bytes of the reserve | yes |
//! | 60..`cbCabinet` folders, files and data | yes |
//! | the signature area | no |

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use sigil_keys::{HashAlgorithm, Hasher};

use super::layout::CabLayout;
use crate::digest::STREAM_BUFFER_LEN;
use crate::error::{AuthenticodeError, Result};
use crate::prepare::FileIdentity;

/// The byte ranges of the signed header that the digest covers.
const HASHED_HEADER: [std::ops::Range<usize>; 3] = [0..4, 8..34, 56..usize::MAX];

/// A cabinet read once for signing: its digest, layout and identity.
#[derive(Clone, Debug)]
pub struct PreparedCab {
    /// The hash algorithm of the digest.
    pub algorithm: HashAlgorithm,
    /// The Authenticode digest of the cabinet (what the server signs).
    pub digest: Vec<u8>,
    /// The header the digest was computed on.
    pub layout: CabLayout,
    /// The file's identity while it was read.
    pub identity: FileIdentity,
}

/// Computes the Authenticode digest of the cabinet in `reader`; returns its layout too.
///
/// Streams the file once through a fixed buffer.
pub fn cab_digest<R: Read + Seek>(
    reader: &mut R,
    algorithm: HashAlgorithm,
) -> Result<(CabLayout, Vec<u8>)> {
    let layout = CabLayout::parse(reader)?;
    let mut hashers = [Hasher::new(algorithm)];
    hash_signed(reader, &layout, &mut hashers)?;
    let [hasher] = hashers;
    Ok((layout, hasher.finalize()))
}

/// Reads the cabinet at `path` once: its digest with `algorithm` and its layout.
///
/// Refuses a malformed cabinet ([`AuthenticodeError::Cab`]) and a file that changed while
/// it was read ([`AuthenticodeError::FileChanged`]).
pub fn prepare_cab(path: &Path, algorithm: HashAlgorithm) -> Result<PreparedCab> {
    let mut file = File::open(path).map_err(AuthenticodeError::io("open the cabinet"))?;
    let identity = FileIdentity::of(&file)?;
    let (layout, digest) = cab_digest(&mut file, algorithm)?;
    if FileIdentity::of(&file)? != identity {
        return Err(AuthenticodeError::FileChanged);
    }
    Ok(PreparedCab {
        algorithm,
        digest,
        layout,
        identity,
    })
}

/// Feeds the signed form of the cabinet to every hasher: the hashed parts of
/// `layout.signed_prefix()`, then the file's `[coffFiles, end of data)`.
pub(crate) fn hash_signed<R: Read + Seek>(
    reader: &mut R,
    layout: &CabLayout,
    hashers: &mut [Hasher],
) -> Result<()> {
    let prefix = layout.signed_prefix();
    for range in HASHED_HEADER {
        let part = prefix
            .get(range.start..range.end.min(prefix.len()))
            .unwrap_or_default();
        hashers.iter_mut().for_each(|h| h.update(part));
    }
    reader
        .seek(SeekFrom::Start(layout.files_offset()))
        .map_err(AuthenticodeError::io("read the cabinet"))?;
    let mut remaining = layout.content_end() - layout.files_offset();
    let mut buffer = vec![0; STREAM_BUFFER_LEN];
    while remaining > 0 {
        let want = buffer
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let Some(chunk) = buffer.get_mut(..want) else {
            break;
        };
        reader.read_exact(chunk).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                AuthenticodeError::FileChanged
            } else {
                AuthenticodeError::io("read the cabinet")(e)
            }
        })?;
        hashers.iter_mut().for_each(|h| h.update(chunk));
        remaining -= want as u64;
    }
    Ok(())
}

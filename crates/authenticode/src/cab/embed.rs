//! Embedding a PKCS#7 signature into a cabinet (client side).
//!
//! The signed file is written next to the output: the signed header (an unsigned cabinet
//! gains the signature reserve, and its `cbCabinet`, `coffFiles` and folder offsets move by
//! 24 bytes), the cabinet's data copied file to file (`copy_file_range` on Linux), and the
//! signature, zero-padded to a multiple of 8 bytes as osslsigncode and signtool write it.
//! The file's identity (length, times, inode) and header are checked against the prepared
//! ones before, and its identity again after the copy, as for PE files: a file changed
//! since it was hashed gives `FileChanged`. The copy is synced and renamed over the output;
//! on any failure the original is untouched and the temporary file removed.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use sigil_keys::HashAlgorithm;
use sigil_pki::cms::MAX_SIGNED_DATA_LEN;

use super::digest::{PreparedCab, prepare_cab};
use super::layout::{CabLayout, CabSignatureArea, MAX_CAB_LEN, SIGNATURE_SIZE_FIELD, put_u32};
use crate::embed::{EmbedMode, Placement};
use crate::error::{AuthenticodeError, CabError, Result};
use crate::file::{checked_signature, reopen, replace_output};
use crate::nest::add_nested_signature;
use crate::prepare::FileIdentity;
use crate::signature::{AuthenticodeSignature, first_der_element, hex};
use crate::subject::Subject;

/// Largest signature area read from a cabinet: a PKCS#7 of the largest size Sigil
/// accepts plus its padding.
pub const MAX_CAB_SIGNATURE_LEN: u64 = MAX_SIGNED_DATA_LEN as u64 + 8;

/// What [`PreparedCab::embed`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CabEmbedReport {
    /// Where the signature went.
    pub placement: Placement,
    /// The digest algorithm of the embedded signature.
    pub algorithm: HashAlgorithm,
    /// The cabinet's digest (checked equal to the one in the signature).
    pub digest: Vec<u8>,
    /// The signature area written.
    pub signature: CabSignatureArea,
    /// Length of the signed file.
    pub file_len: u64,
}

/// Embeds the Authenticode PKCS#7 `pkcs7_der` into the cabinet `input`, writing the
/// signed file to `output` (which may be `input`) atomically. Reads the file twice; a
/// client that hashed it already uses [`PreparedCab::embed`].
pub fn embed_cab_signature(
    input: &Path,
    output: &Path,
    pkcs7_der: &[u8],
    mode: EmbedMode,
) -> Result<CabEmbedReport> {
    let signature = checked_signature(pkcs7_der, Subject::Cab)?;
    let algorithm = signature
        .image_algorithm
        .map_err(|oid| AuthenticodeError::UnsupportedDigestAlgorithm { oid })?;
    prepare_cab(input, algorithm)?.embed_checked(input, output, pkcs7_der, &signature, mode)
}

impl PreparedCab {
    /// Embeds the Authenticode PKCS#7 `pkcs7_der` into `input` (the prepared cabinet),
    /// writing the signed file to `output` (which may be `input`) atomically.
    ///
    /// Refuses a signature that does not verify or whose digest is not the prepared one
    /// ([`AuthenticodeError::DigestMismatch`]), and a file that changed since it was
    /// prepared ([`AuthenticodeError::FileChanged`]); on any error the output is left as
    /// it was and no temporary file remains.
    pub fn embed(
        &self,
        input: &Path,
        output: &Path,
        pkcs7_der: &[u8],
        mode: EmbedMode,
    ) -> Result<CabEmbedReport> {
        let signature = checked_signature(pkcs7_der, Subject::Cab)?;
        self.embed_checked(input, output, pkcs7_der, &signature, mode)
    }

    fn embed_checked(
        &self,
        input: &Path,
        output: &Path,
        pkcs7_der: &[u8],
        signature: &AuthenticodeSignature,
        mode: EmbedMode,
    ) -> Result<CabEmbedReport> {
        let algorithm = self.algorithm;
        if signature.image_algorithm != Ok(algorithm) || signature.image_digest != self.digest {
            return Err(AuthenticodeError::DigestMismatch {
                algorithm,
                signed: hex(&signature.image_digest),
                actual: hex(&self.digest),
            });
        }
        let mut source = reopen(input, &self.identity)?;
        if CabLayout::parse(&mut source)? != self.layout {
            return Err(AuthenticodeError::FileChanged);
        }

        let (placement, mut pkcs7) = match (mode, self.layout.signature) {
            (_, None) => (Placement::Primary, pkcs7_der.to_vec()),
            (EmbedMode::Replace, Some(_)) => (Placement::Replaced, pkcs7_der.to_vec()),
            (EmbedMode::Append, Some(area)) => {
                let existing = read_signature(&mut source, area)?;
                let existing = first_der_element(&existing)?;
                AuthenticodeSignature::from_der(existing)?;
                (
                    Placement::Nested,
                    add_nested_signature(existing, pkcs7_der)?,
                )
            }
        };
        pkcs7.resize(pkcs7.len().next_multiple_of(8), 0);
        let signed_prefix_len = self.layout.signed_prefix().len() as u64;
        let area = CabSignatureArea {
            offset: signed_prefix_len + self.layout.content_end() - self.layout.files_offset(),
            size: pkcs7.len() as u64,
        };
        let file_len = area.offset + area.size;
        if file_len > MAX_CAB_LEN {
            return Err(CabError::FileTooLarge {
                len: file_len,
                max: MAX_CAB_LEN,
            }
            .into());
        }

        let mut prefix = self.layout.signed_prefix();
        // Fits in 32 bits: file_len was checked against MAX_CAB_LEN.
        put_u32(&mut prefix, SIGNATURE_SIZE_FIELD, area.size as u32);
        let body = self.layout.files_offset()..self.layout.content_end();
        let source_file = source
            .try_clone()
            .map_err(AuthenticodeError::io("open the cabinet"))?;
        replace_output(&source_file, output, |file| {
            let write = AuthenticodeError::io("write the signed cabinet");
            file.write_all(&prefix).map_err(write)?;
            source
                .seek(SeekFrom::Start(body.start))
                .map_err(AuthenticodeError::io("read the cabinet"))?;
            // File to file: copy_file_range on Linux, no pass through user space.
            let copied = std::io::copy(&mut (&mut source).take(body.end - body.start), file)
                .map_err(AuthenticodeError::io("copy the cabinet"))?;
            if copied != body.end - body.start || FileIdentity::of(&source)? != self.identity {
                return Err(AuthenticodeError::FileChanged);
            }
            file.write_all(&pkcs7)
                .map_err(AuthenticodeError::io("write the signed cabinet"))
        })?;

        Ok(CabEmbedReport {
            placement,
            algorithm,
            digest: self.digest.clone(),
            signature: area,
            file_len,
        })
    }
}

/// Reads a cabinet's signature area (bounded by [`MAX_CAB_SIGNATURE_LEN`]).
pub(crate) fn read_signature<R: Read + Seek>(
    reader: &mut R,
    area: CabSignatureArea,
) -> Result<Vec<u8>> {
    if area.size > MAX_CAB_SIGNATURE_LEN {
        return Err(AuthenticodeError::TooLarge {
            what: "cabinet signature area",
            len: area.size,
            max: MAX_CAB_SIGNATURE_LEN,
        });
    }
    let mut bytes = vec![0; area.size as usize];
    reader
        .seek(SeekFrom::Start(area.offset))
        .and_then(|_| reader.read_exact(&mut bytes))
        .map_err(AuthenticodeError::io("read the cabinet's signature"))?;
    Ok(bytes)
}

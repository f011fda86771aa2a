//! Embedding a PKCS#7 signature into a PE file (client side).
//!
//! The file was read once by [`prepare_image`](crate::prepare_image) (image digest and
//! partial PE checksum) and copied next to the output by
//! [`PreparedImage::stage`] (`copy_file_range`), possibly while the signature was being
//! made. Embedding checks the signature (CMS, and its image digest against the prepared
//! one) and that the file is still the one prepared, then patches the `CheckSum` field
//! and the Certificate Table entry of the copy in place, appends the padding and the
//! attribute certificate table, completes the checksum from the bytes it added, syncs,
//! and renames the copy over the output. The original is untouched on any failure and
//! the temporary file is removed.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use sigil_keys::HashAlgorithm;

use crate::error::{AuthenticodeError, PeError, Result};
use crate::nest::add_nested_signature;
use crate::pe::{CertificateTable, MAX_IMAGE_LEN, to_usize};
use crate::prepare::{PreparedImage, StagedImage, parent_dir, prepare_image, resolve_output};
use crate::signature::{AuthenticodeSignature, first_der_element, hex};
use crate::wincert::{MAX_CERT_TABLE_LEN, encode_table, parse_table};

/// What to do with a signature the file already has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EmbedMode {
    /// Replace the existing signature (the default).
    #[default]
    Replace,
    /// Keep the existing signature and add the new one as a nested signature
    /// (signtool `/as`, osslsigncode `-nest`). On an unsigned file the new
    /// signature simply becomes the primary one.
    Append,
}

/// Where the new signature ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The file was unsigned; the signature is its only one.
    Primary,
    /// The previous signature was replaced.
    Replaced,
    /// The signature was nested into the existing primary signature.
    Nested,
}

/// What [`embed_signature`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbedReport {
    /// Where the signature went.
    pub placement: Placement,
    /// The image digest algorithm of the embedded signature.
    pub algorithm: HashAlgorithm,
    /// The image digest (checked equal to the one in the signature).
    pub image_digest: Vec<u8>,
    /// The new attribute certificate table.
    pub cert_table: CertificateTable,
    /// The PE checksum written.
    pub checksum: u32,
    /// Length of the signed file.
    pub file_len: u64,
}

/// Embeds the Authenticode PKCS#7 `pkcs7_der` (a DER `ContentInfo`) into the PE file `input`,
/// writing the signed file to `output` (which may be `input` itself) atomically.
///
/// Refuses a signature whose image digest differs from the file's, or whose
/// `messageDigest` or signer signature does not verify; on any error the
/// output is left as it was and no temporary file remains. This reads the file
/// once; a client that hashed it already uses [`PreparedImage::embed`].
pub fn embed_signature(
    input: &Path,
    output: &Path,
    pkcs7_der: &[u8],
    mode: EmbedMode,
) -> Result<EmbedReport> {
    let new_signature = checked_signature(pkcs7_der)?;
    let algorithm = new_signature
        .image_algorithm
        .map_err(|oid| AuthenticodeError::UnsupportedDigestAlgorithm { oid })?;
    let prepared = prepare_image(input, algorithm)?;
    prepared.embed_checked(input, output, pkcs7_der, &new_signature, mode, None)
}

impl PreparedImage {
    /// Embeds the Authenticode PKCS#7 `pkcs7_der` into `input` (the prepared file), writing
    /// the signed file to `output` (which may be `input`) atomically, through `staged` when
    /// the image was staged for this output.
    ///
    /// Refuses a signature that does not verify or whose image digest is not the prepared
    /// one ([`AuthenticodeError::DigestMismatch`]), and a file that changed since it was
    /// prepared ([`AuthenticodeError::FileChanged`]); on any error the output is left as it
    /// was and no temporary file remains.
    pub fn embed(
        &self,
        input: &Path,
        output: &Path,
        pkcs7_der: &[u8],
        mode: EmbedMode,
        staged: Option<StagedImage>,
    ) -> Result<EmbedReport> {
        let new_signature = checked_signature(pkcs7_der)?;
        self.embed_checked(input, output, pkcs7_der, &new_signature, mode, staged)
    }

    fn embed_checked(
        &self,
        input: &Path,
        output: &Path,
        pkcs7_der: &[u8],
        new_signature: &AuthenticodeSignature,
        mode: EmbedMode,
        staged: Option<StagedImage>,
    ) -> Result<EmbedReport> {
        let algorithm = self.algorithm;
        if new_signature.image_algorithm != Ok(algorithm)
            || new_signature.image_digest != self.digest
        {
            return Err(AuthenticodeError::DigestMismatch {
                algorithm,
                signed: hex(&new_signature.image_digest),
                actual: hex(&self.digest),
            });
        }
        let mut source = self.reopen(input)?;
        let permissions = source
            .metadata()
            .map_err(AuthenticodeError::io("read the PE file's metadata"))?
            .permissions();
        let layout = &self.layout;

        let (placement, pkcs7) = match (mode, layout.cert_table) {
            (_, None) => (Placement::Primary, pkcs7_der.to_vec()),
            (EmbedMode::Replace, Some(_)) => (Placement::Replaced, pkcs7_der.to_vec()),
            (EmbedMode::Append, Some(table)) => {
                let existing = read_primary_signature(&mut source, table)?;
                (
                    Placement::Nested,
                    add_nested_signature(&existing, pkcs7_der)?,
                )
            }
        };
        let table = encode_table(&pkcs7)?;
        let cert_table = CertificateTable {
            offset: layout.padded_image_end(),
            size: table.len() as u64,
        };
        let file_len = cert_table.offset + cert_table.size;
        if file_len > MAX_IMAGE_LEN {
            return Err(PeError::FileTooLarge {
                len: file_len,
                max: MAX_IMAGE_LEN,
            }
            .into());
        }

        let target = resolve_output(output);
        let mut staged = match staged {
            Some(s) if s.target == target && s.image_end == layout.image_end() => s,
            _ => self.stage_from(&source, output)?,
        };
        drop(source);

        // Both fit in 32 bits: checked against MAX_IMAGE_LEN above.
        let cert_dir = [
            (cert_table.offset as u32).to_le_bytes(),
            (cert_table.size as u32).to_le_bytes(),
        ]
        .concat();
        let mut tail = vec![0; to_usize(layout.padding_len())];
        tail.extend_from_slice(&table);
        let mut checksum = self.base_checksum.clone();
        checksum.add_at(layout.cert_dir_offset, &cert_dir);
        checksum.add_at(layout.image_end(), &tail);
        let checksum = checksum.finish_with_len(file_len);

        // The image's own flush first: its errors are reported to the descriptor that wrote it.
        staged.wait_synced()?;
        let mut file = OpenOptions::new()
            .write(true)
            .open(staged.path())
            .map_err(AuthenticodeError::io("open the copy of the PE file"))?;
        let writes = [
            (layout.checksum_offset, checksum.to_le_bytes().to_vec()),
            (layout.cert_dir_offset, cert_dir),
            (layout.image_end(), tail),
        ];
        for (offset, bytes) in writes {
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| file.write_all(&bytes))
                .map_err(AuthenticodeError::io("write the signed file"))?;
        }
        file.set_len(file_len)
            .and_then(|()| file.sync_all())
            .map_err(AuthenticodeError::io("write the signed file"))?;
        drop(file);
        fs::set_permissions(staged.path(), permissions).map_err(AuthenticodeError::io(
            "copy the file permissions to the signed file",
        ))?;
        let dir = parent_dir(&staged.target);
        staged
            .temp
            .persist(&staged.target)
            .map_err(|e| AuthenticodeError::Io {
                op: "replace the output with the signed file",
                source: e.error,
            })?;
        sync_dir(&dir)?;

        Ok(EmbedReport {
            placement,
            algorithm,
            image_digest: self.digest.clone(),
            cert_table,
            checksum,
            file_len,
        })
    }
}

/// Decodes a signature to embed into a PE image and checks it completely, except for the
/// image digest.
fn checked_signature(pkcs7_der: &[u8]) -> Result<AuthenticodeSignature> {
    crate::file::checked_signature(pkcs7_der, crate::Subject::Pe)
}

/// Reads the existing primary PKCS#7 of a signed file (checked to be Authenticode).
fn read_primary_signature(source: &mut File, table: CertificateTable) -> Result<Vec<u8>> {
    if table.size > MAX_CERT_TABLE_LEN {
        return Err(AuthenticodeError::TooLarge {
            what: "existing attribute certificate table",
            len: table.size,
            max: MAX_CERT_TABLE_LEN,
        });
    }
    let bytes = read_cert_table(source, table)?;
    let entry = parse_table(&bytes)?
        .into_iter()
        .find(|e| e.is_pkcs7())
        .ok_or(AuthenticodeError::NoPkcs7Entry)?;
    let der = first_der_element(entry.data)?;
    AuthenticodeSignature::from_der(der)?;
    Ok(der.to_vec())
}

/// Reads an attribute certificate table whose size was checked against [`MAX_CERT_TABLE_LEN`].
pub(crate) fn read_cert_table<R: Read + Seek>(
    reader: &mut R,
    table: CertificateTable,
) -> Result<Vec<u8>> {
    let mut bytes = vec![0; to_usize(table.size)];
    reader
        .seek(SeekFrom::Start(table.offset))
        .and_then(|_| reader.read_exact(&mut bytes))
        .map_err(AuthenticodeError::io(
            "read the attribute certificate table",
        ))?;
    Ok(bytes)
}

/// Makes the rename durable (Unix: fsync the directory).
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(AuthenticodeError::io("sync the output directory"))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

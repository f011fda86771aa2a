//! Embedding a PKCS#7 signature into a PE file (client side).
//!
//! One streaming pass from the original file to a temporary file in the
//! output's directory: the `CheckSum` field and the Certificate Table entry
//! are patched on the way, the image is padded with zeros to an 8-byte
//! boundary, the attribute certificate table is appended, the image digest
//! and the PE checksum are computed from the bytes written, and the checksum
//! is written last. The temporary file is synced and renamed over the output
//! only when everything succeeded — in particular only when the signature's
//! image digest equals the digest of the bytes written — so the original is
//! untouched on any failure.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sigil_keys::{HashAlgorithm, Hasher};

use crate::checksum::PeChecksum;
use crate::digest::{HashedRanges, STREAM_BUFFER_LEN};
use crate::error::{AuthenticodeError, PeError, Result};
use crate::nest::add_nested_signature;
use crate::pe::{CertificateTable, MAX_IMAGE_LEN, PeLayout, to_usize};
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
/// output is left as it was and no temporary file remains.
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

    let mut source =
        File::open(input).map_err(AuthenticodeError::io("open the PE file to sign"))?;
    let permissions = source
        .metadata()
        .map_err(AuthenticodeError::io("read the PE file's metadata"))?
        .permissions();
    let layout = PeLayout::parse(&mut source)?;

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
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".sigil-sign-")
        .tempfile_in(&dir)
        .map_err(AuthenticodeError::io(
            "create a temporary file next to the output",
        ))?;

    let written = write_signed(
        &mut source,
        temp.as_file_mut(),
        &layout,
        cert_table,
        &table,
        algorithm,
    )?;
    drop(source);
    if written.digest != new_signature.image_digest {
        return Err(AuthenticodeError::DigestMismatch {
            algorithm,
            signed: hex(&new_signature.image_digest),
            actual: hex(&written.digest),
        });
    }

    let file = temp.as_file_mut();
    file.seek(SeekFrom::Start(layout.checksum_offset))
        .and_then(|_| file.write_all(&written.checksum.to_le_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(AuthenticodeError::io("write the signed file"))?;
    fs::set_permissions(temp.path(), permissions).map_err(AuthenticodeError::io(
        "copy the file permissions to the signed file",
    ))?;
    temp.persist(&target).map_err(|e| AuthenticodeError::Io {
        op: "replace the output with the signed file",
        source: e.error,
    })?;
    sync_dir(&dir)?;

    Ok(EmbedReport {
        placement,
        algorithm,
        image_digest: written.digest,
        cert_table,
        checksum: written.checksum,
        file_len,
    })
}

/// Decodes a signature to embed and checks it completely, except for the image digest.
fn checked_signature(pkcs7_der: &[u8]) -> Result<AuthenticodeSignature> {
    if first_der_element(pkcs7_der)?.len() != pkcs7_der.len() {
        return Err(AuthenticodeError::malformed(
            "trailing bytes after the PKCS#7 ContentInfo",
        ));
    }
    let signature = AuthenticodeSignature::from_der(pkcs7_der)?;
    sigil_pki::cms::verify(pkcs7_der, sigil_pki::cms::VerifyContent::Encapsulated)?;
    Ok(signature)
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

/// What the streaming copy produced.
struct Written {
    digest: Vec<u8>,
    checksum: u32,
}

/// Copies the image with patched headers, pads it, appends the table; hashes and checksums on the way.
fn write_signed(
    source: &mut File,
    out: &mut File,
    layout: &PeLayout,
    cert_table: CertificateTable,
    table: &[u8],
    algorithm: HashAlgorithm,
) -> Result<Written> {
    let ranges = HashedRanges::new(layout);
    let mut hasher = Hasher::new(algorithm);
    let mut checksum = PeChecksum::new(layout.checksum_offset);
    // Both fit in 32 bits: checked against MAX_IMAGE_LEN by the caller.
    let cert_dir = [
        (cert_table.offset as u32).to_le_bytes(),
        (cert_table.size as u32).to_le_bytes(),
    ]
    .concat();

    source
        .seek(SeekFrom::Start(0))
        .map_err(AuthenticodeError::io("seek in the PE file"))?;
    let mut buffer = vec![0; STREAM_BUFFER_LEN];
    let mut pos = 0u64;
    let image_end = layout.image_end();
    while pos < image_end {
        let want = to_usize(image_end - pos).min(buffer.len());
        let chunk = buffer.get_mut(..want).unwrap_or_default();
        source.read_exact(chunk).map_err(AuthenticodeError::io(
            "read the PE file (did it change while being signed?)",
        ))?;
        patch(chunk, pos, layout.checksum_offset, &[0; 4]);
        patch(chunk, pos, layout.cert_dir_offset, &cert_dir);
        ranges.for_each_part(pos, chunk, |part| hasher.update(part));
        checksum.update(chunk);
        out.write_all(chunk)
            .map_err(AuthenticodeError::io("write the signed file"))?;
        pos += want as u64;
    }
    let padding = vec![0; to_usize(layout.padding_len())];
    hasher.update(&padding);
    for bytes in [padding.as_slice(), table] {
        checksum.update(bytes);
        out.write_all(bytes)
            .map_err(AuthenticodeError::io("write the signed file"))?;
    }
    Ok(Written {
        digest: hasher.finalize(),
        checksum: checksum.finish(),
    })
}

/// Overwrites the part of `field` (at file offset `field_offset`) that falls in `chunk` (at `pos`).
fn patch(chunk: &mut [u8], pos: u64, field_offset: u64, field: &[u8]) {
    for (i, byte) in field.iter().enumerate() {
        let offset = field_offset + i as u64;
        if let Some(slot) = offset
            .checked_sub(pos)
            .and_then(|at| usize::try_from(at).ok())
            .and_then(|at| chunk.get_mut(at))
        {
            *slot = *byte;
        }
    }
}

/// The file to replace: the target of `output` when it is a symbolic link.
fn resolve_output(output: &Path) -> PathBuf {
    fs::canonicalize(output).unwrap_or_else(|_| output.to_path_buf())
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

//! Signing and verifying files of every [`Subject`] (client side): the dispatch to the module
//! of each kind of file, and what they share (the checked signature, the atomic output).
//!
//! PE images keep their own one-pass path ([`prepare_image`](crate::prepare_image),
//! [`PreparedImage`](crate::PreparedImage)), which also patches the PE checksum and stages
//! the copy while the server works. The other subjects go through [`prepare_file`] and
//! [`PreparedFile::embed`]: each module computes the digest its SIP defines, and writes the
//! signature where its format keeps it, into a temporary file renamed over the output.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use sigil_keys::HashAlgorithm;

use crate::cab::{PreparedCab, prepare_cab, verify_cab_file};
use crate::catalog::{PreparedCatalog, prepare_catalog, verify_catalog_file};
use crate::embed::{EmbedMode, Placement};
use crate::error::{AuthenticodeError, Result};
use crate::prepare::{FileIdentity, parent_dir, resolve_output};
use crate::signature::{AuthenticodeSignature, first_der_element, hex};
use crate::subject::Subject;
use crate::verify::SignatureReport;

/// A file other than a PE image, hashed for signing.
#[derive(Debug)]
pub struct PreparedFile {
    /// Its kind.
    pub subject: Subject,
    /// The hash algorithm of the digest.
    pub algorithm: HashAlgorithm,
    /// The digest its SIP defines (what the server signs).
    pub digest: Vec<u8>,
    /// The file's identity while it was read.
    pub identity: FileIdentity,
    /// What the subject's module keeps for embedding.
    inner: Inner,
}

/// Per-subject state between hashing and embedding.
#[derive(Debug)]
enum Inner {
    Script(crate::script::PreparedScript),
    Msi(crate::msi::PreparedMsi),
    /// A cabinet.
    Cab(PreparedCab),
    /// A catalog.
    Catalog(PreparedCatalog),
}

/// Hashes the file at `path` (of kind `subject`, not [`Subject::Pe`]) with `algorithm`.
///
/// Refuses a malformed file with the error of its format, a file that changed while it was
/// read ([`AuthenticodeError::FileChanged`]), and a subject Sigil cannot sign
/// ([`AuthenticodeError::UnsupportedSubject`]).
pub fn prepare_file(
    subject: Subject,
    path: &Path,
    algorithm: HashAlgorithm,
) -> Result<PreparedFile> {
    let (digest, identity, inner) = match subject {
        Subject::Pe => {
            return Err(AuthenticodeError::UnsupportedSubject {
                subject,
                reason: "PE images are prepared with prepare_image",
            });
        }
        Subject::Script => {
            let (digest, identity, prepared) = crate::script::prepare(path, algorithm)?;
            (digest, identity, Inner::Script(prepared))
        }
        Subject::Msi => {
            let (digest, identity, prepared) = crate::msi::prepare(path, algorithm)?;
            (digest, identity, Inner::Msi(prepared))
        }
        Subject::Cab => {
            let cab = prepare_cab(path, algorithm)?;
            (cab.digest.clone(), cab.identity.clone(), Inner::Cab(cab))
        }
        Subject::Catalog => {
            let catalog = prepare_catalog(path, algorithm)?;
            (
                catalog.digest.clone(),
                catalog.identity.clone(),
                Inner::Catalog(catalog),
            )
        }
    };
    Ok(PreparedFile {
        subject,
        algorithm,
        digest,
        identity,
        inner,
    })
}

impl PreparedFile {
    /// Embeds the Authenticode PKCS#7 `pkcs7_der` into `input` (the prepared file), writing
    /// the signed file to `output` (which may be `input`) atomically.
    ///
    /// Refuses a signature that does not verify, is for another kind of file, or whose digest
    /// is not the prepared one ([`AuthenticodeError::DigestMismatch`]), and a file that
    /// changed since it was prepared ([`AuthenticodeError::FileChanged`]); on any error the
    /// output is left as it was and no temporary file remains.
    pub fn embed(
        &self,
        input: &Path,
        output: &Path,
        pkcs7_der: &[u8],
        mode: EmbedMode,
    ) -> Result<Placement> {
        match &self.inner {
            Inner::Script(script) => {
                let signature = self.checked_signature(pkcs7_der)?;
                script.embed(input, &self.identity, output, &signature, mode)
            }
            Inner::Msi(msi) => {
                let signature = self.checked_signature(pkcs7_der)?;
                msi.embed(input, &self.identity, output, &signature, mode)
            }
            Inner::Cab(cab) => Ok(cab.embed(input, output, pkcs7_der, mode)?.placement),
            // A catalog's signature is over its trust list, not an SpcIndirectDataContent.
            Inner::Catalog(catalog) => catalog.embed(input, output, pkcs7_der, mode),
        }
    }

    /// The server's PKCS#7, checked to be an Authenticode signature of this subject over the
    /// digest that was prepared.
    fn checked_signature(&self, pkcs7_der: &[u8]) -> Result<AuthenticodeSignature> {
        let signature = checked_signature(pkcs7_der, self.subject)?;
        if signature.image_algorithm != Ok(self.algorithm) || signature.image_digest != self.digest
        {
            return Err(AuthenticodeError::DigestMismatch {
                algorithm: self.algorithm,
                signed: hex(&signature.image_digest),
                actual: hex(&self.digest),
            });
        }
        Ok(signature)
    }
}

/// What `sigil verify` found in a signed file of any subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectReport {
    /// The kind of file.
    pub subject: Subject,
    /// The primary signature first, then the nested ones (depth first).
    pub signatures: Vec<SignatureReport>,
    /// For a PE image: the stored and the computed PE checksum.
    pub pe_checksum: Option<(u32, u32)>,
}

impl SubjectReport {
    /// Whether the PE checksum (if any) matches and every signature passed every check.
    pub fn is_valid(&self) -> bool {
        self.pe_checksum
            .is_none_or(|(stored, computed)| stored == computed)
            && self.signatures.iter().all(SignatureReport::is_valid)
    }
}

/// Verifies the Authenticode signatures of the file at `path`, of kind `subject`.
pub fn verify_subject_file(subject: Subject, path: &Path) -> Result<SubjectReport> {
    match subject {
        Subject::Pe => {
            let report = crate::verify_file(path)?;
            Ok(SubjectReport {
                subject,
                pe_checksum: Some((report.stored_checksum, report.computed_checksum)),
                signatures: report.signatures,
            })
        }
        Subject::Script => Ok(SubjectReport {
            subject,
            signatures: crate::script::verify(path)?,
            pe_checksum: None,
        }),
        Subject::Msi => Ok(SubjectReport {
            subject,
            signatures: crate::msi::verify(path)?,
            pe_checksum: None,
        }),
        Subject::Cab => Ok(SubjectReport {
            subject,
            signatures: verify_cab_file(path)?.signatures,
            pe_checksum: None,
        }),
        Subject::Catalog => Ok(SubjectReport {
            subject,
            signatures: verify_catalog_file(path)?.signatures,
            pe_checksum: None,
        }),
    }
}

/// Decodes a signature to embed and checks it completely (for a file of kind `subject`),
/// except for the digest.
pub(crate) fn checked_signature(
    pkcs7_der: &[u8],
    subject: Subject,
) -> Result<AuthenticodeSignature> {
    if first_der_element(pkcs7_der)?.len() != pkcs7_der.len() {
        return Err(AuthenticodeError::malformed(
            "trailing bytes after the PKCS#7 ContentInfo",
        ));
    }
    let signature = AuthenticodeSignature::from_der(pkcs7_der)?;
    if signature.subject != subject {
        return Err(AuthenticodeError::WrongSubject {
            expected: subject,
            found: signature.subject,
        });
    }
    sigil_pki::cms::verify(pkcs7_der, sigil_pki::cms::VerifyContent::Encapsulated)?;
    Ok(signature)
}

/// Opens `input` and checks it is still the file with `identity`.
pub(crate) fn reopen(input: &Path, identity: &FileIdentity) -> Result<File> {
    let source = File::open(input).map_err(AuthenticodeError::io("open the file to sign"))?;
    if FileIdentity::of(&source)? != *identity {
        return Err(AuthenticodeError::FileChanged);
    }
    Ok(source)
}

/// Writes the signed file: `write` fills a temporary file next to `output` (an output symlink
/// is resolved), which gets the permissions of `source`, is synced and renamed over the
/// output, and the directory is synced. On error the temporary file is removed.
pub(crate) fn replace_output(
    source: &File,
    output: &Path,
    write: impl FnOnce(&mut File) -> Result<()>,
) -> Result<()> {
    let permissions = source
        .metadata()
        .map_err(AuthenticodeError::io("read the file's metadata"))?
        .permissions();
    let target = resolve_output(output);
    let dir = parent_dir(&target);
    let mut temp = tempfile::Builder::new()
        .prefix(".sigil-sign-")
        .tempfile_in(&dir)
        .map_err(AuthenticodeError::io(
            "create a temporary file next to the output",
        ))?;
    write(temp.as_file_mut())?;
    temp.as_file_mut()
        .flush()
        .and_then(|()| temp.as_file().sync_all())
        .map_err(AuthenticodeError::io("write the signed file"))?;
    fs::set_permissions(temp.path(), permissions).map_err(AuthenticodeError::io(
        "copy the file permissions to the signed file",
    ))?;
    temp.persist(&target).map_err(|e| AuthenticodeError::Io {
        op: "replace the output with the signed file",
        source: e.error,
    })?;
    #[cfg(unix)]
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(AuthenticodeError::io("sync the output directory"))?;
    Ok(())
}

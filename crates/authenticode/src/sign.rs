//! Assembling a complete Authenticode signature (server side).

use sigil_pki::cms::{self, CmsSigner, SignedContent, SignedDataOptions};

use crate::content::{AuthenticodeContent, SPC_INDIRECT_DATA_OBJID, signed_attributes};
use crate::error::Result;
use crate::subject::Subject;

/// Signs a client's PE image digest: returns the DER `ContentInfo` (PKCS#7
/// SignedData) that [`embed_signature`](crate::embed_signature) writes into the file.
///
/// The image digest must have been computed with `signer.hash`. The result is
/// what signtool writes: SignedData version 1, `SpcIndirectDataContent` as the
/// eContent SEQUENCE, signed attributes `contentType`, `messageDigest`,
/// `SpcSpOpusInfo` (with the optional program name and URL) and
/// `SpcStatementType` (individual code signing), no `signingTime` (a trusted
/// time comes from a timestamp, not from the signer's clock). The signature is
/// verified against the certificate before it is returned.
pub fn sign_image_digest(
    signer: &CmsSigner<'_>,
    image_digest: &[u8],
    program_name: Option<&str>,
    more_info_url: Option<&str>,
) -> Result<Vec<u8>> {
    sign_subject_digest(
        signer,
        Subject::Pe,
        image_digest,
        program_name,
        more_info_url,
    )
}

/// Signs a client's digest of a file of kind `subject` (see [`Subject`]): the same
/// SignedData as [`sign_image_digest`], with the `SpcIndirectDataContent` of that subject
/// ([`AuthenticodeContent::for_subject`]); for a catalog, a detached signature over its
/// certificate trust list ([`sign_catalog_digest`](crate::catalog::sign_catalog_digest)).
pub fn sign_subject_digest(
    signer: &CmsSigner<'_>,
    subject: Subject,
    digest: &[u8],
    program_name: Option<&str>,
    more_info_url: Option<&str>,
) -> Result<Vec<u8>> {
    let content = match subject {
        Subject::Pe | Subject::Msi | Subject::Cab | Subject::Script => {
            AuthenticodeContent::for_subject(subject, signer.hash, digest)?
        }
        Subject::Catalog => {
            return crate::catalog::sign_catalog_digest(
                signer,
                digest,
                program_name,
                more_info_url,
            );
        }
    };
    let options = SignedDataOptions {
        signing_time: None,
        signed_attributes: signed_attributes(program_name, more_info_url)?,
        unsigned_attributes: Vec::new(),
        pkcs7_version_1: true,
    };
    let content = SignedContent::Encapsulated {
        content_type: SPC_INDIRECT_DATA_OBJID,
        econtent: content.econtent_der(),
    };
    Ok(cms::sign(signer, content, &options)?)
}

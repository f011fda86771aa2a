//! Signing a catalog's digest (server side).

use sigil_pki::cms::{self, CmsSigner, SignedContent, SignedDataOptions};

use super::parse::MS_CTL_OBJID;
use crate::content::{check_digest_len, signed_attributes};
use crate::error::Result;

/// Signs the client's digest of a catalog's certificate trust list: returns a DER
/// `ContentInfo` with a *detached* SignedData (content type `szOID_CTL`, no eContent) that
/// the client completes with the CTL ([`PreparedCatalog::embed`](super::PreparedCatalog::embed)).
///
/// The same SignedData as for the rest of the family: version 1, signed attributes
/// `contentType` (CTL), `messageDigest` (the digest given), `SpcSpOpusInfo` and
/// `SpcStatementType`, no `signingTime`; the signature is checked before it is returned.
pub fn sign_catalog_digest(
    signer: &CmsSigner<'_>,
    digest: &[u8],
    program_name: Option<&str>,
    more_info_url: Option<&str>,
) -> Result<Vec<u8>> {
    check_digest_len(signer.hash, digest)?;
    let options = SignedDataOptions {
        signing_time: None,
        signed_attributes: signed_attributes(program_name, more_info_url)?,
        unsigned_attributes: Vec::new(),
        pkcs7_version_1: true,
    };
    let content = SignedContent::Detached {
        content_type: MS_CTL_OBJID,
        digest,
    };
    Ok(cms::sign(signer, content, &options)?)
}

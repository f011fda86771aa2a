//! Local verification of a signed catalog file (`sigil verify FILE.cat`).
//!
//! For its (single) signer: the signed `messageDigest` against the digest of the CTL, and
//! the CMS checks (`contentType`, the signature with the signer certificate's key). Trust
//! in the signer, and whether the files the catalog lists match it, are left to the caller.

use std::fs::File;
use std::path::Path;

use ::cms::cert::CertificateChoices;
use der::Encode;
use sigil_keys::HashAlgorithm;
use sigil_pki::cms::{self, CmsError, VerifyContent};

use super::parse::{Catalog, signed_message_digest};
use crate::error::{AuthenticodeError, Result};
use crate::signature::{Check, hex, matches_sid};
use crate::verify::SignatureReport;

/// The result of verifying a signed catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogVerificationReport {
    /// The catalog's signature (one; catalogs do not nest signatures).
    pub signatures: Vec<SignatureReport>,
}

impl CatalogVerificationReport {
    /// Whether the signature passed every check.
    pub fn is_valid(&self) -> bool {
        self.signatures.iter().all(SignatureReport::is_valid)
    }
}

/// Verifies the signature of the catalog file at `path`.
pub fn verify_catalog_file(path: &Path) -> Result<CatalogVerificationReport> {
    let mut file = File::open(path).map_err(AuthenticodeError::io("open the catalog file"))?;
    let catalog = Catalog::read(&mut file)?;
    verify_catalog(&catalog)
}

/// Verifies the signature of a decoded catalog.
pub fn verify_catalog(catalog: &Catalog) -> Result<CatalogVerificationReport> {
    let signed_data = &catalog.signed_data;
    let signer = signed_data
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or(AuthenticodeError::NotSigned)?;
    let pkcs7 = ::cms::content_info::ContentInfo {
        content_type: const_oid::db::rfc5911::ID_SIGNED_DATA,
        content: der::asn1::Any::encode_from(signed_data)
            .map_err(AuthenticodeError::encode("SignedData"))?,
    }
    .to_der()
    .map_err(AuthenticodeError::encode("catalog"))?;

    let algorithm = HashAlgorithm::from_oid(&signer.digest_alg.oid).ok_or(signer.digest_alg.oid);
    let signed_digest = signed_message_digest(signer).unwrap_or_default();
    let computed_digest = algorithm.ok().map(|a| catalog.digest(a));
    let image_digest = match (&algorithm, &computed_digest) {
        (Err(oid), _) => Check::NotChecked(format!("digest algorithm {oid} is not supported")),
        (Ok(_), Some(computed)) if *computed == signed_digest => Check::Passed,
        (Ok(_), computed) => Check::Failed(format!(
            "the signature covers digest {} but the catalog's trust list hashes to {}: the catalog was modified after signing",
            hex(&signed_digest),
            computed.as_deref().map(hex).unwrap_or_default()
        )),
    };
    let signature = match cms::verify(&pkcs7, VerifyContent::Encapsulated) {
        Ok(_) => Check::Passed,
        Err(e @ (CmsError::UnsupportedDigest(_) | CmsError::UnsupportedSignature(_))) => {
            Check::NotChecked(e.to_string())
        }
        Err(e) => Check::Failed(e.to_string()),
    };
    let certificate = signed_data.certificates.as_ref().and_then(|set| {
        set.0.iter().find_map(|choice| match choice {
            CertificateChoices::Certificate(cert) => matches_sid(cert, &signer.sid).then_some(cert),
            _ => None,
        })
    });
    Ok(CatalogVerificationReport {
        signatures: vec![SignatureReport {
            depth: 0,
            signer_subject: certificate.map(|c| c.tbs_certificate().subject().to_string()),
            signer_issuer: certificate.map(|c| c.tbs_certificate().issuer().to_string()),
            algorithm,
            signed_digest,
            computed_digest,
            image_digest,
            signature,
            pkcs7,
        }],
    })
}

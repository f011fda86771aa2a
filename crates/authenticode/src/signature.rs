//! Reading an Authenticode PKCS#7 `ContentInfo` (embedded in a file, or handed in for embedding).

use ::cms::cert::CertificateChoices;
use ::cms::content_info::ContentInfo;
use ::cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::ID_SIGNED_DATA;
use der::{Decode, Encode, Header, SliceReader, Tag, Tagged};
use sigil_keys::HashAlgorithm;
use sigil_pki::cms::{self, CmsError, VerifyContent};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use crate::content::{
    SPC_INDIRECT_DATA_OBJID, SPC_NESTED_SIGNATURE_OBJID, SpcIndirectDataContent, content_subject,
    signed_image_digest,
};
use crate::error::{AuthenticodeError, Result};
use crate::subject::Subject;

/// How deep nested signatures are followed (a nested signature inside a nested one, ...).
pub const MAX_NESTING_DEPTH: usize = 4;
/// Most signatures (primary and nested together) read from one file.
pub const MAX_SIGNATURES: usize = 32;

/// The first DER element of `data` (a `WIN_CERTIFICATE` may carry padding after it).
pub(crate) fn first_der_element(data: &[u8]) -> Result<&[u8]> {
    let malformed = |e: der::Error| AuthenticodeError::malformed(format!("not DER: {e}"));
    let reader = SliceReader::new(data).map_err(malformed)?;
    let header = Header::peek(&reader).map_err(malformed)?;
    let total = header.length().for_tlv(header.tag()).map_err(malformed)?;
    let total = usize::try_from(total).map_err(malformed)?;
    data.get(..total)
        .ok_or_else(|| AuthenticodeError::malformed("the PKCS#7 structure is truncated"))
}

/// A decoded Authenticode signature.
#[derive(Clone, Debug)]
pub(crate) struct AuthenticodeSignature {
    /// The SignedData.
    pub(crate) signed_data: SignedData,
    /// The image digest algorithm (from `SpcIndirectDataContent`), or the unsupported OID.
    pub(crate) image_algorithm: std::result::Result<HashAlgorithm, ObjectIdentifier>,
    /// The signed image digest.
    pub(crate) image_digest: Vec<u8>,
    /// The kind of file the `SpcIndirectDataContent` names.
    pub(crate) subject: Subject,
    /// The DER `ContentInfo`.
    pub(crate) der: Vec<u8>,
}

impl AuthenticodeSignature {
    /// Decodes a DER `ContentInfo` holding an Authenticode SignedData.
    pub(crate) fn from_der(der: &[u8]) -> Result<Self> {
        let content_info = ContentInfo::from_der(der).map_err(|e| {
            AuthenticodeError::malformed(format!("ContentInfo does not decode: {e}"))
        })?;
        if content_info.content_type != ID_SIGNED_DATA {
            return Err(AuthenticodeError::malformed(format!(
                "content type is {}, not signedData",
                content_info.content_type
            )));
        }
        let signed_data: SignedData = content_info.content.decode_as().map_err(|e| {
            AuthenticodeError::malformed(format!("SignedData does not decode: {e}"))
        })?;
        let encap = &signed_data.encap_content_info;
        if encap.econtent_type != SPC_INDIRECT_DATA_OBJID {
            return Err(AuthenticodeError::malformed(format!(
                "content type is {}, not SPC_INDIRECT_DATA ({SPC_INDIRECT_DATA_OBJID})",
                encap.econtent_type
            )));
        }
        let econtent = encap
            .econtent
            .as_ref()
            .ok_or_else(|| AuthenticodeError::malformed("no eContent (detached signature)"))?;
        if econtent.tag() != Tag::Sequence {
            return Err(AuthenticodeError::malformed(format!(
                "eContent is a {}, but Authenticode wants the SpcIndirectDataContent SEQUENCE itself",
                econtent.tag()
            )));
        }
        let indirect: SpcIndirectDataContent = econtent.decode_as().map_err(|e| {
            AuthenticodeError::malformed(format!("SpcIndirectDataContent does not decode: {e}"))
        })?;
        let subject = content_subject(&indirect.data).ok_or_else(|| {
            AuthenticodeError::malformed(format!(
                "SpcIndirectDataContent is for {} data, which Sigil does not know",
                indirect.data.value_type
            ))
        })?;
        let (image_algorithm, image_digest) = match signed_image_digest(&indirect) {
            Ok((algorithm, digest)) => (Ok(algorithm), digest),
            Err(AuthenticodeError::UnsupportedDigestAlgorithm { oid }) => {
                (Err(oid), indirect.message_digest.digest.as_bytes().to_vec())
            }
            Err(e) => return Err(e),
        };
        if signed_data.signer_infos.0.is_empty() {
            return Err(AuthenticodeError::malformed("SignedData has no SignerInfo"));
        }
        Ok(AuthenticodeSignature {
            der: der.to_vec(),
            signed_data,
            image_algorithm,
            image_digest,
            subject,
        })
    }

    /// The (first) SignerInfo; Authenticode has exactly one.
    pub(crate) fn signer_info(&self) -> Option<&SignerInfo> {
        self.signed_data.signer_infos.0.iter().next()
    }

    /// The signer's certificate, found in the SignedData's certificates by the SignerIdentifier.
    pub(crate) fn signer_certificate(&self) -> Option<&Certificate> {
        let sid = &self.signer_info()?.sid;
        let certificates = self.signed_data.certificates.as_ref()?;
        certificates.0.iter().find_map(|choice| match choice {
            CertificateChoices::Certificate(cert) => matches_sid(cert, sid).then_some(cert),
            _ => None,
        })
    }

    /// The CMS check: `messageDigest` over the `SpcIndirectDataContent`, `contentType`,
    /// and the signer's signature with its certificate's key (not the chain).
    pub(crate) fn cms_check(&self) -> Check {
        match cms::verify(&self.der, VerifyContent::Encapsulated) {
            Ok(_) => Check::Passed,
            Err(e @ (CmsError::UnsupportedDigest(_) | CmsError::UnsupportedSignature(_))) => {
                Check::NotChecked(e.to_string())
            }
            Err(e) => Check::Failed(e.to_string()),
        }
    }

    /// The DER `ContentInfo`s of the nested signatures in the first SignerInfo's unsigned attributes.
    pub(crate) fn nested_der(&self) -> Result<Vec<Vec<u8>>> {
        let Some(attrs) = self.signer_info().and_then(|s| s.unsigned_attrs.as_ref()) else {
            return Ok(Vec::new());
        };
        attrs
            .iter()
            .filter(|attr| attr.oid == SPC_NESTED_SIGNATURE_OBJID)
            .flat_map(|attr| attr.values.iter())
            .map(|value| {
                value
                    .to_der()
                    .map_err(AuthenticodeError::encode("nested signature"))
            })
            .collect()
    }
}

/// Whether `cert` is the one a SignerIdentifier names.
pub(crate) fn matches_sid(cert: &Certificate, sid: &SignerIdentifier) -> bool {
    let tbs = cert.tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            tbs.issuer() == &isn.issuer && tbs.serial_number() == &isn.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            matches!(tbs.get_extension::<SubjectKeyIdentifier>(), Ok(Some((_, own))) if &own == ski)
        }
    }
}

/// Result of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// The check ran and passed.
    Passed,
    /// The check ran and failed, for this reason.
    Failed(String),
    /// The check could not run, for this reason.
    NotChecked(String),
}

impl Check {
    /// Whether the check ran and passed.
    pub fn passed(&self) -> bool {
        matches!(self, Check::Passed)
    }
}

/// Lower-case hex, for messages.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

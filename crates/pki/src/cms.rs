//! CMS `SignedData` (RFC 5652) made with any Sigil key, and its verification.
//!
//! One builder serves every format: Authenticode encapsulates its
//! `SpcIndirectDataContent`, JAR signs its `.SF` file detached (the server
//! only ever sees the file's digest), and raw CMS callers sign data.
//!
//! The `cms` crate's own builder is not used for assembly: it always writes
//! `SignedData` version 3 for non-`data` content (Authenticode wants version
//! 1), panics on some inputs, and cannot take a signer whose algorithm is
//! only known at run time. The ASN.1 types are the crate's.

use std::time::SystemTime;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedAttributes, SignedData, SignerIdentifier,
    SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use sigil_keys::{HashAlgorithm, KeyError, KeyFamily, RsaPadding, SignatureAlgorithm, SigningKey};
use thiserror::Error;
use x509_cert::Certificate;
use x509_cert::attr::{Attribute, AttributeValue};
use x509_cert::time::Time;

/// The largest `ContentInfo` [`verify`] reads (a signature block with its chain is a few KiB).
pub const MAX_SIGNED_DATA_LEN: usize = 1 << 20;
/// The most signers [`verify`] accepts in one `SignedData`.
pub const MAX_SIGNERS: usize = 16;

/// Why building or verifying a `SignedData` failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CmsError {
    /// The structure could not be encoded or decoded.
    #[error("malformed CMS structure: {0}")]
    Asn1(#[from] der::Error),
    /// The key refused to sign, or a signature did not verify.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The input is larger than [`MAX_SIGNED_DATA_LEN`].
    #[error("the CMS structure is {0} bytes, more than the {MAX_SIGNED_DATA_LEN}-byte limit")]
    TooLarge(usize),
    /// The `ContentInfo` does not hold `SignedData`.
    #[error("expected CMS SignedData, found content type {0}")]
    NotSignedData(ObjectIdentifier),
    /// There are no signers, or more than [`MAX_SIGNERS`].
    #[error("SignedData has {0} signers: expected 1 to {MAX_SIGNERS}")]
    SignerCount(usize),
    /// A digest algorithm Sigil does not support.
    #[error("unsupported digest algorithm {0}: Sigil verifies SHA-256, SHA-384 and SHA-512")]
    UnsupportedDigest(ObjectIdentifier),
    /// A signature algorithm Sigil does not support.
    #[error("unsupported signature algorithm {0}")]
    UnsupportedSignature(ObjectIdentifier),
    /// A required signed attribute is missing or has no single value.
    #[error("the signer has no single {0} signed attribute")]
    MissingAttribute(&'static str),
    /// The signed `messageDigest` does not match the content.
    #[error(
        "the signed message digest does not match the content: the content was changed after signing"
    )]
    DigestMismatch,
    /// The signed `contentType` does not match `eContentType`.
    #[error("the signed content type does not match the encapsulated content type")]
    ContentTypeMismatch,
    /// The signer's certificate is not in the `SignedData`.
    #[error("the signer's certificate is not included in the signature")]
    SignerCertificateMissing,
    /// The caller's digest has the wrong length.
    #[error("a {hash} digest is {expected} bytes, got {actual}")]
    DigestLength {
        /// Hash algorithm.
        hash: HashAlgorithm,
        /// Its length.
        expected: usize,
        /// What was given.
        actual: usize,
    },
    /// A DSA signature (read, never made) does not verify with the signer's key.
    #[error("the DSA signature does not verify with the signer certificate's key")]
    BadDsaSignature,
    /// A detached signature was verified without its content, or encapsulated content was given too.
    #[error("{0}")]
    ContentMismatch(&'static str),
}

/// What a `SignedData` signs.
#[derive(Clone, Copy, Debug)]
pub enum SignedContent<'a> {
    /// The content travels inside (`eContent`). `econtent` is the complete DER
    /// value placed in `eContent`; the message digest covers its value octets
    /// (without tag and length), as RFC 5652 §5.4 and Authenticode specify.
    Encapsulated {
        /// `eContentType`.
        content_type: ObjectIdentifier,
        /// DER of the `eContent` value (an OCTET STRING for `id-data`, a SEQUENCE for Authenticode).
        econtent: &'a [u8],
    },
    /// A detached signature over content the signer never sees, given by its digest.
    Detached {
        /// `eContentType` (usually `id-data`).
        content_type: ObjectIdentifier,
        /// The digest of the content, computed by the client with the signer's hash.
        digest: &'a [u8],
    },
}

/// The key and certificates a `SignedData` is made with.
pub struct CmsSigner<'a> {
    /// The signing key.
    pub key: &'a dyn SigningKey,
    /// The certificate of `key`; identifies the signer (issuer and serial number).
    pub certificate: &'a Certificate,
    /// Further certificates to include (intermediates, root).
    pub chain: &'a [Certificate],
    /// The digest algorithm.
    pub hash: HashAlgorithm,
    /// RSA padding (ignored for other keys).
    pub padding: RsaPadding,
}

/// Optional parts of a `SignedData`.
#[derive(Clone, Debug, Default)]
pub struct SignedDataOptions {
    /// Adds a `signingTime` signed attribute.
    pub signing_time: Option<SystemTime>,
    /// Further signed attributes (for example Authenticode's `SpcSpOpusInfo`).
    pub signed_attributes: Vec<Attribute>,
    /// Unsigned attributes (for example a nested signature or a timestamp).
    pub unsigned_attributes: Vec<Attribute>,
    /// Writes `SignedData` version 1 whatever the content type, as PKCS#7 v1.5 and
    /// Authenticode require, instead of RFC 5652's version 3 for non-`data` content.
    pub pkcs7_version_1: bool,
}

/// Builds and signs a DER `ContentInfo` holding `SignedData`.
///
/// The signature is checked against the certificate's public key before it is
/// returned, so a faulty key or HSM never produces a bad signature silently.
pub fn sign(
    signer: &CmsSigner<'_>,
    content: SignedContent<'_>,
    options: &SignedDataOptions,
) -> Result<Vec<u8>, CmsError> {
    let hash = signer.hash;
    let (content_type, econtent, message_digest) = match content {
        SignedContent::Encapsulated {
            content_type,
            econtent,
        } => {
            let any = Any::from_der(econtent)?;
            let digest = hash.digest(any.value());
            (content_type, Some(any), digest)
        }
        SignedContent::Detached {
            content_type,
            digest,
        } => {
            check_len(hash, digest)?;
            (content_type, None, digest.to_vec())
        }
    };

    let mut attributes = vec![
        attribute(rfc5911::ID_CONTENT_TYPE, Any::encode_from(&content_type)?)?,
        attribute(
            rfc5911::ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(message_digest)?)?,
        )?,
    ];
    if let Some(time) = options.signing_time {
        let time = Time::try_from(time)?;
        attributes.push(attribute(
            rfc5911::ID_SIGNING_TIME,
            Any::encode_from(&time)?,
        )?);
    }
    attributes.extend(options.signed_attributes.iter().cloned());
    let signed_attrs: SignedAttributes = SetOfVec::try_from(attributes)?;

    // RFC 5652 §5.4: the signature covers the DER of the attributes as a SET OF.
    let to_sign = signed_attrs.to_der()?;
    let signature = signer.key.sign_message(hash, signer.padding, &to_sign)?;
    let algorithm = SignatureAlgorithm {
        family: signer.key.algorithm().family(),
        hash,
        padding: signer.padding,
    };
    sigil_keys::verify_message(
        signer
            .certificate
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()?
            .as_slice(),
        hash,
        signer.padding,
        &to_sign,
        &signature,
    )?;

    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: signer.certificate.tbs_certificate().issuer().clone(),
            serial_number: signer.certificate.tbs_certificate().serial_number().clone(),
        }),
        digest_alg: hash.algorithm_identifier(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: algorithm.cms_algorithm_identifier()?,
        signature: OctetString::new(signature)?,
        unsigned_attrs: if options.unsigned_attributes.is_empty() {
            None
        } else {
            Some(SetOfVec::try_from(options.unsigned_attributes.clone())?)
        },
    };

    let mut certificates = vec![CertificateChoices::Certificate(signer.certificate.clone())];
    for cert in signer.chain {
        if cert != signer.certificate {
            certificates.push(CertificateChoices::Certificate(cert.clone()));
        }
    }

    let version = if options.pkcs7_version_1 || content_type == rfc5911::ID_DATA {
        CmsVersion::V1
    } else {
        CmsVersion::V3
    };
    let signed_data = SignedData {
        version,
        digest_algorithms: SetOfVec::try_from(vec![hash.algorithm_identifier()])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: content_type,
            econtent,
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(certificates)?)),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info])?,
    };
    let content_info = ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data)?,
    };
    Ok(content_info.to_der()?)
}

/// Builds one signed or unsigned attribute with a single value.
pub fn attribute(oid: ObjectIdentifier, value: AttributeValue) -> Result<Attribute, CmsError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// What the content of a `SignedData` being verified is.
#[derive(Clone, Copy, Debug)]
pub enum VerifyContent<'a> {
    /// The content is inside the `SignedData`.
    Encapsulated,
    /// The signature is detached; these are the content bytes it signs.
    Detached(&'a [u8]),
}

/// A signer whose signature verified.
#[derive(Clone, Debug)]
pub struct VerifiedSigner {
    /// The signer's certificate, taken from the `SignedData`.
    pub certificate: Certificate,
    /// The digest algorithm.
    pub hash: HashAlgorithm,
    /// The signed `messageDigest`.
    pub message_digest: Vec<u8>,
    /// The signer's unsigned attributes (nested signatures, timestamps).
    pub unsigned_attributes: Vec<Attribute>,
}

/// Decodes a DER `ContentInfo` holding `SignedData`, within [`MAX_SIGNED_DATA_LEN`].
pub fn decode_signed_data(der: &[u8]) -> Result<SignedData, CmsError> {
    if der.len() > MAX_SIGNED_DATA_LEN {
        return Err(CmsError::TooLarge(der.len()));
    }
    let content_info = ContentInfo::from_der(der)?;
    if content_info.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(CmsError::NotSignedData(content_info.content_type));
    }
    Ok(content_info.content.decode_as::<SignedData>()?)
}

/// Verifies every signer of a DER `ContentInfo`: the message digest against the
/// content, the content type, and the signature against the signer's certificate.
///
/// It does not validate the certificate chain to a trust anchor; callers that
/// need that check the returned certificates.
pub fn verify(der: &[u8], content: VerifyContent<'_>) -> Result<Vec<VerifiedSigner>, CmsError> {
    let signed_data = decode_signed_data(der)?;
    let encap = &signed_data.encap_content_info;
    let content_bytes: &[u8] = match (content, &encap.econtent) {
        (VerifyContent::Encapsulated, Some(econtent)) => econtent.value(),
        (VerifyContent::Detached(bytes), None) => bytes,
        (VerifyContent::Encapsulated, None) => {
            return Err(CmsError::ContentMismatch(
                "the signature is detached: give the signed content to verify it",
            ));
        }
        (VerifyContent::Detached(_), Some(_)) => {
            return Err(CmsError::ContentMismatch(
                "the signature encapsulates its content: it is not a detached signature",
            ));
        }
    };
    let signer_infos = signed_data.signer_infos.0.as_slice();
    if signer_infos.is_empty() || signer_infos.len() > MAX_SIGNERS {
        return Err(CmsError::SignerCount(signer_infos.len()));
    }
    signer_infos
        .iter()
        .map(|info| verify_signer(&signed_data, info, content_bytes))
        .collect()
}

fn verify_signer(
    signed_data: &SignedData,
    info: &SignerInfo,
    content: &[u8],
) -> Result<VerifiedSigner, CmsError> {
    let hash = HashAlgorithm::from_oid(&info.digest_alg.oid)
        .ok_or(CmsError::UnsupportedDigest(info.digest_alg.oid))?;
    let signed_attrs = info
        .signed_attrs
        .as_ref()
        .ok_or(CmsError::MissingAttribute("messageDigest"))?;
    let message_digest = single_value(signed_attrs, rfc5911::ID_MESSAGE_DIGEST, "messageDigest")?
        .decode_as::<OctetString>()?
        .into_bytes()
        .into_vec();
    if message_digest != hash.digest(content) {
        return Err(CmsError::DigestMismatch);
    }
    let content_type = single_value(signed_attrs, rfc5911::ID_CONTENT_TYPE, "contentType")?
        .decode_as::<ObjectIdentifier>()?;
    if content_type != signed_data.encap_content_info.econtent_type {
        return Err(CmsError::ContentTypeMismatch);
    }

    let certificate = find_signer_certificate(signed_data, &info.sid)?;
    let verified = |certificate| VerifiedSigner {
        certificate,
        hash,
        message_digest,
        unsigned_attributes: info
            .unsigned_attrs
            .as_ref()
            .map(|a| a.as_slice().to_vec())
            .unwrap_or_default(),
    };
    if DSA_SIGNATURES.contains(&info.signature_algorithm.oid) {
        verify_dsa(
            &certificate,
            hash,
            &signed_attrs.to_der()?,
            info.signature.as_bytes(),
        )?;
        return Ok(verified(certificate));
    }
    let (family_hint, padding) = match info.signature_algorithm.oid {
        rfc5912::RSA_ENCRYPTION
        | rfc5912::SHA_256_WITH_RSA_ENCRYPTION
        | rfc5912::SHA_384_WITH_RSA_ENCRYPTION
        | rfc5912::SHA_512_WITH_RSA_ENCRYPTION => (KeyFamily::Rsa, RsaPadding::Pkcs1v15),
        rfc5912::ID_RSASSA_PSS => (KeyFamily::Rsa, RsaPadding::Pss),
        rfc5912::ECDSA_WITH_SHA_256 | rfc5912::ECDSA_WITH_SHA_384 | rfc5912::ECDSA_WITH_SHA_512 => {
            (KeyFamily::Ecdsa, RsaPadding::Pkcs1v15)
        }
        other => return Err(CmsError::UnsupportedSignature(other)),
    };
    let spki = certificate
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()?;
    if sigil_keys::inspect_public_key(&spki)?.algorithm.family() != family_hint {
        return Err(CmsError::UnsupportedSignature(info.signature_algorithm.oid));
    }
    sigil_keys::verify_message(
        &spki,
        hash,
        padding,
        &signed_attrs.to_der()?,
        info.signature.as_bytes(),
    )?;
    Ok(verified(certificate))
}

/// DSA in a `SignerInfo`: the key's OID (as the JDK writes it) or DSA with a SHA-2 hash.
const DSA_SIGNATURES: [ObjectIdentifier; 5] = [
    ObjectIdentifier::new_unwrap("1.2.840.10040.4.1"),
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.1"),
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.2"),
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.3"),
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.4"),
];

/// Verifies a DSA signature over `signed_attrs` with the certificate's DSA key: JAR signature
/// blocks made by jarsigner with DSA keys are read; Sigil never signs with DSA.
fn verify_dsa(
    certificate: &Certificate,
    hash: HashAlgorithm,
    signed_attrs: &[u8],
    signature: &[u8],
) -> Result<(), CmsError> {
    use signature::hazmat::PrehashVerifier as _;
    let spki = certificate
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()?;
    let key = spki::SubjectPublicKeyInfoRef::from_der(&spki)
        .ok()
        .and_then(|info| dsa::VerifyingKey::try_from(info).ok())
        .ok_or(CmsError::BadDsaSignature)?;
    let signature = dsa::Signature::try_from(signature).map_err(|_| CmsError::BadDsaSignature)?;
    key.verify_prehash(&hash.digest(signed_attrs), &signature)
        .map_err(|_| CmsError::BadDsaSignature)
}

fn single_value<'a>(
    attributes: &'a SignedAttributes,
    oid: ObjectIdentifier,
    name: &'static str,
) -> Result<&'a AttributeValue, CmsError> {
    let mut matching = attributes.iter().filter(|a| a.oid == oid);
    match (matching.next(), matching.next()) {
        (Some(attr), None) if attr.values.len() == 1 => {
            attr.values.get(0).ok_or(CmsError::MissingAttribute(name))
        }
        _ => Err(CmsError::MissingAttribute(name)),
    }
}

fn find_signer_certificate(
    signed_data: &SignedData,
    sid: &SignerIdentifier,
) -> Result<Certificate, CmsError> {
    let SignerIdentifier::IssuerAndSerialNumber(id) = sid else {
        return Err(CmsError::SignerCertificateMissing);
    };
    signed_data
        .certificates
        .as_ref()
        .into_iter()
        .flat_map(|set| set.0.iter())
        .find_map(|choice| match choice {
            CertificateChoices::Certificate(cert)
                if cert.tbs_certificate().issuer() == &id.issuer
                    && cert.tbs_certificate().serial_number() == &id.serial_number =>
            {
                Some(cert.clone())
            }
            _ => None,
        })
        .ok_or(CmsError::SignerCertificateMissing)
}

fn check_len(hash: HashAlgorithm, digest: &[u8]) -> Result<(), CmsError> {
    if digest.len() == hash.digest_len() {
        Ok(())
    } else {
        Err(CmsError::DigestLength {
            hash,
            expected: hash.digest_len(),
            actual: digest.len(),
        })
    }
}

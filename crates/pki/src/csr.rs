//! PKCS#10 certificate signing requests (RFC 2986): reading, verifying and making them.
//!
//! A [`Csr`] is only parsed; [`Csr::verify`] checks its self-signature and
//! its key type and yields a [`VerifiedCsr`], the only form
//! [`crate::ca::issue`] accepts. The requested subject alternative names are
//! read from the `extensionRequest` attribute (RFC 2985 §5.4.2); any other
//! requested extension is ignored, because the profile decides extensions.

use const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME;
use const_oid::db::rfc5912::ID_EXTENSION_REQ;
use der::asn1::{AnyRef, BitString, BitStringRef, SetOfVec};
use der::{Decode, Encode, Sequence};
use sigil_keys::{KeyAlgorithm, SigningKey};
use signature::Signer;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq, Version};

use crate::dn::DistinguishedName;
use crate::error::decode_error;
use crate::pem::{CSR_LABEL, decode_blocks, encode};
use crate::profile::Profile;
use crate::san::{MAX_SANS, San, general_names};
use crate::signer::KeySigner;
use crate::{PkiError, sigalg};

/// The largest CSR read (PEM or DER).
pub const MAX_CSR_LEN: usize = 64 * 1024;
/// The most attributes a CSR may carry.
pub const MAX_CSR_ATTRIBUTES: usize = 16;
/// The most extensions an `extensionRequest` may carry.
pub const MAX_REQUESTED_EXTENSIONS: usize = 32;

const WHAT: &str = "CSR";

/// A parsed, not yet verified CSR.
#[derive(Clone, Debug)]
pub struct Csr {
    request: CertReq,
    /// The `CertificationRequestInfo` exactly as received: the bytes the signature covers.
    info_der: Vec<u8>,
    signature: Vec<u8>,
}

/// The received layout, to keep the signed bytes as they were sent.
#[derive(Sequence)]
struct RawCertReq<'a> {
    info: AnyRef<'a>,
    algorithm: AnyRef<'a>,
    signature: BitStringRef<'a>,
}

impl Csr {
    /// Reads a CSR from PEM (`CERTIFICATE REQUEST` or the older `NEW CERTIFICATE REQUEST`) or DER.
    pub fn parse(input: &[u8]) -> Result<Self, PkiError> {
        let mut ders = decode_blocks(
            input,
            WHAT,
            &[CSR_LABEL, "NEW CERTIFICATE REQUEST"],
            MAX_CSR_LEN,
            1,
        )?;
        let der = ders.pop().ok_or(PkiError::Empty { what: WHAT })?;
        Self::from_der(&der)
    }

    fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        // The typed decode first: its errors say what is wrong.
        let request = CertReq::from_der(der).map_err(|e| decode_error(WHAT, e))?;
        let raw = RawCertReq::from_der(der).map_err(|e| decode_error(WHAT, e))?;
        if request.info.attributes.len() > MAX_CSR_ATTRIBUTES {
            return Err(PkiError::TooMany {
                what: "CSR attribute",
                max: MAX_CSR_ATTRIBUTES,
            });
        }
        let signature = raw
            .signature
            .as_bytes()
            .ok_or_else(|| PkiError::Malformed {
                what: WHAT,
                detail: "the signature BIT STRING has unused bits".into(),
            })?
            .to_vec();
        Ok(Self {
            info_der: raw.info.to_der()?,
            request,
            signature,
        })
    }

    /// Checks the CSR's self-signature and reads its subject, key and requested names.
    ///
    /// Errors: [`PkiError::UnsupportedKey`] for keys Sigil cannot certify (RSA
    /// below 2048 bits, curves other than P-256/P-384, ...),
    /// [`PkiError::UnsupportedSignatureAlgorithm`],
    /// [`PkiError::BadCsrSignature`], and malformed-name errors for the
    /// requested subject alternative names.
    pub fn verify(&self) -> Result<VerifiedCsr, PkiError> {
        let info = &self.request.info;
        let public_key_der = info.public_key.to_der()?;
        let public_key = sigalg::verify(
            &public_key_der,
            &self.request.algorithm,
            &self.info_der,
            &self.signature,
        )
        .map_err(|e| match e {
            sigalg::VerifyError::Pki(e) => e,
            sigalg::VerifyError::BadSignature => PkiError::BadCsrSignature,
        })?;
        Ok(VerifiedCsr {
            subject: info.subject.clone().into(),
            key_algorithm: public_key.algorithm,
            public_key_der: public_key.der,
            sans: requested_sans(&self.request)?,
        })
    }

    /// The CSR as DER.
    pub fn to_der(&self) -> Result<Vec<u8>, PkiError> {
        Ok(self.request.to_der()?)
    }

    /// The CSR as PEM.
    pub fn to_pem(&self) -> Result<String, PkiError> {
        encode(CSR_LABEL, &self.to_der()?)
    }

    /// The decoded request.
    pub fn as_cert_req(&self) -> &CertReq {
        &self.request
    }
}

/// A CSR whose self-signature verified and whose key Sigil supports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCsr {
    subject: DistinguishedName,
    key_algorithm: KeyAlgorithm,
    public_key_der: Vec<u8>,
    sans: Vec<San>,
}

impl VerifiedCsr {
    /// The requested subject.
    pub fn subject(&self) -> &DistinguishedName {
        &self.subject
    }

    /// The key's algorithm and size.
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.key_algorithm
    }

    /// The key as a DER `SubjectPublicKeyInfo`.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }

    /// The subject alternative names the CSR asks for.
    pub fn sans(&self) -> &[San] {
        &self.sans
    }

    /// Refuses the CSR if `profile` does not accept its key type.
    pub fn check_profile(&self, profile: Profile) -> Result<(), PkiError> {
        profile.check_key(self.key_algorithm)
    }
}

fn requested_sans(request: &CertReq) -> Result<Vec<San>, PkiError> {
    let mut requests = request
        .info
        .attributes
        .iter()
        .filter(|a| a.oid == ID_EXTENSION_REQ);
    let Some(attribute) = requests.next() else {
        return Ok(Vec::new());
    };
    if requests.next().is_some() || attribute.values.len() != 1 {
        return Err(PkiError::Malformed {
            what: WHAT,
            detail: "more than one extensionRequest".into(),
        });
    }
    let Some(value) = attribute.values.get(0) else {
        return Ok(Vec::new());
    };
    let extensions: Vec<Extension> = value
        .decode_as()
        .map_err(|e| decode_error("CSR extension request", e))?;
    if extensions.len() > MAX_REQUESTED_EXTENSIONS {
        return Err(PkiError::TooMany {
            what: "requested extension",
            max: MAX_REQUESTED_EXTENSIONS,
        });
    }
    let mut sans = Vec::new();
    for extension in extensions
        .iter()
        .filter(|e| e.extn_id == ID_CE_SUBJECT_ALT_NAME)
    {
        let names = SubjectAltName::from_der(extension.extn_value.as_bytes())
            .map_err(|e| decode_error("CSR subjectAltName", e))?;
        if sans.len() + names.0.len() > MAX_SANS {
            return Err(PkiError::TooManySans { max: MAX_SANS });
        }
        for name in &names.0 {
            sans.push(San::from_general_name(name)?);
        }
    }
    Ok(sans)
}

/// Makes a CSR for a key Sigil holds, signed with it (the hash that matches the key, PKCS#1 v1.5 for RSA).
///
/// This is how the Host API listener gets its certificate: generate a key,
/// build a CSR here, have the CA issue it, load the chain. The
/// `CertificationRequestInfo` is assembled here rather than with
/// `x509_cert`'s `RequestBuilder`, which always adds an `extensionRequest`
/// attribute — empty when there are no SANs, which RFC 2985 (`SIZE (1..MAX)`) forbids.
pub fn build_csr(
    key: &dyn SigningKey,
    subject: &DistinguishedName,
    sans: &[San],
) -> Result<Csr, PkiError> {
    if subject.is_empty() {
        return Err(PkiError::EmptySubject);
    }
    let mut attributes = SetOfVec::new();
    if !sans.is_empty() {
        let san = (&SubjectAltName(general_names(sans)?)).to_extension(subject.as_name(), &[])?;
        attributes.insert(Attribute::try_from(ExtensionReq(vec![san]))?)?;
    }
    let info = CertReqInfo {
        version: Version::V1,
        subject: subject.as_name().clone(),
        public_key: SubjectPublicKeyInfoOwned::from_der(key.public_key_der())?,
        attributes,
    };
    let signer = KeySigner::with_default_hash(key);
    let signature = signer
        .try_sign(&info.to_der()?)
        .map_err(|e| PkiError::Builder(format!("signing the CSR: {e}")))?;
    let request = CertReq {
        info,
        algorithm: signer
            .algorithm()
            .algorithm_identifier()
            .map_err(PkiError::Signing)?,
        signature: BitString::from_bytes(&signature.0)?,
    };
    let csr = Csr::from_der(&request.to_der()?)?;
    // Check what we made, as every signature Sigil hands out is checked.
    csr.verify()?;
    Ok(csr)
}

#[cfg(test)]
mod tests {
    use sigil_keys::SoftwareKey;

    use super::*;

    #[test]
    fn extension_request_only_when_there_are_sans() {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let subject = DistinguishedName::parse("CN=csr").unwrap();
        let plain = build_csr(&key, &subject, &[]).unwrap();
        assert!(plain.as_cert_req().info.attributes.is_empty());
        assert!(plain.verify().unwrap().sans().is_empty());
        let sans = [San::parse("csr.example").unwrap()];
        let with_sans = build_csr(&key, &subject, &sans).unwrap();
        assert_eq!(with_sans.as_cert_req().info.attributes.len(), 1);
        assert_eq!(with_sans.verify().unwrap().sans(), &sans);
        assert!(matches!(
            build_csr(
                &key,
                &DistinguishedName::from(x509_cert::name::Name::default()),
                &[]
            ),
            Err(PkiError::EmptySubject)
        ));
    }
}

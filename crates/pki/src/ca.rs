//! Certificate authorities: creating roots and intermediates, issuing certificates, building chains.
//!
//! A [`CaCertificate`] is a value: a name, the CA's certificate, a reference
//! to its key that only the caller understands (a custody key id), and the
//! name of its parent. The server stores it and hands it back; signing takes
//! the key itself as `&dyn SigningKey`, wherever it lives.
//!
//! Validity rule: a certificate never outlives its issuer. A request whose
//! end lies after the issuing CA's `notAfter` is **refused**
//! ([`PkiError::ValidityExceedsIssuer`]) rather than silently shortened, so
//! the administrator sees the real end date; [`CaCertificate::not_after`]
//! tells the caller the latest end it may ask for.

use std::time::SystemTime;

use der::asn1::OctetString;
use der::referenced::OwnedToRef;
use der::{Decode, Encode};
use sigil_keys::{KeyAlgorithm, SigningKey};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, SubjectKeyIdentifier};
use x509_cert::name::Name;

use crate::csr::VerifiedCsr;
use crate::dn::DistinguishedName;
use crate::error::decode_error;
use crate::profile::{CertificateProfile, Profile};
use crate::san::{San, general_names};
use crate::serial::random_serial;
use crate::signer::{KeySigner, RawSignature};
use crate::validity::{ValidityPeriod, display_time};
use crate::{PkiError, sigalg};

/// The longest chain [`build_chain`] follows.
pub const MAX_CHAIN_LEN: usize = 8;
/// The longest CA name.
pub const MAX_CA_NAME_LEN: usize = 64;

/// A certificate authority Sigil runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaCertificate {
    name: String,
    certificate: Certificate,
    key_ref: String,
    parent: Option<String>,
}

/// What a new CA is called and certifies.
#[derive(Clone, Debug)]
pub struct NewCa<'a> {
    /// The CA container's name (letters, digits, `.`, `_`, `-`; up to [`MAX_CA_NAME_LEN`]).
    pub name: &'a str,
    /// The caller's reference to the CA's key (stored, never interpreted here).
    pub key_ref: &'a str,
    /// The CA certificate's subject.
    pub subject: &'a DistinguishedName,
    /// The CA certificate's validity.
    pub validity: ValidityPeriod,
    /// `pathLenConstraint`: how many intermediate CAs may follow below this one (`None`: no limit).
    pub path_len: Option<u8>,
}

impl CaCertificate {
    /// Creates a self-signed root CA over `key`.
    pub fn self_signed(new: &NewCa<'_>, key: &dyn SigningKey) -> Result<Self, PkiError> {
        check_ca_name(new.name)?;
        let certificate = sign_certificate(&Signing {
            issuer: None,
            signer: key,
            subject: new.subject,
            public_key_der: key.public_key_der(),
            profile: Profile::Ca,
            path_len: new.path_len,
            validity: new.validity,
            sans: &[],
        })?;
        Ok(Self {
            name: new.name.to_owned(),
            certificate,
            key_ref: new.key_ref.to_owned(),
            parent: None,
        })
    }

    /// Creates an intermediate CA for `public_key_der` (a DER `SubjectPublicKeyInfo`), signed by `issuer`.
    pub fn intermediate(
        new: &NewCa<'_>,
        public_key_der: &[u8],
        issuer: &CaCertificate,
        issuer_key: &dyn SigningKey,
    ) -> Result<Self, PkiError> {
        check_ca_name(new.name)?;
        if issuer.path_len() == Some(0) {
            return Err(PkiError::PathLengthExceeded(issuer.name.clone()));
        }
        let certificate = sign_certificate(&Signing {
            issuer: Some(issuer),
            signer: issuer_key,
            subject: new.subject,
            public_key_der,
            profile: Profile::Ca,
            path_len: new.path_len,
            validity: new.validity,
            sans: &[],
        })?;
        Ok(Self {
            name: new.name.to_owned(),
            certificate,
            key_ref: new.key_ref.to_owned(),
            parent: Some(issuer.name.clone()),
        })
    }

    /// Rebuilds a CA from what the caller stored, checking that the certificate is a CA certificate.
    pub fn load(
        name: &str,
        key_ref: &str,
        parent: Option<&str>,
        certificate_der: &[u8],
    ) -> Result<Self, PkiError> {
        check_ca_name(name)?;
        let certificate =
            Certificate::from_der(certificate_der).map_err(|e| decode_error("certificate", e))?;
        let ca = Self {
            name: name.to_owned(),
            certificate,
            key_ref: key_ref.to_owned(),
            parent: parent.map(str::to_owned),
        };
        if !ca.may_sign_certificates() {
            return Err(PkiError::NotACa(ca.subject().to_string()));
        }
        Ok(ca)
    }

    /// The container's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CA's certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The caller's reference to the CA's key.
    pub fn key_ref(&self) -> &str {
        &self.key_ref
    }

    /// The issuing CA's name; `None` for a root.
    pub fn parent(&self) -> Option<&str> {
        self.parent.as_deref()
    }

    /// The CA certificate's subject (the issuer name of what it issues).
    pub fn subject(&self) -> DistinguishedName {
        self.certificate.tbs_certificate().subject().clone().into()
    }

    /// When the CA certificate expires: the latest end of anything it issues.
    pub fn not_after(&self) -> SystemTime {
        self.certificate
            .tbs_certificate()
            .validity()
            .not_after
            .to_system_time()
    }

    /// The CA certificate's `pathLenConstraint`.
    pub fn path_len(&self) -> Option<u8> {
        basic_constraints(&self.certificate).and_then(|bc| bc.path_len_constraint)
    }

    /// The CA certificate's DER `SubjectPublicKeyInfo`.
    pub fn public_key_der(&self) -> Result<Vec<u8>, PkiError> {
        Ok(self
            .certificate
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()?)
    }

    /// The CA's key algorithm.
    pub fn key_algorithm(&self) -> Result<KeyAlgorithm, PkiError> {
        Ok(sigil_keys::inspect_public_key(&self.public_key_der()?)
            .map_err(PkiError::UnsupportedKey)?
            .algorithm)
    }

    /// The CA's subjectKeyIdentifier: the extension's value, or computed the way Sigil computes it.
    pub(crate) fn key_identifier(&self) -> Result<OctetString, PkiError> {
        let tbs = self.certificate.tbs_certificate();
        if let Ok(Some((_, ski))) = tbs.get_extension::<SubjectKeyIdentifier>() {
            return Ok(ski.0);
        }
        Ok(SubjectKeyIdentifier::try_from(tbs.subject_public_key_info().owned_to_ref())?.0)
    }

    /// Checks that `key` is this CA's key.
    pub(crate) fn check_key(&self, key: &dyn SigningKey) -> Result<(), PkiError> {
        if same_public_key(key.public_key_der(), &self.public_key_der()?) {
            Ok(())
        } else {
            Err(PkiError::CaKeyMismatch(self.name.clone()))
        }
    }

    fn may_sign_certificates(&self) -> bool {
        let ca = basic_constraints(&self.certificate).is_some_and(|bc| bc.ca);
        let key_cert_sign = matches!(
            self.certificate.tbs_certificate().get_extension::<KeyUsage>(),
            Ok(Some((_, usage))) if usage.key_cert_sign()
        );
        ca && key_cert_sign
    }
}

/// What a new certificate is made from: a verified CSR, or a public key Sigil generated.
#[derive(Clone, Copy, Debug)]
pub enum IssueRequest<'a> {
    /// The subject and key of a CSR whose self-signature was checked.
    Csr(&'a VerifiedCsr),
    /// A subject and a DER `SubjectPublicKeyInfo`.
    PublicKey {
        /// The certificate's subject.
        subject: &'a DistinguishedName,
        /// The key to certify.
        public_key_der: &'a [u8],
    },
}

/// Issues an end-entity certificate of `profile` from `ca`.
///
/// Only the subject and public key are taken from the request; the
/// extensions come from the profile and the subject alternative names are
/// exactly `sans` (pass `csr.sans()` to grant what a CSR asks for, after
/// checking it). The serial number is random ([`crate::serial`]); the issuer
/// is the CA's subject and the authority key identifier the CA's subject key
/// identifier. The new certificate's signature is verified before it is
/// returned.
pub fn issue(
    ca: &CaCertificate,
    ca_key: &dyn SigningKey,
    request: IssueRequest<'_>,
    profile: Profile,
    validity: ValidityPeriod,
    sans: &[San],
) -> Result<Certificate, PkiError> {
    if profile == Profile::Ca {
        return Err(PkiError::CaProfileNotIssuable);
    }
    let (subject, public_key_der) = match request {
        IssueRequest::Csr(csr) => (csr.subject(), csr.public_key_der()),
        IssueRequest::PublicKey {
            subject,
            public_key_der,
        } => (subject, public_key_der),
    };
    sign_certificate(&Signing {
        issuer: Some(ca),
        signer: ca_key,
        subject,
        public_key_der,
        profile,
        path_len: None,
        validity,
        sans,
    })
}

/// Everything one certificate signature needs.
struct Signing<'a> {
    /// `None` for a self-signed certificate.
    issuer: Option<&'a CaCertificate>,
    signer: &'a dyn SigningKey,
    subject: &'a DistinguishedName,
    public_key_der: &'a [u8],
    profile: Profile,
    path_len: Option<u8>,
    validity: ValidityPeriod,
    sans: &'a [San],
}

fn sign_certificate(s: &Signing<'_>) -> Result<Certificate, PkiError> {
    if s.subject.is_empty() {
        return Err(PkiError::EmptySubject);
    }
    let key = sigil_keys::inspect_public_key(s.public_key_der).map_err(PkiError::UnsupportedKey)?;
    s.profile.check_key(key.algorithm)?;
    s.profile.check_sans(s.sans.len())?;
    let sans = general_names(s.sans)?;

    let (issuer_name, authority_key_id, issuer_spki) = match s.issuer {
        Some(ca) => {
            ca.check_key(s.signer)?;
            if !ca.may_sign_certificates() {
                return Err(PkiError::NotACa(ca.subject().to_string()));
            }
            s.profile.check_issuer_key(s.signer.algorithm())?;
            if s.validity.not_after() > ca.not_after() {
                return Err(PkiError::ValidityExceedsIssuer {
                    requested: display_time(s.validity.not_after()),
                    issuer_not_after: display_time(ca.not_after()),
                });
            }
            let name: Name = ca.certificate.tbs_certificate().subject().clone();
            (Some(name), Some(ca.key_identifier()?), ca.public_key_der()?)
        }
        None => {
            if !same_public_key(s.signer.public_key_der(), s.public_key_der) {
                return Err(PkiError::CaKeyMismatch(s.subject.to_string()));
            }
            (None, None, key.der.clone())
        }
    };

    let profile = CertificateProfile {
        profile: s.profile,
        subject: s.subject.as_name().clone(),
        issuer: issuer_name,
        authority_key_id,
        key_family: key.algorithm.family(),
        path_len: s.path_len,
        sans,
    };
    let builder = CertificateBuilder::new(
        profile,
        random_serial()?,
        s.validity.to_x509()?,
        SubjectPublicKeyInfoOwned::from_der(&key.der)?,
    )?;
    let certificate = builder.build::<_, RawSignature>(&KeySigner::with_default_hash(s.signer))?;
    // A faulty key or HSM must never hand out a certificate that does not verify.
    verify_signed_by(&certificate, &issuer_spki).map_err(|e| match e {
        PkiError::BadCertificateSignature(_) => {
            PkiError::Signing(sigil_keys::KeyError::BadSignature)
        }
        other => other,
    })?;
    Ok(certificate)
}

/// Builds the chain of `leaf` up to a self-signed root from `cas`, leaf first.
///
/// Each link is chosen by name (issuer = subject) and checked by verifying
/// the signature. The leaf itself is not required to be in `cas`.
pub fn build_chain(leaf: &Certificate, cas: &[Certificate]) -> Result<Vec<Certificate>, PkiError> {
    let mut chain = vec![leaf.clone()];
    let mut current = leaf.clone();
    loop {
        let tbs = current.tbs_certificate();
        if tbs.issuer() == tbs.subject() {
            let own_key = tbs.subject_public_key_info().to_der()?;
            if verify_signed_by(&current, &own_key).is_ok() {
                return Ok(chain);
            }
        }
        if chain.len() >= MAX_CHAIN_LEN {
            return Err(PkiError::ChainTooLong { max: MAX_CHAIN_LEN });
        }
        let issuer = cas
            .iter()
            .filter(|ca| ca.tbs_certificate().subject() == tbs.issuer() && *ca != &current)
            .find(|ca| {
                ca.tbs_certificate()
                    .subject_public_key_info()
                    .to_der()
                    .is_ok_and(|spki| verify_signed_by(&current, &spki).is_ok())
            })
            .ok_or_else(|| PkiError::ChainIncomplete {
                issuer: tbs.issuer().to_string(),
            })?
            .clone();
        chain.push(issuer.clone());
        current = issuer;
    }
}

/// Verifies `certificate`'s signature with the issuer key `issuer_spki_der`.
pub(crate) fn verify_signed_by(
    certificate: &Certificate,
    issuer_spki_der: &[u8],
) -> Result<(), PkiError> {
    let tbs = certificate.tbs_certificate().to_der()?;
    let signature = certificate
        .signature()
        .as_bytes()
        .ok_or_else(|| PkiError::Malformed {
            what: "certificate",
            detail: "the signature BIT STRING has unused bits".into(),
        })?;
    match sigalg::verify(
        issuer_spki_der,
        certificate.signature_algorithm(),
        &tbs,
        signature,
    ) {
        Ok(_) => Ok(()),
        Err(sigalg::VerifyError::Pki(e)) => Err(e),
        Err(sigalg::VerifyError::BadSignature) => Err(PkiError::BadCertificateSignature(
            certificate.tbs_certificate().subject().to_string(),
        )),
    }
}

pub(crate) fn basic_constraints(certificate: &Certificate) -> Option<BasicConstraints> {
    match certificate
        .tbs_certificate()
        .get_extension::<BasicConstraints>()
    {
        Ok(Some((_, bc))) => Some(bc),
        _ => None,
    }
}

/// Compares two DER `SubjectPublicKeyInfo`s after canonical re-encoding.
pub(crate) fn same_public_key(a: &[u8], b: &[u8]) -> bool {
    match (
        sigil_keys::inspect_public_key(a),
        sigil_keys::inspect_public_key(b),
    ) {
        (Ok(a), Ok(b)) => a.der == b.der,
        _ => false,
    }
}

fn check_ca_name(name: &str) -> Result<(), PkiError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_CA_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(PkiError::Malformed {
            what: "CA name",
            detail: format!(
                "{:?} must be 1 to {MAX_CA_NAME_LEN} letters, digits, '.', '_' or '-'",
                name.chars().take(80).collect::<String>()
            ),
        })
    }
}

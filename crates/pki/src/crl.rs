//! Certificate revocation lists (RFC 5280 §5), version 2.
//!
//! A CRL carries the CA's name as issuer, a `cRLNumber` (the caller's store
//! keeps it monotonic), `thisUpdate`/`nextUpdate`, and an
//! `authorityKeyIdentifier` equal to the CA's subject key identifier — the
//! issuing CA's own, not the one in the CA certificate's AKI, which names
//! the CA's parent. Each entry has the serial, the revocation time and,
//! unless it is `unspecified` (RFC 5280 §5.3.1: then the code is omitted),
//! a `reasonCode`.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use der::Encode;
use der::asn1::Uint;
use sigil_keys::SigningKey;
use signature::Signer;
use x509_cert::certificate::Version;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::ToExtension;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use crate::PkiError;
use crate::ca::CaCertificate;
use crate::signer::KeySigner;

/// Why a certificate was revoked (RFC 5280 §5.3.1 `CRLReason`, without the delta-CRL-only `removeFromCRL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// No reason given (no `reasonCode` is written).
    Unspecified,
    /// The subject's private key may be known to others.
    KeyCompromise,
    /// The CA's private key may be known to others.
    CaCompromise,
    /// The subject's name or other information changed.
    AffiliationChanged,
    /// The certificate was replaced.
    Superseded,
    /// The certificate is no longer needed.
    CessationOfOperation,
    /// Temporarily suspended.
    CertificateHold,
    /// A privilege the certificate grants was withdrawn.
    PrivilegeWithdrawn,
    /// An attribute authority's key may be known to others.
    AaCompromise,
}

impl RevocationReason {
    /// Every reason.
    pub const ALL: [RevocationReason; 9] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    /// The stable name used by the CLI and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "key-compromise",
            RevocationReason::CaCompromise => "ca-compromise",
            RevocationReason::AffiliationChanged => "affiliation-changed",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessation-of-operation",
            RevocationReason::CertificateHold => "certificate-hold",
            RevocationReason::PrivilegeWithdrawn => "privilege-withdrawn",
            RevocationReason::AaCompromise => "aa-compromise",
        }
    }

    fn code(self) -> CrlReason {
        match self {
            RevocationReason::Unspecified => CrlReason::Unspecified,
            RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
            RevocationReason::CaCompromise => CrlReason::CaCompromise,
            RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
            RevocationReason::Superseded => CrlReason::Superseded,
            RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
            RevocationReason::CertificateHold => CrlReason::CertificateHold,
            RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
            RevocationReason::AaCompromise => CrlReason::AaCompromise,
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RevocationReason {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        RevocationReason::ALL
            .into_iter()
            .find(|r| r.as_str() == wanted)
            .ok_or_else(|| {
                PkiError::InvalidCrl(format!(
                    "unknown revocation reason {s:?}: use one of {}",
                    RevocationReason::ALL
                        .map(RevocationReason::as_str)
                        .join(", ")
                ))
            })
    }
}

/// One revoked certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The certificate's serial number.
    pub serial: SerialNumber,
    /// When it was revoked.
    pub revoked_at: SystemTime,
    /// Why.
    pub reason: RevocationReason,
}

/// What a CRL states.
#[derive(Clone, Debug)]
pub struct CrlContent<'a> {
    /// The `cRLNumber`; must grow with every CRL the CA publishes (the caller's store keeps it).
    pub number: u64,
    /// `thisUpdate`.
    pub this_update: SystemTime,
    /// `nextUpdate`: when the next CRL will be out; after it, verifiers treat this one as stale.
    pub next_update: SystemTime,
    /// The revoked certificates.
    pub revoked: &'a [Revocation],
}

/// Builds and signs a v2 CRL for `ca`.
pub fn build_crl(
    ca: &CaCertificate,
    ca_key: &dyn SigningKey,
    content: &CrlContent<'_>,
) -> Result<CertificateList, PkiError> {
    ca.check_key(ca_key)?;
    if content.next_update <= content.this_update {
        return Err(PkiError::InvalidCrl(
            "nextUpdate must be after thisUpdate".into(),
        ));
    }
    let time = |t: SystemTime| {
        Time::try_from(t)
            .map_err(|_| PkiError::InvalidCrl("dates must lie between 1970 and 9999".into()))
    };
    let issuer = ca.certificate().tbs_certificate().subject().clone();
    let mut entries = Vec::with_capacity(content.revoked.len());
    for revocation in content.revoked {
        let extensions = match revocation.reason {
            RevocationReason::Unspecified => None,
            reason => Some(vec![(&reason.code()).to_extension(&issuer, &[])?]),
        };
        entries.push(RevokedCert {
            serial_number: revocation.serial.clone(),
            revocation_date: time(revocation.revoked_at)?,
            crl_entry_extensions: extensions,
        });
    }
    let mut extensions = Vec::new();
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(ca.key_identifier()?),
        ..Default::default()
    };
    extensions.push((&aki).to_extension(&issuer, &extensions)?);
    let number = CrlNumber(Uint::try_from(content.number)?);
    extensions.push((&number).to_extension(&issuer, &extensions)?);

    let signer = KeySigner::with_default_hash(ca_key);
    let algorithm = signer
        .algorithm()
        .algorithm_identifier()
        .map_err(PkiError::Signing)?;
    let tbs = TbsCertList {
        version: Version::V2,
        signature: algorithm.clone(),
        issuer,
        this_update: time(content.this_update)?,
        next_update: Some(time(content.next_update)?),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(extensions),
    };
    let signature = signer
        .try_sign(&tbs.to_der()?)
        .map_err(|e| PkiError::Builder(format!("signing the CRL: {e}")))?;
    let crl = CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: algorithm,
        signature: der::asn1::BitString::from_bytes(&signature.0)?,
    };
    sigil_keys::verify_message(
        &ca.public_key_der()?,
        signer.algorithm().hash,
        signer.algorithm().padding,
        &crl.tbs_cert_list.to_der()?,
        &signature.0,
    )
    .map_err(PkiError::Signing)?;
    Ok(crl)
}

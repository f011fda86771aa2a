//! Certificates from CAs outside Sigil: what an imported chain must satisfy before Sigil signs
//! with it.
//!
//! A public (or corporate) CA issues a certificate for a key Sigil holds (from the CSR Sigil
//! made with [`crate::build_csr`]); the administrator imports the chain, leaf first.
//! [`check_imported_chain`] accepts it only when:
//!
//! - it holds the leaf and at least its issuer, at most [`MAX_CHAIN_LEN`] certificates (the
//!   root may be left out: verifiers have it);
//! - the leaf's public key is the held key's;
//! - every certificate is followed by its issuer: names match, the issuer is a CA allowed to
//!   sign certificates (basicConstraints `cA`, keyUsage `keyCertSign` when present), and the
//!   signature verifies with the issuer's key;
//! - the leaf is an end-entity certificate with the extended key usage of its purpose
//!   (`codeSigning`, or `timeStamping`) and a key that purpose accepts;
//! - every certificate is valid at the given time.
//!
//! Revocation cannot be checked here: Sigil does not fetch the external CA's CRLs or OCSP.

use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::{ID_KP_CODE_SIGNING, ID_KP_TIME_STAMPING};
use der::Encode;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage};

use crate::ca::{MAX_CHAIN_LEN, basic_constraints, same_public_key, verify_signed_by};
use crate::error::PkiError;
use crate::profile::Profile;

/// What an imported chain is for, and the extended key usage its leaf must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportPurpose {
    /// Authenticode, JAR and raw signatures: `codeSigning`.
    CodeSigning,
    /// RFC 3161 time stamps: `timeStamping`.
    Timestamping,
}

impl ImportPurpose {
    fn eku(self) -> (ObjectIdentifier, &'static str) {
        match self {
            Self::CodeSigning => (ID_KP_CODE_SIGNING, "codeSigning"),
            Self::Timestamping => (ID_KP_TIME_STAMPING, "timeStamping"),
        }
    }

    fn profile(self) -> Profile {
        match self {
            Self::CodeSigning => Profile::CodeSigning,
            Self::Timestamping => Profile::Timestamping,
        }
    }
}

/// Checks an imported chain (leaf first) for the held key whose `SubjectPublicKeyInfo` is
/// `key_spki_der`, at time `now` (see the module docs for the rules).
pub fn check_imported_chain(
    chain: &[Certificate],
    key_spki_der: &[u8],
    purpose: ImportPurpose,
    now: SystemTime,
) -> Result<(), PkiError> {
    let leaf = chain.first().ok_or(PkiError::Empty {
        what: "certificate chain",
    })?;
    if chain.len() < 2 {
        return Err(PkiError::ChainWithoutIssuer);
    }
    if chain.len() > MAX_CHAIN_LEN {
        return Err(PkiError::ChainTooLong { max: MAX_CHAIN_LEN });
    }
    let leaf_spki = leaf.tbs_certificate().subject_public_key_info().to_der()?;
    if !same_public_key(&leaf_spki, key_spki_der) {
        return Err(PkiError::LeafKeyMismatch);
    }
    verify_links(chain)?;
    if basic_constraints(leaf).is_some_and(|bc| bc.ca) {
        return Err(PkiError::LeafIsCa(subject(leaf)));
    }
    let (eku, purpose_name) = purpose.eku();
    let has_eku = matches!(
        leaf.tbs_certificate().get_extension::<ExtendedKeyUsage>(),
        Ok(Some((_, usage))) if usage.0.contains(&eku)
    );
    if !has_eku {
        return Err(PkiError::MissingExtendedKeyUsage {
            purpose: purpose_name,
        });
    }
    let algorithm = sigil_keys::inspect_public_key(&leaf_spki)
        .map_err(PkiError::UnsupportedKey)?
        .algorithm;
    purpose.profile().check_key(algorithm)?;
    for certificate in chain {
        valid_at(certificate, now)?;
    }
    Ok(())
}

/// Checks that each certificate of `chain` (leaf first) is followed by its issuer: names
/// match, the issuer may sign certificates, and the signature verifies. What signing re-checks
/// on a stored imported chain.
pub fn verify_links(chain: &[Certificate]) -> Result<(), PkiError> {
    for (index, pair) in chain.windows(2).enumerate() {
        let [certificate, issuer] = pair else {
            continue;
        };
        let tbs = certificate.tbs_certificate();
        if tbs.issuer() != issuer.tbs_certificate().subject() {
            return Err(PkiError::ChainBroken {
                position: index + 1,
                subject: subject(certificate),
                issuer: tbs.issuer().to_string(),
                next: subject(issuer),
            });
        }
        let is_ca = basic_constraints(issuer).is_some_and(|bc| bc.ca);
        let key_cert_sign = match issuer.tbs_certificate().get_extension::<KeyUsage>() {
            Ok(Some((_, usage))) => usage.key_cert_sign(),
            Ok(None) => true,
            Err(_) => false,
        };
        if !is_ca || !key_cert_sign {
            return Err(PkiError::NotACa(subject(issuer)));
        }
        let issuer_spki = issuer
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()?;
        verify_signed_by(certificate, &issuer_spki)?;
    }
    Ok(())
}

/// Refuses a certificate outside its validity period at `now`.
pub fn valid_at(certificate: &Certificate, now: SystemTime) -> Result<(), PkiError> {
    let validity = certificate.tbs_certificate().validity();
    let state = if now < validity.not_before.to_system_time() {
        "not valid yet"
    } else if now > validity.not_after.to_system_time() {
        "expired"
    } else {
        return Ok(());
    };
    Err(PkiError::NotValidNow {
        subject: subject(certificate),
        state,
        not_before: validity.not_before.to_date_time().to_string(),
        not_after: validity.not_after.to_date_time().to_string(),
    })
}

fn subject(certificate: &Certificate) -> String {
    certificate.tbs_certificate().subject().to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sigil_keys::{KeyAlgorithm, SigningKey, SoftwareKey};

    use super::*;
    use crate::ca::{CaCertificate, IssueRequest, NewCa, issue};
    use crate::{DistinguishedName, ValidityPeriod};

    struct Pki {
        root: CaCertificate,
        inter: CaCertificate,
        inter_key: SoftwareKey,
        key: SoftwareKey,
    }

    fn ca(
        name: &str,
        key: &SoftwareKey,
        parent: Option<(&CaCertificate, &SoftwareKey)>,
    ) -> CaCertificate {
        let subject = DistinguishedName::parse(&format!("CN={name}")).unwrap();
        let new = NewCa {
            name,
            key_ref: name,
            subject: &subject,
            validity: ValidityPeriod::days_from_now(30).unwrap(),
            path_len: None,
        };
        match parent {
            None => CaCertificate::self_signed(&new, key).unwrap(),
            Some((issuer, issuer_key)) => {
                CaCertificate::intermediate(&new, key.public_key_der(), issuer, issuer_key).unwrap()
            }
        }
    }

    fn pki() -> Pki {
        let root_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let inter_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let root = ca("Root", &root_key, None);
        let inter = ca("Issuing", &inter_key, Some((&root, &root_key)));
        Pki {
            root,
            inter,
            inter_key,
            key: SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap(),
        }
    }

    impl Pki {
        fn leaf(&self, profile: Profile, key: &SoftwareKey) -> Certificate {
            let subject = DistinguishedName::parse("CN=Publisher").unwrap();
            let sans = if profile == Profile::TlsServer {
                vec![crate::San::parse("example.com").unwrap()]
            } else {
                vec![]
            };
            issue(
                &self.inter,
                &self.inter_key,
                IssueRequest::PublicKey {
                    subject: &subject,
                    public_key_der: key.public_key_der(),
                },
                profile,
                ValidityPeriod::days_from_now(10).unwrap(),
                &sans,
            )
            .unwrap()
        }

        fn chain(&self, leaf: Certificate) -> Vec<Certificate> {
            vec![
                leaf,
                self.inter.certificate().clone(),
                self.root.certificate().clone(),
            ]
        }
    }

    fn check(chain: &[Certificate], key: &SoftwareKey, at: SystemTime) -> Result<(), PkiError> {
        check_imported_chain(chain, key.public_key_der(), ImportPurpose::CodeSigning, at)
    }

    #[test]
    fn a_good_chain_passes_with_or_without_the_root() {
        let pki = pki();
        let chain = pki.chain(pki.leaf(Profile::CodeSigning, &pki.key));
        let now = SystemTime::now();
        check(&chain, &pki.key, now).unwrap();
        check(&chain[..2], &pki.key, now).unwrap();
        verify_links(&chain).unwrap();
    }

    #[test]
    fn each_rule_has_its_refusal() {
        let pki = pki();
        let now = SystemTime::now();
        let chain = pki.chain(pki.leaf(Profile::CodeSigning, &pki.key));
        assert!(matches!(
            check(&chain[..1], &pki.key, now),
            Err(PkiError::ChainWithoutIssuer)
        ));
        assert!(matches!(
            check(&[], &pki.key, now),
            Err(PkiError::Empty { .. })
        ));
        let other = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        assert!(matches!(
            check(&chain, &other, now),
            Err(PkiError::LeafKeyMismatch)
        ));
        let skipped = [chain[0].clone(), chain[2].clone()];
        match check(&skipped, &pki.key, now) {
            Err(PkiError::ChainBroken { position, .. }) => assert_eq!(position, 1),
            other => panic!("{other:?}"),
        }
        let tls = pki.chain(pki.leaf(Profile::TlsServer, &pki.key));
        assert!(matches!(
            check(&tls, &pki.key, now),
            Err(PkiError::MissingExtendedKeyUsage {
                purpose: "codeSigning"
            })
        ));
        let later = now + Duration::from_secs(11 * 24 * 3600);
        match check(&chain, &pki.key, later) {
            Err(PkiError::NotValidNow { state, .. }) => assert_eq!(state, "expired"),
            other => panic!("{other:?}"),
        }
        let earlier = now - Duration::from_secs(3600);
        match check(&chain, &pki.key, earlier) {
            Err(PkiError::NotValidNow { state, .. }) => assert_eq!(state, "not valid yet"),
            other => panic!("{other:?}"),
        }
        // The intermediate presented as the leaf, for its own key.
        let inter_chain = [
            pki.inter.certificate().clone(),
            pki.root.certificate().clone(),
        ];
        assert!(matches!(
            check(&inter_chain, &pki.inter_key, now),
            Err(PkiError::LeafIsCa(_))
        ));
        // A leaf whose issuer is another leaf with the right name is not a CA.
        let imposter_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let imposter = pki.leaf(Profile::CodeSigning, &imposter_key);
        assert!(verify_links(&[chain[0].clone(), imposter]).is_err());
    }

    #[test]
    fn a_tampered_signature_is_refused() {
        let pki = pki();
        let mut chain = pki.chain(pki.leaf(Profile::CodeSigning, &pki.key));
        let mut der = chain[0].to_der().unwrap();
        let last = der.len() - 1;
        der[last] ^= 1;
        chain[0] = <Certificate as der::Decode>::from_der(&der).unwrap();
        assert!(matches!(
            verify_links(&chain),
            Err(PkiError::BadCertificateSignature(_))
        ));
    }
}

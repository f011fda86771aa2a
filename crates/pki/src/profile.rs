//! Certificate profiles: which extensions a certificate gets and which keys it may certify.
//!
//! | profile | keyUsage (critical) | extKeyUsage | basicConstraints (critical) | subjectAltName | keys |
//! |---|---|---|---|---|---|
//! | `ca` | keyCertSign, cRLSign | — | cA, optional pathLen | — | RSA, ECDSA, Ed25519 |
//! | `tls-server` | digitalSignature (+ keyEncipherment for RSA) | serverAuth | not cA | required: DNS/IP | RSA, ECDSA, Ed25519 |
//! | `tls-client` | digitalSignature | clientAuth | not cA | optional: DNS/IP | RSA, ECDSA, Ed25519 |
//! | `code-signing` | digitalSignature | codeSigning | not cA | refused | RSA, ECDSA |
//! | `timestamping` | digitalSignature | timeStamping (critical, the only purpose: RFC 3161 §2.3) | not cA | refused | RSA, ECDSA |
//!
//! Every certificate gets a subjectKeyIdentifier (SHA-1 of the public key,
//! RFC 5280 §4.2.1.2 method 1) and an authorityKeyIdentifier equal to the
//! issuer's subjectKeyIdentifier (a self-signed root's is its own), which
//! `openssl verify -x509_strict` requires.
//!
//! Ed25519 is refused for code signing and timestamping (and a CA with an
//! Ed25519 key may not issue them): Authenticode and jarsigner do not use it
//! and OpenSSL 3.0 cannot verify Ed25519 CMS signatures.

use std::fmt;
use std::str::FromStr;

use const_oid::AssociatedOid;
use const_oid::db::rfc5280::{
    ID_KP_CLIENT_AUTH, ID_KP_CODE_SIGNING, ID_KP_SERVER_AUTH, ID_KP_TIME_STAMPING,
};
use der::Encode;
use der::asn1::OctetString;
use sigil_keys::{KeyAlgorithm, KeyFamily};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;

use crate::PkiError;

/// A certificate profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// A certificate authority (root or intermediate).
    Ca,
    /// A TLS server (Sigil's own listeners).
    TlsServer,
    /// A TLS client (Host API clients, administrators).
    TlsClient,
    /// Authenticode, JAR and raw code signing.
    CodeSigning,
    /// An RFC 3161 timestamping authority.
    Timestamping,
}

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 5] = [
        Profile::Ca,
        Profile::TlsServer,
        Profile::TlsClient,
        Profile::CodeSigning,
        Profile::Timestamping,
    ];

    /// The stable name used in configuration, the CLI and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Ca => "ca",
            Profile::TlsServer => "tls-server",
            Profile::TlsClient => "tls-client",
            Profile::CodeSigning => "code-signing",
            Profile::Timestamping => "timestamping",
        }
    }

    /// Whether the profile accepts keys of `algorithm`.
    pub fn allows_key(self, algorithm: KeyAlgorithm) -> bool {
        match self {
            Profile::Ca | Profile::TlsServer | Profile::TlsClient => true,
            Profile::CodeSigning | Profile::Timestamping => {
                algorithm.family() != KeyFamily::Ed25519
            }
        }
    }

    /// Refuses keys the profile does not accept.
    pub fn check_key(self, algorithm: KeyAlgorithm) -> Result<(), PkiError> {
        if self.allows_key(algorithm) {
            Ok(())
        } else {
            Err(PkiError::KeyNotAllowed {
                profile: self,
                algorithm,
                allowed: "RSA (2048, 3072, 4096 bits) or ECDSA (P-256, P-384)",
            })
        }
    }

    /// Refuses CA keys that cannot issue this profile (an Ed25519 CA cannot issue code-signing certificates).
    pub fn check_issuer_key(self, issuer: KeyAlgorithm) -> Result<(), PkiError> {
        if self.allows_key(issuer) {
            Ok(())
        } else {
            Err(PkiError::IssuerKeyNotAllowed {
                profile: self,
                issuer_algorithm: issuer,
            })
        }
    }

    /// Refuses subject alternative names the profile cannot carry, or their absence where required.
    pub fn check_sans(self, count: usize) -> Result<(), PkiError> {
        match self {
            Profile::TlsServer if count == 0 => Err(PkiError::MissingSan(self)),
            Profile::TlsServer | Profile::TlsClient => Ok(()),
            Profile::Ca | Profile::CodeSigning | Profile::Timestamping if count > 0 => {
                Err(PkiError::SanNotAllowed(self))
            }
            Profile::Ca | Profile::CodeSigning | Profile::Timestamping => Ok(()),
        }
    }

    fn key_usage(self, family: KeyFamily) -> KeyUsage {
        KeyUsage(match self {
            Profile::Ca => KeyUsages::KeyCertSign | KeyUsages::CRLSign,
            // RSA key transport (TLS 1.2 RSA key exchange) needs keyEncipherment;
            // it is meaningless for EC and Ed25519 keys.
            Profile::TlsServer if family == KeyFamily::Rsa => {
                KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment
            }
            _ => KeyUsages::DigitalSignature.into(),
        })
    }

    fn extended_key_usage(self) -> Option<(ExtendedKeyUsage, bool)> {
        let (purpose, critical) = match self {
            Profile::Ca => return None,
            Profile::TlsServer => (ID_KP_SERVER_AUTH, false),
            Profile::TlsClient => (ID_KP_CLIENT_AUTH, false),
            Profile::CodeSigning => (ID_KP_CODE_SIGNING, false),
            // RFC 3161 §2.3: "This extension MUST be critical."
            Profile::Timestamping => (ID_KP_TIME_STAMPING, true),
        };
        Some((ExtendedKeyUsage(vec![purpose]), critical))
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Profile::ALL
            .into_iter()
            .find(|p| p.as_str() == wanted)
            .ok_or_else(|| PkiError::Malformed {
                what: "profile name",
                detail: format!(
                    "{s:?} is not a profile: use ca, tls-server, tls-client, code-signing or timestamping"
                ),
            })
    }
}

/// The `BuilderProfile` that writes one certificate of a [`Profile`].
pub(crate) struct CertificateProfile {
    pub(crate) profile: Profile,
    pub(crate) subject: Name,
    /// `None` for a self-signed certificate (issuer = subject).
    pub(crate) issuer: Option<Name>,
    /// The issuer's subjectKeyIdentifier; `None` for a self-signed certificate.
    pub(crate) authority_key_id: Option<OctetString>,
    pub(crate) key_family: KeyFamily,
    /// For [`Profile::Ca`] only.
    pub(crate) path_len: Option<u8>,
    pub(crate) sans: Vec<GeneralName>,
}

impl BuilderProfile for CertificateProfile {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.issuer.clone().unwrap_or_else(|| subject.clone())
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let subject = tbs.subject();
        let mut extensions: Vec<Extension> = Vec::new();

        let ca = self.profile == Profile::Ca;
        let basic = BasicConstraints {
            ca,
            path_len_constraint: if ca { self.path_len } else { None },
        };
        extensions.push(basic.to_extension(subject, &extensions)?);
        let key_usage = self.profile.key_usage(self.key_family);
        extensions.push(key_usage.to_extension(subject, &extensions)?);
        if let Some((eku, critical)) = self.profile.extended_key_usage() {
            extensions.push(Extension {
                extn_id: ExtendedKeyUsage::OID,
                critical,
                extn_value: OctetString::new(eku.to_der()?)?,
            });
        }
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(
                self.authority_key_id
                    .clone()
                    .unwrap_or_else(|| ski.0.clone()),
            ),
            ..Default::default()
        };
        extensions.push(ski.to_extension(subject, &extensions)?);
        extensions.push(aki.to_extension(subject, &extensions)?);
        if !self.sans.is_empty() {
            let san = SubjectAltName(self.sans.clone());
            extensions.push(san.to_extension(subject, &extensions)?);
        }
        Ok(extensions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Profile::ALL {
            assert_eq!(p.as_str().parse::<Profile>().unwrap(), p);
        }
        assert!("server".parse::<Profile>().is_err());
    }

    #[test]
    fn key_and_san_rules() {
        assert!(
            Profile::CodeSigning
                .check_key(KeyAlgorithm::Ed25519)
                .is_err()
        );
        assert!(
            Profile::Timestamping
                .check_key(KeyAlgorithm::Ed25519)
                .is_err()
        );
        assert!(Profile::TlsServer.check_key(KeyAlgorithm::Ed25519).is_ok());
        assert!(
            Profile::CodeSigning
                .check_key(KeyAlgorithm::Rsa3072)
                .is_ok()
        );
        assert!(matches!(
            Profile::TlsServer.check_sans(0),
            Err(PkiError::MissingSan(Profile::TlsServer))
        ));
        assert!(Profile::TlsClient.check_sans(0).is_ok());
        assert!(matches!(
            Profile::CodeSigning.check_sans(1),
            Err(PkiError::SanNotAllowed(Profile::CodeSigning))
        ));
    }
}

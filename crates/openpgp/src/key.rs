//! The v4 public-key packet of a policy key, its fingerprint and key ID (RFC 9580 §5.5.2,
//! §5.5.4).
//!
//! An OpenPGP key's fingerprint covers its creation time, so the same X.509 key gets the
//! same fingerprint only with the same time: Sigil uses the time the key was created in
//! Sigil, which never changes (a renewed certificate over the same key keeps it).

use der::asn1::UintRef;
use der::{Decode, Sequence};
use sha1::{Digest, Sha1};
use sigil_keys::{KeyAlgorithm, inspect_public_key};
use spki::SubjectPublicKeyInfoRef;

use crate::OpenPgpError;
use crate::packet::{TAG_PUBLIC_KEY, write_mpi, write_packet};

/// OID of NIST P-256 as OpenPGP writes it (the DER body, without tag and length).
const OID_P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// OID of NIST P-384.
const OID_P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
/// OID 1.3.6.1.4.1.11591.15.1 of Ed25519 in `EdDSALegacy` keys.
const OID_ED25519: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01];

/// OpenPGP public-key algorithm IDs Sigil writes (RFC 9580 §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKeyAlgorithm {
    /// 1: RSA (sign and encrypt).
    Rsa,
    /// 19: ECDSA.
    Ecdsa,
    /// 22: EdDSALegacy (Ed25519 in v4 keys).
    EdDsaLegacy,
}

impl PublicKeyAlgorithm {
    /// The algorithm ID byte.
    pub const fn id(self) -> u8 {
        match self {
            Self::Rsa => 1,
            Self::Ecdsa => 19,
            Self::EdDsaLegacy => 22,
        }
    }

    /// The algorithm of an ID byte.
    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(Self::Rsa),
            19 => Some(Self::Ecdsa),
            22 => Some(Self::EdDsaLegacy),
            _ => None,
        }
    }

    /// How many MPIs a signature of this algorithm holds.
    pub const fn signature_mpis(self) -> usize {
        match self {
            Self::Rsa => 1,
            Self::Ecdsa | Self::EdDsaLegacy => 2,
        }
    }
}

/// `RSAPublicKey` (RFC 8017): modulus and public exponent.
#[derive(Sequence)]
struct RsaPublicKey<'a> {
    n: UintRef<'a>,
    e: UintRef<'a>,
}

/// A v4 public key: the key of a policy, as OpenPGP writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    algorithm: KeyAlgorithm,
    /// The packet body (version, creation time, algorithm, key material).
    body: Vec<u8>,
    /// The DER `SubjectPublicKeyInfo` it was made from (to verify signatures).
    spki: Vec<u8>,
}

impl PublicKey {
    /// The OpenPGP form of a DER `SubjectPublicKeyInfo` created at `created` (seconds since
    /// 1970, as OpenPGP stores it).
    pub fn from_spki(spki_der: &[u8], created: u32) -> Result<Self, OpenPgpError> {
        let info = inspect_public_key(spki_der).map_err(|e| OpenPgpError::Key(e.to_string()))?;
        let spki = SubjectPublicKeyInfoRef::from_der(&info.der)
            .map_err(|e| OpenPgpError::Key(e.to_string()))?;
        let material = spki.subject_public_key.raw_bytes();
        let mut body = vec![4];
        body.extend_from_slice(&created.to_be_bytes());
        let algorithm = Self::openpgp_algorithm(info.algorithm);
        body.push(algorithm.id());
        match info.algorithm {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let key = RsaPublicKey::from_der(material)
                    .map_err(|e| OpenPgpError::Key(format!("RSA key: {e}")))?;
                write_mpi(&mut body, key.n.as_bytes());
                write_mpi(&mut body, key.e.as_bytes());
            }
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
                let oid = match info.algorithm {
                    KeyAlgorithm::EcdsaP256 => OID_P256,
                    _ => OID_P384,
                };
                if material.first() != Some(&0x04) {
                    return Err(OpenPgpError::Key(
                        "EC public keys must be uncompressed points".into(),
                    ));
                }
                body.push(oid.len() as u8);
                body.extend_from_slice(oid);
                write_mpi(&mut body, material);
            }
            KeyAlgorithm::Ed25519 => {
                body.push(OID_ED25519.len() as u8);
                body.extend_from_slice(OID_ED25519);
                // The native point format: a 0x40 prefix, then the 32 key bytes.
                let mut point = vec![0x40];
                point.extend_from_slice(material);
                write_mpi(&mut body, &point);
            }
        }
        Ok(Self {
            algorithm: info.algorithm,
            body,
            spki: info.der,
        })
    }

    /// The OpenPGP algorithm of a Sigil key algorithm.
    pub const fn openpgp_algorithm(algorithm: KeyAlgorithm) -> PublicKeyAlgorithm {
        match algorithm {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                PublicKeyAlgorithm::Rsa
            }
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => PublicKeyAlgorithm::Ecdsa,
            KeyAlgorithm::Ed25519 => PublicKeyAlgorithm::EdDsaLegacy,
        }
    }

    /// The Sigil key algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// The packet body (what the fingerprint and key signatures hash).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The whole public-key packet.
    pub fn packet(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 6);
        write_packet(&mut out, TAG_PUBLIC_KEY, &self.body);
        out
    }

    /// The key as hashed by fingerprints and key signatures: `0x99`, the 2-byte body length,
    /// the body.
    pub fn hashed_form(&self) -> Vec<u8> {
        let mut out = vec![0x99];
        out.extend_from_slice(
            &u16::try_from(self.body.len())
                .unwrap_or(u16::MAX)
                .to_be_bytes(),
        );
        out.extend_from_slice(&self.body);
        out
    }

    /// The v4 fingerprint: SHA-1 of [`hashed_form`](Self::hashed_form).
    pub fn fingerprint(&self) -> [u8; 20] {
        Sha1::digest(self.hashed_form()).into()
    }

    /// The key ID: the last 8 bytes of the fingerprint.
    pub fn key_id(&self) -> [u8; 8] {
        let fingerprint = self.fingerprint();
        let mut id = [0; 8];
        id.copy_from_slice(fingerprint.get(12..).unwrap_or(&[0; 8]));
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_keys::{SigningKey, SoftwareKey};

    #[test]
    fn every_algorithm_has_a_key_packet() {
        for algorithm in [
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
        ] {
            let key = SoftwareKey::generate(algorithm).unwrap();
            let public = PublicKey::from_spki(key.public_key_der(), 1_700_000_000).unwrap();
            assert_eq!(public.body().first(), Some(&4));
            assert_eq!(
                public.body().get(1..5),
                Some(&1_700_000_000u32.to_be_bytes()[..])
            );
            assert_eq!(public.key_id(), public.fingerprint()[12..]);
            let later = PublicKey::from_spki(key.public_key_der(), 1_700_000_001).unwrap();
            assert_ne!(public.fingerprint(), later.fingerprint());
        }
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            PublicKey::from_spki(b"not a key", 0),
            Err(OpenPgpError::Key(_))
        ));
    }
}

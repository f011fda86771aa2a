//! Names for key, hash and signature algorithms, and their ASN.1 identifiers.
//!
//! [`HashAlgorithm`] and [`KeyAlgorithm`] are the one type of each concept across Sigil: the
//! Host API (`sigil-proto`), the rules (`sigil-domain`), the formats (JAR, Authenticode,
//! OpenPGP), the client and the CLI use them. They live here because this crate is the lowest
//! one that needs their behaviour (OIDs, hashing, key generation) and depends on no other
//! Sigil crate. Each use has its own spelling, kept apart: [`HashAlgorithm::as_str`]
//! (`SHA256`, the Host API's), [`HashAlgorithm::name`] (`sha256`: configuration, JSON, the
//! store, the audit log and the CLI's `--hash`); `sigil-jar` adds the JAR names (`SHA-256`).

use std::fmt;
use std::str::FromStr;

use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5912, rfc8410};
use der::asn1::Null;
use sha2::Digest as _;
use spki::AlgorithmIdentifierOwned;

use crate::KeyError;

/// The algorithm families Sigil signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyFamily {
    /// RSA (PKCS#1 v1.5 or PSS signatures).
    Rsa,
    /// ECDSA over a NIST curve.
    Ecdsa,
    /// Ed25519 (PureEdDSA: signs messages, not digests).
    Ed25519,
}

/// A key algorithm and size Sigil can generate and use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
}

impl KeyAlgorithm {
    /// Every supported algorithm, in the order they are listed to users.
    pub const ALL: [KeyAlgorithm; 6] = [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
    ];

    /// Whether a fault while signing can give the key away in a way that checking the
    /// signature catches, so that every signature must be verified before it is released,
    /// by the signer itself or by its caller ([`crate::SigningKey::signatures_need_checking`]):
    /// RSA (one faulty RSA-CRT signature factors the modulus) and Ed25519 (deterministic: a
    /// faulty and a correct signature of one message give the key). Not ECDSA: its nonce is
    /// fresh for every signature, and the fault that leaks an ECDSA key, a biased nonce,
    /// yields signatures that verify. Checking one ECDSA signature proves the key matches
    /// its certificate; a P-256 check costs three times the signature.
    pub fn verify_each_signature(self) -> bool {
        !matches!(self, KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384)
    }

    /// The stable name used in configuration, the CLI and the Host API.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 => "rsa-2048",
            KeyAlgorithm::Rsa3072 => "rsa-3072",
            KeyAlgorithm::Rsa4096 => "rsa-4096",
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }

    /// The family the algorithm belongs to.
    pub fn family(self) -> KeyFamily {
        match self {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => KeyFamily::Rsa,
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => KeyFamily::Ecdsa,
            KeyAlgorithm::Ed25519 => KeyFamily::Ed25519,
        }
    }

    /// The hash that matches the key's strength, used when a caller does not choose one
    /// (for example when a CA signs a certificate).
    pub fn default_hash(self) -> HashAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP384 => HashAlgorithm::Sha384,
            KeyAlgorithm::Ed25519 => HashAlgorithm::Sha512,
            _ => HashAlgorithm::Sha256,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == wanted)
            .ok_or_else(|| KeyError::UnknownAlgorithm(s.to_owned()))
    }
}

/// The hash algorithms Sigil accepts for digests.
///
/// Serialized (feature `serde`) as its [`name`](Self::name) (`sha256`), exactly; `--hash`
/// values (feature `clap`) are the same names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// Every supported hash algorithm.
    pub const ALL: [HashAlgorithm; 3] = [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ];

    /// The stable upper-case name (`SHA256`, `SHA384`, `SHA512`), as the Host API writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "SHA256",
            HashAlgorithm::Sha384 => "SHA384",
            HashAlgorithm::Sha512 => "SHA512",
        }
    }

    /// The stable lower-case name (`sha256`, `sha384`, `sha512`): configuration, JSON bodies,
    /// the store, the audit log and the CLI.
    pub const fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sha384 => "sha384",
            HashAlgorithm::Sha512 => "sha512",
        }
    }

    /// The algorithm whose [`name`](Self::name) is exactly `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        HashAlgorithm::ALL.into_iter().find(|h| h.name() == name)
    }

    /// The length of a digest in bytes.
    pub const fn digest_len(self) -> usize {
        match self {
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }

    /// The algorithm's object identifier (`id-sha256`, ...).
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            HashAlgorithm::Sha256 => rfc5912::ID_SHA_256,
            HashAlgorithm::Sha384 => rfc5912::ID_SHA_384,
            HashAlgorithm::Sha512 => rfc5912::ID_SHA_512,
        }
    }

    /// The hash algorithm for an object identifier, if it is one Sigil supports.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        HashAlgorithm::ALL.into_iter().find(|h| h.oid() == *oid)
    }

    /// The `AlgorithmIdentifier` of the digest, without parameters as RFC 5754 asks.
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: None,
        }
    }

    /// Hashes `data` in one call.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut hasher = Hasher::new(self);
        hasher.update(data);
        hasher.finalize()
    }

    /// Checks that `digest` has this algorithm's length.
    pub fn check_digest(self, digest: &[u8]) -> Result<(), KeyError> {
        if digest.len() == self.digest_len() {
            Ok(())
        } else {
            Err(KeyError::DigestLength {
                hash: self,
                expected: self.digest_len(),
                actual: digest.len(),
            })
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HashAlgorithm {
    type Err = KeyError;

    /// Accepts `SHA256`, `sha-256`, `sha256` and the like.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted: String = s
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_uppercase();
        HashAlgorithm::ALL
            .into_iter()
            .find(|h| h.as_str() == wanted)
            .ok_or_else(|| KeyError::UnknownHash(s.to_owned()))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for HashAlgorithm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for HashAlgorithm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
        HashAlgorithm::from_name(&text).ok_or_else(|| {
            serde::de::Error::custom(format_args!(
                "unknown hash algorithm `{}`: expected one of sha256, sha384, sha512",
                text.chars().take(64).collect::<String>()
            ))
        })
    }
}

/// An incremental hasher for any [`HashAlgorithm`] (streams files at SHA speed).
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(sha2::Sha256),
    /// SHA-384 state.
    Sha384(sha2::Sha384),
    /// SHA-512 state.
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(hash: HashAlgorithm) -> Self {
        match hash {
            HashAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            HashAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// Returns the digest.
    pub fn finalize(self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// RSA signature padding. Ignored for other key families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum RsaPadding {
    /// PKCS#1 v1.5 (what Authenticode, JAR and most verifiers expect).
    #[default]
    Pkcs1v15,
    /// RSASSA-PSS with MGF1 over the same hash and a salt as long as the digest.
    Pss,
}

impl RsaPadding {
    /// The stable name (`pkcs1`, `pss`).
    pub fn as_str(self) -> &'static str {
        match self {
            RsaPadding::Pkcs1v15 => "pkcs1",
            RsaPadding::Pss => "pss",
        }
    }
}

impl FromStr for RsaPadding {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pkcs1" | "pkcs1v15" | "pkcs1-v1.5" => Ok(RsaPadding::Pkcs1v15),
            "pss" => Ok(RsaPadding::Pss),
            _ => Err(KeyError::UnknownAlgorithm(format!("RSA padding {s}"))),
        }
    }
}

impl fmt::Display for RsaPadding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A complete signature algorithm: key family, hash and (for RSA) padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureAlgorithm {
    /// The key family.
    pub family: KeyFamily,
    /// The hash the signature covers (ignored for Ed25519).
    pub hash: HashAlgorithm,
    /// RSA padding (ignored for other families).
    pub padding: RsaPadding,
}

impl SignatureAlgorithm {
    /// The X.509 `AlgorithmIdentifier` for this signature, as certificates, CRLs and CSRs
    /// carry it (`sha256WithRSAEncryption`, `RSASSA-PSS` with parameters, `ecdsa-with-SHA256`,
    /// `id-Ed25519`).
    pub fn algorithm_identifier(&self) -> Result<AlgorithmIdentifierOwned, KeyError> {
        match self.family {
            KeyFamily::Rsa => match self.padding {
                RsaPadding::Pkcs1v15 => Ok(with_null_params(match self.hash {
                    HashAlgorithm::Sha256 => rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
                    HashAlgorithm::Sha384 => rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
                    HashAlgorithm::Sha512 => rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
                })),
                RsaPadding::Pss => match self.hash {
                    HashAlgorithm::Sha256 => {
                        rsa::pss::get_default_pss_signature_algo_id::<sha2::Sha256>()
                    }
                    HashAlgorithm::Sha384 => {
                        rsa::pss::get_default_pss_signature_algo_id::<sha2::Sha384>()
                    }
                    HashAlgorithm::Sha512 => {
                        rsa::pss::get_default_pss_signature_algo_id::<sha2::Sha512>()
                    }
                }
                .map_err(|e| KeyError::InvalidPublicKey(format!("RSASSA-PSS parameters: {e}"))),
            },
            KeyFamily::Ecdsa => Ok(AlgorithmIdentifierOwned {
                oid: match self.hash {
                    HashAlgorithm::Sha256 => rfc5912::ECDSA_WITH_SHA_256,
                    HashAlgorithm::Sha384 => rfc5912::ECDSA_WITH_SHA_384,
                    HashAlgorithm::Sha512 => rfc5912::ECDSA_WITH_SHA_512,
                },
                parameters: None,
            }),
            KeyFamily::Ed25519 => Ok(AlgorithmIdentifierOwned {
                oid: rfc8410::ID_ED_25519,
                parameters: None,
            }),
        }
    }

    /// The `signatureAlgorithm` of a CMS `SignerInfo`.
    ///
    /// For RSA PKCS#1 v1.5 this is plain `rsaEncryption`, as OpenSSL, signtool and
    /// jarsigner write it (RFC 3370 §3.2 allows both forms; every verifier reads this one).
    pub fn cms_algorithm_identifier(&self) -> Result<AlgorithmIdentifierOwned, KeyError> {
        match (self.family, self.padding) {
            (KeyFamily::Rsa, RsaPadding::Pkcs1v15) => Ok(with_null_params(rfc5912::RSA_ENCRYPTION)),
            _ => self.algorithm_identifier(),
        }
    }
}

fn with_null_params(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: Some(Null.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in KeyAlgorithm::ALL {
            assert_eq!(a.as_str().parse::<KeyAlgorithm>().unwrap(), a);
        }
        for h in HashAlgorithm::ALL {
            assert_eq!(h.as_str().parse::<HashAlgorithm>().unwrap(), h);
            assert_eq!(HashAlgorithm::from_oid(&h.oid()), Some(h));
            assert_eq!(h.digest(b"x").len(), h.digest_len());
        }
        assert_eq!(
            "sha-384".parse::<HashAlgorithm>().unwrap(),
            HashAlgorithm::Sha384
        );
        assert!("md5".parse::<HashAlgorithm>().is_err());
        assert!("dsa-1024".parse::<KeyAlgorithm>().is_err());
    }

    #[test]
    fn lower_case_names_round_trip() {
        for h in HashAlgorithm::ALL {
            assert_eq!(HashAlgorithm::from_name(h.name()), Some(h));
            assert_eq!(h.name().to_ascii_uppercase(), h.as_str());
        }
        assert_eq!(HashAlgorithm::from_name("SHA256"), None);
    }

    #[test]
    fn digest_length_is_checked() {
        assert!(HashAlgorithm::Sha256.check_digest(&[0; 32]).is_ok());
        assert!(matches!(
            HashAlgorithm::Sha512.check_digest(&[0; 32]),
            Err(KeyError::DigestLength {
                expected: 64,
                actual: 32,
                ..
            })
        ));
    }

    #[test]
    fn sha256_matches_known_vector() {
        // FIPS 180-2 example "abc".
        assert_eq!(
            HashAlgorithm::Sha256.digest(b"abc")[..4],
            [0xba, 0x78, 0x16, 0xbf]
        );
    }
}

//! Software keys: private keys held in memory and used through `aws-lc-rs`.
//!
//! At rest these keys only exist sealed by `sigil-custody`; here they live as
//! parsed key pairs plus a zeroizing PKCS#8 copy (for re-sealing and for the
//! rare ECDSA curve/hash pairs `aws-lc-rs` cannot sign as a precomputed digest).

use std::fmt;

use aws_lc_rs::digest as lc_digest;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self as lc_sig, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _, RsaKeyPair,
};
use ecdsa::signature::hazmat::PrehashSigner;
use p256::pkcs8::DecodePrivateKey;
use zeroize::Zeroizing;

use crate::{HashAlgorithm, KeyAlgorithm, KeyError, RsaPadding, SigningKey};

/// A private key held in process memory.
pub struct SoftwareKey {
    algorithm: KeyAlgorithm,
    pair: Pair,
    public_der: Vec<u8>,
    pkcs8: Zeroizing<Vec<u8>>,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl fmt::Debug for SoftwareKey {
    // Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SoftwareKey {
    /// Generates a fresh key pair from the operating system's RNG.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, KeyError> {
        let fail = |_| KeyError::Generate(algorithm);
        let pkcs8: Zeroizing<Vec<u8>> = match algorithm {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let size = match algorithm {
                    KeyAlgorithm::Rsa2048 => KeySize::Rsa2048,
                    KeyAlgorithm::Rsa3072 => KeySize::Rsa3072,
                    _ => KeySize::Rsa4096,
                };
                let pair = RsaKeyPair::generate(size).map_err(fail)?;
                let der: Pkcs8V1Der<'static> = pair.as_der().map_err(fail)?;
                Zeroizing::new(der.as_ref().to_vec())
            }
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
                let pair = EcdsaKeyPair::generate(ecdsa_native(algorithm)).map_err(fail)?;
                Zeroizing::new(pair.to_pkcs8v1().map_err(fail)?.as_ref().to_vec())
            }
            KeyAlgorithm::Ed25519 => {
                let pair = Ed25519KeyPair::generate().map_err(fail)?;
                Zeroizing::new(pair.to_pkcs8v1().map_err(fail)?.as_ref().to_vec())
            }
        };
        Self::from_pkcs8_der(&pkcs8)
    }

    /// Loads an unencrypted PKCS#8 (v1 or v2) private key of a supported type.
    pub fn from_pkcs8_der(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let keep = Zeroizing::new(pkcs8.to_vec());
        if let Ok(pair) = RsaKeyPair::from_pkcs8(pkcs8) {
            let algorithm = match pair.public_modulus_len() * 8 {
                2048 => KeyAlgorithm::Rsa2048,
                3072 => KeyAlgorithm::Rsa3072,
                4096 => KeyAlgorithm::Rsa4096,
                bits => {
                    return Err(KeyError::InvalidPrivateKey(format!(
                        "RSA keys must have 2048, 3072 or 4096 bits, this one has {bits}"
                    )));
                }
            };
            let public_der = public_der(pair.public_key().as_der(), algorithm)?;
            return Ok(Self {
                algorithm,
                pair: Pair::Rsa(pair),
                public_der,
                pkcs8: keep,
            });
        }
        for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
            if let Ok(pair) = EcdsaKeyPair::from_pkcs8(ecdsa_native(algorithm), pkcs8) {
                let public_der = public_der(pair.public_key().as_der(), algorithm)?;
                return Ok(Self {
                    algorithm,
                    pair: Pair::Ecdsa(pair),
                    public_der,
                    pkcs8: keep,
                });
            }
        }
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8) {
            let algorithm = KeyAlgorithm::Ed25519;
            let public_der = public_der(pair.public_key().as_der(), algorithm)?;
            return Ok(Self {
                algorithm,
                pair: Pair::Ed25519(pair),
                public_der,
                pkcs8: keep,
            });
        }
        Err(KeyError::InvalidPrivateKey(
            "not an RSA (2048–4096 bits), ECDSA P-256/P-384 or Ed25519 PKCS#8 key".into(),
        ))
    }

    /// The private key as unencrypted PKCS#8 DER, for sealing or an encrypted export.
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        self.pkcs8.clone()
    }

    fn sign_ecdsa_fallback(&self, digest: &[u8]) -> Result<Vec<u8>, KeyError> {
        // aws-lc-rs only signs the curve's own hash as a precomputed digest (P-256 with
        // SHA-256, P-384 with SHA-384); other pairs are rare, so the slower RustCrypto
        // signer handles them.
        let fail = |_| KeyError::Sign(self.algorithm);
        match self.algorithm {
            KeyAlgorithm::EcdsaP256 => {
                let key = p256::ecdsa::SigningKey::from_pkcs8_der(&self.pkcs8)
                    .map_err(|e| KeyError::InvalidPrivateKey(e.to_string()))?;
                let sig: p256::ecdsa::DerSignature = key.sign_prehash(digest).map_err(fail)?;
                Ok(sig.as_bytes().to_vec())
            }
            KeyAlgorithm::EcdsaP384 => {
                let key = p384::ecdsa::SigningKey::from_pkcs8_der(&self.pkcs8)
                    .map_err(|e| KeyError::InvalidPrivateKey(e.to_string()))?;
                let sig: p384::ecdsa::DerSignature = key.sign_prehash(digest).map_err(fail)?;
                Ok(sig.as_bytes().to_vec())
            }
            other => Err(KeyError::Sign(other)),
        }
    }
}

impl SigningKey for SoftwareKey {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    fn sign_digest(
        &self,
        hash: HashAlgorithm,
        padding: RsaPadding,
        digest: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        hash.check_digest(digest)?;
        let fail = |_| KeyError::Sign(self.algorithm);
        let imported =
            lc_digest::Digest::import_less_safe(digest, lc_digest_algorithm(hash)).map_err(fail)?;
        match &self.pair {
            Pair::Rsa(pair) => {
                let encoding: &'static dyn lc_sig::RsaEncoding = match (padding, hash) {
                    (RsaPadding::Pkcs1v15, HashAlgorithm::Sha256) => &lc_sig::RSA_PKCS1_SHA256,
                    (RsaPadding::Pkcs1v15, HashAlgorithm::Sha384) => &lc_sig::RSA_PKCS1_SHA384,
                    (RsaPadding::Pkcs1v15, HashAlgorithm::Sha512) => &lc_sig::RSA_PKCS1_SHA512,
                    (RsaPadding::Pss, HashAlgorithm::Sha256) => &lc_sig::RSA_PSS_SHA256,
                    (RsaPadding::Pss, HashAlgorithm::Sha384) => &lc_sig::RSA_PSS_SHA384,
                    (RsaPadding::Pss, HashAlgorithm::Sha512) => &lc_sig::RSA_PSS_SHA512,
                };
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign_digest(encoding, &imported, &mut signature)
                    .map_err(fail)?;
                Ok(signature)
            }
            Pair::Ecdsa(pair) => {
                if self.algorithm.default_hash() == hash {
                    Ok(pair.sign_digest(&imported).map_err(fail)?.as_ref().to_vec())
                } else {
                    self.sign_ecdsa_fallback(digest)
                }
            }
            Pair::Ed25519(_) => Err(KeyError::DigestSigningUnsupported(self.algorithm)),
        }
    }

    fn sign_message(
        &self,
        hash: HashAlgorithm,
        padding: RsaPadding,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            _ => self.sign_digest(hash, padding, &hash.digest(message)),
        }
    }

    /// Not for RSA: aws-lc checks every RSA private-key result itself before returning it
    /// (`rsa_default_private_transform` in `crypto/fipsmodule/rsa/rsa_impl.c` recomputes
    /// s^e mod n and fails unless it equals the input, against the RSA-CRT fault attack of
    /// Boneh, DeMillo and Lipton), so a second check here would find nothing new. Ed25519 is
    /// not checked by aws-lc; ECDSA faults do not show in a check.
    fn signatures_need_checking(&self) -> bool {
        match self.pair {
            Pair::Rsa(_) => false,
            _ => self.algorithm.verify_each_signature(),
        }
    }
}

fn ecdsa_native(algorithm: KeyAlgorithm) -> &'static EcdsaSigningAlgorithm {
    match algorithm {
        KeyAlgorithm::EcdsaP384 => &lc_sig::ECDSA_P384_SHA384_ASN1_SIGNING,
        _ => &lc_sig::ECDSA_P256_SHA256_ASN1_SIGNING,
    }
}

pub(crate) fn lc_digest_algorithm(hash: HashAlgorithm) -> &'static lc_digest::Algorithm {
    match hash {
        HashAlgorithm::Sha256 => &lc_digest::SHA256,
        HashAlgorithm::Sha384 => &lc_digest::SHA384,
        HashAlgorithm::Sha512 => &lc_digest::SHA512,
    }
}

fn public_der(
    der: Result<PublicKeyX509Der<'static>, aws_lc_rs::error::Unspecified>,
    algorithm: KeyAlgorithm,
) -> Result<Vec<u8>, KeyError> {
    der.map(|d| d.as_ref().to_vec()).map_err(|_| {
        KeyError::InvalidPrivateKey(format!("cannot encode the {algorithm} public key"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which software signatures the caller must check each of: only Ed25519's (aws-lc
    /// checks its RSA results itself; ECDSA faults do not show in a check).
    #[test]
    fn only_ed25519_signatures_need_a_check_by_the_caller() {
        for algorithm in KeyAlgorithm::ALL {
            let key = SoftwareKey::generate(algorithm).expect("generating a test key");
            assert_eq!(
                key.signatures_need_checking(),
                algorithm == KeyAlgorithm::Ed25519,
                "{algorithm:?}"
            );
        }
    }
}

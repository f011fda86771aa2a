//! Signature verification against a DER `SubjectPublicKeyInfo`.
//!
//! The server checks every signature it produces before returning it, and
//! `sigil verify` checks embedded signatures; both come here.

use aws_lc_rs::digest as lc_digest;
use aws_lc_rs::signature::{
    self as lc_sig, ParsedPublicKey, UnparsedPublicKey, VerificationAlgorithm,
};
use der::Decode;
use spki::SubjectPublicKeyInfoRef;

use crate::software::lc_digest_algorithm;
use crate::{HashAlgorithm, KeyError, KeyFamily, RsaPadding, inspect_public_key};

/// Verifies a signature over a precomputed digest.
///
/// Ed25519 keys cannot be verified this way (they sign messages); use [`verify_message`].
pub fn verify_digest(
    spki_der: &[u8],
    hash: HashAlgorithm,
    padding: RsaPadding,
    digest: &[u8],
    signature: &[u8],
) -> Result<(), KeyError> {
    hash.check_digest(digest)?;
    let info = inspect_public_key(spki_der)?;
    if info.algorithm.family() == KeyFamily::Ed25519 {
        return Err(KeyError::DigestSigningUnsupported(info.algorithm));
    }
    let (algorithm, key_bytes) =
        verification_input(spki_der, info.algorithm.family(), hash, padding)?;
    let digest = lc_digest::Digest::import_less_safe(digest, lc_digest_algorithm(hash))
        .map_err(|_| KeyError::BadSignature)?;
    UnparsedPublicKey::new(algorithm, key_bytes)
        .verify_digest(&digest, signature)
        .map_err(|_| KeyError::BadSignature)
}

/// Verifies a signature over a whole message (hashed with `hash`; Ed25519 ignores it).
pub fn verify_message(
    spki_der: &[u8],
    hash: HashAlgorithm,
    padding: RsaPadding,
    message: &[u8],
    signature: &[u8],
) -> Result<(), KeyError> {
    let info = inspect_public_key(spki_der)?;
    let (algorithm, key_bytes) =
        verification_input(spki_der, info.algorithm.family(), hash, padding)?;
    UnparsedPublicKey::new(algorithm, key_bytes)
        .verify(message, signature)
        .map_err(|_| KeyError::BadSignature)
}

/// Picks the aws-lc-rs verification algorithm and the key bytes it expects
/// (PKCS#1 `RSAPublicKey` for RSA, the SEC1 point for EC, the raw key for Ed25519).
fn verification_input(
    spki_der: &[u8],
    family: KeyFamily,
    hash: HashAlgorithm,
    padding: RsaPadding,
) -> Result<(&'static dyn VerificationAlgorithm, Vec<u8>), KeyError> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| KeyError::InvalidPublicKey(e.to_string()))?;
    let key_bytes = spki.subject_public_key.raw_bytes().to_vec();
    let curve = spki.algorithm.parameters_oid().ok();
    let p384 = curve == Some(const_oid::db::rfc5912::SECP_384_R_1);
    let algorithm: &'static dyn VerificationAlgorithm = match (family, padding, hash) {
        (KeyFamily::Rsa, RsaPadding::Pkcs1v15, HashAlgorithm::Sha256) => {
            &lc_sig::RSA_PKCS1_2048_8192_SHA256
        }
        (KeyFamily::Rsa, RsaPadding::Pkcs1v15, HashAlgorithm::Sha384) => {
            &lc_sig::RSA_PKCS1_2048_8192_SHA384
        }
        (KeyFamily::Rsa, RsaPadding::Pkcs1v15, HashAlgorithm::Sha512) => {
            &lc_sig::RSA_PKCS1_2048_8192_SHA512
        }
        (KeyFamily::Rsa, RsaPadding::Pss, HashAlgorithm::Sha256) => {
            &lc_sig::RSA_PSS_2048_8192_SHA256
        }
        (KeyFamily::Rsa, RsaPadding::Pss, HashAlgorithm::Sha384) => {
            &lc_sig::RSA_PSS_2048_8192_SHA384
        }
        (KeyFamily::Rsa, RsaPadding::Pss, HashAlgorithm::Sha512) => {
            &lc_sig::RSA_PSS_2048_8192_SHA512
        }
        (KeyFamily::Ecdsa, _, HashAlgorithm::Sha256) if p384 => &lc_sig::ECDSA_P384_SHA256_ASN1,
        (KeyFamily::Ecdsa, _, HashAlgorithm::Sha384) if p384 => &lc_sig::ECDSA_P384_SHA384_ASN1,
        (KeyFamily::Ecdsa, _, HashAlgorithm::Sha512) if p384 => &lc_sig::ECDSA_P384_SHA512_ASN1,
        (KeyFamily::Ecdsa, _, HashAlgorithm::Sha256) => &lc_sig::ECDSA_P256_SHA256_ASN1,
        (KeyFamily::Ecdsa, _, HashAlgorithm::Sha384) => &lc_sig::ECDSA_P256_SHA384_ASN1,
        (KeyFamily::Ecdsa, _, HashAlgorithm::Sha512) => &lc_sig::ECDSA_P256_SHA512_ASN1,
        (KeyFamily::Ed25519, _, _) => &lc_sig::ED25519,
    };
    Ok((algorithm, key_bytes))
}

/// A certificate's public key parsed once, for checking many digest signatures with it.
///
/// [`verify_digest`] parses the `SubjectPublicKeyInfo` and builds aws-lc's key object on every
/// call (for RSA the modulus and its Montgomery set-up, for EC the point's decoding and curve
/// check). The server checks every signature it makes against the signer certificate, so it
/// keeps one `VerifyingKey` per cached certificate chain. aws-lc ties a parsed key to one
/// verification algorithm (hash and padding), so one parsed key per combination is made the
/// first time it is used.
pub struct VerifyingKey {
    spki_der: Vec<u8>,
    family: KeyFamily,
    /// By hash and padding (see [`parsed_slot`]). A failure is kept as its message: the key
    /// bytes do not change, so neither would it.
    parsed: ParsedKeys,
}

impl VerifyingKey {
    /// Reads a DER `SubjectPublicKeyInfo` (the key is parsed for each algorithm when first used).
    pub fn from_spki(spki_der: &[u8]) -> Result<Self, KeyError> {
        let family = inspect_public_key(spki_der)?.algorithm.family();
        Ok(Self {
            spki_der: spki_der.to_vec(),
            family,
            parsed: Default::default(),
        })
    }

    /// The key as DER `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// What [`verify_digest`] checks, without parsing the key again.
    pub fn verify_digest(
        &self,
        hash: HashAlgorithm,
        padding: RsaPadding,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), KeyError> {
        hash.check_digest(digest)?;
        if self.family == KeyFamily::Ed25519 {
            return Err(KeyError::DigestSigningUnsupported(
                inspect_public_key(&self.spki_der)?.algorithm,
            ));
        }
        let key = parsed_slot(&self.parsed, hash, padding)
            .get_or_init(|| {
                let (algorithm, key_bytes) =
                    verification_input(&self.spki_der, self.family, hash, padding)
                        .map_err(|e| e.to_string())?;
                ParsedPublicKey::new(algorithm, key_bytes).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| KeyError::InvalidPublicKey(e.clone()))?;
        let digest = lc_digest::Digest::import_less_safe(digest, lc_digest_algorithm(hash))
            .map_err(|_| KeyError::BadSignature)?;
        key.verify_digest_sig(&digest, signature)
            .map_err(|_| KeyError::BadSignature)
    }
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

/// One parsed key per hash and padding (aws-lc ties a parsed key to one algorithm).
type ParsedKeys = [[std::sync::OnceLock<Result<ParsedPublicKey, String>>; 2]; 3];

/// The slot of a hash/padding pair in [`VerifyingKey::parsed`].
fn parsed_slot(
    parsed: &ParsedKeys,
    hash: HashAlgorithm,
    padding: RsaPadding,
) -> &std::sync::OnceLock<Result<ParsedPublicKey, String>> {
    let [sha256, sha384, sha512] = parsed;
    let [pkcs1, pss] = match hash {
        HashAlgorithm::Sha256 => sha256,
        HashAlgorithm::Sha384 => sha384,
        HashAlgorithm::Sha512 => sha512,
    };
    match padding {
        RsaPadding::Pkcs1v15 => pkcs1,
        RsaPadding::Pss => pss,
    }
}

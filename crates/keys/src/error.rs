use thiserror::Error;

use crate::{HashAlgorithm, KeyAlgorithm};

/// Why a key operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key algorithm name is not one Sigil supports.
    #[error(
        "unknown key algorithm {0:?}: use one of rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384, ed25519"
    )]
    UnknownAlgorithm(String),
    /// The hash algorithm name is not one Sigil supports.
    #[error("unknown hash algorithm {0:?}: use one of SHA256, SHA384, SHA512")]
    UnknownHash(String),
    /// The digest does not have the length of its hash algorithm.
    #[error("a {hash} digest is {expected} bytes long, got {actual}")]
    DigestLength {
        /// The hash algorithm named with the digest.
        hash: HashAlgorithm,
        /// Its output length.
        expected: usize,
        /// The length received.
        actual: usize,
    },
    /// Ed25519 signs messages, not digests.
    #[error(
        "{0} keys sign whole messages, not digests: choose an RSA or ECDSA key for digest signing"
    )]
    DigestSigningUnsupported(KeyAlgorithm),
    /// Key generation failed inside the crypto library.
    #[error("generating a {0} key failed")]
    Generate(KeyAlgorithm),
    /// The PKCS#8 private key could not be read.
    #[error("the private key is not a valid PKCS#8 RSA, P-256, P-384 or Ed25519 key: {0}")]
    InvalidPrivateKey(String),
    /// The public key could not be read or is of an unsupported type.
    #[error("unsupported or malformed public key: {0}")]
    InvalidPublicKey(String),
    /// The signing operation itself failed.
    #[error("signing with the {0} key failed")]
    Sign(KeyAlgorithm),
    /// The key's backend (an HSM) could not sign, even after reopening its session once.
    #[error("the key's backend {backend:?} failed: {reason}")]
    Backend {
        /// The backend's name (the HSM's configured name).
        backend: String,
        /// What failed and what to do.
        reason: String,
    },
    /// A signature did not verify.
    #[error("the signature does not verify against the public key")]
    BadSignature,
}

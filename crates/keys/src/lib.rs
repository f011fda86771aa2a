//! Signing keys for Sigil.
//!
//! Everything that signs in Sigil — a CA issuing a certificate, a policy key
//! signing a client's digest, an Authenticode or JAR signature — goes through
//! one trait, [`SigningKey`]. The software backend, [`SoftwareKey`], keeps the
//! private key in memory (PKCS#8, zeroized on drop) and signs with `aws-lc-rs`,
//! which is 4–6× faster than the pure-Rust crates on this hot path (one core,
//! a SHA-256 digest: RSA-2048 1,492/s against 367/s for `rsa`, P-256 57,607/s
//! against 9,653/s for `p256`). HSM keys (PKCS#11, in `sigil-custody`)
//! implement the same trait.
//!
//! ```
//! use sigil_keys::{HashAlgorithm, KeyAlgorithm, RsaPadding, SigningKey, SoftwareKey};
//!
//! let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256)?;
//! let digest = HashAlgorithm::Sha256.digest(b"artifact bytes");
//! let signature = key.sign_digest(HashAlgorithm::Sha256, RsaPadding::Pkcs1v15, &digest)?;
//! sigil_keys::verify_digest(
//!     key.public_key_der(),
//!     HashAlgorithm::Sha256,
//!     RsaPadding::Pkcs1v15,
//!     &digest,
//!     &signature,
//! )?;
//! # Ok::<(), sigil_keys::KeyError>(())
//! ```

#![forbid(unsafe_code)]

mod algorithm;
mod error;
pub mod external;
mod parts;
mod public_key;
mod software;
mod verify;

pub use algorithm::{
    HashAlgorithm, Hasher, KeyAlgorithm, KeyFamily, RsaPadding, SignatureAlgorithm,
};
pub use error::KeyError;
pub use parts::PrivateParts;
pub use public_key::{PublicKeyInfo, inspect_public_key};
pub use software::SoftwareKey;
pub use verify::{VerifyingKey, verify_digest, verify_message};

/// A private key that can sign, wherever it lives (memory, HSM).
///
/// Implementations must be cheap to share between threads: the server signs
/// from many connections at once.
pub trait SigningKey: Send + Sync {
    /// The key's algorithm and size.
    fn algorithm(&self) -> KeyAlgorithm;

    /// The DER `SubjectPublicKeyInfo` of the public half.
    fn public_key_der(&self) -> &[u8];

    /// Signs a digest computed elsewhere (the client's, or a CMS signed-attributes hash).
    ///
    /// `padding` only matters for RSA keys. ECDSA signatures are DER-encoded
    /// (`Ecdsa-Sig-Value`). Ed25519 keys cannot sign a digest and return
    /// [`KeyError::DigestSigningUnsupported`].
    fn sign_digest(
        &self,
        hash: HashAlgorithm,
        padding: RsaPadding,
        digest: &[u8],
    ) -> Result<Vec<u8>, KeyError>;

    /// Whether signing leaves the process (an HSM round trip, possibly waiting for a free
    /// session): such keys are only used from a blocking context, never on an async worker.
    fn is_remote(&self) -> bool {
        false
    }

    /// The pool of sessions this key signs through, by name and size, when its signatures
    /// wait for a free session (an HSM): a caller can then queue the signatures beyond the
    /// pool's size itself instead of parking a thread on each. `None` for keys in memory.
    fn session_pool(&self) -> Option<(&str, usize)> {
        None
    }

    /// Whether a caller must check each signature before releasing it: a fault while signing
    /// could give the key away ([`KeyAlgorithm::verify_each_signature`]) and this
    /// implementation does not check its own results. Signatures of a key that answers false
    /// still need one check to prove the key matches its certificate.
    fn signatures_need_checking(&self) -> bool {
        self.algorithm().verify_each_signature()
    }

    /// Signs a message: hashes it with `hash`, then signs the digest.
    ///
    /// Ed25519 keys sign the message itself (PureEdDSA) and ignore `hash`.
    fn sign_message(
        &self,
        hash: HashAlgorithm,
        padding: RsaPadding,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        self.sign_digest(hash, padding, &hash.digest(message))
    }
}

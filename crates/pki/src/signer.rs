//! The bridge from a Sigil [`SigningKey`] to the RustCrypto builders.
//!
//! `x509-cert`'s certificate, CSR and CRL builders take any signer that
//! implements the `signature`/`spki` traits. [`KeySigner`] implements them
//! over `&dyn SigningKey`, so the same builders work with software keys and
//! HSM keys, and the key type is chosen at run time.

use der::Document;
use der::asn1::BitString;
use sigil_keys::{HashAlgorithm, RsaPadding, SignatureAlgorithm, SigningKey};
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding,
};

/// A [`SigningKey`] seen through the RustCrypto signer traits.
pub struct KeySigner<'a> {
    key: &'a dyn SigningKey,
    algorithm: SignatureAlgorithm,
    public_key: PublicKeyDer,
}

impl<'a> KeySigner<'a> {
    /// Signs with `key`, hashing with `hash` and (for RSA) padding with `padding`.
    pub fn new(key: &'a dyn SigningKey, hash: HashAlgorithm, padding: RsaPadding) -> Self {
        Self {
            key,
            algorithm: SignatureAlgorithm {
                family: key.algorithm().family(),
                hash,
                padding,
            },
            public_key: PublicKeyDer(key.public_key_der().to_vec()),
        }
    }

    /// Signs with the hash that matches the key's strength and PKCS#1 v1.5 for RSA,
    /// which is what certificates and CRLs issued by a CA use.
    pub fn with_default_hash(key: &'a dyn SigningKey) -> Self {
        Self::new(key, key.algorithm().default_hash(), RsaPadding::Pkcs1v15)
    }

    /// The signature algorithm this signer produces.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }
}

/// A DER `SubjectPublicKeyInfo`, as the builders want the verifying key.
#[derive(Clone, Debug)]
pub struct PublicKeyDer(pub Vec<u8>);

impl EncodePublicKey for PublicKeyDer {
    fn to_public_key_der(&self) -> spki::Result<Document> {
        Ok(Document::try_from(self.0.as_slice())?)
    }
}

/// A signature as raw bytes (RSA block, DER ECDSA value or Ed25519 bytes).
#[derive(Clone, Debug)]
pub struct RawSignature(pub Vec<u8>);

impl SignatureBitStringEncoding for RawSignature {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

impl signature::Keypair for KeySigner<'_> {
    type VerifyingKey = PublicKeyDer;

    fn verifying_key(&self) -> PublicKeyDer {
        self.public_key.clone()
    }
}

impl DynSignatureAlgorithmIdentifier for KeySigner<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        self.algorithm
            .algorithm_identifier()
            .map_err(|_| spki::Error::KeyMalformed)
    }
}

impl signature::Signer<RawSignature> for KeySigner<'_> {
    fn try_sign(&self, msg: &[u8]) -> Result<RawSignature, signature::Error> {
        self.key
            .sign_message(self.algorithm.hash, self.algorithm.padding, msg)
            .map(RawSignature)
            .map_err(signature::Error::from_source)
    }
}

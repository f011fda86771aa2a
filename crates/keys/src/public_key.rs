//! Reading public keys: which algorithm and size a `SubjectPublicKeyInfo` holds.
//!
//! Used to check CSRs against a certificate profile and to pick verification
//! algorithms. Only the key types Sigil can sign with are accepted.

use const_oid::db::{rfc5912, rfc8410};
use der::Decode;
use rsa::traits::PublicKeyParts;
use spki::SubjectPublicKeyInfoRef;

use crate::{KeyAlgorithm, KeyError};

/// A parsed public key: its algorithm and its DER `SubjectPublicKeyInfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeyInfo {
    /// The key's algorithm and size.
    pub algorithm: KeyAlgorithm,
    /// The DER `SubjectPublicKeyInfo`, re-encoded canonically.
    pub der: Vec<u8>,
}

/// Parses a DER `SubjectPublicKeyInfo` and says which supported algorithm it is.
///
/// RSA keys must be 2048, 3072 or 4096 bits; EC keys must be on P-256 or P-384
/// and the point must be valid; Ed25519 keys must be 32 bytes.
pub fn inspect_public_key(spki_der: &[u8]) -> Result<PublicKeyInfo, KeyError> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| KeyError::InvalidPublicKey(format!("not a DER SubjectPublicKeyInfo: {e}")))?;
    let algorithm = match spki.algorithm.oid {
        rfc5912::RSA_ENCRYPTION => {
            let key = rsa::PublicKey::try_from(spki.clone())
                .map_err(|e| KeyError::InvalidPublicKey(format!("RSA key: {e}")))?;
            match key.size() * 8 {
                2048 => KeyAlgorithm::Rsa2048,
                3072 => KeyAlgorithm::Rsa3072,
                4096 => KeyAlgorithm::Rsa4096,
                bits => {
                    return Err(KeyError::InvalidPublicKey(format!(
                        "RSA keys must have 2048, 3072 or 4096 bits, this one has {bits}"
                    )));
                }
            }
        }
        rfc5912::ID_EC_PUBLIC_KEY => {
            let curve = spki.algorithm.parameters_oid().map_err(|e| {
                KeyError::InvalidPublicKey(format!("EC key without a named curve: {e}"))
            })?;
            let point = spki.subject_public_key.raw_bytes();
            match curve {
                rfc5912::SECP_256_R_1 => {
                    p256::PublicKey::from_sec1_bytes(point)
                        .map_err(|_| KeyError::InvalidPublicKey("invalid P-256 point".into()))?;
                    KeyAlgorithm::EcdsaP256
                }
                rfc5912::SECP_384_R_1 => {
                    p384::PublicKey::from_sec1_bytes(point)
                        .map_err(|_| KeyError::InvalidPublicKey("invalid P-384 point".into()))?;
                    KeyAlgorithm::EcdsaP384
                }
                other => {
                    return Err(KeyError::InvalidPublicKey(format!(
                        "EC curve {other} is not supported: use P-256 or P-384"
                    )));
                }
            }
        }
        rfc8410::ID_ED_25519 => {
            if spki.subject_public_key.raw_bytes().len() != 32 {
                return Err(KeyError::InvalidPublicKey(
                    "Ed25519 keys are 32 bytes".into(),
                ));
            }
            KeyAlgorithm::Ed25519
        }
        other => {
            return Err(KeyError::InvalidPublicKey(format!(
                "key algorithm {other} is not supported: use RSA, ECDSA P-256/P-384 or Ed25519"
            )));
        }
    };
    let der = der::Encode::to_der(&spki)
        .map_err(|e| KeyError::InvalidPublicKey(format!("re-encoding the key: {e}")))?;
    Ok(PublicKeyInfo { algorithm, der })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = inspect_public_key(&bytes);
        }
    }
}

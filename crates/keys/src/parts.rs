//! The numbers of a software private key, for moving it into an HSM (`C_CreateObject` takes
//! them attribute by attribute). Zeroized when dropped.

use der::Decode;
use der::asn1::{OctetStringRef, UintRef};
use rsa::pkcs1::RsaPrivateKeyRef;
use rsa::pkcs8::DecodePrivateKey;
use rsa::pkcs8::PrivateKeyInfoRef;
use spki::SubjectPublicKeyInfoRef;
use zeroize::Zeroizing;

use crate::{KeyAlgorithm, KeyError, SigningKey, SoftwareKey};

/// The private numbers of a key, big-endian without leading zeros.
#[derive(Debug)]
pub enum PrivateParts {
    /// RSA (two primes): PKCS#1 `RSAPrivateKey`.
    Rsa {
        /// `n`.
        modulus: Vec<u8>,
        /// `e`.
        public_exponent: Vec<u8>,
        /// `d`.
        private_exponent: Zeroizing<Vec<u8>>,
        /// `p`.
        prime1: Zeroizing<Vec<u8>>,
        /// `q`.
        prime2: Zeroizing<Vec<u8>>,
        /// `d mod (p−1)`.
        exponent1: Zeroizing<Vec<u8>>,
        /// `d mod (q−1)`.
        exponent2: Zeroizing<Vec<u8>>,
        /// `q⁻¹ mod p`.
        coefficient: Zeroizing<Vec<u8>>,
    },
    /// ECDSA on P-256 or P-384.
    Ec {
        /// Which curve.
        algorithm: KeyAlgorithm,
        /// The private scalar, as long as the curve's order.
        scalar: Zeroizing<Vec<u8>>,
        /// The public point, uncompressed (`04 || x || y`).
        point: Vec<u8>,
    },
}

impl SoftwareKey {
    /// The key's private numbers (RSA and ECDSA; Ed25519 keys are refused).
    pub fn private_parts(&self) -> Result<PrivateParts, KeyError> {
        let invalid = |e: &dyn std::fmt::Display| KeyError::InvalidPrivateKey(e.to_string());
        let pkcs8 = self.to_pkcs8_der();
        match self.algorithm() {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let info = PrivateKeyInfoRef::from_der(&pkcs8).map_err(|e| invalid(&e))?;
                let octets: &OctetStringRef = info.private_key;
                let key = RsaPrivateKeyRef::try_from(octets).map_err(|e| invalid(&e))?;
                if key.other_prime_infos.is_some() {
                    return Err(KeyError::InvalidPrivateKey(
                        "multi-prime RSA keys cannot be moved into an HSM".into(),
                    ));
                }
                let secret = |u: UintRef<'_>| Zeroizing::new(u.as_bytes().to_vec());
                Ok(PrivateParts::Rsa {
                    modulus: key.modulus.as_bytes().to_vec(),
                    public_exponent: key.public_exponent.as_bytes().to_vec(),
                    private_exponent: secret(key.private_exponent),
                    prime1: secret(key.prime1),
                    prime2: secret(key.prime2),
                    exponent1: secret(key.exponent1),
                    exponent2: secret(key.exponent2),
                    coefficient: secret(key.coefficient),
                })
            }
            algorithm @ (KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384) => {
                let scalar = match algorithm {
                    KeyAlgorithm::EcdsaP256 => Zeroizing::new(
                        p256::SecretKey::from_pkcs8_der(&pkcs8)
                            .map_err(|e| invalid(&e))?
                            .to_bytes()
                            .to_vec(),
                    ),
                    _ => Zeroizing::new(
                        p384::SecretKey::from_pkcs8_der(&pkcs8)
                            .map_err(|e| invalid(&e))?
                            .to_bytes()
                            .to_vec(),
                    ),
                };
                let spki = SubjectPublicKeyInfoRef::from_der(self.public_key_der())
                    .map_err(|e| invalid(&e))?;
                let point = spki
                    .subject_public_key
                    .as_bytes()
                    .ok_or_else(|| invalid(&"the public key BIT STRING has unused bits"))?
                    .to_vec();
                Ok(PrivateParts::Ec {
                    algorithm,
                    scalar,
                    point,
                })
            }
            KeyAlgorithm::Ed25519 => Err(KeyError::InvalidPrivateKey(
                "Ed25519 keys are not moved into an HSM by Sigil".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect_public_key;

    #[test]
    fn parts_match_the_public_key() {
        for algorithm in [
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
        ] {
            let key = SoftwareKey::generate(algorithm).unwrap();
            match key.private_parts().unwrap() {
                PrivateParts::Rsa {
                    modulus,
                    public_exponent,
                    prime1,
                    prime2,
                    ..
                } => {
                    assert_eq!(public_exponent, [1, 0, 1]);
                    assert_eq!(modulus.len(), 256);
                    assert_eq!(prime1.len() + prime2.len(), 256);
                    let spki = SubjectPublicKeyInfoRef::from_der(key.public_key_der()).unwrap();
                    let bits = spki.subject_public_key.as_bytes().unwrap();
                    assert!(bits.windows(modulus.len()).any(|w| w == modulus.as_slice()));
                }
                PrivateParts::Ec {
                    algorithm: curve,
                    scalar,
                    point,
                } => {
                    assert_eq!(curve, algorithm);
                    let size = if curve == KeyAlgorithm::EcdsaP256 {
                        32
                    } else {
                        48
                    };
                    assert_eq!(scalar.len(), size);
                    assert_eq!(point.len(), 1 + 2 * size);
                    assert_eq!(point[0], 4);
                }
            }
            assert_eq!(
                inspect_public_key(key.public_key_der()).unwrap().algorithm,
                algorithm
            );
        }
        let ed = SoftwareKey::generate(KeyAlgorithm::Ed25519).unwrap();
        assert!(ed.private_parts().is_err());
    }
}

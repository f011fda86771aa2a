//! Building blocks for keys held outside this process (an HSM through PKCS#11): the
//! encodings a token needs or returns that Sigil's own signer does internally.
//!
//! - [`digest_info`]: the PKCS#1 v1.5 `DigestInfo` a token signs with `CKM_RSA_PKCS`.
//! - [`ecdsa_raw_to_der`]: a token's raw `r‖s` ECDSA signature as DER `Ecdsa-Sig-Value`.
//! - [`rsa_spki`], [`ec_spki`], [`ed25519_spki`]: a `SubjectPublicKeyInfo` from a token's
//!   public key attributes, checked like any other public key.

use const_oid::db::{rfc5912, rfc8410};
use der::asn1::{BitString, Null, UintRef};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::{HashAlgorithm, KeyAlgorithm, KeyError, PublicKeyInfo, inspect_public_key};

/// DER prefixes of `DigestInfo` (RFC 8017 §9.2, note 1) before the digest bytes.
const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const SHA384_PREFIX: [u8; 19] = [
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
const SHA512_PREFIX: [u8; 19] = [
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

/// The DER `DigestInfo` of `digest` (checked against `hash`'s length), the input of a raw
/// PKCS#1 v1.5 signature.
pub fn digest_info(hash: HashAlgorithm, digest: &[u8]) -> Result<Vec<u8>, KeyError> {
    hash.check_digest(digest)?;
    let prefix: &[u8] = match hash {
        HashAlgorithm::Sha256 => &SHA256_PREFIX,
        HashAlgorithm::Sha384 => &SHA384_PREFIX,
        HashAlgorithm::Sha512 => &SHA512_PREFIX,
    };
    let mut info = Vec::with_capacity(prefix.len() + digest.len());
    info.extend_from_slice(prefix);
    info.extend_from_slice(digest);
    Ok(info)
}

/// Converts a PKCS#11 ECDSA signature (`r‖s`, each the curve's size) to DER `Ecdsa-Sig-Value`.
pub fn ecdsa_raw_to_der(algorithm: KeyAlgorithm, raw: &[u8]) -> Result<Vec<u8>, KeyError> {
    let fail = || KeyError::Sign(algorithm);
    match algorithm {
        KeyAlgorithm::EcdsaP256 => Ok(p256::ecdsa::Signature::from_slice(raw)
            .map_err(|_| fail())?
            .to_der()
            .as_bytes()
            .to_vec()),
        KeyAlgorithm::EcdsaP384 => Ok(p384::ecdsa::Signature::from_slice(raw)
            .map_err(|_| fail())?
            .to_der()
            .as_bytes()
            .to_vec()),
        _ => Err(fail()),
    }
}

#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// The `SubjectPublicKeyInfo` of an RSA key from its modulus and public exponent (big-endian).
pub fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Result<PublicKeyInfo, KeyError> {
    let bad = |e: der::Error| KeyError::InvalidPublicKey(format!("RSA key from the token: {e}"));
    let key = RsaPublicKey {
        modulus: UintRef::new(modulus).map_err(bad)?,
        public_exponent: UintRef::new(exponent).map_err(bad)?,
    };
    let bits = key.to_der().map_err(bad)?;
    spki(
        AlgorithmIdentifierOwned {
            oid: rfc5912::RSA_ENCRYPTION,
            parameters: Some(Null.into()),
        },
        &bits,
    )
}

/// The `SubjectPublicKeyInfo` of a P-256 or P-384 key from its point: the uncompressed SEC1
/// bytes, or those bytes wrapped in a DER OCTET STRING (how PKCS#11 `CKA_EC_POINT` holds it).
pub fn ec_spki(algorithm: KeyAlgorithm, point: &[u8]) -> Result<PublicKeyInfo, KeyError> {
    let curve = match algorithm {
        KeyAlgorithm::EcdsaP256 => rfc5912::SECP_256_R_1,
        KeyAlgorithm::EcdsaP384 => rfc5912::SECP_384_R_1,
        other => {
            return Err(KeyError::InvalidPublicKey(format!(
                "{other} is not an ECDSA algorithm"
            )));
        }
    };
    let parameters = der::asn1::Any::encode_from(&curve)
        .map_err(|e| KeyError::InvalidPublicKey(format!("curve identifier: {e}")))?;
    spki(
        AlgorithmIdentifierOwned {
            oid: rfc5912::ID_EC_PUBLIC_KEY,
            parameters: Some(parameters),
        },
        &unwrap_octet_string(point),
    )
}

/// The `SubjectPublicKeyInfo` of an Ed25519 key from its 32 bytes (bare or in a DER OCTET
/// STRING).
pub fn ed25519_spki(point: &[u8]) -> Result<PublicKeyInfo, KeyError> {
    spki(
        AlgorithmIdentifierOwned {
            oid: rfc8410::ID_ED_25519,
            parameters: None,
        },
        &unwrap_octet_string(point),
    )
}

/// Tokens differ on whether `CKA_EC_POINT` is DER-wrapped; a bare SEC1 point starts with
/// 0x04 followed by an even length, which no OCTET STRING header of these sizes produces.
fn unwrap_octet_string(bytes: &[u8]) -> Vec<u8> {
    match der::asn1::OctetString::from_der(bytes) {
        Ok(inner) => inner.as_bytes().to_vec(),
        Err(_) => bytes.to_vec(),
    }
}

fn spki(algorithm: AlgorithmIdentifierOwned, key: &[u8]) -> Result<PublicKeyInfo, KeyError> {
    let bad = |e: der::Error| KeyError::InvalidPublicKey(format!("public key from the token: {e}"));
    let info = SubjectPublicKeyInfoOwned {
        algorithm,
        subject_public_key: BitString::from_bytes(key).map_err(bad)?,
    };
    inspect_public_key(&info.to_der().map_err(bad)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RsaPadding, SigningKey, SoftwareKey, verify_digest};

    #[test]
    fn digest_info_prefixes_match_the_software_signer() {
        // A raw RSA signature over DigestInfo, made by the software key through the PKCS#1
        // v1.5 path, verifies: so the prefixes are right for every hash.
        let key = SoftwareKey::generate(KeyAlgorithm::Rsa2048).unwrap();
        for hash in [
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ] {
            let digest = hash.digest(b"data");
            let info = digest_info(hash, &digest).unwrap();
            assert_eq!(info.len(), 19 + hash.digest_len());
            let parsed = der::asn1::Any::from_der(&info).unwrap();
            assert_eq!(der::Tagged::tag(&parsed), der::Tag::Sequence);
            let signature = key
                .sign_digest(hash, RsaPadding::Pkcs1v15, &digest)
                .unwrap();
            verify_digest(
                key.public_key_der(),
                hash,
                RsaPadding::Pkcs1v15,
                &digest,
                &signature,
            )
            .unwrap();
        }
        assert!(digest_info(HashAlgorithm::Sha256, &[0; 31]).is_err());
    }

    #[test]
    fn ecdsa_raw_becomes_der_that_verifies() {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        use p256::pkcs8::DecodePrivateKey;
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let signer = p256::ecdsa::SigningKey::from_pkcs8_der(&key.to_pkcs8_der()).unwrap();
        let digest = HashAlgorithm::Sha256.digest(b"data");
        let raw: p256::ecdsa::Signature = signer.sign_prehash(&digest).unwrap();
        let der = ecdsa_raw_to_der(KeyAlgorithm::EcdsaP256, &raw.to_bytes()).unwrap();
        verify_digest(
            key.public_key_der(),
            HashAlgorithm::Sha256,
            RsaPadding::Pkcs1v15,
            &digest,
            &der,
        )
        .unwrap();
        assert!(ecdsa_raw_to_der(KeyAlgorithm::EcdsaP256, &[1; 63]).is_err());
    }

    #[test]
    fn spki_from_parts_equals_the_keys_own() {
        let ec = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
        let parsed = spki::SubjectPublicKeyInfoRef::from_der(ec.public_key_der()).unwrap();
        let point = parsed.subject_public_key.raw_bytes();
        assert_eq!(
            ec_spki(KeyAlgorithm::EcdsaP384, point).unwrap().der,
            ec.public_key_der()
        );
        let wrapped = der::asn1::OctetString::new(point)
            .unwrap()
            .to_der()
            .unwrap();
        assert_eq!(
            ec_spki(KeyAlgorithm::EcdsaP384, &wrapped).unwrap().der,
            ec.public_key_der()
        );
        assert!(ec_spki(KeyAlgorithm::EcdsaP256, point).is_err());

        let ed = SoftwareKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let parsed = spki::SubjectPublicKeyInfoRef::from_der(ed.public_key_der()).unwrap();
        let info = ed25519_spki(parsed.subject_public_key.raw_bytes()).unwrap();
        assert_eq!(info.der, ed.public_key_der());

        let rsa = SoftwareKey::generate(KeyAlgorithm::Rsa2048).unwrap();
        let parsed = spki::SubjectPublicKeyInfoRef::from_der(rsa.public_key_der()).unwrap();
        #[derive(Sequence)]
        struct Owned {
            modulus: der::asn1::Uint,
            public_exponent: der::asn1::Uint,
        }
        let parts = Owned::from_der(parsed.subject_public_key.raw_bytes()).unwrap();
        let info = rsa_spki(parts.modulus.as_bytes(), parts.public_exponent.as_bytes()).unwrap();
        assert_eq!(info.algorithm, KeyAlgorithm::Rsa2048);
        assert_eq!(info.der, rsa.public_key_der());
    }
}

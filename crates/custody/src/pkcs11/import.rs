//! Moving a private key made elsewhere (read from a PKCS#12 file) onto the token: a public
//! and a private key object created with `C_CreateObject`, the private one sensitive and not
//! extractable, named like a key the token generated (`CKA_ID` = the record's UUID bytes,
//! `CKA_LABEL` = `sigil-<uuid>`). Ed25519 keys are not moved (Sigil's code-signing and
//! time-stamping keys are RSA or ECDSA).

use std::sync::Arc;

use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use sigil_domain::{KeyId, KeyLocation};
use sigil_keys::{KeyAlgorithm, PrivateParts, SigningKey, SoftwareKey};
use zeroize::Zeroize;

use super::{P256_PARAMS, P384_PARAMS, Pkcs11Custody, Pkcs11Key, describe, public_key_info};
use crate::KeystoreError;

/// Creates `key` on the token as record `id`; returns the token key and its location.
pub(super) fn import(
    custody: &Pkcs11Custody,
    id: KeyId,
    key: &SoftwareKey,
) -> Result<(Arc<dyn SigningKey>, KeyLocation), KeystoreError> {
    let algorithm = key.algorithm();
    let parts = key.private_parts()?;
    let object_id = id.0.as_bytes().to_vec();
    let label = format!("sigil-{id}");
    let (mut public, mut private) = templates(&parts);
    public.extend([
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::Id(object_id.clone()),
        Attribute::Label(label.clone().into_bytes()),
    ]);
    private.extend([
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        // A signing key only: no decryption or unwrapping with it.
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
        Attribute::Id(object_id.clone()),
        Attribute::Label(label.clone().into_bytes()),
    ]);
    let outcome = custody.pool.run(|worker| {
        let session = worker.session();
        let public_handle = session.create_object(&public)?;
        let private_handle = match session.create_object(&private) {
            Ok(handle) => handle,
            Err(e) => {
                // Leave nothing half-made behind.
                let _ = session.destroy_object(public_handle);
                return Err(e);
            }
        };
        let checked = session.get_attributes(
            private_handle,
            &[AttributeType::Sensitive, AttributeType::Extractable],
        )?;
        let info = public_key_info(session, public_handle, algorithm);
        worker.remember(&object_id, private_handle);
        Ok((checked, info))
    });
    wipe(&mut private);
    let (checked, info) = outcome.map_err(|e| {
        custody.hsm_error(format!(
            "storing the imported {algorithm} key on the token failed ({}): check that the \
             token has room and accepts {algorithm} keys",
            describe(&e)
        ))
    })?;
    let info = custody.accept_new_key("the imported key", &label, &checked, info)?;
    if info.der != key.public_key_der() {
        return Err(custody.hsm_error(format!(
            "the token holds another public key for the imported key {label} than the file: \
             Sigil will not use it (delete the object with the token's tools)"
        )));
    }
    let opened = Pkcs11Key {
        pool: custody.pool.clone(),
        object_id: object_id.clone(),
        algorithm,
        public_der: info.der,
    };
    Ok((
        Arc::new(opened),
        KeyLocation::Hsm {
            hsm: custody.pool.name().to_owned(),
            object_id,
            label,
        },
    ))
}

/// The public and private object templates of `parts` (without id, label and flags).
fn templates(parts: &PrivateParts) -> (Vec<Attribute>, Vec<Attribute>) {
    match parts {
        PrivateParts::Rsa {
            modulus,
            public_exponent,
            private_exponent,
            prime1,
            prime2,
            exponent1,
            exponent2,
            coefficient,
        } => (
            vec![
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::RSA),
                Attribute::Modulus(modulus.clone()),
                Attribute::PublicExponent(public_exponent.clone()),
            ],
            vec![
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::RSA),
                Attribute::Modulus(modulus.clone()),
                Attribute::PublicExponent(public_exponent.clone()),
                Attribute::PrivateExponent(private_exponent.to_vec()),
                Attribute::Prime1(prime1.to_vec()),
                Attribute::Prime2(prime2.to_vec()),
                Attribute::Exponent1(exponent1.to_vec()),
                Attribute::Exponent2(exponent2.to_vec()),
                Attribute::Coefficient(coefficient.to_vec()),
            ],
        ),
        PrivateParts::Ec {
            algorithm,
            scalar,
            point,
        } => {
            let params = if *algorithm == KeyAlgorithm::EcdsaP256 {
                P256_PARAMS.to_vec()
            } else {
                P384_PARAMS.to_vec()
            };
            // CKA_EC_POINT is the DER OCTET STRING of the uncompressed point (< 128 bytes).
            let mut octets = vec![0x04, u8::try_from(point.len()).unwrap_or(0)];
            octets.extend_from_slice(point);
            (
                vec![
                    Attribute::Class(ObjectClass::PUBLIC_KEY),
                    Attribute::KeyType(KeyType::EC),
                    Attribute::EcParams(params.clone()),
                    Attribute::EcPoint(octets),
                ],
                vec![
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::KeyType(KeyType::EC),
                    Attribute::EcParams(params),
                    Attribute::Value(scalar.to_vec()),
                ],
            )
        }
    }
}

/// Overwrites the private numbers in a template once the token has them.
fn wipe(template: &mut [Attribute]) {
    for attribute in template {
        match attribute {
            Attribute::PrivateExponent(v)
            | Attribute::Prime1(v)
            | Attribute::Prime2(v)
            | Attribute::Exponent1(v)
            | Attribute::Exponent2(v)
            | Attribute::Coefficient(v)
            | Attribute::Value(v) => v.zeroize(),
            _ => {}
        }
    }
}

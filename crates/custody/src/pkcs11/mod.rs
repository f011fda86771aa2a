//! The PKCS#11 backend: keys generated and kept on a hardware module (or SoftHSM2), used
//! through the `cryptoki` crate.
//!
//! Keys are generated on the token as token objects that are sensitive and not extractable,
//! with a `CKA_ID` (the key record's UUID bytes) and a `CKA_LABEL` (`sigil-<uuid>`) that the
//! key record keeps. Nothing else about them leaves the token but their public half.
//!
//! Signing goes through a pool of logged-in read/write sessions (a `cryptoki` session may
//! be moved between threads but not shared). A session that fails in a way that says the
//! session or the token went away is closed, a fresh one is opened and logged in, and the
//! operation is retried once; a second failure is reported for that request only.

mod config;
mod import;
mod pool;

use std::sync::Arc;

use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use sigil_domain::{KeyId, KeyLocation, SealedKey};
use sigil_keys::external::{digest_info, ec_spki, ecdsa_raw_to_der, ed25519_spki, rsa_spki};
use sigil_keys::{
    HashAlgorithm, KeyAlgorithm, KeyError, KeyFamily, PublicKeyInfo, RsaPadding, SigningKey,
};

pub use config::{HsmConfig, PinSource, seal_pin};
use pool::{SessionPool, describe};

use crate::KeystoreError;
use crate::keystore::KeyCustody;

/// DER of the named-curve OIDs `CKA_EC_PARAMS` takes.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_PARAMS: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const ED25519_PARAMS: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x70];

/// One configured HSM: a token in a PKCS#11 module, logged in, with its session pool.
#[derive(Clone)]
pub struct Pkcs11Custody {
    pool: Arc<SessionPool>,
}

impl std::fmt::Debug for Pkcs11Custody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Custody")
            .field("name", &self.pool.name())
            .finish_non_exhaustive()
    }
}

impl Pkcs11Custody {
    /// Loads the module, finds the token, opens a first session and logs in with the user
    /// PIN. Any failure (module missing, token not found, wrong PIN) is an
    /// [`KeystoreError::Hsm`] that names the HSM and what to do.
    pub fn connect(
        config: &HsmConfig,
        pin: cryptoki::types::AuthPin,
    ) -> Result<Self, KeystoreError> {
        Ok(Self {
            pool: Arc::new(SessionPool::connect(config, pin)?),
        })
    }

    /// Whether the token offers `CKM_EDDSA` (Ed25519 keys).
    pub fn offers_eddsa(&self) -> bool {
        self.pool.offers(MechanismType::EDDSA)
    }

    /// How many sessions the pool may open.
    pub fn pool_size(&self) -> usize {
        self.pool.size()
    }

    fn hsm_error(&self, reason: String) -> KeystoreError {
        KeystoreError::Hsm {
            hsm: self.pool.name().to_owned(),
            reason,
        }
    }

    /// Accepts a key object the token just made (`made`: "the new key", "the imported key"):
    /// its public half was read back, and the private half reports `CKA_SENSITIVE` true and
    /// `CKA_EXTRACTABLE` false (`checked`); else a refusal naming `label`.
    fn accept_new_key(
        &self,
        made: &str,
        label: &str,
        checked: &[Attribute],
        info: Result<PublicKeyInfo, FindError>,
    ) -> Result<PublicKeyInfo, KeystoreError> {
        let info = info.map_err(|e| match e {
            FindError::Token(e) => self.hsm_error(format!(
                "reading {made}'s public half failed ({})",
                describe(&e)
            )),
            FindError::Key(e) => KeystoreError::Key(e),
        })?;
        let protected = checked.contains(&Attribute::Sensitive(true))
            && checked.contains(&Attribute::Extractable(false));
        if !protected {
            return Err(self.hsm_error(format!(
                "the token stored {made} {label} without CKA_SENSITIVE=true and \
                 CKA_EXTRACTABLE=false: Sigil will not use it; use a token that honours these \
                 attributes (the object stays on the token: delete it with the token's tools)"
            )));
        }
        Ok(info)
    }

    /// The private key object `object_id` and the public key the token holds for it.
    fn find_pair(
        session: &Session,
        object_id: &[u8],
        algorithm: KeyAlgorithm,
    ) -> Result<Option<(ObjectHandle, PublicKeyInfo)>, FindError> {
        let private = find_one(session, ObjectClass::PRIVATE_KEY, object_id)?;
        let public = find_one(session, ObjectClass::PUBLIC_KEY, object_id)?;
        match (private, public) {
            (Some(private), Some(public)) => Ok(Some((
                private,
                public_key_info(session, public, algorithm)?,
            ))),
            _ => Ok(None),
        }
    }
}

/// Why looking an object up failed: the token, or what it returned.
enum FindError {
    Token(cryptoki::error::Error),
    Key(KeyError),
}

impl From<cryptoki::error::Error> for FindError {
    fn from(e: cryptoki::error::Error) -> Self {
        Self::Token(e)
    }
}

impl KeyCustody for Pkcs11Custody {
    fn name(&self) -> &str {
        self.pool.name()
    }

    fn generate(
        &self,
        id: KeyId,
        algorithm: KeyAlgorithm,
    ) -> Result<(Arc<dyn SigningKey>, KeyLocation), KeystoreError> {
        if algorithm == KeyAlgorithm::Ed25519 && !self.offers_eddsa() {
            return Err(self.hsm_error(
                "this token does not offer CKM_EDDSA, so it cannot hold Ed25519 keys: choose an RSA or ECDSA key for it"
                    .into(),
            ));
        }
        let object_id = id.0.as_bytes().to_vec();
        let label = format!("sigil-{id}");
        let (mechanism, mut public, kind) = match algorithm {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let bits: u64 = match algorithm {
                    KeyAlgorithm::Rsa2048 => 2048,
                    KeyAlgorithm::Rsa3072 => 3072,
                    _ => 4096,
                };
                (
                    Mechanism::RsaPkcsKeyPairGen,
                    vec![
                        Attribute::ModulusBits(bits.into()),
                        Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
                    ],
                    KeyType::RSA,
                )
            }
            KeyAlgorithm::EcdsaP256 => (
                Mechanism::EccKeyPairGen,
                vec![Attribute::EcParams(P256_PARAMS.to_vec())],
                KeyType::EC,
            ),
            KeyAlgorithm::EcdsaP384 => (
                Mechanism::EccKeyPairGen,
                vec![Attribute::EcParams(P384_PARAMS.to_vec())],
                KeyType::EC,
            ),
            KeyAlgorithm::Ed25519 => (
                Mechanism::EccEdwardsKeyPairGen,
                vec![Attribute::EcParams(ED25519_PARAMS.to_vec())],
                KeyType::EC_EDWARDS,
            ),
        };
        public.extend([
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::KeyType(kind),
            Attribute::Id(object_id.clone()),
            Attribute::Label(label.clone().into_bytes()),
        ]);
        // The rules of the CA/Browser Forum's code-signing requirements: generated on the
        // token, never readable or exportable from it. It signs and does nothing else (a
        // token's defaults may allow decrypting and unwrapping).
        let private = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::KeyType(kind),
            Attribute::Id(object_id.clone()),
            Attribute::Label(label.clone().into_bytes()),
        ];
        let outcome = self.pool.run(|worker| {
            let (public_handle, private_handle) = worker
                .session()
                .generate_key_pair(&mechanism, &public, &private)?;
            let checked = worker.session().get_attributes(
                private_handle,
                &[AttributeType::Sensitive, AttributeType::Extractable],
            )?;
            let info = public_key_info(worker.session(), public_handle, algorithm);
            worker.remember(&object_id, private_handle);
            Ok((checked, info))
        });
        let (checked, info) = outcome.map_err(|e| {
            self.hsm_error(format!(
                "generating a {algorithm} key failed ({}): check that the token has room and \
                 supports {algorithm} keys",
                describe(&e)
            ))
        })?;
        let info = self.accept_new_key("the new key", &label, &checked, info)?;
        let key = Pkcs11Key {
            pool: self.pool.clone(),
            object_id: object_id.clone(),
            algorithm,
            public_der: info.der,
        };
        Ok((
            Arc::new(key),
            KeyLocation::Hsm {
                hsm: self.pool.name().to_owned(),
                object_id,
                label,
            },
        ))
    }

    fn import(
        &self,
        id: KeyId,
        key: &sigil_keys::SoftwareKey,
    ) -> Result<(Arc<dyn SigningKey>, KeyLocation), KeystoreError> {
        import::import(self, id, key)
    }

    fn open(&self, record: &SealedKey) -> Result<Arc<dyn SigningKey>, KeystoreError> {
        let KeyLocation::Hsm {
            hsm,
            object_id,
            label,
        } = &record.location
        else {
            return Err(KeystoreError::WrongBackend {
                id: record.id,
                expected: self.pool.name().to_owned(),
                found: record.location.backend().to_owned(),
            });
        };
        if hsm != self.pool.name() {
            return Err(KeystoreError::WrongBackend {
                id: record.id,
                expected: self.pool.name().to_owned(),
                found: hsm.clone(),
            });
        }
        let algorithm: KeyAlgorithm = record.algorithm.parse()?;
        let found = self
            .pool
            .run(|worker| {
                let found = Self::find_pair(worker.session(), object_id, algorithm);
                if let Ok(Some((handle, _))) = &found {
                    worker.remember(object_id, *handle);
                }
                // A token failure is retried on a fresh session; a missing or odd object is not.
                match found {
                    Err(FindError::Token(e)) => Err(e),
                    other => Ok(other),
                }
            })
            .map_err(|e| {
                self.hsm_error(format!(
                    "looking up key {label} failed ({}): check that the token is present",
                    describe(&e)
                ))
            })?;
        let info = match found {
            Ok(Some((_, info))) => info,
            Ok(None) => {
                return Err(self.hsm_error(format!(
                    "key {} ({label}) is not on this token: check token_label/slot of [[hsm]] {hsm} \
                     in sigil.toml (is it the token the key was made on?)",
                    record.id
                )));
            }
            Err(FindError::Key(e)) => return Err(KeystoreError::Key(e)),
            Err(FindError::Token(e)) => {
                return Err(self.hsm_error(format!("reading key {label} failed ({e})")));
            }
        };
        if info.der != record.public_key_der {
            return Err(self.hsm_error(format!(
                "the object {label} on this token is not the public key Sigil recorded for key {}: \
                 the token was changed or the wrong token is configured; Sigil will not sign with it",
                record.id
            )));
        }
        Ok(Arc::new(Pkcs11Key {
            pool: self.pool.clone(),
            object_id: object_id.clone(),
            algorithm,
            public_der: info.der,
        }))
    }
}

fn find_one(
    session: &Session,
    class: ObjectClass,
    object_id: &[u8],
) -> Result<Option<ObjectHandle>, cryptoki::error::Error> {
    let found =
        session.find_objects(&[Attribute::Class(class), Attribute::Id(object_id.to_vec())])?;
    Ok(found.first().copied())
}

/// The `SubjectPublicKeyInfo` of a public key object.
fn public_key_info(
    session: &Session,
    public: ObjectHandle,
    algorithm: KeyAlgorithm,
) -> Result<PublicKeyInfo, FindError> {
    let info = match algorithm.family() {
        KeyFamily::Rsa => {
            let attributes = session.get_attributes(
                public,
                &[AttributeType::Modulus, AttributeType::PublicExponent],
            )?;
            let mut modulus = None;
            let mut exponent = None;
            for attribute in attributes {
                match attribute {
                    Attribute::Modulus(m) => modulus = Some(m),
                    Attribute::PublicExponent(e) => exponent = Some(e),
                    _ => {}
                }
            }
            match (modulus, exponent) {
                (Some(m), Some(e)) => rsa_spki(&m, &e),
                _ => Err(missing("modulus or public exponent")),
            }
        }
        KeyFamily::Ecdsa | KeyFamily::Ed25519 => {
            let point = session
                .get_attributes(public, &[AttributeType::EcPoint])?
                .into_iter()
                .find_map(|a| match a {
                    Attribute::EcPoint(p) => Some(p),
                    _ => None,
                });
            match (point, algorithm) {
                (Some(p), KeyAlgorithm::Ed25519) => ed25519_spki(&p),
                (Some(p), _) => ec_spki(algorithm, &p),
                (None, _) => Err(missing("EC point")),
            }
        }
    };
    let info = info.map_err(FindError::Key)?;
    if info.algorithm != algorithm {
        return Err(FindError::Key(KeyError::InvalidPublicKey(format!(
            "the token holds a {} key where the record says {algorithm}",
            info.algorithm
        ))));
    }
    Ok(info)
}

fn missing(what: &str) -> KeyError {
    KeyError::InvalidPublicKey(format!("the token returned no {what} for the public key"))
}

/// A private key on a PKCS#11 token, used through the pool's sessions.
struct Pkcs11Key {
    pool: Arc<SessionPool>,
    object_id: Vec<u8>,
    algorithm: KeyAlgorithm,
    public_der: Vec<u8>,
}

impl Pkcs11Key {
    fn sign_raw(&self, mechanism: &Mechanism<'_>, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.pool
            .run(|worker| {
                let handle = worker.private_key(&self.object_id)?;
                worker.session().sign(mechanism, handle, data)
            })
            .map_err(|e| KeyError::Backend {
                backend: self.pool.name().to_owned(),
                reason: format!(
                    "signing with the {} key failed ({}), also after reopening the session: \
                     check that the token is present and the module works; other keys are not \
                     affected",
                    self.algorithm,
                    describe(&e)
                ),
            })
    }
}

impl SigningKey for Pkcs11Key {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn session_pool(&self) -> Option<(&str, usize)> {
        Some((self.pool.name(), self.pool.size()))
    }

    fn sign_digest(
        &self,
        hash: HashAlgorithm,
        padding: RsaPadding,
        digest: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        hash.check_digest(digest)?;
        match (self.algorithm.family(), padding) {
            (KeyFamily::Rsa, RsaPadding::Pkcs1v15) => {
                self.sign_raw(&Mechanism::RsaPkcs, &digest_info(hash, digest)?)
            }
            (KeyFamily::Rsa, RsaPadding::Pss) => {
                let (hash_alg, mgf) = match hash {
                    HashAlgorithm::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
                    HashAlgorithm::Sha384 => (MechanismType::SHA384, PkcsMgfType::MGF1_SHA384),
                    HashAlgorithm::Sha512 => (MechanismType::SHA512, PkcsMgfType::MGF1_SHA512),
                };
                // Salt as long as the hash, like the software signer (RFC 8017 §9.1 advice).
                let params = PkcsPssParams {
                    hash_alg,
                    mgf,
                    s_len: (hash.digest_len() as u64).into(),
                };
                self.sign_raw(&Mechanism::RsaPkcsPss(params), digest)
            }
            (KeyFamily::Ecdsa, _) => {
                let raw = self.sign_raw(&Mechanism::Ecdsa, digest)?;
                ecdsa_raw_to_der(self.algorithm, &raw)
            }
            (KeyFamily::Ed25519, _) => Err(KeyError::DigestSigningUnsupported(self.algorithm)),
        }
    }

    fn sign_message(
        &self,
        hash: HashAlgorithm,
        padding: RsaPadding,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        if self.algorithm == KeyAlgorithm::Ed25519 {
            let params = EddsaParams::new(EddsaSignatureScheme::Pure);
            return self.sign_raw(&Mechanism::Eddsa(params), message);
        }
        self.sign_digest(hash, padding, &hash.digest(message))
    }
}

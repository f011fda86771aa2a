//! The software backend: key pairs generated in memory and sealed under the master key.

use std::sync::Arc;

use sigil_domain::{CertProfile, KeyId, KeyLocation, SOFTWARE_BACKEND, SealedKey};
use sigil_keys::{KeyAlgorithm, SigningKey, SoftwareKey};
use time::OffsetDateTime;

use crate::keystore::KeyCustody;
use crate::{KeystoreError, MasterKey, SealContext, SealedBlob};

/// What a sealed key blob is bound to besides its id (associated data of the seal).
const SEAL_PURPOSE: &str = "private-key";

/// The sealed software keystore: AES-256-GCM under the master key, bound to the key's id.
pub struct SoftwareCustody {
    master: MasterKey,
}

impl SoftwareCustody {
    /// A backend sealing under `master`.
    pub fn new(master: MasterKey) -> Self {
        Self { master }
    }

    /// The master key.
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// Seals `key` as record `id`.
    pub fn seal(
        &self,
        id: KeyId,
        key: &SoftwareKey,
        purpose: CertProfile,
        now: OffsetDateTime,
    ) -> Result<SealedKey, KeystoreError> {
        Ok(SealedKey {
            id,
            algorithm: key.algorithm().as_str().to_owned(),
            purpose,
            public_key_der: key.public_key_der().to_vec(),
            location: self.seal_location(id, key)?,
            created: now,
        })
    }

    fn seal_location(&self, id: KeyId, key: &SoftwareKey) -> Result<KeyLocation, KeystoreError> {
        let id_text = id.to_string();
        let pkcs8 = key.to_pkcs8_der();
        let blob = crate::seal(
            &self.master,
            &SealContext::new(&id_text, SEAL_PURPOSE),
            &pkcs8,
        )?;
        Ok(KeyLocation::Software {
            sealed: blob.into_bytes(),
        })
    }

    /// Unseals a software key record.
    pub fn open_software(&self, record: &SealedKey) -> Result<SoftwareKey, KeystoreError> {
        let KeyLocation::Software { sealed } = &record.location else {
            return Err(KeystoreError::WrongBackend {
                id: record.id,
                expected: SOFTWARE_BACKEND.to_owned(),
                found: record.location.backend().to_owned(),
            });
        };
        let id_text = record.id.to_string();
        let blob = SealedBlob::from_bytes(sealed)?;
        let pkcs8 = crate::open(
            &self.master,
            &SealContext::new(&id_text, SEAL_PURPOSE),
            &blob,
        )?;
        Ok(SoftwareKey::from_pkcs8_der(&pkcs8)?)
    }
}

impl KeyCustody for SoftwareCustody {
    fn name(&self) -> &str {
        SOFTWARE_BACKEND
    }

    fn generate(
        &self,
        id: KeyId,
        algorithm: KeyAlgorithm,
    ) -> Result<(Arc<dyn SigningKey>, KeyLocation), KeystoreError> {
        let key = SoftwareKey::generate(algorithm)?;
        let location = self.seal_location(id, &key)?;
        Ok((Arc::new(key), location))
    }

    fn open(&self, record: &SealedKey) -> Result<Arc<dyn SigningKey>, KeystoreError> {
        Ok(Arc::new(self.open_software(record)?))
    }

    fn import(
        &self,
        id: KeyId,
        key: &SoftwareKey,
    ) -> Result<(Arc<dyn SigningKey>, KeyLocation), KeystoreError> {
        let location = self.seal_location(id, key)?;
        let own = SoftwareKey::from_pkcs8_der(&key.to_pkcs8_der())?;
        Ok((Arc::new(own), location))
    }
}

//! The key vault: seals new private keys under the master key and opens sealed keys on demand.
//!
//! Opened keys are cached in memory (as `Arc<SoftwareKey>`, whose key material is zeroized
//! when the last reference drops) so that signing does not pay an AES-GCM open and a PKCS#8
//! parse per request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sigil_custody::{MasterKey, SealContext, SealedBlob};
use sigil_domain::{CertProfile, KeyId, SealedKey, Store};
use sigil_keys::{KeyAlgorithm, SigningKey, SoftwareKey};
use time::OffsetDateTime;

use crate::error::ServerError;

/// What a sealed key blob is bound to besides its id (associated data of the seal).
const SEAL_PURPOSE: &str = "private-key";

/// Holds the master key and the cache of opened keys.
pub struct KeyVault {
    master: MasterKey,
    cache: RwLock<HashMap<KeyId, Arc<SoftwareKey>>>,
}

impl KeyVault {
    /// A vault over an unsealed master key.
    pub fn new(master: MasterKey) -> Self {
        Self {
            master,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Generates a key pair and returns it with its sealed record (to store with
    /// `Change::AddSealedKey`). The clear key is cached under the new id.
    pub fn generate(
        &self,
        algorithm: KeyAlgorithm,
        purpose: CertProfile,
        now: OffsetDateTime,
    ) -> Result<(Arc<SoftwareKey>, SealedKey), ServerError> {
        let key = SoftwareKey::generate(algorithm)?;
        let id = KeyId::generate(&mut rand::rng());
        let sealed = self.seal(id, &key, purpose, now)?;
        let key = Arc::new(key);
        self.insert(id, key.clone());
        Ok((key, sealed))
    }

    /// Seals `key` under the master key as record `id`.
    pub fn seal(
        &self,
        id: KeyId,
        key: &SoftwareKey,
        purpose: CertProfile,
        now: OffsetDateTime,
    ) -> Result<SealedKey, ServerError> {
        let id_text = id.to_string();
        let pkcs8 = key.to_pkcs8_der();
        let blob = sigil_custody::seal(
            &self.master,
            &SealContext::new(&id_text, SEAL_PURPOSE),
            &pkcs8,
        )?;
        Ok(SealedKey {
            id,
            algorithm: key.algorithm().as_str().to_owned(),
            purpose,
            public_key_der: key.public_key_der().to_vec(),
            sealed: blob.into_bytes(),
            created: now,
        })
    }

    /// The opened key `id`, from the cache or unsealed from the store.
    pub async fn key(&self, store: &dyn Store, id: KeyId) -> Result<Arc<SoftwareKey>, ServerError> {
        if let Some(key) = self.cached(id) {
            return Ok(key);
        }
        let sealed = store
            .get_sealed_key(id)
            .await?
            .ok_or_else(|| ServerError::NotFound(format!("key {id}")))?;
        let key = Arc::new(self.open(&sealed)?);
        self.insert(id, key.clone());
        Ok(key)
    }

    /// Unseals a stored key record (no cache).
    pub fn open(&self, sealed: &SealedKey) -> Result<SoftwareKey, ServerError> {
        let id_text = sealed.id.to_string();
        let blob = SealedBlob::from_bytes(&sealed.sealed)?;
        let pkcs8 = sigil_custody::open(
            &self.master,
            &SealContext::new(&id_text, SEAL_PURPOSE),
            &blob,
        )?;
        Ok(SoftwareKey::from_pkcs8_der(&pkcs8)?)
    }

    fn cached(&self, id: KeyId) -> Option<Arc<SoftwareKey>> {
        match self.cache.read() {
            Ok(cache) => cache.get(&id).cloned(),
            Err(poisoned) => poisoned.into_inner().get(&id).cloned(),
        }
    }

    fn insert(&self, id: KeyId, key: Arc<SoftwareKey>) {
        match self.cache.write() {
            Ok(mut cache) => cache.insert(id, key),
            Err(poisoned) => poisoned.into_inner().insert(id, key),
        };
    }
}

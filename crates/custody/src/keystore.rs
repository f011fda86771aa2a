//! Key custody behind one trait: which backend holds a key, and the cache of opened keys.
//!
//! A [`KeyCustody`] backend generates keys and opens stored key records; the
//! [`Keystore`] holds every configured backend (the sealed software keystore, and one
//! PKCS#11 backend per configured HSM), finds the one a key record names, and caches the
//! opened keys. The signing path, the CA and the TSA receive an `Arc<dyn SigningKey>` and
//! never learn which backend holds the key.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use sigil_domain::{CertProfile, KeyId, KeyLocation, SOFTWARE_BACKEND, SealedKey, Store};
use sigil_keys::{KeyAlgorithm, SigningKey, SoftwareKey};
use time::OffsetDateTime;

use crate::software::SoftwareCustody;
use crate::{KeystoreError, MasterKey};

/// A place that holds private keys: it makes new ones and opens the ones it recorded.
///
/// Implementations are shared between threads; their keys may block while they sign (an HSM
/// round trip), so callers sign from a blocking context.
pub trait KeyCustody: Send + Sync {
    /// The backend's name as key records carry it ([`SOFTWARE_BACKEND`] or an HSM's name).
    fn name(&self) -> &str;

    /// Generates a key pair of `algorithm` for the new record `id`; returns the usable key and
    /// where it is held (for the key record).
    fn generate(
        &self,
        id: KeyId,
        algorithm: KeyAlgorithm,
    ) -> Result<(Arc<dyn SigningKey>, KeyLocation), KeystoreError>;

    /// Opens a stored key record of this backend.
    fn open(&self, record: &SealedKey) -> Result<Arc<dyn SigningKey>, KeystoreError>;

    /// Takes a private key made elsewhere (read from a PKCS#12 file) as the new record `id`;
    /// returns the usable key and where it is held. An HSM stores it as a sensitive,
    /// non-extractable token object. A backend that cannot take keys refuses (the default).
    fn import(
        &self,
        id: KeyId,
        key: &SoftwareKey,
    ) -> Result<(Arc<dyn SigningKey>, KeyLocation), KeystoreError> {
        let _ = (id, key);
        Err(KeystoreError::Hsm {
            hsm: self.name().to_owned(),
            reason: "this key backend cannot import private keys: import into \"software\"".into(),
        })
    }
}

/// Every configured key backend, and the opened-key cache.
///
/// Opened keys are cached (software keys as parsed key pairs whose bytes are zeroized when
/// the last reference drops, HSM keys as object handles) so that signing does not pay an
/// AES-GCM open and a PKCS#8 parse, or a token search, per request.
pub struct Keystore {
    software: Arc<SoftwareCustody>,
    backends: HashMap<String, Arc<dyn KeyCustody>>,
    cache: RwLock<HashMap<KeyId, Arc<dyn SigningKey>>>,
}

impl fmt::Debug for Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.backends.keys().collect();
        names.sort();
        f.debug_struct("Keystore")
            .field("backends", &names)
            .finish_non_exhaustive()
    }
}

impl Keystore {
    /// A keystore with only the software backend, sealing under `master`.
    pub fn new(master: MasterKey) -> Self {
        let software = Arc::new(SoftwareCustody::new(master));
        let mut backends: HashMap<String, Arc<dyn KeyCustody>> = HashMap::new();
        backends.insert(SOFTWARE_BACKEND.to_owned(), software.clone());
        Self {
            software,
            backends,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Adds a backend (an HSM). Its name must be new and not [`SOFTWARE_BACKEND`].
    pub fn add_backend(&mut self, backend: Arc<dyn KeyCustody>) -> Result<(), KeystoreError> {
        let name = backend.name().to_owned();
        if self.backends.contains_key(&name) {
            return Err(KeystoreError::DuplicateBackend { name });
        }
        self.backends.insert(name, backend);
        Ok(())
    }

    /// The names of the configured backends, sorted (`software` among them).
    pub fn backend_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.backends.keys().cloned().collect();
        names.sort();
        names
    }

    /// The master key the software backend seals under.
    pub fn master(&self) -> &MasterKey {
        self.software.master()
    }

    fn backend(&self, name: &str) -> Result<&Arc<dyn KeyCustody>, KeystoreError> {
        self.backends
            .get(name)
            .ok_or_else(|| KeystoreError::UnknownBackend {
                name: name.to_owned(),
                known: self.backend_names(),
            })
    }

    /// Generates a key pair in `backend` and returns it with its record (to store with
    /// `Change::AddSealedKey`). The key is cached under the new id.
    pub fn generate(
        &self,
        backend: &str,
        algorithm: KeyAlgorithm,
        purpose: CertProfile,
        now: OffsetDateTime,
    ) -> Result<(Arc<dyn SigningKey>, SealedKey), KeystoreError> {
        let custody = self.backend(backend)?;
        let id = KeyId::generate(&mut rand::rng());
        let (key, location) = custody.generate(id, algorithm)?;
        Ok(self.record(id, key, location, purpose, now))
    }

    /// Takes a private key made elsewhere (from a PKCS#12 file) into `backend` as a new
    /// record (to store with `Change::AddSealedKey`). The key is cached under the new id.
    pub fn import(
        &self,
        backend: &str,
        key: &SoftwareKey,
        purpose: CertProfile,
        now: OffsetDateTime,
    ) -> Result<(Arc<dyn SigningKey>, SealedKey), KeystoreError> {
        let custody = self.backend(backend)?;
        let id = KeyId::generate(&mut rand::rng());
        let (opened, location) = custody.import(id, key)?;
        Ok(self.record(id, opened, location, purpose, now))
    }

    /// The record of a key a backend just placed as `id`; caches the key.
    fn record(
        &self,
        id: KeyId,
        key: Arc<dyn SigningKey>,
        location: KeyLocation,
        purpose: CertProfile,
        now: OffsetDateTime,
    ) -> (Arc<dyn SigningKey>, SealedKey) {
        let record = SealedKey {
            id,
            algorithm: key.algorithm().as_str().to_owned(),
            purpose,
            public_key_der: key.public_key_der().to_vec(),
            location,
            created: now,
        };
        self.insert(id, key.clone());
        (key, record)
    }

    /// Seals a software key made or imported elsewhere as record `id` (software backend).
    pub fn seal(
        &self,
        id: KeyId,
        key: &SoftwareKey,
        purpose: CertProfile,
        now: OffsetDateTime,
    ) -> Result<SealedKey, KeystoreError> {
        self.software.seal(id, key, purpose, now)
    }

    /// The opened key `id`, from the cache or opened by its record's backend.
    pub async fn key(
        &self,
        store: &dyn Store,
        id: KeyId,
    ) -> Result<Arc<dyn SigningKey>, KeystoreError> {
        if let Some(key) = self.cached(id) {
            return Ok(key);
        }
        let record = store
            .get_sealed_key(id)
            .await?
            .ok_or(KeystoreError::NotFound(id))?;
        let key = self.open(&record)?;
        self.insert(id, key.clone());
        Ok(key)
    }

    /// Opens a key record with the backend it names (no cache).
    pub fn open(&self, record: &SealedKey) -> Result<Arc<dyn SigningKey>, KeystoreError> {
        self.backend(record.location.backend())?.open(record)
    }

    /// The clear private key of a software record, for an encrypted export (PKCS#12) or a
    /// TLS listener. HSM keys never leave their token: refused with
    /// [`KeystoreError::NotExportable`].
    pub fn open_exportable(&self, record: &SealedKey) -> Result<SoftwareKey, KeystoreError> {
        match &record.location {
            KeyLocation::Software { .. } => self.software.open_software(record),
            KeyLocation::Hsm { hsm, .. } => Err(KeystoreError::NotExportable {
                id: record.id,
                hsm: hsm.clone(),
            }),
        }
    }

    /// The clear private key `id` (software keys only; see [`Keystore::open_exportable`]).
    pub async fn exportable_key(
        &self,
        store: &dyn Store,
        id: KeyId,
    ) -> Result<SoftwareKey, KeystoreError> {
        let record = store
            .get_sealed_key(id)
            .await?
            .ok_or(KeystoreError::NotFound(id))?;
        self.open_exportable(&record)
    }

    fn cached(&self, id: KeyId) -> Option<Arc<dyn SigningKey>> {
        match self.cache.read() {
            Ok(cache) => cache.get(&id).cloned(),
            Err(poisoned) => poisoned.into_inner().get(&id).cloned(),
        }
    }

    fn insert(&self, id: KeyId, key: Arc<dyn SigningKey>) {
        match self.cache.write() {
            Ok(mut cache) => cache.insert(id, key),
            Err(poisoned) => poisoned.into_inner().insert(id, key),
        };
    }
}

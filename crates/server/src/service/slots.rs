//! How many signatures go to the blocking pool at once.
//!
//! Unbounded, the blocking pool grew a thread per request in flight: 74 threads under 64
//! pipelined RSA requests, 160 for an HSM with two sessions, each thread keeping its stack and
//! allocator pages afterwards, and a hung HSM could take every thread of the pool (password
//! checks included). A signature now first takes a slot, waiting without a thread:
//!
//! - software keys share [`SLOTS_PER_CORE`] slots per core: CPU work that more threads
//!   cannot speed up;
//! - an HSM's keys share [`SLOTS_PER_SESSION`] slots per session of its pool, so a slow or
//!   hung HSM holds up only its own signatures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sigil_keys::SigningKey;
use tokio::sync::Semaphore;

/// Software signatures at once per CPU core. More than one, so that a core always has the
/// next signature on a thread when one ends (each start is a hand-off: the slot, then a
/// thread of the pool); A/B under 64 pipelined RSA-2048 requests on 2 cores, 2 per core lost
/// 3-5 % against the unbounded pool, 4 per core matched it with 41 threads instead of 110.
pub const SLOTS_PER_CORE: usize = 4;

/// An HSM's signatures at once per session of its pool, for the same reason: a signature is
/// waiting at the pool for each session that is freed. With one per session SoftHSM2 P-256
/// lost a quarter of its rate; with 4 it was 10 % above the unbounded pool.
pub const SLOTS_PER_SESSION: usize = 4;

/// The slots of the software keys and of each HSM.
#[derive(Debug)]
pub struct SigningSlots {
    software: Arc<Semaphore>,
    hsm: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl SigningSlots {
    /// Slots for a machine with `cores` cores.
    pub fn new(cores: usize) -> Self {
        Self {
            software: Arc::new(Semaphore::new(SLOTS_PER_CORE * cores.max(1))),
            hsm: Mutex::default(),
        }
    }

    /// The slots a signature of `key` takes.
    pub fn for_key(&self, key: &dyn SigningKey) -> Arc<Semaphore> {
        let Some((hsm, sessions)) = key.session_pool() else {
            return self.software.clone();
        };
        // A poisoned lock only means a panic elsewhere: the map is still whole.
        let mut slots = self
            .hsm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Looked up by `&str` first: `entry` would copy the name on every signature.
        if let Some(found) = slots.get(hsm) {
            return found.clone();
        }
        let created = Arc::new(Semaphore::new(SLOTS_PER_SESSION * sessions.max(1)));
        slots.insert(hsm.to_owned(), created.clone());
        created
    }
}

#[cfg(test)]
mod tests {
    use sigil_keys::{HashAlgorithm, KeyAlgorithm, KeyError, RsaPadding, SoftwareKey};

    use super::*;

    /// A key that says it signs through the pool `name` of `size` sessions (it never signs).
    struct PooledKey {
        name: &'static str,
        size: usize,
    }

    impl SigningKey for PooledKey {
        fn algorithm(&self) -> KeyAlgorithm {
            KeyAlgorithm::EcdsaP256
        }
        fn public_key_der(&self) -> &[u8] {
            &[]
        }
        fn sign_digest(
            &self,
            _: HashAlgorithm,
            _: RsaPadding,
            _: &[u8],
        ) -> Result<Vec<u8>, KeyError> {
            Err(KeyError::Sign(KeyAlgorithm::EcdsaP256))
        }
        fn is_remote(&self) -> bool {
            true
        }
        fn session_pool(&self) -> Option<(&str, usize)> {
            Some((self.name, self.size))
        }
    }

    #[test]
    fn software_keys_share_slots_per_core_and_each_hsm_has_slots_per_session() {
        let slots = SigningSlots::new(3);
        let one = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let two = SoftwareKey::generate(KeyAlgorithm::Rsa2048).unwrap();
        assert!(Arc::ptr_eq(&slots.for_key(&one), &slots.for_key(&two)));
        assert_eq!(slots.for_key(&one).available_permits(), 3 * SLOTS_PER_CORE);

        let a1 = PooledKey { name: "a", size: 4 };
        let a2 = PooledKey { name: "a", size: 4 };
        let b = PooledKey { name: "b", size: 1 };
        assert!(Arc::ptr_eq(&slots.for_key(&a1), &slots.for_key(&a2)));
        assert!(!Arc::ptr_eq(&slots.for_key(&a1), &slots.for_key(&b)));
        assert!(!Arc::ptr_eq(&slots.for_key(&a1), &slots.for_key(&one)));
        assert_eq!(
            slots.for_key(&a1).available_permits(),
            4 * SLOTS_PER_SESSION
        );

        // Signatures of HSM b waiting for its slots do not hold up HSM a or software.
        let held = slots
            .for_key(&b)
            .try_acquire_many_owned(SLOTS_PER_SESSION as u32)
            .unwrap();
        assert!(slots.for_key(&b).try_acquire_owned().is_err());
        assert!(slots.for_key(&a1).try_acquire_owned().is_ok());
        assert!(slots.for_key(&one).try_acquire_owned().is_ok());
        drop(held);
        assert!(slots.for_key(&b).try_acquire_owned().is_ok());
    }
}

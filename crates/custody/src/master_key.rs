//! The master key, and the operating system's random number generator it comes from.

use std::convert::Infallible;
use std::fmt;
use std::ops::{Deref, DerefMut};

use rand::rngs::{SysError, SysRng};
use rand::{TryCryptoRng, TryRng};
use zeroize::Zeroizing;

use crate::{CustodyError, Kcv, MASTER_KEY_ID_LEN, MasterKeyId};

/// Length of the master key in bytes (AES-256).
pub const MASTER_KEY_LEN: usize = 32;

/// 32 secret bytes on the heap, wiped when dropped. Boxed so that moving the
/// owner does not leave copies of the bytes behind on the stack.
pub(crate) struct Secret32(Box<Zeroizing<[u8; MASTER_KEY_LEN]>>);

impl Deref for Secret32 {
    type Target = [u8; MASTER_KEY_LEN];

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Secret32 {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// All zeros, to be filled in place.
pub(crate) fn new_secret32() -> Secret32 {
    Secret32(Box::new(Zeroizing::new([0u8; MASTER_KEY_LEN])))
}

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), CustodyError> {
    SysRng.try_fill_bytes(buf).map_err(CustodyError::Random)
}

/// The deployment's 256-bit master key: every private key Sigil holds is sealed under it.
///
/// It is made from the operating system's random number generator
/// ([`MasterKey::generate`]), rebuilt from M key components ([`Unsealer`](crate::Unsealer)),
/// or, in development only, read from a key file
/// ([`InsecureDevKeyFile`](crate::danger::InsecureDevKeyFile)).
/// The bytes are wiped when the key is dropped, never printed (`Debug` shows the id and
/// the [check value](Kcv) only) and cannot be read out of this crate. The type is not
/// `Clone`: share one key between threads with an `Arc`.
pub struct MasterKey {
    bytes: Secret32,
    id: MasterKeyId,
}

impl MasterKey {
    /// Makes a new master key and a new master-key id from the operating system's RNG.
    ///
    /// # Errors
    /// [`CustodyError::Random`] if the operating system's RNG fails.
    pub fn generate() -> Result<Self, CustodyError> {
        let mut bytes = new_secret32();
        fill_random(&mut bytes[..])?;
        let mut id = [0u8; MASTER_KEY_ID_LEN];
        fill_random(&mut id)?;
        Ok(Self {
            bytes,
            id: MasterKeyId::from_bytes(id),
        })
    }

    pub(crate) fn from_parts(bytes: Secret32, id: MasterKeyId) -> Self {
        Self { bytes, id }
    }

    /// The master key's id (public; written into components, sealed blobs and the record).
    pub fn id(&self) -> MasterKeyId {
        self.id
    }

    /// The master key's check value (public).
    pub fn kcv(&self) -> Kcv {
        Kcv::of_aes256_key(&self.bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.bytes
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("kcv", &self.kcv())
            .finish_non_exhaustive()
    }
}

/// The OS RNG behind the infallible `CryptoRng` interface that `blahaj` asks for.
///
/// `rand`'s own adapter (`UnwrapErr`) panics when the OS RNG fails; this one remembers
/// the first failure instead, and the caller discards everything produced and reports
/// it ([`OsRngChecked::finish`]). It keeps no state, so nothing of the random stream
/// outlives it (unlike a seeded user-space generator).
#[derive(Default)]
pub(crate) struct OsRngChecked {
    error: Option<SysError>,
}

impl OsRngChecked {
    /// `Err` if any draw failed; whatever was produced from this RNG must then be dropped.
    pub(crate) fn finish(self) -> Result<(), CustodyError> {
        self.error.map_or(Ok(()), |e| Err(CustodyError::Random(e)))
    }
}

impl TryRng for OsRngChecked {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut buf = [0u8; 4];
        self.try_fill_bytes(&mut buf)?;
        Ok(u32::from_le_bytes(buf))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut buf = [0u8; 8];
        self.try_fill_bytes(&mut buf)?;
        Ok(u64::from_le_bytes(buf))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        if let Err(e) = SysRng.try_fill_bytes(dst) {
            self.error.get_or_insert(e);
        }
        Ok(())
    }
}

impl TryCryptoRng for OsRngChecked {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_differ_and_debug_hides_the_bytes() {
        let a = MasterKey::generate().unwrap();
        let b = MasterKey::generate().unwrap();
        assert_ne!(a.bytes(), b.bytes());
        assert_ne!(a.id(), b.id());
        let debug = format!("{a:?}");
        assert!(debug.contains(&a.id().to_string()));
        assert!(debug.contains(&a.kcv().to_string()));
        assert!(!debug.to_uppercase().contains(&hex::encode_upper(a.bytes())));
    }

    #[test]
    fn checked_rng_draws_random_bytes_without_error() {
        let mut rng = OsRngChecked::default();
        let (x, y) = (rng.try_next_u64().unwrap(), rng.try_next_u64().unwrap());
        assert_ne!(x, y);
        rng.finish().unwrap();
    }
}

//! Key custody for Sigil: the master key, its M-of-N key components, and sealing.
//!
//! Every private key Sigil holds is stored encrypted (AES-256-GCM) under one 256-bit
//! **master key**. This crate owns that key's life and nothing else — no SQL, no
//! network: it works on bytes and returns bytes, and the server stores what it produces.
//!
//! - [`MasterKey::generate`] makes the key from the operating system's RNG; its
//!   [check value](Kcv) lets people confirm it without seeing it.
//! - [`MasterKey::split`] splits it into M-of-N [`KeyComponent`]s (Shamir secret sharing)
//!   for custodians, each with a typeable text form carrying a checksum, and returns the
//!   [`CustodyRecord`] the server stores (ids and check values, never key bytes).
//! - At start-up an [`Unsealer`] takes components one at a time and rebuilds the key,
//!   checked against the record.
//! - [`seal`] / [`open`] encrypt and decrypt a secret (a key's PKCS#8 bytes) bound to a
//!   [`SealContext`] (the key's id and purpose); [`reseal`] moves it to a new master key.
//! - [`danger::InsecureDevKeyFile`] keeps the key in a file, for development only.
//! - [`KeyCustody`] is one place that holds private keys: the sealed software keystore
//!   ([`SoftwareCustody`]) or an HSM. The [`Keystore`] holds every configured backend, opens
//!   a key record with the backend it names, and caches opened keys.
//!
//! ```
//! use sigil_custody::{CustodyRecord, MasterKey, SealContext, SealedBlob, Unsealer, open, seal};
//!
//! // `sigil init`: make the key, split it 2-of-3, store the record, print the components.
//! let key = MasterKey::generate()?;
//! let split = key.split(2, 3)?;
//! let stored_record = serde_json::to_string(&split.record)?;
//! let custodians: Vec<_> = split.components.iter().map(|c| (c.to_text(), c.kcv())).collect();
//!
//! // Seal a signing key's PKCS#8 bytes; the server stores the blob in the key's row.
//! let context = SealContext::new("key-42", "signing-key");
//! let stored_blob = seal(&key, &context, b"PKCS#8 bytes")?.into_bytes();
//! drop(key);
//!
//! // Next start: two custodians enter their components.
//! let record: CustodyRecord = serde_json::from_str(&stored_record)?;
//! let mut unsealer = Unsealer::new(&record)?;
//! unsealer.add_component(&custodians[2].0)?;
//! let progress = unsealer.add_component(&custodians[0].0)?;
//! assert!(progress.is_complete());
//! let key = unsealer.finish()?;
//!
//! let pkcs8 = open(&key, &context, &SealedBlob::from_bytes(&stored_blob)?)?;
//! assert_eq!(&pkcs8[..], b"PKCS#8 bytes");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Operator documentation: `docs/key-custody.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backup;
mod component;
#[cfg(unix)]
pub mod danger;
mod error;
mod ids;
mod keystore;
mod master_key;
pub mod pkcs11;
mod record;
mod seal;
mod software;
mod split;
mod unseal;

pub use component::{KeyComponent, MAX_COMPONENT_TEXT_LEN};
pub use error::{ComponentFormatError, CustodyError, KeystoreError};
pub use ids::{KCV_LEN, Kcv, MASTER_KEY_ID_LEN, MasterKeyId, ParseIdError};
pub use keystore::{KeyCustody, Keystore};
pub use master_key::{MASTER_KEY_LEN, MasterKey};
pub use record::{CustodyRecord, CustodyScheme};
pub use seal::{MAX_SEALED_PLAINTEXT_LEN, SealContext, SealedBlob, open, reseal, seal};
pub use software::SoftwareCustody;
pub use split::Split;
pub use unseal::{UnsealProgress, Unsealer};
pub use zeroize::Zeroizing;

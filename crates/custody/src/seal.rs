//! Sealing secrets (private keys' PKCS#8 bytes) under the master key with AES-256-GCM.
//!
//! Envelope, version 1 (all lengths fixed except the ciphertext):
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version = `0x01` |
//! | 8 | id of the master key it is sealed under |
//! | 12 | nonce: fresh random 96 bits per seal (NIST SP 800-38D §8.2.2) |
//! | n | ciphertext, as long as the plaintext |
//! | 16 | GCM tag |
//!
//! The associated data binds the envelope header (version, master-key id) and the
//! caller's [`SealContext`] (key id and purpose, each length-prefixed so that no two
//! contexts encode alike), so a blob copied into another key's row, or used for another
//! purpose, fails to open. With random nonces one master key should seal fewer than 2³²
//! blobs (SP 800-38D §8.3); a deployment seals one per key it creates.

use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{self, AeadInOut, KeyInit};
use zeroize::Zeroizing;

use crate::master_key::fill_random;
use crate::{CustodyError, MASTER_KEY_ID_LEN, MasterKey, MasterKeyId};

/// Largest secret [`seal`] accepts, in bytes (a PKCS#8 RSA-16384 key is about 10 KiB).
pub const MAX_SEALED_PLAINTEXT_LEN: usize = 64 * 1024;

const ENVELOPE_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + MASTER_KEY_ID_LEN + NONCE_LEN;
const MIN_BLOB_LEN: usize = HEADER_LEN + TAG_LEN;
const MAX_BLOB_LEN: usize = MIN_BLOB_LEN + MAX_SEALED_PLAINTEXT_LEN;
const AAD_LABEL: &[u8] = b"sigil sealed blob v1\0";

/// What a sealed secret belongs to; bound to the blob as associated data.
///
/// Give the same values to [`open`] as to [`seal`]: typically the id of the database row
/// the blob is stored in and what the secret is (`"signing-key"`, `"ca-key"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealContext<'a> {
    /// Id of the key (row) the secret belongs to.
    pub key_id: &'a str,
    /// What the secret is used for.
    pub purpose: &'a str,
}

impl<'a> SealContext<'a> {
    /// A context for the key `key_id`, used for `purpose`.
    pub const fn new(key_id: &'a str, purpose: &'a str) -> Self {
        Self { key_id, purpose }
    }

    /// Associated data: label, envelope header, then the two strings, length-prefixed.
    fn aad(&self, sealed_under: MasterKeyId) -> Vec<u8> {
        let mut aad = Vec::with_capacity(
            AAD_LABEL.len() + 1 + MASTER_KEY_ID_LEN + 16 + self.key_id.len() + self.purpose.len(),
        );
        aad.extend_from_slice(AAD_LABEL);
        aad.push(ENVELOPE_VERSION);
        aad.extend_from_slice(sealed_under.as_bytes());
        for field in [self.key_id, self.purpose] {
            aad.extend_from_slice(&(field.len() as u64).to_be_bytes());
            aad.extend_from_slice(field.as_bytes());
        }
        aad
    }
}

/// A secret sealed under the master key: store [`SealedBlob::as_bytes`] as is.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedBlob {
    bytes: Vec<u8>,
    sealed_under: MasterKeyId,
}

impl SealedBlob {
    /// Reads a stored blob, checking its envelope (not yet its authenticity: see [`open`]).
    ///
    /// # Errors
    /// [`CustodyError::MalformedBlob`] (empty, truncated, too long),
    /// [`CustodyError::UnsupportedBlobVersion`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CustodyError> {
        let malformed = |reason| CustodyError::MalformedBlob { reason };
        let Some((&version, rest)) = bytes.split_first() else {
            return Err(malformed("it is empty"));
        };
        if version != ENVELOPE_VERSION {
            return Err(CustodyError::UnsupportedBlobVersion { version });
        }
        if bytes.len() < MIN_BLOB_LEN {
            return Err(malformed("it is shorter than the envelope (truncated)"));
        }
        if bytes.len() > MAX_BLOB_LEN {
            return Err(malformed("it is longer than any sealed secret"));
        }
        let Some((id, _)) = rest.split_first_chunk::<MASTER_KEY_ID_LEN>() else {
            return Err(malformed("it is shorter than the envelope (truncated)"));
        };
        Ok(Self {
            bytes: bytes.to_vec(),
            sealed_under: MasterKeyId::from_bytes(*id),
        })
    }

    /// The stored form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The stored form, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The id of the master key this blob is sealed under (to find blobs left to re-seal
    /// during a rotation).
    pub fn master_key_id(&self) -> MasterKeyId {
        self.sealed_under
    }
}

impl fmt::Debug for SealedBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedBlob")
            .field("sealed_under", &self.sealed_under)
            .field("len", &self.bytes.len())
            .finish()
    }
}

fn cipher(key: &MasterKey) -> Aes256Gcm {
    Aes256Gcm::new(key.bytes().into())
}

/// Seals `plaintext` under `key` for `context`.
///
/// # Errors
/// [`CustodyError::PlaintextTooLarge`] above [`MAX_SEALED_PLAINTEXT_LEN`];
/// [`CustodyError::Random`] if the operating system's RNG fails.
pub fn seal(
    key: &MasterKey,
    context: &SealContext<'_>,
    plaintext: &[u8],
) -> Result<SealedBlob, CustodyError> {
    let too_large = CustodyError::PlaintextTooLarge {
        len: plaintext.len(),
        max: MAX_SEALED_PLAINTEXT_LEN,
    };
    if plaintext.len() > MAX_SEALED_PLAINTEXT_LEN {
        return Err(too_large);
    }
    let mut nonce = aead::Nonce::<Aes256Gcm>::default();
    fill_random(&mut nonce)?;

    // One buffer, allocated once, encrypted in place: no copy of the plaintext is left
    // behind by a reallocation, and the buffer is wiped if anything fails.
    let mut out = Zeroizing::new(Vec::with_capacity(MIN_BLOB_LEN + plaintext.len()));
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(key.id().as_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let (_, body) = out.split_at_mut(HEADER_LEN);
    let tag = cipher(key)
        .encrypt_inout_detached(&nonce, &context.aad(key.id()), body.into())
        .map_err(|_| too_large)?;
    out.extend_from_slice(&tag);
    Ok(SealedBlob {
        bytes: std::mem::take(&mut *out),
        sealed_under: key.id(),
    })
}

/// Opens a blob sealed by [`seal`] with the same key and context.
///
/// # Errors
/// [`CustodyError::WrongMasterKey`] if it was sealed under another master key;
/// [`CustodyError::OpenFailed`] if it was modified or sealed for another context
/// (AES-GCM cannot tell these apart).
pub fn open(
    key: &MasterKey,
    context: &SealContext<'_>,
    blob: &SealedBlob,
) -> Result<Zeroizing<Vec<u8>>, CustodyError> {
    if blob.sealed_under != key.id() {
        return Err(CustodyError::WrongMasterKey {
            sealed_under: blob.sealed_under,
            current: key.id(),
        });
    }
    let truncated = || CustodyError::MalformedBlob {
        reason: "it is shorter than the envelope (truncated)",
    };
    let (header, rest) = blob
        .bytes
        .split_at_checked(HEADER_LEN)
        .ok_or_else(truncated)?;
    let (_, nonce) = header
        .split_last_chunk::<NONCE_LEN>()
        .ok_or_else(truncated)?;
    let (ciphertext, tag) = rest.split_last_chunk::<TAG_LEN>().ok_or_else(truncated)?;

    let mut plaintext = Zeroizing::new(ciphertext.to_vec());
    cipher(key)
        .decrypt_inout_detached(
            nonce.into(),
            &context.aad(key.id()),
            plaintext.as_mut_slice().into(),
            tag.into(),
        )
        .map_err(|_| CustodyError::OpenFailed {
            key_id: context.key_id.to_owned(),
            purpose: context.purpose.to_owned(),
        })?;
    Ok(plaintext)
}

/// Re-seals a blob under a new master key (rotation): opens it with `old`, seals the
/// secret under `new` with a fresh nonce and the same context.
///
/// # Errors
/// Those of [`open`] and [`seal`].
pub fn reseal(
    old: &MasterKey,
    new: &MasterKey,
    context: &SealContext<'_>,
    blob: &SealedBlob,
) -> Result<SealedBlob, CustodyError> {
    let plaintext = open(old, context, blob)?;
    seal(new, context, &plaintext)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use proptest::prelude::*;

    use super::*;

    const CTX: SealContext<'static> = SealContext::new("key-42", "signing-key");

    fn sealed(key: &MasterKey, plaintext: &[u8]) -> SealedBlob {
        seal(key, &CTX, plaintext).unwrap()
    }

    fn reopen(
        bytes: &[u8],
        key: &MasterKey,
        ctx: &SealContext<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, CustodyError> {
        open(key, ctx, &SealedBlob::from_bytes(bytes)?)
    }

    #[test]
    fn round_trip_and_envelope_layout() {
        let key = MasterKey::generate().unwrap();
        let blob = sealed(&key, b"PKCS#8 bytes");
        let bytes = blob.as_bytes();
        assert_eq!(bytes.len(), 1 + 8 + 12 + 12 + 16);
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..9], key.id().as_bytes());
        assert_eq!(blob.master_key_id(), key.id());
        assert_eq!(&*reopen(bytes, &key, &CTX).unwrap(), b"PKCS#8 bytes");
        assert_eq!(
            &*reopen(sealed(&key, b"").as_bytes(), &key, &CTX).unwrap(),
            b""
        );
        let debug = format!("{blob:?}");
        assert!(debug.contains("len: 49"), "{debug}");
    }

    #[test]
    fn nonces_are_fresh() {
        let key = MasterKey::generate().unwrap();
        let (a, b) = (sealed(&key, b"same"), sealed(&key, b"same"));
        assert_ne!(a.as_bytes()[9..21], b.as_bytes()[9..21]);
        assert_ne!(a, b);
    }

    /// The blob is plain AES-256-GCM: Python's `cryptography` (OpenSSL) opens it given
    /// the key, the nonce and the associated data.
    #[test]
    fn independent_aes_gcm_implementation_opens_the_blob() {
        let key = MasterKey::generate().unwrap();
        let blob = sealed(&key, b"opened by OpenSSL");
        let bytes = blob.as_bytes();
        let script = "import sys\nfrom cryptography.hazmat.primitives.ciphers.aead import AESGCM\n\
                      k, n, c, a = (bytes.fromhex(x) for x in sys.argv[1:5])\n\
                      sys.stdout.write(AESGCM(k).decrypt(n, c, a).decode())";
        let out = Command::new("python3")
            .args([
                "-c",
                script,
                &hex::encode(key.bytes()),
                &hex::encode(&bytes[9..21]),
                &hex::encode(&bytes[21..]),
                &hex::encode(CTX.aad(key.id())),
            ])
            .output()
            .expect(
                "python3 with the `cryptography` package (Debian: python3-cryptography) is needed",
            );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, b"opened by OpenSSL");
    }

    #[test]
    fn wrong_context_fails_to_open() {
        let key = MasterKey::generate().unwrap();
        let blob = sealed(&key, b"secret");
        for ctx in [
            SealContext::new("key-43", "signing-key"),
            SealContext::new("key-42", "ca-key"),
            // Same concatenation, different split: the length prefixes tell them apart.
            SealContext::new("key-42signing", "-key"),
        ] {
            match open(&key, &ctx, &blob) {
                Err(CustodyError::OpenFailed { key_id, purpose }) => {
                    assert_eq!(
                        (key_id.as_str(), purpose.as_str()),
                        (ctx.key_id, ctx.purpose)
                    );
                }
                other => panic!("expected OpenFailed for {ctx:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn wrong_master_key_is_named() {
        let key = MasterKey::generate().unwrap();
        let other = MasterKey::generate().unwrap();
        let blob = sealed(&key, b"secret");
        match open(&other, &CTX, &blob) {
            Err(CustodyError::WrongMasterKey {
                sealed_under,
                current,
            }) => assert_eq!((sealed_under, current), (key.id(), other.id())),
            other => panic!("expected WrongMasterKey, got {other:?}"),
        }
        // A different key that claims the same id still cannot open it.
        let impostor = MasterKey::from_parts(crate::master_key::new_secret32(), key.id());
        assert!(matches!(
            open(&impostor, &CTX, &blob),
            Err(CustodyError::OpenFailed { .. })
        ));
    }

    #[test]
    fn tampered_blobs_fail_to_open() {
        let key = MasterKey::generate().unwrap();
        let bytes = sealed(&key, b"secret material").into_bytes();
        // Any flipped bit after the version byte (id, nonce, ciphertext, tag) is refused.
        for i in 1..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 0x80;
            let err = reopen(&tampered, &key, &CTX).unwrap_err();
            assert!(
                matches!(
                    err,
                    CustodyError::OpenFailed { .. } | CustodyError::WrongMasterKey { .. }
                ),
                "byte {i}: {err:?}"
            );
        }
        let mut version = bytes.clone();
        version[0] = 2;
        assert!(matches!(
            reopen(&version, &key, &CTX),
            Err(CustodyError::UnsupportedBlobVersion { version: 2 })
        ));
    }

    #[test]
    fn truncated_and_oversized_blobs_are_malformed() {
        let key = MasterKey::generate().unwrap();
        let bytes = sealed(&key, b"secret").into_bytes();
        for len in [0, 1, 20, MIN_BLOB_LEN - 1] {
            assert!(
                matches!(
                    SealedBlob::from_bytes(&bytes[..len]),
                    Err(CustodyError::MalformedBlob { .. })
                ),
                "length {len}"
            );
        }
        // Cut inside the ciphertext: the envelope is fine, authentication is not.
        assert!(matches!(
            reopen(&bytes[..bytes.len() - 1], &key, &CTX),
            Err(CustodyError::OpenFailed { .. })
        ));
        let mut huge = bytes.clone();
        huge.resize(MAX_BLOB_LEN + 1, 0);
        assert!(matches!(
            SealedBlob::from_bytes(&huge),
            Err(CustodyError::MalformedBlob { .. })
        ));
        assert!(matches!(
            seal(&key, &CTX, &vec![0; MAX_SEALED_PLAINTEXT_LEN + 1]),
            Err(CustodyError::PlaintextTooLarge { .. })
        ));
        let largest = sealed(&key, &vec![7; MAX_SEALED_PLAINTEXT_LEN]);
        assert_eq!(
            reopen(largest.as_bytes(), &key, &CTX).unwrap().len(),
            MAX_SEALED_PLAINTEXT_LEN
        );
    }

    #[test]
    fn reseal_moves_a_blob_to_the_new_key() {
        let old = MasterKey::generate().unwrap();
        let new = MasterKey::generate().unwrap();
        let blob = sealed(&old, b"rotate me");
        let moved = reseal(&old, &new, &CTX, &blob).unwrap();
        assert_eq!(moved.master_key_id(), new.id());
        assert_eq!(&*open(&new, &CTX, &moved).unwrap(), b"rotate me");
        assert!(matches!(
            open(&old, &CTX, &moved),
            Err(CustodyError::WrongMasterKey { .. })
        ));
        assert!(matches!(
            reseal(&new, &old, &CTX, &blob),
            Err(CustodyError::WrongMasterKey { .. })
        ));
    }

    proptest! {
        #[test]
        fn seal_open_round_trip(plaintext in proptest::collection::vec(any::<u8>(), 0..2048), key_id in ".{0,40}", purpose in "[a-z-]{0,20}") {
            let key = MasterKey::generate().unwrap();
            let ctx = SealContext::new(&key_id, &purpose);
            let blob = seal(&key, &ctx, &plaintext).unwrap();
            let back = SealedBlob::from_bytes(blob.as_bytes()).unwrap();
            prop_assert_eq!(&*open(&key, &ctx, &back).unwrap(), &plaintext[..]);
        }

        #[test]
        fn reading_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let key = MasterKey::generate().unwrap();
            if let Ok(blob) = SealedBlob::from_bytes(&bytes) {
                prop_assert!(open(&key, &CTX, &blob).is_err());
            }
        }
    }
}

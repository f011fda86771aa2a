//! The encrypted backup file: AES-256-GCM under a key derived from the master key, in chunks.
//!
//! Layout, version 1 (integers big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `SIGILBK\0` |
//! | 1 | version = `0x01` |
//! | 8 | id of the master key |
//! | 3 | the master key's check value |
//! | 32 | salt: fresh random per backup |
//! | 7 | nonce prefix: fresh random per backup |
//! | 4 | chunk length L (plaintext bytes per chunk) |
//! | 4 | length of the metadata, then the metadata (public: not encrypted, but authenticated) |
//! | … | chunks: each L bytes of ciphertext (the last one fewer, possibly none) + 16-byte tag |
//!
//! The key is HKDF-SHA256 (RFC 5869) of the master key with the salt and the label
//! `sigil backup v1`, so every backup has its own key and the master key itself never
//! encrypts a backup. Every chunk is authenticated with the whole header as associated data
//! and a nonce made of the prefix, the chunk's index and a last-chunk flag (the STREAM
//! construction), so an altered header, an altered, dropped, repeated or reordered chunk and a
//! file cut anywhere (even between chunks) all fail to open.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{self, AeadInOut, KeyInit};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::master_key::fill_random;
use crate::{CustodyError, KCV_LEN, MASTER_KEY_ID_LEN, MasterKey};

/// The first bytes of every backup file.
pub const BACKUP_MAGIC: &[u8; 8] = b"SIGILBK\0";
/// Plaintext bytes per chunk of [`encrypt_backup`] (1 MiB).
pub const BACKUP_CHUNK_LEN: u32 = 1 << 20;
/// Largest metadata a backup file may carry (it is public and read before the key is known).
pub const MAX_BACKUP_META_LEN: usize = 1 << 20;

const VERSION: u8 = 1;
const SALT_LEN: usize = 32;
const PREFIX_LEN: usize = 7;
const TAG_LEN: usize = 16;
const FIXED_LEN: usize = 8 + 1 + MASTER_KEY_ID_LEN + KCV_LEN + SALT_LEN + PREFIX_LEN + 4 + 4;
const KDF_LABEL: &[u8] = b"sigil backup v1";
/// Largest chunk length a file may declare (16 MiB), so a damaged header cannot make the
/// reader trust absurd sizes.
const MAX_CHUNK_LEN: u32 = 16 << 20;

/// Why a backup file cannot be written or opened.
#[derive(Debug, thiserror::Error)]
pub enum BackupFileError {
    /// The file does not start like a Sigil backup.
    #[error("this is not a Sigil backup file (it does not start with the backup header)")]
    NotABackup,
    /// A newer format.
    #[error(
        "backup format version {0} is not supported: restore it with the Sigil version that wrote it, or a newer one"
    )]
    UnsupportedVersion(u8),
    /// The header is cut short or inconsistent.
    #[error("the backup file's header is damaged ({0}): use another copy of the backup")]
    Header(&'static str),
    /// The key given is not the one the backup was made with.
    #[error(
        "this backup was made under master key {backup_key} (check value {backup_kcv}), not under the key given ({given_key}): give the components or key file of the deployment that made it"
    )]
    WrongMasterKey {
        /// The backup's master key id.
        backup_key: String,
        /// The backup's master key check value.
        backup_kcv: String,
        /// The given key's id.
        given_key: String,
    },
    /// A chunk failed authentication: altered, reordered, truncated or cut at a chunk end.
    #[error(
        "the backup file is damaged at chunk {chunk} (altered, truncated or reordered): nothing was restored; use another copy of the backup"
    )]
    Damaged {
        /// Index of the first chunk that failed (from 0).
        chunk: u64,
    },
    /// The metadata is too large to write.
    #[error("the backup metadata is {0} bytes, more than the format allows")]
    MetaTooLarge(usize),
    /// HKDF refused the key length (cannot happen for a 32-byte key).
    #[error("deriving the backup key failed: this is a bug in Sigil, please report it")]
    KeyDerivation,
    /// The operating system's random number generator failed.
    #[error(transparent)]
    Custody(#[from] CustodyError),
}

/// The public part of a backup file, readable without the key (and authenticated only when
/// the file is opened with [`decrypt_backup`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupHeader {
    /// The master key id, hex.
    pub master_key_id: String,
    /// The master key check value, hex.
    pub master_kcv: String,
    /// The metadata given to [`encrypt_backup`].
    pub meta: Vec<u8>,
}

/// Encrypts `plaintext` into a backup file under a key derived from `key`; `meta` is stored in
/// the clear but authenticated (put nothing secret in it).
pub fn encrypt_backup(
    key: &MasterKey,
    meta: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, BackupFileError> {
    encrypt_backup_chunked(key, meta, plaintext, BACKUP_CHUNK_LEN)
}

/// [`encrypt_backup`] with another chunk length (1 to 16 MiB; tests use small ones).
pub fn encrypt_backup_chunked(
    key: &MasterKey,
    meta: &[u8],
    plaintext: &[u8],
    chunk_len: u32,
) -> Result<Vec<u8>, BackupFileError> {
    if meta.len() > MAX_BACKUP_META_LEN {
        return Err(BackupFileError::MetaTooLarge(meta.len()));
    }
    let chunk_len = chunk_len.clamp(1, MAX_CHUNK_LEN);
    let mut salt = [0u8; SALT_LEN];
    let mut prefix = [0u8; PREFIX_LEN];
    fill_random(&mut salt)?;
    fill_random(&mut prefix)?;
    let mut out = Vec::with_capacity(FIXED_LEN + meta.len() + plaintext.len() + TAG_LEN);
    out.extend_from_slice(BACKUP_MAGIC);
    out.push(VERSION);
    out.extend_from_slice(key.id().as_bytes());
    out.extend_from_slice(key.kcv().as_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&prefix);
    out.extend_from_slice(&chunk_len.to_be_bytes());
    let meta_len =
        u32::try_from(meta.len()).map_err(|_| BackupFileError::MetaTooLarge(meta.len()))?;
    out.extend_from_slice(&meta_len.to_be_bytes());
    out.extend_from_slice(meta);
    let header_len = out.len();

    let cipher = derive_cipher(key, &salt)?;
    let mut chunks = plaintext.chunks(chunk_len as usize).peekable();
    let mut index: u32 = 0;
    loop {
        let chunk = chunks.next().unwrap_or(&[]);
        let last = chunks.peek().is_none();
        let start = out.len();
        out.extend_from_slice(chunk);
        let (header, body) = out.split_at_mut(start);
        let aad = header.get(..header_len).unwrap_or_default();
        let tag = cipher
            .encrypt_inout_detached(&nonce(&prefix, index, last), aad, body.into())
            .map_err(|_| BackupFileError::Header("the backup is too large"))?;
        out.extend_from_slice(&tag);
        if last {
            return Ok(out);
        }
        index = index
            .checked_add(1)
            .ok_or(BackupFileError::Header("the backup is too large"))?;
    }
}

/// Reads the public header of a backup file (not yet authenticated: [`decrypt_backup`] does).
pub fn read_backup_header(file: &[u8]) -> Result<BackupHeader, BackupFileError> {
    let parsed = Parsed::of(file)?;
    Ok(BackupHeader {
        master_key_id: hex::encode_upper(parsed.key_id),
        master_kcv: hex::encode_upper(parsed.kcv),
        meta: parsed.meta.to_vec(),
    })
}

/// Opens a backup file: checks the master key, then authenticates and decrypts every chunk.
/// Nothing is returned unless the whole file is intact.
pub fn decrypt_backup(key: &MasterKey, file: &[u8]) -> Result<Zeroizing<Vec<u8>>, BackupFileError> {
    let parsed = Parsed::of(file)?;
    if parsed.key_id != key.id().as_bytes() || parsed.kcv != key.kcv().as_bytes() {
        return Err(BackupFileError::WrongMasterKey {
            backup_key: hex::encode_upper(parsed.key_id),
            backup_kcv: hex::encode_upper(parsed.kcv),
            given_key: key.id().to_string(),
        });
    }
    let cipher = derive_cipher(key, parsed.salt)?;
    let sealed_len = parsed.chunk_len as usize + TAG_LEN;
    let mut out = Zeroizing::new(Vec::with_capacity(parsed.body.len()));
    let mut rest = parsed.body;
    let mut index: u32 = 0;
    loop {
        let last = rest.len() <= sealed_len;
        let (sealed, tail) = rest.split_at(rest.len().min(sealed_len));
        let damaged = BackupFileError::Damaged {
            chunk: u64::from(index),
        };
        let (ciphertext, tag) = sealed.split_last_chunk::<TAG_LEN>().ok_or(damaged)?;
        let start = out.len();
        out.extend_from_slice(ciphertext);
        let body = out.get_mut(start..).unwrap_or_default();
        let tag = aead::Tag::<Aes256Gcm>::from(*tag);
        cipher
            .decrypt_inout_detached(
                &nonce(parsed.prefix, index, last),
                parsed.header,
                body.into(),
                &tag,
            )
            .map_err(|_| BackupFileError::Damaged {
                chunk: u64::from(index),
            })?;
        if last {
            return Ok(out);
        }
        rest = tail;
        index = index.checked_add(1).ok_or(BackupFileError::Damaged {
            chunk: u64::from(index),
        })?;
    }
}

/// A file split into its fields (lengths checked).
struct Parsed<'a> {
    header: &'a [u8],
    key_id: &'a [u8],
    kcv: &'a [u8],
    salt: &'a [u8],
    prefix: &'a [u8],
    chunk_len: u32,
    meta: &'a [u8],
    body: &'a [u8],
}

impl<'a> Parsed<'a> {
    fn of(file: &'a [u8]) -> Result<Self, BackupFileError> {
        let short = BackupFileError::Header("it is cut short");
        let (magic, rest) = file
            .split_at_checked(BACKUP_MAGIC.len())
            .ok_or(BackupFileError::NotABackup)?;
        if magic != BACKUP_MAGIC {
            return Err(BackupFileError::NotABackup);
        }
        let (&version, rest) = rest
            .split_first()
            .ok_or(BackupFileError::Header("it is cut short"))?;
        if version != VERSION {
            return Err(BackupFileError::UnsupportedVersion(version));
        }
        let (key_id, rest) = rest
            .split_at_checked(MASTER_KEY_ID_LEN)
            .ok_or(BackupFileError::Header("it is cut short"))?;
        let (kcv, rest) = rest
            .split_at_checked(KCV_LEN)
            .ok_or(BackupFileError::Header("it is cut short"))?;
        let (salt, rest) = rest
            .split_at_checked(SALT_LEN)
            .ok_or(BackupFileError::Header("it is cut short"))?;
        let (prefix, rest) = rest
            .split_at_checked(PREFIX_LEN)
            .ok_or(BackupFileError::Header("it is cut short"))?;
        let (chunk_len, rest) = take_u32(rest).ok_or(BackupFileError::Header("it is cut short"))?;
        if chunk_len == 0 || chunk_len > MAX_CHUNK_LEN {
            return Err(BackupFileError::Header("the chunk length is out of range"));
        }
        let (meta_len, rest) = take_u32(rest).ok_or(BackupFileError::Header("it is cut short"))?;
        let meta_len = meta_len as usize;
        if meta_len > MAX_BACKUP_META_LEN {
            return Err(BackupFileError::Header(
                "the metadata length is out of range",
            ));
        }
        let (meta, body) = rest.split_at_checked(meta_len).ok_or(short)?;
        let header = file
            .get(..FIXED_LEN + meta_len)
            .ok_or(BackupFileError::Header("it is cut short"))?;
        Ok(Self {
            header,
            key_id,
            kcv,
            salt,
            prefix,
            chunk_len,
            meta,
            body,
        })
    }
}

fn take_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*head), rest))
}

/// HKDF-SHA256 (RFC 5869, the `hkdf` crate) of the master key into an AES-256-GCM key.
fn derive_cipher(key: &MasterKey, salt: &[u8]) -> Result<Aes256Gcm, BackupFileError> {
    let mut okm = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(salt), key.bytes())
        .expand(KDF_LABEL, &mut okm[..])
        .map_err(|_| BackupFileError::KeyDerivation)?;
    Ok(Aes256Gcm::new((&*okm).into()))
}

fn nonce(prefix: &[u8], index: u32, last: bool) -> aead::Nonce<Aes256Gcm> {
    let mut nonce = aead::Nonce::<Aes256Gcm>::default();
    let (head, tail) = nonce.split_at_mut(PREFIX_LEN);
    head.copy_from_slice(prefix.get(..PREFIX_LEN).unwrap_or(&[0; PREFIX_LEN]));
    let (counter, flag) = tail.split_at_mut(4);
    counter.copy_from_slice(&index.to_be_bytes());
    if let Some(f) = flag.first_mut() {
        *f = u8::from(last);
    }
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> MasterKey {
        MasterKey::generate().unwrap()
    }

    #[test]
    fn round_trip_in_one_and_many_chunks_and_empty() {
        let k = key();
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        for chunk in [1, 7, 100, 1000, 4096] {
            let file = encrypt_backup_chunked(&k, b"meta", &data, chunk).unwrap();
            assert_eq!(&decrypt_backup(&k, &file).unwrap()[..], &data[..]);
            let header = read_backup_header(&file).unwrap();
            assert_eq!(header.meta, b"meta");
            assert_eq!(header.master_key_id, k.id().to_string());
        }
        let file = encrypt_backup(&k, b"", b"").unwrap();
        assert!(decrypt_backup(&k, &file).unwrap().is_empty());
    }

    #[test]
    fn another_master_key_is_refused_by_name() {
        let file = encrypt_backup(&key(), b"", b"data").unwrap();
        let err = decrypt_backup(&key(), &file).unwrap_err();
        assert!(
            matches!(err, BackupFileError::WrongMasterKey { .. }),
            "{err}"
        );
    }

    #[test]
    fn cut_at_a_chunk_end_or_chunks_swapped_is_refused() {
        let k = key();
        let data = vec![7u8; 300];
        let file = encrypt_backup_chunked(&k, b"m", &data, 100).unwrap();
        let header_len = FIXED_LEN + 1;
        let sealed = 100 + TAG_LEN;
        // Drop the last chunk: the one before it was not sealed as the last.
        let cut = &file[..header_len + 2 * sealed];
        assert!(matches!(
            decrypt_backup(&k, cut),
            Err(BackupFileError::Damaged { chunk: 1 })
        ));
        // Swap chunks 0 and 1.
        let mut swapped = file[..header_len].to_vec();
        swapped.extend_from_slice(&file[header_len + sealed..header_len + 2 * sealed]);
        swapped.extend_from_slice(&file[header_len..header_len + sealed]);
        swapped.extend_from_slice(&file[header_len + 2 * sealed..]);
        assert!(matches!(
            decrypt_backup(&k, &swapped),
            Err(BackupFileError::Damaged { chunk: 0 })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any change to a backup file — a flipped bit anywhere, a cut anywhere, bytes
        /// appended — is refused, never opened into other content.
        #[test]
        fn any_corruption_is_refused(
            len in 0usize..600,
            chunk in 1u32..200,
            position in any::<prop::sample::Index>(),
            bit in 0u8..8,
            mode in 0u8..3,
            extra in prop::collection::vec(any::<u8>(), 1..40),
        ) {
            let k = key();
            let data: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
            let file = encrypt_backup_chunked(&k, b"{\"meta\":1}", &data, chunk).unwrap();
            let mut bad = file.clone();
            let at = position.index(file.len());
            match mode {
                0 => bad[at] ^= 1 << bit,
                1 => bad.truncate(at),
                _ => bad.extend_from_slice(&extra),
            }
            prop_assert!(decrypt_backup(&k, &bad).is_err());
        }
    }
}

//! Public, non-secret identifiers: the master-key id and key check values.
//!
//! Both are shown to people (uppercase hex) and stored in the custody record
//! (as JSON strings), so both have a text form that parses back.

use std::fmt;
use std::str::FromStr;

use aes_gcm::aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes_gcm::aes::{Aes256, Block};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// Length of a key check value in bytes (shown as 6 hex digits).
pub const KCV_LEN: usize = 3;

/// Length of a master-key id in bytes (shown as 16 hex digits).
pub const MASTER_KEY_ID_LEN: usize = 8;

/// A key check value: lets people confirm they hold the right key without seeing it.
///
/// Sigil uses the conventional KCV for AES keys (as HSMs and key-ceremony forms do):
/// encrypt one all-zero 16-byte block with AES-256 under the key (ECB, no padding)
/// and keep the first 3 bytes, shown as 6 uppercase hex digits. Anyone can recompute it:
///
/// ```text
/// head -c 16 /dev/zero | openssl enc -aes-256-ecb -nopad -K <64 hex digits> | head -c 3 | xxd -p -u
/// ```
///
/// A KCV reveals nothing usable about the key (recovering a key from it means breaking
/// AES), but it is short: two different keys share a KCV with probability 2⁻²⁴, so it
/// confirms a key, it does not authenticate one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Kcv([u8; KCV_LEN]);

impl Kcv {
    /// The KCV of a 256-bit AES key.
    pub(crate) fn of_aes256_key(key: &[u8; 32]) -> Self {
        let cipher = Aes256::new(key.into());
        let mut block = Block::default();
        cipher.encrypt_block(&mut block);
        let mut kcv = [0u8; KCV_LEN];
        for (out, byte) in kcv.iter_mut().zip(block.iter()) {
            *out = *byte;
        }
        Self(kcv)
    }

    /// The 3 bytes of the check value.
    pub fn as_bytes(&self) -> &[u8; KCV_LEN] {
        &self.0
    }

    /// Compares in constant time (a KCV is computed from secret material).
    pub(crate) fn matches(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// The identifier of a deployment's master key: 8 random bytes made with the key.
///
/// It is written into every key component (so a component from another deployment
/// is refused when entered) and into every sealed blob (so a blob sealed under
/// another master key is reported as such, and rotation can tell old blobs from new).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MasterKeyId([u8; MASTER_KEY_ID_LEN]);

impl MasterKeyId {
    pub(crate) fn from_bytes(bytes: [u8; MASTER_KEY_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// The 8 bytes of the id.
    pub fn as_bytes(&self) -> &[u8; MASTER_KEY_ID_LEN] {
        &self.0
    }
}

/// Why a KCV or master-key id could not be parsed from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} hex digits (0-9, A-F) for {what}")]
pub struct ParseIdError {
    what: &'static str,
    expected: usize,
}

fn write_upper_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02X}"))
}

fn parse_hex<const N: usize>(s: &str, what: &'static str) -> Result<[u8; N], ParseIdError> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s.trim(), &mut out).map_err(|_| ParseIdError {
        what,
        expected: N * 2,
    })?;
    Ok(out)
}

macro_rules! hex_text_form {
    ($ty:ident, $len:expr, $what:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_upper_hex(f, &self.0)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), self)
            }
        }

        impl FromStr for $ty {
            type Err = ParseIdError;

            /// Parses the hex form, in either case.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex::<$len>(s, $what).map(Self)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = ParseIdError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> Self {
                value.to_string()
            }
        }
    };
}

hex_text_form!(Kcv, KCV_LEN, "a key check value");
hex_text_form!(MasterKeyId, MASTER_KEY_ID_LEN, "a master-key id");

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::{Command, Stdio};

    use super::*;

    /// Computes the KCV with the `openssl` command line: the independent oracle.
    fn openssl_kcv(key: &[u8; 32]) -> String {
        let mut child = Command::new("openssl")
            .args(["enc", "-aes-256-ecb", "-nopad", "-K", &hex::encode(key)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run openssl");
        child.stdin.take().unwrap().write_all(&[0u8; 16]).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "openssl failed: {out:?}");
        hex::encode_upper(&out.stdout[..KCV_LEN])
    }

    #[test]
    fn kcv_matches_openssl_aes_256_ecb_of_zero_block() {
        let mut counting = [0u8; 32];
        for (i, b) in counting.iter_mut().enumerate() {
            *b = i as u8;
        }
        for key in [[0u8; 32], [0xFF; 32], counting] {
            assert_eq!(Kcv::of_aes256_key(&key).to_string(), openssl_kcv(&key));
        }
    }

    #[test]
    fn text_forms_round_trip_and_reject_garbage() {
        let kcv = Kcv([0x0A, 0xBC, 0xD1]);
        assert_eq!(kcv.to_string(), "0ABCD1");
        assert_eq!("0abcd1".parse::<Kcv>().unwrap(), kcv);
        assert!("0ABCD".parse::<Kcv>().is_err());
        assert!("0ABCDG".parse::<Kcv>().is_err());
        let id = MasterKeyId([1, 2, 3, 4, 5, 6, 7, 0xFF]);
        assert_eq!(id.to_string(), "01020304050607FF");
        assert_eq!(format!("{id:?}"), "MasterKeyId(01020304050607FF)");
        assert_eq!(id.to_string().parse::<MasterKeyId>().unwrap(), id);
        assert!("01020304050607".parse::<MasterKeyId>().is_err());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"01020304050607FF\"");
        assert_eq!(serde_json::from_str::<MasterKeyId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<Kcv>("\"XYZXYZ\"").is_err());
    }
}

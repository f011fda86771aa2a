//! Global settings, typed, with their stored key/value form.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::pki::SerialNumber;

/// Largest accepted lockout threshold.
pub const MAX_LOCKOUT_THRESHOLD: u32 = 100;

/// Global settings. Stored as one row per key so that adding a setting needs no migration; a
/// missing key takes its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Settings {
    /// Whether a private key may be exported at all (as an encrypted PKCS#12, and only with
    /// `ca:export-clear-key`). Default **false**.
    pub allow_export_with_password: bool,
    /// Consecutive failed logins that lock an identity (1 to [`MAX_LOCKOUT_THRESHOLD`]).
    pub lockout_threshold: u32,
    /// Serial of the `timestamping` certificate (whose key Sigil holds) that signs RFC 3161
    /// time-stamp tokens at `POST /api/v1/timestamp`. `None` (the default) disables the TSA.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub timestamp_certificate: Option<SerialNumber>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            allow_export_with_password: false,
            lockout_threshold: 5,
            timestamp_certificate: None,
        }
    }
}

/// A stored setting that cannot be read, or a value out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting {key} has the invalid value {value:?}: expected {expected}")]
pub struct SettingError {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// What is accepted.
    pub expected: &'static str,
}

/// Key of [`Settings::allow_export_with_password`].
pub const KEY_ALLOW_EXPORT: &str = "allow_export_with_password";
/// Key of [`Settings::lockout_threshold`].
pub const KEY_LOCKOUT_THRESHOLD: &str = "lockout_threshold";
/// Key of [`Settings::timestamp_certificate`] (an empty value means unset).
pub const KEY_TIMESTAMP_CERTIFICATE: &str = "timestamp_certificate";

impl Settings {
    /// The key/value rows to store.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                KEY_ALLOW_EXPORT,
                self.allow_export_with_password.to_string(),
            ),
            (KEY_LOCKOUT_THRESHOLD, self.lockout_threshold.to_string()),
            // Always written, empty when unset, so that clearing it overwrites the stored row.
            (
                KEY_TIMESTAMP_CERTIFICATE,
                self.timestamp_certificate
                    .as_ref()
                    .map(|serial| serial.as_str().to_owned())
                    .unwrap_or_default(),
            ),
        ]
    }

    /// Reads stored rows; missing keys keep their defaults, unknown keys (from a newer
    /// version) are ignored.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, SettingError> {
        let mut settings = Self::default();
        for (key, value) in pairs {
            let bad = |expected| SettingError {
                key: key.to_owned(),
                value: crate::text::truncate(value, 64).to_owned(),
                expected,
            };
            match key {
                KEY_ALLOW_EXPORT => {
                    settings.allow_export_with_password =
                        value.parse().map_err(|_| bad("true or false"))?;
                }
                KEY_LOCKOUT_THRESHOLD => {
                    settings.lockout_threshold = value.parse().map_err(|_| bad("1 to 100"))?;
                }
                KEY_TIMESTAMP_CERTIFICATE => {
                    settings.timestamp_certificate = if value.is_empty() {
                        None
                    } else {
                        Some(
                            SerialNumber::from_hex(value)
                                .map_err(|_| bad("a certificate serial number in hex, or empty"))?,
                        )
                    };
                }
                _ => {}
            }
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), SettingError> {
        if !(1..=MAX_LOCKOUT_THRESHOLD).contains(&self.lockout_threshold) {
            return Err(SettingError {
                key: KEY_LOCKOUT_THRESHOLD.to_owned(),
                value: self.lockout_threshold.to_string(),
                expected: "1 to 100",
            });
        }
        Ok(())
    }
}

/// A Host API command code: four uppercase ASCII letters (`ECHO`, `RKLO`, `RAUO`, ...).
/// Kept here as plain data so the domain does not depend on the protocol crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommandCode([u8; 4]);

/// Text that is not four uppercase ASCII letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a Host API command code is four uppercase letters, got {0:?}")]
pub struct BadCommandCode(pub String);

impl CommandCode {
    /// Reads a code.
    pub fn new(text: &str) -> Result<Self, BadCommandCode> {
        let bytes: [u8; 4] = text
            .as_bytes()
            .try_into()
            .map_err(|_| BadCommandCode(crate::text::truncate(text, 16).to_owned()))?;
        if bytes.iter().all(u8::is_ascii_uppercase) {
            Ok(Self(bytes))
        } else {
            Err(BadCommandCode(text.to_owned()))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Always four ASCII letters, checked in `new`.
        std::str::from_utf8(&self.0).unwrap_or("????")
    }
}

impl fmt::Display for CommandCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for CommandCode {
    type Error = BadCommandCode;

    fn try_from(text: String) -> Result<Self, BadCommandCode> {
        Self::new(&text)
    }
}

impl From<CommandCode> for String {
    fn from(code: CommandCode) -> Self {
        code.as_str().to_owned()
    }
}

/// The set of enabled Host API commands.
pub type EnabledCommands = BTreeSet<CommandCode>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_defaults() {
        let mut s = Settings {
            allow_export_with_password: true,
            lockout_threshold: 3,
            timestamp_certificate: Some(SerialNumber::from_hex("0A1b").unwrap()),
        };
        let pairs = s.to_pairs();
        let read = Settings::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(read, s);
        s.timestamp_certificate = None;
        let pairs = s.to_pairs();
        let read = Settings::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(read, s);
        assert!(Settings::from_pairs([(KEY_TIMESTAMP_CERTIFICATE, "xyz")]).is_err());
        let defaults = Settings::from_pairs([("future_setting", "x")]).unwrap();
        assert!(!defaults.allow_export_with_password);
        assert!(Settings::from_pairs([(KEY_LOCKOUT_THRESHOLD, "0")]).is_err());
        assert!(Settings::from_pairs([(KEY_ALLOW_EXPORT, "yes")]).is_err());
    }

    #[test]
    fn command_codes() {
        assert_eq!(CommandCode::new("RKLO").unwrap().as_str(), "RKLO");
        assert!(CommandCode::new("rklo").is_err());
        assert!(CommandCode::new("RKL").is_err());
        assert!(CommandCode::new("RKLOO").is_err());
        assert!(CommandCode::new("RKÉ").is_err());
    }
}

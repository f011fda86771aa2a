//! An `[[hsm]]` section of `sigil.toml`, and where its user PIN comes from.

use std::path::{Path, PathBuf};

use cryptoki::types::AuthPin;
use serde::{Deserialize, Serialize};
use sigil_domain::SOFTWARE_BACKEND;
use zeroize::Zeroizing;

use crate::{KeystoreError, MasterKey, SealContext, SealedBlob};

/// Longest HSM name.
const NAME_MAX_LEN: usize = 32;
/// Longest PIN accepted (PKCS#11 tokens allow far less).
const PIN_MAX_LEN: usize = 256;
/// What a sealed PIN is bound to besides the HSM's name.
const PIN_PURPOSE: &str = "hsm-user-pin";

/// One HSM: a token in a PKCS#11 module.
///
/// ```toml
/// [[hsm]]
/// name = "hsm1"
/// module = "/usr/lib/softhsm/libsofthsm2.so"
/// token_label = "sigil"            # or: slot = 0
/// pin_file = "/etc/sigil/hsm1.pin" # or: pin_env = "SIGIL_HSM1_PIN", or: pin_sealed = "…"
/// sessions = 4                     # default: the number of CPU cores
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmConfig {
    /// The name key records and `--key-backend` use.
    pub name: String,
    /// Path of the PKCS#11 library.
    pub module: PathBuf,
    /// The token's label (`CKA_LABEL` of the token), or…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_label: Option<String>,
    /// …the slot id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u64>,
    /// A file holding the user PIN (one line; keep it readable by Sigil only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_file: Option<PathBuf>,
    /// An environment variable holding the user PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_env: Option<String>,
    /// The user PIN sealed under the master key (hex, as [`seal_pin`] makes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_sealed: Option<String>,
    /// Logged-in sessions to keep at most (default: the number of CPU cores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<usize>,
}

/// Where an HSM's user PIN comes from. Never a command-line argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinSource<'a> {
    /// A file.
    File(&'a Path),
    /// An environment variable.
    Env(&'a str),
    /// Sealed under the master key (hex).
    Sealed(&'a str),
}

impl HsmConfig {
    fn invalid(&self, reason: impl Into<String>) -> KeystoreError {
        KeystoreError::Hsm {
            hsm: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// Checks the section: a valid name, one way to find the token, one PIN source.
    pub fn check(&self) -> Result<(), KeystoreError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= NAME_MAX_LEN
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && self.name != SOFTWARE_BACKEND;
        if !name_ok {
            return Err(self.invalid(format!(
                "an [[hsm]] name is 1 to {NAME_MAX_LEN} characters of a-z, 0-9, - and _, and not \"{SOFTWARE_BACKEND}\""
            )));
        }
        match (&self.token_label, self.slot) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => {
                return Err(self.invalid(
                    "name the token with exactly one of token_label or slot in its [[hsm]] section",
                ));
            }
        }
        if self.sessions == Some(0) {
            return Err(self.invalid("sessions must be at least 1"));
        }
        self.pin_source().map(|_| ())
    }

    /// The one configured PIN source.
    pub fn pin_source(&self) -> Result<PinSource<'_>, KeystoreError> {
        match (&self.pin_file, &self.pin_env, &self.pin_sealed) {
            (Some(path), None, None) => Ok(PinSource::File(path)),
            (None, Some(var), None) => Ok(PinSource::Env(var)),
            (None, None, Some(hex)) => Ok(PinSource::Sealed(hex)),
            _ => Err(self.invalid(
                "give exactly one of pin_file, pin_env or pin_sealed in its [[hsm]] section (a PIN is never a command-line argument)",
            )),
        }
    }

    /// Logged-in sessions the pool may open.
    pub fn pool_size(&self) -> usize {
        self.sessions.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        })
    }

    /// Reads the user PIN from its source (opening it with `master` if sealed).
    pub fn read_pin(&self, master: &MasterKey) -> Result<AuthPin, KeystoreError> {
        let pin: Zeroizing<String> = match self.pin_source()? {
            PinSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    self.invalid(format!(
                        "cannot read the PIN file {} ({e}): check pin_file and its permissions",
                        path.display()
                    ))
                })?;
                Zeroizing::new(text)
            }
            PinSource::Env(var) => Zeroizing::new(std::env::var(var).map_err(|_| {
                self.invalid(format!(
                    "the environment variable {var} (pin_env) is not set or not UTF-8: set it in the server's environment"
                ))
            })?),
            PinSource::Sealed(hex_text) => {
                let blob = hex::decode(hex_text.trim())
                    .map_err(|_| self.invalid("pin_sealed is not hex: paste the sealed PIN again"))?;
                let blob = SealedBlob::from_bytes(&blob)?;
                let clear = crate::open(master, &SealContext::new(&self.name, PIN_PURPOSE), &blob)
                    .map_err(|e| {
                        self.invalid(format!(
                            "pin_sealed does not open under this deployment's master key for HSM {} ({e}): seal the PIN again for this HSM name and master key",
                            self.name
                        ))
                    })?;
                Zeroizing::new(String::from_utf8(clear.to_vec()).map_err(|_| {
                    self.invalid("the sealed PIN is not UTF-8: seal it again")
                })?)
            }
        };
        let trimmed = pin.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() || trimmed.len() > PIN_MAX_LEN {
            return Err(self.invalid(format!(
                "the user PIN is empty or longer than {PIN_MAX_LEN} characters: check its source"
            )));
        }
        Ok(AuthPin::from(trimmed.to_owned()))
    }
}

/// Seals an HSM's user PIN under the master key, for `pin_sealed` (hex). Bound to the HSM's
/// name: a sealed PIN copied into another `[[hsm]]` section does not open.
pub fn seal_pin(master: &MasterKey, hsm: &str, pin: &str) -> Result<String, KeystoreError> {
    let blob = crate::seal(
        master,
        &SealContext::new(hsm, PIN_PURPOSE),
        pin.trim_end_matches(['\r', '\n']).as_bytes(),
    )?;
    Ok(hex::encode(blob.into_bytes()))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn config(extra: &str) -> Result<HsmConfig, toml::de::Error> {
        toml::from_str(&format!(
            "name = \"hsm1\"\nmodule = \"/usr/lib/softhsm/libsofthsm2.so\"\n{extra}"
        ))
    }

    #[test]
    fn sections_need_one_token_and_one_pin_source() {
        let good = config("token_label = \"t\"\npin_env = \"X\"").unwrap();
        good.check().unwrap();
        for bad in [
            "pin_env = \"X\"",
            "token_label = \"t\"\nslot = 1\npin_env = \"X\"",
            "token_label = \"t\"",
            "token_label = \"t\"\npin_env = \"X\"\npin_file = \"/p\"",
            "token_label = \"t\"\npin_env = \"X\"\nsessions = 0",
        ] {
            assert!(config(bad).unwrap().check().is_err(), "{bad}");
        }
        assert!(config("token_label = \"t\"\npin = \"1234\"").is_err());
        let mut software = good.clone();
        software.name = SOFTWARE_BACKEND.into();
        assert!(software.check().is_err());
    }

    #[test]
    fn pins_come_from_a_file_or_sealed_under_the_master_key() {
        let master = MasterKey::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        std::fs::write(&path, "4321\n").unwrap();
        let from_file = config(&format!("slot = 0\npin_file = {:?}", path)).unwrap();
        assert_eq!(from_file.read_pin(&master).unwrap().expose_secret(), "4321");

        let sealed = seal_pin(&master, "hsm1", "98765").unwrap();
        assert!(!sealed.contains(&hex::encode("98765")));
        let from_seal = config(&format!("slot = 0\npin_sealed = \"{sealed}\"")).unwrap();
        assert_eq!(
            from_seal.read_pin(&master).unwrap().expose_secret(),
            "98765"
        );
        // Bound to the HSM's name and to the master key.
        let mut other_name = from_seal.clone();
        other_name.name = "hsm2".into();
        assert!(other_name.read_pin(&master).is_err());
        assert!(from_seal.read_pin(&MasterKey::generate().unwrap()).is_err());

        let missing = config("slot = 0\npin_env = \"SIGIL_TEST_SURELY_UNSET_PIN\"").unwrap();
        assert!(missing.read_pin(&master).is_err());
    }
}

//! Where the module finds its settings: a module configuration file named by
//! `SIGIL_PKCS11_CONFIG`, or just a client profile named by `SIGIL_PKCS11_PROFILE` (then every
//! other setting has its default).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sigil_client::Profile;

use crate::error::ModuleError;

/// Environment variable naming the module configuration file.
pub const CONFIG_ENV: &str = "SIGIL_PKCS11_CONFIG";
/// Environment variable naming a client profile (when there is no configuration file).
pub const PROFILE_ENV: &str = "SIGIL_PKCS11_PROFILE";
/// How long `C_Sign` waits for approvals by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Description recorded with each request by default.
pub const DEFAULT_DESCRIPTION: &str = "signature through the Sigil PKCS#11 module";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    profile: PathBuf,
    timeout_secs: Option<u64>,
    description: Option<String>,
    log_file: Option<PathBuf>,
}

/// The module's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The client profile (the TOML `sigil sign` uses).
    pub profile: Profile,
    /// How long `C_Sign` waits for a request to be signed.
    pub timeout: Duration,
    /// `DS` metadata of each request (the calling program's name is added).
    pub description: String,
    /// Where refusals, denials and failures are written (default: standard error).
    pub log_file: Option<PathBuf>,
}

impl Config {
    /// Reads the settings the environment names.
    pub fn from_env() -> Result<Self, ModuleError> {
        if let Some(path) = std::env::var_os(CONFIG_ENV) {
            return Self::load(Path::new(&path));
        }
        match std::env::var_os(PROFILE_ENV) {
            Some(profile) => Self::with_profile(Profile::load(Path::new(&profile))?),
            None => Err(ModuleError::Config(format!(
                "neither {CONFIG_ENV} nor {PROFILE_ENV} is set: set one to the module \
                 configuration or the client profile to use"
            ))),
        }
    }

    /// Reads a module configuration file; its `profile` is relative to the file.
    pub fn load(path: &Path) -> Result<Self, ModuleError> {
        let bad = |message: String| ModuleError::Config(format!("{}: {message}", path.display()));
        let text =
            std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let file: ConfigFile = toml::from_str(&text)
            .map_err(|e| bad(format!("not a valid module configuration: {e}")))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = Self::with_profile(Profile::load(&base.join(&file.profile))?)?;
        if let Some(secs) = file.timeout_secs {
            config.timeout = Duration::from_secs(secs);
        }
        if let Some(description) = file.description {
            config.description = description;
        }
        config.log_file = file.log_file.map(|p| base.join(p));
        Ok(config)
    }

    fn with_profile(profile: Profile) -> Result<Self, ModuleError> {
        if profile.identities.is_empty() {
            return Err(ModuleError::Config(format!(
                "{}: no [[identity]] to log in: add one with its name",
                profile.path.display()
            )));
        }
        Ok(Self {
            profile,
            timeout: DEFAULT_TIMEOUT,
            description: DEFAULT_DESCRIPTION.into(),
            log_file: None,
        })
    }
}

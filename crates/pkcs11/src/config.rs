//! Where the module finds its settings: a module configuration file named by
//! `SIGIL_PKCS11_CONFIG`, else a client profile named by `SIGIL_PKCS11_PROFILE` (every other
//! setting at its default), else `sigil-pkcs11.toml` beside the module file itself (for callers
//! whose environment cannot be set, such as a Java application's SunPKCS11 configuration).

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
/// The configuration file looked for beside the module.
pub const BESIDE_MODULE: &str = "sigil-pkcs11.toml";
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
    /// Reads the settings the environment names, else the file beside `module` (the path of
    /// the loaded module file, when it is known).
    pub fn from_env(module: Option<&Path>) -> Result<Self, ModuleError> {
        if let Some(path) = std::env::var_os(CONFIG_ENV) {
            return Self::load(Path::new(&path));
        }
        if let Some(profile) = std::env::var_os(PROFILE_ENV) {
            return Self::with_profile(Profile::load(Path::new(&profile))?);
        }
        let beside = module
            .and_then(Path::parent)
            .map(|dir| dir.join(BESIDE_MODULE));
        match beside {
            Some(path) if path.exists() => Self::load(&path),
            _ => Err(ModuleError::Config(format!(
                "neither {CONFIG_ENV} nor {PROFILE_ENV} is set and there is no {BESIDE_MODULE} \
                 beside the module: set one to the module configuration or the client profile \
                 to use"
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

/// The file the code at `address` was loaded from, read from `/proc/self/maps` (Linux): the
/// module finds its own path this way without calling into the dynamic loader.
pub fn mapped_file(address: usize) -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| mapping_path(line, address))
}

/// The path of one `/proc/self/maps` line when its range holds `address`.
fn mapping_path(line: &str, address: usize) -> Option<PathBuf> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    if !(start..end).contains(&address) {
        return None;
    }
    // Permissions, offset, device and inode come before the path.
    let path = fields.nth(4)?;
    path.starts_with('/').then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_maps_line_names_the_file_holding_an_address() {
        let line =
            "7f1c2a000000-7f1c2a100000 r-xp 00001000 fd:01 1234  /opt/sigil/libsigil_pkcs11.so";
        assert_eq!(
            mapping_path(line, 0x7f1c_2a00_0010),
            Some(PathBuf::from("/opt/sigil/libsigil_pkcs11.so"))
        );
        assert_eq!(mapping_path(line, 0x7f1c_2a10_0000), None);
        assert_eq!(
            mapping_path("7f00-7f10 rw-p 00000000 00:00 0  [heap]", 0x7f05),
            None
        );
        assert_eq!(
            mapping_path("7f00-7f10 rw-p 00000000 00:00 0", 0x7f05),
            None
        );
        assert_eq!(mapping_path("garbage", 0), None);
    }

    #[test]
    fn this_code_is_found_in_a_mapped_file() {
        let here = mapped_file(a_maps_line_names_the_file_holding_an_address as fn() as usize);
        assert!(here.is_some_and(|p| p.exists()));
    }
}

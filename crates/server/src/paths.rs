//! The data directory's layout (see `docs/server.md`) and how secrets are written into it.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand::Rng;
use zeroize::Zeroizing;

use crate::error::ServerError;

/// Default data directory of `sigil init`, `sigil server` and `sigil quickstart`.
pub const DEFAULT_DATA_DIR: &str = "sigil-data";
/// Database file (SQLite) inside the data directory.
pub const DATABASE_FILE: &str = "sigil.db";
/// Development master key file.
pub const MASTER_KEY_FILE: &str = "master.key";
/// The "System TLS CA Root" certificate clients pin.
pub const ROOT_CA_FILE: &str = "ca/root.pem";
/// Administrator secrets and profile.
pub const ADMIN_DIR: &str = "admin";
/// Client material written by quickstart.
pub const CLIENTS_DIR: &str = "clients";

/// Paths of one data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLayout {
    root: PathBuf,
}

impl DataLayout {
    /// The layout under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `DATA/sigil.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join(crate::config::CONFIG_FILE)
    }

    /// `DATA/master.key`.
    pub fn master_key(&self) -> PathBuf {
        self.root.join(MASTER_KEY_FILE)
    }

    /// `DATA/ca/root.pem`.
    pub fn root_ca(&self) -> PathBuf {
        self.root.join(ROOT_CA_FILE)
    }

    /// `DATA/admin`.
    pub fn admin_dir(&self) -> PathBuf {
        self.root.join(ADMIN_DIR)
    }

    /// `DATA/admin/<name>.password`.
    pub fn admin_password(&self, name: &str) -> PathBuf {
        self.admin_dir().join(format!("{name}.password"))
    }

    /// `DATA/admin/admin.toml`.
    pub fn admin_profile(&self) -> PathBuf {
        self.admin_dir().join("admin.toml")
    }

    /// `DATA/clients`.
    pub fn clients_dir(&self) -> PathBuf {
        self.root.join(CLIENTS_DIR)
    }
}

/// Characters of generated passwords: letters and digits, so they survive shells, TOML and
/// copy-and-paste unchanged.
const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random password of `len` letters and digits (about 5.95 bits each) from the OS-seeded
/// CSPRNG.
pub fn generate_password(len: usize) -> Zeroizing<String> {
    let mut rng = rand::rng();
    let mut out = Zeroizing::new(String::with_capacity(len));
    let mut byte = [0u8; 1];
    while out.len() < len {
        rng.fill_bytes(&mut byte);
        // Rejection sampling keeps every character equally likely (248 = 4 × 62).
        let [b] = byte;
        if usize::from(b) < 4 * PASSWORD_ALPHABET.len()
            && let Some(c) = PASSWORD_ALPHABET.get(usize::from(b) % PASSWORD_ALPHABET.len())
        {
            out.push(char::from(*c));
        }
    }
    out
}

/// Writes a new file readable by its owner only (mode 0600); never overwrites.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), ServerError> {
    write_new_file(path, contents, 0o600)
}

/// Writes a new file with `mode`; refuses to overwrite anything.
pub fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), ServerError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| ServerError::io(path, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| ServerError::io(path, e))
}

/// Creates a directory (and its parents) with mode 0700.
pub fn create_private_dir(path: &Path) -> Result<(), ServerError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| ServerError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn passwords_have_the_length_and_alphabet() {
        let a = generate_password(24);
        let b = generate_password(24);
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(*a, *b);
    }

    #[test]
    fn private_files_are_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_private_file(&path, b"one").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(write_private_file(&path, b"two").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
    }
}

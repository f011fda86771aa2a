//! Insecure, development-only ways to keep the master key. Kept in one place, named loudly.
//!
//! A development key file holds the master key in clear on disk, so whoever can read
//! the file (or a backup, or the disk) can decrypt every private key of the deployment,
//! and no custodian is ever involved. It exists so that a developer can restart a
//! server without typing components. Production deployments split the key into
//! components ([`MasterKey::split`]).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::master_key::{MASTER_KEY_LEN, new_secret32};
use crate::{CustodyError, CustodyRecord, CustodyScheme, MasterKey, MasterKeyId};

/// Largest development key file read, in bytes (the file Sigil writes is about 300).
pub const MAX_DEV_KEY_FILE_LEN: usize = 4096;

const HEADER: &str = "sigil-dev-master-key v1";
const KEY_ID_FIELD: &str = "key-id ";
const KEY_FIELD: &str = "key ";
const COMMENT: &str = "\
# Sigil DEVELOPMENT master key. INSECURE: anyone who can read this file can decrypt
# every private key of this deployment. Never use it in production: split the master
# key into key components held by custodians instead.
";

/// A master key kept in a file on disk: **insecure, for development only**.
///
/// Holding one of these is the marker that the running server's master key came from a
/// key file: print its [`Display`](fmt::Display) warning at every start. The file is
/// created with mode 0600 and never overwritten; it is refused when group or other
/// users can access it.
///
/// ```no_run
/// # use sigil_custody::{CustodyRecord, MasterKey, danger::InsecureDevKeyFile};
/// # use std::path::Path;
/// // `sigil init` (development):
/// let key = MasterKey::generate()?;
/// InsecureDevKeyFile::create(Path::new("data/dev-master.key"), &key)?;
/// let record = CustodyRecord::for_dev_key_file(&key); // stored by the server
///
/// // every start:
/// let (key, insecure) = InsecureDevKeyFile::load(Path::new("data/dev-master.key"), &record)?;
/// eprintln!("WARNING: {insecure}");
/// # Ok::<(), sigil_custody::CustodyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsecureDevKeyFile {
    path: PathBuf,
}

impl InsecureDevKeyFile {
    /// Writes `key` to a new file at `path`, readable and writable by the owner only.
    ///
    /// # Errors
    /// [`CustodyError::KeyFileExists`] if anything exists at `path` (never overwritten);
    /// [`CustodyError::KeyFileIo`] if it cannot be written (a partly written file is removed).
    pub fn create(path: &Path, key: &MasterKey) -> Result<Self, CustodyError> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| match source.kind() {
                io::ErrorKind::AlreadyExists => CustodyError::KeyFileExists {
                    path: path.to_owned(),
                },
                _ => io_error(path, source),
            })?;

        let mut key_hex = Zeroizing::new([0u8; 2 * MASTER_KEY_LEN]);
        // Cannot fail: the output is exactly twice the input.
        let _ = hex::encode_to_slice(key.bytes(), &mut key_hex[..]);
        key_hex.make_ascii_uppercase();
        let mut contents = Zeroizing::new(Vec::with_capacity(COMMENT.len() + 128));
        contents.extend_from_slice(COMMENT.as_bytes());
        for part in [
            HEADER,
            "\n",
            KEY_ID_FIELD,
            &key.id().to_string(),
            "\n",
            KEY_FIELD,
        ] {
            contents.extend_from_slice(part.as_bytes());
        }
        contents.extend_from_slice(&key_hex[..]);
        contents.push(b'\n');

        if let Err(source) = file.write_all(&contents).and_then(|()| file.sync_all()) {
            drop(file);
            let _ = fs::remove_file(path);
            return Err(io_error(path, source));
        }
        Ok(Self {
            path: path.to_owned(),
        })
    }

    /// Reads the master key from the file at `path` and checks it against the deployment's
    /// record.
    ///
    /// # Errors
    /// [`CustodyError::WrongScheme`] if the record does not say `dev-key-file`;
    /// [`CustodyError::KeyFilePermissions`] if group or others can access the file (it is
    /// not read); [`CustodyError::KeyFileMalformed`], [`CustodyError::KeyFileIo`];
    /// [`CustodyError::KeyDoesNotMatchRecord`] if it holds another key.
    pub fn load(path: &Path, record: &CustodyRecord) -> Result<(MasterKey, Self), CustodyError> {
        if !matches!(record.scheme(), CustodyScheme::DevKeyFile) {
            return Err(CustodyError::WrongScheme {
                expected: "dev-key-file",
                found: record.scheme().name(),
            });
        }
        let file = File::open(path).map_err(|source| io_error(path, source))?;
        // Checked on the opened file, so it is the file that is read.
        let metadata = file.metadata().map_err(|source| io_error(path, source))?;
        let malformed = |reason| CustodyError::KeyFileMalformed {
            path: path.to_owned(),
            reason,
        };
        if !metadata.is_file() {
            return Err(malformed("it is not a regular file"));
        }
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CustodyError::KeyFilePermissions {
                path: path.to_owned(),
                mode,
            });
        }

        // Allocated once, larger than anything read, so no reallocation leaves copies.
        let mut contents = Zeroizing::new(Vec::with_capacity(MAX_DEV_KEY_FILE_LEN + 64));
        file.take(MAX_DEV_KEY_FILE_LEN as u64 + 1)
            .read_to_end(&mut contents)
            .map_err(|source| io_error(path, source))?;
        if contents.len() > MAX_DEV_KEY_FILE_LEN {
            return Err(malformed("it is larger than a development key file"));
        }
        let text = std::str::from_utf8(&contents).map_err(|_| malformed("it is not text"))?;
        let key = parse_key_file(text).map_err(malformed)?;
        record.verify(&key)?;
        Ok((
            key,
            Self {
                path: path.to_owned(),
            },
        ))
    }

    /// The key file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Display for InsecureDevKeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "INSECURE (InsecureDevKeyFile): the master key was read from the development key file {}; \
             anyone who can read that file can decrypt every private key of this deployment. \
             Never run production like this: split the master key into key components.",
            self.path.display()
        )
    }
}

fn io_error(path: &Path, source: io::Error) -> CustodyError {
    CustodyError::KeyFileIo {
        path: path.to_owned(),
        source,
    }
}

fn parse_key_file(text: &str) -> Result<MasterKey, &'static str> {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'));
    if lines.next() != Some(HEADER) {
        return Err("the first line is not \"sigil-dev-master-key v1\"");
    }
    let id: MasterKeyId = lines
        .next()
        .and_then(|line| line.strip_prefix(KEY_ID_FIELD))
        .and_then(|id| id.parse().ok())
        .ok_or("the \"key-id\" line (16 hex digits) is missing or damaged")?;
    let key_hex = lines
        .next()
        .and_then(|line| line.strip_prefix(KEY_FIELD))
        .ok_or("the \"key\" line is missing")?;
    let mut bytes = new_secret32();
    hex::decode_to_slice(key_hex.trim(), &mut bytes[..])
        .map_err(|_| "the \"key\" line does not hold 64 hex digits")?;
    if lines.next().is_some() {
        return Err("it has lines after the key");
    }
    Ok(MasterKey::from_parts(bytes, id))
}

#[cfg(test)]
mod tests {
    use std::fs::Permissions;

    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf, MasterKey, CustodyRecord) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev-master.key");
        let key = MasterKey::generate().unwrap();
        let record = CustodyRecord::for_dev_key_file(&key);
        (dir, path, key, record)
    }

    #[test]
    fn created_with_mode_0600_and_loads_back_with_a_warning() {
        let (_dir, path, key, record) = setup();
        let created = InsecureDevKeyFile::create(&path, &key).unwrap();
        assert_eq!(created.path(), path);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Sigil DEVELOPMENT master key. INSECURE"));
        assert!(text.contains(&format!("key-id {}\n", key.id())));

        let (loaded, insecure) = InsecureDevKeyFile::load(&path, &record).unwrap();
        assert_eq!(loaded.bytes(), key.bytes());
        assert_eq!(loaded.id(), key.id());
        let warning = insecure.to_string();
        assert!(warning.starts_with("INSECURE (InsecureDevKeyFile)"));
        assert!(warning.contains(&path.display().to_string()));
    }

    #[test]
    fn refuses_to_overwrite() {
        let (_dir, path, key, record) = setup();
        InsecureDevKeyFile::create(&path, &key).unwrap();
        let other = MasterKey::generate().unwrap();
        let err = InsecureDevKeyFile::create(&path, &other).unwrap_err();
        assert!(matches!(err, CustodyError::KeyFileExists { .. }), "{err:?}");
        assert!(err.to_string().contains("refusing to overwrite"));
        // The original key is still there.
        let (loaded, _) = InsecureDevKeyFile::load(&path, &record).unwrap();
        assert_eq!(loaded.bytes(), key.bytes());
    }

    #[test]
    fn refuses_a_file_group_or_others_can_access() {
        let (_dir, path, key, record) = setup();
        InsecureDevKeyFile::create(&path, &key).unwrap();
        for mode in [0o640, 0o604, 0o660, 0o644, 0o602] {
            fs::set_permissions(&path, Permissions::from_mode(mode)).unwrap();
            let err = InsecureDevKeyFile::load(&path, &record).unwrap_err();
            assert!(
                matches!(err, CustodyError::KeyFilePermissions { mode: m, .. } if m == mode),
                "{mode:o}: {err:?}"
            );
            assert!(
                err.to_string()
                    .contains(&format!("chmod 600 {}", path.display())),
                "{err}"
            );
        }
        fs::set_permissions(&path, Permissions::from_mode(0o400)).unwrap();
        InsecureDevKeyFile::load(&path, &record).unwrap();
    }

    #[test]
    fn refuses_another_deployments_key_or_scheme() {
        let (_dir, path, key, _) = setup();
        InsecureDevKeyFile::create(&path, &key).unwrap();
        let other = CustodyRecord::for_dev_key_file(&MasterKey::generate().unwrap());
        assert!(matches!(
            InsecureDevKeyFile::load(&path, &other),
            Err(CustodyError::KeyDoesNotMatchRecord { .. })
        ));
        let split = key.split(2, 2).unwrap();
        assert!(matches!(
            InsecureDevKeyFile::load(&path, &split.record),
            Err(CustodyError::WrongScheme {
                expected: "dev-key-file",
                found: "components"
            })
        ));
    }

    #[test]
    fn refuses_malformed_or_missing_files() {
        let (dir, path, key, record) = setup();
        assert!(matches!(
            InsecureDevKeyFile::load(&path, &record),
            Err(CustodyError::KeyFileIo { .. })
        ));
        InsecureDevKeyFile::create(&path, &key).unwrap();
        let good = fs::read_to_string(&path).unwrap();
        let write = |name: &str, contents: &[u8]| {
            let p = dir.path().join(name);
            fs::write(&p, contents).unwrap();
            fs::set_permissions(&p, Permissions::from_mode(0o600)).unwrap();
            p
        };
        let key_line = good.lines().last().unwrap();
        for (name, contents) in [
            ("empty", String::new()),
            ("header", good.replace(HEADER, "sigil-dev-master-key v2")),
            (
                "short-key",
                good.replace(key_line, &key_line[..key_line.len() - 2]),
            ),
            ("no-id", good.replace("key-id", "kid")),
            ("extra", format!("{good}more\n")),
            ("big", format!("{good}{}", "#".repeat(MAX_DEV_KEY_FILE_LEN))),
        ] {
            let p = write(name, contents.as_bytes());
            let err = InsecureDevKeyFile::load(&p, &record).unwrap_err();
            assert!(
                matches!(err, CustodyError::KeyFileMalformed { .. }),
                "{name}: {err:?}"
            );
        }
        let p = write("binary", &[0xFF, 0xFE, 0x00]);
        assert!(matches!(
            InsecureDevKeyFile::load(&p, &record),
            Err(CustodyError::KeyFileMalformed { .. })
        ));
        assert!(matches!(
            InsecureDevKeyFile::load(dir.path(), &record),
            Err(CustodyError::KeyFileMalformed { .. })
        ));
    }
}

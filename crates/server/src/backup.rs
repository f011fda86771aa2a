//! `sigil backup` and `sigil restore`: one encrypted file holding a deployment.
//!
//! The file (format in `sigil_custody::backup`) carries, encrypted under a key derived from
//! the master key, a [`Snapshot`] of the database (rows, engine-neutral, read at one instant
//! while servers run) and the data directory's files — `sigil.toml`, the CA certificate,
//! administrator files, PIN files — but never the development master key file nor the
//! database file itself. Its public, authenticated header names the master key (id and check
//! value) and holds the custody record (ids and check values only), so that `restore` can
//! check key components or a key file before decrypting anything.
//!
//! `restore` builds the new data directory in a hidden directory beside it and renames it
//! into place at the end; the database rows and a `backup.restored` audit event are written in
//! one transaction. A wrong key, a damaged file, a target that is not empty or a database that
//! holds a deployment are refused and nothing is written.

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sigil_custody::backup::{decrypt_backup, encrypt_backup, read_backup_header};
use sigil_custody::danger::InsecureDevKeyFile;
use sigil_custody::{CustodyRecord, CustodyScheme, MasterKey};
use sigil_domain::{AuditDraft, AuditEvent, Outcome};
use sigil_store::Snapshot;
use sigil_store::snapshot::Cell;
use time::OffsetDateTime;

use crate::config::{CONFIG_FILE, ServerConfig};
use crate::error::ServerError;
use crate::init::{StagingDir, is_empty_dir};
use crate::paths::{DATABASE_FILE, MASTER_KEY_FILE, create_private_dir, write_new_file};

/// `format` of the header metadata.
const FORMAT: &str = "sigil-backup-v1";
/// Actor of the `backup.restored` event.
const RESTORE_ACTOR: &str = "sigil-restore";

/// The header's public metadata (authenticated, not encrypted).
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: String,
    /// RFC 3339.
    created: String,
    /// `sqlite` or `postgres`.
    engine: String,
    custody: CustodyRecord,
}

/// The encrypted content.
#[derive(Serialize, Deserialize)]
struct Payload {
    database: Snapshot,
    files: Vec<DataFile>,
}

/// One file of the data directory.
#[derive(Serialize, Deserialize)]
struct DataFile {
    /// Relative to the data directory, `/`-separated.
    path: String,
    mode: u32,
    #[serde(with = "hex_bytes")]
    contents: Vec<u8>,
}

/// What a backup holds, readable before the master key is given.
#[derive(Debug)]
pub struct BackupInfo {
    /// When it was made (RFC 3339).
    pub created: String,
    /// The database engine it was taken from.
    pub engine: String,
    /// The master key's id.
    pub master_key_id: String,
    /// The master key's check value.
    pub master_kcv: String,
    /// The deployment's custody record: check key components or the key file against it.
    pub custody: CustodyRecord,
}

/// What `backup` wrote.
#[derive(Debug)]
pub struct BackupReport {
    /// The backup file.
    pub file: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Rows of the database in it.
    pub rows: usize,
    /// Audit events in it (the chain's length at the snapshot).
    pub audit_events: usize,
    /// Files of the data directory in it.
    pub files: Vec<String>,
    /// The master key's id.
    pub master_key_id: String,
}

/// Writes a backup of the deployment `config` describes into `out` (which must not exist),
/// encrypted under `master` (checked against the deployment's custody record). Servers may
/// keep running.
pub async fn backup(
    config: &ServerConfig,
    master: &MasterKey,
    out: &Path,
) -> Result<BackupReport, ServerError> {
    if out.exists() {
        return Err(ServerError::State(format!(
            "{} exists: refusing to overwrite it; choose a new file name",
            out.display()
        )));
    }
    let url = config.database_url();
    let database = sigil_store::snapshot(&url).await?;
    let custody = custody_of(&database)?;
    custody.verify(master)?;
    let files = data_files(config)?;
    let meta = Meta {
        format: FORMAT.to_owned(),
        created: now_rfc3339(),
        engine: if url.starts_with("sqlite://") {
            "sqlite"
        } else {
            "postgres"
        }
        .to_owned(),
        custody,
    };
    let report_files = files.iter().map(|f| f.path.clone()).collect();
    let rows = database.tables.iter().map(|t| t.rows.len()).sum();
    let audit_events = database.table("audit_events").map_or(0, |t| t.rows.len());
    let payload = zeroize::Zeroizing::new(
        serde_json::to_vec(&Payload { database, files })
            .map_err(|e| ServerError::State(format!("cannot encode the backup: {e}")))?,
    );
    let meta = serde_json::to_vec(&meta)
        .map_err(|e| ServerError::State(format!("cannot encode the backup header: {e}")))?;
    let sealed = encrypt_backup(master, &meta, &payload)?;
    if let Err(e) = write_new_file(out, &sealed, 0o600) {
        // A half-written backup must not pass for one (restore would refuse it anyway).
        if out.exists()
            && !matches!(&e, ServerError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists)
        {
            let _ = std::fs::remove_file(out);
        }
        return Err(e);
    }
    Ok(BackupReport {
        file: out.to_path_buf(),
        bytes: sealed.len() as u64,
        rows,
        audit_events,
        files: report_files,
        master_key_id: master.id().to_string(),
    })
}

/// Reads a backup file's public header.
pub fn inspect(file: &[u8]) -> Result<BackupInfo, ServerError> {
    let header = read_backup_header(file)?;
    let meta: Meta = serde_json::from_slice(&header.meta).map_err(|e| {
        ServerError::State(format!(
            "the backup's header cannot be read ({e}): it is damaged or not a Sigil backup"
        ))
    })?;
    if meta.format != FORMAT {
        return Err(ServerError::State(format!(
            "the backup's format is {:?}, which this Sigil cannot read",
            meta.format
        )));
    }
    Ok(BackupInfo {
        created: meta.created,
        engine: meta.engine,
        master_key_id: header.master_key_id,
        master_kcv: header.master_kcv,
        custody: meta.custody,
    })
}

/// Where `restore` writes.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// The new data directory (missing or empty).
    pub data_dir: PathBuf,
    /// Database URL for the restored deployment; `None` keeps the backup's (a SQLite file
    /// inside the data directory is created anew).
    pub database: Option<String>,
}

/// What `restore` made.
#[derive(Debug)]
pub struct RestoreReport {
    /// The new data directory.
    pub data_dir: PathBuf,
    /// The database URL in its `sigil.toml`.
    pub database: String,
    /// The `backup.restored` event, which continues the backup's audit chain.
    pub event: AuditEvent,
    /// When the backup was made.
    pub created: String,
}

/// Restores the backup `file` into a new deployment; see the module documentation.
pub async fn restore(
    file: &[u8],
    options: &RestoreOptions,
    master: &MasterKey,
) -> Result<RestoreReport, ServerError> {
    let target = &options.data_dir;
    if target.exists() && !target.is_dir() {
        return Err(ServerError::State(format!(
            "{} exists and is not a directory: restore into a new data directory",
            target.display()
        )));
    }
    if !is_empty_dir(target)? {
        return Err(ServerError::State(format!(
            "{} is not empty: refusing to restore over an existing deployment; give a new data \
             directory",
            target.display()
        )));
    }
    let info = inspect(file)?;
    info.custody.verify(master)?;
    let plain = decrypt_backup(master, file)?;
    let payload: Payload = serde_json::from_slice(&plain).map_err(|e| {
        ServerError::State(format!(
            "the backup's content cannot be read ({e}): it is not a Sigil backup of this version"
        ))
    })?;
    drop(plain);

    let (parent, name) = split_target(target)?;
    std::fs::create_dir_all(&parent).map_err(|e| ServerError::io(&parent, e))?;
    let staging = StagingDir::create(&parent, &name)?;
    for data_file in &payload.files {
        let path = staging.path().join(safe_relative(&data_file.path)?);
        if let Some(dir) = path.parent() {
            create_private_dir(dir)?;
        }
        write_new_file(&path, &data_file.contents, data_file.mode & 0o777)?;
    }
    let config_path = staging.path().join(CONFIG_FILE);
    let mut config = ServerConfig::load(&config_path)?;
    if let Some(url) = &options.database {
        config.database = url.clone();
        rewrite_database(&config_path, url)?;
    } else if config
        .database
        .strip_prefix("sqlite://")
        .is_some_and(|file| Path::new(file).is_absolute())
    {
        return Err(ServerError::Config(format!(
            "the backup's database is {}, outside its data directory: give --database URL",
            config.database
        )));
    }
    if matches!(info.custody.scheme(), CustodyScheme::DevKeyFile) {
        InsecureDevKeyFile::create(&staging.path().join(MASTER_KEY_FILE), master)?;
    }
    let event = AuditDraft::new(
        OffsetDateTime::now_utc(),
        "backup.restored",
        Outcome::Success,
    )
    .identity(RESTORE_ACTOR)
    .detail("backup_created", &info.created)
    .detail("from_engine", &info.engine)
    .detail("master_key_id", &info.master_key_id);
    let event = sigil_store::restore(&config.database_url(), &payload.database, event).await?;
    staging.commit(target)?;
    Ok(RestoreReport {
        data_dir: target.clone(),
        database: config.database,
        event,
        created: info.created,
    })
}

/// The custody record stored in the snapshot's `custody` table.
fn custody_of(snapshot: &Snapshot) -> Result<CustodyRecord, ServerError> {
    let missing = || {
        ServerError::State(
            "this database holds no Sigil deployment (no custody record): nothing to back up"
                .into(),
        )
    };
    let table = snapshot.table("custody").ok_or_else(missing)?;
    let body = table
        .columns
        .iter()
        .position(|c| c == "body")
        .ok_or_else(missing)?;
    match table.rows.first().and_then(|row| row.get(body)) {
        Some(Cell::Text(json)) => serde_json::from_str(json).map_err(|e| {
            ServerError::State(format!("the stored custody record cannot be read ({e})"))
        }),
        _ => Err(missing()),
    }
}

/// Every regular file of the data directory but the master key file, the SQLite database
/// (its rows are in the snapshot) and hidden directories (`init`/`restore` staging).
fn data_files(config: &ServerConfig) -> Result<Vec<DataFile>, ServerError> {
    let root = &config.data_dir;
    let mut skip = vec![PathBuf::from(MASTER_KEY_FILE)];
    let db_file = match config.database_url().strip_prefix("sqlite://") {
        Some(path) => Path::new(path)
            .strip_prefix(root)
            .map(Path::to_path_buf)
            .ok(),
        None => None,
    }
    .unwrap_or_else(|| PathBuf::from(DATABASE_FILE));
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = db_file.as_os_str().to_owned();
        name.push(suffix);
        skip.push(PathBuf::from(name));
    }
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(dir) = dirs.pop() {
        let full = root.join(&dir);
        let mut entries: Vec<_> = std::fs::read_dir(&full)
            .map_err(|e| ServerError::io(&full, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| ServerError::io(&full, e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let relative = dir.join(entry.file_name());
            let kind = entry
                .file_type()
                .map_err(|e| ServerError::io(entry.path(), e))?;
            if kind.is_dir() {
                if !entry.file_name().to_string_lossy().starts_with('.') {
                    dirs.push(relative);
                }
            } else if kind.is_file() && !skip.contains(&relative) {
                let path = entry.path();
                let contents = std::fs::read(&path).map_err(|e| ServerError::io(&path, e))?;
                let mode = std::fs::metadata(&path)
                    .map_err(|e| ServerError::io(&path, e))?
                    .permissions()
                    .mode()
                    & 0o777;
                out.push(DataFile {
                    path: relative.to_string_lossy().into_owned(),
                    mode,
                    contents,
                });
            }
        }
    }
    Ok(out)
}

/// A stored path as a relative path inside the data directory (no `..`, not absolute).
fn safe_relative(path: &str) -> Result<PathBuf, ServerError> {
    let p = Path::new(path);
    if path.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(ServerError::State(format!(
            "the backup names a file {path:?} outside a data directory: it is not a Sigil backup"
        )));
    }
    Ok(p.to_path_buf())
}

/// Sets `[server] database` in the restored `sigil.toml`.
fn rewrite_database(path: &Path, url: &str) -> Result<(), ServerError> {
    let text = std::fs::read_to_string(path).map_err(|e| ServerError::io(path, e))?;
    let mut doc: toml::Table = toml::from_str(&text)
        .map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?;
    let server = doc
        .entry("server")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(server) = server {
        server.insert("database".to_owned(), toml::Value::String(url.to_owned()));
    }
    let mode = std::fs::metadata(path)
        .map_err(|e| ServerError::io(path, e))?
        .permissions()
        .mode();
    std::fs::remove_file(path).map_err(|e| ServerError::io(path, e))?;
    write_new_file(path, doc.to_string().as_bytes(), mode & 0o777)
}

fn split_target(target: &Path) -> Result<(PathBuf, String), ServerError> {
    let name = target
        .file_name()
        .ok_or_else(|| {
            ServerError::Config(format!(
                "{} does not name a directory: give a path like ./sigil-restored",
                target.display()
            ))
        })?
        .to_string_lossy()
        .into_owned();
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <&str>::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

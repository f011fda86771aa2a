//! The SQLite backend: one writer thread with group commit, a pool of read-only readers.

use std::path::Path;
use std::time::Duration;

use sigil_domain::store::StoreResult;
use sigil_domain::{AuditDraft, AuditEvent, Change, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Sqlite};
use tokio::sync::{mpsc, oneshot};

use crate::convert::db;
use crate::snapshot::{Cell, Snapshot};

mod statement;
mod writer;

use writer::Job;

type Db = Sqlite;
type Backend = SqliteStore;
/// SQLite has one writer at a time anyway (`BEGIN IMMEDIATE` takes the write lock).
const READ_HEAD: &str = "SELECT seq, hash FROM audit_head WHERE id = 1";
/// Takes the write lock at once, so the count and the insert of `create_session` see the same
/// rows.
const SESSION_BEGIN: &str = "BEGIN IMMEDIATE";
/// SQLite keeps whatever type an edit stores in a column; the casts turn any value back into
/// the column's type, so that a tampered row is read, fails its hash check and is named by
/// verification instead of failing the read.
const READ_AUDIT: &str = "SELECT seq, CAST(time_ns AS INTEGER) AS time_ns, \
    CAST(identity AS TEXT) AS identity, CAST(source AS TEXT) AS source, \
    CAST(interface AS TEXT) AS interface, CAST(action AS TEXT) AS action, \
    CAST(object AS TEXT) AS object, CAST(outcome AS TEXT) AS outcome, \
    CAST(details AS TEXT) AS details, CAST(prev_hash AS BLOB) AS prev_hash, \
    CAST(hash AS BLOB) AS hash FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2";

#[expect(
    clippy::duplicate_mod,
    reason = "the shared SQL is compiled once per backend on purpose (see queries.rs)"
)]
#[path = "queries.rs"]
mod queries;

#[expect(
    clippy::duplicate_mod,
    reason = "the snapshot SQL is compiled once per backend, like queries.rs"
)]
#[path = "snapshot_sql.rs"]
mod snapshot_sql;

/// Every table but SQLite's own and sqlx's migration record.
const LIST_TABLES: &str = "SELECT name FROM sqlite_master WHERE type = 'table' \
    AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'";

/// One value by its storage class (SQLite keeps a type per value, not per column).
fn read_cell(row: &sqlx::sqlite::SqliteRow, index: usize) -> StoreResult<Cell> {
    use sqlx::{Row, TypeInfo, ValueRef};
    let raw = row
        .try_get_raw(index)
        .map_err(db("reading a row for the backup"))?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let kind = raw.type_info().name().to_owned();
    let read = db("reading a row for the backup");
    match kind.as_str() {
        "INTEGER" => row.try_get(index).map(Cell::Int).map_err(read),
        "TEXT" => row.try_get(index).map(Cell::Text).map_err(read),
        "BLOB" => row.try_get(index).map(Cell::Bytes).map_err(read),
        other => Err(crate::convert::corrupt(format!(
            "a value of type {other}, which Sigil never stores"
        ))),
    }
}

/// Tuning of the SQLite backend.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Read-only connections in the read pool.
    pub readers: u32,
    /// Most write calls applied in one transaction (one fsync).
    pub max_batch: usize,
    /// Write calls that may wait for the writer before callers are held back.
    pub queue: usize,
    /// How long a connection waits for a lock held by another process.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            readers: 4,
            max_batch: 512,
            queue: 8192,
            busy_timeout: Duration::from_secs(10),
        }
    }
}

/// SQLite store. Writes are queued to one writer thread (its own rusqlite connection, see
/// `writer.rs`) that group-commits them: it takes every queued call (up to `max_batch`), applies them in one transaction (when one fails, the
/// attempt is rolled back and the batch applied again with a savepoint per call, so a failing
/// call is rolled back alone and fails only its caller), chains the audit events in apply order,
/// commits once with `synchronous=FULL`, and only then acknowledges the callers. So every
/// acknowledged write and its audit event are durable, and one fsync serves many requests.
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    readers: SqlitePool,
    /// One writable connection for HTTPS sessions, next to the group-commit writer: session
    /// writes are small, unaudited and must not queue behind signing requests (the busy
    /// timeout covers the moments the two connections want the write lock together).
    sessions: SqlitePool,
    writer: std::thread::JoinHandle<()>,
}

fn connect_options(path: &Path, busy_timeout: Duration) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(busy_timeout)
}

/// Mode of the database files: the database holds password hashes, sealed keys and the audit
/// log, which nobody but the server's user has to read.
const PRIVATE_MODE: u32 = 0o600;

/// Creates `path` empty with mode 0600 when missing (an empty file is an empty SQLite
/// database), and narrows the database, `-wal` and `-shm` files to 0600 when others may read
/// or write them.
fn private_files(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let failed = |e: std::io::Error, file: &Path| StoreError::Database {
        operation: "protecting the SQLite database files",
        detail: format!(
            "{}: {e} (check the data directory's owner and permissions)",
            file.display()
        ),
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_MODE)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(failed(e, path)),
    }
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        files.push(name.into());
    }
    for file in files {
        let mode = match std::fs::metadata(&file) {
            Ok(meta) => meta.permissions().mode(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(failed(e, &file)),
        };
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(PRIVATE_MODE))
                .map_err(|e| failed(e, &file))?;
            tracing::warn!(
                "{} was readable by other users: narrowed to owner-only (0600)",
                file.display()
            );
        }
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    ///
    /// The database file and its `-wal` and `-shm` files are readable by their owner only
    /// (0600): a new file is created so before SQLite opens it (SQLite gives the `-wal` and
    /// `-shm` files the database file's mode), and an existing one readable by others is
    /// narrowed to 0600.
    pub async fn open(path: &Path, options: SqliteOptions) -> StoreResult<Self> {
        private_files(path)?;
        let base = connect_options(path, options.busy_timeout);
        let mut migrator = SqliteConnection::connect_with(&base.clone().create_if_missing(true))
            .await
            .map_err(db("opening the SQLite database"))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut migrator)
            .await
            .map_err(|e| StoreError::Database {
                operation: "migrating the SQLite database",
                detail: e.to_string(),
            })?;
        migrator
            .close()
            .await
            .map_err(db("closing the SQLite migration connection"))?;
        let writer = writer::connect(path, options.busy_timeout)?;
        let sessions = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(base.clone())
            .await
            .map_err(db("opening the SQLite session writer"))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .connect_with(base.read_only(true))
            .await
            .map_err(db("opening SQLite readers"))?;
        let (jobs, queue) = mpsc::channel(options.queue.max(1));
        let writer = writer::spawn(writer, queue, options.max_batch.max(1)).map_err(|e| {
            StoreError::Database {
                operation: "starting the SQLite writer thread",
                detail: e.to_string(),
            }
        })?;
        Ok(Self {
            jobs,
            readers,
            sessions,
            writer,
        })
    }

    /// Reads the whole database at one instant (one read transaction, which in WAL mode keeps
    /// its snapshot while a running server writes); the database must exist.
    pub async fn snapshot(path: &Path) -> StoreResult<Snapshot> {
        let options = connect_options(path, SqliteOptions::default().busy_timeout).read_only(true);
        let mut conn = SqliteConnection::connect_with(&options)
            .await
            .map_err(db("opening the SQLite database for a backup"))?;
        let mut tx = conn
            .begin()
            .await
            .map_err(db("starting the backup's read transaction"))?;
        let snapshot = snapshot_sql::read_all(&mut tx).await?;
        tx.rollback()
            .await
            .map_err(db("ending the backup's read transaction"))?;
        conn.close()
            .await
            .map_err(db("closing the SQLite database"))?;
        Ok(snapshot)
    }

    /// Creates the database at `path`, then writes `snapshot` and appends `event` in one
    /// transaction; refuses (writing nothing into it) a database that is not empty.
    pub async fn restore(
        path: &Path,
        snapshot: &Snapshot,
        event: AuditDraft,
    ) -> StoreResult<AuditEvent> {
        Self::open(path, SqliteOptions::default())
            .await?
            .close()
            .await;
        let mut conn = SqliteConnection::connect_with(&connect_options(
            path,
            SqliteOptions::default().busy_timeout,
        ))
        .await
        .map_err(db("opening the SQLite database to restore"))?;
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db("starting the restore transaction"))?;
        let restored = snapshot_sql::write_all(&mut tx, snapshot, event).await?;
        tx.commit().await.map_err(db("committing the restore"))?;
        conn.close()
            .await
            .map_err(db("closing the SQLite database"))?;
        Ok(restored)
    }

    /// Finishes queued writes and closes every connection.
    pub async fn close(self) {
        drop(self.jobs);
        let writer = self.writer;
        match tokio::task::spawn_blocking(move || writer.join()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => tracing::error!("the SQLite writer thread ended abnormally"),
            Err(e) => tracing::error!("waiting for the SQLite writer thread: {e}"),
        }
        self.sessions.close().await;
        self.readers.close().await;
    }

    async fn reader(&self) -> StoreResult<PoolConnection<Sqlite>> {
        self.readers
            .acquire()
            .await
            .map_err(db("getting a read connection"))
    }

    async fn session_writer(&self) -> StoreResult<PoolConnection<Sqlite>> {
        self.sessions
            .acquire()
            .await
            .map_err(db("getting the session writer"))
    }

    async fn commit_changes(
        &self,
        changes: Vec<Change>,
        audits: Vec<AuditDraft>,
    ) -> StoreResult<Vec<AuditEvent>> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Database {
            operation: "writing",
            detail: "the SQLite writer thread has stopped".to_owned(),
        };
        self.jobs
            .send(Job {
                changes,
                audits,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

//! The PostgreSQL backend, for several Sigil nodes sharing one database.

use sigil_domain::store::StoreResult;
use sigil_domain::{AuditDraft, AuditEvent, Change, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Postgres};
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::convert::db;
use crate::snapshot::{Cell, Snapshot};

type Db = Postgres;
type Backend = PgStore;
/// Every write transaction locks the chain head row first: writes from all nodes are thereby
/// serialized, the chain hash is computed from the true current head, and the read-modify-write
/// checks inside the transaction see the latest committed rows (READ COMMITTED takes a fresh
/// snapshot per statement, after the lock is granted).
const READ_HEAD: &str = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE";
/// A session write is an ordinary transaction: it never touches the audit chain head.
const SESSION_BEGIN: &str = "BEGIN";
/// PostgreSQL enforces column types, so the rows are read as they are.
const READ_AUDIT: &str = "SELECT seq, time_ns, identity, source, interface, action, object, \
    outcome, details, prev_hash, hash FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2";

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

/// The tables of the connection's schema but sqlx's migration record.
const LIST_TABLES: &str = "SELECT table_name::text FROM information_schema.tables \
    WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
    AND table_name <> '_sqlx_migrations'";

/// One value by its column type (the schema uses `BIGINT`, `TEXT` and `BYTEA` only).
fn read_cell(row: &sqlx::postgres::PgRow, index: usize) -> StoreResult<Cell> {
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
        "INT8" => row.try_get(index).map(Cell::Int).map_err(read),
        "INT4" => row
            .try_get::<i32, _>(index)
            .map(|v| Cell::Int(v.into()))
            .map_err(read),
        "INT2" => row
            .try_get::<i16, _>(index)
            .map(|v| Cell::Int(v.into()))
            .map_err(read),
        "TEXT" | "VARCHAR" => row.try_get(index).map(Cell::Text).map_err(read),
        "BYTEA" => row.try_get(index).map(Cell::Bytes).map_err(read),
        other => Err(crate::convert::corrupt(format!(
            "a column of type {other}, which Sigil never creates"
        ))),
    }
}

/// Connections per node.
const POOL_SIZE: u32 = 16;

/// PostgreSQL store.
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and applies pending
    /// migrations (sqlx holds an advisory lock while migrating, so nodes starting together
    /// do not race).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Config {
            what: format!("invalid PostgreSQL URL: {e}"),
        })?;
        Self::connect_with(options).await
    }

    /// Connects with explicit options and applies pending migrations.
    pub async fn connect_with(options: PgConnectOptions) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(options)
            .await
            .map_err(db("connecting to PostgreSQL"))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database {
                operation: "migrating the PostgreSQL database",
                detail: e.to_string(),
            })?;
        Ok(Self { pool })
    }

    /// Reads the whole database in one `REPEATABLE READ READ ONLY` transaction (one instant,
    /// while other nodes write).
    pub async fn snapshot(url: &str) -> StoreResult<Snapshot> {
        let mut conn = connect_one(url).await?;
        let mut tx = conn
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(db("starting the backup's read transaction"))?;
        let snapshot = snapshot_sql::read_all(&mut tx).await?;
        tx.rollback()
            .await
            .map_err(db("ending the backup's read transaction"))?;
        conn.close()
            .await
            .map_err(db("closing the PostgreSQL connection"))?;
        Ok(snapshot)
    }

    /// Writes `snapshot` and appends `event` in one transaction into a database that holds no
    /// deployment (a database that does is refused before anything, even the schema, is
    /// written; the schema of an empty one is created first).
    pub async fn restore(
        url: &str,
        snapshot: &Snapshot,
        event: AuditDraft,
    ) -> StoreResult<AuditEvent> {
        let mut conn = connect_one(url).await?;
        let row = sqlx::query("SELECT to_regclass('custody') IS NOT NULL AS has")
            .fetch_one(&mut conn)
            .await
            .map_err(db("checking the target database"))?;
        let has_schema: bool =
            sqlx::Row::try_get(&row, "has").map_err(db("checking the target database"))?;
        if has_schema {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM custody")
                .fetch_one(&mut conn)
                .await
                .map_err(db("checking the target database"))?;
            let n: i64 =
                sqlx::Row::try_get(&row, "n").map_err(db("checking the target database"))?;
            if n > 0 {
                return Err(StoreError::Conflict {
                    what: "the database already holds a Sigil deployment: restore into a new, \
                           empty database"
                        .to_owned(),
                });
            }
        }
        Self::connect(url).await?.close().await;
        let mut tx = conn
            .begin()
            .await
            .map_err(db("starting the restore transaction"))?;
        let restored = snapshot_sql::write_all(&mut tx, snapshot, event).await?;
        tx.commit().await.map_err(db("committing the restore"))?;
        conn.close()
            .await
            .map_err(db("closing the PostgreSQL connection"))?;
        Ok(restored)
    }

    /// Creates a deployment from `snapshot` (a database `sigil init` built elsewhere, audit
    /// chain included) in one transaction that also creates the schema: either the whole
    /// deployment is in the database afterwards or nothing is, not even a table (PostgreSQL's
    /// DDL is transactional; sqlx runs each migration in a savepoint of it). A database that
    /// already holds a deployment is refused; one that holds only the schema is filled.
    pub async fn install(url: &str, snapshot: &Snapshot) -> StoreResult<()> {
        let mut conn = connect_one(url).await?;
        let mut tx = conn
            .begin()
            .await
            .map_err(db("starting the init transaction"))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&mut tx)
            .await
            .map_err(|e| StoreError::Database {
                operation: "creating the schema in the init transaction",
                detail: e.to_string(),
            })?;
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM custody) + (SELECT COUNT(*) FROM deployment) AS n",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db("checking the target database"))?;
        let n: i64 = sqlx::Row::try_get(&row, "n").map_err(db("checking the target database"))?;
        if n > 0 {
            return Err(StoreError::Conflict {
                what: "the database already holds a Sigil deployment: refusing to overwrite it \
                       (to add a node to it, use `sigil init --join`; otherwise give an empty \
                       database)"
                    .to_owned(),
            });
        }
        // On error the transaction is dropped, which rolls everything back.
        snapshot_sql::write_rows(&mut tx, snapshot).await?;
        tx.commit().await.map_err(db("committing the init"))?;
        conn.close()
            .await
            .map_err(db("closing the PostgreSQL connection"))?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(self) {
        self.pool.close().await;
    }

    async fn reader(&self) -> StoreResult<PoolConnection<Postgres>> {
        self.pool
            .acquire()
            .await
            .map_err(db("getting a database connection"))
    }

    /// Session writes use the same pool as everything else.
    async fn session_writer(&self) -> StoreResult<PoolConnection<Postgres>> {
        self.reader().await
    }

    async fn commit_changes(
        &self,
        changes: Vec<Change>,
        audits: Vec<AuditDraft>,
    ) -> StoreResult<Vec<AuditEvent>> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a write transaction"))?;
        let head = queries::read_head(&mut tx).await?;
        // On error the transaction is dropped, which rolls it back: nothing, not even the
        // audit event, is written.
        let events = queries::apply_and_audit(&mut tx, &changes, audits, &head).await?;
        if let Some(last) = events.last() {
            queries::write_head(&mut tx, &last.head()).await?;
        }
        tx.commit().await.map_err(db("committing"))?;
        Ok(events)
    }
}

/// One connection (no pool, no migrations) for a snapshot or a restore.
async fn connect_one(url: &str) -> StoreResult<sqlx::postgres::PgConnection> {
    let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Config {
        what: format!("invalid PostgreSQL URL: {e}"),
    })?;
    sqlx::postgres::PgConnection::connect_with(&options)
        .await
        .map_err(db("connecting to PostgreSQL"))
}

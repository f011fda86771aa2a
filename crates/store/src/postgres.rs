//! The PostgreSQL backend, for several Sigil nodes sharing one database.

use sigil_domain::store::StoreResult;
use sigil_domain::{AuditDraft, AuditEvent, Change, StoreError};
use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::convert::db;

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

//! # sigil-store: SQLite and PostgreSQL behind the domain's `Store` trait
//!
//! - [`SqliteStore`]: the embedded default. One file in the data directory, WAL mode,
//!   `synchronous=FULL`; all writes go through one writer thread that **group-commits** whatever
//!   is queued in one transaction (one fsync for many requests), then acknowledges each caller;
//!   reads use a separate pool of read-only connections.
//! - [`PgStore`]: several Sigil nodes sharing one PostgreSQL database. Every write transaction
//!   locks the audit chain head row first, which orders writes (and the audit chain) across
//!   nodes.
//!
//! Both run the same SQL text (`src/queries.rs` is compiled once per backend) and the same
//! conformance suite (`tests/conformance.rs`). Migrations are embedded from
//! `migrations/sqlite/` and `migrations/postgres/`, one file per version, and run at open.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sigil_domain::StoreError> {
//! use sigil_domain::{AuditDraft, Outcome, Store};
//! let store = sigil_store::open("sqlite:///var/lib/sigil/sigil.db").await?;
//! let now = time::OffsetDateTime::now_utc();
//! let event = store
//!     .commit(vec![], AuditDraft::new(now, "server.start", Outcome::Success))
//!     .await?;
//! assert_eq!(store.audit_head().await?, event.head());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::Path;
use std::sync::Arc;

use sigil_domain::{AuditDraft, AuditEvent, Store, StoreError};

mod convert;
mod postgres;
pub mod snapshot;
mod sqlite;

pub use postgres::PgStore;
pub use snapshot::Snapshot;
pub use sqlite::{SqliteOptions, SqliteStore};

/// Reads the whole database at `url` at one instant, while servers keep running (see
/// [`snapshot`]).
pub async fn snapshot(url: &str) -> Result<Snapshot, StoreError> {
    match Backend::of(url)? {
        Backend::Sqlite(path) => SqliteStore::snapshot(path).await,
        Backend::Postgres => PgStore::snapshot(url).await,
    }
}

/// Restores `snapshot` into the empty database at `url` (a new SQLite file is created) and
/// appends `event` to its audit chain, in one transaction: a database that is not empty, or at
/// another schema version, is refused and nothing is written into it.
pub async fn restore(
    url: &str,
    snapshot: &Snapshot,
    event: AuditDraft,
) -> Result<AuditEvent, StoreError> {
    match Backend::of(url)? {
        Backend::Sqlite(path) => SqliteStore::restore(path, snapshot, event).await,
        Backend::Postgres => PgStore::restore(url, snapshot, event).await,
    }
}

enum Backend<'a> {
    Sqlite(&'a Path),
    Postgres,
}

impl<'a> Backend<'a> {
    fn of(url: &'a str) -> Result<Self, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            Ok(Self::Sqlite(Path::new(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::Config {
                what: "unsupported database URL: use sqlite://<path> or postgres://...".to_owned(),
            })
        }
    }
}

/// Opens a store from a URL: `sqlite://<path>` (created if missing) or
/// `postgres://user@host/db` / `postgresql://...`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let store = SqliteStore::open(Path::new(path), SqliteOptions::default()).await?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        Err(StoreError::Config {
            what: "unsupported database URL: use sqlite://<path> or postgres://...".to_owned(),
        })
    }
}

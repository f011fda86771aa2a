//! The SQLite writer: one OS thread owning one rusqlite connection, fed by the store's queue.
//!
//! sqlx runs each SQLite connection on a worker thread and sends every statement there as a
//! message plus a wake-up; a batch of signing requests paid that hop for every statement. Here
//! the thread runs the statements itself: one wake-up per batch, then plain function calls.

use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sigil_domain::store::StoreResult;
use sigil_domain::{AuditDraft, AuditEvent, Change};
use tokio::sync::{mpsc, oneshot};

use super::statement::{Query, get, query, query_owned, run_now};
use crate::convert::db;

use super::READ_HEAD;
type Conn = Connection;

#[expect(
    clippy::duplicate_mod,
    reason = "the write SQL is compiled once per driver on purpose (see writes.rs)"
)]
#[path = "../writes.rs"]
mod writes;

/// Distinct statements kept prepared (the write SQL has about 60, plus the audit inserts of
/// different lengths).
const STATEMENT_CACHE: usize = 256;

/// One write call waiting for the writer.
pub(super) struct Job {
    pub(super) changes: Vec<Change>,
    pub(super) audits: Vec<AuditDraft>,
    pub(super) reply: oneshot::Sender<StoreResult<Vec<AuditEvent>>>,
}

/// Opens the writer's connection to the migrated database at `path`, with the pragmas of the
/// store's other connections: WAL, `synchronous=FULL` (a commit is on disk before it returns),
/// foreign keys, and the busy timeout.
pub(super) fn connect(path: &Path, busy_timeout: Duration) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db("opening the SQLite writer connection"))?;
    conn.busy_timeout(busy_timeout)
        .and_then(|()| {
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        })
        .and_then(|_| conn.pragma_update(None, "synchronous", "FULL"))
        .and_then(|()| conn.pragma_update(None, "foreign_keys", "ON"))
        .map_err(db("setting up the SQLite writer connection"))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Starts the writer thread; it ends when every sender of `queue` is gone and the queue is
/// drained.
pub(super) fn spawn(
    conn: Connection,
    queue: mpsc::Receiver<Job>,
    max_batch: usize,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sigil-sqlite-writer".to_owned())
        .spawn(move || run(conn, queue, max_batch))
}

/// Takes every queued call (up to `max_batch`), writes them in one transaction, and only after
/// the commit answers each caller.
fn run(mut conn: Connection, mut queue: mpsc::Receiver<Job>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut replies = Vec::with_capacity(batch.len());
        let mut work = Vec::with_capacity(batch.len());
        for job in batch.drain(..) {
            replies.push(job.reply);
            work.push((job.changes, job.audits));
        }
        match write_batch(&mut conn, work) {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    // A caller that went away does not undo a committed write.
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!("SQLite batch commit failed: {}", e.log_detail());
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!("closing the SQLite writer connection: {e}");
    }
}

type Work = Vec<(Vec<Change>, Vec<AuditDraft>)>;

/// One transaction for the whole batch. Returns each call's result, or an error for all of
/// them if the transaction itself failed (nothing was committed then).
///
/// Calls rarely fail, so the batch is first applied without a savepoint per call; if any call
/// fails, that attempt is rolled back whole and the batch is applied again call by call, each
/// in its own savepoint, so that a failing call fails only its caller.
fn write_batch(
    conn: &mut Connection,
    work: Work,
) -> StoreResult<Vec<StoreResult<Vec<AuditEvent>>>> {
    if let Some(all) = transaction(conn, |conn| write_all_or_nothing(conn, &work))? {
        return Ok(all.into_iter().map(Ok).collect());
    }
    Ok(transaction(conn, |conn| write_each(conn, work).map(Some))?.unwrap_or_default())
}

/// Runs one statement without values (transaction control).
fn control(conn: &mut Connection, sql: &'static str, operation: &'static str) -> StoreResult<()> {
    run_now(query(sql).execute(conn))
        .map(|_| ())
        .map_err(db(operation))
}

/// Runs `body` in a `BEGIN IMMEDIATE` transaction: commits (one fsync) when it returns `Some`,
/// rolls back when it returns `None` or fails.
fn transaction<T>(
    conn: &mut Connection,
    body: impl FnOnce(&mut Connection) -> StoreResult<Option<T>>,
) -> StoreResult<Option<T>> {
    control(conn, "BEGIN IMMEDIATE", "starting a write transaction")?;
    let result = body(conn).and_then(|done| {
        if done.is_some() {
            control(conn, "COMMIT", "committing a write batch")?;
        }
        Ok(done)
    });
    if !matches!(result, Ok(Some(_))) && !conn.is_autocommit() {
        control(conn, "ROLLBACK", "rolling back a write batch")?;
    }
    result
}

/// The batch without savepoints; `None` (to be rolled back) when a call failed.
fn write_all_or_nothing(
    conn: &mut Connection,
    work: &Work,
) -> StoreResult<Option<Vec<Vec<AuditEvent>>>> {
    let start = run_now(writes::read_head(conn))?;
    let mut head = start;
    let mut all = Vec::with_capacity(work.len());
    for (changes, audits) in work {
        let Ok(events) = run_now(writes::apply_and_audit(
            conn,
            changes,
            audits.clone(),
            &head,
        )) else {
            return Ok(None);
        };
        if let Some(last) = events.last() {
            head = last.head();
        }
        all.push(events);
    }
    if head != start {
        run_now(writes::write_head(conn, &head))?;
    }
    Ok(Some(all))
}

/// The batch with one savepoint per call.
fn write_each(conn: &mut Connection, work: Work) -> StoreResult<Vec<StoreResult<Vec<AuditEvent>>>> {
    let start = run_now(writes::read_head(conn))?;
    let mut head = start;
    let mut results = Vec::with_capacity(work.len());
    for (changes, audits) in work {
        control(conn, "SAVEPOINT call", "creating a savepoint")?;
        match run_now(writes::apply_and_audit(conn, &changes, audits, &head)) {
            Ok(events) => {
                control(conn, "RELEASE call", "releasing a savepoint")?;
                if let Some(last) = events.last() {
                    head = last.head();
                }
                results.push(Ok(events));
            }
            Err(e) => {
                control(conn, "ROLLBACK TO call", "rolling back a savepoint")?;
                control(conn, "RELEASE call", "releasing a savepoint")?;
                results.push(Err(e));
            }
        }
    }
    if head != start {
        run_now(writes::write_head(conn, &head))?;
    }
    Ok(results)
}

//! The part of sqlx's query API that `writes.rs` uses (`query`, `bind`, `execute`,
//! `fetch_one`, `fetch_optional`, `rows_affected`, a row's columns by name), over a rusqlite
//! connection, so the SQLite writer thread runs the one copy of the write SQL that sqlx runs
//! for PostgreSQL.
//!
//! Written by hand because no crate adapts one driver's builder API to another's; it is small
//! and does only what the write SQL needs. The functions are `async` only to share that code
//! with sqlx: they never wait (rusqlite is synchronous), and [`run_now`] completes them on the
//! writer thread in one poll.

use std::borrow::Cow;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use rusqlite::types::{FromSql, ToSql, Value, ValueRef};
use rusqlite::{CachedStatement, Connection, Error};
use sigil_domain::store::StoreResult;

use crate::convert::db;

/// One statement and its bound values (`$n` in the SQL is the `n`-th bound value, as in sqlx).
pub(super) struct Query<'q> {
    sql: Cow<'q, str>,
    values: Vec<Box<dyn ToSql + 'q>>,
}

/// A statement with fixed text.
pub(super) fn query(sql: &str) -> Query<'_> {
    Query {
        sql: Cow::Borrowed(sql),
        values: Vec::new(),
    }
}

/// A statement whose text was generated (only placeholders are generated; values are bound).
pub(super) fn query_owned(sql: String) -> Query<'static> {
    Query {
        sql: Cow::Owned(sql),
        values: Vec::new(),
    }
}

/// What an `INSERT`, `UPDATE` or `DELETE` did.
pub(super) struct Done(usize);

impl Done {
    /// Rows the statement changed.
    pub(super) fn rows_affected(&self) -> u64 {
        u64::try_from(self.0).unwrap_or(u64::MAX)
    }
}

/// One result row, with its column names.
pub(super) struct Row {
    columns: Vec<String>,
    values: Vec<Value>,
}

impl Row {
    fn try_get<T: FromSql>(&self, column: &str) -> Result<T, Error> {
        let index = self
            .columns
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| Error::InvalidColumnName(column.to_owned()))?;
        let value = self
            .values
            .get(index)
            .ok_or(Error::InvalidColumnIndex(index))?;
        T::column_result(ValueRef::from(value))
            .map_err(|e| Error::FromSqlConversionFailure(index, value.data_type(), Box::new(e)))
    }
}

/// Column `column` of `row`.
pub(super) fn get<T: FromSql>(row: &Row, column: &'static str) -> StoreResult<T> {
    row.try_get(column).map_err(db("decoding a row"))
}

#[expect(
    clippy::unused_async,
    reason = "async only to share writes.rs with sqlx (see the module documentation)"
)]
impl<'q> Query<'q> {
    /// Binds the next `$n`.
    pub(super) fn bind<T: ToSql + 'q>(mut self, value: T) -> Self {
        self.values.push(Box::new(value));
        self
    }

    /// Runs a statement that returns no rows.
    pub(super) async fn execute(self, conn: &mut Connection) -> Result<Done, Error> {
        let mut statement = self.prepare(conn)?;
        statement.raw_execute().map(Done)
    }

    /// The first row, or `None` when there is none.
    pub(super) async fn fetch_optional(self, conn: &mut Connection) -> Result<Option<Row>, Error> {
        let mut statement = self.prepare(conn)?;
        let columns: Vec<String> = statement
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut rows = statement.raw_query();
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        let values = (0..columns.len())
            .map(|i| row.get::<_, Value>(i))
            .collect::<Result<_, _>>()?;
        Ok(Some(Row { columns, values }))
    }

    /// The first row; an error when there is none.
    pub(super) async fn fetch_one(self, conn: &mut Connection) -> Result<Row, Error> {
        self.fetch_optional(conn)
            .await?
            .ok_or(Error::QueryReturnedNoRows)
    }

    /// The cached prepared statement with every parameter bound.
    fn prepare(self, conn: &mut Connection) -> Result<CachedStatement<'_>, Error> {
        let mut statement = conn.prepare_cached(&self.sql)?;
        for index in 1..=statement.parameter_count() {
            // SQLite numbers `$n` parameters in order of appearance; sqlx (and this adapter)
            // binds `$n` to the n-th value whatever the order, as PostgreSQL does.
            let position = statement
                .parameter_name(index)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(index);
            let value = position
                .checked_sub(1)
                .and_then(|i| self.values.get(i))
                .ok_or(Error::InvalidParameterCount(position, self.values.len()))?;
            statement.raw_bind_parameter(index, &**value)?;
        }
        Ok(statement)
    }
}

/// Completes a future of this module on the calling thread. They never wait, so the first poll
/// finishes them; should one ever return `Pending`, it is polled again rather than lost.
pub(super) fn run_now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::yield_now();
    }
}

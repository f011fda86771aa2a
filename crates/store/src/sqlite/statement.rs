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
        // sqlx (and this adapter) binds `$n` to the n-th value whatever the order, as
        // PostgreSQL does; SQLite numbers `$n` names by appearance, but `?n` is parameter n
        // itself. Rewriting the text is cheaper than looking each name up (SQLite scans its
        // list of names for each, which for a 22-value audit insert was 1 % of the server).
        let sql = self.sql.replace('$', "?");
        let mut statement = conn.prepare_cached(&sql)?;
        let count = statement.parameter_count();
        if count > self.values.len() {
            return Err(Error::InvalidParameterCount(count, self.values.len()));
        }
        for (index, value) in self.values.iter().enumerate().take(count) {
            statement.raw_bind_parameter(index + 1, &**value)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().expect("in-memory database");
        conn.execute_batch("CREATE TABLE t (a INTEGER, b TEXT, c BLOB)")
            .expect("table");
        conn
    }

    #[test]
    fn dollar_n_binds_the_nth_value_whatever_the_order_and_repeats() {
        let mut conn = table();
        // `$2` appears first and `$1` twice: SQLite would number them 1 and 2 by appearance.
        let insert = query("INSERT INTO t (b, a, c) VALUES ($2, $1 + $1, $3)")
            .bind(21_i64)
            .bind("text")
            .bind(vec![1_u8, 2]);
        let done = run_now(insert.execute(&mut conn)).expect("insert");
        assert_eq!(done.rows_affected(), 1);
        let row = run_now(query("SELECT a, b, c FROM t").fetch_one(&mut conn)).expect("row");
        assert_eq!(get::<i64>(&row, "a").expect("a"), 42);
        assert_eq!(get::<String>(&row, "b").expect("b"), "text");
        assert_eq!(get::<Vec<u8>>(&row, "c").expect("c"), vec![1, 2]);
        assert!(get::<i64>(&row, "missing").is_err());
    }

    #[test]
    fn too_few_values_is_an_error_not_a_null() {
        let mut conn = table();
        let result = run_now(
            query("INSERT INTO t (a, b) VALUES ($1, $2)")
                .bind(1_i64)
                .execute(&mut conn),
        );
        assert!(matches!(result, Err(Error::InvalidParameterCount(2, 1))));
    }

    #[test]
    fn fetch_optional_without_rows_is_none_and_fetch_one_an_error() {
        let mut conn = table();
        let select = || query("SELECT a FROM t WHERE a = $1").bind(7_i64);
        assert!(
            run_now(select().fetch_optional(&mut conn))
                .expect("select")
                .is_none()
        );
        assert!(matches!(
            run_now(select().fetch_one(&mut conn)),
            Err(Error::QueryReturnedNoRows)
        ));
    }
}

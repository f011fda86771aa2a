//! Reading and restoring a [`Snapshot`](crate::snapshot::Snapshot); compiled once per backend
//! like `queries.rs`, with `super::read_cell` and `super::LIST_TABLES` from the backend.

use std::collections::BTreeSet;

use sigil_domain::store::StoreResult;
use sigil_domain::{AuditDraft, AuditEvent, StoreError};
use sqlx::Row;

use super::{Db, LIST_TABLES, queries, read_cell};
use crate::convert::db;
use crate::snapshot::{Cell, NOT_BACKED_UP, Snapshot, TABLES, TableRows, parents_first};

type Conn = <Db as sqlx::Database>::Connection;

/// The last migration applied to the database.
async fn schema_version(conn: &mut Conn) -> StoreResult<i64> {
    let row = sqlx::query("SELECT MAX(version) AS v FROM _sqlx_migrations")
        .fetch_one(&mut *conn)
        .await
        .map_err(db("reading the schema version"))?;
    row.try_get::<Option<i64>, _>("v")
        .map_err(db("reading the schema version"))?
        .ok_or_else(|| StoreError::Config {
            what: "the database has no Sigil schema".to_owned(),
        })
}

/// Reads every table; the caller has opened a read-only transaction that sees one instant.
pub(crate) async fn read_all(conn: &mut Conn) -> StoreResult<Snapshot> {
    let present: BTreeSet<String> = sqlx::query(LIST_TABLES)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("listing the tables"))?
        .iter()
        .map(|row| row.try_get::<String, _>(0))
        .collect::<Result<BTreeSet<String>, _>>()
        .map_err(db("listing the tables"))?
        .into_iter()
        .filter(|t| !NOT_BACKED_UP.contains(&t.as_str()))
        .collect();
    let known: BTreeSet<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    if present != known {
        let unknown: Vec<_> = present.difference(&known).cloned().collect();
        let missing: Vec<_> = known.difference(&present).cloned().collect();
        return Err(StoreError::Config {
            what: format!(
                "the database's tables differ from what this Sigil backs up (unknown: {unknown:?}, \
                 missing: {missing:?}): back up with the Sigil version that runs the deployment"
            ),
        });
    }
    let schema_version = schema_version(conn).await?;
    let mut tables = Vec::with_capacity(TABLES.len());
    for name in TABLES {
        // Table names come from the constant list only.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {name}")))
            .fetch_all(&mut *conn)
            .await
            .map_err(db("reading a table for the backup"))?;
        let columns = rows
            .first()
            .map(|row| {
                use sqlx::Column;
                row.columns().iter().map(|c| c.name().to_owned()).collect()
            })
            .unwrap_or_default();
        let mut cells = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut values = Vec::with_capacity(row.len());
            for index in 0..row.len() {
                values.push(read_cell(row, index)?);
            }
            cells.push(values);
        }
        tables.push(TableRows {
            name: (*name).to_owned(),
            columns,
            rows: cells,
        });
    }
    Ok(Snapshot {
        schema_version,
        tables,
    })
}

/// Writes `snapshot` into an empty, migrated database and appends `event` to the restored
/// audit chain; the caller has opened the transaction and commits it.
pub(crate) async fn write_all(
    conn: &mut Conn,
    snapshot: &Snapshot,
    event: AuditDraft,
) -> StoreResult<AuditEvent> {
    write_rows(conn, snapshot).await?;
    let head = queries::read_head(conn).await?;
    let events = queries::apply_and_audit(conn, &[], vec![event], &head).await?;
    let restored = queries::single(Ok(events))?;
    queries::write_head(conn, &restored.head()).await?;
    Ok(restored)
}

/// Writes `snapshot` (its audit chain and head as they are) into an empty, migrated database;
/// the caller has opened the transaction and commits it.
pub(crate) async fn write_rows(conn: &mut Conn, snapshot: &Snapshot) -> StoreResult<()> {
    let version = schema_version(conn).await?;
    if version != snapshot.schema_version {
        return Err(StoreError::Config {
            what: format!(
                "the backup holds schema version {}, this Sigil writes version {version}: restore \
                 with the Sigil version that made the backup",
                snapshot.schema_version
            ),
        });
    }
    for name in TABLES {
        if *name == "audit_head" {
            continue;
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM {name}"
        )))
        .fetch_one(&mut *conn)
        .await
        .map_err(db("checking that the database is empty"))?;
        let count: i64 = row
            .try_get("n")
            .map_err(db("checking that the database is empty"))?;
        if count > 0 {
            return Err(StoreError::Conflict {
                what: format!(
                    "the database is not empty (table {name} has {count} rows): restore into a \
                     new, empty database"
                ),
            });
        }
    }
    if queries::read_head(conn).await?.seq != 0 {
        return Err(StoreError::Conflict {
            what: "the database already has an audit log: restore into a new, empty database"
                .to_owned(),
        });
    }
    // The restored head replaces the empty chain's.
    sqlx::query("DELETE FROM audit_head")
        .execute(&mut *conn)
        .await
        .map_err(db("restoring the audit chain head"))?;
    for name in TABLES {
        let Some(table) = snapshot.table(name) else {
            return Err(StoreError::Config {
                what: format!("the backup has no table {name}: it is not a complete backup"),
            });
        };
        insert_rows(conn, table).await?;
    }
    Ok(())
}

async fn insert_rows(conn: &mut Conn, table: &TableRows) -> StoreResult<()> {
    for column in &table.columns {
        // Column names are bound into the SQL text: accept plain identifiers only.
        if column.is_empty()
            || !column
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(StoreError::Config {
                what: format!("the backup names a column {column:?} that Sigil never has"),
            });
        }
    }
    let columns = table.columns.join(", ");
    for row in parents_first(table) {
        if row.len() != table.columns.len() {
            return Err(StoreError::Config {
                what: format!(
                    "a row of {} in the backup has the wrong number of values",
                    table.name
                ),
            });
        }
        // NULL is written literally: a bound NULL carries a type PostgreSQL may refuse.
        let mut values = Vec::with_capacity(row.len());
        let mut n = 0;
        for cell in row {
            if matches!(cell, Cell::Null) {
                values.push("NULL".to_owned());
            } else {
                n += 1;
                values.push(format!("${n}"));
            }
        }
        let sql = format!(
            "INSERT INTO {} ({columns}) VALUES ({})",
            table.name,
            values.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for cell in row {
            query = match cell {
                Cell::Null => query,
                Cell::Int(v) => query.bind(*v),
                Cell::Text(v) => query.bind(v.as_str()),
                Cell::Bytes(v) => query.bind(v.as_slice()),
            };
        }
        query.execute(&mut *conn).await.map_err(|e| StoreError::Conflict {
            what: format!(
                "a row of {} could not be restored ({e}): the backup does not fit this database",
                table.name
            ),
        })?;
    }
    Ok(())
}

//! Engine-neutral snapshots of a whole database, for `sigil backup` and `sigil restore`.
//!
//! A [`Snapshot`] is rows, not SQL text: every table of [`TABLES`] with its column names and
//! its rows as integers, texts, byte strings or nulls, read in one read-only transaction that
//! sees one instant (SQLite: one read transaction, which in WAL mode keeps its snapshot while
//! the server writes; PostgreSQL: `REPEATABLE READ READ ONLY`). So a snapshot of SQLite
//! restores into PostgreSQL and the other way round, as long as both are at the same schema
//! version ([`Snapshot::schema_version`]).
//!
//! Restoring ([`crate::restore`]) writes every row and one audit event in **one transaction**
//! into a database that holds no deployment; anything wrong (a non-empty database, another
//! schema version) refuses before the transaction commits, so nothing is written.

use serde::{Deserialize, Serialize};

/// Every table of the schema, parents before children (the order rows are restored in).
/// A snapshot refuses a database with a table not listed here, so a migration that adds a
/// table cannot silently be left out of backups: add it here, after the tables it references.
pub const TABLES: &[&str] = &[
    "roles",
    "identities",
    "identity_roles",
    "api_keys",
    "approval_groups",
    "group_members",
    "sealed_keys",
    "cas",
    "certificates",
    "policies",
    "releases",
    "signing_requests",
    "settings",
    "enabled_commands",
    "listener_chains",
    "node_listener_chains",
    "custody",
    "deployment",
    "audit_events",
    "audit_head",
];

/// Tables a backup leaves out on purpose: HTTPS sessions are bearer tokens of one running
/// deployment (a restored deployment starts with nobody logged in).
pub const NOT_BACKED_UP: &[&str] = &["sessions"];

/// One database's content at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The last applied migration (e.g. 4 for `0004_releases`).
    pub schema_version: i64,
    /// Every table of [`TABLES`], in that order.
    pub tables: Vec<TableRows>,
}

/// The rows of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    /// The table.
    pub name: String,
    /// Its column names (empty when it has no rows).
    pub columns: Vec<String>,
    /// Its rows, each with one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

/// One value; the schema uses only these types (`BIGINT`/`INTEGER`, `TEXT`, `BYTEA`/`BLOB`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cell {
    /// SQL `NULL`.
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes (hex in JSON).
    Bytes(#[serde(with = "hex_bytes")] Vec<u8>),
}

impl Snapshot {
    /// Rows of `table`, if the snapshot has it.
    pub fn table(&self, name: &str) -> Option<&TableRows> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// Rows of `cas` ordered parents first (a CA's `parent` references another row of `cas`).
pub(crate) fn parents_first(table: &TableRows) -> Vec<&Vec<Cell>> {
    let col = |name: &str| table.columns.iter().position(|c| c == name);
    let (Some(name), Some(parent)) = (col("name"), col("parent")) else {
        return table.rows.iter().collect();
    };
    let mut placed = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(table.rows.len());
    let mut pending: Vec<&Vec<Cell>> = table.rows.iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|row| {
            let ready = match row.get(parent) {
                Some(Cell::Text(p)) => placed.contains(p.as_str()),
                _ => true,
            };
            if ready {
                if let Some(Cell::Text(n)) = row.get(name) {
                    placed.insert(n.as_str());
                }
                out.push(*row);
            }
            !ready
        });
        if pending.len() == before {
            // A parent that is not in the table: let the database's foreign key refuse it.
            out.append(&mut pending);
        }
    }
    out
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

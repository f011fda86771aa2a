//! Conversions between domain values and column values, and driver errors to `StoreError`.

use sigil_domain::StoreError;
use time::OffsetDateTime;

/// A constraint a statement broke.
pub(crate) enum Violation {
    Unique,
    ForeignKey,
}

/// An error of one of the drivers (sqlx, or rusqlite in the SQLite writer thread).
pub(crate) trait DriverError: std::fmt::Display {
    /// The constraint the statement broke, if that is why it failed.
    fn violation(&self) -> Option<Violation>;
}

impl DriverError for sqlx::Error {
    fn violation(&self) -> Option<Violation> {
        match self {
            sqlx::Error::Database(d) => match d.kind() {
                sqlx::error::ErrorKind::UniqueViolation => Some(Violation::Unique),
                sqlx::error::ErrorKind::ForeignKeyViolation => Some(Violation::ForeignKey),
                _ => None,
            },
            _ => None,
        }
    }
}

impl DriverError for rusqlite::Error {
    fn violation(&self) -> Option<Violation> {
        use rusqlite::ffi;
        match self.sqlite_error().map(|e| e.extended_code) {
            Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                Some(Violation::Unique)
            }
            Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => Some(Violation::ForeignKey),
            _ => None,
        }
    }
}

/// A driver error with what the store was doing. The detail goes to logs only.
pub(crate) fn db<E: DriverError>(operation: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Database {
        operation,
        detail: e.to_string(),
    }
}

/// Stored data that does not parse.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Database {
        operation: "reading stored data",
        detail: what.to_string(),
    }
}

/// Maps unique and foreign-key violations to `Conflict` with a message for the user.
pub(crate) fn constraint<E: DriverError>(
    operation: &'static str,
    unique: impl FnOnce() -> String,
    reference: impl FnOnce() -> String,
) -> impl FnOnce(E) -> StoreError {
    move |e| match e.violation() {
        Some(Violation::Unique) => StoreError::Conflict { what: unique() },
        Some(Violation::ForeignKey) => StoreError::Conflict { what: reference() },
        None => db(operation)(e),
    }
}

pub(crate) fn to_ns(t: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| StoreError::Database {
        operation: "encoding a timestamp",
        detail: format!("{t} is outside the years 1677 to 2262"),
    })
}

pub(crate) fn from_ns(ns: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .map_err(|e| corrupt(format!("timestamp {ns}: {e}")))
}

pub(crate) fn to_i64(value: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Database {
        operation: "encoding a counter",
        detail: format!("{what} {value} exceeds the database range"),
    })
}

pub(crate) fn to_u64(value: i64, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(format!("{what} is negative: {value}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Database {
        operation: "encoding a record",
        detail: e.to_string(),
    })
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("{what}: {e}")))
}

pub(crate) fn parse<T: std::str::FromStr>(text: &str, what: &'static str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| corrupt(format!("{what}: {e}")))
}

/// A 32-byte hash column. A wrong length (only possible by editing the database) becomes an
/// all-zero hash, which chain verification then reports at that event.
pub(crate) fn hash32(bytes: &[u8]) -> [u8; 32] {
    <[u8; 32]>::try_from(bytes).unwrap_or([0; 32])
}

/// Caps a page size.
pub(crate) fn page(limit: u32) -> i64 {
    let max = sigil_domain::store::MAX_PAGE;
    i64::from(if limit == 0 || limit > max {
        max
    } else {
        limit
    })
}

//! The audit log (`audit:read`): reading and verifying it, one module per use case, and the
//! list format the administrative use cases write into audit details.

pub mod read;
pub mod verify;

/// A list as one audit detail value: the items' display forms joined by commas.
pub(crate) fn join<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

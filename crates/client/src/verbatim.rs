//! An HTTPS answer read as its typed view and kept as the server sent it.
//!
//! The `sigil` CLI prints many answers as they are. Printing the typed view re-serialised
//! would silently drop a field that a newer server added and this client does not know yet;
//! [`Verbatim`] prints the server's JSON and still checks it against the view.

use std::ops::Deref;

use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// An answer as the view `T` (through `Deref`) and as the JSON the server sent (through
/// `Serialize`).
#[derive(Debug, Clone)]
pub struct Verbatim<T> {
    view: T,
    json: Value,
}

impl<T> Verbatim<T> {
    /// The typed view.
    pub fn into_view(self) -> T {
        self.view
    }
}

impl<T> Deref for Verbatim<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.view
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Verbatim<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = Value::deserialize(d)?;
        let view = T::deserialize(&json).map_err(D::Error::custom)?;
        Ok(Self { view, json })
    }
}

impl<T> Serialize for Verbatim<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use sigil_api::login::Health;

    use super::*;

    #[test]
    fn prints_what_the_server_sent_and_reads_typed() {
        let sent = r#"{"status":"ok","version":"9.9.9","uptime_secs":12}"#;
        let answer: Verbatim<Health> = serde_json::from_str(sent).unwrap_or_else(|e| {
            unreachable!("a valid answer: {e}");
        });
        assert_eq!(answer.version, "9.9.9");
        let printed = serde_json::to_value(&answer).ok();
        assert_eq!(printed, serde_json::from_str::<Value>(sent).ok());
        assert!(printed.is_some_and(|p| p.get("uptime_secs").is_some()));
        assert_eq!(answer.into_view().status, "ok");
    }

    #[test]
    fn an_answer_that_is_not_the_view_is_refused() {
        let wrong = r#"{"status":"ok"}"#;
        let error = serde_json::from_str::<Verbatim<Health>>(wrong)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("version"), "{error}");
    }
}

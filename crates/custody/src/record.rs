//! The deployment's custody record: what the server stores about its master key.

use serde::{Deserialize, Serialize};

use crate::split::check_split;
use crate::{CustodyError, Kcv, MasterKey, MasterKeyId};

const RECORD_VERSION: u8 = 1;

/// How a deployment keeps its master key, and how to recognise the key: never the key itself.
///
/// The server stores it (database row or `custody.json`) at `sigil init` and reads it at
/// every start to build an [`Unsealer`](crate::Unsealer) or to check a development key
/// file. Its JSON form:
///
/// ```json
/// {"version":1,"master_key_id":"9F3A12C077B10E4D","master_kcv":"1A2B3C",
///  "scheme":{"type":"components","threshold":2,"count":3,
///            "component_kcvs":["0F1E2D","3C4B5A","697887"]}}
/// ```
///
/// or `"scheme":{"type":"dev-key-file"}`. Deserialising checks the rules (version,
/// M-of-N, one check value per component), so a `CustodyRecord` value is always valid.
/// Nothing in it is secret, but it must be protected from modification like the rest of
/// the database: whoever can edit it can make the server accept their own components
/// when it is next unsealed (they still cannot open the keys sealed under the real key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RecordRepr", into = "RecordRepr")]
pub struct CustodyRecord {
    master_key_id: MasterKeyId,
    master_kcv: Kcv,
    scheme: CustodyScheme,
}

/// Where the master key lives between restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CustodyScheme {
    /// Split into `count` key components held by custodians; any `threshold` rebuild it.
    Components {
        /// M: components needed to unseal.
        threshold: u8,
        /// N: components issued.
        count: u8,
        /// Check value of component #i at position i−1, to recognise each component
        /// when it is entered.
        component_kcvs: Vec<Kcv>,
    },
    /// Development only: the key is in a file on disk
    /// ([`InsecureDevKeyFile`](crate::danger::InsecureDevKeyFile)).
    DevKeyFile,
}

impl CustodyScheme {
    /// The scheme's name as written in the record (`components`, `dev-key-file`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Components { .. } => "components",
            Self::DevKeyFile => "dev-key-file",
        }
    }
}

impl CustodyRecord {
    /// Called by [`MasterKey::split`], which has checked the M-of-N and made the KCVs.
    pub(crate) fn for_components(key: &MasterKey, threshold: u8, component_kcvs: Vec<Kcv>) -> Self {
        let count = u8::try_from(component_kcvs.len()).unwrap_or(u8::MAX);
        Self {
            master_key_id: key.id(),
            master_kcv: key.kcv(),
            scheme: CustodyScheme::Components {
                threshold,
                count,
                component_kcvs,
            },
        }
    }

    /// The record of a deployment whose key is in a development key file.
    pub fn for_dev_key_file(key: &MasterKey) -> Self {
        Self {
            master_key_id: key.id(),
            master_kcv: key.kcv(),
            scheme: CustodyScheme::DevKeyFile,
        }
    }

    /// The master key's id.
    pub fn master_key_id(&self) -> MasterKeyId {
        self.master_key_id
    }

    /// The master key's check value.
    pub fn master_kcv(&self) -> Kcv {
        self.master_kcv
    }

    /// Where the key lives.
    pub fn scheme(&self) -> &CustodyScheme {
        &self.scheme
    }

    /// Checks that `key` is this deployment's master key (same id and check value).
    ///
    /// # Errors
    /// [`CustodyError::KeyDoesNotMatchRecord`].
    pub fn verify(&self, key: &MasterKey) -> Result<(), CustodyError> {
        let found_kcv = key.kcv();
        if key.id() != self.master_key_id || !found_kcv.matches(&self.master_kcv) {
            return Err(CustodyError::KeyDoesNotMatchRecord {
                expected_id: self.master_key_id,
                expected_kcv: self.master_kcv,
                found_id: key.id(),
                found_kcv,
            });
        }
        Ok(())
    }
}

/// The stored form, checked when it becomes a [`CustodyRecord`].
#[derive(Serialize, Deserialize)]
struct RecordRepr {
    version: u8,
    master_key_id: MasterKeyId,
    master_kcv: Kcv,
    scheme: CustodyScheme,
}

impl TryFrom<RecordRepr> for CustodyRecord {
    type Error = CustodyError;

    fn try_from(repr: RecordRepr) -> Result<Self, Self::Error> {
        let invalid = |reason| CustodyError::InvalidRecord { reason };
        if repr.version != RECORD_VERSION {
            return Err(invalid(
                "record version is not 1 (written by a newer Sigil?)",
            ));
        }
        if let CustodyScheme::Components {
            threshold,
            count,
            component_kcvs,
        } = &repr.scheme
        {
            check_split(*threshold, *count)
                .map_err(|_| invalid("the component threshold and count break the M-of-N rules"))?;
            if component_kcvs.len() != usize::from(*count) {
                return Err(invalid(
                    "the number of component check values differs from the component count",
                ));
            }
        }
        Ok(Self {
            master_key_id: repr.master_key_id,
            master_kcv: repr.master_kcv,
            scheme: repr.scheme,
        })
    }
}

impl From<CustodyRecord> for RecordRepr {
    fn from(record: CustodyRecord) -> Self {
        Self {
            version: RECORD_VERSION,
            master_key_id: record.master_key_id,
            master_kcv: record.master_kcv,
            scheme: record.scheme,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_round_trip_holds_no_key_bytes() {
        let key = MasterKey::generate().unwrap();
        let record = key.split(2, 3).unwrap().record;
        let value = serde_json::to_value(&record).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(value["master_key_id"], key.id().to_string());
        assert_eq!(value["master_kcv"], key.kcv().to_string());
        assert_eq!(value["scheme"]["type"], "components");
        assert_eq!(
            value["scheme"]["component_kcvs"].as_array().unwrap().len(),
            3
        );
        let text = value.to_string();
        assert!(!text.contains(&hex::encode_upper(key.bytes())));
        assert!(
            !text
                .to_uppercase()
                .contains(&hex::encode_upper(key.bytes()))
        );
        let back: CustodyRecord = serde_json::from_value(value).unwrap();
        assert_eq!(back, record);

        let dev = CustodyRecord::for_dev_key_file(&key);
        let dev_json = serde_json::to_value(&dev).unwrap();
        assert_eq!(dev_json["scheme"], json!({"type": "dev-key-file"}));
        assert_eq!(
            serde_json::from_value::<CustodyRecord>(dev_json).unwrap(),
            dev
        );
    }

    #[test]
    fn invalid_records_are_refused_when_read() {
        let base = json!({"version":1,"master_key_id":"0011223344556677","master_kcv":"ABCDEF"});
        let with = |version: u64, scheme: serde_json::Value| {
            let mut v = base.clone();
            v["version"] = version.into();
            v["scheme"] = scheme;
            serde_json::from_value::<CustodyRecord>(v)
        };
        let three = json!(["000000", "111111", "222222"]);
        assert!(
            with(
                1,
                json!({"type":"components","threshold":2,"count":3,"component_kcvs":three})
            )
            .is_ok()
        );
        for (version, scheme) in [
            (2, json!({"type":"dev-key-file"})),
            (1, json!({"type":"hsm"})),
            (
                1,
                json!({"type":"components","threshold":4,"count":3,"component_kcvs":three}),
            ),
            (
                1,
                json!({"type":"components","threshold":1,"count":3,"component_kcvs":three}),
            ),
            (
                1,
                json!({"type":"components","threshold":2,"count":2,"component_kcvs":three}),
            ),
            (
                1,
                json!({"type":"components","threshold":2,"count":3,"component_kcvs":["000000"]}),
            ),
        ] {
            assert!(with(version, scheme.clone()).is_err(), "{version} {scheme}");
        }
        let mut bad_kcv = base.clone();
        bad_kcv["master_kcv"] = "ABCDEG".into();
        bad_kcv["scheme"] = json!({"type":"dev-key-file"});
        assert!(serde_json::from_value::<CustodyRecord>(bad_kcv).is_err());
    }

    #[test]
    fn verify_accepts_the_key_and_refuses_another() {
        let key = MasterKey::generate().unwrap();
        let record = CustodyRecord::for_dev_key_file(&key);
        record.verify(&key).unwrap();
        let other = MasterKey::generate().unwrap();
        assert!(matches!(
            record.verify(&other),
            Err(CustodyError::KeyDoesNotMatchRecord { .. })
        ));
        // Same id, different bytes: the KCV tells them apart.
        let impostor = MasterKey::from_parts(crate::master_key::new_secret32(), key.id());
        assert!(matches!(
            record.verify(&impostor),
            Err(CustodyError::KeyDoesNotMatchRecord { .. })
        ));
    }
}

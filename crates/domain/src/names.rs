//! Validated names: identities, roles, approval groups, policy aliases, CA containers.
//!
//! All share one rule so that a name is safe in a certificate CN, a URL path, a log line and a
//! Host API field: 1 to [`NAME_MAX_LEN`] bytes of `A-Z a-z 0-9 . _ - @`, starting with a letter
//! or a digit. Names are case-sensitive.

use std::fmt;

/// Longest accepted name, in bytes.
pub const NAME_MAX_LEN: usize = 64;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("{kind} name is empty: use 1 to {NAME_MAX_LEN} characters")]
    Empty {
        /// Which kind of name.
        kind: &'static str,
    },
    /// The name is longer than [`NAME_MAX_LEN`].
    #[error("{kind} name is {len} bytes long: at most {NAME_MAX_LEN} are allowed")]
    TooLong {
        /// Which kind of name.
        kind: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The name contains a character outside the allowed set, or starts with punctuation.
    #[error(
        "{kind} name contains {found:?} at byte {position}: use letters, digits and . _ - @, starting with a letter or digit"
    )]
    BadCharacter {
        /// Which kind of name.
        kind: &'static str,
        /// The offending character.
        found: char,
        /// Its byte offset.
        position: usize,
    },
}

fn validate(kind: &'static str, text: &str) -> Result<(), NameError> {
    if text.is_empty() {
        return Err(NameError::Empty { kind });
    }
    if text.len() > NAME_MAX_LEN {
        return Err(NameError::TooLong {
            kind,
            len: text.len(),
        });
    }
    for (position, found) in text.char_indices() {
        let allowed = found.is_ascii_alphanumeric()
            || (position > 0 && matches!(found, '.' | '_' | '-' | '@'));
        if !allowed {
            return Err(NameError::BadCharacter {
                kind,
                found,
                position,
            });
        }
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates `text` as a name.
            pub fn new(text: impl Into<String>) -> Result<Self, NameError> {
                let text = text.into();
                validate($kind, &text)?;
                Ok(Self(text))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::new(text)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                crate::strenum::deserialize_parsed(deserializer)
            }
        }
    };
}

name_type!(
    /// The name of an identity (a person or an application). With client-certificate binding it
    /// must equal the certificate's CN.
    IdentityName,
    "identity"
);
name_type!(
    /// The name of a role.
    RoleName,
    "role"
);
name_type!(
    /// The name of an approval group.
    GroupName,
    "approval group"
);
name_type!(
    /// The alias of an issuance policy (what clients name in `sigil sign --policy`).
    PolicyAlias,
    "policy alias"
);
name_type!(
    /// The name of a CA container.
    CaName,
    "CA"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_and_refuses() {
        assert!(IdentityName::new("jenkins-01").is_ok());
        assert!(IdentityName::new("alice@example.com").is_ok());
        assert_eq!(
            IdentityName::new(""),
            Err(NameError::Empty { kind: "identity" })
        );
        assert!(matches!(
            PolicyAlias::new("-release"),
            Err(NameError::BadCharacter { position: 0, .. })
        ));
        assert!(matches!(
            RoleName::new("a b"),
            Err(NameError::BadCharacter { found: ' ', .. })
        ));
        assert!(matches!(
            GroupName::new("x".repeat(NAME_MAX_LEN + 1)),
            Err(NameError::TooLong { .. })
        ));
        assert!(GroupName::new("x".repeat(NAME_MAX_LEN)).is_ok());
    }

    proptest! {
        #[test]
        fn never_panics_and_round_trips(text in "\\PC{0,80}") {
            if let Ok(name) = IdentityName::new(text.clone()) {
                prop_assert_eq!(name.as_str(), text.as_str());
                prop_assert!(name.as_str().len() <= NAME_MAX_LEN);
            }
        }
    }
}

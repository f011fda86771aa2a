//! Enums whose values have one stable string form (used in the database, the wire and the audit log).

use std::fmt;

/// A string that does not name any known value of an enum (a permission, an interface, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`: expected one of {}", expected.join(", "))]
pub struct UnknownValue {
    /// What was being parsed, e.g. `permission`.
    pub kind: &'static str,
    /// The rejected text (cut to [`UnknownValue::MAX_ECHO`] bytes so a huge input is not echoed).
    pub value: String,
    /// The accepted values.
    pub expected: &'static [&'static str],
}

impl UnknownValue {
    /// How much of the rejected text is kept in the error.
    pub const MAX_ECHO: usize = 64;

    pub(crate) fn new(kind: &'static str, value: &str, expected: &'static [&'static str]) -> Self {
        Self {
            kind,
            value: crate::text::truncate(value, Self::MAX_ECHO).to_owned(),
            expected,
        }
    }
}

/// Serde helper shared by the generated enums: deserialize a string and parse it.
pub(crate) fn deserialize_parsed<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}

/// Declares an enum with one stable string per variant, plus `ALL`, `as_str`, `Display`,
/// `FromStr` (unknown text is an [`UnknownValue`]) and serde as that string.
macro_rules! str_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($kind:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stable string form.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = $crate::UnknownValue;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::UnknownValue::new(
                        $kind,
                        text,
                        &[$($text,)+],
                    )),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::strenum::deserialize_parsed(deserializer)
            }
        }
    };
}

pub(crate) use str_enum;

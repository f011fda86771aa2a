//! Distinguished names written as strings (`CN=Sigil Root,O=Example,C=DE`).
//!
//! The string form is RFC 4514's: attributes are written most specific first
//! and separated by commas; `\` escapes a special character (`,+"\<>;=#` or a
//! leading/trailing space) or introduces two hex digits of UTF-8. Sigil
//! accepts a fixed set of attribute types, one attribute per RDN, and the
//! upper bounds of RFC 5280 Appendix A (for example 64 characters for a CN),
//! so that a typing mistake is reported instead of becoming part of a CA's
//! name for its whole life.

use std::fmt;

use const_oid::ObjectIdentifier;
use const_oid::db::{rfc2256, rfc2985, rfc4519};
use der::asn1::{Any, SetOfVec};
use der::{Decode, Encode, Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::Name;

use crate::PkiError;

/// The longest DN string [`DistinguishedName::parse`] reads.
pub const MAX_DN_STRING_LEN: usize = 2048;
/// The most attributes (RDNs) a DN may have.
pub const MAX_DN_ATTRIBUTES: usize = 16;

/// An attribute type Sigil accepts in a DN string.
struct AttributeSpec {
    /// Names accepted in the string (upper case); the first is the canonical one.
    names: &'static [&'static str],
    oid: ObjectIdentifier,
    tag: Tag,
    /// Upper bound in characters (RFC 5280 Appendix A `ub-*`).
    max_chars: usize,
}

const ATTRIBUTES: &[AttributeSpec] = &[
    AttributeSpec {
        names: &["CN", "COMMONNAME"],
        oid: rfc4519::COMMON_NAME,
        tag: Tag::Utf8String,
        max_chars: 64,
    },
    AttributeSpec {
        names: &["O", "ORGANIZATIONNAME"],
        oid: rfc4519::ORGANIZATION_NAME,
        tag: Tag::Utf8String,
        max_chars: 64,
    },
    AttributeSpec {
        names: &["OU", "ORGANIZATIONALUNITNAME"],
        oid: rfc4519::ORGANIZATIONAL_UNIT_NAME,
        tag: Tag::Utf8String,
        max_chars: 64,
    },
    AttributeSpec {
        names: &["C", "COUNTRYNAME"],
        oid: rfc4519::COUNTRY_NAME,
        tag: Tag::PrintableString,
        max_chars: 2,
    },
    AttributeSpec {
        names: &["L", "LOCALITYNAME"],
        oid: rfc4519::LOCALITY_NAME,
        tag: Tag::Utf8String,
        max_chars: 128,
    },
    AttributeSpec {
        names: &["ST", "S", "STATEORPROVINCENAME"],
        oid: rfc2256::STATE_OR_PROVINCE_NAME,
        tag: Tag::Utf8String,
        max_chars: 128,
    },
    AttributeSpec {
        names: &["STREET", "STREETADDRESS"],
        oid: rfc2256::STREET_ADDRESS,
        tag: Tag::Utf8String,
        max_chars: 128,
    },
    AttributeSpec {
        names: &["SERIALNUMBER"],
        oid: rfc4519::SERIAL_NUMBER,
        tag: Tag::PrintableString,
        max_chars: 64,
    },
    AttributeSpec {
        names: &["DC", "DOMAINCOMPONENT"],
        oid: rfc4519::DOMAIN_COMPONENT,
        tag: Tag::Ia5String,
        max_chars: 63,
    },
    AttributeSpec {
        names: &["EMAILADDRESS", "E"],
        oid: rfc2985::PKCS_9_AT_EMAIL_ADDRESS,
        tag: Tag::Ia5String,
        max_chars: 255,
    },
];

/// An X.509 distinguished name.
///
/// Made from a string with [`DistinguishedName::parse`], or taken from a
/// certificate or CSR. `Display` writes the RFC 4514 string form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistinguishedName(Name);

impl DistinguishedName {
    /// Parses a DN string such as `CN=Sigil Root,O=Example,C=DE`.
    ///
    /// Accepted attribute types (case-insensitive): `CN`, `O`, `OU`, `C` (two
    /// letters), `L`, `ST`, `STREET`, `SERIALNUMBER`, `DC`, `EMAILADDRESS`.
    /// Multi-valued RDNs (`+`), quoted values and the OpenSSL `/CN=.../O=...`
    /// form are refused with an error that says so.
    pub fn parse(input: &str) -> Result<Self, PkiError> {
        let invalid = |reason: String| PkiError::InvalidDn {
            input: input.chars().take(120).collect(),
            reason,
        };
        if input.len() > MAX_DN_STRING_LEN {
            return Err(invalid(format!("longer than {MAX_DN_STRING_LEN} bytes")));
        }
        if input.trim().is_empty() {
            return Err(invalid("the name is empty".into()));
        }
        if input.trim_start().starts_with('/') {
            return Err(invalid(
                "the OpenSSL /CN=.../O=... form is not accepted: separate attributes with commas"
                    .into(),
            ));
        }
        let pairs = split_attributes(input).map_err(invalid)?;
        if pairs.len() > MAX_DN_ATTRIBUTES {
            return Err(invalid(format!("more than {MAX_DN_ATTRIBUTES} attributes")));
        }
        // RFC 4514 §2.1: the string lists RDNs in reverse order of the encoding.
        let mut rdns: Vec<SetOfVec<AttributeTypeAndValue>> = Vec::with_capacity(pairs.len());
        for (key, value) in pairs.into_iter().rev() {
            let atv = attribute(&key, &value).map_err(invalid)?;
            rdns.push(SetOfVec::try_from(vec![atv])?);
        }
        let name = Name::from_der(&rdns.to_der()?)?;
        Ok(Self(name))
    }

    /// The X.509 name.
    pub fn as_name(&self) -> &Name {
        &self.0
    }

    /// The first common name (CN), if there is one that is a readable string.
    pub fn common_name(&self) -> Option<String> {
        self.0
            .iter()
            .find(|atv| atv.oid == rfc4519::COMMON_NAME)
            .and_then(|atv| directory_string(&atv.value))
    }

    /// The common name when the name holds exactly one CN attribute (in any RDN) and it is a
    /// readable string; `None` when there is none or several. Use this to bind a certificate
    /// to an identity: with two CNs (`CN=nobody,CN=jenkins`) which one "the" CN is depends on
    /// who reads it, so such a name binds to nothing.
    pub fn sole_common_name(&self) -> Option<String> {
        let mut cns = self.0.iter().filter(|atv| atv.oid == rfc4519::COMMON_NAME);
        let first = cns.next()?;
        if cns.next().is_some() {
            return None;
        }
        directory_string(&first.value)
    }

    /// Whether the name has no attributes at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Name> for DistinguishedName {
    fn from(name: Name) -> Self {
        Self(name)
    }
}

impl From<DistinguishedName> for Name {
    fn from(dn: DistinguishedName) -> Self {
        dn.0
    }
}

impl fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for DistinguishedName {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Reads a `DirectoryString`-like value (UTF8String, PrintableString, IA5String).
fn directory_string(value: &Any) -> Option<String> {
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
            std::str::from_utf8(value.value()).ok().map(str::to_owned)
        }
        _ => None,
    }
}

/// Builds one attribute from a key and an unescaped value.
fn attribute(key: &str, value: &str) -> Result<AttributeTypeAndValue, String> {
    let upper = key.to_ascii_uppercase();
    let spec = ATTRIBUTES
        .iter()
        .find(|spec| spec.names.contains(&upper.as_str()))
        .ok_or_else(|| {
            format!(
                "unknown attribute type {key:?}: use CN, O, OU, C, L, ST, STREET, SERIALNUMBER, DC or EMAILADDRESS"
            )
        })?;
    let canonical = spec.names.first().copied().unwrap_or(key);
    let chars = value.chars().count();
    if chars == 0 {
        return Err(format!("{canonical} has an empty value"));
    }
    let country = spec.oid == rfc4519::COUNTRY_NAME;
    if country && (chars != 2 || !value.chars().all(|c| c.is_ascii_alphabetic())) {
        return Err(format!(
            "C must be a two-letter ISO 3166 country code, not {value:?}"
        ));
    }
    if chars > spec.max_chars {
        return Err(format!(
            "{canonical} is {chars} characters long, more than the {} allowed",
            spec.max_chars
        ));
    }
    if spec.tag == Tag::PrintableString && !value.chars().all(is_printable_string_char) {
        return Err(format!(
            "{canonical} may only contain letters, digits, spaces and '()+,-./:=?"
        ));
    }
    if spec.tag == Tag::Ia5String && !value.is_ascii() {
        return Err(format!("{canonical} must be ASCII"));
    }
    let value = if country {
        value.to_ascii_uppercase()
    } else {
        value.to_owned()
    };
    let value = Any::new(spec.tag, value.into_bytes()).map_err(|e| e.to_string())?;
    Ok(AttributeTypeAndValue {
        oid: spec.oid,
        value,
    })
}

/// X.680 §41.4 PrintableString characters.
fn is_printable_string_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

/// Splits an RFC 4514 string into unescaped `(key, value)` pairs, in string order.
fn split_attributes(input: &str) -> Result<Vec<(String, String)>, String> {
    let bytes = input.as_bytes();
    let mut pairs = Vec::new();
    let mut key = String::new();
    let mut value: Vec<u8> = Vec::new();
    // Length of `value` up to its last byte that is not an unescaped space (for trimming).
    let mut significant = 0usize;
    let mut in_value = false;
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        if !in_value {
            match b {
                b'=' => {
                    let trimmed = key.trim();
                    if trimmed.is_empty() {
                        return Err("an attribute has no type before '='".into());
                    }
                    key = trimmed.to_owned();
                    in_value = true;
                }
                b',' => {
                    return Err(format!("{:?} has no '=' (write TYPE=value)", key.trim()));
                }
                b'\\' | b'+' | b'"' => {
                    return Err(format!("unexpected {:?} in an attribute type", b as char));
                }
                _ => key.push(char::from(b)),
            }
            // Attribute types are ASCII; a multi-byte character is caught by the lookup.
            continue;
        }
        match b {
            b'\\' => {
                let next = *bytes
                    .get(i)
                    .ok_or("the name ends with an unfinished '\\' escape")?;
                if next.is_ascii_hexdigit() {
                    let pair = bytes
                        .get(i..i + 2)
                        .and_then(|p| std::str::from_utf8(p).ok())
                        .and_then(|p| u8::from_str_radix(p, 16).ok())
                        .ok_or("'\\' must be followed by two hex digits or a special character")?;
                    value.push(pair);
                    i += 2;
                } else if b" ,+\"\\<>;=#".contains(&next) {
                    value.push(next);
                    i += 1;
                } else {
                    return Err(format!(
                        "'\\{}' is not a valid escape: escape only ,+\"\\<>;=# and spaces",
                        char::from(next)
                    ));
                }
                significant = value.len();
            }
            b',' => {
                push_pair(&mut pairs, &mut key, &mut value, significant)?;
                significant = 0;
                in_value = false;
            }
            b'+' => {
                return Err(
                    "multi-valued RDNs ('+') are not supported: escape a literal plus as '\\+'"
                        .into(),
                );
            }
            b'"' => {
                return Err(
                    "quoted values are not supported: escape special characters with '\\'".into(),
                );
            }
            b';' | b'<' | b'>' => {
                return Err(format!("{:?} must be escaped with '\\'", char::from(b)));
            }
            b' ' if value.is_empty() => {} // leading spaces are not part of the value
            b' ' => value.push(b),
            _ => {
                value.push(b);
                significant = value.len();
            }
        }
    }
    if !in_value {
        return Err(format!("{:?} has no '=' (write TYPE=value)", key.trim()));
    }
    push_pair(&mut pairs, &mut key, &mut value, significant)?;
    Ok(pairs)
}

fn push_pair(
    pairs: &mut Vec<(String, String)>,
    key: &mut String,
    value: &mut Vec<u8>,
    significant: usize,
) -> Result<(), String> {
    value.truncate(significant);
    let text = String::from_utf8(std::mem::take(value))
        .map_err(|_| format!("the value of {key} is not valid UTF-8"))?;
    pairs.push((std::mem::take(key), text));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_in_rfc4514_order() {
        let dn = DistinguishedName::parse("CN=Sigil Root,O=Example,C=de").unwrap();
        assert_eq!(dn.to_string(), "CN=Sigil Root,O=Example,C=DE");
        assert_eq!(dn.common_name().as_deref(), Some("Sigil Root"));
        // The encoding starts with the country (most general first).
        let first = dn.as_name().iter().next().unwrap();
        assert_eq!(first.oid, rfc4519::COUNTRY_NAME);
        assert_eq!(first.value.tag(), Tag::PrintableString);
    }

    #[test]
    fn sole_common_name_refuses_two_cns() {
        let one = DistinguishedName::parse("CN=jenkins,O=Example").unwrap();
        assert_eq!(one.sole_common_name().as_deref(), Some("jenkins"));
        let two = DistinguishedName::parse("CN=nobody,CN=jenkins").unwrap();
        assert_eq!(two.sole_common_name(), None);
        let none = DistinguishedName::parse("O=Example").unwrap();
        assert_eq!(none.sole_common_name(), None);
    }

    #[test]
    fn escapes_and_spaces() {
        let dn = DistinguishedName::parse(r" cn = Doe\, John\20 , o=A\2bB ").unwrap();
        assert_eq!(dn.common_name().as_deref(), Some("Doe, John "));
        assert_eq!(dn.to_string(), r"CN=Doe\, John\ ,O=A\+B");
        let utf8 = DistinguishedName::parse(r"CN=M\C3\BCller").unwrap();
        assert_eq!(utf8.common_name().as_deref(), Some("Müller"));
    }

    #[test]
    fn bad_strings_are_refused_with_a_reason() {
        for (input, needle) in [
            ("", "empty"),
            ("   ", "empty"),
            ("Sigil Root", "no '='"),
            ("CN=a,Sigil", "no '='"),
            ("XX=a", "unknown attribute type"),
            ("CN=", "empty value"),
            ("C=DEU", "two-letter"),
            ("C=D1", "two-letter"),
            ("CN=a+O=b", "multi-valued"),
            ("CN=\"quoted\"", "quoted"),
            ("CN=a\\", "unfinished"),
            ("CN=a\\q", "not a valid escape"),
            ("CN=a\\zz", "not a valid escape"),
            ("CN=a\\FF", "UTF-8"),
            ("/CN=a/O=b", "OpenSSL"),
            ("=a", "no type"),
            ("SERIALNUMBER=a_b", "only contain"),
            ("DC=é", "ASCII"),
        ] {
            let err = DistinguishedName::parse(input).unwrap_err();
            assert!(
                matches!(err, PkiError::InvalidDn { .. }),
                "{input:?}: {err:?}"
            );
            assert!(err.to_string().contains(needle), "{input:?}: {err}");
        }
        let long = format!("CN={}", "a".repeat(65));
        assert!(
            DistinguishedName::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("65 characters")
        );
        let many = vec!["OU=x"; MAX_DN_ATTRIBUTES + 1].join(",");
        assert!(DistinguishedName::parse(&many).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(input in ".{0,200}") {
            let _ = DistinguishedName::parse(&input);
        }

        #[test]
        fn cn_round_trips(cn in "[A-Za-z0-9 ,+=#;<>\\\\\"-]{1,60}") {
            let escaped: String = cn.chars().map(|c| match c {
                ',' | '+' | '=' | '#' | ';' | '<' | '>' | '\\' | '"' | ' ' => format!("\\{c}"),
                c => c.to_string(),
            }).collect();
            let dn = DistinguishedName::parse(&format!("CN={escaped}")).unwrap();
            proptest::prop_assert_eq!(dn.common_name(), Some(cn));
        }
    }
}

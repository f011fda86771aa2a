//! Value syntax: what may stand between a tag and its `;`, per [`ValueClass`].
//!
//! Raw frame bytes are printable ASCII (`0x20..=0x7E`) without `;`, `[` and `]`. On top of that:
//!
//! - **token**: 1 to [`MAX_TOKEN_LEN`] of `A-Z a-z 0-9 . _ - : +`, written as is;
//! - **token list** / **text list**: items separated by `,` (an empty value is an empty list,
//!   an empty item is an error);
//! - **decimal**: 1 to 20 ASCII digits, an unsigned integer;
//! - **time**: a token holding an RFC 3339 date-time, emitted in UTC with second precision;
//! - **text** / **secret**: UTF-8 text, percent-encoded: `%XX` (two hex digits, either case) is
//!   one byte; the encoder escapes `%`, `;`, `[`, `]`, control characters and every non-ASCII
//!   byte (and `,` inside a list item) and writes everything else, space included, as is;
//! - **hex**: an even number of hex digits; the decoder accepts either case (digests copied from
//!   `sha256sum` are lowercase), the encoder writes uppercase.

use std::io::Write as _;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use crate::limits::{
    MAX_DECIMAL_LEN, MAX_DIGEST_HEX_LEN, MAX_LIST_LEN, MAX_SECRET_LEN, MAX_TEXT_LEN, MAX_TOKEN_LEN,
};

/// The syntax class of a tag's value (see the module documentation of the tag table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueClass {
    /// A short identifier or code: `A-Z a-z 0-9 . _ - : +`.
    Token,
    /// Comma-separated tokens.
    TokenList,
    /// An unsigned decimal integer.
    Decimal,
    /// An RFC 3339 date-time (token syntax).
    Time,
    /// Percent-encoded UTF-8 text.
    Text,
    /// Comma-separated percent-encoded UTF-8 texts.
    TextList,
    /// Percent-encoded UTF-8 text that is a secret: never printed, zeroized after use.
    Secret,
    /// A short binary value (a digest) in hex.
    Digest,
    /// A large binary value (signature, certificate chain, PKCS#7) in hex, bounded by the frame
    /// size only.
    Blob,
}

impl ValueClass {
    /// Longest value of this class as sent, or `None` when only the frame size bounds it.
    pub const fn max_len(self) -> Option<usize> {
        match self {
            Self::Token | Self::Time => Some(MAX_TOKEN_LEN),
            Self::TokenList | Self::TextList => Some(MAX_LIST_LEN),
            Self::Decimal => Some(MAX_DECIMAL_LEN),
            Self::Text => Some(MAX_TEXT_LEN),
            Self::Secret => Some(MAX_SECRET_LEN),
            Self::Digest => Some(MAX_DIGEST_HEX_LEN),
            Self::Blob => None,
        }
    }

    /// Short name used in error messages and in `docs/host-api.md`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::TokenList => "token list",
            Self::Decimal => "decimal",
            Self::Time => "time",
            Self::Text => "text",
            Self::TextList => "text list",
            Self::Secret => "secret",
            Self::Digest => "hex",
            Self::Blob => "hex blob",
        }
    }
}

/// Why a value was refused. Wrapped with the tag it belongs to by
/// [`FrameError::Value`](crate::FrameError::Value) and
/// [`MessageError::Value`](crate::MessageError::Value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// A byte that may not appear anywhere in a frame (control character or non-ASCII).
    #[error(
        "byte 0x{byte:02X} may not appear in a frame: frames are printable ASCII, percent-encode other characters"
    )]
    ForbiddenByte {
        /// The offending byte.
        byte: u8,
    },
    /// The value is longer than its class allows.
    #[error("the value is longer than {limit} characters")]
    TooLong {
        /// The limit for this tag's class.
        limit: usize,
    },
    /// The value is empty where something is required.
    #[error("the value is empty")]
    Empty,
    /// A character outside the token alphabet.
    #[error("character '{}' is not allowed here: use letters, digits and . _ - : +", char::from(*.byte))]
    NotToken {
        /// The offending byte.
        byte: u8,
    },
    /// An empty item in a comma-separated list.
    #[error("the list has an empty item (two commas in a row, or a comma at either end)")]
    EmptyListItem,
    /// A character that is not a hex digit in a binary value.
    #[error("the value is not hexadecimal: write binary values as pairs of hex digits 0-9 A-F")]
    NotHex,
    /// A hex value with an odd number of digits.
    #[error("the hex value has an odd number of digits: each byte is two hex digits")]
    OddHexLength,
    /// `%` not followed by two hex digits.
    #[error(
        "bad percent-escape: a percent sign must be followed by two hex digits (a literal one is written percent 25)"
    )]
    BadEscape,
    /// The percent-decoded bytes are not UTF-8.
    #[error("the percent-decoded text is not valid UTF-8")]
    NotUtf8,
    /// Not a decimal number.
    #[error("the value is not a decimal number (digits 0-9 only)")]
    NotDecimal,
    /// A number too large for the field.
    #[error("the number is too large for this field")]
    OutOfRange,
    /// Not an RFC 3339 date-time (or one that cannot be written back as RFC 3339).
    #[error("the value is not an RFC 3339 date-time such as 2025-01-31T12:00:00Z")]
    BadTime,
    /// Not a four-letter command code.
    #[error("a command code is four uppercase letters, e.g. ECHO")]
    BadCommand,
    /// Not one of the values this field allows.
    #[error("expected one of: {expected}")]
    NotOneOf {
        /// The allowed values, comma-separated.
        expected: &'static str,
    },
}

/// Bytes allowed in a token.
pub(crate) const fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-' | b':' | b'+')
}

/// Bytes allowed anywhere inside a frame's field values (before class rules).
pub(crate) const fn is_frame_byte(byte: u8) -> bool {
    matches!(byte, 0x20..=0x7e) && !matches!(byte, b';' | b'[' | b']')
}

/// Checks a raw value against its class. Allocation-free: the frame decoder calls it on every
/// field of every frame.
pub(crate) fn validate(class: ValueClass, raw: &[u8]) -> Result<(), ValueError> {
    check_frame_bytes(raw)?;
    if let Some(limit) = class.max_len()
        && raw.len() > limit
    {
        return Err(ValueError::TooLong { limit });
    }
    match class {
        ValueClass::Token | ValueClass::Time => check_token(raw),
        ValueClass::TokenList => list_items(raw).try_for_each(check_list_token),
        ValueClass::Decimal => parse_decimal(raw).map(drop),
        ValueClass::Text | ValueClass::Secret => check_text(raw),
        ValueClass::TextList => list_items(raw).try_for_each(check_list_text),
        ValueClass::Digest | ValueClass::Blob => check_hex(raw),
    }
}

/// Checks that a value holds only frame bytes: the only rule for the value of a tag this
/// version does not know, and the first rule for all others.
pub(crate) fn check_frame_bytes(raw: &[u8]) -> Result<(), ValueError> {
    match raw.iter().find(|b| !is_frame_byte(**b)) {
        Some(&byte) => Err(ValueError::ForbiddenByte { byte }),
        None => Ok(()),
    }
}

fn check_token(raw: &[u8]) -> Result<(), ValueError> {
    if raw.is_empty() {
        return Err(ValueError::Empty);
    }
    match raw.iter().find(|b| !is_token_byte(**b)) {
        Some(&byte) => Err(ValueError::NotToken { byte }),
        None => Ok(()),
    }
}

fn check_list_token(item: &[u8]) -> Result<(), ValueError> {
    check_token(item).map_err(|e| match e {
        ValueError::Empty => ValueError::EmptyListItem,
        other => other,
    })
}

fn check_list_text(item: &[u8]) -> Result<(), ValueError> {
    if item.is_empty() {
        return Err(ValueError::EmptyListItem);
    }
    check_text(item)
}

/// Items of a comma-separated list; an empty value is an empty list.
pub(crate) fn list_items(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    raw.split(|b| *b == b',').filter(move |_| !raw.is_empty())
}

/// Checks that percent-decoding succeeds and yields UTF-8, without allocating: the decoded
/// bytes are gathered one character (at most four bytes) at a time.
fn check_text(raw: &[u8]) -> Result<(), ValueError> {
    let mut bytes = PercentDecode::new(raw);
    while let Some(lead) = bytes.next() {
        let lead = lead?;
        let width = match lead {
            0x00..=0x7f => continue,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => return Err(ValueError::NotUtf8),
        };
        let mut buf = [lead, 0, 0, 0];
        for slot in buf.iter_mut().take(width).skip(1) {
            *slot = bytes.next().ok_or(ValueError::NotUtf8)??;
        }
        let encoded = buf.get(..width).ok_or(ValueError::NotUtf8)?;
        std::str::from_utf8(encoded).map_err(|_| ValueError::NotUtf8)?;
    }
    Ok(())
}

fn check_hex(raw: &[u8]) -> Result<(), ValueError> {
    if raw.iter().any(|b| !b.is_ascii_hexdigit()) {
        return Err(ValueError::NotHex);
    }
    if !raw.len().is_multiple_of(2) {
        return Err(ValueError::OddHexLength);
    }
    Ok(())
}

/// Iterator over the bytes a percent-encoded value stands for.
struct PercentDecode<'a> {
    rest: &'a [u8],
}

impl<'a> PercentDecode<'a> {
    fn new(raw: &'a [u8]) -> Self {
        Self { rest: raw }
    }
}

impl Iterator for PercentDecode<'_> {
    type Item = Result<u8, ValueError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&first, rest) = self.rest.split_first()?;
        if first != b'%' {
            self.rest = rest;
            return Some(Ok(first));
        }
        let Some((&[hi, lo], rest)) = rest.split_first_chunk::<2>() else {
            self.rest = &[];
            return Some(Err(ValueError::BadEscape));
        };
        self.rest = rest;
        Some(match (hex_digit(hi), hex_digit(lo)) {
            (Some(hi), Some(lo)) => Ok(hi << 4 | lo),
            _ => Err(ValueError::BadEscape),
        })
    }
}

const fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

// ---------------------------------------------------------------------------------------------
// Decoding (raw wire value -> typed value). The frame decoder has validated the syntax already;
// these functions check again rather than trust it, because a `Frame` may be built by hand.
// ---------------------------------------------------------------------------------------------

/// A token as an owned string.
pub(crate) fn token(raw: &str) -> Result<String, ValueError> {
    check_token(raw.as_bytes())?;
    Ok(raw.to_owned())
}

/// Percent-decodes a text value.
pub(crate) fn text(raw: &str) -> Result<String, ValueError> {
    let bytes = PercentDecode::new(raw.as_bytes()).collect::<Result<Vec<u8>, _>>()?;
    String::from_utf8(bytes).map_err(|_| ValueError::NotUtf8)
}

/// Percent-decodes a secret into memory that is wiped when dropped, on error paths too. The
/// buffer is sized up front (decoding never grows a value) so no copy is left behind by a
/// reallocation.
pub(crate) fn secret(raw: &str) -> Result<Zeroizing<String>, ValueError> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(raw.len()));
    for byte in PercentDecode::new(raw.as_bytes()) {
        bytes.push(byte?);
    }
    // `from_utf8` takes the allocation over without copying it.
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(s) => Ok(Zeroizing::new(s)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(ValueError::NotUtf8)
        }
    }
}

/// Decodes a hex value (either case).
pub(crate) fn hex(raw: &str) -> Result<Vec<u8>, ValueError> {
    check_hex(raw.as_bytes())?;
    raw.as_bytes()
        .chunks_exact(2)
        .map(|pair| match pair {
            &[hi, lo] => match (hex_digit(hi), hex_digit(lo)) {
                (Some(hi), Some(lo)) => Ok(hi << 4 | lo),
                _ => Err(ValueError::NotHex),
            },
            _ => Err(ValueError::OddHexLength),
        })
        .collect()
}

/// Parses a decimal value.
pub(crate) fn parse_decimal(raw: &[u8]) -> Result<u64, ValueError> {
    if raw.is_empty() {
        return Err(ValueError::Empty);
    }
    raw.iter().try_fold(0u64, |acc, &b| {
        let digit = match b {
            b'0'..=b'9' => u64::from(b - b'0'),
            _ => return Err(ValueError::NotDecimal),
        };
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(digit))
            .ok_or(ValueError::OutOfRange)
    })
}

/// Parses a decimal value that must fit a `u32` (counts of logins and approvals).
pub(crate) fn decimal_u32(raw: &str) -> Result<u32, ValueError> {
    u32::try_from(parse_decimal(raw.as_bytes())?).map_err(|_| ValueError::OutOfRange)
}

/// Parses a decimal value.
pub(crate) fn decimal_u64(raw: &str) -> Result<u64, ValueError> {
    parse_decimal(raw.as_bytes())
}

/// Parses an RFC 3339 date-time, normalised to UTC. A time whose UTC year is outside
/// 0000–9999 (`0000-01-01T00:30:00+01:00`) is refused: it could not be written back.
pub(crate) fn time(raw: &str) -> Result<OffsetDateTime, ValueError> {
    OffsetDateTime::parse(raw, &Rfc3339)
        .ok()
        .and_then(|t| t.checked_to_offset(time::UtcOffset::UTC))
        .filter(|t| (0..=9999).contains(&t.year()))
        .ok_or(ValueError::BadTime)
}

/// Items of a list value, each decoded by `item`.
pub(crate) fn list<T>(
    raw: &str,
    item: impl Fn(&str) -> Result<T, ValueError>,
) -> Result<Vec<T>, ValueError> {
    raw.split(',')
        .filter(|_| !raw.is_empty())
        .map(|s| {
            if s.is_empty() {
                Err(ValueError::EmptyListItem)
            } else {
                item(s)
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Encoding (typed value -> raw wire value), appending to the output buffer.
// ---------------------------------------------------------------------------------------------

/// Appends a token after checking its syntax.
pub(crate) fn write_token(out: &mut Vec<u8>, value: &str) -> Result<(), ValueError> {
    check_token(value.as_bytes())?;
    out.extend_from_slice(value.as_bytes());
    Ok(())
}

/// Appends percent-encoded text; `in_list` also escapes `,`, the list separator.
pub(crate) fn write_text(out: &mut Vec<u8>, value: &str, in_list: bool) {
    for &byte in value.as_bytes() {
        let plain = is_frame_byte(byte) && byte != b'%' && !(in_list && byte == b',');
        if plain {
            out.push(byte);
        } else {
            out.extend_from_slice(&[
                b'%',
                HEX_UPPER
                    .get(usize::from(byte >> 4))
                    .copied()
                    .unwrap_or(b'0'),
                HEX_UPPER
                    .get(usize::from(byte & 0xf))
                    .copied()
                    .unwrap_or(b'0'),
            ]);
        }
    }
}

/// Appends uppercase hex.
pub(crate) fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len().saturating_mul(2));
    for &byte in bytes {
        out.push(
            HEX_UPPER
                .get(usize::from(byte >> 4))
                .copied()
                .unwrap_or(b'0'),
        );
        out.push(
            HEX_UPPER
                .get(usize::from(byte & 0xf))
                .copied()
                .unwrap_or(b'0'),
        );
    }
}

/// Appends a decimal number.
pub(crate) fn write_decimal(out: &mut Vec<u8>, value: u64) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{value}");
}

/// An RFC 3339 date-time as [`write_time`] writes it (for a list of times).
pub(crate) fn format_time(value: OffsetDateTime) -> Result<String, ValueError> {
    let mut out = Vec::new();
    write_time(&mut out, value)?;
    String::from_utf8(out).map_err(|_| ValueError::BadTime)
}

/// Appends an RFC 3339 date-time in UTC with second precision (`2025-01-31T12:00:00Z`).
pub(crate) fn write_time(out: &mut Vec<u8>, value: OffsetDateTime) -> Result<(), ValueError> {
    let utc = value
        .checked_to_offset(time::UtcOffset::UTC)
        .and_then(|t| t.replace_nanosecond(0).ok())
        .ok_or(ValueError::BadTime)?;
    utc.format_into(out, &Rfc3339)
        .map(drop)
        .map_err(|_| ValueError::BadTime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_escapes_delimiters() {
        let original = "a;b[c]d%e,f g\u{e9}\u{1F600}\n";
        let mut out = Vec::new();
        write_text(&mut out, original, false);
        let raw = String::from_utf8(out).unwrap();
        assert_eq!(raw, "a%3Bb%5Bc%5Dd%25e,f g%C3%A9%F0%9F%98%80%0A");
        validate(ValueClass::Text, raw.as_bytes()).unwrap();
        assert_eq!(text(&raw).unwrap(), original);

        let mut out = Vec::new();
        write_text(&mut out, "x,y", true);
        assert_eq!(out, b"x%2Cy");
    }

    #[test]
    fn text_rejects_bad_escapes_and_invalid_utf8() {
        for raw in ["%", "%4", "%G0", "abc%2"] {
            assert_eq!(
                validate(ValueClass::Text, raw.as_bytes()),
                Err(ValueError::BadEscape),
                "{raw}"
            );
            assert_eq!(text(raw), Err(ValueError::BadEscape), "{raw}");
        }
        // Lone continuation byte, truncated sequence, overlong '/', UTF-16 surrogate.
        for raw in ["%80", "%C3", "%C0%AF", "%ED%A0%80", "%F0%9F%98"] {
            assert_eq!(
                validate(ValueClass::Text, raw.as_bytes()),
                Err(ValueError::NotUtf8),
                "{raw}"
            );
            assert_eq!(text(raw), Err(ValueError::NotUtf8), "{raw}");
        }
        assert_eq!(
            text("%c3%a9").unwrap(),
            "\u{e9}",
            "lowercase escapes are accepted"
        );
    }

    #[test]
    fn secret_decodes_like_text() {
        assert_eq!(secret("p%3Bw d").unwrap().as_str(), "p;w d");
        assert_eq!(secret("%FF").unwrap_err(), ValueError::NotUtf8);
    }

    #[test]
    fn hex_accepts_either_case_and_writes_uppercase() {
        assert_eq!(hex("00aBfF").unwrap(), vec![0x00, 0xab, 0xff]);
        let mut out = Vec::new();
        write_hex(&mut out, &[0x00, 0xab, 0xff]);
        assert_eq!(out, b"00ABFF");
        assert_eq!(hex("ABC"), Err(ValueError::OddHexLength));
        assert_eq!(hex("XY"), Err(ValueError::NotHex));
        assert_eq!(hex("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn decimals_are_bounded() {
        assert_eq!(parse_decimal(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_decimal(b"18446744073709551616"),
            Err(ValueError::OutOfRange)
        );
        assert_eq!(parse_decimal(b"-1"), Err(ValueError::NotDecimal));
        assert_eq!(parse_decimal(b""), Err(ValueError::Empty));
        assert_eq!(decimal_u32("4294967296"), Err(ValueError::OutOfRange));
        let mut out = Vec::new();
        write_decimal(&mut out, 1234);
        assert_eq!(out, b"1234");
    }

    #[test]
    fn class_limits_and_forbidden_bytes() {
        let long = "A".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            validate(ValueClass::Token, long.as_bytes()),
            Err(ValueError::TooLong {
                limit: MAX_TOKEN_LEN
            })
        );
        assert_eq!(
            validate(ValueClass::Text, b"a\tb"),
            Err(ValueError::ForbiddenByte { byte: b'\t' })
        );
        assert_eq!(
            validate(ValueClass::Token, b"a b"),
            Err(ValueError::NotToken { byte: b' ' })
        );
        assert_eq!(validate(ValueClass::Token, b""), Err(ValueError::Empty));
        assert_eq!(validate(ValueClass::Blob, b""), Ok(()));
    }

    #[test]
    fn lists() {
        assert_eq!(validate(ValueClass::TokenList, b""), Ok(()));
        assert_eq!(validate(ValueClass::TokenList, b"A,B"), Ok(()));
        assert_eq!(
            validate(ValueClass::TokenList, b"A,,B"),
            Err(ValueError::EmptyListItem)
        );
        assert_eq!(
            validate(ValueClass::TextList, b"a b,"),
            Err(ValueError::EmptyListItem)
        );
        assert_eq!(list("", token).unwrap(), Vec::<String>::new());
        assert_eq!(
            list("x%2Cy,z", text).unwrap(),
            vec!["x,y".to_owned(), "z".to_owned()]
        );
        assert_eq!(list("A,", token), Err(ValueError::EmptyListItem));
    }

    #[test]
    fn time_is_rfc3339_utc_seconds() {
        let t = time("2025-01-31T13:00:00.5+01:00").unwrap();
        let mut out = Vec::new();
        write_time(&mut out, t).unwrap();
        assert_eq!(out, b"2025-01-31T12:00:00Z");
        assert_eq!(time("2025-01-31"), Err(ValueError::BadTime));
        assert_eq!(time("0000-01-01T00:30:00+01:00"), Err(ValueError::BadTime));
        assert!(time("9999-12-31T23:59:59Z").is_ok());
        // Would be year 10000 in UTC: refused, not a panic.
        assert_eq!(time("9999-12-31T23:30:00-01:00"), Err(ValueError::BadTime));
        let far = time::OffsetDateTime::from_unix_timestamp(253_402_300_799)
            .unwrap()
            .to_offset(time::UtcOffset::from_hms(-1, 0, 0).unwrap());
        let mut out = Vec::new();
        write_time(&mut out, far).unwrap();
        assert_eq!(out, b"9999-12-31T23:59:59Z");
        validate(ValueClass::Time, &out).unwrap();
    }
}

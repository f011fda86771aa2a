//! The JAR manifest format (`META-INF/MANIFEST.MF`, and `.SF` files, which use
//! the same syntax): parser and writer.
//!
//! From the JAR File Specification, "Manifest Specification":
//!
//! ```text
//! section:          *header +newline
//! nonempty-section: +header +newline
//! newline:          CR LF | LF | CR (not followed by LF)
//! header:           name : value
//! name:             alphanum *headerchar
//! value:            SPACE *otherchar newline *continuation
//! continuation:     SPACE *otherchar newline
//! alphanum:         {A-Z} | {a-z} | {0-9}
//! headerchar:       alphanum | - | _
//! otherchar:        any UTF-8 character except NUL, CR and LF
//! ```
//!
//! "No line may be longer than 72 bytes (not characters), in its UTF8-encoded
//! form. If a value would make the initial line longer than this, it should be
//! continued on extra lines (each starting with a single SPACE)."
//!
//! The parser keeps the exact bytes of every section (from its first header to
//! the first header of the next section, blank lines included), because
//! signature files digest those raw bytes; a section that is not modified is
//! written back byte for byte, so other signers' `.SF` files stay valid.

use std::collections::HashMap;

use crate::error::ManifestError;
use crate::limits::{
    MANIFEST_LINE_WIDTH, MAX_HEADER_NAME_BYTES, MAX_HEADER_VALUE_BYTES, MAX_HEADERS_PER_SECTION,
    MAX_MANIFEST_BYTES, MAX_MANIFEST_LINE_BYTES,
};

const CRLF: &[u8] = b"\r\n";

/// One `Name: value` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// Header name, as written (lookups ignore ASCII case).
    pub name: String,
    /// Value, continuation lines joined.
    pub value: String,
}

/// A section: the main section, or an individual section starting with `Name:`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    attributes: Vec<Attribute>,
    /// The exact bytes read, while the section is unmodified.
    raw: Option<Vec<u8>>,
    /// Whether `raw` ends with the blank line that closes a section.
    terminated: bool,
}

impl Section {
    /// An empty section.
    pub fn new() -> Self {
        Self::default()
    }

    /// An individual section whose first header is `Name: <name>`.
    pub fn with_name(name: &str) -> Self {
        let mut s = Self::new();
        s.attributes.push(Attribute {
            name: "Name".into(),
            value: name.into(),
        });
        s
    }

    /// The value of the `Name` header (individual sections).
    pub fn name(&self) -> Option<&str> {
        self.get("Name")
    }

    /// The value of `header` (ASCII case-insensitive).
    pub fn get(&self, header: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(header))
            .map(|a| a.value.as_str())
    }

    /// The headers in order.
    pub fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }

    /// The exact bytes this section was read from, while it is unmodified.
    pub fn raw(&self) -> Option<&[u8]> {
        self.raw.as_deref()
    }

    /// Sets `header` (replacing its value in place, or appending it).
    pub fn set(&mut self, header: &str, value: &str) {
        self.raw = None;
        match self
            .attributes
            .iter_mut()
            .find(|a| a.name.eq_ignore_ascii_case(header))
        {
            Some(a) => a.value = value.into(),
            None => self.attributes.push(Attribute {
                name: header.into(),
                value: value.into(),
            }),
        }
    }

    /// Inserts `header` as the first header (used for `Manifest-Version`).
    pub fn insert_first(&mut self, header: &str, value: &str) {
        self.raw = None;
        self.attributes.insert(
            0,
            Attribute {
                name: header.into(),
                value: value.into(),
            },
        );
    }

    /// Removes every header for which `remove` returns true.
    pub fn remove_where(&mut self, mut remove: impl FnMut(&str) -> bool) {
        let before = self.attributes.len();
        self.attributes.retain(|a| !remove(&a.name));
        if self.attributes.len() != before {
            self.raw = None;
        }
    }

    /// Appends the section's bytes (raw when unmodified) and its closing blank line.
    fn write_to(&self, out: &mut Vec<u8>) -> Result<(), ManifestError> {
        if let Some(raw) = &self.raw {
            out.extend_from_slice(raw);
            if !self.terminated {
                if !raw.is_empty() && !raw.ends_with(b"\n") && !raw.ends_with(b"\r") {
                    out.extend_from_slice(CRLF);
                }
                out.extend_from_slice(CRLF);
            }
            return Ok(());
        }
        for a in &self.attributes {
            write_header(out, &a.name, &a.value)?;
        }
        out.extend_from_slice(CRLF);
        Ok(())
    }
}

/// A parsed manifest (or signature file): the main section and the
/// individual sections, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    main: Section,
    sections: Vec<Section>,
    /// Entry name → position in `sections` (names are unique).
    index: HashMap<String, usize>,
}

impl Manifest {
    /// A new manifest with `Manifest-Version: 1.0` and `Created-By`.
    pub fn new(created_by: &str) -> Self {
        let mut main = Section::new();
        main.set("Manifest-Version", "1.0");
        main.set("Created-By", created_by);
        Self::with_main(main)
    }

    /// A manifest whose main section is `main`.
    pub fn with_main(main: Section) -> Self {
        Self {
            main,
            sections: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// The main section.
    pub fn main(&self) -> &Section {
        &self.main
    }

    /// The main section, for changes.
    pub fn main_mut(&mut self) -> &mut Section {
        &mut self.main
    }

    /// The individual sections in order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// The individual section for entry `name` (exact match, as the JDK).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.index.get(name).and_then(|&i| self.sections.get(i))
    }

    /// The individual section for entry `name`, for changes (its `Name` must
    /// not be changed).
    pub fn section_mut(&mut self, name: &str) -> Option<&mut Section> {
        self.index.get(name).and_then(|&i| self.sections.get_mut(i))
    }

    /// Appends an individual section, or replaces the section of the same name.
    pub fn push_section(&mut self, section: Section) {
        let name = section.name().unwrap_or_default().to_owned();
        match self
            .index
            .get(&name)
            .and_then(|&i| self.sections.get_mut(i))
        {
            Some(existing) => *existing = section,
            None => {
                self.index.insert(name, self.sections.len());
                self.sections.push(section);
            }
        }
    }

    /// Serializes: unmodified sections byte for byte, others as CRLF lines of at
    /// most 72 bytes, each section closed by a blank line.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ManifestError> {
        let mut out = Vec::new();
        self.main.write_to(&mut out)?;
        for s in &self.sections {
            s.write_to(&mut out)?;
        }
        if out.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge {
                size: out.len() as u64,
                limit: MAX_MANIFEST_BYTES,
            });
        }
        Ok(out)
    }

    /// Parses `bytes`, accepting CR LF, LF and CR line breaks.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge {
                size: bytes.len() as u64,
                limit: MAX_MANIFEST_BYTES,
            });
        }
        let mut parser = Parser {
            bytes,
            manifest: Manifest::default(),
            current: Pending::new(0, true),
        };
        for (number, line) in lines(bytes).enumerate() {
            parser.line(number + 1, line)?;
        }
        parser.finish()
    }
}

/// One line: where it starts, its content, and whether a line break ends it.
struct Line<'a> {
    start: usize,
    content: &'a [u8],
    terminated: bool,
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = Line<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let rest = bytes.get(pos..).filter(|r| !r.is_empty())?;
        let start = pos;
        match rest.iter().position(|&b| b == b'\r' || b == b'\n') {
            Some(i) => {
                let brk = if rest.get(i) == Some(&b'\r') && rest.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                pos += i + brk;
                Some(Line {
                    start,
                    content: rest.get(..i).unwrap_or_default(),
                    terminated: true,
                })
            }
            None => {
                pos = bytes.len();
                Some(Line {
                    start,
                    content: rest,
                    terminated: false,
                })
            }
        }
    })
}

/// A section being read: headers with their (not yet decoded) values.
struct Pending {
    start: usize,
    main: bool,
    headers: Vec<(String, Vec<u8>, usize)>,
    blank_seen: bool,
}

impl Pending {
    fn new(start: usize, main: bool) -> Self {
        Self {
            start,
            main,
            headers: Vec::new(),
            blank_seen: false,
        }
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    manifest: Manifest,
    current: Pending,
}

impl Parser<'_> {
    fn line(&mut self, number: usize, line: Line<'_>) -> Result<(), ManifestError> {
        if !line.terminated {
            return Err(ManifestError::UnterminatedLastLine { line: number });
        }
        if line.content.len() > MAX_MANIFEST_LINE_BYTES {
            return Err(ManifestError::LineTooLong {
                line: number,
                limit: MAX_MANIFEST_LINE_BYTES,
            });
        }
        let Some((&first, rest)) = line.content.split_first() else {
            self.current.blank_seen = true;
            return Ok(());
        };
        if first == b' ' {
            let value = match self.current.headers.last_mut() {
                Some((_, value, _)) if !self.current.blank_seen => value,
                _ => return Err(ManifestError::OrphanContinuation { line: number }),
            };
            if value.len() + rest.len() > MAX_HEADER_VALUE_BYTES {
                return Err(ManifestError::ValueTooLong {
                    line: number,
                    limit: MAX_HEADER_VALUE_BYTES,
                });
            }
            value.extend_from_slice(rest);
            return Ok(());
        }
        if self.current.blank_seen {
            let done = std::mem::replace(&mut self.current, Pending::new(line.start, false));
            self.close(done, line.start)?;
        }
        let (name, value) = split_header(line.content, number)?;
        let cur = &mut self.current;
        let is_name = name.eq_ignore_ascii_case("Name");
        if cur.main && is_name {
            return Err(ManifestError::NameInMainSection { line: number });
        }
        if !cur.main && cur.headers.is_empty() && !is_name {
            return Err(ManifestError::SectionWithoutName { line: number });
        }
        if cur
            .headers
            .iter()
            .any(|(n, _, _)| n.eq_ignore_ascii_case(name))
        {
            return Err(ManifestError::DuplicateHeader {
                line: number,
                header: name.into(),
            });
        }
        if cur.headers.len() >= MAX_HEADERS_PER_SECTION {
            return Err(ManifestError::TooManyHeaders {
                line: number,
                limit: MAX_HEADERS_PER_SECTION,
            });
        }
        cur.headers.push((name.into(), value.to_vec(), number));
        Ok(())
    }

    fn close(&mut self, pending: Pending, end: usize) -> Result<(), ManifestError> {
        let mut attributes = Vec::with_capacity(pending.headers.len());
        for (name, value, line) in pending.headers {
            let value = String::from_utf8(value)
                .ok()
                .filter(|v| !v.contains('\0'))
                .ok_or(ManifestError::InvalidValue { line })?;
            attributes.push(Attribute { name, value });
        }
        let section = Section {
            attributes,
            raw: Some(
                self.bytes
                    .get(pending.start..end)
                    .unwrap_or_default()
                    .to_vec(),
            ),
            terminated: pending.blank_seen,
        };
        if pending.main {
            self.manifest.main = section;
        } else {
            let name = section.name().unwrap_or_default();
            if self.manifest.index.contains_key(name) {
                let line = self.bytes.get(..pending.start).unwrap_or_default();
                return Err(ManifestError::DuplicateSection {
                    line: count_lines(line) + 1,
                    name: name.to_owned(),
                });
            }
            self.manifest.push_section(section);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Manifest, ManifestError> {
        let last = std::mem::replace(&mut self.current, Pending::new(0, false));
        let end = self.bytes.len();
        self.close(last, end)?;
        Ok(self.manifest)
    }
}

fn count_lines(bytes: &[u8]) -> usize {
    lines(bytes).count()
}

/// `name: value` → (name, value bytes); the separator is a colon and one space.
fn split_header(content: &[u8], line: usize) -> Result<(&str, &[u8]), ManifestError> {
    let colon = content
        .iter()
        .position(|&b| b == b':')
        .ok_or(ManifestError::MalformedHeader { line })?;
    let (name, rest) = content.split_at(colon);
    let value = rest
        .strip_prefix(b": ")
        .ok_or(ManifestError::MalformedHeader { line })?;
    let name = std::str::from_utf8(name)
        .ok()
        .filter(|n| is_valid_header_name(n))
        .ok_or(ManifestError::InvalidHeaderName { line })?;
    if value.len() > MAX_HEADER_VALUE_BYTES {
        return Err(ManifestError::ValueTooLong {
            line,
            limit: MAX_HEADER_VALUE_BYTES,
        });
    }
    Ok((name, value))
}

/// `alphanum *headerchar`, at most 70 bytes.
pub(crate) fn is_valid_header_name(name: &str) -> bool {
    let b = name.as_bytes();
    matches!(b.first(), Some(c) if c.is_ascii_alphanumeric())
        && b.len() <= MAX_HEADER_NAME_BYTES
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

/// Whether `value` can be written as a header value.
pub(crate) fn is_valid_value(value: &str) -> bool {
    !value.contains(['\r', '\n', '\0'])
}

/// Writes `name: value` in lines of at most 72 bytes, continuation lines
/// starting with one space, never splitting a UTF-8 character.
fn write_header(out: &mut Vec<u8>, name: &str, value: &str) -> Result<(), ManifestError> {
    if !is_valid_header_name(name) {
        return Err(ManifestError::InvalidHeaderNameToWrite {
            header: name.into(),
        });
    }
    if !is_valid_value(value) {
        return Err(ManifestError::InvalidValueToWrite {
            header: name.into(),
        });
    }
    // The name and ": " always fit on the first line (names are at most 70 bytes).
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    let mut width = name.len() + 2;
    let mut utf8 = [0u8; 4];
    for c in value.chars() {
        let encoded = c.encode_utf8(&mut utf8).as_bytes();
        if width + encoded.len() > MANIFEST_LINE_WIDTH {
            out.extend_from_slice(CRLF);
            out.push(b' ');
            width = 1;
        }
        out.extend_from_slice(encoded);
        width += encoded.len();
    }
    out.extend_from_slice(CRLF);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_line_breaks_and_keeps_raw_sections() {
        let text = b"Manifest-Version: 1.0\r\nCreated-By: x\n\nName: a/B.class\rSHA-256-Digest: AA\r\n AA==\r\n\r\n\r\nName: c\r\nX: y\r\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.main().get("created-by"), Some("x"));
        assert_eq!(
            m.main().raw().unwrap(),
            b"Manifest-Version: 1.0\r\nCreated-By: x\n\n"
        );
        assert_eq!(m.sections().len(), 2);
        let a = m.section("a/B.class").unwrap();
        assert_eq!(a.get("SHA-256-Digest"), Some("AAAA=="));
        assert_eq!(
            a.raw().unwrap(),
            b"Name: a/B.class\rSHA-256-Digest: AA\r\n AA==\r\n\r\n\r\n"
        );
        // Unmodified sections round-trip byte for byte; the unterminated last
        // section gets its closing blank line.
        let out = m.to_bytes().unwrap();
        assert!(out.starts_with(&text[..]));
        assert_eq!(&out[text.len()..], b"\r\n");
    }

    #[test]
    fn long_values_wrap_at_72_bytes() {
        let mut m = Manifest::new("t");
        let long = "x".repeat(200);
        m.main_mut().set("Class-Path", &long);
        let out = m.to_bytes().unwrap();
        for line in out.split(|b| *b == b'\n') {
            assert!(line.len() <= 73, "{}", line.len()); // 72 + CR
        }
        let back = Manifest::parse(&out).unwrap();
        assert_eq!(back.main().get("Class-Path"), Some(long.as_str()));
    }

    #[test]
    fn jdk_split_multibyte_characters_are_joined() {
        // The JDK splits at 72 bytes even inside a character; joining bytes
        // before decoding restores it.
        let text = "Manifest-Version: 1.0\r\nX: é\r\n".as_bytes();
        let mut split = text[..text.len() - 3].to_vec(); // up to the first byte of é
        split.extend_from_slice(b"\r\n ");
        split.extend_from_slice(&text[text.len() - 3..]);
        let m = Manifest::parse(&split).unwrap();
        assert_eq!(m.main().get("X"), Some("é"));
    }

    #[test]
    fn malformed_manifests_give_typed_errors() {
        let cases: &[(&[u8], ManifestError)] = &[
            (
                b"Manifest-Version: 1.0",
                ManifestError::UnterminatedLastLine { line: 1 },
            ),
            (
                b"Manifest-Version 1.0\r\n",
                ManifestError::MalformedHeader { line: 1 },
            ),
            (
                b"Manifest-Version:1.0\r\n",
                ManifestError::MalformedHeader { line: 1 },
            ),
            (b" x\r\n", ManifestError::OrphanContinuation { line: 1 }),
            (
                b"Bad Name: x\r\n",
                ManifestError::InvalidHeaderName { line: 1 },
            ),
            (b"Name: x\r\n", ManifestError::NameInMainSection { line: 1 }),
            (
                b"A: 1\r\n\r\nX: y\r\n",
                ManifestError::SectionWithoutName { line: 3 },
            ),
            (
                b"A: 1\r\na: 2\r\n",
                ManifestError::DuplicateHeader {
                    line: 2,
                    header: "a".into(),
                },
            ),
            (
                b"A: 1\r\n\r\nName: n\r\n\r\nName: n\r\n",
                ManifestError::DuplicateSection {
                    line: 5,
                    name: "n".into(),
                },
            ),
            (b"A: \xff\r\n", ManifestError::InvalidValue { line: 1 }),
            (b"A: a\0b\r\n", ManifestError::InvalidValue { line: 1 }),
        ];
        for (input, expected) in cases {
            assert_eq!(
                &Manifest::parse(input).unwrap_err(),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let long = format!("A: {}\r\n", "x".repeat(MAX_MANIFEST_LINE_BYTES));
        assert!(matches!(
            Manifest::parse(long.as_bytes()),
            Err(ManifestError::LineTooLong { .. })
        ));
    }

    #[test]
    fn writer_refuses_bad_headers() {
        let mut m = Manifest::new("t");
        m.main_mut().set("Bad Name", "x");
        assert!(m.to_bytes().is_err());
        let mut m = Manifest::new("t");
        m.main_mut().set("X", "a\nb");
        assert!(m.to_bytes().is_err());
    }
}

//! Property tests: manifest write → parse round trip (line wrapping at 72
//! bytes, multibyte UTF-8 never split), and the readers never panic on
//! arbitrary or mutated input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod zipgen;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use sigil_jar::{Archive, HashAlgorithm, Manifest, Section, SignOptions, SignerName};

fn header_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9_-]{0,69}".prop_filter("reserved", |n| !n.eq_ignore_ascii_case("Name"))
}

/// Printable text including multibyte characters (2, 3 and 4 bytes).
fn value() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            "[ -~]",
            Just("é".to_owned()),
            Just("ベ".to_owned()),
            Just("😀".to_owned()),
            "\\PC"
        ],
        0..120,
    )
    .prop_map(|parts| parts.concat())
}

fn section_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    // Keyed by lower-case name: header names are unique per section, ignoring case.
    btree_map("[a-z][a-z0-9_-]{0,30}", (header_name(), value()), 0..6).prop_map(|m| {
        m.into_values()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("Name"))
            .collect()
    })
}

fn dedup_case_insensitive(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::new();
    headers
        .into_iter()
        .filter(|(n, _)| seen.insert(n.to_ascii_lowercase()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn manifest_write_parse_round_trip(
        main in section_headers(),
        sections in btree_map(value().prop_filter("empty", |v| !v.is_empty()), section_headers(), 0..5),
    ) {
        let mut manifest = Manifest::new("proptest");
        for (n, v) in dedup_case_insensitive(main) {
            manifest.main_mut().set(&n, &v);
        }
        for (entry, headers) in &sections {
            let mut s = Section::with_name(entry);
            for (n, v) in dedup_case_insensitive(headers.clone()) {
                s.set(&n, &v);
            }
            manifest.push_section(s);
        }
        let bytes = manifest.to_bytes().unwrap();
        for line in bytes.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            prop_assert!(line.len() <= 72, "line of {} bytes", line.len());
            // Every line is valid UTF-8 on its own: no character was split.
            prop_assert!(std::str::from_utf8(line).is_ok());
        }
        let parsed = Manifest::parse(&bytes).unwrap();
        prop_assert_eq!(parsed.main().attributes(), manifest.main().attributes());
        prop_assert_eq!(parsed.sections().len(), manifest.sections().len());
        for (p, m) in parsed.sections().iter().zip(manifest.sections()) {
            prop_assert_eq!(p.attributes(), m.attributes());
        }
        // Unmodified sections are written back byte for byte.
        prop_assert_eq!(parsed.to_bytes().unwrap(), bytes);
    }

    #[test]
    fn manifest_parser_never_panics(data in vec(any::<u8>(), 0..2048)) {
        if let Ok(m) = Manifest::parse(&data) {
            let written = m.to_bytes().unwrap();
            prop_assert!(Manifest::parse(&written).is_ok());
        }
    }

    #[test]
    fn archive_reader_never_panics_on_arbitrary_bytes(data in vec(any::<u8>(), 0..4096)) {
        if let Ok(archive) = Archive::from_source(data) {
            for e in archive.entries() {
                let _ = archive.entry_digest(e, HashAlgorithm::Sha256);
            }
        }
    }

    #[test]
    fn archive_reader_never_panics_on_mutated_archives(
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        truncate in any::<Option<prop::sample::Index>>(),
    ) {
        let mut bytes = zipgen::build(
            &[
                zipgen::stored("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\n\r\nName: a.txt\r\nX: y\r\n\r\n"),
                zipgen::stored("a.txt", b"hello"),
                zipgen::deflated("b/c.class", &[42u8; 300]),
            ],
            None,
        );
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Some(at) = truncate {
            bytes.truncate(at.index(bytes.len()));
        }
        if let Ok(archive) = Archive::from_source(bytes) {
            let options = SignOptions::new(SignerName::new("P").unwrap(), HashAlgorithm::Sha384);
            let _ = sigil_jar::prepare_archive(&archive, &options);
            let _ = sigil_jar::verify_archive(&archive);
        }
    }
}

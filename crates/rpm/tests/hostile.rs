//! Hostile and broken packages: each refused with a clear error; and property tests of the
//! header reader and writer (any bytes are refused or read, never a panic; a header written
//! reads back as the same entries).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Cursor;

use proptest::prelude::*;
use sigil_rpm::{Entry, Header, RpmError, read_package, signature_header_bytes};

use sigil_testkit::builders as build;

fn refused(bytes: Vec<u8>) -> String {
    match read_package(&mut Cursor::new(bytes)) {
        Err(e @ (RpmError::Malformed(_) | RpmError::Unsupported(_))) => e.to_string(),
        other => panic!("not refused as malformed: {other:?}"),
    }
}

#[test]
fn broken_packages_are_refused_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(build::rpmbuild_package(dir.path())).unwrap();
    read_package(&mut Cursor::new(good.clone())).unwrap();

    // A truncated lead, a bad magic, a lead of another format.
    assert!(refused(good[..50].to_vec()).contains("ends inside the lead"));
    let mut bad = good.clone();
    bad[0] = 0;
    assert!(refused(bad).contains("magic"));
    let mut bad = good.clone();
    bad[4] = 2;
    assert!(refused(bad).contains("format 3"));
    // A signature header whose entry count points past the file, or is absurd.
    let mut bad = good.clone();
    bad[96 + 8..96 + 12].copy_from_slice(&40_000u32.to_be_bytes());
    let e = refused(bad);
    assert!(
        e.contains("ends inside the signature header") || e.contains("entries"),
        "{e}"
    );
    let mut bad = good.clone();
    bad[96 + 12..96 + 16].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(refused(bad).contains("at most"));
    // A signature header whose region lies.
    let mut bad = good.clone();
    bad[96 + 16..96 + 20].copy_from_slice(&1000u32.to_be_bytes());
    assert!(refused(bad).contains("region"));
    // Cut inside the main header.
    let sig = read_package(&mut Cursor::new(good.clone())).unwrap();
    let cut = (sig.header_start + 40) as usize;
    assert!(refused(good[..cut].to_vec()).contains("main header"));
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        (100u32..5000, proptest::collection::vec(any::<u8>(), 1..64)).prop_map(|(tag, data)| {
            Entry {
                tag,
                kind: 7,
                count: data.len() as u32,
                data,
            }
        }),
        (100u32..5000, proptest::collection::vec(any::<u32>(), 1..8)).prop_map(|(tag, words)| {
            Entry {
                tag,
                kind: 4,
                count: words.len() as u32,
                data: words.iter().flat_map(|w| w.to_be_bytes()).collect(),
            }
        }),
        (100u32..5000, "[a-z0-9]{0,20}").prop_map(|(tag, s)| {
            let mut data = s.into_bytes();
            data.push(0);
            Entry {
                tag,
                kind: 6,
                count: 1,
                data,
            }
        }),
    ]
}

proptest! {
    #[test]
    fn a_written_header_reads_back(entries in proptest::collection::vec(entry(), 0..12)) {
        let mut unique: Vec<Entry> = Vec::new();
        for e in entries {
            if !unique.iter().any(|u| u.tag == e.tag) {
                unique.push(e);
            }
        }
        let header = Header { entries: unique };
        let bytes = header.to_bytes();
        let read = Header::parse_signature(&bytes).unwrap();
        let mut expected = header.entries.clone();
        expected.sort_by_key(|e| e.tag);
        prop_assert_eq!(read.entries, expected);
        prop_assert_eq!(signature_header_bytes(&header).len() % 8, 0);
    }

    #[test]
    fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Header::parse_signature(&bytes);
        let mut package = vec![0xed, 0xab, 0xee, 0xdb, 3, 0];
        package.resize(96, 0);
        package[78..80].copy_from_slice(&5u16.to_be_bytes());
        package.extend_from_slice(&bytes);
        let _ = read_package(&mut Cursor::new(package));
    }
}

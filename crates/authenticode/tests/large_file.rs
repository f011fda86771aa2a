//! (c) A PE file of more than 200 MB (a small program padded with trailing
//! data, generated in a temporary directory) is hashed, signed, embedded and
//! verified with flat memory: the process's peak resident set grows by far
//! less than the file size. Alone in its test binary so that no other test
//! moves the peak.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::time::Instant;

use common::{Build, TestPki, build_pe, osslsigncode_verify};
use sigil_authenticode::{
    EmbedMode, embed_signature, image_digest_file, sign_image_digest, verify_file,
};
use sigil_keys::HashAlgorithm;

/// Trailing data appended to the program (odd length: embedding must pad).
const TRAILING_LEN: usize = 200 * 1024 * 1024 + 5;
/// Allowed growth of the peak resident set while hashing, embedding and verifying.
const MAX_RSS_GROWTH: u64 = 48 * 1024 * 1024;

/// Peak resident set size of this process (Linux `VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn large_pe_hashes_signs_and_verifies_with_flat_memory() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "large");
    let file = build_pe(dir.path(), Build::Exe64);
    {
        let mut out = OpenOptions::new().append(true).open(&file).unwrap();
        let block: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        let mut left = TRAILING_LEN;
        while left > 0 {
            let n = left.min(block.len());
            out.write_all(&block[..n]).unwrap();
            left -= n;
        }
    }
    let size = fs::metadata(&file).unwrap().len();
    assert!(size >= 200_000_000);

    let baseline = peak_rss();
    let start = Instant::now();
    let digest = image_digest_file(&file, HashAlgorithm::Sha256).unwrap();
    let elapsed = start.elapsed();
    eprintln!(
        "hashed {size} bytes in {elapsed:?} ({:.0} MB/s, unoptimised test build)",
        size as f64 / elapsed.as_secs_f64() / 1e6
    );

    let pkcs7 = sign_image_digest(
        &pki.signer(HashAlgorithm::Sha256),
        &digest.digest,
        None,
        None,
    )
    .unwrap();
    let report = embed_signature(&file, &file, &pkcs7, EmbedMode::Replace).unwrap();
    assert_eq!(report.file_len, fs::metadata(&file).unwrap().len());
    let verified = verify_file(&file).unwrap();
    assert!(verified.is_valid(), "{verified:#?}");

    let growth = peak_rss().saturating_sub(baseline);
    eprintln!("peak RSS grew by {growth} bytes");
    assert!(
        growth < MAX_RSS_GROWTH,
        "memory is not flat: peak RSS grew by {growth} bytes for a {size}-byte file"
    );

    osslsigncode_verify(&file, &pki.root_pem).assert_valid(1, report.checksum);
}

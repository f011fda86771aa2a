//! Fuzzes the PowerShell script side of `sigil-authenticode` over in-memory bytes: the
//! encoding check, the search for the `# SIG # Begin signature block` line, the strict
//! reading of the block (base64, DER) and the digest over the text as UTF-16LE.
//!
//! Invariants checked besides "never panics": a digest has its algorithm's length, and
//! text that parses as an unsigned script keeps its digest when a line is appended to it
//! only if the digest changes (the whole text is covered).
//!
//! Seed corpus: unsigned scripts in UTF-8 (with and without BOM, LF and CRLF) and UTF-16LE,
//! scripts signed by osslsigncode, and fake signature blocks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_authenticode::script_digest;
use sigil_keys::HashAlgorithm;

fuzz_target!(|data: &[u8]| {
    let Ok(digest) = script_digest(data, HashAlgorithm::Sha256) else {
        return;
    };
    assert_eq!(digest.len(), 32);
    if data.is_empty() || data.starts_with(&[0xff, 0xfe]) {
        return;
    }
    // UTF-8 text without a block: one more byte of text changes the digest.
    let mut longer = data.to_vec();
    longer.push(b'x');
    if let Ok(other) = script_digest(&longer, HashAlgorithm::Sha256)
        && !data.windows(13).any(|w| w == b"# SIG # Begin")
    {
        assert_ne!(other, digest);
    }
});

//! Property tests of the PowerShell script parser and digest: arbitrary and mutated bytes never
//! panic; the digest of UTF-8 text is the hash of its UTF-16LE form; a signature block
//! appended to a script (either line ending, either encoding) leaves its digest unchanged.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::OnceLock;

use base64::Engine as _;
use common::TestPki;
use proptest::prelude::*;
use sigil_authenticode::{Subject, script_digest};
use sigil_keys::{HashAlgorithm, Hasher};

/// A real Script signature (DER), made once.
fn pkcs7() -> &'static [u8] {
    static DER: OnceLock<Vec<u8>> = OnceLock::new();
    DER.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::new(dir.path(), "proptest-script");
        pki.sign(Subject::Script, HashAlgorithm::Sha256, &[9; 32])
    })
}

/// The block as signtool writes it, with `eol` line breaks.
fn block(eol: &str) -> String {
    let base64 = base64::engine::general_purpose::STANDARD.encode(pkcs7());
    let mut text = format!("{eol}# SIG # Begin signature block");
    for chunk in base64.as_bytes().chunks(64) {
        text.push_str(&format!("{eol}# {}", std::str::from_utf8(chunk).unwrap()));
    }
    text.push_str(&format!("{eol}# SIG # End signature block{eol}"));
    text
}

fn utf16(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    let mut hasher = Hasher::new(HashAlgorithm::Sha256);
    hasher.update(bytes);
    hasher.finalize()
}

/// Script text: any characters, lines ending in LF or CR LF, never a header line.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(("\\PC{0,40}", prop_oneof!["\n", "\r\n"]), 1..8).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(line, eol)| format!("{}{eol}", line.replace("# SIG #", "#SIG#")))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = script_digest(&bytes, HashAlgorithm::Sha256);
    }

    #[test]
    fn mutated_signed_scripts_never_panic(
        text in text(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut signed = format!("{text}{}", block("\r\n")).into_bytes();
        let i = at.index(signed.len());
        signed[i] = byte;
        let _ = script_digest(&signed, HashAlgorithm::Sha256);
        signed.truncate(cut.index(signed.len()));
        let _ = script_digest(&signed, HashAlgorithm::Sha256);
    }

    #[test]
    fn the_digest_is_over_the_utf16le_text_without_the_block(text in text(), crlf in any::<bool>()) {
        let expected = sha256(&utf16(&text)[2..]);
        prop_assert_eq!(script_digest(text.as_bytes(), HashAlgorithm::Sha256).unwrap(), expected.clone());
        let eol = if crlf { "\r\n" } else { "\n" };
        // The block's leading line break is not the text's: only when the text's last line
        // break matches the header line's does the block start right after the text.
        let signed = format!("{}{}", text.trim_end_matches(['\r', '\n']), block(eol));
        let unsigned = text.trim_end_matches(['\r', '\n']).to_owned();
        prop_assume!(!unsigned.is_empty());
        let digest = script_digest(signed.as_bytes(), HashAlgorithm::Sha256).unwrap();
        prop_assert_eq!(digest, sha256(&utf16(&unsigned)[2..]));
        // The same in UTF-16LE (hashed with its BOM).
        let digest = script_digest(&utf16(&signed), HashAlgorithm::Sha256).unwrap();
        prop_assert_eq!(digest, sha256(&utf16(&unsigned)));
    }
}

//! `sigil verify`: printing the RFC 3161 time-stamp of a signature.
//!
//! The token's own signature and its imprint over the signature value are checked; the
//! TSA certificate's chain is not (use `osslsigncode verify -TSA-CAfile`, `jarsigner
//! -verify` or `openssl ts -verify -CAfile`).

use std::path::Path;

use sigil_pki::stamp::{TokenInfo, find_stamp, read_response_token};

/// Prints the time-stamp of the signature `pkcs7` (a DER `ContentInfo`); false when there
/// is one and it does not verify or does not stamp this signature.
pub(crate) fn print_embedded(indent: &str, pkcs7: &[u8]) -> bool {
    match find_stamp(pkcs7) {
        Ok(None) => {
            out!("{indent}time-stamp:   none");
            true
        }
        Ok(Some(found)) => print_token(indent, &found.info, found.imprint_ok),
        Err(e) => {
            out!("{indent}time-stamp:   INVALID: {e}");
            false
        }
    }
}

/// Prints the time-stamp in the `TimeStampResp` file `tsr` over the raw signature
/// `signature`; false when it does not verify or stamps something else.
pub(crate) fn print_file(indent: &str, tsr: &Path, signature: &[u8]) -> bool {
    let checked = std::fs::read(tsr)
        .map_err(|e| format!("cannot read {}: {e}", tsr.display()))
        .and_then(|der| read_response_token(&der).map_err(|e| e.to_string()));
    match checked {
        Ok(info) => {
            let imprint_ok = info.stamps(signature);
            print_token(indent, &info, imprint_ok)
        }
        Err(e) => {
            out!("{indent}time-stamp:   INVALID ({}): {e}", tsr.display());
            false
        }
    }
}

fn print_token(indent: &str, info: &TokenInfo, imprint_ok: bool) -> bool {
    out!(
        "{indent}time-stamp:   {} by {}, imprint {} ({})",
        info.time,
        info.tsa,
        if imprint_ok { "ok" } else { "MISMATCH" },
        info.hash.as_str()
    );
    imprint_ok
}

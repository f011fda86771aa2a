//! The attribute certificate table: a list of `WIN_CERTIFICATE` entries.
//!
//! PE Format, *The Attribute Certificate Table (Image Only)*:
//!
//! ```text
//! Offset Size Field             Description
//! 0      4    dwLength          Specifies the length of the attribute certificate entry.
//! 4      2    wRevision         Contains the certificate version number (0x0200 = WIN_CERT_REVISION_2_0).
//! 6      2    wCertificateType  Specifies the type of content in bCertificate (0x0002 = WIN_CERT_TYPE_PKCS_SIGNED_DATA).
//! 8      See  bCertificate      Contains a certificate, such as an Authenticode signature.
//! ```
//!
//! Each entry starts on an 8-byte boundary. Like signtool and osslsigncode,
//! Sigil writes `dwLength` *including* the padding, so the table size in the
//! data directory equals the first entry's `dwLength`.

use crate::error::{AuthenticodeError, Result};
use crate::pe::{CERT_TABLE_ALIGN, le_u16, le_u32, padding_to, to_usize};

/// `WIN_CERT_REVISION_2_0`.
pub const WIN_CERT_REVISION_2_0: u16 = 0x0200;
/// `WIN_CERT_TYPE_PKCS_SIGNED_DATA`.
pub const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 0x0002;
/// Length of the `WIN_CERTIFICATE` header.
const HEADER_LEN: usize = 8;
/// Largest attribute certificate table Sigil reads or writes (real ones are tens of KiB):
/// what `sigil_pki::cms` verifies, plus the entry header.
pub const MAX_CERT_TABLE_LEN: u64 = sigil_pki::cms::MAX_SIGNED_DATA_LEN as u64 + HEADER_LEN as u64;
/// Most `WIN_CERTIFICATE` entries read from one table.
pub const MAX_CERT_ENTRIES: usize = 16;

/// One `WIN_CERTIFICATE` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WinCertificate<'a> {
    /// `wRevision`.
    pub(crate) revision: u16,
    /// `wCertificateType`.
    pub(crate) cert_type: u16,
    /// `bCertificate` (for PKCS#7, the DER followed by any padding).
    pub(crate) data: &'a [u8],
}

impl WinCertificate<'_> {
    /// Whether this entry is an Authenticode PKCS#7 signature.
    pub(crate) fn is_pkcs7(&self) -> bool {
        self.revision == WIN_CERT_REVISION_2_0 && self.cert_type == WIN_CERT_TYPE_PKCS_SIGNED_DATA
    }
}

/// Encodes a PKCS#7 signature as a one-entry attribute certificate table.
pub(crate) fn encode_table(pkcs7_der: &[u8]) -> Result<Vec<u8>> {
    let len = (HEADER_LEN + pkcs7_der.len()) as u64;
    let padded = len + padding_to(len, CERT_TABLE_ALIGN);
    if padded > MAX_CERT_TABLE_LEN {
        return Err(AuthenticodeError::TooLarge {
            what: "signature",
            len: padded,
            max: MAX_CERT_TABLE_LEN,
        });
    }
    let mut table = Vec::with_capacity(to_usize(padded));
    // Fits: padded ≤ MAX_CERT_TABLE_LEN < 2^32.
    table.extend_from_slice(&(padded as u32).to_le_bytes());
    table.extend_from_slice(&WIN_CERT_REVISION_2_0.to_le_bytes());
    table.extend_from_slice(&WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_le_bytes());
    table.extend_from_slice(pkcs7_der);
    table.resize(to_usize(padded), 0);
    Ok(table)
}

/// Splits an attribute certificate table into its entries.
pub(crate) fn parse_table(table: &[u8]) -> Result<Vec<WinCertificate<'_>>> {
    let bad = |reason: String| AuthenticodeError::BadCertificateTable { reason };
    let mut entries = Vec::new();
    let mut rest = table;
    while !rest.is_empty() {
        if entries.len() == MAX_CERT_ENTRIES {
            return Err(bad(format!("more than {MAX_CERT_ENTRIES} entries")));
        }
        let header = rest.get(..HEADER_LEN).ok_or_else(|| {
            bad(format!(
                "{} trailing bytes are too short for an entry header",
                rest.len()
            ))
        })?;
        let length = to_usize(u64::from(le_u32(header, 0)));
        let revision = le_u16(header, 4);
        let cert_type = le_u16(header, 6);
        if length < HEADER_LEN || length > rest.len() {
            return Err(bad(format!(
                "an entry declares dwLength {length}, but {} bytes remain in the table",
                rest.len()
            )));
        }
        let data = rest.get(HEADER_LEN..length).unwrap_or_default();
        entries.push(WinCertificate {
            revision,
            cert_type,
            data,
        });
        // The next entry starts on an 8-byte boundary (the padding may be missing at the end).
        let advance =
            (length + to_usize(padding_to(length as u64, CERT_TABLE_ALIGN))).min(rest.len());
        rest = rest.get(advance..).unwrap_or_default();
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_pads_and_counts_padding() {
        let table = encode_table(&[0x30, 0x03, 1, 2, 3]).unwrap();
        assert_eq!(table.len(), 16);
        assert_eq!(&table[..8], &[16, 0, 0, 0, 0, 2, 2, 0]);
        let entries = parse_table(&table).unwrap();
        assert_eq!(entries.len(), 1);
        assert!(entries[0].is_pkcs7());
        assert_eq!(entries[0].data, &[0x30, 0x03, 1, 2, 3, 0, 0, 0]);
    }

    #[test]
    fn bad_lengths_are_refused() {
        for table in [
            vec![4, 0, 0, 0, 0, 2, 2, 0],
            vec![64, 0, 0, 0, 0, 2, 2, 0],
            vec![8, 0, 0, 0, 0, 2, 2, 0, 1, 2, 3],
        ] {
            assert!(matches!(
                parse_table(&table),
                Err(AuthenticodeError::BadCertificateTable { .. })
            ));
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(table in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_table(&table);
        }
    }
}

//! What an Authenticode signature is for: the kind of file ("subject") it signs.
//!
//! Every member of the Authenticode family signs the same CMS SignedData over an
//! `SpcIndirectDataContent`; they differ in what the client hashes, in the
//! `SpcIndirectDataContent.data` that names the kind of file (the "subject interface
//! package", SIP, Windows uses to check it), and in where the signature is stored.
//! [`Subject`] is the one type naming them, on the client (detection, hashing,
//! embedding), on the server (the content it signs) and in `sigil verify`.

use std::fmt;

/// The kind of file an Authenticode signature signs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// A PE image (EXE, DLL, SYS, EFI…): `SpcPeImageData`, the attribute certificate table.
    #[default]
    Pe,
    /// A Windows Installer package (compound file): `SpcSipInfo` with the MSI SIP GUID,
    /// the `\u{5}DigitalSignature` stream.
    Msi,
    /// A cabinet file: `SPC_CAB_DATA` with the obsolete file link, the reserved header area.
    Cab,
    /// A PowerShell script (`.ps1`, `.psm1`, `.psd1`): `SpcSipInfo` with the PowerShell SIP
    /// GUID, the `# SIG # Begin signature block` trailer.
    Script,
    /// A catalog file (`.cat`): the certificate trust list is the signed content itself.
    Catalog,
}

impl Subject {
    /// Every subject, in protocol order.
    pub const ALL: [Subject; 5] = [
        Subject::Pe,
        Subject::Msi,
        Subject::Cab,
        Subject::Script,
        Subject::Catalog,
    ];

    /// The wire token (Host API tag `AK`): `PE`, `MSI`, `CAB`, `SCRIPT`, `CATALOG`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Subject::Pe => "PE",
            Subject::Msi => "MSI",
            Subject::Cab => "CAB",
            Subject::Script => "SCRIPT",
            Subject::Catalog => "CATALOG",
        }
    }

    /// Reads a wire token (exact, case-sensitive).
    pub fn parse(token: &str) -> Option<Subject> {
        Subject::ALL.into_iter().find(|s| s.as_str() == token)
    }

    /// What a person calls it, for messages.
    pub const fn description(self) -> &'static str {
        match self {
            Subject::Pe => "PE image",
            Subject::Msi => "MSI package",
            Subject::Cab => "cabinet file",
            Subject::Script => "PowerShell script",
            Subject::Catalog => "catalog file",
        }
    }

    /// The subject of a file, from its first bytes (at least [`DETECT_LEN`] when the file is
    /// that long) and its lower-case extension; `None` when it is none of them.
    ///
    /// By content: `MZ` with `PE\0\0` at `e_lfanew` (when it lies within `head`) is a PE
    /// image, the compound-file signature is an MSI package, `MSCF` a cabinet, a DER
    /// SEQUENCE holding `signedData` a catalog. Scripts are plain text, so by extension
    /// (`.ps1`, `.psm1`, `.psd1`) and content (no NUL byte in `head` unless it is UTF-16
    /// with a byte-order mark).
    pub fn detect(head: &[u8], extension: &str) -> Option<Subject> {
        if is_pe(head) {
            return Some(Subject::Pe);
        }
        if head.starts_with(&CFB_SIGNATURE) {
            return Some(Subject::Msi);
        }
        if head.starts_with(b"MSCF") {
            return Some(Subject::Cab);
        }
        if is_pkcs7_signed_data(head) {
            return Some(Subject::Catalog);
        }
        if SCRIPT_EXTENSIONS.contains(&extension) && is_text(head) {
            return Some(Subject::Script);
        }
        None
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many leading bytes [`Subject::detect`] looks at.
pub const DETECT_LEN: usize = 4096;

/// Extensions of PowerShell scripts signed as [`Subject::Script`].
pub const SCRIPT_EXTENSIONS: [&str; 3] = ["ps1", "psm1", "psd1"];

/// The compound file binary format's signature (MS-CFB 2.2), the first 8 bytes of an MSI.
pub const CFB_SIGNATURE: [u8; 8] = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];

/// `MZ` and a PE signature at `e_lfanew` within `head`.
fn is_pe(head: &[u8]) -> bool {
    let Some(e_lfanew) = head.get(60..64).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
        return false;
    };
    let Ok(offset) = usize::try_from(u32::from_le_bytes(e_lfanew)) else {
        return false;
    };
    head.starts_with(b"MZ")
        && offset
            .checked_add(4)
            .and_then(|end| head.get(offset..end))
            .is_some_and(|sig| sig == b"PE\0\0")
}

/// A DER `ContentInfo` of type `signedData` (1.2.840.113549.1.7.2): `30 len 06 09 2a864886f70d010702`.
fn is_pkcs7_signed_data(head: &[u8]) -> bool {
    const SIGNED_DATA_OID: [u8; 11] = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
    ];
    let Some((&0x30, rest)) = head.split_first() else {
        return false;
    };
    // Definite length: short form, or long form with 1 to 4 length bytes.
    let skip = match rest.first() {
        Some(&len) if len < 0x80 => 1,
        Some(&len) if (0x81..=0x84).contains(&len) => 1 + usize::from(len & 0x7f),
        _ => return false,
    };
    rest.get(skip..)
        .is_some_and(|body| body.starts_with(&SIGNED_DATA_OID))
}

/// Text: no NUL byte, unless UTF-16 with its byte-order mark.
fn is_text(head: &[u8]) -> bool {
    head.starts_with(&[0xff, 0xfe]) || !head.contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for subject in Subject::ALL {
            assert_eq!(Subject::parse(subject.as_str()), Some(subject));
        }
        assert_eq!(Subject::parse("pe"), None);
        assert_eq!(Subject::default(), Subject::Pe);
    }

    #[test]
    fn detection_by_content() {
        let mut pe = vec![0u8; 256];
        pe[..2].copy_from_slice(b"MZ");
        pe[60] = 128;
        pe[128..132].copy_from_slice(b"PE\0\0");
        assert_eq!(Subject::detect(&pe, "bin"), Some(Subject::Pe));
        assert_eq!(Subject::detect(&pe[..130], "exe"), None);
        assert_eq!(Subject::detect(&CFB_SIGNATURE, "bin"), Some(Subject::Msi));
        assert_eq!(Subject::detect(b"MSCF\0\0\0\0", "x"), Some(Subject::Cab));
        let cat = hex::decode("3082100006092a864886f70d010702a0").unwrap();
        assert_eq!(Subject::detect(&cat, "cat"), Some(Subject::Catalog));
        assert_eq!(Subject::detect(&cat[..8], "cat"), None);
        assert_eq!(
            Subject::detect(b"Write-Host hi\r\n", "ps1"),
            Some(Subject::Script)
        );
        assert_eq!(
            Subject::detect(b"\xff\xfeW\0r\0", "psm1"),
            Some(Subject::Script)
        );
        assert_eq!(Subject::detect(b"Write-Host hi\r\n", "txt"), None);
        assert_eq!(Subject::detect(b"bin\0ary", "ps1"), None);
        assert_eq!(Subject::detect(b"", "ps1"), Some(Subject::Script));
    }
}

//! ASCII armor (RFC 9580 §6): base64 between `BEGIN`/`END` lines with a CRC-24 checksum
//! line (optional in RFC 9580, still written for GnuPG 2.2 and rpm).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::OpenPgpError;

/// Longest armored text [`dearmor`] reads.
pub const MAX_ARMORED_LEN: usize = 64 * 1024;

/// What an armored block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArmorKind {
    /// `PGP SIGNATURE`.
    Signature,
    /// `PGP PUBLIC KEY BLOCK`.
    PublicKey,
}

impl ArmorKind {
    const fn label(self) -> &'static str {
        match self {
            Self::Signature => "PGP SIGNATURE",
            Self::PublicKey => "PGP PUBLIC KEY BLOCK",
        }
    }
}

/// CRC-24 of RFC 9580 §6.1.
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00B7_04CE;
    for byte in data {
        crc ^= u32::from(*byte) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4CFB;
            }
        }
    }
    crc & 0x00FF_FFFF
}

/// Armors `data`.
pub fn armor(kind: ArmorKind, data: &[u8]) -> String {
    let label = kind.label();
    let body = STANDARD.encode(data);
    let mut out = format!("-----BEGIN {label}-----\n\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    let crc = crc24(data).to_be_bytes();
    out.push('=');
    out.push_str(&STANDARD.encode(crc.get(1..).unwrap_or_default()));
    out.push('\n');
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Reads an armored block of `kind` (armor headers are skipped, the checksum is checked when
/// present); bytes that do not start with `-----BEGIN` are returned as they are (binary).
pub fn dearmor(kind: ArmorKind, bytes: &[u8]) -> Result<Vec<u8>, OpenPgpError> {
    let trimmed = bytes.trim_ascii_start();
    if !trimmed.starts_with(b"-----BEGIN ") {
        return Ok(bytes.to_vec());
    }
    if bytes.len() > MAX_ARMORED_LEN {
        return Err(OpenPgpError::Malformed("armored text too long"));
    }
    let text = std::str::from_utf8(trimmed)
        .map_err(|_| OpenPgpError::Malformed("armored text is not ASCII"))?;
    let mut lines = text.lines().map(str::trim_end);
    let begin = format!("-----BEGIN {}-----", kind.label());
    if lines.next() != Some(begin.as_str()) {
        return Err(OpenPgpError::Malformed("wrong armor header line"));
    }
    // Armor headers ("Key: value") end at the first empty line.
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        if !line.contains(": ") {
            return Err(OpenPgpError::Malformed(
                "armor header without a blank line after it",
            ));
        }
    }
    let end = format!("-----END {}-----", kind.label());
    let mut body = String::new();
    let mut checksum = None;
    let mut ended = false;
    for line in lines {
        if line == end {
            ended = true;
            break;
        }
        if let Some(crc) = line.strip_prefix('=') {
            checksum = Some(crc.to_owned());
        } else if checksum.is_none() {
            body.push_str(line);
        } else {
            return Err(OpenPgpError::Malformed("data after the armor checksum"));
        }
    }
    if !ended {
        return Err(OpenPgpError::Malformed("no armor end line"));
    }
    let data = STANDARD
        .decode(body.as_bytes())
        .map_err(|_| OpenPgpError::Malformed("armor body is not base64"))?;
    if let Some(crc) = checksum {
        let expected = crc24(&data).to_be_bytes();
        let given = STANDARD
            .decode(crc.as_bytes())
            .map_err(|_| OpenPgpError::Malformed("armor checksum is not base64"))?;
        if expected.get(1..) != Some(given.as_slice()) {
            return Err(OpenPgpError::Malformed("armor checksum does not match"));
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc24_of_the_rfc_example_input() {
        // CRC-24/OPENPGP check value of "123456789".
        assert_eq!(crc24(b"123456789"), 0x0021_CF02);
    }

    #[test]
    fn a_changed_body_fails_the_checksum() {
        let text = armor(ArmorKind::Signature, b"some signature bytes");
        let tampered = text.replacen("c29tZ", "c29uZ", 1);
        assert!(dearmor(ArmorKind::Signature, tampered.as_bytes()).is_err());
        assert!(dearmor(ArmorKind::PublicKey, text.as_bytes()).is_err());
    }

    proptest! {
        #[test]
        fn round_trips(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let text = armor(ArmorKind::Signature, &data);
            prop_assert_eq!(dearmor(ArmorKind::Signature, text.as_bytes()).unwrap(), data);
        }

        #[test]
        fn never_panics(text in "-----BEGIN PGP SIGNATURE-----\n[ -~\n]{0,300}") {
            let _ = dearmor(ArmorKind::Signature, text.as_bytes());
        }
    }
}

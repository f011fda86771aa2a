//! A PowerShell script as the PowerShell SIP and osslsigncode 2.9 (`script.c`) read it: its
//! encoding, where its signature block starts, and the text that is hashed.
//!
//! Hand-written: no maintained crate reads these blocks. The rules:
//!
//! - A script starting with the bytes `FF FE` is UTF-16LE and hashed as it is (BOM included);
//!   any other script must be UTF-8 (a UTF-8 BOM is kept: it becomes U+FEFF) and is hashed
//!   converted to UTF-16LE. Invalid UTF-8 is refused (osslsigncode would hash U+FFFD for it,
//!   Windows would read the file in the ANSI code page: no digest would agree).
//! - The signature block starts at the first line (ended by LF) beginning with
//!   `# SIG # Begin signature block`; the hashed text ends at the line break before it (its
//!   CR too when the header line ends with CR LF). Lines are not otherwise normalised: CR LF
//!   and LF are hashed as they are.
//! - Sigil reads a block strictly (header, `# ` lines of base64, footer, end of file) and
//!   refuses anything else with [`ScriptError::BadSignatureBlock`], so that text hidden after
//!   a fake header is never cut off by signing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::ScriptError;
use crate::signature::first_der_element;
use crate::wincert::MAX_CERT_TABLE_LEN;

/// The block's first line.
pub(crate) const HEADER: &str = "# SIG # Begin signature block";
/// The block's last line.
pub(crate) const FOOTER: &str = "# SIG # End signature block";
/// Base64 characters per block line, as signtool and osslsigncode write them.
const LINE_CHARS: usize = 64;

/// How the script's bytes encode its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// UTF-8, with or without a BOM (anything not starting with `FF FE`).
    Utf8,
    /// UTF-16LE, starting with the BOM `FF FE`.
    Utf16Le,
}

/// A script split into the signed text and its signature block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Script {
    /// The encoding.
    pub(crate) encoding: Encoding,
    /// Byte offset of the end of the hashed text: the start of the signature block (its
    /// leading line break), or the script's length when it has none.
    pub(crate) content_end: usize,
    /// The DER PKCS#7 `ContentInfo` of the existing block.
    pub(crate) signature: Option<Vec<u8>>,
}

impl Script {
    /// Reads `bytes`.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Script, ScriptError> {
        let encoding = if bytes.starts_with(&[0xff, 0xfe]) {
            if !bytes.len().is_multiple_of(2) {
                return Err(ScriptError::OddUtf16Length { len: bytes.len() });
            }
            Encoding::Utf16Le
        } else {
            std::str::from_utf8(bytes).map_err(|e| ScriptError::NotUtf8 {
                offset: e.valid_up_to(),
            })?;
            Encoding::Utf8
        };
        let Some(start) = block_start(bytes, encoding) else {
            return Ok(Script {
                encoding,
                content_end: bytes.len(),
                signature: None,
            });
        };
        if start == 0 {
            return Err(ScriptError::OnlySignatureBlock);
        }
        let block = bytes.get(start..).unwrap_or_default();
        let signature =
            read_block(block, encoding).map_err(|reason| ScriptError::BadSignatureBlock {
                offset: start,
                reason,
            })?;
        Ok(Script {
            encoding,
            content_end: start,
            signature: Some(signature),
        })
    }
}

/// The characters of `bytes` with their byte offsets (code units for UTF-16).
fn units(bytes: &[u8], encoding: Encoding) -> Box<dyn Iterator<Item = (usize, u32)> + '_> {
    match encoding {
        Encoding::Utf8 => Box::new(
            std::str::from_utf8(bytes)
                .unwrap_or_default()
                .char_indices()
                .map(|(i, c)| (i, u32::from(c))),
        ),
        Encoding::Utf16Le => Box::new(
            bytes
                .chunks_exact(2)
                .enumerate()
                .map(|(i, u)| (2 * i, u32::from(le_unit(u)))),
        ),
    }
}

/// A UTF-16LE code unit from a 2-byte chunk.
fn le_unit(chunk: &[u8]) -> u16 {
    u16::from_le_bytes(<[u8; 2]>::try_from(chunk).unwrap_or_default())
}

/// Where the signature block starts, as osslsigncode finds it: at the line break before the
/// first LF-ended line that begins with [`HEADER`], one unit earlier when that line ends with
/// CR LF (then 0 means the header is the first line).
fn block_start(bytes: &[u8], encoding: Encoding) -> Option<usize> {
    let unit = match encoding {
        Encoding::Utf8 => 1,
        Encoding::Utf16Le => 2,
    };
    let header: Vec<u32> = HEADER.chars().map(u32::from).collect();
    let mut line_break: usize = 0;
    let mut matched = 0;
    let mut previous = None;
    for (offset, c) in units(bytes, encoding) {
        if c == u32::from(b'\n') {
            if matched == header.len() {
                return Some(match previous == Some(u32::from(b'\r')) {
                    true => line_break.saturating_sub(unit),
                    false => line_break,
                });
            }
            line_break = offset;
            matched = 0;
        } else if matched < header.len() && header.get(matched) == Some(&c) {
            matched += 1;
        } else if matched < header.len() {
            // Not the header: skip to the next line.
            matched = usize::MAX;
        }
        previous = Some(c);
    }
    None
}

/// Decodes a block (from its leading line break to the end of the script) strictly: the DER
/// PKCS#7 it holds, or what is wrong.
fn read_block(block: &[u8], encoding: Encoding) -> Result<Vec<u8>, String> {
    let text = match encoding {
        Encoding::Utf8 => std::str::from_utf8(block)
            .map_err(|_| "not UTF-8".to_owned())?
            .to_owned(),
        Encoding::Utf16Le => {
            let units: Vec<u16> = block.chunks_exact(2).map(le_unit).collect();
            String::from_utf16(&units).map_err(|_| "not UTF-16".to_owned())?
        }
    };
    let text = text
        .strip_prefix("\r\n")
        .or_else(|| text.strip_prefix('\n'))
        .ok_or("no line break before the header")?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    if lines.next() != Some(HEADER) {
        return Err("the header line has more text after it".into());
    }
    let mut base64 = String::new();
    loop {
        match lines.next() {
            None => return Err(format!("no \"{FOOTER}\" line")),
            Some("") if lines.clone().next().is_none() => {
                return Err(format!("no \"{FOOTER}\" line"));
            }
            Some(FOOTER) => break,
            Some(line) => {
                let data = line
                    .strip_prefix("# ")
                    .ok_or("a line inside the block does not start with \"# \"")?;
                if !data
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
                {
                    return Err("a line inside the block is not base64".into());
                }
                base64.push_str(data);
                if base64.len() as u64 > MAX_CERT_TABLE_LEN * 2 {
                    return Err("the block is too large".into());
                }
            }
        }
    }
    // At most one line break after the footer, then the end of the script.
    match (lines.next(), lines.next()) {
        (None, _) | (Some(""), None) => {}
        _ => return Err(format!("text follows the \"{FOOTER}\" line")),
    }
    let der = STANDARD
        .decode(base64.as_bytes())
        .map_err(|e| format!("the base64 does not decode: {e}"))?;
    let element = first_der_element(&der).map_err(|e| e.to_string())?;
    if element.len() != der.len() {
        return Err("bytes after the PKCS#7 structure".into());
    }
    Ok(der)
}

/// The block holding `pkcs7_der`, encoded like the script: CR LF before each line (header,
/// 64 base64 characters each, footer) and after the footer, as osslsigncode writes it.
pub(crate) fn encode_block(pkcs7_der: &[u8], encoding: Encoding) -> Vec<u8> {
    let base64 = STANDARD.encode(pkcs7_der);
    let mut text = format!("\r\n{HEADER}");
    for chunk in base64.as_bytes().chunks(LINE_CHARS) {
        text.push_str("\r\n# ");
        text.push_str(&String::from_utf8_lossy(chunk));
    }
    text.push_str(&format!("\r\n{FOOTER}\r\n"));
    encode(&text, encoding)
}

/// `text` in the script's encoding.
fn encode(text: &str, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Utf8 => text.as_bytes().to_vec(),
        Encoding::Utf16Le => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
    }
}

/// Feeds the hashed text (`bytes[..content_end]` as UTF-16LE) to `sink` in pieces.
pub(crate) fn hashed_text(bytes: &[u8], script: &Script, mut sink: impl FnMut(&[u8])) {
    let content = bytes.get(..script.content_end).unwrap_or_default();
    match script.encoding {
        Encoding::Utf16Le => sink(content),
        Encoding::Utf8 => {
            let text = std::str::from_utf8(content).unwrap_or_default();
            let mut buffer = Vec::with_capacity(64 * 1024);
            for unit in text.encode_utf16() {
                buffer.extend_from_slice(&unit.to_le_bytes());
                if buffer.len() >= 64 * 1024 {
                    sink(&buffer);
                    buffer.clear();
                }
            }
            sink(&buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str) -> Vec<u8> {
        let mut bytes = vec![0xff, 0xfe];
        bytes.extend(encode(text, Encoding::Utf16Le));
        bytes
    }

    /// A DER element that looks like a ContentInfo (SEQUENCE of 3 bytes).
    const DER: [u8; 5] = [0x30, 0x03, 0x02, 0x01, 0x05];

    #[test]
    fn unsigned_scripts() {
        for bytes in [
            b"Write-Host hi\r\n".to_vec(),
            b"\xef\xbb\xbfWrite-Host hi\n".to_vec(),
            utf16("Write-Host hi\r\n"),
        ] {
            let script = Script::parse(&bytes).unwrap();
            assert_eq!(script.content_end, bytes.len());
            assert_eq!(script.signature, None);
        }
        assert_eq!(
            Script::parse(b"ok\xff\xfe").unwrap_err(),
            ScriptError::NotUtf8 { offset: 2 }
        );
        assert_eq!(
            Script::parse(b"\xff\xfeA").unwrap_err(),
            ScriptError::OddUtf16Length { len: 3 }
        );
    }

    #[test]
    fn blocks_round_trip_in_both_encodings() {
        for (content, encoding) in [
            (b"Write-Host hi\n".to_vec(), Encoding::Utf8),
            (b"Write-Host hi".to_vec(), Encoding::Utf8),
            (utf16("Write-Host hi\r\n"), Encoding::Utf16Le),
        ] {
            let mut signed = content.clone();
            signed.extend(encode_block(&DER, encoding));
            let script = Script::parse(&signed).unwrap();
            assert_eq!(script.encoding, encoding);
            assert_eq!(script.content_end, content.len());
            assert_eq!(script.signature.as_deref(), Some(&DER[..]));
        }
    }

    #[test]
    fn the_utf8_digest_input_is_utf16le() {
        let bytes = "\u{feff}é\r\n".as_bytes();
        let script = Script::parse(bytes).unwrap();
        let mut out = Vec::new();
        hashed_text(bytes, &script, |b| out.extend_from_slice(b));
        assert_eq!(out, [0xff, 0xfe, 0xe9, 0x00, 0x0d, 0x00, 0x0a, 0x00]);
    }

    #[test]
    fn fake_blocks_are_refused() {
        let base64 = STANDARD.encode(DER);
        for (text, why) in [
            (
                format!("a\r\n{HEADER}\r\nWrite-Host hidden\r\n"),
                "does not start with",
            ),
            (
                format!("a\r\n{HEADER}\r\n# {base64}\r\n"),
                "no \"# SIG # End",
            ),
            (
                format!("a\r\n{HEADER}\r\n# {base64}\r\n{FOOTER}\r\nWrite-Host after\r\n"),
                "text follows",
            ),
            (
                format!("a\r\n{HEADER}\r\n# not base64!\r\n{FOOTER}\r\n"),
                "not base64",
            ),
            (
                format!("a\r\n{HEADER}\r\n# AAAA\r\n{FOOTER}\r\n"),
                "not DER",
            ),
            (format!("a\n{HEADER} and more\n"), "more text"),
        ] {
            let err = Script::parse(text.as_bytes()).unwrap_err();
            assert!(
                matches!(&err, ScriptError::BadSignatureBlock { reason, .. } if reason.contains(why)),
                "{text:?}: {err}"
            );
        }
        assert_eq!(
            Script::parse(format!("{HEADER}\r\n").as_bytes()).unwrap_err(),
            ScriptError::OnlySignatureBlock
        );
        // A header that is not at the start of its line is text.
        let text = format!("Write-Host '{HEADER}'\n");
        assert_eq!(Script::parse(text.as_bytes()).unwrap().signature, None);
    }
}

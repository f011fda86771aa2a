//! Reading and writing certificates, chains, CSRs and CRLs as PEM or DER.
//!
//! The readers take untrusted uploads: they bound the input size and the
//! number of blocks, accept PEM (RFC 7468, blocks separated only by
//! whitespace) or a single DER structure, and report truncated input,
//! trailing garbage and PEM blocks with the wrong label as distinct errors.

use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{CertificateSet, EncapsulatedContentInfo, SignedData, SignerInfos};
use const_oid::db::rfc5911;
use der::asn1::SetOfVec;
use der::pem::LineEnding;
use der::{Any, Decode, Encode};
use x509_cert::Certificate;

use crate::PkiError;
use crate::error::decode_error;

/// The largest certificate or chain upload read (PEM or DER).
pub const MAX_CERTIFICATE_INPUT_LEN: usize = 1 << 20;
/// The largest single certificate (DER) read.
pub const MAX_CERTIFICATE_LEN: usize = 64 * 1024;
/// The most certificates one upload may hold.
pub const MAX_CERTIFICATES: usize = 16;

/// The PEM label of a certificate.
pub const CERTIFICATE_LABEL: &str = "CERTIFICATE";
/// The PEM label of a CSR (RFC 7468 §7).
pub const CSR_LABEL: &str = "CERTIFICATE REQUEST";
/// The PEM label of a CRL.
pub const CRL_LABEL: &str = "X509 CRL";
/// The PEM label of an unencrypted PKCS#8 private key.
pub const PRIVATE_KEY_LABEL: &str = "PRIVATE KEY";

/// Reads one or more certificates: PEM `CERTIFICATE` blocks, or one DER certificate.
///
/// The order of the input is kept (a chain is expected leaf first).
pub fn parse_certificates(input: &[u8]) -> Result<Vec<Certificate>, PkiError> {
    let what = "certificate";
    let ders = decode_blocks(
        input,
        what,
        &[CERTIFICATE_LABEL],
        MAX_CERTIFICATE_INPUT_LEN,
        MAX_CERTIFICATES,
    )?;
    ders.iter()
        .map(|der| {
            if der.len() > MAX_CERTIFICATE_LEN {
                return Err(PkiError::TooLarge {
                    what,
                    len: der.len(),
                    max: MAX_CERTIFICATE_LEN,
                });
            }
            Certificate::from_der(der).map_err(|e| decode_error(what, e))
        })
        .collect()
}

/// Reads exactly one certificate (PEM or DER).
pub fn parse_certificate(input: &[u8]) -> Result<Certificate, PkiError> {
    let mut certificates = parse_certificates(input)?;
    match (certificates.pop(), certificates.is_empty()) {
        (Some(certificate), true) => Ok(certificate),
        (Some(_), false) => Err(PkiError::TooMany {
            what: "certificate",
            max: 1,
        }),
        (None, _) => Err(PkiError::Empty {
            what: "certificate",
        }),
    }
}

/// Reads concatenated DER certificates (the Host API's `CC` chain, signer first), in order.
///
/// Bounded like [`parse_certificates`]: at most [`MAX_CERTIFICATE_INPUT_LEN`] bytes,
/// [`MAX_CERTIFICATES`] certificates of at most [`MAX_CERTIFICATE_LEN`] bytes each; empty
/// input and trailing bytes that are no certificate are errors.
pub fn parse_der_chain(input: &[u8]) -> Result<Vec<Certificate>, PkiError> {
    let what = "certificate chain";
    if input.len() > MAX_CERTIFICATE_INPUT_LEN {
        return Err(PkiError::TooLarge {
            what,
            len: input.len(),
            max: MAX_CERTIFICATE_INPUT_LEN,
        });
    }
    if input.is_empty() {
        return Err(PkiError::Empty { what });
    }
    let mut rest = input;
    let mut certificates = Vec::new();
    while !rest.is_empty() {
        if certificates.len() == MAX_CERTIFICATES {
            return Err(PkiError::TooMany {
                what,
                max: MAX_CERTIFICATES,
            });
        }
        let (certificate, tail) =
            Certificate::from_der_partial(rest).map_err(|e| decode_error(what, e))?;
        let len = rest.len() - tail.len();
        if len > MAX_CERTIFICATE_LEN {
            return Err(PkiError::TooLarge {
                what,
                len,
                max: MAX_CERTIFICATE_LEN,
            });
        }
        certificates.push(certificate);
        rest = tail;
    }
    Ok(certificates)
}

/// Encodes one certificate as PEM.
pub fn encode_certificate(certificate: &Certificate) -> Result<String, PkiError> {
    encode(CERTIFICATE_LABEL, &certificate.to_der()?)
}

/// Encodes a chain (leaf first) as concatenated PEM blocks.
pub fn encode_chain(chain: &[Certificate]) -> Result<String, PkiError> {
    chain.iter().map(encode_certificate).collect()
}

/// Encodes a chain as a DER PKCS#7 "certs-only" bundle (`.p7b`, RFC 5652 §5
/// `SignedData` without signers), the DER form of a chain that Windows and
/// `openssl pkcs7` read. A SET OF has no order, so readers rebuild the chain.
pub fn encode_chain_pkcs7(chain: &[Certificate]) -> Result<Vec<u8>, PkiError> {
    let certificates: Vec<CertificateChoices> = chain
        .iter()
        .cloned()
        .map(CertificateChoices::Certificate)
        .collect();
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: rfc5911::ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(certificates)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::new()),
    };
    Ok(ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data)?,
    }
    .to_der()?)
}

/// Encodes DER bytes as one PEM block with `label` (LF line endings).
pub fn encode(label: &str, der: &[u8]) -> Result<String, PkiError> {
    der::pem::encode_string(label, LineEnding::LF, der)
        .map_err(|e| PkiError::Builder(e.to_string()))
}

/// Decodes PEM blocks labelled with one of `labels`, or one DER structure, into DER.
///
/// `what` names the structure in errors. Input larger than `max_len` or with
/// more than `max_blocks` blocks is refused before anything is decoded.
pub(crate) fn decode_blocks(
    input: &[u8],
    what: &'static str,
    labels: &[&'static str],
    max_len: usize,
    max_blocks: usize,
) -> Result<Vec<Vec<u8>>, PkiError> {
    if input.len() > max_len {
        return Err(PkiError::TooLarge {
            what,
            len: input.len(),
            max: max_len,
        });
    }
    let start = input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .ok_or(PkiError::Empty { what })?;
    let rest = input.get(start..).unwrap_or_default();
    if !rest.starts_with(BEGIN) {
        // A DER structure starts with a SEQUENCE tag; anything else is neither format.
        if input.first() != Some(&0x30) {
            return Err(PkiError::Malformed {
                what,
                detail: "the input is neither PEM (-----BEGIN ...) nor DER".into(),
            });
        }
        return Ok(vec![input.to_vec()]);
    }
    let mut blocks = Vec::new();
    let mut rest = rest;
    loop {
        let skip = rest
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(rest.len());
        rest = rest.get(skip..).unwrap_or_default();
        if rest.is_empty() {
            break;
        }
        if !rest.starts_with(BEGIN) {
            return Err(PkiError::TrailingData { what });
        }
        if blocks.len() == max_blocks {
            return Err(PkiError::TooMany {
                what,
                max: max_blocks,
            });
        }
        let (block, after) = split_block(rest, what)?;
        let (label, der) = der::pem::decode_vec(block).map_err(|e| PkiError::Malformed {
            what,
            detail: format!("bad PEM block: {e}"),
        })?;
        if !labels.contains(&label) {
            return Err(PkiError::WrongPemLabel {
                expected: labels.first().copied().unwrap_or_default(),
                found: label.chars().take(64).collect(),
            });
        }
        blocks.push(der);
        rest = after;
    }
    Ok(blocks)
}

const BEGIN: &[u8] = b"-----BEGIN ";
const DASHES: &[u8] = b"-----";

/// Splits the first PEM block (from `-----BEGIN` to the end of its `-----END ...-----` line) off `input`.
fn split_block<'a>(input: &'a [u8], what: &'static str) -> Result<(&'a [u8], &'a [u8]), PkiError> {
    let after_begin = input.get(BEGIN.len()..).unwrap_or_default();
    let label_len = find(after_begin, DASHES).ok_or(PkiError::Truncated { what })?;
    let label = after_begin.get(..label_len).unwrap_or_default();
    let mut end_marker = b"-----END ".to_vec();
    end_marker.extend_from_slice(label);
    end_marker.extend_from_slice(DASHES);
    let end = find(input, &end_marker).ok_or(PkiError::Truncated { what })? + end_marker.len();
    // Keep the line break after the END line with the block.
    let mut block_end = end;
    for newline in [b'\r', b'\n'] {
        if input.get(block_end) == Some(&newline) {
            block_end += 1;
        }
    }
    Ok((
        input.get(..block_end).unwrap_or_default(),
        input.get(block_end..).unwrap_or_default(),
    ))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";

    #[test]
    fn pem_framing_errors_are_typed() {
        let decode =
            |input: &[u8]| decode_blocks(input, "certificate", &[CERTIFICATE_LABEL], 4096, 2);
        assert_eq!(decode(CERT_PEM.as_bytes()).unwrap(), vec![vec![0x30, 0x00]]);
        assert!(matches!(decode(b"  \n"), Err(PkiError::Empty { .. })));
        assert!(matches!(decode(b"hello"), Err(PkiError::Malformed { .. })));
        let trailing = format!("{CERT_PEM}garbage");
        assert!(matches!(
            decode(trailing.as_bytes()),
            Err(PkiError::TrailingData { .. })
        ));
        let truncated = CERT_PEM.get(..40).unwrap();
        assert!(matches!(
            decode(truncated.as_bytes()),
            Err(PkiError::Truncated { .. })
        ));
        let key = CERT_PEM.replace("CERTIFICATE", "PRIVATE KEY");
        assert!(matches!(
            decode(key.as_bytes()),
            Err(PkiError::WrongPemLabel { .. })
        ));
        let three = CERT_PEM.repeat(3);
        assert!(matches!(
            decode(three.as_bytes()),
            Err(PkiError::TooMany { max: 2, .. })
        ));
        assert!(matches!(
            decode(&[0x30; 5000]),
            Err(PkiError::TooLarge { .. })
        ));
        let bad_base64 = CERT_PEM.replace("MAA=", "M@A=");
        assert!(matches!(
            decode(bad_base64.as_bytes()),
            Err(PkiError::Malformed { .. })
        ));
    }
}

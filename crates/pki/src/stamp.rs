//! The client side of RFC 3161: asking a time-stamping authority (TSA) for a token over a
//! signature, checking its answer, and putting the token into the signature.
//!
//! [`StampRequest::new`] makes a `TimeStampReq` (version 1, the imprint, a random 128-bit
//! nonce, `certReq` true). [`StampRequest::check`] reads the TSA's `TimeStampResp`, which
//! comes from the network and is untrusted: the status must be granted, the token's CMS
//! signature must verify with the certificate inside it (which must have the timeStamping
//! extended key usage), and the `TSTInfo` must carry the imprint and nonce that were sent.
//! Nothing here checks the TSA certificate's chain to a trust anchor: verifiers do
//! (`osslsigncode verify -TSA-CAfile`, `jarsigner -verify`, `openssl ts -verify -CAfile`).
//!
//! A token goes into a CMS `SignedData` as an unsigned attribute of its signer
//! ([`add_unsigned_attribute`]): Authenticode uses [`SPC_RFC3161_OBJID`] (as `signtool /tr`
//! does), JAR signature blocks [`ID_AA_TIME_STAMP_TOKEN`]; the imprint is the hash of the
//! signer's signature value ([`signer_signature`]) in both.

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerInfo, SignerInfos};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::ID_KP_TIME_STAMPING;
use const_oid::db::rfc5911;
use der::asn1::{OctetString, SetOfVec, Uint};
use der::{Any, Decode, Encode, Sequence, Tag, TagNumber, Tagged};
use sigil_keys::HashAlgorithm;
use thiserror::Error;
use x509_cert::Certificate;
use x509_cert::ext::pkix::ExtendedKeyUsage;

use crate::cms::{CmsError, MAX_SIGNED_DATA_LEN, VerifyContent};
use crate::tsp::{ID_CT_TST_INFO, MessageImprint, TimeStampResp};

/// Authenticode's RFC 3161 counter-signature attribute (`szOID_RFC3161_counterSign`).
pub const SPC_RFC3161_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.3.3.1");
/// `id-aa-timeStampToken` (RFC 3161 appendix A), the JAR (and CAdES) token attribute.
pub const ID_AA_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");
/// Octets of the nonce sent (128 bits).
pub const NONCE_LEN: usize = 16;
/// The largest `TimeStampResp` read.
pub const MAX_RESPONSE_LEN: usize = MAX_SIGNED_DATA_LEN;

/// Why a time-stamp could not be obtained, checked or added.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StampError {
    /// The answer is empty or too long.
    #[error("the TSA's answer is {0} bytes: expected a DER TimeStampResp of 1 byte to 1 MiB")]
    Size(usize),
    /// The answer is not a DER `TimeStampResp`, or the token not a `TSTInfo` token.
    #[error("the TSA's answer is not a valid RFC 3161 time-stamp: {0}")]
    Malformed(String),
    /// The TSA refused.
    #[error("the TSA refused the time-stamp (status {status}{text}){bits}")]
    Rejected {
        /// `PKIStatus`.
        status: u8,
        /// `: text` when the TSA said why.
        text: String,
        /// `, failure bits ...` when set.
        bits: String,
    },
    /// Granted, but without a token.
    #[error("the TSA granted the time-stamp but sent no token")]
    NoToken,
    /// The token's signature does not verify, or has no single signer.
    #[error("the time-stamp token's signature does not verify: {0}")]
    Signature(#[from] CmsError),
    /// The token signer's certificate is not a TSA certificate.
    #[error("the time-stamp token is signed by {0}, which has no timeStamping extended key usage")]
    NotTsaCertificate(String),
    /// The token stamps something else.
    #[error("the time-stamp token's message imprint does not match the data sent")]
    ImprintMismatch,
    /// The token does not echo the nonce.
    #[error("the time-stamp token does not carry the nonce that was sent (a replayed answer?)")]
    NonceMismatch,
    /// The signature has no single signer to stamp.
    #[error("the signature has {0} signers: exactly one can be time-stamped")]
    SignerCount(usize),
    /// An unsupported imprint hash.
    #[error("the time-stamp imprint uses {0}: Sigil reads SHA-256, SHA-384 and SHA-512")]
    UnsupportedHash(ObjectIdentifier),
    /// The system random generator failed.
    #[error("the system random number generator failed")]
    Random,
}

impl From<der::Error> for StampError {
    fn from(e: der::Error) -> Self {
        StampError::Malformed(e.to_string())
    }
}

/// `TimeStampReq` as Sigil sends it (no policy, no extensions).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct TimeStampReq {
    version: u8,
    message_imprint: MessageImprint,
    nonce: Uint,
    cert_req: bool,
}

/// A time-stamp request on its way, with what the answer must match.
#[derive(Clone, Debug)]
pub struct StampRequest {
    /// The DER `TimeStampReq` to send (`application/timestamp-query`).
    pub der: Vec<u8>,
    hash: HashAlgorithm,
    digest: Vec<u8>,
    nonce: [u8; NONCE_LEN],
}

/// A checked token.
#[derive(Clone, Debug)]
pub struct StampedToken {
    /// The complete DER `TimeStampResp` (what `openssl ts -verify -in` reads).
    pub response: Vec<u8>,
    /// The token: a DER `ContentInfo` holding `SignedData` over a `TSTInfo`.
    pub token: Vec<u8>,
    /// What the token says.
    pub info: TokenInfo,
}

/// What a token says, after its signature verified.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    /// The imprint's hash algorithm.
    pub hash: HashAlgorithm,
    /// The imprint.
    pub imprint: Vec<u8>,
    /// The nonce, as its INTEGER content octets.
    pub nonce: Option<Vec<u8>>,
    /// `genTime` as `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
    pub time: String,
    /// The subject of the certificate that signed the token.
    pub tsa: String,
    /// That certificate.
    pub certificate: Certificate,
}

impl TokenInfo {
    /// Whether the token stamps `data` (its imprint is the hash of `data`).
    pub fn stamps(&self, data: &[u8]) -> bool {
        self.hash.digest(data) == self.imprint
    }
}

impl StampRequest {
    /// A request for a token over `data`, hashed with `hash`, with a fresh nonce.
    pub fn new(hash: HashAlgorithm, data: &[u8]) -> Result<Self, StampError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| StampError::Random)?;
        // Positive and without a leading zero octet, so that every TSA echoes it unchanged.
        if let Some(first) = nonce.first_mut() {
            *first = (*first & 0x7f) | 0x01;
        }
        let digest = hash.digest(data);
        let der = TimeStampReq {
            version: 1,
            message_imprint: MessageImprint {
                hash_algorithm: hash.algorithm_identifier(),
                hashed_message: OctetString::new(digest.clone())?,
            },
            nonce: Uint::new(&nonce)?,
            cert_req: true,
        }
        .to_der()?;
        Ok(Self {
            der,
            hash,
            digest,
            nonce,
        })
    }

    /// Checks the TSA's answer: granted, a token whose signature verifies, signed by a
    /// timeStamping certificate, over this request's imprint, echoing its nonce.
    pub fn check(&self, response: &[u8]) -> Result<StampedToken, StampError> {
        if response.is_empty() || response.len() > MAX_RESPONSE_LEN {
            return Err(StampError::Size(response.len()));
        }
        let resp = TimeStampResp::from_der(response)?;
        // 0 granted, 1 grantedWithMods (RFC 3161 §2.4.2).
        if resp.status.status > 1 {
            return Err(rejected(&resp));
        }
        let token = resp.time_stamp_token.ok_or(StampError::NoToken)?.to_der()?;
        let info = verify_token(&token)?;
        if info.hash != self.hash || info.imprint != self.digest {
            return Err(StampError::ImprintMismatch);
        }
        if info.nonce.as_deref() != Some(self.nonce.as_slice()) {
            return Err(StampError::NonceMismatch);
        }
        Ok(StampedToken {
            response: response.to_vec(),
            token,
            info,
        })
    }
}

/// The rejection error of a refused `TimeStampResp`, with its text and failure bits.
fn rejected(resp: &TimeStampResp) -> StampError {
    let text: Vec<String> = resp
        .status
        .status_string
        .iter()
        .flatten()
        .filter_map(|t| t.decode_as::<der::asn1::Utf8StringRef<'_>>().ok())
        .map(|t| t.as_str().chars().take(300).collect())
        .collect();
    let bits: Vec<String> = resp
        .status
        .fail_info
        .iter()
        .flat_map(|b| b.bits().enumerate().filter_map(|(i, set)| set.then_some(i)))
        .map(|i| i.to_string())
        .collect();
    StampError::Rejected {
        status: resp.status.status,
        text: if text.is_empty() {
            String::new()
        } else {
            format!(": {}", text.join("; "))
        },
        bits: if bits.is_empty() {
            String::new()
        } else {
            format!(", failure bit(s) {}", bits.join(", "))
        },
    }
}

/// Reads a token (a `ContentInfo`): its CMS signature must verify with the certificate it
/// carries, which must be a TSA certificate; returns what its `TSTInfo` says.
pub fn verify_token(token: &[u8]) -> Result<TokenInfo, StampError> {
    let signers = crate::cms::verify(token, VerifyContent::Encapsulated)?;
    let [signer] = signers.as_slice() else {
        return Err(StampError::Signature(CmsError::SignerCount(signers.len())));
    };
    let certificate = signer.certificate.clone();
    let tsa = certificate.tbs_certificate().subject().to_string();
    let is_tsa = matches!(
        certificate.tbs_certificate().get_extension::<ExtendedKeyUsage>(),
        Ok(Some((_, usage))) if usage.0.contains(&ID_KP_TIME_STAMPING)
    );
    if !is_tsa {
        return Err(StampError::NotTsaCertificate(tsa));
    }
    let signed_data = crate::cms::decode_signed_data(token)?;
    let encap = &signed_data.encap_content_info;
    if encap.econtent_type != ID_CT_TST_INFO {
        return Err(StampError::Malformed(format!(
            "the token holds {}, not a TSTInfo",
            encap.econtent_type
        )));
    }
    let econtent = encap
        .econtent
        .as_ref()
        .ok_or_else(|| StampError::Malformed("the token holds no TSTInfo".into()))?
        .decode_as::<OctetString>()?;
    read_tst_info(econtent.as_bytes(), tsa, certificate)
}

/// Reads a `TSTInfo` field by field (by tag): other TSAs write fields Sigil's TSA does not
/// (accuracy in milliseconds, ordering, extensions, fractions of seconds in `genTime`).
fn read_tst_info(
    der: &[u8],
    tsa: String,
    certificate: Certificate,
) -> Result<TokenInfo, StampError> {
    let malformed = |what: &str| StampError::Malformed(format!("the TSTInfo {what}"));
    let mut fields = Vec::<Any>::from_der(der)?.into_iter().peekable();
    let version = fields.next().ok_or_else(|| malformed("is empty"))?;
    if version.tag() != Tag::Integer || version.value() != [1] {
        return Err(malformed("is not version 1"));
    }
    let _policy = fields
        .next_if(|f| f.tag() == Tag::ObjectIdentifier)
        .ok_or_else(|| malformed("has no policy"))?;
    let imprint = fields
        .next()
        .ok_or_else(|| malformed("has no message imprint"))?
        .decode_as::<MessageImprint>()?;
    let hash = HashAlgorithm::from_oid(&imprint.hash_algorithm.oid)
        .ok_or(StampError::UnsupportedHash(imprint.hash_algorithm.oid))?;
    let _serial = fields
        .next_if(|f| f.tag() == Tag::Integer)
        .ok_or_else(|| malformed("has no serial number"))?;
    let gen_time = fields
        .next_if(|f| f.tag() == Tag::GeneralizedTime)
        .ok_or_else(|| malformed("has no genTime"))?;
    let time = format_gen_time(gen_time.value()).ok_or_else(|| malformed("genTime is invalid"))?;
    let _accuracy = fields.next_if(|f| f.tag() == Tag::Sequence);
    let _ordering = fields.next_if(|f| f.tag() == Tag::Boolean);
    let nonce = fields
        .next_if(|f| f.tag() == Tag::Integer)
        .map(|n| n.value().to_vec());
    for field in fields {
        if !matches!(field.tag(), Tag::ContextSpecific { number, .. } if number <= TagNumber(1)) {
            return Err(malformed(&format!(
                "has an unexpected field {}",
                field.tag()
            )));
        }
    }
    Ok(TokenInfo {
        hash,
        imprint: imprint.hashed_message.as_bytes().to_vec(),
        nonce,
        time,
        tsa,
        certificate,
    })
}

/// `YYYYMMDDHHMMSS[.f*]Z` as `YYYY-MM-DDTHH:MM:SS[.f*]Z`.
fn format_gen_time(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?;
    let (main, rest) = (text.get(..14)?, text.get(14..)?);
    let fraction_ok = match rest.strip_prefix('.') {
        Some(f) => f.strip_suffix('Z')?.bytes().all(|b| b.is_ascii_digit()),
        None => rest == "Z",
    };
    if !main.bytes().all(|b| b.is_ascii_digit()) || !fraction_ok {
        return None;
    }
    Some(format!(
        "{}-{}-{}T{}:{}:{}{}",
        main.get(..4)?,
        main.get(4..6)?,
        main.get(6..8)?,
        main.get(8..10)?,
        main.get(10..12)?,
        main.get(12..14)?,
        rest
    ))
}

/// The only signer of a `SignedData` `ContentInfo`.
fn only_signer(signed_data: &SignedData) -> Result<&SignerInfo, StampError> {
    match signed_data.signer_infos.0.as_slice() {
        [signer] => Ok(signer),
        other => Err(StampError::SignerCount(other.len())),
    }
}

/// The signature value of the only signer of a DER `ContentInfo` holding `SignedData`:
/// the data a time-stamp of that signature covers.
pub fn signer_signature(content_info: &[u8]) -> Result<Vec<u8>, StampError> {
    let signed_data = crate::cms::decode_signed_data(content_info)?;
    Ok(only_signer(&signed_data)?.signature.as_bytes().to_vec())
}

/// Adds `value` (complete DER) as the unsigned attribute `oid` of the only signer of a DER
/// `ContentInfo` holding `SignedData`, and returns the new `ContentInfo`. The signature
/// covers only the signed attributes, so it stays valid.
pub fn add_unsigned_attribute(
    content_info: &[u8],
    oid: ObjectIdentifier,
    value: &[u8],
) -> Result<Vec<u8>, StampError> {
    let mut signed_data = crate::cms::decode_signed_data(content_info)?;
    let mut signer = only_signer(&signed_data)?.clone();
    let mut attributes = signer
        .unsigned_attrs
        .take()
        .map(SetOfVec::into_vec)
        .unwrap_or_default();
    attributes.push(crate::cms::attribute(oid, Any::from_der(value)?)?);
    signer.unsigned_attrs = Some(SetOfVec::try_from(attributes)?);
    signed_data.signer_infos = SignerInfos(SetOfVec::try_from(vec![signer])?);
    Ok(ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data)?,
    }
    .to_der()?)
}

/// A time-stamp found in a signature.
#[derive(Clone, Debug)]
pub struct FoundStamp {
    /// What the token says (its signature verified).
    pub info: TokenInfo,
    /// Whether the token stamps the signer's signature value.
    pub imprint_ok: bool,
}

/// The time-stamp of the first signer of a DER `ContentInfo` holding `SignedData`, under
/// either token attribute: `Ok(None)` when there is none, an error when the token does not
/// verify.
pub fn find_stamp(content_info: &[u8]) -> Result<Option<FoundStamp>, StampError> {
    let signed_data = crate::cms::decode_signed_data(content_info)?;
    let signer = signed_data
        .signer_infos
        .0
        .as_slice()
        .first()
        .ok_or(StampError::SignerCount(0))?;
    let token = signer
        .unsigned_attrs
        .iter()
        .flat_map(|attrs| attrs.iter())
        .filter(|a| a.oid == SPC_RFC3161_OBJID || a.oid == ID_AA_TIME_STAMP_TOKEN)
        .find_map(|a| a.values.iter().next());
    let Some(token) = token else {
        return Ok(None);
    };
    let info = verify_token(&token.to_der()?)?;
    let imprint_ok = info.stamps(signer.signature.as_bytes());
    Ok(Some(FoundStamp { info, imprint_ok }))
}

/// Reads a `TimeStampResp` file (`FILE.tsr`): granted, its token verifies; returns what
/// the token says.
pub fn read_response_token(response: &[u8]) -> Result<TokenInfo, StampError> {
    if response.is_empty() || response.len() > MAX_RESPONSE_LEN {
        return Err(StampError::Size(response.len()));
    }
    let resp = TimeStampResp::from_der(response)?;
    if resp.status.status > 1 {
        return Err(rejected(&resp));
    }
    verify_token(&resp.time_stamp_token.ok_or(StampError::NoToken)?.to_der()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cms::CmsSigner;
    use sigil_keys::RsaPadding;

    /// The TSA's answer to `request`, from Sigil's own token issuer.
    fn answer(request: &StampRequest) -> Vec<u8> {
        let (key, cert, root) = crate::tsp::tests::tsa();
        let chain = [root];
        let signer = CmsSigner {
            key: &key,
            certificate: &cert,
            chain: &chain,
            hash: HashAlgorithm::Sha256,
            padding: RsaPadding::Pkcs1v15,
        };
        let parsed = crate::tsp::parse_request(&request.der).unwrap();
        crate::tsp::issue(&signer, &parsed, std::time::SystemTime::now())
            .unwrap()
            .response
    }

    #[test]
    fn damaged_answers_never_panic_and_never_pass_for_other_data() {
        use proptest::prelude::*;
        let request = StampRequest::new(HashAlgorithm::Sha256, b"x").unwrap();
        let response = answer(&request);
        let len = response.len();
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&(0..len, 1..=255u8, 1..=len), |(at, flip, keep)| {
                let mut damaged = response.clone();
                damaged[at] ^= flip;
                damaged.truncate(keep);
                if let Ok(token) = request.check(&damaged) {
                    prop_assert!(token.info.stamps(b"x"));
                }
                let _ = read_response_token(&damaged);
                let _ = find_stamp(&damaged);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_token_is_checked_against_its_request_and_embedded() {
        let request = StampRequest::new(HashAlgorithm::Sha384, b"signature value").unwrap();
        let response = answer(&request);
        let stamped = request.check(&response).unwrap();
        assert!(stamped.info.stamps(b"signature value"));
        assert!(stamped.info.tsa.contains("CN="), "{}", stamped.info.tsa);
        assert_eq!(stamped.info.hash, HashAlgorithm::Sha384);

        // Another request's answer: other data, or the same data with another nonce.
        let other = StampRequest::new(HashAlgorithm::Sha384, b"other").unwrap();
        assert!(matches!(
            other.check(&response),
            Err(StampError::ImprintMismatch)
        ));
        let again = StampRequest::new(HashAlgorithm::Sha384, b"signature value").unwrap();
        assert!(matches!(
            again.check(&response),
            Err(StampError::NonceMismatch)
        ));
        // A flipped byte in the token's signature.
        let mut broken = response.clone();
        let last = broken.len() - 1;
        broken[last] ^= 1;
        assert!(request.check(&broken).is_err());

        // The token is itself a one-signer SignedData: stamp its signature and embed.
        let value = signer_signature(&stamped.token).unwrap();
        let counter = StampRequest::new(HashAlgorithm::Sha256, &value).unwrap();
        let counter_token = counter.check(&answer(&counter)).unwrap().token;
        let embedded =
            add_unsigned_attribute(&stamped.token, ID_AA_TIME_STAMP_TOKEN, &counter_token).unwrap();
        crate::cms::verify(&embedded, VerifyContent::Encapsulated).unwrap();
        let found = find_stamp(&embedded).unwrap().unwrap();
        assert!(found.imprint_ok);
        assert!(find_stamp(&stamped.token).unwrap().is_none());
        // A token over something else is found but does not match.
        let wrong =
            add_unsigned_attribute(&stamped.token, SPC_RFC3161_OBJID, &stamped.token).unwrap();
        assert!(!find_stamp(&wrong).unwrap().unwrap().imprint_ok);
    }

    #[test]
    fn gen_time_formats() {
        assert_eq!(
            format_gen_time(b"20261204070101Z").as_deref(),
            Some("2026-12-04T07:01:01Z")
        );
        assert_eq!(
            format_gen_time(b"20261204070101.25Z").as_deref(),
            Some("2026-12-04T07:01:01.25Z")
        );
        assert_eq!(format_gen_time(b"2026120407010Z"), None);
        assert_eq!(format_gen_time(b"20261204070101.Z1"), None);
    }

    #[test]
    fn request_has_nonce_and_cert_req() {
        let request = StampRequest::new(HashAlgorithm::Sha256, b"signature").unwrap();
        let parsed = crate::tsp::parse_request(&request.der).unwrap();
        assert!(parsed.cert_req);
        assert_eq!(parsed.digest(), HashAlgorithm::Sha256.digest(b"signature"));
        assert_eq!(
            parsed.nonce.as_ref().map(|n| n.as_bytes().to_vec()),
            Some(request.nonce.to_vec())
        );
    }

    #[test]
    fn garbage_and_rejections_are_errors() {
        let request = StampRequest::new(HashAlgorithm::Sha256, b"x").unwrap();
        assert!(matches!(request.check(b""), Err(StampError::Size(0))));
        assert!(matches!(
            request.check(b"<html>oops</html>"),
            Err(StampError::Malformed(_))
        ));
        let refused =
            crate::tsp::rejection(crate::tsp::FailureInfo::BadAlg, "no SHA-1 here").unwrap();
        let error = request.check(&refused).unwrap_err().to_string();
        assert!(error.contains("no SHA-1 here"), "{error}");
        assert!(matches!(
            request.check(&crate::tsp::SYSTEM_FAILURE_RESPONSE),
            Err(StampError::Rejected { status: 2, .. })
        ));
    }
}

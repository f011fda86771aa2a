//! RFC 3161 time-stamping (TSP): reading a `TimeStampReq`, issuing a `TimeStampToken`, and
//! answering a `TimeStampResp`.
//!
//! A request comes from the network and is untrusted: [`parse_request`] reads at most
//! [`MAX_REQUEST_LEN`] bytes, accepts version 1 only, a SHA-256/384/512 message imprint of the
//! right length, Sigil's policy or none, a nonce of at most [`MAX_NONCE_BITS`] bits, and no
//! critical extension. Each refusal maps to the `PKIFailureInfo` bit RFC 3161 §2.4.2 names
//! ([`TspError::failure_info`]), which [`rejection`] puts in a `TimeStampResp`.
//!
//! The token ([`issue`]) is a CMS `SignedData` (made by [`crate::cms::sign`]) encapsulating a
//! `TSTInfo` (eContentType `id-ct-TSTInfo`): version 1, [`POLICY_OID`], the request's message
//! imprint copied unchanged, a random 128-bit serial number, `genTime` in whole seconds (UTC),
//! accuracy 1 s, ordering false, the request's nonce, and the TSA's name. Its signed attributes
//! are contentType, messageDigest and signingCertificateV2 (RFC 5816: an `ESSCertIDv2` with the
//! SHA-256 of the TSA certificate and its issuer and serial). The certificates are included
//! only when the request asks for them (`certReq`), as §2.4.1 requires.
//!
//! Sigil's policy OID is `2.25.19195058975436746781922782774374578010`: the X.667 OID of the
//! UUID `0e70d579-960d-428f-a8c0-a14a05c6375a`, drawn once for Sigil. Its last arc does not
//! fit the 32-bit arcs of `const-oid`, so it is kept and compared as DER bytes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911;
use der::asn1::{BitString, GeneralizedTime, Int, OctetString, Utf8StringRef};
use der::{Any, Decode, Encode, Sequence, Tag, Tagged};
use sigil_keys::HashAlgorithm;
use spki::AlgorithmIdentifierOwned;
use thiserror::Error;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;

use crate::cms::{CmsError, CmsSigner, SignedContent, SignedDataOptions, attribute};

/// The largest `TimeStampReq` read (a request is about 60 bytes plus extensions).
pub const MAX_REQUEST_LEN: usize = 16 * 1024;
/// The largest nonce accepted, in bits (RFC 3161 clients send 64).
pub const MAX_NONCE_BITS: usize = 160;
/// The most request extensions read.
pub const MAX_EXTENSIONS: usize = 16;
/// Sigil's TSA policy OID, as text (see the module documentation).
pub const POLICY_OID: &str = "2.25.19195058975436746781922782774374578010";
/// [`POLICY_OID`] as a complete DER `OBJECT IDENTIFIER` (tag, length, value).
pub const POLICY_OID_DER: [u8; 21] = [
    0x06, 0x13, 0x69, 0x9c, 0xf0, 0xea, 0xde, 0xb2, 0xe0, 0xea, 0x8a, 0x9f, 0xa8, 0xe0, 0xa8, 0xa9,
    0xa0, 0xae, 0x98, 0xee, 0x5a,
];
/// `id-ct-TSTInfo` (RFC 3161 §2.4.2): the eContentType of a timestamp token.
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// `id-aa-signingCertificateV2` (RFC 5035, used by RFC 5816).
pub const ID_AA_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// The accuracy Sigil states for `genTime`, in seconds (the clock is read once per token and
/// truncated to whole seconds).
pub const ACCURACY_SECONDS: u8 = 1;

/// A `PKIFailureInfo` bit (RFC 3161 §2.4.2): why a request was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureInfo {
    /// `badAlg`: unrecognized or unsupported hash algorithm.
    BadAlg = 0,
    /// `badRequest`: transaction not permitted or supported.
    BadRequest = 2,
    /// `badDataFormat`: the data submitted has the wrong format.
    BadDataFormat = 5,
    /// `unacceptedPolicy`: the requested TSA policy is not supported.
    UnacceptedPolicy = 15,
    /// `unacceptedExtension`: the requested extension is not supported.
    UnacceptedExtension = 16,
    /// `systemFailure`: the request cannot be handled due to a system failure.
    SystemFailure = 25,
}

impl FailureInfo {
    /// The bit's name in RFC 3161.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureInfo::BadAlg => "badAlg",
            FailureInfo::BadRequest => "badRequest",
            FailureInfo::BadDataFormat => "badDataFormat",
            FailureInfo::UnacceptedPolicy => "unacceptedPolicy",
            FailureInfo::UnacceptedExtension => "unacceptedExtension",
            FailureInfo::SystemFailure => "systemFailure",
        }
    }

    /// The bit number in the `PKIFailureInfo` BIT STRING.
    pub fn bit(self) -> u8 {
        self as u8
    }

    /// The DER `BIT STRING` with only this bit set (named bit list: trailing zero bits are
    /// not encoded, X.690 §11.2.2).
    fn bit_string(self) -> Result<BitString, der::Error> {
        let bit = usize::from(self.bit());
        let mut bytes = vec![0u8; bit / 8 + 1];
        if let Some(last) = bytes.last_mut() {
            *last = 0x80 >> (bit % 8);
        }
        // The bit is the last one written, so the rest of its octet is unused.
        let unused = 7 - (bit % 8) as u8;
        BitString::new(unused, bytes)
    }
}

/// Why a time-stamp request was refused or a token could not be made. Each variant maps to
/// the failure bit a client receives ([`TspError::failure_info`]).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TspError {
    /// The request is empty.
    #[error("the time-stamp request is empty: send a DER TimeStampReq (openssl ts -query)")]
    Empty,
    /// The request is longer than [`MAX_REQUEST_LEN`].
    #[error("the time-stamp request is {0} bytes, more than the {MAX_REQUEST_LEN}-byte limit")]
    TooLarge(usize),
    /// The request is not a DER `TimeStampReq`.
    #[error("the time-stamp request is not a DER TimeStampReq: {0}")]
    Malformed(String),
    /// The request's version is not 1.
    #[error("time-stamp request version {0} is not supported: only version 1 (RFC 3161)")]
    Version(String),
    /// The message imprint's hash algorithm is not SHA-256/384/512.
    #[error(
        "the message imprint's hash algorithm {0} is not supported: use SHA-256, SHA-384 or SHA-512"
    )]
    UnsupportedHash(String),
    /// The hash algorithm identifier carries parameters other than NULL.
    #[error("the message imprint's hash algorithm has parameters: SHA-2 takes none (or NULL)")]
    HashParameters,
    /// The imprint's length does not match its hash algorithm.
    #[error("a {hash} message imprint is {expected} bytes, got {actual}")]
    DigestLength {
        /// The hash algorithm.
        hash: HashAlgorithm,
        /// Its digest length.
        expected: usize,
        /// The imprint's length.
        actual: usize,
    },
    /// The request names a policy other than Sigil's.
    #[error(
        "the requested TSA policy {0} is not Sigil's ({POLICY_OID}): omit reqPolicy or ask for {POLICY_OID}"
    )]
    UnacceptedPolicy(String),
    /// The nonce is longer than [`MAX_NONCE_BITS`].
    #[error("the nonce is {0} bytes long: at most {MAX_NONCE_BITS} bits are accepted")]
    NonceTooLarge(usize),
    /// The request carries a critical extension (none is supported).
    #[error("the request carries the critical extension {0}, which Sigil does not support")]
    CriticalExtension(ObjectIdentifier),
    /// The request carries more than [`MAX_EXTENSIONS`] extensions.
    #[error("the request carries more than {MAX_EXTENSIONS} extensions")]
    TooManyExtensions,
    /// Building or signing the token failed.
    #[error("signing the time-stamp token failed: {0}")]
    Signing(#[from] CmsError),
    /// A structure could not be encoded (a bug or an out-of-range value).
    #[error("encoding the time-stamp response failed: {0}")]
    Encoding(#[from] der::Error),
    /// The clock is before 1970 or after 9999.
    #[error("the system clock cannot be written as a GeneralizedTime")]
    Clock,
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

impl TspError {
    /// The `PKIFailureInfo` bit a rejection for this error carries.
    pub fn failure_info(&self) -> FailureInfo {
        match self {
            TspError::UnsupportedHash(_) | TspError::HashParameters => FailureInfo::BadAlg,
            TspError::Version(_) => FailureInfo::BadRequest,
            TspError::Empty
            | TspError::TooLarge(_)
            | TspError::Malformed(_)
            | TspError::DigestLength { .. }
            | TspError::NonceTooLarge(_)
            | TspError::TooManyExtensions => FailureInfo::BadDataFormat,
            TspError::UnacceptedPolicy(_) => FailureInfo::UnacceptedPolicy,
            TspError::CriticalExtension(_) => FailureInfo::UnacceptedExtension,
            TspError::Signing(_) | TspError::Encoding(_) | TspError::Clock | TspError::Random => {
                FailureInfo::SystemFailure
            }
        }
    }
}

/// `MessageImprint` (RFC 3161 §2.4.1).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct MessageImprint {
    /// The hash algorithm.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// The hash of the data to be time-stamped.
    pub hashed_message: OctetString,
}

/// A checked `TimeStampReq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeStampRequest {
    /// The message imprint, copied unchanged into the token.
    pub message_imprint: MessageImprint,
    /// Its hash algorithm.
    pub hash: HashAlgorithm,
    /// The nonce to echo, if any.
    pub nonce: Option<Int>,
    /// Whether the TSA certificate (and chain) must be included in the token.
    pub cert_req: bool,
    /// Whether the request named Sigil's policy (it may only name Sigil's).
    pub policy_requested: bool,
}

impl TimeStampRequest {
    /// The hashed message (the imprint's digest).
    pub fn digest(&self) -> &[u8] {
        self.message_imprint.hashed_message.as_bytes()
    }
}

/// Reads and checks a DER `TimeStampReq` from an untrusted source.
pub fn parse_request(der: &[u8]) -> Result<TimeStampRequest, TspError> {
    if der.is_empty() {
        return Err(TspError::Empty);
    }
    if der.len() > MAX_REQUEST_LEN {
        return Err(TspError::TooLarge(der.len()));
    }
    let malformed = |e: der::Error| TspError::Malformed(e.to_string());
    // The fields are read by tag, in order: reqPolicy cannot be decoded as a `const-oid`
    // OID (Sigil's own has a 128-bit arc), and every optional field is distinct by tag.
    let fields = Vec::<Any>::from_der(der).map_err(malformed)?;
    let mut fields = fields.into_iter().peekable();

    let version = fields
        .next()
        .ok_or_else(|| TspError::Malformed("the version is missing".to_owned()))?;
    if version.tag() != Tag::Integer {
        return Err(TspError::Malformed(
            "the first field (version) is not an INTEGER".to_owned(),
        ));
    }
    if version.value() != [1] {
        return Err(TspError::Version(hex_of(version.value())));
    }

    let imprint = fields
        .next()
        .ok_or_else(|| TspError::Malformed("the messageImprint is missing".to_owned()))?
        .decode_as::<MessageImprint>()
        .map_err(malformed)?;
    let hash = check_imprint(&imprint)?;

    let mut request = TimeStampRequest {
        message_imprint: imprint,
        hash,
        nonce: None,
        cert_req: false,
        policy_requested: false,
    };
    if let Some(policy) = fields.next_if(|f| f.tag() == Tag::ObjectIdentifier) {
        check_policy(&policy)?;
        request.policy_requested = true;
    }
    if let Some(nonce) = fields.next_if(|f| f.tag() == Tag::Integer) {
        let nonce = nonce.decode_as::<Int>().map_err(malformed)?;
        // One more octet than 160 bits allows for the sign octet of a positive nonce.
        let len = nonce.as_bytes().len();
        if len > MAX_NONCE_BITS / 8 + 1
            || (len == MAX_NONCE_BITS / 8 + 1 && nonce.as_bytes().first() != Some(&0))
        {
            return Err(TspError::NonceTooLarge(len));
        }
        request.nonce = Some(nonce);
    }
    if let Some(cert_req) = fields.next_if(|f| f.tag() == Tag::Boolean) {
        request.cert_req = cert_req.decode_as::<bool>().map_err(malformed)?;
    }
    if let Some(extensions) = fields.next_if(|f| f.tag() == extensions_tag()) {
        check_extensions(&extensions)?;
    }
    if let Some(extra) = fields.next() {
        return Err(TspError::Malformed(format!(
            "unexpected field with tag {} in the request",
            extra.tag()
        )));
    }
    Ok(request)
}

fn extensions_tag() -> Tag {
    Tag::ContextSpecific {
        constructed: true,
        number: der::TagNumber(0),
    }
}

fn check_imprint(imprint: &MessageImprint) -> Result<HashAlgorithm, TspError> {
    let algorithm = &imprint.hash_algorithm;
    let hash = HashAlgorithm::from_oid(&algorithm.oid)
        .ok_or_else(|| TspError::UnsupportedHash(algorithm.oid.to_string()))?;
    if let Some(parameters) = &algorithm.parameters
        && !(parameters.tag() == Tag::Null && parameters.value().is_empty())
    {
        return Err(TspError::HashParameters);
    }
    let actual = imprint.hashed_message.as_bytes().len();
    if actual != hash.digest_len() {
        return Err(TspError::DigestLength {
            hash,
            expected: hash.digest_len(),
            actual,
        });
    }
    Ok(hash)
}

fn check_policy(policy: &Any) -> Result<(), TspError> {
    let der = policy.to_der()?;
    if der == POLICY_OID_DER {
        return Ok(());
    }
    // Shown as text when `const-oid` can read it, else as the DER value in hex.
    let shown = ObjectIdentifier::from_bytes(policy.value())
        .map(|oid| oid.to_string())
        .unwrap_or_else(|_| format!("(DER {})", hex_of(policy.value())));
    Err(TspError::UnacceptedPolicy(shown))
}

fn check_extensions(extensions: &Any) -> Result<(), TspError> {
    // `[0] IMPLICIT Extensions`: the value is the SEQUENCE OF's contents.
    let as_sequence = Any::new(Tag::Sequence, extensions.value())
        .map_err(|e| TspError::Malformed(e.to_string()))?;
    let list = as_sequence
        .decode_as::<Vec<Extension>>()
        .map_err(|e| TspError::Malformed(e.to_string()))?;
    if list.len() > MAX_EXTENSIONS {
        return Err(TspError::TooManyExtensions);
    }
    // Sigil understands no request extension: non-critical ones are ignored (RFC 5280
    // semantics), a critical one is refused.
    match list.iter().find(|e| e.critical) {
        Some(critical) => Err(TspError::CriticalExtension(critical.extn_id)),
        None => Ok(()),
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().take(32).map(|b| format!("{b:02x}")).collect()
}

// ---- the token ----------------------------------------------------------------------------

/// `Accuracy` (RFC 3161 §2.4.2); Sigil states whole seconds only.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct Accuracy {
    #[asn1(optional = "true")]
    seconds: Option<u8>,
}

/// `TSTInfo` (RFC 3161 §2.4.2), as Sigil writes it: `ordering` is false (the DER default, so
/// absent) and there are no extensions.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct TstInfo {
    version: u8,
    /// The policy OID, complete DER (see [`POLICY_OID_DER`]).
    policy: Any,
    message_imprint: MessageImprint,
    serial_number: SerialNumber,
    gen_time: GeneralizedTime,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
}

/// `IssuerSerial` (RFC 5035).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

/// `ESSCertIDv2` (RFC 5035) with the default hash algorithm, SHA-256 (absent in DER).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    issuer_serial: IssuerSerial,
}

/// `SigningCertificateV2` (RFC 5035) without policies.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

/// `PKIStatusInfo` (RFC 3161 §2.4.2; `statusString` is a `PKIFreeText`).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct PkiStatusInfo {
    pub(crate) status: u8,
    #[asn1(optional = "true")]
    pub(crate) status_string: Option<Vec<Any>>,
    #[asn1(optional = "true")]
    pub(crate) fail_info: Option<BitString>,
}

/// `TimeStampResp` (RFC 3161 §2.4.2); the token is a complete `ContentInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct TimeStampResp {
    pub(crate) status: PkiStatusInfo,
    #[asn1(optional = "true")]
    pub(crate) time_stamp_token: Option<Any>,
}

/// A complete `TimeStampResp`: rejection, `systemFailure`, no text. For the case where even
/// [`rejection`] fails, so that a client always gets a protocol answer.
pub const SYSTEM_FAILURE_RESPONSE: [u8; 14] = [
    0x30, 0x0c, 0x30, 0x0a, 0x02, 0x01, 0x02, 0x03, 0x05, 0x06, 0x00, 0x00, 0x00, 0x40,
];

/// `PKIStatus` granted.
const STATUS_GRANTED: u8 = 0;
/// `PKIStatus` rejection.
const STATUS_REJECTION: u8 = 2;

/// A token issued by [`issue`].
#[derive(Clone, Debug)]
pub struct IssuedToken {
    /// The DER `TimeStampResp` (status granted, with the token) to send to the client.
    pub response: Vec<u8>,
    /// The token's serial number (big-endian, positive).
    pub serial: Vec<u8>,
    /// `genTime`.
    pub gen_time: SystemTime,
}

/// Issues a token for a checked request at `now` (truncated to whole seconds), signed by
/// `tsa` (whose certificate must be a `timestamping` certificate), and wraps it in a granted
/// `TimeStampResp`. `tsa.chain` is included with the certificate when the request asks for
/// certificates.
pub fn issue(
    tsa: &CmsSigner<'_>,
    request: &TimeStampRequest,
    now: SystemTime,
) -> Result<IssuedToken, TspError> {
    let seconds = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| TspError::Clock)?
        .as_secs();
    let gen_time = GeneralizedTime::from_unix_duration(Duration::from_secs(seconds))
        .map_err(|_| TspError::Clock)?;
    let serial = crate::serial::random_serial().map_err(|_| TspError::Random)?;
    let tbs = tsa.certificate.tbs_certificate();
    let info = TstInfo {
        version: 1,
        policy: Any::from_der(&POLICY_OID_DER)?,
        message_imprint: request.message_imprint.clone(),
        serial_number: serial.clone(),
        gen_time,
        accuracy: Some(Accuracy {
            seconds: Some(ACCURACY_SECONDS),
        }),
        nonce: request.nonce.clone(),
        tsa: Some(GeneralName::DirectoryName(tbs.subject().clone())),
    };
    let econtent = OctetString::new(info.to_der()?)?.to_der()?;

    let signing_certificate = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            cert_hash: OctetString::new(HashAlgorithm::Sha256.digest(&tsa.certificate.to_der()?))?,
            issuer_serial: IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
                serial_number: tbs.serial_number().clone(),
            },
        }],
    };
    let options = SignedDataOptions {
        signed_attributes: vec![attribute(
            ID_AA_SIGNING_CERTIFICATE_V2,
            Any::encode_from(&signing_certificate)?,
        )?],
        ..SignedDataOptions::default()
    };
    let token = crate::cms::sign(
        tsa,
        SignedContent::Encapsulated {
            content_type: ID_CT_TST_INFO,
            econtent: &econtent,
        },
        &options,
    )?;
    // RFC 3161 §2.4.1: without certReq the certificates field MUST NOT be present. The
    // signature covers only the signed attributes, so removing them leaves it valid.
    let token = if request.cert_req {
        token
    } else {
        without_certificates(&token)?
    };
    let response = TimeStampResp {
        status: PkiStatusInfo {
            status: STATUS_GRANTED,
            status_string: None,
            fail_info: None,
        },
        time_stamp_token: Some(Any::from_der(&token)?),
    }
    .to_der()?;
    Ok(IssuedToken {
        response,
        serial: serial.as_bytes().to_vec(),
        gen_time: UNIX_EPOCH + Duration::from_secs(seconds),
    })
}

fn without_certificates(token: &[u8]) -> Result<Vec<u8>, TspError> {
    let mut signed_data = crate::cms::decode_signed_data(token)?;
    signed_data.certificates = None;
    let content_info = ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data)?,
    };
    Ok(content_info.to_der()?)
}

/// A `TimeStampResp` with status rejection, the failure bit, and `text` as the status string
/// (shown by `openssl ts -reply -text`).
pub fn rejection(failure: FailureInfo, text: &str) -> Result<Vec<u8>, TspError> {
    // PKIFreeText is a SEQUENCE OF UTF8String; keep it short.
    let text: String = text.chars().take(512).collect();
    let text = Any::encode_from(&Utf8StringRef::new(&text)?)?;
    Ok(TimeStampResp {
        status: PkiStatusInfo {
            status: STATUS_REJECTION,
            status_string: Some(vec![text]),
            fail_info: Some(failure.bit_string()?),
        },
        time_stamp_token: None,
    }
    .to_der()?)
}

/// What a `TimeStampResp` says, read back (for tests and diagnostics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseSummary {
    /// `PKIStatus` (0 granted, 2 rejection).
    pub status: u8,
    /// The set failure bits.
    pub failure_bits: Vec<usize>,
    /// The token's `ContentInfo`, DER, when present.
    pub token: Option<Vec<u8>>,
}

/// Reads the outer structure of a `TimeStampResp`.
pub fn read_response(der: &[u8]) -> Result<ResponseSummary, TspError> {
    let response = TimeStampResp::from_der(der).map_err(|e| TspError::Malformed(e.to_string()))?;
    let failure_bits = response
        .status
        .fail_info
        .as_ref()
        .map(|bits| {
            bits.bits()
                .enumerate()
                .filter_map(|(i, set)| set.then_some(i))
                .collect()
        })
        .unwrap_or_default();
    Ok(ResponseSummary {
        status: response.status.status,
        failure_bits,
        token: response
            .time_stamp_token
            .map(|token| token.to_der())
            .transpose()?,
    })
}

/// Whether `token` (a `ContentInfo`) holds certificates; used by tests of `certReq`.
pub fn token_has_certificates(token: &[u8]) -> Result<bool, TspError> {
    let signed_data: SignedData = crate::cms::decode_signed_data(token)?;
    Ok(signed_data
        .certificates
        .is_some_and(|set| !set.0.is_empty()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ca::{CaCertificate, IssueRequest, NewCa, issue as issue_cert};
    use crate::cms::{VerifyContent, verify};
    use crate::{DistinguishedName, Profile, ValidityPeriod};
    use proptest::prelude::*;
    use sigil_keys::{KeyAlgorithm, RsaPadding, SigningKey, SoftwareKey};
    use x509_cert::Certificate;

    /// `openssl ts -query -sha256 -cert -digest 00..1f` with nonce 0x0102030405060708.
    fn request(hash: HashAlgorithm, digest: &[u8], tail: &[u8]) -> Vec<u8> {
        let imprint = MessageImprint {
            hash_algorithm: hash.algorithm_identifier(),
            hashed_message: OctetString::new(digest).unwrap(),
        }
        .to_der()
        .unwrap();
        let mut body = vec![0x02, 0x01, 0x01];
        body.extend(imprint);
        body.extend(tail);
        let mut der = vec![0x30];
        der.extend(der::Length::try_from(body.len()).unwrap().to_der().unwrap());
        der.extend(body);
        der
    }

    const NONCE: [u8; 10] = [0x02, 0x08, 1, 2, 3, 4, 5, 6, 7, 8];
    const CERT_REQ: [u8; 3] = [0x01, 0x01, 0xff];

    fn tail(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn policy_der_matches_the_uuid() {
        // X.667: 2.25.<the UUID as one unsigned integer>.
        let uuid = u128::from_str_radix("0e70d579960d428fa8c0a14a05c6375a", 16).unwrap();
        assert_eq!(POLICY_OID, format!("2.25.{uuid}"));
        let mut arc = Vec::new();
        let mut v = uuid;
        arc.push((v & 0x7f) as u8);
        v >>= 7;
        while v > 0 {
            arc.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        arc.reverse();
        let mut der = vec![0x06, (arc.len() + 1) as u8, 2 * 40 + 25];
        der.extend(arc);
        assert_eq!(der, POLICY_OID_DER);
    }

    #[test]
    fn parses_a_full_request() {
        let digest = [7u8; 32];
        let der = request(
            HashAlgorithm::Sha256,
            &digest,
            &tail(&[&POLICY_OID_DER, &NONCE, &CERT_REQ]),
        );
        let r = parse_request(&der).unwrap();
        assert_eq!(r.hash, HashAlgorithm::Sha256);
        assert_eq!(r.digest(), digest);
        assert!(r.cert_req && r.policy_requested);
        assert_eq!(r.nonce.unwrap().as_bytes(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        let minimal = parse_request(&request(HashAlgorithm::Sha512, &[1; 64], &[])).unwrap();
        assert!(!minimal.cert_req && minimal.nonce.is_none() && !minimal.policy_requested);
    }

    #[test]
    fn refusals_carry_the_right_bit() {
        let bit = |der: &[u8]| parse_request(der).unwrap_err().failure_info();
        assert_eq!(bit(b"garbage"), FailureInfo::BadDataFormat);
        assert_eq!(bit(&[]), FailureInfo::BadDataFormat);
        assert_eq!(
            bit(&vec![0x30; MAX_REQUEST_LEN + 1]),
            FailureInfo::BadDataFormat
        );
        assert_eq!(
            bit(&request(HashAlgorithm::Sha256, &[0; 31], &[])),
            FailureInfo::BadDataFormat
        );
        // SHA-1 is not accepted.
        let mut sha1 = request(HashAlgorithm::Sha256, &[0; 32], &[]);
        let sha256_oid = HashAlgorithm::Sha256.oid();
        let pos = sha1
            .windows(sha256_oid.as_bytes().len())
            .position(|w| w == sha256_oid.as_bytes())
            .unwrap();
        sha1[pos + sha256_oid.as_bytes().len() - 1] ^= 0x7f;
        assert_eq!(bit(&sha1), FailureInfo::BadAlg);
        // A foreign policy (1.2.3.4).
        assert_eq!(
            bit(&request(
                HashAlgorithm::Sha256,
                &[0; 32],
                &[0x06, 0x03, 0x2a, 0x03, 0x04]
            )),
            FailureInfo::UnacceptedPolicy
        );
        // A critical extension 1.2.3.4 = NULL.
        let critical = [
            0xa0, 0x0e, 0x30, 0x0c, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x01, 0x01, 0xff, 0x04, 0x02,
            0x05, 0x00,
        ];
        assert_eq!(
            bit(&request(HashAlgorithm::Sha256, &[0; 32], &critical)),
            FailureInfo::UnacceptedExtension
        );
        // The same extension, not critical, is ignored.
        let mut non_critical = critical.to_vec();
        non_critical.drain(9..12);
        non_critical[1] -= 3;
        non_critical[3] -= 3;
        assert!(parse_request(&request(HashAlgorithm::Sha256, &[0; 32], &non_critical)).is_ok());
        // Version 2.
        let mut v2 = request(HashAlgorithm::Sha256, &[0; 32], &[]);
        v2[4] = 2;
        assert_eq!(bit(&v2), FailureInfo::BadRequest);
        // A 21-octet nonce without a sign octet is over 160 bits.
        let mut big = vec![0x02, 21, 0x7f];
        big.extend([1u8; 20]);
        assert_eq!(
            bit(&request(HashAlgorithm::Sha256, &[0; 32], &big)),
            FailureInfo::BadDataFormat
        );
        // Fields out of order.
        assert_eq!(
            bit(&request(
                HashAlgorithm::Sha256,
                &[0; 32],
                &tail(&[&CERT_REQ, &NONCE])
            )),
            FailureInfo::BadDataFormat
        );
    }

    #[test]
    fn rejection_sets_one_bit() {
        for failure in [
            FailureInfo::BadAlg,
            FailureInfo::BadRequest,
            FailureInfo::BadDataFormat,
            FailureInfo::UnacceptedPolicy,
            FailureInfo::UnacceptedExtension,
            FailureInfo::SystemFailure,
        ] {
            let summary = read_response(&rejection(failure, "no").unwrap()).unwrap();
            assert_eq!(summary.status, STATUS_REJECTION);
            assert_eq!(summary.failure_bits, vec![usize::from(failure.bit())]);
            assert!(summary.token.is_none());
        }
        let fixed = read_response(&SYSTEM_FAILURE_RESPONSE).unwrap();
        assert_eq!(fixed.status, STATUS_REJECTION);
        assert_eq!(
            fixed.failure_bits,
            vec![usize::from(FailureInfo::SystemFailure.bit())]
        );
    }

    /// A TSA key, its `timestamping` certificate and the root that issued it.
    pub(crate) fn tsa() -> (SoftwareKey, Certificate, Certificate) {
        let root_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let root = CaCertificate::self_signed(
            &NewCa {
                name: "root",
                key_ref: "k",
                subject: &DistinguishedName::parse("CN=Root").unwrap(),
                validity: ValidityPeriod::days_from_now(30).unwrap(),
                path_len: None,
            },
            &root_key,
        )
        .unwrap();
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let cert = issue_cert(
            &root,
            &root_key,
            IssueRequest::PublicKey {
                subject: &DistinguishedName::parse("CN=TSA").unwrap(),
                public_key_der: key.public_key_der(),
            },
            Profile::Timestamping,
            ValidityPeriod::days_from_now(10).unwrap(),
            &[],
        )
        .unwrap();
        (key, cert, root.certificate().clone())
    }

    #[test]
    fn issues_a_verifiable_token() {
        let (key, cert, root) = tsa();
        let chain = [root];
        let signer = CmsSigner {
            key: &key,
            certificate: &cert,
            chain: &chain,
            hash: HashAlgorithm::Sha256,
            padding: RsaPadding::Pkcs1v15,
        };
        let der = request(HashAlgorithm::Sha384, &[9; 48], &tail(&[&NONCE, &CERT_REQ]));
        let req = parse_request(&der).unwrap();
        let issued = issue(&signer, &req, SystemTime::now()).unwrap();
        let summary = read_response(&issued.response).unwrap();
        assert_eq!(summary.status, STATUS_GRANTED);
        let token = summary.token.unwrap();
        assert!(token_has_certificates(&token).unwrap());
        let signers = verify(&token, VerifyContent::Encapsulated).unwrap();
        assert_eq!(signers[0].certificate, cert);
        let info = crate::cms::decode_signed_data(&token).unwrap();
        let econtent = info.encap_content_info.econtent.unwrap();
        let tst = TstInfo::from_der(econtent.value()).unwrap();
        assert_eq!(tst.message_imprint, req.message_imprint);
        assert_eq!(tst.nonce, req.nonce);
        assert_eq!(tst.serial_number.as_bytes(), issued.serial);

        let without = parse_request(&request(HashAlgorithm::Sha256, &[1; 32], &[])).unwrap();
        let issued = issue(&signer, &without, SystemTime::now()).unwrap();
        let token = read_response(&issued.response).unwrap().token.unwrap();
        assert!(!token_has_certificates(&token).unwrap());
    }

    proptest! {
        #[test]
        fn parser_never_panics_on_arbitrary_input(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_request(&bytes);
        }

        #[test]
        fn parser_never_panics_on_mutated_requests(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut der = request(HashAlgorithm::Sha256, &[3; 32], &tail(&[&POLICY_OID_DER, &NONCE, &CERT_REQ]));
            for (index, value) in flips {
                let i = index.index(der.len());
                der[i] = value;
            }
            let keep = cut.index(der.len() + 1);
            der.truncate(keep);
            if let Ok(request) = parse_request(&der) {
                prop_assert_eq!(request.digest().len(), request.hash.digest_len());
            }
        }
    }
}

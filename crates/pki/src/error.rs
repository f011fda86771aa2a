//! The error type of every PKI operation except PKCS#12 (see [`crate::pkcs12::Pkcs12Error`]).
//!
//! Variants are grouped by fault: the input is malformed, the input is well
//! formed but not acceptable (a rule says no), or something inside Sigil
//! failed. Each message says what went wrong and what to do about it.

use const_oid::ObjectIdentifier;
use sigil_keys::{KeyAlgorithm, KeyError};
use thiserror::Error;

use crate::profile::Profile;

/// Why a PKI operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PkiError {
    // ---- malformed input -------------------------------------------------------------
    /// The input is empty.
    #[error("the {what} is empty")]
    Empty {
        /// What was being read ("certificate", "CSR", ...).
        what: &'static str,
    },
    /// The input is larger than Sigil reads.
    #[error("the {what} is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// What was being read.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input holds more items than Sigil reads.
    #[error("the input holds more than {max} {what}s")]
    TooMany {
        /// What was being counted.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// The input ends in the middle of a structure.
    #[error("the {what} is truncated: the data ends before the structure does")]
    Truncated {
        /// What was being read.
        what: &'static str,
    },
    /// Bytes follow the end of the structure.
    #[error("unexpected data after the end of the {what}: remove it or upload the file unchanged")]
    TrailingData {
        /// What was being read.
        what: &'static str,
    },
    /// A PEM block has a label other than the one expected.
    #[error("expected a PEM block labelled \"{expected}\", found \"{found}\"")]
    WrongPemLabel {
        /// The label Sigil wanted.
        expected: &'static str,
        /// The label in the input.
        found: String,
    },
    /// The input is not valid PEM or DER for the expected structure.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// What the parser found wrong.
        detail: String,
    },
    /// A distinguished name string could not be parsed.
    #[error(
        "invalid distinguished name {input:?}: {reason} (write it like CN=Sigil Root,O=Example,C=DE)"
    )]
    InvalidDn {
        /// The string as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A subject alternative name could not be parsed.
    #[error("invalid subject alternative name {input:?}: {reason}")]
    InvalidSan {
        /// The name as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    // ---- well-formed but not acceptable ----------------------------------------------
    /// The public key could not be read or is of a type Sigil does not support.
    #[error("unsupported public key: {0}")]
    UnsupportedKey(#[source] KeyError),
    /// The signature algorithm is not one Sigil verifies.
    #[error(
        "unsupported signature algorithm {0}: Sigil accepts RSA PKCS#1 v1.5 or PSS with SHA-256/384/512 (PSS with MGF1 over the same hash and a salt as long as the hash: openssl -sigopt rsa_pss_saltlen:digest), ECDSA with SHA-256/384/512, and Ed25519"
    )]
    UnsupportedSignatureAlgorithm(ObjectIdentifier),
    /// The CSR's signature does not verify with the key it carries.
    #[error(
        "the CSR's signature does not verify: the request was altered or was not signed by its key"
    )]
    BadCsrSignature,
    /// The profile does not accept this key type.
    #[error("the {profile} profile does not accept {algorithm} keys: use {allowed}")]
    KeyNotAllowed {
        /// The profile.
        profile: Profile,
        /// The key's algorithm.
        algorithm: KeyAlgorithm,
        /// The algorithms it accepts.
        allowed: &'static str,
    },
    /// A certificate of this profile cannot be issued by a CA with this key.
    #[error(
        "a {issuer_algorithm} CA cannot issue {profile} certificates: Windows and OpenSSL 3.0 cannot verify such chains; use an RSA or ECDSA CA"
    )]
    IssuerKeyNotAllowed {
        /// The profile being issued.
        profile: Profile,
        /// The CA key's algorithm.
        issuer_algorithm: KeyAlgorithm,
    },
    /// The validity period is not acceptable.
    #[error("invalid validity: {0}")]
    InvalidValidity(String),
    /// The certificate would outlive the CA that issues it.
    #[error(
        "the requested validity ends {requested}, after the issuing CA expires ({issuer_not_after}): request a shorter validity or renew the CA first"
    )]
    ValidityExceedsIssuer {
        /// When the requested validity ends.
        requested: String,
        /// When the issuer's certificate expires.
        issuer_not_after: String,
    },
    /// The profile needs a subject alternative name.
    #[error("a {0} certificate needs at least one DNS name or IP address (subjectAltName)")]
    MissingSan(Profile),
    /// The profile does not carry subject alternative names.
    #[error("{0} certificates carry no subjectAltName: remove the DNS names and IP addresses")]
    SanNotAllowed(Profile),
    /// Too many subject alternative names.
    #[error("more than {max} subject alternative names")]
    TooManySans {
        /// The limit.
        max: usize,
    },
    /// The CSR asks for a kind of alternative name Sigil does not issue.
    #[error(
        "the CSR requests a {0} subject alternative name: Sigil issues only DNS names and IP addresses"
    )]
    UnsupportedSanType(&'static str),
    /// `issue` was asked for a CA certificate.
    #[error(
        "CA certificates are created with CaCertificate::self_signed or CaCertificate::intermediate, not issued"
    )]
    CaProfileNotIssuable,
    /// The issuer certificate is not a CA certificate that may sign certificates.
    #[error(
        "{0} is not a CA certificate that may sign certificates (basicConstraints cA and keyUsage keyCertSign are required)"
    )]
    NotACa(String),
    /// The issuer's path length constraint forbids another CA below it.
    #[error("the CA {0} has path length 0: it may only issue end-entity certificates")]
    PathLengthExceeded(String),
    /// The key given for the CA is not the key of its certificate.
    #[error("the key given for CA {0} does not match the CA certificate's public key")]
    CaKeyMismatch(String),
    /// The subject distinguished name is empty.
    #[error("the subject distinguished name is empty: give at least a CN")]
    EmptySubject,
    /// No certificate among those given issued this one.
    #[error(
        "cannot complete the chain: no certificate for the issuer \"{issuer}\" was found among the CA certificates"
    )]
    ChainIncomplete {
        /// The issuer DN that is missing.
        issuer: String,
    },
    /// The chain is longer than Sigil follows.
    #[error("the certificate chain is longer than {max} certificates")]
    ChainTooLong {
        /// The limit.
        max: usize,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("the signature on \"{0}\" does not verify with its issuer's public key")]
    BadCertificateSignature(String),
    /// A CRL input is not acceptable.
    #[error("invalid CRL: {0}")]
    InvalidCrl(String),

    // ---- certificates from CAs outside Sigil ------------------------------------------
    /// An imported chain holds only the leaf.
    #[error(
        "the chain holds only the leaf certificate: add its issuing CA certificate (and any \
         intermediates) after it, leaf first"
    )]
    ChainWithoutIssuer,
    /// The first certificate of an imported chain is not for the key it is imported for.
    #[error(
        "the leaf certificate (the first one) is for another public key than the held key: \
         import the certificate the CA issued for this key's CSR"
    )]
    LeafKeyMismatch,
    /// A certificate of an imported chain is not followed by its issuer.
    #[error(
        "the chain does not link: certificate {position} (\"{subject}\") was issued by \
         \"{issuer}\", but the next certificate is \"{next}\"; give the chain leaf first, \
         each certificate followed by its issuer"
    )]
    ChainBroken {
        /// 1-based position of the certificate whose issuer does not follow.
        position: usize,
        /// Its subject.
        subject: String,
        /// The issuer it names.
        issuer: String,
        /// The subject of the certificate that follows it.
        next: String,
    },
    /// The leaf lacks the extended key usage its purpose needs.
    #[error(
        "the leaf certificate does not carry the {purpose} extended key usage: ask the CA for \
         a {purpose} certificate"
    )]
    MissingExtendedKeyUsage {
        /// The purpose, e.g. `codeSigning`.
        purpose: &'static str,
    },
    /// A certificate of an imported chain is outside its validity period.
    #[error(
        "the certificate \"{subject}\" is {state}: it is valid from {not_before} to {not_after} (UTC)"
    )]
    NotValidNow {
        /// Its subject.
        subject: String,
        /// `expired` or `not valid yet`.
        state: &'static str,
        /// Validity start, RFC 3339.
        not_before: String,
        /// Validity end, RFC 3339.
        not_after: String,
    },
    /// The leaf of an imported chain is a CA certificate.
    #[error("the leaf certificate \"{0}\" is a CA certificate: import an end-entity certificate")]
    LeafIsCa(String),

    // ---- failures inside Sigil -------------------------------------------------------
    /// The key refused to sign, or its signature did not verify.
    #[error("signing failed: {0}")]
    Signing(#[source] KeyError),
    /// An ASN.1 structure could not be encoded (a bug or an out-of-range value).
    #[error("encoding failed: {0}")]
    Encoding(#[from] der::Error),
    /// The certificate builder failed.
    #[error("building the structure failed: {0}")]
    Builder(String),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

impl From<x509_cert::builder::Error> for PkiError {
    fn from(e: x509_cert::builder::Error) -> Self {
        PkiError::Builder(e.to_string())
    }
}

/// Maps a DER decoding error on untrusted input to a typed error about `what`.
pub(crate) fn decode_error(what: &'static str, e: der::Error) -> PkiError {
    match e.kind() {
        der::ErrorKind::Incomplete { .. } => PkiError::Truncated { what },
        der::ErrorKind::TrailingData { .. } => PkiError::TrailingData { what },
        _ => PkiError::Malformed {
            what,
            detail: e.to_string(),
        },
    }
}

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), PkiError> {
    getrandom::fill(buf).map_err(|_| PkiError::Random)
}

//! Records of the internal PKI as the store keeps them: sealed keys, CA containers, issued
//! certificates and the listeners' certificate chains. No clear private key ever appears here:
//! keys arrive sealed by `sigil-custody`.

use std::fmt;

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::names::CaName;
use crate::strenum::str_enum;

/// Longest certificate serial number: RFC 5280 §4.1.2.2 allows 20 octets.
pub const SERIAL_MAX_BYTES: usize = 20;
/// Longest subject text kept with a certificate record.
pub const SUBJECT_MAX_LEN: usize = 1024;
/// Longest key algorithm name.
pub const ALGORITHM_MAX_LEN: usize = 32;
/// Most certificates in a listener chain.
pub const MAX_CHAIN_LEN: usize = 8;

/// The id of a sealed key (a random UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub Uuid);

impl KeyId {
    /// A fresh random id.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(crate::random_uuid(rng))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A certificate serial number as lowercase hex without leading zeros (unique per store).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SerialNumber(String);

/// A serial number that is not 1 to 20 bytes of hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("serial number must be 1 to {SERIAL_MAX_BYTES} bytes of hex, got {0:?}")]
pub struct BadSerial(pub String);

impl SerialNumber {
    /// Reads hex (either case, optional leading zeros), normalising it.
    pub fn from_hex(text: &str) -> Result<Self, BadSerial> {
        let bad = || BadSerial(crate::text::truncate(text, 64).to_owned());
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let trimmed = text.trim_start_matches('0');
        let trimmed = if trimmed.is_empty() { "0" } else { trimmed };
        if trimmed.len() > 2 * SERIAL_MAX_BYTES {
            return Err(bad());
        }
        Ok(Self(trimmed.to_ascii_lowercase()))
    }

    /// From the big-endian bytes of the serial.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BadSerial> {
        Self::from_hex(&hex::encode(bytes))
    }

    /// The normalised hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SerialNumber {
    type Error = BadSerial;

    fn try_from(text: String) -> Result<Self, BadSerial> {
        Self::from_hex(&text)
    }
}

impl From<SerialNumber> for String {
    fn from(serial: SerialNumber) -> Self {
        serial.0
    }
}

str_enum! {
    /// What a key or certificate is for (the certificate profiles of `sigil-pki`).
    pub enum CertProfile ("certificate profile") {
        /// A CA certificate.
        Ca = "ca",
        /// A TLS server certificate.
        TlsServer = "tls-server",
        /// A TLS client certificate.
        TlsClient = "tls-client",
        /// A code-signing certificate.
        CodeSigning = "code-signing",
        /// A timestamping authority certificate.
        Timestamping = "timestamping",
    }
}

str_enum! {
    /// Revocation reasons of RFC 5280 §5.3.1 (CRLReason), as names.
    pub enum RevocationReason ("revocation reason") {
        /// unspecified (0)
        Unspecified = "unspecified",
        /// keyCompromise (1)
        KeyCompromise = "key-compromise",
        /// cACompromise (2)
        CaCompromise = "ca-compromise",
        /// affiliationChanged (3)
        AffiliationChanged = "affiliation-changed",
        /// superseded (4)
        Superseded = "superseded",
        /// cessationOfOperation (5)
        CessationOfOperation = "cessation-of-operation",
        /// certificateHold (6)
        CertificateHold = "certificate-hold",
        /// privilegeWithdrawn (9)
        PrivilegeWithdrawn = "privilege-withdrawn",
    }
}

/// The name of the software backend in key records: keys sealed under the master key.
pub const SOFTWARE_BACKEND: &str = "software";

/// Longest HSM object label Sigil writes or accepts in a key record.
pub const HSM_LABEL_MAX_LEN: usize = 64;

/// Where a key's private half is held, as its record names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "kebab-case")]
pub enum KeyLocation {
    /// Sealed under the master key (AES-256-GCM) by the software keystore: the blob, opaque
    /// to the store.
    Software {
        /// The sealed PKCS#8 private key.
        sealed: Vec<u8>,
    },
    /// Generated and kept on a PKCS#11 token (sensitive, not extractable): only the object's
    /// coordinates are recorded, never key bytes.
    Hsm {
        /// The configured name of the HSM (`[[hsm]] name` in `sigil.toml`).
        hsm: String,
        /// The private key object's `CKA_ID` on the token.
        object_id: Vec<u8>,
        /// The private key object's `CKA_LABEL` on the token.
        label: String,
    },
}

impl KeyLocation {
    /// The backend's name: [`SOFTWARE_BACKEND`] or the HSM's configured name.
    pub fn backend(&self) -> &str {
        match self {
            Self::Software { .. } => SOFTWARE_BACKEND,
            Self::Hsm { hsm, .. } => hsm,
        }
    }

    /// Whether the private key can leave the backend (only sealed software keys can).
    pub fn is_exportable(&self) -> bool {
        matches!(self, Self::Software { .. })
    }
}

/// A key record: a private key sealed by the key custody (AES-256-GCM under the master key) or
/// a handle to an HSM object. The store never sees a clear key, and for HSM keys no key bytes
/// at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedKey {
    /// Id.
    pub id: KeyId,
    /// Algorithm name as custody writes it (e.g. `rsa-3072`, `ecdsa-p256`).
    pub algorithm: String,
    /// What the key is for.
    pub purpose: CertProfile,
    /// SubjectPublicKeyInfo, DER.
    pub public_key_der: Vec<u8>,
    /// Which backend holds the private half, and how to find it there.
    pub location: KeyLocation,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// A CA container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaRecord {
    /// Unique name.
    pub name: CaName,
    /// Its key.
    pub key_id: KeyId,
    /// Its certificate, DER.
    pub certificate_der: Vec<u8>,
    /// The CA that issued it (`None` for a root).
    pub parent: Option<CaName>,
    /// Next serial number to issue (monotonic counter; `sigil-pki` may add randomness).
    pub next_serial: u64,
    /// Next CRL number.
    pub next_crl_number: u64,
}

/// A revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why.
    pub reason: RevocationReason,
}

/// Who issued a stored certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateIssuer {
    /// A CA container of this deployment.
    Ca(CaName),
    /// A CA outside Sigil: the certificate was imported for a key Sigil holds, with the chain
    /// that links it to that CA.
    External(ExternalIssuer),
}

/// The issuer of an imported certificate: a CA Sigil does not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalIssuer {
    /// The issuer's distinguished name, as text (for listing).
    pub name: String,
    /// The certificates above the leaf as imported, DER, the leaf's issuer first (1 to
    /// [`MAX_CHAIN_LEN`] − 1; the root may be left out).
    pub chain: Vec<Vec<u8>>,
}

impl CertificateIssuer {
    /// The CA container, when a CA of this deployment issued the certificate.
    pub fn ca(&self) -> Option<&CaName> {
        match self {
            Self::Ca(name) => Some(name),
            Self::External(_) => None,
        }
    }
}

impl fmt::Display for CertificateIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ca(name) => name.fmt(f),
            Self::External(external) => write!(f, "external: {}", external.name),
        }
    }
}

impl From<CaName> for CertificateIssuer {
    fn from(name: CaName) -> Self {
        Self::Ca(name)
    }
}

/// An issued (or imported) certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// Serial number, unique in the store (an imported certificate whose serial is already
    /// stored is refused).
    pub serial: SerialNumber,
    /// The issuing CA container, or the external CA's chain.
    pub issuer: CertificateIssuer,
    /// Profile.
    pub profile: CertProfile,
    /// Subject, as text (for listing).
    pub subject: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// Validity start.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// Validity end.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The sealed key of the subject, when Sigil holds it.
    pub key_id: Option<KeyId>,
    /// Set once revoked.
    pub revocation: Option<Revocation>,
}

/// The certificate chain and key a listener presents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerChain {
    /// The listener's key.
    pub key_id: KeyId,
    /// Certificates, DER, leaf first (at most [`MAX_CHAIN_LEN`]).
    pub certificates: Vec<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_normalises() {
        assert_eq!(SerialNumber::from_hex("00AbC").unwrap().as_str(), "abc");
        assert_eq!(SerialNumber::from_bytes(&[0, 0]).unwrap().as_str(), "0");
        assert!(SerialNumber::from_hex("").is_err());
        assert!(SerialNumber::from_hex("xyz").is_err());
        assert!(SerialNumber::from_hex(&"1".repeat(41)).is_err());
        assert!(SerialNumber::from_hex(&format!("00{}", "f".repeat(40))).is_ok());
    }
}

//! Sigil's PKI: certificate authorities, certificate profiles, CSRs, CRLs,
//! exports, and the CMS `SignedData` shared by every signature format.
//!
//! Nothing here knows where keys live: every signing operation takes a
//! `&dyn sigil_keys::SigningKey` (software or HSM), bridged to the RustCrypto
//! builders by [`signer::KeySigner`]. Nothing here stores or sends anything:
//! the server stores the DER and metadata returned and hands them back.
//!
//! | module | job |
//! |---|---|
//! | [`dn`], [`san`] | names: `CN=...,O=...,C=..` strings, DNS/IP alternative names |
//! | [`profile`] | the five certificate profiles and the keys each accepts |
//! | [`ca`] | root and intermediate CAs, issuing, chain building |
//! | [`csr`] | reading and verifying CSRs, making CSRs for Sigil's keys |
//! | [`crl`] | signed v2 CRLs |
//! | [`pem`] | PEM/DER reading (bounded) and writing of certificates and chains |
//! | [`pkcs12`] | PKCS#12 export and import |
//! | [`cms`], [`signer`] | CMS `SignedData`; the `SigningKey` → RustCrypto signer bridge |
//! | [`tsp`] | RFC 3161 time-stamp requests, tokens and responses (the TSA side) |
//! | [`stamp`] | RFC 3161 client side: requests, checking answers, tokens as unsigned attributes |
//!
//! The Host API listener's certificate, end to end:
//!
//! ```
//! use sigil_keys::{KeyAlgorithm, SigningKey, SoftwareKey};
//! use sigil_pki::ca::{CaCertificate, IssueRequest, NewCa, build_chain, issue};
//! use sigil_pki::{Csr, DistinguishedName, Profile, San, ValidityPeriod, build_csr, pem};
//!
//! // A root CA (the server stores `root` and seals `root_key`).
//! let root_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256)?;
//! let root = CaCertificate::self_signed(
//!     &NewCa {
//!         name: "root",
//!         key_ref: "key-1",
//!         subject: &DistinguishedName::parse("CN=Sigil Root,O=Example,C=DE")?,
//!         validity: ValidityPeriod::days_from_now(3650)?,
//!         path_len: None,
//!     },
//!     &root_key,
//! )?;
//!
//! // The listener's key and CSR.
//! let listener_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256)?;
//! let csr = build_csr(
//!     &listener_key,
//!     &DistinguishedName::parse("CN=sigil.example.com")?,
//!     &[San::parse("sigil.example.com")?],
//! )?;
//!
//! // The CA checks the CSR and issues a tls-server certificate.
//! let request = Csr::parse(csr.to_pem()?.as_bytes())?.verify()?;
//! let certificate = issue(
//!     &root,
//!     &root_key,
//!     IssueRequest::Csr(&request),
//!     Profile::TlsServer,
//!     ValidityPeriod::days_from_now(365)?,
//!     request.sans(),
//! )?;
//! let chain = build_chain(&certificate, &[root.certificate().clone()])?;
//! let pem = pem::encode_chain(&chain)?;
//! assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

pub mod ca;
pub mod cms;
pub mod crl;
pub mod csr;
pub mod dn;
mod error;
pub mod external;
pub mod pem;
pub mod pkcs12;
pub mod profile;
pub mod san;
pub mod serial;
mod sigalg;
pub mod signer;
pub mod stamp;
pub mod tsp;
pub mod validity;

pub use ca::{CaCertificate, IssueRequest, NewCa, build_chain, issue};
pub use crl::{CrlContent, Revocation, RevocationReason, build_crl};
pub use csr::{Csr, VerifiedCsr, build_csr};
pub use dn::DistinguishedName;
pub use error::PkiError;
pub use profile::Profile;
pub use san::{San, certificate_sans};
pub use validity::ValidityPeriod;
/// The X.509 types this crate takes and returns, at the version it uses.
pub use x509_cert;

//! Sigil's PKI: certificate authorities, certificate profiles, CSRs, CRLs,
//! exports, and the CMS `SignedData` shared by every signature format.
//!
//! Nothing here knows where keys live: every signing operation takes a
//! `&dyn sigil_keys::SigningKey` (software or HSM), bridged to the RustCrypto
//! builders by [`signer::KeySigner`].

#![forbid(unsafe_code)]

pub mod cms;
pub mod signer;

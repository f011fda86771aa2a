//! Authenticode for catalog (`.cat`) files.
//!
//! A catalog is a DER PKCS#7 `SignedData` whose content is a certificate trust list (CTL,
//! content type `szOID_CTL` 1.3.6.1.4.1.311.10.1) naming the hashes of the files it covers.
//! Unlike the other members of the family, there is no `SpcIndirectDataContent`: the CTL
//! itself is the signed content, so the `messageDigest` signed attribute is the hash of the
//! CTL SEQUENCE's value octets (what osslsigncode 2.9, `cat.c`, signs). An unsigned catalog
//! (as `makecat` writes it) is the same `SignedData` with no signer.
//!
//! The file stays on the client: the client sends the digest of the CTL ([`prepare_catalog`]);
//! the server returns a *detached* SignedData over it ([`sign_catalog_digest`]: content type
//! CTL, no eContent); the client puts the CTL into it as eContent — outside the signature,
//! so the signature still verifies — and writes the result as the catalog
//! ([`PreparedCatalog::embed`]), replacing any earlier signature. Nested signatures are not
//! supported for catalogs (osslsigncode does not nest them either).

mod embed;
mod parse;
mod sign;
mod verify;

pub use parse::{Catalog, MAX_CATALOG_LEN, MS_CTL_OBJID, PreparedCatalog, prepare_catalog};
pub use sign::sign_catalog_digest;
pub use verify::{CatalogVerificationReport, verify_catalog, verify_catalog_file};

//! Local verification of an Authenticode-signed cabinet (`sigil verify FILE.cab`).
//!
//! The same checks as for PE files (see `crate::verify`): for the primary signature and
//! every nested one, the signed digest against the cabinet's and the CMS checks. Trust in
//! the signer (chain, validity, revocation) is left to the caller.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

use sigil_keys::Hasher;

use super::digest::hash_signed;
use super::embed::read_signature;
use super::layout::CabLayout;
use crate::error::{AuthenticodeError, Result};
use crate::signature::first_der_element;
use crate::subject::Subject;
use crate::verify::{SignatureReport, signature_reports};

/// The result of verifying a signed cabinet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CabVerificationReport {
    /// The cabinet's header.
    pub layout: CabLayout,
    /// The primary signature first, then the nested ones (depth first).
    pub signatures: Vec<SignatureReport>,
}

impl CabVerificationReport {
    /// Whether every signature passed every check.
    pub fn is_valid(&self) -> bool {
        self.signatures.iter().all(SignatureReport::is_valid)
    }
}

/// Verifies the Authenticode signatures of the cabinet at `path`.
pub fn verify_cab_file(path: &Path) -> Result<CabVerificationReport> {
    let mut file = File::open(path).map_err(AuthenticodeError::io("open the cabinet"))?;
    verify_cab(&mut file)
}

/// Verifies the Authenticode signatures of the cabinet in `reader`.
pub fn verify_cab<R: Read + Seek>(reader: &mut R) -> Result<CabVerificationReport> {
    let layout = CabLayout::parse(reader)?;
    let area = layout.signature.ok_or(AuthenticodeError::NotSigned)?;
    let area_bytes = read_signature(reader, area)?;
    let signatures = signature_reports(
        first_der_element(&area_bytes)?,
        Subject::Cab,
        |algorithms| {
            let mut hashers: Vec<Hasher> = algorithms.iter().map(|a| Hasher::new(*a)).collect();
            hash_signed(reader, &layout, &mut hashers)?;
            Ok(hashers.into_iter().map(Hasher::finalize).collect())
        },
    )?;
    Ok(CabVerificationReport { layout, signatures })
}

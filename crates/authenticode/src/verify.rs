//! Local verification of an Authenticode-signed PE file (`sigil verify FILE`).
//!
//! For the primary signature and every nested one: the image digest signed in
//! `SpcIndirectDataContent` against the file's, and the CMS checks of
//! `sigil_pki::cms::verify` (the `messageDigest` signed attribute against the
//! `SpcIndirectDataContent`, the SignerInfo's signature against the signer
//! certificate's public key). Plus the PE checksum. The file is read once, whatever the number of signatures.
//!
//! Not checked here: whether the signer certificate chains to a trusted root,
//! its validity period, key usage and revocation, and timestamps. Those are
//! trust decisions for the caller (or for `osslsigncode verify -CAfile`).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

use const_oid::ObjectIdentifier;
use sigil_keys::HashAlgorithm;

use crate::digest::scan;
use crate::embed::read_cert_table;
use crate::error::{AuthenticodeError, Result};
use crate::pe::PeLayout;
use crate::signature::{
    AuthenticodeSignature, Check, MAX_NESTING_DEPTH, MAX_SIGNATURES, first_der_element, hex,
};
use crate::subject::Subject;
use crate::wincert::{MAX_CERT_TABLE_LEN, parse_table};

/// The result of verifying a signed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerificationReport {
    /// The file's PE layout.
    pub layout: PeLayout,
    /// The `CheckSum` stored in the file.
    pub stored_checksum: u32,
    /// The checksum computed over the file.
    pub computed_checksum: u32,
    /// The primary signature first, then the nested ones (depth first).
    pub signatures: Vec<SignatureReport>,
}

impl VerificationReport {
    /// Whether the stored PE checksum is the computed one.
    pub fn checksum_matches(&self) -> bool {
        self.stored_checksum == self.computed_checksum
    }

    /// Whether the checksum matches and every signature passed every check.
    pub fn is_valid(&self) -> bool {
        self.checksum_matches() && self.signatures.iter().all(SignatureReport::is_valid)
    }
}

/// What was found about one signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureReport {
    /// 0 for the primary signature, 1 for one nested in it, and so on.
    pub depth: usize,
    /// The signer certificate's subject (RFC 4514), when the certificate is in the signature.
    pub signer_subject: Option<String>,
    /// The signer certificate's issuer (RFC 4514).
    pub signer_issuer: Option<String>,
    /// The image digest algorithm, or its OID when Sigil does not support it.
    pub algorithm: std::result::Result<HashAlgorithm, ObjectIdentifier>,
    /// The image digest in the signature.
    pub signed_digest: Vec<u8>,
    /// The image digest of the file (with the same algorithm), when computed.
    pub computed_digest: Option<Vec<u8>>,
    /// Signed image digest = file's image digest.
    pub image_digest: Check,
    /// The CMS check: `messageDigest` = digest of the `SpcIndirectDataContent`,
    /// `contentType` is `SPC_INDIRECT_DATA`, and the SignerInfo's signature
    /// verifies with the signer certificate's key.
    pub signature: Check,
    /// This signature's DER `ContentInfo` (for reading its time-stamp, for example).
    pub pkcs7: Vec<u8>,
}

impl SignatureReport {
    /// Whether both checks passed.
    pub fn is_valid(&self) -> bool {
        self.image_digest.passed() && self.signature.passed()
    }
}

/// Verifies the Authenticode signatures of the PE file at `path`.
pub fn verify_file(path: &Path) -> Result<VerificationReport> {
    let mut file = File::open(path).map_err(AuthenticodeError::io("open the PE file"))?;
    verify(&mut file)
}

/// Verifies the Authenticode signatures of the PE image in `reader`.
pub fn verify<R: Read + Seek>(reader: &mut R) -> Result<VerificationReport> {
    let layout = PeLayout::parse(reader)?;
    let table = layout.cert_table.ok_or(AuthenticodeError::NotSigned)?;
    if table.size > MAX_CERT_TABLE_LEN {
        return Err(AuthenticodeError::TooLarge {
            what: "attribute certificate table",
            len: table.size,
            max: MAX_CERT_TABLE_LEN,
        });
    }
    let table_bytes = read_cert_table(reader, table)?;
    let entry = parse_table(&table_bytes)?
        .into_iter()
        .find(|e| e.is_pkcs7())
        .ok_or(AuthenticodeError::NoPkcs7Entry)?;
    let mut checksum = 0;
    let signatures =
        signature_reports(first_der_element(entry.data)?, Subject::Pe, |algorithms| {
            let scanned = scan(reader, &layout, algorithms, true)?;
            checksum = scanned.checksum.unwrap_or_default();
            Ok(scanned.digests)
        })?;
    Ok(VerificationReport {
        stored_checksum: layout.stored_checksum,
        computed_checksum: checksum,
        layout,
        signatures,
    })
}

/// The reports on the primary signature `primary` (a DER `ContentInfo`) and every signature
/// nested in it, for a file of kind `subject`. `digests` computes the file's digest with each
/// of the algorithms it is given (once, for all the signatures).
pub(crate) fn signature_reports(
    primary: &[u8],
    subject: Subject,
    digests: impl FnOnce(&[HashAlgorithm]) -> Result<Vec<Vec<u8>>>,
) -> Result<Vec<SignatureReport>> {
    let signatures = collect_signatures(primary)?;
    let algorithms: Vec<HashAlgorithm> = signatures
        .iter()
        .filter_map(|(_, s, _)| s.image_algorithm.ok())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let computed = digests(&algorithms)?;
    let computed_for = |algorithm: HashAlgorithm| {
        algorithms
            .iter()
            .position(|a| *a == algorithm)
            .and_then(|i| computed.get(i))
            .cloned()
    };

    Ok(signatures
        .iter()
        .map(|(depth, sig, der)| {
            let computed_digest = sig.image_algorithm.ok().and_then(computed_for);
            let image_digest = match (&sig.image_algorithm, &computed_digest) {
                _ if sig.subject != subject => Check::Failed(format!(
                    "the signature is for a {}, but this file is a {}",
                    sig.subject.description(),
                    subject.description()
                )),
                (Err(oid), _) => Check::NotChecked(format!(
                    "image digest algorithm {oid} is not supported"
                )),
                (Ok(_), Some(computed)) if *computed == sig.image_digest => Check::Passed,
                (Ok(_), Some(computed)) => Check::Failed(format!(
                    "the signature covers image digest {} but the file's is {}: the file was modified after signing",
                    hex(&sig.image_digest),
                    hex(computed)
                )),
                (Ok(_), None) => Check::NotChecked("image digest not computed".into()),
            };
            let cert = sig.signer_certificate();
            SignatureReport {
                depth: *depth,
                signer_subject: cert.map(|c| c.tbs_certificate().subject().to_string()),
                signer_issuer: cert.map(|c| c.tbs_certificate().issuer().to_string()),
                algorithm: sig.image_algorithm,
                signed_digest: sig.image_digest.clone(),
                computed_digest,
                image_digest,
                signature: sig.cms_check(),
                pkcs7: der.clone(),
            }
        })
        .collect())
}

/// The primary signature and all nested ones, depth first, with their depth.
fn collect_signatures(primary: &[u8]) -> Result<Vec<(usize, AuthenticodeSignature, Vec<u8>)>> {
    let mut found = Vec::new();
    let mut pending = vec![(0, primary.to_vec())];
    while let Some((depth, der)) = pending.pop() {
        if found.len() == MAX_SIGNATURES {
            return Err(AuthenticodeError::malformed(format!(
                "more than {MAX_SIGNATURES} signatures"
            )));
        }
        let signature = AuthenticodeSignature::from_der(&der)?;
        let nested = signature.nested_der()?;
        if !nested.is_empty() && depth == MAX_NESTING_DEPTH {
            return Err(AuthenticodeError::malformed(format!(
                "signatures nested more than {MAX_NESTING_DEPTH} levels deep"
            )));
        }
        // Reverse, so that the first nested signature is reported first.
        pending.extend(nested.into_iter().rev().map(|n| (depth + 1, n)));
        found.push((depth, signature, der));
    }
    Ok(found)
}

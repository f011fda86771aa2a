//! Local verification of a signed JAR (`sigil verify FILE.jar`).
//!
//! What is checked here, as the JDK's `JarVerifier` does: every entry's
//! content against its manifest digests, every `.SF` against the manifest
//! (whole-manifest digest, or main-attributes and per-section digests), and
//! which entries no signer covers, and each block's PKCS#7 signature over
//! its `.SF` ([`check_block_signature`]). What is **not** checked here: the
//! signer's certificate chain up to a trusted root (the report gives each
//! signer certificate so that the caller can).

use std::collections::HashSet;
use std::path::Path;

use der::Encode as _;
use sigil_pki::cms::{self, CmsError, VerifyContent};

use crate::archive::{Archive, Entry, Source, is_signature_related};
use crate::digest::{HashAlgorithm, JarDigest, unbase64};
use crate::error::{ArchiveError, JarError};
use crate::limits::{MAX_MANIFEST_BYTES, MAX_SIGNATURE_BLOCK_BYTES, MAX_SIGNATURE_FILE_BYTES};
use crate::manifest::Manifest;
use crate::sign::{digest_attributes, digest_entry, find_manifest, is_signature_file};
use crate::signer::SignatureBlockKind;

/// What verification found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// The signers found (`META-INF/*.SF`), in archive order.
    pub signers: Vec<SignerReport>,
    /// How many entries were digested and compared.
    pub entries_checked: usize,
    /// Entries whose content no longer matches their manifest digest.
    pub tampered_entries: Vec<String>,
    /// Entries that no valid signature covers (no manifest digest, or no
    /// `.SF` section that verifies).
    pub unsigned_entries: Vec<String>,
    /// Entries whose digests match but whose only signers' blocks use an algorithm Sigil
    /// cannot check (Ed25519, SHA-1, ...): neither valid nor invalid.
    pub unchecked_entries: Vec<String>,
}

impl VerifyReport {
    /// Signed by at least one signer, every signer's `.SF` consistent with the
    /// manifest and its block's signature valid, no entry tampered with, none
    /// left unsigned. Trust in the signer certificates is the caller's to decide.
    pub fn is_intact(&self) -> bool {
        !self.signers.is_empty()
            && self.signers.iter().all(SignerReport::is_intact)
            && self.tampered_entries.is_empty()
            && self.unsigned_entries.is_empty()
            && self.unchecked_entries.is_empty()
    }
}

/// One signer: its `.SF` checked against the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignerReport {
    /// Base name, e.g. `SIGIL`.
    pub name: String,
    /// The `.SF` entry.
    pub signature_file: String,
    /// The block entry (`.RSA`, `.EC`, `.DSA`), when present.
    pub block_file: Option<String>,
    /// The block's kind, from its extension.
    pub block_kind: Option<SignatureBlockKind>,
    /// The algorithm of the `.SF`'s digests, when supported.
    pub digest_algorithm: Option<HashAlgorithm>,
    /// Whether `x-Digest-Manifest` matches the whole manifest.
    pub manifest_digest_matches: bool,
    /// Whether `x-Digest-Manifest-Main-Attributes` matches (`None`: absent).
    pub main_attributes_match: Option<bool>,
    /// `.SF` sections whose digest does not match the manifest section.
    pub invalid_sections: Vec<String>,
    /// How many manifest sections this signer covers.
    pub covered_entries: usize,
    /// The state of the cryptographic check of the block.
    pub block_signature: BlockSignatureStatus,
    /// The signature block's bytes (a DER `ContentInfo`), when there is one.
    pub block: Option<Vec<u8>>,
}

impl SignerReport {
    /// The block's signature is valid and the `.SF` is consistent with the manifest.
    pub fn is_intact(&self) -> bool {
        matches!(self.block_signature, BlockSignatureStatus::Valid { .. }) && self.is_consistent()
    }

    /// The `.SF` is consistent with the manifest but the block's algorithm is one Sigil
    /// cannot check: neither valid nor invalid.
    pub fn is_unchecked(&self) -> bool {
        matches!(
            self.block_signature,
            BlockSignatureStatus::NotChecked { .. }
        ) && self.is_consistent()
    }

    /// The `.SF`'s digests match the manifest (the block aside).
    fn is_consistent(&self) -> bool {
        self.digest_algorithm.is_some()
            && (self.manifest_digest_matches
                || (self.main_attributes_match != Some(false) && self.invalid_sections.is_empty()))
    }
}

/// The cryptographic check of a signature block over its `.SF`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockSignatureStatus {
    /// The PKCS#7 signature verifies over the `.SF` with the signer
    /// certificate it carries. The certificate chain is **not** validated
    /// against a trust anchor here: check `signer_certificate` against the
    /// trusted roots (or use `jarsigner -verify -keystore`).
    Valid {
        /// The signer certificate's subject (RFC 4514).
        subject: String,
        /// The signer certificate (DER).
        signer_certificate: Vec<u8>,
    },
    /// The block does not verify (or has no block file).
    Invalid {
        /// Why.
        reason: String,
    },
    /// The block uses a digest or signature algorithm Sigil does not implement (Ed25519,
    /// SHA-1, ...): not checked, neither valid nor invalid.
    NotChecked {
        /// Which algorithm.
        reason: String,
    },
}

/// Checks a signature block (detached PKCS#7 `SignedData`) over its `.SF`:
/// message-digest attribute, content type, and every signer's signature
/// with its certificate (through `sigil_pki::cms::verify`).
pub fn check_block_signature(signature_file: &[u8], block: &[u8]) -> BlockSignatureStatus {
    match cms::verify(block, VerifyContent::Detached(signature_file)) {
        Ok(signers) => match signers.first() {
            Some(s) => match s.certificate.to_der() {
                Ok(der) => BlockSignatureStatus::Valid {
                    subject: s.certificate.tbs_certificate().subject().to_string(),
                    signer_certificate: der,
                },
                Err(e) => BlockSignatureStatus::Invalid {
                    reason: e.to_string(),
                },
            },
            None => BlockSignatureStatus::Invalid {
                reason: "no signer".into(),
            },
        },
        Err(e @ (CmsError::UnsupportedDigest(_) | CmsError::UnsupportedSignature(_))) => {
            BlockSignatureStatus::NotChecked {
                reason: e.to_string(),
            }
        }
        Err(e) => BlockSignatureStatus::Invalid {
            reason: e.to_string(),
        },
    }
}

/// Verifies the JAR at `path`.
pub fn verify(path: &Path) -> Result<VerifyReport, JarError> {
    verify_archive(&Archive::open(path)?)
}

/// [`verify`] over an already open archive.
pub fn verify_archive<S: Source>(archive: &Archive<S>) -> Result<VerifyReport, JarError> {
    let Some(manifest_entry) = find_manifest(archive)? else {
        return Ok(VerifyReport {
            signers: Vec::new(),
            entries_checked: 0,
            tampered_entries: Vec::new(),
            unchecked_entries: Vec::new(),
            unsigned_entries: archive
                .entries()
                .iter()
                .filter(|e| needs_signature(e))
                .map(|e| e.name().to_owned())
                .collect(),
        });
    };
    let manifest_bytes = archive.read_entry(manifest_entry, MAX_MANIFEST_BYTES)?;
    let manifest = Manifest::parse(&manifest_bytes).map_err(JarError::Manifest)?;

    let mut signers = Vec::new();
    let mut covered: HashSet<String> = HashSet::new();
    let mut covered_unchecked: HashSet<String> = HashSet::new();
    for entry in archive
        .entries()
        .iter()
        .filter(|e| is_signature_file(e.name()))
    {
        let (report, names) = check_signer(archive, entry, &manifest, &manifest_bytes)?;
        if report.is_intact() {
            covered.extend(names);
        } else if report.is_unchecked() {
            covered_unchecked.extend(names);
        }
        signers.push(report);
    }

    let mut report = VerifyReport {
        signers,
        entries_checked: 0,
        tampered_entries: Vec::new(),
        unsigned_entries: Vec::new(),
        unchecked_entries: Vec::new(),
    };
    for entry in archive.entries().iter().filter(|e| needs_signature(e)) {
        let expected = manifest
            .section(entry.name())
            .map(digest_attributes)
            .unwrap_or_default();
        if expected.is_empty() {
            report.unsigned_entries.push(entry.name().to_owned());
            continue;
        }
        let algorithms: Vec<HashAlgorithm> = expected.iter().map(|(a, _)| *a).collect();
        report.entries_checked += 1;
        let actual = match digest_entry(archive, entry, &algorithms) {
            Ok(d) => d,
            // Content whose CRC or size no longer holds was changed too.
            Err(
                ArchiveError::CrcMismatch { .. }
                | ArchiveError::SizeMismatch { .. }
                | ArchiveError::CorruptData { .. },
            ) => {
                report.tampered_entries.push(entry.name().to_owned());
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let matches = expected
            .iter()
            .zip(&actual)
            .all(|((_, want), (_, got))| want.as_deref() == Some(got.as_slice()));
        if !matches {
            report.tampered_entries.push(entry.name().to_owned());
        } else if !covered.contains(entry.name()) {
            if covered_unchecked.contains(entry.name()) {
                report.unchecked_entries.push(entry.name().to_owned());
            } else {
                report.unsigned_entries.push(entry.name().to_owned());
            }
        }
    }
    Ok(report)
}

fn needs_signature(e: &Entry) -> bool {
    !e.is_directory() && !is_signature_related(e.name())
}

/// Checks one `.SF` against the manifest; returns the report and the entry
/// names whose manifest sections it validly covers.
fn check_signer<S: Source>(
    archive: &Archive<S>,
    sf_entry: &Entry,
    manifest: &Manifest,
    manifest_bytes: &[u8],
) -> Result<(SignerReport, Vec<String>), JarError> {
    let sf_name = sf_entry.name().to_owned();
    let base = sf_name
        .get("META-INF/".len()..sf_name.len().saturating_sub(3))
        .unwrap_or_default()
        .to_owned();
    let sf_bytes = archive.read_entry(sf_entry, MAX_SIGNATURE_FILE_BYTES)?;
    let sf = Manifest::parse(&sf_bytes).map_err(|error| JarError::SignatureFile {
        file: sf_name.clone(),
        error,
    })?;

    let block = archive.entries().iter().find_map(|e| {
        let (stem, ext) = e.name().rsplit_once('.')?;
        let kind = SignatureBlockKind::from_extension(ext)?;
        (stem.eq_ignore_ascii_case(&format!("META-INF/{base}"))).then_some((e, kind))
    });
    let (block_signature, block_der) = match block {
        Some((e, _)) => {
            let bytes = archive.read_entry(e, MAX_SIGNATURE_BLOCK_BYTES)?;
            (check_block_signature(&sf_bytes, &bytes), Some(bytes))
        }
        None => (
            BlockSignatureStatus::Invalid {
                reason: format!("no signature block (.RSA, .EC or .DSA) for {sf_name}"),
            },
            None,
        ),
    };

    let algorithm = HashAlgorithm::ALL
        .into_iter()
        .find(|a| sf.main().get(a.manifest_digest_attribute()).is_some())
        .or_else(|| {
            sf.sections()
                .iter()
                .flat_map(digest_attributes)
                .map(|(a, _)| a)
                .next()
        });
    let mut report = SignerReport {
        name: base,
        signature_file: sf_name,
        block_file: block.map(|(e, _)| e.name().to_owned()),
        block_kind: block.map(|(_, k)| k),
        digest_algorithm: algorithm,
        manifest_digest_matches: false,
        main_attributes_match: None,
        invalid_sections: Vec::new(),
        covered_entries: 0,
        block_signature,
        block: block_der,
    };
    let Some(alg) = algorithm else {
        return Ok((report, Vec::new()));
    };
    let matches = |value: Option<&str>, data: &[u8]| {
        value.and_then(unbase64).as_deref() == Some(alg.digest(data).as_slice())
    };
    report.manifest_digest_matches = matches(
        sf.main().get(alg.manifest_digest_attribute()),
        manifest_bytes,
    );
    report.main_attributes_match = sf
        .main()
        .get(alg.main_attributes_digest_attribute())
        .map(|v| matches(Some(v), manifest.main().raw().unwrap_or_default()));

    let mut names = Vec::new();
    for section in sf.sections() {
        let Some(name) = section.name() else { continue };
        let valid = match manifest.section(name) {
            Some(m) if report.manifest_digest_matches => m.raw().is_some(),
            Some(m) => {
                let digests = digest_attributes(section);
                !digests.is_empty()
                    && digests.iter().all(|(a, v)| {
                        v.as_deref() == Some(a.digest(m.raw().unwrap_or_default()).as_slice())
                    })
            }
            None => false,
        };
        if valid {
            names.push(name.to_owned());
        } else {
            report.invalid_sections.push(name.to_owned());
        }
    }
    report.covered_entries = names.len();
    Ok((report, names))
}

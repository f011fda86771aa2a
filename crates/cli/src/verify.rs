//! `sigil verify`: local verification of Authenticode, JAR, raw and OpenPGP signatures.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use sigil_authenticode::Check;
use sigil_client::{Format, FormatChoice, Job};
use sigil_keys::RsaPadding;
use sigil_pki::x509_cert::der::Encode;
use sigil_proto::HashAlgorithm;

use crate::exit;

/// `sigil verify` options.
#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// The signed file (a PE image, an MSI package, a PowerShell script or another member of
    /// the Authenticode family, a JAR, or the file a raw signature covers).
    #[arg(required_unless_present = "manifest")]
    file: Option<PathBuf>,
    /// A release manifest (`sigil sign` with several files): re-hash every file it lists.
    #[arg(long, conflicts_with_all = ["file", "signature"])]
    manifest: Option<PathBuf>,
    /// Raw signature (`FILE.sig` from `sigil sign --format hash`) or OpenPGP detached
    /// signature (`FILE.asc`/`FILE.sig` from `--format openpgp`); needs --certificate.
    #[arg(long, requires = "certificate")]
    signature: Option<PathBuf>,
    /// Signer certificate (PEM; the first certificate is used) for --signature, or to check
    /// an RPM package's header signature.
    #[arg(long)]
    certificate: Option<PathBuf>,
    /// Time-stamp of a raw signature (a DER TimeStampResp); default FILE.tsr beside
    /// FILE.sig when it exists.
    #[arg(long, requires = "signature")]
    tsr: Option<PathBuf>,
    /// Hash algorithm of a raw signature.
    #[arg(long, value_enum, default_value_t = HashAlgorithm::Sha256)]
    hash: HashAlgorithm,
}

pub(crate) fn verify(args: VerifyArgs) -> Result<u8> {
    if let Some(manifest) = &args.manifest {
        return crate::verify_manifest::verify(manifest);
    }
    let file = args
        .file
        .clone()
        .ok_or_else(|| exit::usage("give the signed FILE, or --manifest FILE"))?;
    let file = file.as_path();
    if let Some(signature) = &args.signature {
        let certificate = args
            .certificate
            .as_ref()
            .ok_or_else(|| exit::usage("--signature needs --certificate cert.pem"))?;
        return verify_raw(&args, file, signature, certificate);
    }
    let job = Job::plan(file, FormatChoice::Auto)?;
    match job.format {
        Format::Authenticode => verify_authenticode(file, job.subject()),
        Format::Jar => verify_jar(file),
        Format::OpenPgp => match &args.certificate {
            Some(certificate) => verify_rpm(file, certificate),
            None => Err(exit::usage(format!(
                "{} is an RPM package: its signature is checked against the signer's \
                 certificate (give --certificate cert.pem), or by rpm -K with the key from \
                 `sigil policies show ALIAS --openpgp-key-out`",
                file.display()
            ))),
        },
        Format::Hash => Err(exit::usage(format!(
            "{} is neither a member of the Authenticode family (PE, MSI, CAB, catalog, \
             PowerShell script) nor a JAR: give --signature FILE.sig --certificate cert.pem",
            file.display()
        ))),
    }
}

/// What one signature (or a whole file) came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Valid,
    /// An algorithm Sigil does not implement: neither valid nor invalid.
    NotChecked,
    Invalid,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::NotChecked => "NOT CHECKED",
            Self::Invalid => "INVALID",
        }
    }

    fn of(check: &Check) -> Self {
        match check {
            Check::Passed => Self::Valid,
            Check::NotChecked(_) => Self::NotChecked,
            Check::Failed(_) => Self::Invalid,
        }
    }
}

/// A check's result as printed: `ok`, or why not.
fn describe(check: &Check) -> String {
    match check {
        Check::Passed => "ok".into(),
        Check::Failed(why) => format!("FAILED: {why}"),
        Check::NotChecked(why) => format!("not checked: {why}"),
    }
}

fn verify_authenticode(file: &Path, subject: sigil_authenticode::Subject) -> Result<u8> {
    let report = sigil_authenticode::verify_subject_file(subject, file).with_context(|| {
        format!(
            "{}: cannot verify the Authenticode signature of this {}",
            file.display(),
            subject.description()
        )
    })?;
    out!(
        "{}: Authenticode ({})",
        file.display(),
        subject.description()
    );
    let mut overall = Outcome::Valid;
    for (number, s) in (1..).zip(&report.signatures) {
        let indent = "  ".repeat(s.depth + 1);
        let mut outcome = Outcome::of(&s.image_digest).max(Outcome::of(&s.signature));
        out!(
            "{indent}signature {number} ({}): {}",
            if s.depth == 0 { "primary" } else { "nested" },
            outcome.label()
        );
        out!(
            "{indent}  signer:       {}",
            s.signer_subject
                .as_deref()
                .unwrap_or("(certificate not included)")
        );
        out!(
            "{indent}  issuer:       {}",
            s.signer_issuer.as_deref().unwrap_or("-")
        );
        out!("{indent}  image digest: {}", describe(&s.image_digest));
        out!("{indent}  signature:    {}", describe(&s.signature));
        if !crate::timestamp::print_embedded(&format!("{indent}  "), &s.pkcs7) {
            outcome = Outcome::Invalid;
        }
        overall = overall.max(outcome);
    }
    if let Some((stored, computed)) = report.pe_checksum {
        out!(
            "  PE checksum: {} (stored {stored:#010x}, computed {computed:#010x})",
            if stored == computed { "ok" } else { "MISMATCH" },
        );
        if stored != computed {
            overall = Outcome::Invalid;
        }
    }
    out!("  (the signer's chain of trust is not checked here: use osslsigncode verify -CAfile)");
    verdict(overall)
}

fn verify_jar(file: &Path) -> Result<u8> {
    let report = sigil_jar::verify(file)
        .with_context(|| format!("{}: cannot verify the JAR", file.display()))?;
    out!(
        "{}: JAR, {} entries checked",
        file.display(),
        report.entries_checked
    );
    let mut overall = if report.signers.is_empty() {
        Outcome::Invalid
    } else {
        Outcome::Valid
    };
    for s in &report.signers {
        let mut outcome = if s.is_intact() {
            Outcome::Valid
        } else if s.is_unchecked() {
            Outcome::NotChecked
        } else {
            Outcome::Invalid
        };
        out!(
            "  signer {} ({}{}): {}",
            s.name,
            s.signature_file,
            s.block_file
                .as_ref()
                .map(|b| format!(", {b}"))
                .unwrap_or_default(),
            outcome.label()
        );
        match &s.block_signature {
            sigil_jar::BlockSignatureStatus::Valid { subject, .. } => {
                out!("    certificate: {subject}");
            }
            sigil_jar::BlockSignatureStatus::Invalid { reason } => {
                out!("    block signature: {reason}");
            }
            sigil_jar::BlockSignatureStatus::NotChecked { reason } => {
                out!("    block signature not checked: {reason}");
            }
            _ => {}
        }
        if let Some(block) = &s.block
            && !crate::timestamp::print_embedded("    ", block)
        {
            outcome = Outcome::Invalid;
        }
        for section in &s.invalid_sections {
            out!("    .SF section does not match the manifest: {section}");
        }
        overall = overall.max(outcome);
    }
    for e in &report.tampered_entries {
        out!("  TAMPERED: {e}");
    }
    for e in &report.unsigned_entries {
        out!("  UNSIGNED: {e}");
    }
    if !report.tampered_entries.is_empty() || !report.unsigned_entries.is_empty() {
        overall = Outcome::Invalid;
    }
    if !report.unchecked_entries.is_empty() {
        out!(
            "  {} entries match their digests, signed only by signers not checked",
            report.unchecked_entries.len()
        );
    }
    out!("  (trust in the signer certificate is not checked here: use jarsigner -verify)");
    verdict(overall)
}

fn verify_raw(args: &VerifyArgs, file: &Path, signature: &Path, certificate: &Path) -> Result<u8> {
    let hash = args.hash;
    let sig = std::fs::read(signature)
        .with_context(|| format!("cannot read the signature {}", signature.display()))?;
    let (cert, spki) = read_certificate(certificate)?;
    let cert = &cert;
    if let Some(packet) = openpgp_packet(&sig) {
        return verify_openpgp(file, signature, &packet, &spki, cert);
    }
    let digest = sigil_client::job::file_digest(file, hash)?;
    let found = [RsaPadding::Pkcs1v15, RsaPadding::Pss]
        .into_iter()
        .find(|padding| sigil_keys::verify_digest(&spki, hash, *padding, &digest, &sig).is_ok());
    out!(
        "{}: raw signature {} by {}",
        file.display(),
        signature.display(),
        cert.tbs_certificate().subject()
    );
    let tsr = args
        .tsr
        .clone()
        .or_else(|| Some(sigil_client::timestamp::tsr_path(signature)).filter(|p| p.exists()));
    let stamp_ok = match &tsr {
        Some(tsr) => crate::timestamp::print_file("  ", tsr, &sig),
        None => true,
    };
    match found {
        Some(padding) => {
            out!(
                "  signature over the {} digest: valid ({padding:?} for RSA keys)",
                hash.as_str()
            );
            verdict(if stamp_ok {
                Outcome::Valid
            } else {
                Outcome::Invalid
            })
        }
        None => {
            out!(
                "  signature over the {} digest: INVALID (wrong file, key or hash?)",
                hash.as_str()
            );
            verdict(Outcome::Invalid)
        }
    }
}

/// The first certificate of a PEM file, and its public key (DER).
fn read_certificate(certificate: &Path) -> Result<(sigil_pki::x509_cert::Certificate, Vec<u8>)> {
    let pem = std::fs::read(certificate)
        .with_context(|| format!("cannot read the certificate {}", certificate.display()))?;
    let certs = sigil_pki::pem::parse_certificates(&pem).map_err(|e| {
        exit::usage(format!(
            "{}: no PEM certificate: {e}",
            certificate.display()
        ))
    })?;
    let cert = certs
        .into_iter()
        .next()
        .ok_or_else(|| exit::usage(format!("{} holds no certificate", certificate.display())))?;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .context("cannot encode the certificate's public key")?;
    Ok((cert, spki))
}

/// An RPM package's header-only OpenPGP signature, checked against the certificate's key
/// over the package's main header (what `rpm -K` checks with the exported key).
fn verify_rpm(file: &Path, certificate: &Path) -> Result<u8> {
    let (cert, spki) = read_certificate(certificate)?;
    let package = std::fs::File::open(file)
        .map_err(|e| exit::usage(format!("{}: cannot read: {e}", file.display())))
        .and_then(|mut f| {
            sigil_rpm::read_package(&mut f)
                .map_err(|e| exit::usage(format!("{}: {e}", file.display())))
        })?;
    out!(
        "{}: RPM package, checked against {}",
        file.display(),
        cert.tbs_certificate().subject()
    );
    let Some((tag, packet)) = package.header_signature() else {
        out!("  no header signature (RSA or DSA tag): unsigned");
        return verdict(Outcome::Invalid);
    };
    let parsed = match sigil_openpgp::parse_signature(packet) {
        Ok(parsed) => parsed,
        Err(e) => {
            out!("  header signature ({tag:?}): unreadable ({e})");
            return verdict(Outcome::Invalid);
        }
    };
    let hash = parsed.hash;
    let (state, _) = sigil_client::job::openpgp_subject_hash(file, hash)?;
    let digest = state.finish_with(&parsed.trailer_bytes());
    if let Some(fingerprint) = parsed.issuer_fingerprint {
        out!("  issuer fingerprint: {}", hex::encode_upper(fingerprint));
    }
    let signature_ok = match parsed.verify_digest(&spki, &digest) {
        Ok(()) => {
            out!("  header signature ({tag:?}, {}): valid", hash.as_str());
            true
        }
        Err(e) => {
            out!("  header signature ({tag:?}): INVALID ({e})");
            false
        }
    };
    // The signature covers the header; the header's payload digest covers the rest.
    let payload = std::fs::File::open(file)
        .map_err(sigil_rpm::RpmError::io_reading)
        .and_then(|mut f| package.payload_matches(&mut f));
    let payload_ok = match payload {
        Ok(true) => {
            out!("  payload digest: valid");
            true
        }
        Ok(false) => {
            out!("  payload digest: INVALID (the payload is not the one the header names)");
            false
        }
        Err(e) => {
            out!("  payload digest: not checked ({e})");
            return verdict(if signature_ok {
                Outcome::NotChecked
            } else {
                Outcome::Invalid
            });
        }
    };
    verdict(if signature_ok && payload_ok {
        Outcome::Valid
    } else {
        Outcome::Invalid
    })
}

fn verdict(outcome: Outcome) -> Result<u8> {
    match outcome {
        Outcome::Valid => Ok(exit::OK),
        Outcome::NotChecked => Err(exit::fail(
            exit::NOT_CHECKED,
            "nothing invalid found, but a signature uses an algorithm Sigil does not check: \
             verify it with osslsigncode or jarsigner",
        )),
        Outcome::Invalid => Err(exit::fail(exit::OTHER, "verification failed")),
    }
}

/// The signature packet when `sig` is an OpenPGP signature (armored, or a binary packet that
/// reads as one); `None` for a raw signature.
fn openpgp_packet(sig: &[u8]) -> Option<Vec<u8>> {
    let packet = sigil_openpgp::dearmor(sigil_openpgp::ArmorKind::Signature, sig).ok()?;
    sigil_openpgp::parse_signature(&packet).ok().map(|_| packet)
}

/// An OpenPGP detached signature of `file`, checked against the certificate's key: the file
/// is hashed with the packet's hash algorithm, then the packet's hashed part and trailer.
fn verify_openpgp(
    file: &Path,
    signature: &Path,
    packet: &[u8],
    spki: &[u8],
    cert: &sigil_pki::x509_cert::Certificate,
) -> Result<u8> {
    let parsed = sigil_openpgp::parse_signature(packet)
        .map_err(|e| exit::usage(format!("{}: {e}", signature.display())))?;
    let hash = parsed.hash;
    let state = sigil_client::job::openpgp_hash(file, hash)?;
    let digest = state.finish_with(&parsed.trailer_bytes());
    out!(
        "{}: OpenPGP signature {} by {}",
        file.display(),
        signature.display(),
        cert.tbs_certificate().subject()
    );
    if let Some(fingerprint) = parsed.issuer_fingerprint {
        out!("  issuer fingerprint: {}", hex::encode_upper(fingerprint));
    }
    match parsed.verify_digest(spki, &digest) {
        Ok(()) => {
            out!("  signature over the {} digest: valid", hash.as_str());
            verdict(Outcome::Valid)
        }
        Err(e) => {
            out!("  signature: INVALID ({e})");
            verdict(Outcome::Invalid)
        }
    }
}

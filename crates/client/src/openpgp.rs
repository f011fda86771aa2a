//! OpenPGP jobs on the client: finishing the digest with the signature's hashed part once
//! the policy's key is known, and checking the packet the server returns before it is
//! written.
//!
//! Who builds the hashed part: both sides, from the same few values. The client picks the
//! creation time, reads the key's fingerprint from `RAGA` (`OF`), builds the hashed part
//! with [`sigil_openpgp::SignatureTemplate`], hashes it after the file and sends the digest
//! with the time (`RAUP`, `OT`). The server rebuilds the same hashed part from the time and
//! its own key, signs the digest and returns the whole packet. The client then reads the
//! packet, finishes its own hash state with the hashed part *the packet carries* and checks
//! the signature against the policy's certificate: whatever the server put in the packet,
//! the file written verifies over this file with this key, or nothing is written.

use std::path::{Path, PathBuf};

use sigil_keys::{KeyAlgorithm, KeyFamily};
use sigil_openpgp::{ArmorKind, SignatureTemplate, parse_signature};
use sigil_proto::HashAlgorithm;
use sigil_rpm::HeaderSignatureTag;

use crate::error::{ClientError, Result};
use crate::job::{Format, PreparedJob};
use crate::sign::{PolicyFacts, SignOptions};

/// Finishes the digest of an OpenPGP job (other jobs are left as they are): the hashed part
/// with the creation time now and the policy key's fingerprint.
pub fn finish_digest(
    job: &mut PreparedJob,
    facts: &PolicyFacts,
    hash: HashAlgorithm,
) -> Result<()> {
    if job.job.format != Format::OpenPgp {
        return Ok(());
    }
    let path = job.job.path.clone();
    let state = job
        .openpgp
        .as_ref()
        .ok_or_else(|| ClientError::file(&path, "the file was not hashed for OpenPGP"))?;
    let fingerprint = facts.openpgp_fingerprint.ok_or_else(|| {
        ClientError::file(
            &path,
            "the policy does not allow OpenPGP signatures (RAGA sent no OpenPGP fingerprint): use a policy that lists openpgp",
        )
    })?;
    let spki = facts
        .signer_spki
        .as_deref()
        .ok_or_else(|| ClientError::file(&path, "the server sent no certificate for the policy"))?;
    let algorithm = sigil_keys::inspect_public_key(spki)
        .map_err(|e| ClientError::file(&path, format!("the policy's key: {e}")))?
        .algorithm;
    sigil_openpgp::check_hash(algorithm, hash)
        .map_err(|e| ClientError::file(&path, e.to_string()))?;
    if job.rpm.is_some() {
        rpm_tag(algorithm).map_err(|e| ClientError::file(&path, e))?;
    }
    let created = u32::try_from(time::OffsetDateTime::now_utc().unix_timestamp())
        .map_err(|_| ClientError::file(&path, "the clock is outside OpenPGP's range"))?;
    let template = SignatureTemplate {
        kind: sigil_openpgp::SignatureType::Binary,
        algorithm,
        hash,
        created,
        issuer: fingerprint,
    };
    job.digest = state.finish_with(&template.trailer_bytes());
    job.openpgp_created = Some(created);
    Ok(())
}

/// The signature header tag of an RPM package's header-only signature by a key of
/// `algorithm`, as rpm 4.18's `rpmsign` chooses it; rpm 4.18 signs with no other key type.
pub fn rpm_tag(algorithm: KeyAlgorithm) -> std::result::Result<HeaderSignatureTag, String> {
    match algorithm.family() {
        KeyFamily::Rsa => Ok(HeaderSignatureTag::Rsa),
        KeyFamily::Ed25519 => Ok(HeaderSignatureTag::Dsa),
        KeyFamily::Ecdsa => Err(format!(
            "rpm 4.18 signs and checks RPM packages with RSA or EdDSA keys only, and this policy's key is {}: sign RPM packages with a policy whose key is RSA",
            algorithm.as_str()
        )),
    }
}

/// Checks the signature packet the server returned: a binary-document signature whose
/// issuer is the policy's key, verifying over this file with the policy's certificate.
/// Returns its description.
pub fn check_result(job: &PreparedJob, packet: &[u8], facts: &PolicyFacts) -> Result<String> {
    let path = &job.job.path;
    let bad = |why: String| {
        ClientError::file(
            path,
            format!("the server's OpenPGP signature was not written: {why}"),
        )
    };
    let parsed = parse_signature(packet).map_err(|e| bad(e.to_string()))?;
    if parsed.signature_type != sigil_openpgp::SignatureType::Binary.id() {
        return Err(bad("it is not a binary-document signature".into()));
    }
    if parsed.issuer_fingerprint != facts.openpgp_fingerprint {
        return Err(bad("its issuer is not the policy's key".into()));
    }
    let state = job
        .openpgp
        .as_ref()
        .ok_or_else(|| bad("the file was not hashed for OpenPGP".into()))?;
    let spki = facts
        .signer_spki
        .as_deref()
        .ok_or_else(|| bad("the server sent no certificate for the policy".into()))?;
    let digest = state.finish_with(&parsed.trailer_bytes());
    parsed
        .verify_digest(spki, &digest)
        .map_err(|e| bad(e.to_string()))?;
    let fingerprint = facts
        .openpgp_fingerprint
        .map(hex::encode_upper)
        .unwrap_or_default();
    Ok(format!("OpenPGP signature by {fingerprint}"))
}

/// Puts a checked header signature into the RPM package of `job`, written to `output` (the
/// package itself by default) through a temporary file renamed over it: on any failure the
/// package is untouched. Returns its description.
pub fn write_rpm(
    job: &PreparedJob,
    packet: &[u8],
    facts: &PolicyFacts,
    output: &Path,
) -> Result<String> {
    let path = &job.job.path;
    let package = job
        .rpm
        .as_ref()
        .ok_or_else(|| ClientError::file(path, "the package was not prepared"))?;
    let spki = facts
        .signer_spki
        .as_deref()
        .ok_or_else(|| ClientError::file(path, "the server sent no certificate for the policy"))?;
    let algorithm = sigil_keys::inspect_public_key(spki)
        .map_err(|e| ClientError::file(path, format!("the policy's key: {e}")))?
        .algorithm;
    let tag = rpm_tag(algorithm).map_err(|e| ClientError::file(path, e))?;
    let header = package.signed_signature_header(tag, packet);
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.sigil-tmp"));
    let write = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let mut source = std::fs::File::open(path)?;
        let file = std::fs::File::create(&temp)?;
        let mut writer = std::io::BufWriter::with_capacity(1 << 20, &file);
        package.write_with(&header, &mut source, &mut writer)?;
        std::io::Write::flush(&mut writer)?;
        drop(writer);
        // Keep the package's mode, as rpmsign does.
        file.set_permissions(std::fs::metadata(path)?.permissions())?;
        file.sync_all()?;
        std::fs::rename(&temp, output)?;
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        ClientError::file(path, format!("cannot write the signed package: {e}"))
    })?;
    let tag = match tag {
        HeaderSignatureTag::Rsa => "RSA",
        HeaderSignatureTag::Dsa => "DSA",
    };
    Ok(format!("RPM header signature ({tag}) embedded"))
}

/// `FILE.asc` (armored) or `FILE.sig` (binary) next to `FILE`.
pub fn signature_path(path: &Path, options: &SignOptions) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(if options.openpgp_armor {
        ".asc"
    } else {
        ".sig"
    });
    PathBuf::from(name)
}

/// The bytes written: the packet, armored or not.
pub fn encode(packet: &[u8], armored: bool) -> Vec<u8> {
    match armored {
        true => sigil_openpgp::armor(ArmorKind::Signature, packet).into_bytes(),
        false => packet.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Job;
    use sigil_keys::{SigningKey, SoftwareKey};

    fn prepared(dir: &Path) -> PreparedJob {
        let path = dir.join("release.tar");
        std::fs::write(&path, b"release").unwrap();
        let job = Job {
            path,
            format: Format::OpenPgp,
            subject: None,
        };
        PreparedJob::prepare(job, HashAlgorithm::Sha256, "release").unwrap()
    }

    fn facts(algorithm: KeyAlgorithm, fingerprint: Option<[u8; 20]>) -> PolicyFacts {
        let key = SoftwareKey::generate(algorithm).unwrap();
        PolicyFacts {
            block_kind: None,
            signer_spki: Some(key.public_key_der().to_vec()),
            openpgp_fingerprint: fingerprint,
        }
    }

    #[test]
    fn the_digest_covers_the_file_and_the_hashed_part() {
        let dir = tempfile::tempdir().unwrap();
        let mut job = prepared(dir.path());
        assert!(job.digest.is_empty());
        finish_digest(
            &mut job,
            &facts(KeyAlgorithm::EcdsaP256, Some([1; 20])),
            HashAlgorithm::Sha256,
        )
        .unwrap();
        let created = job.openpgp_created.unwrap();
        let template = SignatureTemplate {
            kind: sigil_openpgp::SignatureType::Binary,
            algorithm: KeyAlgorithm::EcdsaP256,
            hash: sigil_keys::HashAlgorithm::Sha256,
            created,
            issuer: [1; 20],
        };
        let mut message = b"release".to_vec();
        message.extend_from_slice(&template.trailer_bytes());
        assert_eq!(
            job.digest,
            sigil_keys::HashAlgorithm::Sha256.digest(&message)
        );
    }

    #[test]
    fn refused_before_upload() {
        let dir = tempfile::tempdir().unwrap();
        let mut job = prepared(dir.path());
        // P-384 over SHA-256: GnuPG would refuse the signature.
        let e = finish_digest(
            &mut job,
            &facts(KeyAlgorithm::EcdsaP384, Some([1; 20])),
            HashAlgorithm::Sha256,
        )
        .unwrap_err();
        assert!(e.to_string().contains("sha384"), "{e}");
        // A policy without OpenPGP sends no fingerprint.
        let e = finish_digest(
            &mut job,
            &facts(KeyAlgorithm::EcdsaP256, None),
            HashAlgorithm::Sha256,
        )
        .unwrap_err();
        assert!(e.to_string().contains("does not allow OpenPGP"), "{e}");
        assert!(job.digest.is_empty());
    }

    #[test]
    fn rpm_packages_take_rsa_and_eddsa_keys_only() {
        assert_eq!(rpm_tag(KeyAlgorithm::Rsa3072), Ok(HeaderSignatureTag::Rsa));
        assert_eq!(rpm_tag(KeyAlgorithm::Ed25519), Ok(HeaderSignatureTag::Dsa));
        let e = rpm_tag(KeyAlgorithm::EcdsaP256).unwrap_err();
        assert!(e.contains("RSA") && e.contains("ecdsa"), "{e}");
    }

    #[test]
    fn a_packet_that_does_not_verify_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let job = prepared(dir.path());
        let e = check_result(
            &job,
            b"\xC2\x01\x04",
            &facts(KeyAlgorithm::EcdsaP256, Some([1; 20])),
        )
        .unwrap_err();
        assert!(e.to_string().contains("was not written"), "{e}");
    }
}

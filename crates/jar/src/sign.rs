//! Client side: compute the manifest and the signature file, then write the
//! signed JAR around the signature block the server returns.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::archive::write::ZipWriter;
use crate::archive::{Archive, Entry, MANIFEST_NAME, Source, is_manifest, is_signature_related};
use crate::digest::{HashAlgorithm, JarDigest, MultiHasher, base64, unbase64};
use crate::error::{ArchiveError, JarError, ManifestError};
use crate::limits::{MAX_MANIFEST_BYTES, MAX_SIGNATURE_BLOCK_BYTES};
use crate::manifest::{Manifest, Section, is_valid_value};
use crate::signature_file::build_signature_file;
use crate::signer::{SignatureBlockKind, SignerName};

/// The `Created-By` written by default.
pub const DEFAULT_CREATED_BY: &str = concat!("Sigil ", env!("CARGO_PKG_VERSION"));

/// How to sign.
#[derive(Clone, Debug)]
pub struct SignOptions {
    /// Base name of the signature files.
    pub signer: SignerName,
    /// Digest algorithm of the manifest entries, the `.SF` and the signature.
    pub digest: HashAlgorithm,
    /// `Created-By` of the `.SF` (and of a new manifest).
    pub created_by: String,
}

impl SignOptions {
    /// Options with the default `Created-By`.
    pub fn new(signer: SignerName, digest: HashAlgorithm) -> Self {
        Self {
            signer,
            digest,
            created_by: DEFAULT_CREATED_BY.into(),
        }
    }
}

/// The manifest and signature file computed for one archive, waiting for the
/// server's signature block.
#[derive(Clone, Debug)]
pub struct PreparedJar {
    signer: SignerName,
    digest: HashAlgorithm,
    manifest: Vec<u8>,
    signature_file: Vec<u8>,
    fingerprint: Vec<u8>,
}

/// Opens `source`, digests every entry and computes the new manifest and `.SF`.
pub fn prepare(source: &Path, options: &SignOptions) -> Result<PreparedJar, JarError> {
    prepare_archive(&Archive::open(source)?, options)
}

/// [`prepare`] over an already open archive.
pub fn prepare_archive<S: Source>(
    archive: &Archive<S>,
    options: &SignOptions,
) -> Result<PreparedJar, JarError> {
    if !is_valid_value(&options.created_by) {
        return Err(JarError::InvalidCreatedBy(
            ManifestError::InvalidValueToWrite {
                header: "Created-By".into(),
            },
        ));
    }
    let mut manifest = match find_manifest(archive)? {
        Some(entry) => Manifest::parse(&archive.read_entry(entry, MAX_MANIFEST_BYTES)?)
            .map_err(JarError::Manifest)?,
        None => Manifest::new(&options.created_by),
    };
    if manifest.main().get("Manifest-Version").is_none() {
        manifest.main_mut().insert_first("Manifest-Version", "1.0");
    }
    let other_signers = archive
        .entries()
        .iter()
        .any(|e| is_signature_file(e.name()) && !options.signer.owns_entry(e.name()));
    for entry in archive.entries() {
        if entry.is_directory() || is_signature_related(entry.name()) {
            continue;
        }
        // With other signers present, also compute the algorithms already in
        // the section: a section whose digests are all correct is kept byte
        // for byte so that their signatures stay valid.
        let mut algorithms = vec![options.digest];
        if other_signers && let Some(section) = manifest.section(entry.name()) {
            for a in digest_attributes(section) {
                if !algorithms.contains(&a.0) {
                    algorithms.push(a.0);
                }
            }
        }
        let digests = digest_entry(archive, entry, &algorithms)?;
        // Ours comes first.
        let ours = digests.first().map(|(_, d)| base64(d)).unwrap_or_default();
        match manifest.section_mut(entry.name()) {
            Some(section) => {
                if keep_section(section, &digests, options.digest, other_signers) {
                    continue;
                }
                section.remove_where(|n| n.to_ascii_uppercase().ends_with("-DIGEST"));
                section.set(options.digest.digest_attribute(), &ours);
            }
            None => {
                let mut section = Section::with_name(entry.name());
                section.set(options.digest.digest_attribute(), &ours);
                manifest.push_section(section);
            }
        }
    }

    let manifest_bytes = manifest.to_bytes().map_err(JarError::Manifest)?;
    // The .SF digests the sections exactly as written: parse what was written.
    let written = Manifest::parse(&manifest_bytes).map_err(JarError::Manifest)?;
    let signature_file = build_signature_file(
        &manifest_bytes,
        &written,
        options.digest,
        &options.created_by,
    )
    .map_err(|error| JarError::SignatureFile {
        file: options.signer.signature_file_entry(),
        error,
    })?;
    Ok(PreparedJar {
        signer: options.signer.clone(),
        digest: options.digest,
        manifest: manifest_bytes,
        signature_file,
        fingerprint: archive.fingerprint().to_vec(),
    })
}

impl PreparedJar {
    /// The new `META-INF/MANIFEST.MF`.
    pub fn manifest(&self) -> &[u8] {
        &self.manifest
    }

    /// The new `META-INF/<SIGNER>.SF`: the content the server's detached
    /// PKCS#7 signature covers.
    pub fn signature_file(&self) -> &[u8] {
        &self.signature_file
    }

    /// The digest of the `.SF`, which is what the client sends to the server.
    pub fn signature_file_digest(&self) -> Vec<u8> {
        self.digest.digest(&self.signature_file)
    }

    /// The digest algorithm used throughout.
    pub fn digest_algorithm(&self) -> HashAlgorithm {
        self.digest
    }

    /// The signer name.
    pub fn signer(&self) -> &SignerName {
        &self.signer
    }

    /// Writes the signed JAR to `output` (which may be `source`): manifest,
    /// `.SF` and `block` first, then every other entry copied byte for byte
    /// in its original order; this signer's old files are replaced, other
    /// signers' kept. Atomic: a temporary file in `output`'s directory is
    /// synced and renamed over `output`; on any error nothing is changed.
    pub fn write_signed(
        &self,
        source: &Path,
        block: &[u8],
        kind: SignatureBlockKind,
        output: &Path,
    ) -> Result<(), JarError> {
        check_block(block)?;
        let archive = Archive::open(source)?;
        if archive.fingerprint() != self.fingerprint.as_slice() {
            return Err(JarError::ArchiveChanged {
                path: source.to_path_buf(),
            });
        }
        let dir = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".sigil-jar-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(JarError::io(dir))?;
        let io_out = JarError::io(output);
        let write = |tmp: &mut tempfile::NamedTempFile| -> std::io::Result<()> {
            let mut zip = ZipWriter::new(BufWriter::with_capacity(256 * 1024, tmp.as_file_mut()));
            zip.add_deflated(MANIFEST_NAME, &self.manifest)?;
            zip.add_deflated(&self.signer.signature_file_entry(), &self.signature_file)?;
            zip.add_deflated(&self.signer.block_entry(kind), block)?;
            for entry in archive.entries() {
                if is_manifest(entry.name()) || self.signer.owns_entry(entry.name()) {
                    continue;
                }
                zip.copy_entry(&archive, entry)?;
            }
            zip.finish(archive.comment())?.flush()?;
            tmp.as_file().sync_all()
        };
        write(&mut tmp).map_err(io_out)?;
        // Close the source before renaming over it (required on Windows).
        drop(archive);
        if let Ok(meta) = fs::metadata(source) {
            fs::set_permissions(tmp.path(), meta.permissions()).map_err(JarError::io(output))?;
        }
        tmp.persist(output)
            .map_err(|e| JarError::io(output)(e.error))?;
        sync_dir(dir);
        Ok(())
    }
}

/// Makes the rename durable (best effort: not every platform can sync a directory).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn check_block(block: &[u8]) -> Result<(), JarError> {
    let reason = if block.is_empty() {
        "empty"
    } else if block.len() as u64 > MAX_SIGNATURE_BLOCK_BYTES {
        "larger than 1 MiB"
    } else if block.first() != Some(&0x30) {
        "not a DER-encoded PKCS#7 ContentInfo"
    } else {
        return Ok(());
    };
    Err(JarError::InvalidSignatureBlock { reason })
}

/// The manifest entry, refusing two entries whose names differ only in case.
pub(crate) fn find_manifest<S: Source>(archive: &Archive<S>) -> Result<Option<&Entry>, JarError> {
    let mut found: Option<&Entry> = None;
    for e in archive.entries().iter().filter(|e| is_manifest(e.name())) {
        if let Some(first) = found {
            return Err(JarError::AmbiguousManifest {
                first: first.name().into(),
                second: e.name().into(),
            });
        }
        found = Some(e);
    }
    Ok(found)
}

/// `META-INF/<X>.SF` directly inside `META-INF/`.
pub(crate) fn is_signature_file(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper
        .strip_prefix("META-INF/")
        .is_some_and(|f| !f.contains('/') && f.len() > 3 && f.ends_with(".SF"))
}

/// The supported `<alg>-Digest` attributes of a section, with their values.
pub(crate) fn digest_attributes(section: &Section) -> Vec<(HashAlgorithm, Option<Vec<u8>>)> {
    section
        .attributes()
        .iter()
        .filter_map(|a| {
            crate::digest::from_digest_attribute(&a.name).map(|alg| (alg, unbase64(&a.value)))
        })
        .collect()
}

/// Digests one entry under several algorithms in one pass.
pub(crate) fn digest_entry<S: Source>(
    archive: &Archive<S>,
    entry: &Entry,
    algorithms: &[HashAlgorithm],
) -> Result<Vec<(HashAlgorithm, Vec<u8>)>, ArchiveError> {
    let mut hashers = MultiHasher(algorithms.iter().map(|a| a.hasher()).collect());
    archive.stream_entry(entry, &mut hashers)?;
    Ok(hashers
        .0
        .into_iter()
        .map(|h| (h.algorithm(), h.finish()))
        .collect())
}

/// Whether an existing section can stay as it is: it already holds the right
/// digest for our algorithm, or (with other signers present) every supported
/// digest it holds is right, so rewriting it would only break their signatures.
fn keep_section(
    section: &Section,
    digests: &[(HashAlgorithm, Vec<u8>)],
    ours: HashAlgorithm,
    other_signers: bool,
) -> bool {
    let present = digest_attributes(section);
    let correct = |alg: HashAlgorithm, value: &Option<Vec<u8>>| {
        digests
            .iter()
            .any(|(a, d)| *a == alg && value.as_deref() == Some(d.as_slice()))
    };
    if present.iter().any(|(a, v)| *a == ours && correct(*a, v)) {
        return true;
    }
    other_signers && !present.is_empty() && present.iter().all(|(a, v)| correct(*a, v))
}

//! The signature file `META-INF/<SIGNER>.SF`.
//!
//! From the JAR File Specification, "Signature File": the main section holds
//! `Signature-Version`, `Created-By`, `x-Digest-Manifest` (digest of the whole
//! manifest) and `x-Digest-Manifest-Main-Attributes` (digest of the manifest's
//! main section); each individual section names a manifest entry and holds the
//! digest of that entry's manifest section — its exact bytes, from `Name:` up
//! to the next section, the closing blank line included, as jarsigner computes it.

use crate::archive::is_signature_related;
use crate::digest::{HashAlgorithm, JarDigest, base64};
use crate::error::ManifestError;
use crate::manifest::{Manifest, Section};

/// Builds the `.SF` for `manifest_bytes`.
///
/// `manifest` must be the parse of exactly `manifest_bytes` (so that every
/// section carries its raw bytes); sections named after signature files are
/// skipped, as jarsigner does.
pub fn build_signature_file(
    manifest_bytes: &[u8],
    manifest: &Manifest,
    algorithm: HashAlgorithm,
    created_by: &str,
) -> Result<Vec<u8>, ManifestError> {
    let mut main = Section::new();
    main.set("Signature-Version", "1.0");
    main.set("Created-By", created_by);
    main.set(
        algorithm.manifest_digest_attribute(),
        &base64(&algorithm.digest(manifest_bytes)),
    );
    main.set(
        algorithm.main_attributes_digest_attribute(),
        &base64(&algorithm.digest(manifest.main().raw().unwrap_or_default())),
    );
    let mut sf = Manifest::with_main(main);
    for section in manifest.sections() {
        let Some(name) = section.name() else { continue };
        if is_signature_related(name) {
            continue;
        }
        let mut s = Section::with_name(name);
        s.set(
            algorithm.digest_attribute(),
            &base64(&algorithm.digest(section.raw().unwrap_or_default())),
        );
        sf.push_section(s);
    }
    sf.to_bytes()
}

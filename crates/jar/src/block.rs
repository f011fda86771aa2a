//! Server side: the signature block, a detached PKCS#7 `SignedData` over the
//! `.SF`, made from the `.SF` digest the client sent.
//!
//! JAR File Specification, "Signature Block File": the block is a PKCS#7
//! signature over the `.SF`, without the `.SF` itself inside (detached), with
//! content type `id-data`. The signed attributes are content type, signing
//! time and message digest (= the client's `.SF` digest); the certificate
//! chain travels in the block so that `jarsigner -verify` can build the path.

use std::time::SystemTime;

use const_oid::db::rfc5911;
use sigil_keys::KeyFamily;
use sigil_pki::cms::{self, CmsSigner, SignedContent, SignedDataOptions};

use crate::error::JarError;
use crate::signer::SignatureBlockKind;

/// A signature block and the file extension it must be stored under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureBlock {
    /// DER `ContentInfo` holding `SignedData`.
    pub der: Vec<u8>,
    /// `.RSA` or `.EC`, from the signing key's algorithm.
    pub kind: SignatureBlockKind,
}

/// Signs the `.SF` whose digest (under `signer.hash`) is `sf_digest`.
pub fn sign_signature_file_digest(
    signer: &CmsSigner<'_>,
    sf_digest: &[u8],
    signing_time: SystemTime,
) -> Result<SignatureBlock, JarError> {
    // The JDK names EdDSA blocks `.EC` too.
    let kind = match signer.key.algorithm().family() {
        KeyFamily::Rsa => SignatureBlockKind::Rsa,
        KeyFamily::Ecdsa | KeyFamily::Ed25519 => SignatureBlockKind::Ec,
    };
    let der = cms::sign(
        signer,
        SignedContent::Detached {
            content_type: rfc5911::ID_DATA,
            digest: sf_digest,
        },
        &SignedDataOptions {
            signing_time: Some(signing_time),
            ..SignedDataOptions::default()
        },
    )?;
    Ok(SignatureBlock { der, kind })
}

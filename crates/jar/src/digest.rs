//! The digest algorithms a JAR signature may use, and their manifest names.

use std::io;

use sha2::{Digest as _, Sha256, Sha384, Sha512};
pub use sigil_keys::HashAlgorithm;

/// The JAR names of a [`HashAlgorithm`] (Sigil's one hash type) for entry digests, section
/// digests and the signature over the `.SF` file.
///
/// The JAR specification names digest attributes `<algorithm>-Digest`, with the
/// algorithm named as in the Java Security Standard Algorithm Names
/// (`SHA-256`, `SHA-384`, `SHA-512`). SHA-1 and MD5 are not offered.
pub trait JarDigest: Copy {
    /// The JAR name of the algorithm, e.g. `SHA-256`.
    fn jar_name(self) -> &'static str;
    /// The manifest attribute holding an entry digest, e.g. `SHA-256-Digest`.
    fn digest_attribute(self) -> &'static str;
    /// The `.SF` main attribute holding the digest of the whole manifest.
    fn manifest_digest_attribute(self) -> &'static str;
    /// The `.SF` main attribute holding the digest of the manifest's main section.
    fn main_attributes_digest_attribute(self) -> &'static str;
    /// A fresh streaming hasher.
    fn hasher(self) -> Hasher;
}

impl JarDigest for HashAlgorithm {
    fn jar_name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }

    fn digest_attribute(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256-Digest",
            Self::Sha384 => "SHA-384-Digest",
            Self::Sha512 => "SHA-512-Digest",
        }
    }

    fn manifest_digest_attribute(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256-Digest-Manifest",
            Self::Sha384 => "SHA-384-Digest-Manifest",
            Self::Sha512 => "SHA-512-Digest-Manifest",
        }
    }

    fn main_attributes_digest_attribute(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256-Digest-Manifest-Main-Attributes",
            Self::Sha384 => "SHA-384-Digest-Manifest-Main-Attributes",
            Self::Sha512 => "SHA-512-Digest-Manifest-Main-Attributes",
        }
    }

    fn hasher(self) -> Hasher {
        match self {
            Self::Sha256 => Hasher::Sha256(Sha256::new()),
            Self::Sha384 => Hasher::Sha384(Sha384::new()),
            Self::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }
}

/// The algorithm whose entry digest attribute is `name` (ASCII case-insensitive).
pub fn from_digest_attribute(name: &str) -> Option<HashAlgorithm> {
    HashAlgorithm::ALL
        .into_iter()
        .find(|a| a.digest_attribute().eq_ignore_ascii_case(name))
}

/// A streaming hasher for one [`HashAlgorithm`]; also an [`io::Write`] sink.
#[derive(Clone, Debug)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-384 state.
    Sha384(Sha384),
    /// SHA-512 state.
    Sha512(Sha512),
}

impl Hasher {
    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Sha384(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    /// The algorithm of this hasher.
    pub fn algorithm(&self) -> HashAlgorithm {
        match self {
            Self::Sha256(_) => HashAlgorithm::Sha256,
            Self::Sha384(_) => HashAlgorithm::Sha384,
            Self::Sha512(_) => HashAlgorithm::Sha512,
        }
    }

    /// The final digest.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Self::Sha256(h) => h.finalize().to_vec(),
            Self::Sha384(h) => h.finalize().to_vec(),
            Self::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

impl io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Several hashers fed by one pass over the data.
#[derive(Clone, Debug, Default)]
pub(crate) struct MultiHasher(pub(crate) Vec<Hasher>);

impl io::Write for MultiHasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for h in &mut self.0 {
            h.update(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Base64 (standard alphabet, padded) as the JAR files use it.
pub(crate) fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes a base64 digest value; `None` when it is not valid base64.
pub(crate) fn unbase64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
}

//! The digest algorithms a JAR signature may use, and their manifest names.

use std::io;

use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// A digest algorithm usable for entry digests, section digests and the
/// signature over the `.SF` file.
///
/// The JAR specification names digest attributes `<algorithm>-Digest`, with the
/// algorithm named as in the Java Security Standard Algorithm Names
/// (`SHA-256`, `SHA-384`, `SHA-512`). SHA-1 and MD5 are not offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// SHA-256 (`SHA-256-Digest`).
    Sha256,
    /// SHA-384 (`SHA-384-Digest`).
    Sha384,
    /// SHA-512 (`SHA-512-Digest`).
    Sha512,
}

impl DigestAlgorithm {
    /// All supported algorithms.
    pub const ALL: [Self; 3] = [Self::Sha256, Self::Sha384, Self::Sha512];

    /// The JAR name of the algorithm, e.g. `SHA-256`.
    pub fn jar_name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }

    /// The manifest attribute holding an entry digest, e.g. `SHA-256-Digest`.
    pub fn digest_attribute(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256-Digest",
            Self::Sha384 => "SHA-384-Digest",
            Self::Sha512 => "SHA-512-Digest",
        }
    }

    /// The `.SF` main attribute holding the digest of the whole manifest.
    pub fn manifest_digest_attribute(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256-Digest-Manifest",
            Self::Sha384 => "SHA-384-Digest-Manifest",
            Self::Sha512 => "SHA-512-Digest-Manifest",
        }
    }

    /// The `.SF` main attribute holding the digest of the manifest's main section.
    pub fn main_attributes_digest_attribute(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256-Digest-Manifest-Main-Attributes",
            Self::Sha384 => "SHA-384-Digest-Manifest-Main-Attributes",
            Self::Sha512 => "SHA-512-Digest-Manifest-Main-Attributes",
        }
    }

    /// The algorithm whose entry digest attribute is `name` (ASCII case-insensitive).
    pub fn from_digest_attribute(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.digest_attribute().eq_ignore_ascii_case(name))
    }

    /// Parses `SHA-256`, `sha256`, `SHA-384`, ... (as a CLI flag or policy would name it).
    pub fn from_name(name: &str) -> Option<Self> {
        let compact: String = name.chars().filter(|c| *c != '-').collect();
        match compact.to_ascii_uppercase().as_str() {
            "SHA256" => Some(Self::Sha256),
            "SHA384" => Some(Self::Sha384),
            "SHA512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Length of the digest in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// A fresh streaming hasher.
    pub fn hasher(self) -> Hasher {
        match self {
            Self::Sha256 => Hasher::Sha256(Sha256::new()),
            Self::Sha384 => Hasher::Sha384(Sha384::new()),
            Self::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = self.hasher();
        h.update(data);
        h.finish()
    }
}

impl std::fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.jar_name())
    }
}

/// A streaming hasher for one [`DigestAlgorithm`]; also an [`io::Write`] sink.
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
    pub fn algorithm(&self) -> DigestAlgorithm {
        match self {
            Self::Sha256(_) => DigestAlgorithm::Sha256,
            Self::Sha384(_) => DigestAlgorithm::Sha384,
            Self::Sha512(_) => DigestAlgorithm::Sha512,
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

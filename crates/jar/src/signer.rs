//! Signer names (`META-INF/<NAME>.SF`) and signature block kinds.

use crate::error::JarError;
use crate::limits::MAX_SIGNER_NAME_CHARS;

/// The base name of a signer's files: 1 to 8 of `A-Z 0-9 _ -`.
///
/// JAR File Specification: "Signature files have pathnames of the form
/// META-INF/x.SF for some string x containing only the characters A-Z 0-9 and
/// dash or underscore. x must not be more than 8 characters."
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SignerName(String);

impl SignerName {
    /// Validates a name given by the caller (`--signer-name`). Lower-case
    /// letters are upper-cased, as jarsigner does with `-sigfile`; anything
    /// else outside `A-Z 0-9 _ -`, or more than 8 characters, is refused
    /// (rather than silently truncated).
    pub fn new(name: &str) -> Result<Self, JarError> {
        let invalid = |reason| JarError::InvalidSignerName {
            name: name.into(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("empty"));
        }
        if name.chars().count() > MAX_SIGNER_NAME_CHARS {
            return Err(invalid("longer than 8 characters"));
        }
        if !name.chars().all(is_allowed) {
            return Err(invalid("only A-Z, 0-9, _ and - are allowed"));
        }
        Ok(Self(name.to_ascii_uppercase()))
    }

    /// Derives the name from a policy alias as jarsigner derives it from a key
    /// alias: characters outside `A-Z a-z 0-9 _ -` become `_`, the result is
    /// cut to 8 characters and upper-cased.
    pub fn from_alias(alias: &str) -> Result<Self, JarError> {
        let derived: String = alias
            .chars()
            .take(MAX_SIGNER_NAME_CHARS)
            .map(|c| if is_allowed(c) { c } else { '_' })
            .collect();
        if derived.is_empty() {
            return Err(JarError::InvalidSignerName {
                name: alias.into(),
                reason: "the policy alias is empty",
            });
        }
        Self::new(&derived)
    }

    /// The name, e.g. `RELEASE`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `META-INF/<NAME>.SF`.
    pub fn signature_file_entry(&self) -> String {
        format!("META-INF/{}.SF", self.0)
    }

    /// `META-INF/<NAME>.<EXT>` for the block kind.
    pub fn block_entry(&self, kind: SignatureBlockKind) -> String {
        format!("META-INF/{}.{}", self.0, kind.extension())
    }

    /// Whether `entry` is one of this signer's files (`.SF` or any block),
    /// compared ASCII case-insensitively as the JDK does.
    pub fn owns_entry(&self, entry: &str) -> bool {
        let upper = entry.to_ascii_uppercase();
        let Some(file) = upper.strip_prefix("META-INF/") else {
            return false;
        };
        let Some((base, ext)) = file.rsplit_once('.') else {
            return false;
        };
        base == self.0 && matches!(ext, "SF" | "RSA" | "EC" | "DSA")
    }
}

impl std::fmt::Display for SignerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The kind of signature block, which names its file extension after the
/// signing key's algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureBlockKind {
    /// RSA key: `.RSA`.
    Rsa,
    /// ECDSA key: `.EC`.
    Ec,
    /// DSA key: `.DSA` (read only; Sigil does not sign with DSA).
    Dsa,
}

impl SignatureBlockKind {
    /// The file extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Rsa => "RSA",
            Self::Ec => "EC",
            Self::Dsa => "DSA",
        }
    }

    /// The block a key of `algorithm` signs: `.RSA` for RSA, `.EC` for ECDSA; none for
    /// Ed25519 (no JAR block type carries it).
    pub fn for_key(algorithm: sigil_keys::KeyAlgorithm) -> Option<Self> {
        match algorithm.family() {
            sigil_keys::KeyFamily::Rsa => Some(Self::Rsa),
            sigil_keys::KeyFamily::Ecdsa => Some(Self::Ec),
            sigil_keys::KeyFamily::Ed25519 => None,
        }
    }

    /// The kind named by an extension (ASCII case-insensitive).
    pub fn from_extension(ext: &str) -> Option<Self> {
        [Self::Rsa, Self::Ec, Self::Dsa]
            .into_iter()
            .find(|k| k.extension().eq_ignore_ascii_case(ext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_kind_follows_the_key_family() {
        use sigil_keys::KeyAlgorithm;
        assert_eq!(
            SignatureBlockKind::for_key(KeyAlgorithm::Rsa3072),
            Some(SignatureBlockKind::Rsa)
        );
        assert_eq!(
            SignatureBlockKind::for_key(KeyAlgorithm::EcdsaP384),
            Some(SignatureBlockKind::Ec)
        );
        assert_eq!(SignatureBlockKind::for_key(KeyAlgorithm::Ed25519), None);
    }

    #[test]
    fn names_follow_jarsigner() {
        assert_eq!(
            SignerName::from_alias("release-key.2024").unwrap().as_str(),
            "RELEASE-"
        );
        assert_eq!(SignerName::from_alias("my key").unwrap().as_str(), "MY_KEY");
        assert_eq!(SignerName::from_alias("prod.é").unwrap().as_str(), "PROD__");
        assert!(SignerName::from_alias("").is_err());
        assert_eq!(SignerName::new("sigil").unwrap().as_str(), "SIGIL");
        assert!(SignerName::new("TOOLONGNAME").is_err());
        assert!(SignerName::new("A.B").is_err());
        assert!(SignerName::new("").is_err());
        let s = SignerName::new("SIGIL").unwrap();
        assert!(s.owns_entry("meta-inf/sigil.rsa"));
        assert!(s.owns_entry("META-INF/SIGIL.SF"));
        assert!(!s.owns_entry("META-INF/SIGIL2.SF"));
        assert!(!s.owns_entry("META-INF/SIGIL.MF"));
        assert_eq!(s.block_entry(SignatureBlockKind::Ec), "META-INF/SIGIL.EC");
    }
}

//! Entry-name rules: what a signed JAR may contain, and which entries belong
//! to a signature.

use crate::error::ArchiveError;
use crate::limits::MAX_NAME_BYTES;

/// Refuses names that could escape an extraction directory or mean different
/// files to different tools: empty, too long, NUL, backslash, absolute,
/// drive letter, `.`/`..` segments, empty segments.
pub(crate) fn check_entry_name(name: &str) -> Result<(), ArchiveError> {
    let refuse = |reason| {
        Err(ArchiveError::UnsafeName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return refuse("empty name");
    }
    if name.len() > MAX_NAME_BYTES {
        return refuse("name longer than the limit");
    }
    if name.chars().any(char::is_control) {
        return refuse("control character (NUL, CR, LF, ...)");
    }
    if name.contains('\\') {
        return refuse("backslash (use / as the separator)");
    }
    if name.starts_with('/') {
        return refuse("absolute path");
    }
    let b = name.as_bytes();
    if let (Some(first), Some(b':')) = (b.first(), b.get(1))
        && first.is_ascii_alphabetic()
    {
        return refuse("drive letter");
    }
    let body = name.strip_suffix('/').unwrap_or(name);
    for segment in body.split('/') {
        match segment {
            ".." => return refuse("`..` path segment"),
            "." => return refuse("`.` path segment"),
            "" => return refuse("empty path segment (`//`)"),
            _ => {}
        }
    }
    Ok(())
}

/// `META-INF/MANIFEST.MF`, compared as the JDK does (ASCII case-insensitive).
pub const MANIFEST_NAME: &str = "META-INF/MANIFEST.MF";

/// Whether `name` is the manifest.
pub fn is_manifest(name: &str) -> bool {
    name.eq_ignore_ascii_case(MANIFEST_NAME)
}

/// Whether `name` is part of a signature and so neither digested in the
/// manifest nor listed in a `.SF` — the JDK's
/// `SignatureFileVerifier.isSigningRelated`: directly inside `META-INF/`,
/// `MANIFEST.MF`, `*.SF`, `*.RSA`, `*.DSA`, `*.EC`, or `SIG-*` (with an
/// extension of 1 to 3 letters or digits, or none).
pub fn is_signature_related(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let Some(file) = upper.strip_prefix("META-INF/") else {
        return false;
    };
    if file.contains('/') {
        return false;
    }
    if file == "MANIFEST.MF" || is_block_or_sf(file) {
        return true;
    }
    if let Some(rest) = file.strip_prefix("SIG-") {
        return match rest.rfind('.') {
            None => true,
            Some(dot) => {
                let ext = rest.get(dot + 1..).unwrap_or("");
                (1..=3).contains(&ext.len()) && ext.bytes().all(|c| c.is_ascii_alphanumeric())
            }
        };
    }
    false
}

/// `X.SF`, `X.RSA`, `X.DSA`, `X.EC` (upper-case file name inside `META-INF/`).
fn is_block_or_sf(upper_file: &str) -> bool {
    [".SF", ".RSA", ".DSA", ".EC"]
        .iter()
        .any(|ext| upper_file.len() > ext.len() && upper_file.ends_with(ext))
}

/// Whether `name` is a directory entry (jarsigner does not digest those).
pub fn is_directory(name: &str) -> bool {
    name.ends_with('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "../a",
            "a\\b",
            "C:/x",
            "c:x",
            "a//b",
            "./a",
            "a/./b",
            "a\0b",
        ] {
            assert!(check_entry_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "a",
            "a/b/",
            "META-INF/",
            "x/y.class",
            "dir/..a",
            "a..b/c",
            "é/ü.txt",
        ] {
            assert!(check_entry_name(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn signature_related_matches_the_jdk() {
        for yes in [
            "META-INF/MANIFEST.MF",
            "meta-inf/manifest.mf",
            "META-INF/A.SF",
            "META-INF/SIGNER.RSA",
            "META-INF/X.DSA",
            "META-INF/X.EC",
            "META-INF/SIG-FOO",
            "META-INF/SIG-FOO.ABC",
        ] {
            assert!(is_signature_related(yes), "{yes}");
        }
        for no in [
            "META-INF/",
            "META-INF/a/B.SF",
            "META-INF/SIG-FOO.ABCD",
            "META-INF/.SF",
            "META-INF/services/x",
            "A.SF",
            "META-INF/MANIFEST.MF.bak",
        ] {
            assert!(!is_signature_related(no), "{no}");
        }
    }
}

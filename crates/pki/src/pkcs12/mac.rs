//! The PKCS#12 integrity MAC: RFC 7292 Appendix B key derivation and HMAC.

use hmac::{EagerHash, Hmac, KeyInit, Mac};
use sha2::Digest;
use sigil_keys::HashAlgorithm;
use zeroize::Zeroize;
use zeroize::Zeroizing;

/// The password as RFC 7292 Appendix B.1 wants it for the MAC key: a BMPString
/// (UTF-16 big-endian, as OpenSSL and Java encode it, characters outside the
/// BMP as surrogate pairs) followed by two zero bytes.
pub(super) fn bmp_password(password: &str) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(password.len() * 2 + 2));
    for unit in password.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// The hash's input block size `v` in bytes (RFC 7292 Appendix B.2).
fn block_len(hash: HashAlgorithm) -> usize {
    match hash {
        HashAlgorithm::Sha256 => 64,
        HashAlgorithm::Sha384 | HashAlgorithm::Sha512 => 128,
    }
}

/// RFC 7292 Appendix B.2 with ID = 3 (MAC key), deriving a key as long as
/// the hash output (`n = u`, so only the first block `A_1` is needed).
fn mac_key(
    hash: HashAlgorithm,
    bmp_password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Zeroizing<Vec<u8>> {
    let v = block_len(hash);
    // D: v copies of the ID byte.
    let mut input = Zeroizing::new(vec![3u8; v]);
    // I = S || P, each repeated to a multiple of v bytes (empty stays empty).
    for part in [salt, bmp_password] {
        if !part.is_empty() {
            let len = part.len().div_ceil(v) * v;
            input.extend(part.iter().cycle().take(len));
        }
    }
    match hash {
        HashAlgorithm::Sha256 => iterate::<sha2::Sha256>(&input, iterations),
        HashAlgorithm::Sha384 => iterate::<sha2::Sha384>(&input, iterations),
        HashAlgorithm::Sha512 => iterate::<sha2::Sha512>(&input, iterations),
    }
}

/// `H^iterations(input)`, hashing in place so the loop allocates nothing.
fn iterate<D: Digest>(input: &[u8], iterations: u32) -> Zeroizing<Vec<u8>> {
    let mut a = D::digest(input);
    for _ in 1..iterations {
        a = D::digest(&a);
    }
    let out = Zeroizing::new(a.to_vec());
    a.as_mut_slice().zeroize();
    out
}

/// Computes the MAC over `data` (the `AuthenticatedSafe` DER).
pub(super) fn compute(
    hash: HashAlgorithm,
    password: &str,
    salt: &[u8],
    iterations: u32,
    data: &[u8],
) -> Vec<u8> {
    let key = mac_key(hash, &bmp_password(password), salt, iterations);
    match hash {
        HashAlgorithm::Sha256 => hmac::<sha2::Sha256>(&key, data),
        HashAlgorithm::Sha384 => hmac::<sha2::Sha384>(&key, data),
        HashAlgorithm::Sha512 => hmac::<sha2::Sha512>(&key, data),
    }
}

/// Checks `expected` against the MAC over `data` in constant time.
pub(super) fn verify(
    hash: HashAlgorithm,
    password: &str,
    salt: &[u8],
    iterations: u32,
    data: &[u8],
    expected: &[u8],
) -> bool {
    let key = mac_key(hash, &bmp_password(password), salt, iterations);
    match hash {
        HashAlgorithm::Sha256 => hmac_verify::<sha2::Sha256>(&key, data, expected),
        HashAlgorithm::Sha384 => hmac_verify::<sha2::Sha384>(&key, data, expected),
        HashAlgorithm::Sha512 => hmac_verify::<sha2::Sha512>(&key, data, expected),
    }
}

fn hmac<D: EagerHash>(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    match <Hmac<D> as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn hmac_verify<D: EagerHash>(key: &[u8], data: &[u8], expected: &[u8]) -> bool {
    match <Hmac<D> as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.verify_slice(expected).is_ok()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bmp_encoding_matches_rfc7292() {
        assert_eq!(*bmp_password("ab"), vec![0, b'a', 0, b'b', 0, 0]);
        assert_eq!(*bmp_password(""), vec![0, 0]);
        // U+1F600 is a surrogate pair in UTF-16.
        assert_eq!(
            *bmp_password("\u{1F600}"),
            vec![0xd8, 0x3d, 0xde, 0x00, 0, 0]
        );
    }

    #[test]
    fn mac_detects_a_wrong_password() {
        let tag = compute(HashAlgorithm::Sha256, "secret", b"salt", 3, b"data");
        assert_eq!(tag.len(), 32);
        assert!(verify(
            HashAlgorithm::Sha256,
            "secret",
            b"salt",
            3,
            b"data",
            &tag
        ));
        assert!(!verify(
            HashAlgorithm::Sha256,
            "Secret",
            b"salt",
            3,
            b"data",
            &tag
        ));
        assert!(!verify(
            HashAlgorithm::Sha256,
            "secret",
            b"salt",
            4,
            b"data",
            &tag
        ));
    }
}

//! Reading a v4 signature packet back: the client checks the server's packet before it
//! writes it, and `sigil verify` checks a detached signature. Input is untrusted: every
//! length is checked against what is left, the packet against [`MAX_SIGNATURE_PACKET_LEN`],
//! and subpacket areas are walked with bounded counts.

use sigil_keys::{HashAlgorithm, KeyFamily, RsaPadding, inspect_public_key};

use crate::OpenPgpError;
use crate::key::PublicKeyAlgorithm;
use crate::packet::{TAG_SIGNATURE, left_pad};
use crate::signature::ecdsa_der;

/// Longest signature packet read (an RSA-4096 signature with generous subpackets is under
/// 1 KiB).
pub const MAX_SIGNATURE_PACKET_LEN: usize = 16 * 1024;
/// Most subpackets read in one area.
const MAX_SUBPACKETS: usize = 64;

/// A signature packet, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSignature {
    /// Signature type byte.
    pub signature_type: u8,
    /// Public-key algorithm.
    pub algorithm: PublicKeyAlgorithm,
    /// Hash algorithm.
    pub hash: HashAlgorithm,
    /// The hashed part: version, type, algorithms, hashed subpackets (what is hashed after
    /// the data, before the trailer).
    pub hashed_part: Vec<u8>,
    /// Signature creation time (hashed subpacket 2).
    pub created: Option<u32>,
    /// Issuer fingerprint (subpacket 33, v4), hashed or not.
    pub issuer_fingerprint: Option<[u8; 20]>,
    /// Issuer key ID (subpacket 16), hashed or not.
    pub issuer_key_id: Option<[u8; 8]>,
    /// The left 16 bits of the signed digest.
    pub left16: [u8; 2],
    /// The signature MPIs' values (without leading zeros).
    pub mpis: Vec<Vec<u8>>,
}

/// Reads one signature packet (binary, not armored); trailing bytes are refused.
pub fn parse_signature(bytes: &[u8]) -> Result<ParsedSignature, OpenPgpError> {
    let mut r = Reader(bytes);
    let body = r.packet_body()?;
    if !r.0.is_empty() {
        return Err(OpenPgpError::Malformed(
            "bytes after the signature packet: give one signature",
        ));
    }
    let mut b = Reader(body);
    let start = body;
    if b.u8()? != 4 {
        return Err(OpenPgpError::Malformed(
            "only version 4 signatures are read",
        ));
    }
    let signature_type = b.u8()?;
    let algorithm = PublicKeyAlgorithm::from_id(b.u8()?).ok_or(OpenPgpError::Malformed(
        "public-key algorithm not RSA, ECDSA or EdDSA",
    ))?;
    let hash = match b.u8()? {
        8 => HashAlgorithm::Sha256,
        9 => HashAlgorithm::Sha384,
        10 => HashAlgorithm::Sha512,
        _ => {
            return Err(OpenPgpError::Malformed(
                "hash algorithm not SHA-256/384/512",
            ));
        }
    };
    let hashed_len = usize::from(b.u16()?);
    let hashed = b.take(hashed_len)?;
    let hashed_part = start
        .get(..6 + hashed_len)
        .ok_or(OpenPgpError::Malformed("truncated"))?
        .to_vec();
    let unhashed_len = usize::from(b.u16()?);
    let unhashed = b.take(unhashed_len)?;
    let mut parsed = ParsedSignature {
        signature_type,
        algorithm,
        hash,
        hashed_part,
        created: None,
        issuer_fingerprint: None,
        issuer_key_id: None,
        left16: [0; 2],
        mpis: Vec::with_capacity(2),
    };
    read_subpackets(hashed, true, &mut parsed)?;
    read_subpackets(unhashed, false, &mut parsed)?;
    let left = b.take(2)?;
    parsed.left16 = [
        left.first().copied().unwrap_or(0),
        left.get(1).copied().unwrap_or(0),
    ];
    for _ in 0..algorithm.signature_mpis() {
        parsed.mpis.push(b.mpi()?.to_vec());
    }
    if !b.0.is_empty() {
        return Err(OpenPgpError::Malformed("bytes after the signature values"));
    }
    Ok(parsed)
}

fn read_subpackets(
    mut area: &[u8],
    hashed: bool,
    parsed: &mut ParsedSignature,
) -> Result<(), OpenPgpError> {
    let mut count = 0;
    while !area.is_empty() {
        count += 1;
        if count > MAX_SUBPACKETS {
            return Err(OpenPgpError::Malformed("too many subpackets"));
        }
        let mut r = Reader(area);
        let first = r.u8()?;
        let len = match first {
            0..=191 => usize::from(first),
            192..=254 => ((usize::from(first) - 192) << 8) + usize::from(r.u8()?) + 192,
            255 => usize::try_from(r.u32()?).map_err(|_| OpenPgpError::Malformed("length"))?,
        };
        let packet = r.take(len)?;
        area = r.0;
        let (kind, data) = packet
            .split_first()
            .ok_or(OpenPgpError::Malformed("empty subpacket"))?;
        match kind & 0x7F {
            2 if hashed => {
                let bytes: [u8; 4] = data
                    .try_into()
                    .map_err(|_| OpenPgpError::Malformed("creation time is not 4 bytes"))?;
                parsed.created = Some(u32::from_be_bytes(bytes));
            }
            16 => {
                parsed.issuer_key_id = Some(
                    data.try_into()
                        .map_err(|_| OpenPgpError::Malformed("issuer key ID is not 8 bytes"))?,
                );
            }
            33 => {
                if let Some((4, fingerprint)) = data.split_first() {
                    parsed.issuer_fingerprint = Some(fingerprint.try_into().map_err(|_| {
                        OpenPgpError::Malformed("v4 issuer fingerprint is not 20 bytes")
                    })?);
                }
            }
            // A critical subpacket this reader does not know makes the signature invalid
            // (RFC 9580 §5.2.3.7).
            _ if kind & 0x80 != 0 && hashed => {
                return Err(OpenPgpError::Malformed("unknown critical subpacket"));
            }
            _ => {}
        }
    }
    Ok(())
}

impl ParsedSignature {
    /// Checks the signature over `digest` (the hash of the data, the hashed part and the
    /// trailer) against the DER `SubjectPublicKeyInfo` `spki`: the left 16 bits, then the
    /// signature values.
    pub fn verify_digest(&self, spki: &[u8], digest: &[u8]) -> Result<(), OpenPgpError> {
        if digest.get(..2) != Some(&self.left16[..]) {
            return Err(OpenPgpError::Mismatch(
                "the digest's first bytes differ: the data or the signature changed",
            ));
        }
        let info = inspect_public_key(spki).map_err(|e| OpenPgpError::Key(e.to_string()))?;
        if crate::PublicKey::openpgp_algorithm(info.algorithm) != self.algorithm {
            return Err(OpenPgpError::Mismatch(
                "the signature is from another key type",
            ));
        }
        let first = self.mpis.first().map(Vec::as_slice).unwrap_or_default();
        let second = self.mpis.get(1).map(Vec::as_slice).unwrap_or_default();
        let bad = |_| OpenPgpError::Mismatch("the signature does not match the key and data");
        match info.algorithm.family() {
            KeyFamily::Rsa => {
                let len = rsa_modulus_len(info.algorithm);
                let signature =
                    left_pad(first, len).ok_or(OpenPgpError::Malformed("RSA value too long"))?;
                sigil_keys::verify_digest(spki, self.hash, RsaPadding::Pkcs1v15, digest, &signature)
                    .map_err(bad)
            }
            KeyFamily::Ecdsa => {
                let signature = ecdsa_der(first, second)?;
                sigil_keys::verify_digest(spki, self.hash, RsaPadding::Pkcs1v15, digest, &signature)
                    .map_err(bad)
            }
            KeyFamily::Ed25519 => {
                let mut signature =
                    left_pad(first, 32).ok_or(OpenPgpError::Malformed("EdDSA R too long"))?;
                signature.extend(
                    left_pad(second, 32).ok_or(OpenPgpError::Malformed("EdDSA S too long"))?,
                );
                sigil_keys::verify_message(
                    spki,
                    self.hash,
                    RsaPadding::Pkcs1v15,
                    digest,
                    &signature,
                )
                .map_err(bad)
            }
        }
    }

    /// The bytes to hash after the data: the hashed part and the v4 trailer.
    pub fn trailer_bytes(&self) -> Vec<u8> {
        let mut out = self.hashed_part.clone();
        let len = u32::try_from(out.len()).unwrap_or(u32::MAX).to_be_bytes();
        out.extend_from_slice(&[0x04, 0xFF]);
        out.extend_from_slice(&len);
        out
    }
}

fn rsa_modulus_len(algorithm: sigil_keys::KeyAlgorithm) -> usize {
    match algorithm {
        sigil_keys::KeyAlgorithm::Rsa3072 => 384,
        sigil_keys::KeyAlgorithm::Rsa4096 => 512,
        _ => 256,
    }
}

/// A cursor over untrusted bytes: every read checks what is left.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], OpenPgpError> {
        let (head, rest) = self
            .0
            .split_at_checked(n)
            .ok_or(OpenPgpError::Malformed("truncated"))?;
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, OpenPgpError> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn u16(&mut self) -> Result<u16, OpenPgpError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ]))
    }

    fn u32(&mut self) -> Result<u32, OpenPgpError> {
        let b = self.take(4)?;
        let mut a = [0; 4];
        a.copy_from_slice(b);
        Ok(u32::from_be_bytes(a))
    }

    fn mpi(&mut self) -> Result<&'a [u8], OpenPgpError> {
        let bits = usize::from(self.u16()?);
        self.take(bits.div_ceil(8))
    }

    /// A signature packet's body, in the new or the old header format (definite lengths).
    fn packet_body(&mut self) -> Result<&'a [u8], OpenPgpError> {
        let header = self.u8()?;
        if header & 0x80 == 0 {
            return Err(OpenPgpError::Malformed("not an OpenPGP packet"));
        }
        let (tag, len) = if header & 0x40 != 0 {
            let first = self.u8()?;
            let len = match first {
                0..=191 => usize::from(first),
                192..=223 => ((usize::from(first) - 192) << 8) + usize::from(self.u8()?) + 192,
                255 => usize::try_from(self.u32()?).unwrap_or(usize::MAX),
                _ => return Err(OpenPgpError::Malformed("partial body lengths are not read")),
            };
            (header & 0x3F, len)
        } else {
            let len = match header & 0x03 {
                0 => usize::from(self.u8()?),
                1 => usize::from(self.u16()?),
                2 => usize::try_from(self.u32()?).unwrap_or(usize::MAX),
                _ => {
                    return Err(OpenPgpError::Malformed(
                        "indeterminate lengths are not read",
                    ));
                }
            };
            ((header >> 2) & 0x0F, len)
        };
        if tag != TAG_SIGNATURE {
            return Err(OpenPgpError::Malformed("not a signature packet"));
        }
        if len > MAX_SIGNATURE_PACKET_LEN {
            return Err(OpenPgpError::Malformed("signature packet too long"));
        }
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refuses_what_is_not_a_v4_signature() {
        for bytes in [
            &b""[..],
            &[0x00],
            &[0xC2],
            &[0xC2, 5, 3, 0, 1, 8, 0],
            &[0xC6, 1, 4],
            &[0xC2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        ] {
            assert!(parse_signature(bytes).is_err(), "{bytes:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_signature(&bytes);
        }

        #[test]
        fn never_panics_after_a_valid_header(
            body in proptest::collection::vec(any::<u8>(), 0..400),
            fields in (any::<u8>(), prop_oneof![Just(1u8), Just(19), Just(22)], 8u8..=10),
        ) {
            let mut packet = vec![4, fields.0, fields.1, fields.2];
            packet.extend_from_slice(&body);
            let mut out = Vec::new();
            crate::packet::write_packet(&mut out, TAG_SIGNATURE, &packet);
            let _ = parse_signature(&out);
        }
    }
}

//! v4 signature packets (RFC 9580 §5.2.3) made from a digest, and the transferable public
//! key (§10.1) with its self-signature.
//!
//! A v4 signature hashes the signed data, then the first part of the packet (version, type,
//! algorithms, hashed subpackets) and a 6-byte trailer. The client hashes the data and the
//! server signs the digest, so both must build exactly the same first part: it depends only
//! on what [`SignatureTemplate`] holds, and [`SignatureTemplate::hashed_part`] is the one
//! function that writes it.

use der::asn1::UintRef;
use der::{Decode, Encode, Sequence};
use sigil_keys::{HashAlgorithm, Hasher, KeyAlgorithm, KeyFamily, RsaPadding, SigningKey};

use crate::OpenPgpError;
use crate::key::{PublicKey, PublicKeyAlgorithm};
use crate::packet::{TAG_SIGNATURE, TAG_USER_ID, write_mpi, write_packet, write_subpacket};

/// Subpacket: signature creation time.
const SUB_CREATED: u8 = 2;
/// Subpacket: issuer key ID.
const SUB_ISSUER: u8 = 16;
/// Subpacket: preferred hash algorithms.
const SUB_PREFERRED_HASHES: u8 = 21;
/// Subpacket: primary user ID.
const SUB_PRIMARY_UID: u8 = 25;
/// Subpacket: key flags.
const SUB_KEY_FLAGS: u8 = 27;
/// Subpacket: issuer fingerprint.
const SUB_ISSUER_FINGERPRINT: u8 = 33;

/// The signature types Sigil makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureType {
    /// 0x00: signature of a binary document (detached signatures of files).
    Binary,
    /// 0x13: positive certification of a user ID (the key's self-signature).
    PositiveCertification,
}

impl SignatureType {
    /// The type byte.
    pub const fn id(self) -> u8 {
        match self {
            Self::Binary => 0x00,
            Self::PositiveCertification => 0x13,
        }
    }
}

/// The OpenPGP hash algorithm ID (RFC 9580 §9.5).
pub const fn hash_algorithm_id(hash: HashAlgorithm) -> u8 {
    match hash {
        HashAlgorithm::Sha256 => 8,
        HashAlgorithm::Sha384 => 9,
        HashAlgorithm::Sha512 => 10,
    }
}

/// Refuses a hash shorter than an ECDSA key's curve: GnuPG rejects a P-384 signature over
/// SHA-256 (RFC 9580 §5.2.3.2 lets the hash be truncated, never extended).
pub fn check_hash(algorithm: KeyAlgorithm, hash: HashAlgorithm) -> Result<(), OpenPgpError> {
    if algorithm == KeyAlgorithm::EcdsaP384 && hash == HashAlgorithm::Sha256 {
        return Err(OpenPgpError::HashTooShort {
            algorithm: algorithm.as_str(),
            hash,
            min_bits: 384,
        });
    }
    Ok(())
}

/// `Ecdsa-Sig-Value` (RFC 3279): the DER form Sigil's keys return.
#[derive(Sequence)]
struct EcdsaSignature<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// Everything the hashed part of a signature depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureTemplate {
    /// What is signed.
    pub kind: SignatureType,
    /// The signer's key algorithm.
    pub algorithm: KeyAlgorithm,
    /// The hash algorithm.
    pub hash: HashAlgorithm,
    /// Signature creation time, seconds since 1970.
    pub created: u32,
    /// The signer's v4 fingerprint.
    pub issuer: [u8; 20],
}

impl SignatureTemplate {
    /// A binary-document signature by `key`.
    pub fn binary(key: &PublicKey, hash: HashAlgorithm, created: u32) -> Self {
        Self {
            kind: SignatureType::Binary,
            algorithm: key.algorithm(),
            hash,
            created,
            issuer: key.fingerprint(),
        }
    }

    /// The first part of the packet body, hashed after the data: version 4, type, public-key
    /// and hash algorithms, and the hashed subpackets — creation time and issuer
    /// fingerprint; a self-signature adds key flags (certify, sign), preferred hashes and
    /// the primary user ID flag.
    pub fn hashed_part(&self) -> Vec<u8> {
        let mut subpackets = Vec::with_capacity(64);
        write_subpacket(&mut subpackets, SUB_CREATED, &self.created.to_be_bytes());
        let mut issuer = vec![4];
        issuer.extend_from_slice(&self.issuer);
        write_subpacket(&mut subpackets, SUB_ISSUER_FINGERPRINT, &issuer);
        if self.kind == SignatureType::PositiveCertification {
            write_subpacket(&mut subpackets, SUB_KEY_FLAGS, &[0x03]);
            write_subpacket(&mut subpackets, SUB_PREFERRED_HASHES, &[10, 9, 8]);
            write_subpacket(&mut subpackets, SUB_PRIMARY_UID, &[1]);
        }
        let mut out = vec![
            4,
            self.kind.id(),
            PublicKey::openpgp_algorithm(self.algorithm).id(),
            hash_algorithm_id(self.hash),
        ];
        out.extend_from_slice(&u16::try_from(subpackets.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&subpackets);
        out
    }

    /// Feeds what follows the signed data into `hasher`: the hashed part and the trailer
    /// (`0x04 0xFF` and the hashed part's length, 4 bytes).
    pub fn hash_trailer(&self, hasher: &mut Hasher) {
        let hashed = self.hashed_part();
        hasher.update(&hashed);
        hasher.update(&trailer(hashed.len()));
    }

    /// The trailer bytes the client appends after the data: the hashed part and its
    /// 6-byte trailer, for hashers other than [`Hasher`].
    pub fn trailer_bytes(&self) -> Vec<u8> {
        let mut out = self.hashed_part();
        let end = trailer(out.len());
        out.extend_from_slice(&end);
        out
    }

    /// Signs `digest` (the hash of the data and [`trailer_bytes`](Self::trailer_bytes)) with
    /// `key` and returns the whole signature packet. The signature is verified against
    /// `public` before it is returned.
    pub fn sign(
        &self,
        key: &dyn SigningKey,
        public: &PublicKey,
        digest: &[u8],
    ) -> Result<Vec<u8>, OpenPgpError> {
        check_hash(self.algorithm, self.hash)?;
        if key.algorithm() != self.algorithm || public.algorithm() != self.algorithm {
            return Err(OpenPgpError::Key(
                "the key does not match the signature's algorithm".into(),
            ));
        }
        self.hash.check_digest(digest).map_err(OpenPgpError::Sign)?;
        let raw = match self.algorithm.family() {
            // OpenPGP v4 has RSA PKCS#1 v1.5 only; EdDSA signs the digest as its message.
            KeyFamily::Ed25519 => key.sign_message(self.hash, RsaPadding::Pkcs1v15, digest),
            _ => key.sign_digest(self.hash, RsaPadding::Pkcs1v15, digest),
        }
        .map_err(OpenPgpError::Sign)?;
        let mpis = signature_mpis(self.algorithm, &raw)?;
        let packet = self.packet(public, digest, &mpis);
        let parsed = crate::parse::parse_signature(&packet)?;
        parsed.verify_digest(public.spki(), digest)?;
        Ok(packet)
    }

    /// The signature packet around `mpis` (already encoded).
    fn packet(&self, public: &PublicKey, digest: &[u8], mpis: &[u8]) -> Vec<u8> {
        let mut body = self.hashed_part();
        // Unhashed: the issuer key ID, for readers that look keys up by ID (rpm, older gpg).
        let mut unhashed = Vec::with_capacity(10);
        write_subpacket(&mut unhashed, SUB_ISSUER, &public.key_id());
        body.extend_from_slice(&u16::try_from(unhashed.len()).unwrap_or(0).to_be_bytes());
        body.extend_from_slice(&unhashed);
        body.extend_from_slice(digest.get(..2).unwrap_or(&[0, 0]));
        body.extend_from_slice(mpis);
        let mut out = Vec::with_capacity(body.len() + 3);
        write_packet(&mut out, TAG_SIGNATURE, &body);
        out
    }
}

/// The 6-byte v4 trailer.
fn trailer(hashed_len: usize) -> [u8; 6] {
    let len = u32::try_from(hashed_len).unwrap_or(u32::MAX).to_be_bytes();
    [0x04, 0xFF, len[0], len[1], len[2], len[3]]
}

/// The signature MPIs of a signature as Sigil's keys return it (RSA: the signature bytes;
/// ECDSA: DER `Ecdsa-Sig-Value`; Ed25519: `R || S`).
fn signature_mpis(algorithm: KeyAlgorithm, raw: &[u8]) -> Result<Vec<u8>, OpenPgpError> {
    let mut out = Vec::with_capacity(raw.len() + 4);
    match PublicKey::openpgp_algorithm(algorithm) {
        PublicKeyAlgorithm::Rsa => write_mpi(&mut out, raw),
        PublicKeyAlgorithm::Ecdsa => {
            let signature = EcdsaSignature::from_der(raw)
                .map_err(|_| OpenPgpError::Malformed("the key returned no DER ECDSA signature"))?;
            write_mpi(&mut out, signature.r.as_bytes());
            write_mpi(&mut out, signature.s.as_bytes());
        }
        PublicKeyAlgorithm::EdDsaLegacy => {
            let (r, s) = raw
                .split_at_checked(32)
                .filter(|(_, s)| s.len() == 32)
                .ok_or(OpenPgpError::Malformed(
                    "the key returned no 64-byte Ed25519 signature",
                ))?;
            write_mpi(&mut out, r);
            write_mpi(&mut out, s);
        }
    }
    Ok(out)
}

/// The DER `Ecdsa-Sig-Value` of two MPIs read back (for verification with Sigil's keys).
pub(crate) fn ecdsa_der(r: &[u8], s: &[u8]) -> Result<Vec<u8>, OpenPgpError> {
    let bad = |_| OpenPgpError::Malformed("ECDSA signature values out of range");
    EcdsaSignature {
        r: UintRef::new(r).map_err(bad)?,
        s: UintRef::new(s).map_err(bad)?,
    }
    .to_der()
    .map_err(bad)
}

/// The transferable public key of `key` (RFC 9580 §10.1): the public-key packet, the user
/// ID packet with `user_id`, and a positive certification of both made with `signer` at
/// `created` — the key's self-signature, which GnuPG requires before it uses a key.
pub fn transferable_public_key(
    signer: &dyn SigningKey,
    key: &PublicKey,
    user_id: &str,
    hash: HashAlgorithm,
    created: u32,
) -> Result<Vec<u8>, OpenPgpError> {
    let template = SignatureTemplate {
        kind: SignatureType::PositiveCertification,
        algorithm: key.algorithm(),
        hash,
        created,
        issuer: key.fingerprint(),
    };
    let mut hasher = Hasher::new(hash);
    hasher.update(&key.hashed_form());
    hasher.update(&[0xB4]);
    hasher.update(
        &u32::try_from(user_id.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    hasher.update(user_id.as_bytes());
    template.hash_trailer(&mut hasher);
    let signature = template.sign(signer, key, &hasher.finalize())?;
    let mut out = key.packet();
    write_packet(&mut out, TAG_USER_ID, user_id.as_bytes());
    out.extend_from_slice(&signature);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_keys::SoftwareKey;

    #[test]
    fn signs_and_verifies_for_every_algorithm() {
        for (algorithm, hash) in [
            (KeyAlgorithm::Rsa2048, HashAlgorithm::Sha256),
            (KeyAlgorithm::EcdsaP256, HashAlgorithm::Sha256),
            (KeyAlgorithm::EcdsaP384, HashAlgorithm::Sha384),
            (KeyAlgorithm::Ed25519, HashAlgorithm::Sha512),
        ] {
            let key = SoftwareKey::generate(algorithm).unwrap();
            let public = PublicKey::from_spki(key.public_key_der(), 1_700_000_000).unwrap();
            let template = SignatureTemplate::binary(&public, hash, 1_700_000_100);
            let mut hasher = Hasher::new(hash);
            hasher.update(b"release bytes");
            template.hash_trailer(&mut hasher);
            let digest = hasher.finalize();
            let packet = template.sign(&key, &public, &digest).unwrap();
            let parsed = crate::parse_signature(&packet).unwrap();
            assert_eq!(parsed.hashed_part, template.hashed_part());
            assert_eq!(parsed.created, Some(1_700_000_100));
            assert_eq!(parsed.issuer_fingerprint, Some(public.fingerprint()));
            parsed.verify_digest(public.spki(), &digest).unwrap();
            let mut other = digest.clone();
            other[5] ^= 1;
            assert!(parsed.verify_digest(public.spki(), &other).is_err());
            transferable_public_key(&key, &public, "Test <t@example.com>", hash, 1_700_000_000)
                .unwrap();
        }
    }

    #[test]
    fn p384_needs_a_long_hash() {
        assert!(check_hash(KeyAlgorithm::EcdsaP384, HashAlgorithm::Sha256).is_err());
        assert!(check_hash(KeyAlgorithm::EcdsaP384, HashAlgorithm::Sha384).is_ok());
        assert!(check_hash(KeyAlgorithm::EcdsaP256, HashAlgorithm::Sha256).is_ok());
    }
}

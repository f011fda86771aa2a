//! OpenPGP (RFC 9580, v4 keys and signatures) for Sigil: detached signatures over a digest
//! the client computed, and the policy key's public key as a transferable public key.
//!
//! **Why the packets are encoded by hand.** The maintained Rust implementation, `pgp`
//! (rpgp) 0.21, is built on the previous RustCrypto generation (`rsa` 0.9, `p256`/`p384` 0.13,
//! `ecdsa` 0.16, `digest` 0.10, `signature` 2) and pulls about 70 direct dependencies; Sigil
//! is on the current one and signs through its own [`SigningKey`] (aws-lc-rs, or an HSM),
//! which rpgp would need adapters for. What Sigil needs is small and fully specified: the
//! v4 public-key packet and fingerprint (RFC 9580 §5.5.2, §5.5.4), the user ID packet, the
//! v4 signature packet with a few subpackets (§5.2.3) and ASCII armor (§6). Those are
//! written here, and one parser reads back signature packets (bounded, fuzzed) so that a
//! client can check what the server returned before writing it.
//!
//! Algorithms: RSA (PKCS#1 v1.5, whatever the policy's RSA scheme: OpenPGP has no PSS in
//! v4), ECDSA on NIST P-256/P-384, and Ed25519 as the v4 `EdDSALegacy` algorithm (22), which
//! GnuPG 2.2 and rpm read. EdDSA signs the hash *value* as its message, so Ed25519 keys,
//! which cannot sign a digest in [`SigningKey::sign_digest`], sign the digest bytes as a
//! message.
//!
//! [`SigningKey`]: sigil_keys::SigningKey
//! [`SigningKey::sign_digest`]: sigil_keys::SigningKey::sign_digest

#![forbid(unsafe_code)]

mod armor;
mod error;
mod key;
mod packet;
mod parse;
mod signature;

pub use armor::{ArmorKind, MAX_ARMORED_LEN, armor, dearmor};
pub use error::OpenPgpError;
pub use key::{PublicKey, PublicKeyAlgorithm};
pub use parse::{MAX_SIGNATURE_PACKET_LEN, ParsedSignature, parse_signature};
pub use signature::{
    SignatureTemplate, SignatureType, check_hash, hash_algorithm_id, transferable_public_key,
};

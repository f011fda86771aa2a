//! Errors of the OpenPGP code.

use sigil_keys::{HashAlgorithm, KeyAlgorithm, KeyError};

/// Why an OpenPGP packet could not be built, read or checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenPgpError {
    /// The public key could not be turned into an OpenPGP key packet.
    #[error("the public key cannot be used for OpenPGP: {0}")]
    Key(String),
    /// The key's curve needs a longer hash than the one asked for.
    #[error(
        "a {algorithm} key needs a hash of at least {min_bits} bits for OpenPGP (GnuPG refuses {hash}): choose sha384 or sha512"
    )]
    HashTooShort {
        /// The key.
        algorithm: &'static str,
        /// The hash asked for.
        hash: HashAlgorithm,
        /// The shortest hash the key takes.
        min_bits: u32,
    },
    /// The key refused to sign.
    #[error("signing failed: {0}")]
    Sign(#[source] KeyError),
    /// A key algorithm OpenPGP signing does not cover.
    #[error("key algorithm {0} cannot make OpenPGP signatures")]
    Unsupported(KeyAlgorithm),
    /// A packet or armor that is not what it should be.
    #[error("not a valid OpenPGP signature: {0}")]
    Malformed(&'static str),
    /// A signature that does not match the data or the key.
    #[error("the OpenPGP signature does not verify: {0}")]
    Mismatch(&'static str),
}

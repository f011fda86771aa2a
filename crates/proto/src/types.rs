//! Small typed values carried in fields: enumerations, identifiers and the password.

use std::fmt;

use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::limits::MAX_TOKEN_LEN;
use crate::value::{self, ValueError};

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident, expected = $expected:literal {
            $( $(#[$doc:meta])* $variant:ident = $code:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$doc])* $variant, )*
        }

        impl $name {
            /// Every value, in protocol order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The value as written on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $code, )*
                }
            }

            /// Reads the wire form (exact, case-sensitive).
            pub fn parse(value: &str) -> Result<Self, ValueError> {
                match value {
                    $( $code => Ok($name::$variant), )*
                    _ => Err(ValueError::NotOneOf { expected: $expected }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Signature format a policy allows (`AF`), one per upload command pair: the one type of
/// `sigil-domain`.
pub use sigil_domain::SigningFormat;
/// Hash algorithm of a client-computed digest (`HA`, `AH`): the one type of `sigil-keys`.
/// Its [`digest_len`](HashAlgorithm::digest_len) is what the server checks `DG` against
/// (`DIGEST_LENGTH`); the client checks the same before sending.
pub use sigil_keys::HashAlgorithm;
/// Key algorithm of a policy's key (`KA`): the one type of `sigil-keys`.
pub use sigil_keys::KeyAlgorithm;

/// The one conversion between a Sigil type and its token on the wire: `SHA256` (`HA`),
/// `JAR` (`AF`), `rsa-3072` (`KA`). Reading is exact and case-sensitive.
pub trait WireToken: Sized + Copy + 'static {
    /// Every value, in protocol order.
    const VALUES: &'static [Self];
    /// The accepted tokens, for the error.
    const EXPECTED: &'static str;

    /// The token as written on the wire.
    fn to_wire(self) -> &'static str;

    /// Reads the wire form.
    fn from_wire(value: &str) -> Result<Self, ValueError> {
        Self::VALUES
            .iter()
            .copied()
            .find(|v| v.to_wire() == value)
            .ok_or(ValueError::NotOneOf {
                expected: Self::EXPECTED,
            })
    }
}

impl WireToken for HashAlgorithm {
    const VALUES: &'static [Self] = &HashAlgorithm::ALL;
    const EXPECTED: &'static str = "SHA256, SHA384, SHA512";

    fn to_wire(self) -> &'static str {
        self.as_str()
    }
}

impl WireToken for SigningFormat {
    const VALUES: &'static [Self] = SigningFormat::ALL;
    const EXPECTED: &'static str = "HASH, AUTHENTICODE, JAR, OPENPGP";

    fn to_wire(self) -> &'static str {
        match self {
            // `RAUO`/`RAGO`.
            SigningFormat::Hash => "HASH",
            // `RAUZ`/`RAGZ`.
            SigningFormat::Authenticode => "AUTHENTICODE",
            // `RAUJ`/`RAGJ`.
            SigningFormat::Jar => "JAR",
            // `RAUP`/`RAGP`.
            SigningFormat::OpenPgp => "OPENPGP",
        }
    }
}

impl WireToken for KeyAlgorithm {
    const VALUES: &'static [Self] = &KeyAlgorithm::ALL;
    const EXPECTED: &'static str = "rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384, ed25519";

    fn to_wire(self) -> &'static str {
        self.as_str()
    }
}

/// What an Authenticode upload (`RAUZ`) signs (`AK`; absent: `PE`): the one type of
/// `sigil-domain`. The client computes the digest the subject's format defines; the server
/// builds the matching `SpcIndirectDataContent`.
pub use sigil_domain::AuthenticodeSubject;

impl WireToken for AuthenticodeSubject {
    const VALUES: &'static [Self] = AuthenticodeSubject::ALL;
    const EXPECTED: &'static str = "PE, MSI, CAB, SCRIPT, CATALOG";

    fn to_wire(self) -> &'static str {
        match self {
            AuthenticodeSubject::Pe => "PE",
            AuthenticodeSubject::Msi => "MSI",
            AuthenticodeSubject::Cab => "CAB",
            AuthenticodeSubject::Script => "SCRIPT",
            AuthenticodeSubject::Catalog => "CATALOG",
        }
    }
}

wire_enum! {
    /// State of a signing request (`RS`): `PENDING → APPROVED → SIGNED`, or `DENIED`,
    /// `EXPIRED`, `FAILED`.
    RequestState, expected = "PENDING, APPROVED, SIGNED, DENIED, EXPIRED, FAILED" {
        /// Waiting for approvals.
        Pending = "PENDING",
        /// Quorum reached, signature not produced yet.
        Approved = "APPROVED",
        /// Signed: the result is available.
        Signed = "SIGNED",
        /// An approver denied the request.
        Denied = "DENIED",
        /// Not approved within the policy's request lifetime.
        Expired = "EXPIRED",
        /// Approved, but signing failed.
        Failed = "FAILED",
    }
}

impl RequestState {
    /// Whether the request can still change state.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Self::Signed | Self::Denied | Self::Expired | Self::Failed
        )
    }
}

macro_rules! token_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Checks the token syntax: 1 to [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN) characters
            /// of `A-Z a-z 0-9 . _ - : +`.
            pub fn new(value: impl Into<String>) -> Result<Self, ValueError> {
                let value = value.into();
                if value.len() > MAX_TOKEN_LEN {
                    return Err(ValueError::TooLong { limit: MAX_TOKEN_LEN });
                }
                value::token(&value)?;
                Ok(Self(value))
            }

            /// The id as sent.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

token_id! {
    /// Client correlation id (`AG`): chosen by the client, echoed by the server, so a client can
    /// match pipelined responses to requests.
    CorrelationId
}

token_id! {
    /// Signing request id (`RI`), assigned by the server.
    RequestId
}

token_id! {
    /// Release id (`RL`), assigned by the server.
    ReleaseId
}

token_id! {
    /// Idempotency key (`IK`) of an upload, chosen by the client (random, one per file): an
    /// upload repeated with the same key by the same requester returns the request the first
    /// one created instead of creating another, so a client may resend an upload whose answer
    /// it lost.
    IdempotencyKey
}

/// An identity password (`PW`). Held in memory that is wiped on drop, never printed by
/// `Debug`, compared in constant time.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(Zeroizing::new(password.into()))
    }

    pub(crate) fn from_zeroizing(password: Zeroizing<String>) -> Self {
        Self(password)
    }

    /// The password itself, for the password check. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl PartialEq for Password {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Password {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip() {
        for hash in HashAlgorithm::ALL {
            assert_eq!(HashAlgorithm::from_wire(hash.to_wire()), Ok(hash));
        }
        for format in SigningFormat::ALL {
            assert_eq!(SigningFormat::from_wire(format.to_wire()), Ok(*format));
        }
        for key in KeyAlgorithm::ALL {
            assert_eq!(KeyAlgorithm::from_wire(key.to_wire()), Ok(key));
        }
        assert!(SigningFormat::from_wire("jar").is_err());
        assert!(KeyAlgorithm::from_wire("RSA-2048").is_err());
        for subject in AuthenticodeSubject::ALL {
            assert_eq!(
                AuthenticodeSubject::from_wire(subject.to_wire()),
                Ok(*subject)
            );
        }
        for state in RequestState::ALL {
            assert_eq!(RequestState::parse(state.as_str()), Ok(*state));
        }
        assert!(HashAlgorithm::from_wire("sha256").is_err());
        assert!(RequestState::parse("SIGNED ").is_err());
    }

    #[test]
    fn digest_lengths_match_fips_180_4() {
        assert_eq!(HashAlgorithm::Sha256.digest_len(), 32);
        assert_eq!(HashAlgorithm::Sha384.digest_len(), 48);
        assert_eq!(HashAlgorithm::Sha512.digest_len(), 64);
    }

    #[test]
    fn ids_are_tokens() {
        assert_eq!(CorrelationId::new("job-42.7").unwrap().as_str(), "job-42.7");
        assert!(CorrelationId::new("").is_err());
        assert!(CorrelationId::new("a;b").is_err());
        assert!(RequestId::new("x".repeat(MAX_TOKEN_LEN + 1)).is_err());
        assert!(RequestId::new("x".repeat(MAX_TOKEN_LEN)).is_ok());
    }

    #[test]
    fn password_is_redacted_and_compares() {
        let password = Password::new("hunter2");
        assert_eq!(format!("{password:?}"), "Password(<redacted>)");
        assert_eq!(password, Password::new("hunter2"));
        assert_ne!(password, Password::new("hunter3"));
        assert_eq!(password.expose(), "hunter2");
    }
}

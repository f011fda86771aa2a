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

wire_enum! {
    /// Hash algorithm of a client-computed digest (`HA`).
    HashAlgorithm, expected = "SHA256, SHA384, SHA512" {
        /// SHA-256 (FIPS 180-4), 32-byte digest.
        Sha256 = "SHA256",
        /// SHA-384 (FIPS 180-4), 48-byte digest.
        Sha384 = "SHA384",
        /// SHA-512 (FIPS 180-4), 64-byte digest.
        Sha512 = "SHA512",
    }
}

impl HashAlgorithm {
    /// Length of a digest in bytes. The server refuses a `DG` of another length with
    /// `DIGEST_LENGTH`; the client checks the same before sending.
    pub const fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

wire_enum! {
    /// Signature format a policy allows (`AF`), one per upload command pair.
    SignFormat, expected = "HASH, AUTHENTICODE, JAR, OPENPGP" {
        /// Raw signature over a digest (`RAUO`/`RAGO`).
        Hash = "HASH",
        /// Authenticode PKCS#7 SignedData for a PE image, an MSI package, a script… (`RAUZ`/`RAGZ`).
        Authenticode = "AUTHENTICODE",
        /// PKCS#7 signature block for a JAR's .SF file (`RAUJ`/`RAGJ`).
        Jar = "JAR",
        /// OpenPGP v4 detached signature packet (`RAUP`/`RAGP`).
        OpenPgp = "OPENPGP",
    }
}

wire_enum! {
    /// What an Authenticode upload (`RAUZ`) signs (`AK`; absent: `PE`). The client computes
    /// the digest the subject's format defines; the server builds the matching
    /// `SpcIndirectDataContent`.
    AuthenticodeSubject, expected = "PE, MSI, CAB, SCRIPT, CATALOG" {
        /// A PE image (EXE, DLL, SYS, EFI…).
        Pe = "PE",
        /// A Windows Installer package.
        Msi = "MSI",
        /// A cabinet file.
        Cab = "CAB",
        /// A PowerShell script (`.ps1`, `.psm1`, `.psd1`).
        Script = "SCRIPT",
        /// A catalog file (`.cat`).
        Catalog = "CATALOG",
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
            assert_eq!(HashAlgorithm::parse(hash.as_str()), Ok(*hash));
        }
        for format in SignFormat::ALL {
            assert_eq!(SignFormat::parse(format.as_str()), Ok(*format));
        }
        for subject in AuthenticodeSubject::ALL {
            assert_eq!(AuthenticodeSubject::parse(subject.as_str()), Ok(*subject));
        }
        for state in RequestState::ALL {
            assert_eq!(RequestState::parse(state.as_str()), Ok(*state));
        }
        assert!(HashAlgorithm::parse("sha256").is_err());
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

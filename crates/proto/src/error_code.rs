//! Stable error codes: the value of the `ER` field.
//!
//! Codes are short uppercase mnemonics (`FRAME_TOO_LARGE`), not numbers: they read well in a
//! hand-typed session and in logs, and they never change meaning. New codes may be added; a
//! client keeps a code it does not know in [`ErrorCode::Unknown`] and shows the `EM` message.
//! `docs/host-api.md` ("Error codes") says what a client should do for each.

use std::fmt;

use crate::value::{ValueError, is_token_byte};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $message:literal; )*) => {
        /// A stable Host API error code.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// A code this version does not know (sent by a newer server), kept intact.
            Unknown(String),
        }

        impl ErrorCode {
            /// Every code this version knows.
            pub const KNOWN: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as sent in `ER`.
            pub fn as_str(&self) -> &str {
                match self {
                    $( ErrorCode::$variant => $code, )*
                    ErrorCode::Unknown(code) => code,
                }
            }

            /// Reads a code: a known one, or [`Unknown`](ErrorCode::Unknown) for any other
            /// token.
            pub fn parse(code: &str) -> Result<ErrorCode, ValueError> {
                Ok(match code {
                    $( $code => ErrorCode::$variant, )*
                    _ => {
                        if code.is_empty() {
                            return Err(ValueError::Empty);
                        }
                        if let Some(&byte) = code.as_bytes().iter().find(|b| !is_token_byte(**b)) {
                            return Err(ValueError::NotToken { byte });
                        }
                        ErrorCode::Unknown(code.to_owned())
                    }
                })
            }

            /// A one-line human message for the code, used when there is nothing more precise
            /// to say.
            pub fn default_message(&self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => $message, )*
                    ErrorCode::Unknown(_) => "The server reported an error this client does not know.",
                }
            }
        }
    };
}

error_codes! {
    // Framing and syntax: the request was not understood. Fix the client; do not resend as is.
    /// The connection closed in the middle of a frame.
    TruncatedFrame = "TRUNCATED_FRAME", "The connection closed before the frame was complete.";
    /// The frame is larger than the limit.
    FrameTooLarge = "FRAME_TOO_LARGE", "The frame is larger than the size limit.";
    /// Bytes outside a frame, or a frame that is not closed with `]`.
    FrameSyntax = "FRAME_SYNTAX", "Bytes outside a frame, or a frame not closed.";
    /// A field is not a tag followed by a value and `;`, or holds a forbidden byte.
    MalformedField = "MALFORMED_FIELD", "A field is not a two-letter tag, a value and a semicolon.";
    /// The frame has more fields than allowed.
    TooManyFields = "TOO_MANY_FIELDS", "The frame has too many fields.";
    /// A tag this server does not know.
    UnknownTag = "UNKNOWN_TAG", "The frame contains a tag this server does not know.";
    /// A tag appears twice in the frame.
    DuplicateTag = "DUPLICATE_TAG", "A tag appears more than once in the frame.";
    /// A known tag that the command does not take.
    UnexpectedTag = "UNEXPECTED_TAG", "The frame contains a tag this command does not take.";
    /// A value is longer than its tag allows.
    ValueTooLong = "VALUE_TOO_LONG", "A value is longer than its tag allows.";
    /// A binary value is not an even number of hex digits.
    BadHex = "BAD_HEX", "A binary value is not an even number of hex digits.";
    /// A text value has a malformed percent-escape or is not UTF-8.
    BadEscape = "BAD_ESCAPE", "A text value has a bad percent-escape or is not UTF-8.";
    /// A field the command requires is missing.
    MissingField = "MISSING_FIELD", "A field this command requires is missing.";
    /// A value does not have the syntax or one of the values its tag allows.
    BadValue = "BAD_VALUE", "A value is not valid for its tag.";

    // Commands.
    /// The command code is not one this server knows.
    UnknownCommand = "UNKNOWN_COMMAND", "The server does not know this command.";
    /// The command exists but an administrator disabled it.
    CommandDisabled = "COMMAND_DISABLED", "This command is disabled on this server.";

    // Sessions and identities.
    /// The command needs a logged-in identity.
    NotLoggedIn = "NOT_LOGGED_IN", "Log in (RKLO) before using this command.";
    /// The session's roles do not grant the permission the command needs.
    NotPermitted = "NOT_PERMITTED", "This session is not permitted to use this command.";
    /// Wrong identity name or password (one code for both, so names are not revealed).
    AuthFailed = "AUTH_FAILED", "Wrong identity name or password.";
    /// The identity is locked after too many failed logins.
    IdentityLocked = "IDENTITY_LOCKED", "The identity is locked; retry later or ask an administrator.";
    /// The identity is disabled.
    IdentityDisabled = "IDENTITY_DISABLED", "The identity is disabled; ask an administrator.";
    /// The TLS client certificate does not match the identity bound to it.
    CertMismatch = "CERT_MISMATCH", "The client certificate does not match this identity.";
    /// Too many failed logins from this source address: it is throttled for a while.
    LoginThrottled = "LOGIN_THROTTLED", "Too many failed logins from this address; retry later.";
    /// Too many failed calls from this address, connection or identity in the current
    /// window: refused without being run until the window ends.
    TooManyFailures = "TOO_MANY_FAILURES", "Too many failed calls; retry after the window ends.";
    /// The identity is already logged in on this connection.
    AlreadyLoggedIn = "ALREADY_LOGGED_IN", "This identity is already logged in on this connection.";

    // Policies and signing requests.
    /// The policy does not exist or is not visible to this session (one code for both).
    PolicyNotFound = "POLICY_NOT_FOUND", "No such issuance policy is visible to this session.";
    /// The policy does not allow the hash algorithm.
    HashNotAllowed = "HASH_NOT_ALLOWED", "The policy does not allow this hash algorithm.";
    /// The policy does not allow the signature format.
    FormatNotAllowed = "FORMAT_NOT_ALLOWED", "The policy does not allow this signature format.";
    /// The digest length does not match the hash algorithm.
    DigestLength = "DIGEST_LENGTH", "The digest length does not match the hash algorithm.";
    /// The request metadata is larger than the server accepts.
    MetadataTooLarge = "METADATA_TOO_LARGE", "The request metadata is too large.";
    /// The request does not exist, is not of this kind, or is not yours (one code for all).
    RequestNotFound = "REQUEST_NOT_FOUND", "No such signing request for this session.";
    /// The request is no longer pending.
    RequestNotPending = "REQUEST_NOT_PENDING", "The signing request is no longer pending.";
    /// The request is one file of a release: approve or deny the release.
    RequestInRelease = "REQUEST_IN_RELEASE", "The signing request belongs to a release: decide the release.";
    /// The release takes no more files (complete, decided, expired, or another policy).
    ReleaseClosed = "RELEASE_CLOSED", "The release takes no more files.";
    /// The signing operation failed on the server.
    SigningFailed = "SIGNING_FAILED", "The server could not produce the signature.";

    // Server state.
    /// The server is overloaded or at its connection or request limit.
    ServerBusy = "SERVER_BUSY", "The server is busy; retry later.";
    /// The server's key store is sealed (master key not entered yet).
    ServerSealed = "SERVER_SEALED", "The server is sealed; retry after the custodians unseal it.";
    /// An internal error; the server logged the details.
    Internal = "INTERNAL", "Internal server error; the server logged the details.";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_round_trip_and_are_tokens() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::KNOWN {
            assert!(seen.insert(code.as_str()), "{code} listed twice");
            assert_eq!(ErrorCode::parse(code.as_str()).as_ref(), Ok(code));
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_')
            );
            assert!(!code.default_message().is_empty());
        }
    }

    #[test]
    fn unknown_codes_are_kept_intact() {
        let code = ErrorCode::parse("QUOTA_EXCEEDED").unwrap();
        assert_eq!(code, ErrorCode::Unknown("QUOTA_EXCEEDED".into()));
        assert_eq!(code.as_str(), "QUOTA_EXCEEDED");
        assert!(ErrorCode::parse("A;B").is_err());
        assert!(ErrorCode::parse("").is_err());
    }
}

//! The tag table: every two-letter field tag, its meaning and its value class.
//!
//! One meaning per tag across all commands, so a tag can be read without knowing the command.
//! `docs/host-api.md` ("Tags") is the reference for client authors; a unit test checks that
//! every tag listed here appears there.

use std::fmt;

use crate::value::ValueClass;

/// A field tag: two ASCII uppercase letters.
///
/// Known tags are associated constants named by meaning (`Tag::DIGEST` is `DG`); a frame may
/// also carry a tag this version does not know (responses from a newer server), which is kept
/// as is and has no [`class`](Tag::class).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag([u8; 2]);

impl Tag {
    /// Reads a tag: `None` unless both bytes are ASCII uppercase letters.
    pub const fn from_bytes(bytes: [u8; 2]) -> Option<Self> {
        if bytes[0].is_ascii_uppercase() && bytes[1].is_ascii_uppercase() {
            Some(Self(bytes))
        } else {
            None
        }
    }

    /// The two letters.
    pub const fn as_bytes(self) -> [u8; 2] {
        self.0
    }

    /// Index of the tag among all 26 × 26 possible tags (for bit sets).
    pub(crate) const fn index(self) -> usize {
        (self.0[0] - b'A') as usize * 26 + (self.0[1] - b'A') as usize
    }

    /// Whether this version of the protocol defines the tag.
    pub fn is_known(self) -> bool {
        self.class().is_some()
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", char::from(self.0[0]), char::from(self.0[1]))
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({self})")
    }
}

macro_rules! tag_table {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $class:ident; )*) => {
        impl Tag {
            $( $(#[$doc])* pub const $name: Tag = Tag(*$code); )*

            /// Every tag this version defines, in table order.
            pub const KNOWN: &'static [Tag] = &[$(Tag::$name),*];

            /// The value class of a known tag, `None` for an unknown one.
            pub const fn class(self) -> Option<ValueClass> {
                match self {
                    $( Tag::$name => Some(ValueClass::$class), )*
                    _ => None,
                }
            }

            /// The tag's meaning in a few words (for error messages and documentation).
            pub const fn name(self) -> &'static str {
                match self {
                    $( Tag::$name => stringify!($name), )*
                    _ => "UNKNOWN",
                }
            }
        }
    };
}

tag_table! {
    /// `AO` — command code, always the first field (token: four uppercase letters).
    COMMAND = b"AO", Token;
    /// `AG` — client correlation id, echoed in the response (token).
    CORRELATION = b"AG", Token;
    /// `AN` — answer: `Y` success, `N` failure (token).
    ANSWER = b"AN", Token;
    /// `ER` — stable error code of a failure (token, see [`ErrorCode`](crate::ErrorCode)).
    ERROR_CODE = b"ER", Token;
    /// `EM` — human-readable error message of a failure (text).
    ERROR_MESSAGE = b"EM", Text;
    /// `VS` — server version (token).
    VERSION = b"VS", Token;
    /// `TM` — server time (time).
    TIME = b"TM", Time;
    /// `ID` — identity name (text).
    IDENTITY = b"ID", Text;
    /// `PW` — identity password (secret).
    PASSWORD = b"PW", Secret;
    /// `LR` — logins still required before the session's roles apply (decimal).
    LOGINS_REMAINING = b"LR", Decimal;
    /// `PA` — issuance policy alias (text).
    POLICY = b"PA", Text;
    /// `PL` — list of issuance policy aliases (text list).
    POLICY_LIST = b"PL", TextList;
    /// `HA` — hash algorithm: `SHA256`, `SHA384`, `SHA512` (token).
    HASH = b"HA", Token;
    /// `DG` — digest computed by the client (hex).
    DIGEST = b"DG", Digest;
    /// `RI` — signing request id assigned by the server (token).
    REQUEST_ID = b"RI", Token;
    /// `RS` — signing request state (token, see [`RequestState`](crate::RequestState)).
    REQUEST_STATE = b"RS", Token;
    /// `SG` — signing result: raw signature or PKCS#7 DER (hex blob).
    RESULT = b"SG", Blob;
    /// `CC` — certificate chain: concatenated DER certificates, signer first (hex blob).
    CERT_CHAIN = b"CC", Blob;
    /// `KA` — key algorithm of a policy's key, e.g. `rsa-3072`, `ecdsa-p256` (token).
    KEY_ALGORITHM = b"KA", Token;
    /// `AH` — hash algorithms a policy allows (token list).
    ALLOWED_HASHES = b"AH", TokenList;
    /// `AF` — formats a policy allows: `HASH`, `AUTHENTICODE`, `JAR`, `OPENPGP` (token list).
    ALLOWED_FORMATS = b"AF", TokenList;
    /// `AR` — approvals required (decimal).
    APPROVALS_REQUIRED = b"AR", Decimal;
    /// `AP` — approvals received so far (decimal).
    APPROVALS_RECEIVED = b"AP", Decimal;
    /// `DR` — reason given by the approver who denied the request (text).
    DENIAL_REASON = b"DR", Text;
    /// `EX` — time at which a pending request expires (time).
    EXPIRES = b"EX", Time;
    /// `FN` — metadata: file name of the artifact (text).
    FILE_NAME = b"FN", Text;
    /// `FS` — metadata: file size of the artifact in bytes (decimal).
    FILE_SIZE = b"FS", Decimal;
    /// `BU` — metadata: build URL (text).
    BUILD_URL = b"BU", Text;
    /// `CM` — metadata: source commit (text).
    COMMIT = b"CM", Text;
    /// `DS` — metadata: free-form description (text).
    DESCRIPTION = b"DS", Text;
    /// `PN` — Authenticode program name (text).
    PROGRAM_NAME = b"PN", Text;
    /// `PU` — Authenticode program URL (text).
    PROGRAM_URL = b"PU", Text;
    /// `AK` — Authenticode subject: `PE`, `MSI`, `CAB`, `SCRIPT`, `CATALOG` (token; absent:
    /// `PE`).
    SUBJECT = b"AK", Token;
    /// `EC` — JAR: number of entries the .SF file covers (decimal).
    ENTRY_COUNT = b"EC", Decimal;
    /// `SN` — JAR signer name, the base name of the .SF and block files (token).
    SIGNER_NAME = b"SN", Token;
    /// `CL` — commands available to the session (token list).
    COMMANDS = b"CL", TokenList;
    /// `PM` — permissions of the session (token list).
    PERMISSIONS = b"PM", TokenList;
    /// `TR` — `Y` when the policy requires an RFC 3161 time-stamp on every signature (token;
    /// absent: not required).
    TIMESTAMP_REQUIRED = b"TR", Token;
    /// `TS` — hash format under such a policy: the DER `TimeStampResp` over the signature
    /// (hex blob).
    TIMESTAMP = b"TS", Blob;
    /// `RL` — release id assigned by the server (token); on an upload, the release it joins.
    RELEASE_ID = b"RL", Token;
    /// `FC` — number of files a release holds (decimal).
    FILE_COUNT = b"FC", Decimal;
    /// `FR` — number of files a release received so far (decimal).
    FILES_RECEIVED = b"FR", Decimal;
    /// `IK` — on an upload: the client's idempotency key (token; see
    /// [`IdempotencyKey`](crate::IdempotencyKey)).
    IDEMPOTENCY_KEY = b"IK", Token;
    /// `WT` — on a retrieve: wait up to this many seconds for a final state (decimal).
    WAIT = b"WT", Decimal;
    /// `AV` — approvers, in the order they approved (text list).
    APPROVERS = b"AV", TextList;
    /// `AT` — approval times, one per approver (token list of times).
    APPROVAL_TIMES = b"AT", TokenList;
    /// `CT` — creation time (time).
    CREATED = b"CT", Time;
    /// `ST` — time the current state was reached, when it is not pending (time).
    STATE_TIME = b"ST", Time;
    /// `OT` — OpenPGP: the signature creation time the client hashed (time).
    OPENPGP_TIME = b"OT", Time;
    /// `OF` — OpenPGP: the v4 fingerprint of a policy's key (hex).
    OPENPGP_FINGERPRINT = b"OF", Digest;
    /// `OK` — OpenPGP: a transferable public key, binary (hex blob).
    OPENPGP_KEY = b"OK", Blob;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_tags_are_unique_and_classified() {
        let mut seen = std::collections::HashSet::new();
        for tag in Tag::KNOWN {
            assert!(seen.insert(*tag), "{tag} listed twice");
            assert!(tag.is_known());
            assert_ne!(tag.name(), "UNKNOWN");
        }
        let unknown = Tag::from_bytes(*b"ZZ").unwrap();
        assert_eq!(unknown.class(), None);
        assert_eq!(unknown.name(), "UNKNOWN");
        assert_eq!(Tag::DIGEST.class(), Some(ValueClass::Digest));
        assert_eq!(Tag::DIGEST.name(), "DIGEST");
    }

    #[test]
    fn tag_syntax() {
        assert!(Tag::from_bytes(*b"ao").is_none());
        assert!(Tag::from_bytes(*b"A1").is_none());
        assert_eq!(Tag::from_bytes(*b"AO"), Some(Tag::COMMAND));
        assert_eq!(Tag::COMMAND.to_string(), "AO");
        assert_eq!(Tag::from_bytes(*b"ZZ").unwrap().index(), 26 * 26 - 1);
    }
}

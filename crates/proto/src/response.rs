//! Typed responses (server → client).
//!
//! Decoding is lenient where that keeps old clients working with newer servers: fields a
//! response does not use, known or unknown, are ignored. Required fields and value syntax are
//! still checked.

use time::OffsetDateTime;

use crate::command::Command;
use crate::error_code::ErrorCode;
use crate::frame::{Direction, Frame};
use crate::message::{Fields, MessageError};
use crate::tag::Tag;
use crate::types::{
    CorrelationId, HashAlgorithm, KeyAlgorithm, ReleaseId, RequestId, RequestState, SigningFormat,
    WireToken,
};
use crate::value::{self, ValueError};
use crate::writer::{EncodeError, FrameWriter};

/// Longest failure message [`Response::failure`] keeps, in bytes; longer ones are cut at a
/// character boundary so a failure response always encodes.
pub const MAX_FAILURE_MESSAGE_LEN: usize = 1024;

/// A Host API response: one variant per command, and [`Failure`](Response::Failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `ECHO`.
    Echo {
        /// `VS`: server version.
        version: String,
    },
    /// `TIME`.
    Time {
        /// `TM`: server time (UTC, second precision on the wire).
        time: OffsetDateTime,
    },
    /// `RKLO`.
    Login {
        /// `LR`: logins still required before the session's roles apply (0: ready).
        logins_remaining: u32,
    },
    /// `RKCP`.
    Capabilities {
        /// `CL`: commands this session may use.
        commands: Vec<Command>,
        /// `PM`: permissions of this session, `area:action`.
        permissions: Vec<String>,
    },
    /// `RAFA`.
    ListPolicies {
        /// `PL`: aliases of the policies visible to this session.
        policies: Vec<String>,
    },
    /// `RAGA`.
    GetPolicy(PolicyInfo),
    /// `RAUO`.
    UploadHash(RequestStatus),
    /// `RAGO`; the result is the raw signature.
    RetrieveHash(RequestStatus),
    /// `RAUZ`.
    UploadAuthenticode(RequestStatus),
    /// `RAGZ`; the result is the PKCS#7 SignedData DER.
    RetrieveAuthenticode(RequestStatus),
    /// `RAUJ`.
    UploadJar(RequestStatus),
    /// `RAGJ`; the result is the PKCS#7 signature block DER.
    RetrieveJar(RequestStatus),
    /// `RAUR` (boxed: the largest answer, rare).
    OpenRelease(Box<ReleaseStatus>),
    /// `RAGR`.
    GetRelease(Box<ReleaseStatus>),
    /// `RAUP`.
    UploadOpenPgp(RequestStatus),
    /// `RAGP`; the result is the OpenPGP v4 signature packet.
    RetrieveOpenPgp(RequestStatus),
    /// `RAGK`.
    GetOpenPgpKey(OpenPgpKey),
    /// `AN` = `N`: the command failed.
    Failure(Failure),
}

/// A failed command: `ANN;ER<code>;EM<message>;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `AO` of the request, when it could be read (absent otherwise).
    pub command: Option<Command>,
    /// `ER`: stable error code.
    pub code: ErrorCode,
    /// `EM`: message for a person (the code's default message when the server sent none).
    pub message: String,
}

/// `RAGA` response fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInfo {
    /// `PA`: the policy alias.
    pub policy: String,
    /// `KA`: algorithm of the policy's key, e.g. `rsa-3072`, `ecdsa-p256`.
    pub key_algorithm: KeyAlgorithm,
    /// `CC`: the certificate chain, concatenated DER certificates, signer first (DER is
    /// self-delimiting).
    pub certificate_chain: Vec<u8>,
    /// `AH`: hash algorithms the policy allows.
    pub allowed_hashes: Vec<HashAlgorithm>,
    /// `AF`: formats the policy allows.
    pub allowed_formats: Vec<SigningFormat>,
    /// `AR`: approvals required (0: signed at once).
    pub approvals_required: u32,
    /// `TR`: every signature carries a time-stamp from the server's TSA (the server adds it).
    pub timestamp_required: bool,
    /// `OF`: when the policy allows `OPENPGP`, the v4 fingerprint of its key (the issuer
    /// fingerprint the client puts in the signature's hashed part).
    pub openpgp_fingerprint: Option<Vec<u8>>,
}

/// `RAGK` response fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPgpKey {
    /// `PA`: the policy alias.
    pub policy: String,
    /// `OF`: the key's v4 fingerprint.
    pub fingerprint: Vec<u8>,
    /// `OK`: the transferable public key (public-key packet, user ID, self-signature).
    pub key: Vec<u8>,
}

/// State of a signing request, as answered to an upload or a retrieve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestStatus {
    /// `RI`: request id, to retrieve the request later.
    pub id: RequestId,
    /// `RS` and what comes with it.
    pub outcome: Outcome,
    /// `AR`: approvals required.
    pub approvals_required: u32,
    /// `AP`: approvals received so far.
    pub approvals_received: u32,
    /// `EX`: when the request expires if not approved.
    pub expires: Option<OffsetDateTime>,
    /// `TS`: with a signed hash-format result under a policy that requires time-stamps, the
    /// DER `TimeStampResp` over it.
    pub timestamp: Option<Vec<u8>>,
}

/// State of a release, as answered to `RAUR` and `RAGR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseStatus {
    /// `RL`: release id, for the uploads that join it and to retrieve it.
    pub id: ReleaseId,
    /// `RS`: its state, a request state: `PENDING` (also while files are still arriving),
    /// `APPROVED`, `SIGNED` (every file signed), `FAILED`, `DENIED`, `EXPIRED`.
    pub state: RequestState,
    /// `PA`: its policy.
    pub policy: String,
    /// `ID`: its requester.
    pub requester: String,
    /// `FC`: files declared.
    pub files: u64,
    /// `FR`: files received so far.
    pub files_received: u64,
    /// `AR`: approvals required.
    pub approvals_required: u32,
    /// `AV` and `AT`: who approved, and when, in that order.
    pub approvals: Vec<(String, OffsetDateTime)>,
    /// `CT`: when it was opened.
    pub created: OffsetDateTime,
    /// `EX`: when it expires if not complete and approved.
    pub expires: OffsetDateTime,
    /// `ST`: when it reached its state (absent while pending).
    pub state_time: Option<OffsetDateTime>,
    /// `DR`: the denial reason.
    pub denial_reason: Option<String>,
}

impl ReleaseStatus {
    fn read(f: &mut Fields<'_>) -> Result<Self, MessageError> {
        let id = f.required(Tag::RELEASE_ID, ReleaseId::new)?;
        let state = f.required(Tag::REQUEST_STATE, RequestState::parse)?;
        let approvers = f
            .optional(Tag::APPROVERS, |raw| value::list(raw, value::text))?
            .unwrap_or_default();
        let times = f
            .optional(Tag::APPROVAL_TIMES, |raw| value::list(raw, value::time))?
            .unwrap_or_default();
        if approvers.len() != times.len() {
            return Err(MessageError::Value {
                tag: Tag::APPROVAL_TIMES,
                error: ValueError::NotOneOf {
                    expected: "one time per approver (AV)",
                },
            });
        }
        Ok(Self {
            id,
            state,
            policy: f.required(Tag::POLICY, value::text)?,
            requester: f.required(Tag::IDENTITY, value::text)?,
            files: f.required(Tag::FILE_COUNT, value::decimal_u64)?,
            files_received: f.required(Tag::FILES_RECEIVED, value::decimal_u64)?,
            approvals_required: f.required(Tag::APPROVALS_REQUIRED, value::decimal_u32)?,
            approvals: approvers.into_iter().zip(times).collect(),
            created: f.required(Tag::CREATED, value::time)?,
            expires: f.required(Tag::EXPIRES, value::time)?,
            state_time: f.optional(Tag::STATE_TIME, value::time)?,
            denial_reason: f.optional(Tag::DENIAL_REASON, value::text)?,
        })
    }

    fn write(&self, w: &mut FrameWriter<'_>) -> Result<(), EncodeError> {
        w.token(Tag::RELEASE_ID, self.id.as_str())?;
        w.token(Tag::REQUEST_STATE, self.state.as_str())?;
        w.text(Tag::POLICY, &self.policy)?;
        w.text(Tag::IDENTITY, &self.requester)?;
        w.decimal(Tag::FILE_COUNT, self.files)?;
        w.decimal(Tag::FILES_RECEIVED, self.files_received)?;
        w.decimal(Tag::APPROVALS_REQUIRED, u64::from(self.approvals_required))?;
        if !self.approvals.is_empty() {
            let names: Vec<String> = self.approvals.iter().map(|(n, _)| n.clone()).collect();
            w.texts(Tag::APPROVERS, &names)?;
            let times = self
                .approvals
                .iter()
                .map(|(_, at)| value::format_time(*at))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| EncodeError::Value {
                    tag: Tag::APPROVAL_TIMES,
                    error,
                })?;
            w.tokens(Tag::APPROVAL_TIMES, times.iter().map(String::as_str))?;
        }
        w.time(Tag::CREATED, self.created)?;
        w.time(Tag::EXPIRES, self.expires)?;
        if let Some(at) = self.state_time {
            w.time(Tag::STATE_TIME, at)?;
        }
        w.opt_text(Tag::DENIAL_REASON, self.denial_reason.as_deref())
    }
}

/// The request state (`RS`) with the data that belongs to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `PENDING`: waiting for approvals.
    Pending,
    /// `APPROVED`: quorum reached, signing not done yet.
    Approved,
    /// `SIGNED`, with `SG`: the signature or PKCS#7 DER.
    Signed {
        /// `SG`: the result.
        result: Vec<u8>,
    },
    /// `DENIED`, with `DR` when the approver gave a reason.
    Denied {
        /// `DR`: the reason.
        reason: Option<String>,
    },
    /// `EXPIRED`: not approved in time.
    Expired,
    /// `FAILED`: approved but signing failed.
    Failed,
}

impl Outcome {
    /// The `RS` value.
    pub fn state(&self) -> RequestState {
        match self {
            Self::Pending => RequestState::Pending,
            Self::Approved => RequestState::Approved,
            Self::Signed { .. } => RequestState::Signed,
            Self::Denied { .. } => RequestState::Denied,
            Self::Expired => RequestState::Expired,
            Self::Failed => RequestState::Failed,
        }
    }
}

impl Response {
    /// A failure response. A message longer than [`MAX_FAILURE_MESSAGE_LEN`] bytes is cut.
    pub fn failure(command: Option<Command>, code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_FAILURE_MESSAGE_LEN {
            let cut = (0..=MAX_FAILURE_MESSAGE_LEN)
                .rev()
                .find(|i| message.is_char_boundary(*i))
                .unwrap_or(0);
            message.truncate(cut);
        }
        Self::Failure(Failure {
            command,
            code,
            message,
        })
    }

    /// The command answered (`AO`); `None` only for a failure whose command was unreadable.
    pub fn command(&self) -> Option<Command> {
        Some(match self {
            Self::Echo { .. } => Command::Echo,
            Self::Time { .. } => Command::Time,
            Self::Login { .. } => Command::Login,
            Self::Capabilities { .. } => Command::Capabilities,
            Self::ListPolicies { .. } => Command::ListPolicies,
            Self::GetPolicy(_) => Command::GetPolicy,
            Self::UploadHash(_) => Command::UploadHash,
            Self::RetrieveHash(_) => Command::RetrieveHash,
            Self::UploadAuthenticode(_) => Command::UploadAuthenticode,
            Self::RetrieveAuthenticode(_) => Command::RetrieveAuthenticode,
            Self::UploadJar(_) => Command::UploadJar,
            Self::RetrieveJar(_) => Command::RetrieveJar,
            Self::OpenRelease(_) => Command::OpenRelease,
            Self::GetRelease(_) => Command::GetRelease,
            Self::UploadOpenPgp(_) => Command::UploadOpenPgp,
            Self::RetrieveOpenPgp(_) => Command::RetrieveOpenPgp,
            Self::GetOpenPgpKey(_) => Command::GetOpenPgpKey,
            Self::Failure(failure) => return failure.command,
        })
    }

    /// Whether the command succeeded (`AN` = `Y`).
    pub fn is_success(&self) -> bool {
        !matches!(self, Self::Failure(_))
    }

    /// Reads a response from a frame (decoded with [`Direction::Response`]).
    pub fn decode(frame: &Frame) -> Result<Response, MessageError> {
        let mut f = Fields::new(frame);
        let command = f.leading_command()?;
        let success = f.required(Tag::ANSWER, |raw| match raw {
            "Y" => Ok(true),
            "N" => Ok(false),
            _ => Err(ValueError::NotOneOf { expected: "Y, N" }),
        })?;
        if !success {
            let code = f.required(Tag::ERROR_CODE, ErrorCode::parse)?;
            let message = f
                .optional(Tag::ERROR_MESSAGE, value::text)?
                .unwrap_or_else(|| code.default_message().to_owned());
            return Ok(Self::Failure(Failure {
                command,
                code,
                message,
            }));
        }
        let command = command.ok_or(MessageError::MissingCommand)?;
        Ok(match command {
            Command::Echo => Self::Echo {
                version: f.required(Tag::VERSION, value::token)?,
            },
            Command::Time => Self::Time {
                time: f.required(Tag::TIME, value::time)?,
            },
            Command::Login => Self::Login {
                logins_remaining: f.required(Tag::LOGINS_REMAINING, value::decimal_u32)?,
            },
            Command::Capabilities => Self::Capabilities {
                commands: f.required(Tag::COMMANDS, |raw| value::list(raw, Command::parse))?,
                permissions: f.required(Tag::PERMISSIONS, |raw| value::list(raw, value::token))?,
            },
            Command::ListPolicies => Self::ListPolicies {
                policies: f.required(Tag::POLICY_LIST, |raw| value::list(raw, value::text))?,
            },
            Command::GetPolicy => Self::GetPolicy(PolicyInfo {
                policy: f.required(Tag::POLICY, value::text)?,
                key_algorithm: f.required(Tag::KEY_ALGORITHM, KeyAlgorithm::from_wire)?,
                certificate_chain: f.required(Tag::CERT_CHAIN, value::hex)?,
                allowed_hashes: f.required(Tag::ALLOWED_HASHES, |raw| {
                    value::list(raw, HashAlgorithm::from_wire)
                })?,
                allowed_formats: f.required(Tag::ALLOWED_FORMATS, |raw| {
                    value::list(raw, SigningFormat::from_wire)
                })?,
                approvals_required: f.required(Tag::APPROVALS_REQUIRED, value::decimal_u32)?,
                timestamp_required: f
                    .optional(Tag::TIMESTAMP_REQUIRED, value::token)?
                    .is_some_and(|v| v == "Y"),
                openpgp_fingerprint: f.optional(Tag::OPENPGP_FINGERPRINT, value::hex)?,
            }),
            Command::UploadHash => Self::UploadHash(RequestStatus::read(&mut f)?),
            Command::RetrieveHash => Self::RetrieveHash(RequestStatus::read(&mut f)?),
            Command::UploadAuthenticode => Self::UploadAuthenticode(RequestStatus::read(&mut f)?),
            Command::RetrieveAuthenticode => {
                Self::RetrieveAuthenticode(RequestStatus::read(&mut f)?)
            }
            Command::UploadJar => Self::UploadJar(RequestStatus::read(&mut f)?),
            Command::RetrieveJar => Self::RetrieveJar(RequestStatus::read(&mut f)?),
            Command::OpenRelease => Self::OpenRelease(Box::new(ReleaseStatus::read(&mut f)?)),
            Command::GetRelease => Self::GetRelease(Box::new(ReleaseStatus::read(&mut f)?)),
            Command::UploadOpenPgp => Self::UploadOpenPgp(RequestStatus::read(&mut f)?),
            Command::RetrieveOpenPgp => Self::RetrieveOpenPgp(RequestStatus::read(&mut f)?),
            Command::GetOpenPgpKey => Self::GetOpenPgpKey(OpenPgpKey {
                policy: f.required(Tag::POLICY, value::text)?,
                fingerprint: f.required(Tag::OPENPGP_FINGERPRINT, value::hex)?,
                key: f.required(Tag::OPENPGP_KEY, value::hex)?,
            }),
            Command::Unknown(_) => return Err(MessageError::UnknownCommand { command }),
        })
    }

    /// Appends the response frame to `out`: `AO` (omitted only for a failure whose command
    /// was unreadable), `AN`, `AG` when given, then the command's fields, long hex values
    /// last. On error
    /// nothing is appended; a server then answers `INTERNAL` instead.
    pub fn encode(
        &self,
        correlation: Option<&CorrelationId>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        FrameWriter::encode(out, Direction::Response, |w| {
            if let Some(command) = self.command() {
                w.token(Tag::COMMAND, command.as_str())?;
            }
            w.token(Tag::ANSWER, if self.is_success() { "Y" } else { "N" })?;
            w.opt_token(Tag::CORRELATION, correlation.map(CorrelationId::as_str))?;
            match self {
                Self::Echo { version } => w.token(Tag::VERSION, version),
                Self::Time { time } => w.time(Tag::TIME, *time),
                Self::Login { logins_remaining } => {
                    w.decimal(Tag::LOGINS_REMAINING, u64::from(*logins_remaining))
                }
                Self::Capabilities {
                    commands,
                    permissions,
                } => {
                    w.tokens(Tag::COMMANDS, commands.iter().map(Command::as_str))?;
                    w.tokens(Tag::PERMISSIONS, permissions.iter().map(String::as_str))
                }
                Self::ListPolicies { policies } => w.texts(Tag::POLICY_LIST, policies),
                Self::GetPolicy(p) => {
                    w.text(Tag::POLICY, &p.policy)?;
                    w.token(Tag::KEY_ALGORITHM, p.key_algorithm.to_wire())?;
                    w.tokens(
                        Tag::ALLOWED_HASHES,
                        p.allowed_hashes.iter().map(|h| h.to_wire()),
                    )?;
                    w.tokens(
                        Tag::ALLOWED_FORMATS,
                        p.allowed_formats.iter().map(|f| f.to_wire()),
                    )?;
                    w.decimal(Tag::APPROVALS_REQUIRED, u64::from(p.approvals_required))?;
                    if p.timestamp_required {
                        w.token(Tag::TIMESTAMP_REQUIRED, "Y")?;
                    }
                    if let Some(fingerprint) = &p.openpgp_fingerprint {
                        w.hex(Tag::OPENPGP_FINGERPRINT, fingerprint)?;
                    }
                    w.hex(Tag::CERT_CHAIN, &p.certificate_chain)
                }
                Self::UploadHash(s)
                | Self::RetrieveHash(s)
                | Self::UploadAuthenticode(s)
                | Self::RetrieveAuthenticode(s)
                | Self::UploadJar(s)
                | Self::RetrieveJar(s)
                | Self::UploadOpenPgp(s)
                | Self::RetrieveOpenPgp(s) => s.write(w),
                Self::GetOpenPgpKey(k) => {
                    w.text(Tag::POLICY, &k.policy)?;
                    w.hex(Tag::OPENPGP_FINGERPRINT, &k.fingerprint)?;
                    w.hex(Tag::OPENPGP_KEY, &k.key)
                }
                Self::OpenRelease(r) | Self::GetRelease(r) => r.write(w),
                Self::Failure(failure) => {
                    w.token(Tag::ERROR_CODE, failure.code.as_str())?;
                    w.text(Tag::ERROR_MESSAGE, &failure.message)
                }
            }
        })
    }
}

impl RequestStatus {
    fn read(f: &mut Fields<'_>) -> Result<Self, MessageError> {
        let id = f.required(Tag::REQUEST_ID, RequestId::new)?;
        let state = f.required(Tag::REQUEST_STATE, RequestState::parse)?;
        let outcome = match state {
            RequestState::Pending => Outcome::Pending,
            RequestState::Approved => Outcome::Approved,
            RequestState::Signed => Outcome::Signed {
                result: f.required(Tag::RESULT, value::hex)?,
            },
            RequestState::Denied => Outcome::Denied {
                reason: f.optional(Tag::DENIAL_REASON, value::text)?,
            },
            RequestState::Expired => Outcome::Expired,
            RequestState::Failed => Outcome::Failed,
        };
        Ok(Self {
            id,
            outcome,
            approvals_required: f.required(Tag::APPROVALS_REQUIRED, value::decimal_u32)?,
            approvals_received: f.required(Tag::APPROVALS_RECEIVED, value::decimal_u32)?,
            expires: f.optional(Tag::EXPIRES, value::time)?,
            timestamp: f.optional(Tag::TIMESTAMP, value::hex)?,
        })
    }

    fn write(&self, w: &mut FrameWriter<'_>) -> Result<(), EncodeError> {
        w.token(Tag::REQUEST_ID, self.id.as_str())?;
        w.token(Tag::REQUEST_STATE, self.outcome.state().as_str())?;
        w.decimal(Tag::APPROVALS_REQUIRED, u64::from(self.approvals_required))?;
        w.decimal(Tag::APPROVALS_RECEIVED, u64::from(self.approvals_received))?;
        if let Some(expires) = self.expires {
            w.time(Tag::EXPIRES, expires)?;
        }
        match &self.outcome {
            Outcome::Denied {
                reason: Some(reason),
            } => w.text(Tag::DENIAL_REASON, reason),
            Outcome::Signed { result } => {
                w.hex(Tag::RESULT, result)?;
                match &self.timestamp {
                    Some(timestamp) => w.hex(Tag::TIMESTAMP, timestamp),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(wire: &str) -> Result<Response, MessageError> {
        Response::decode(&Frame::decode(wire.as_bytes(), Direction::Response).unwrap())
    }

    fn encode(response: &Response, correlation: Option<&str>) -> String {
        let correlation = correlation.map(|c| CorrelationId::new(c).unwrap());
        let mut out = Vec::new();
        response.encode(correlation.as_ref(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn echo_matches_the_design_example() {
        let response = Response::Echo {
            version: "0.1.0".into(),
        };
        assert_eq!(encode(&response, Some("1")), "[AOECHO;ANY;AG1;VS0.1.0;]");
        assert_eq!(decode("[AOECHO;ANY;AG1;VS0.1.0;]"), Ok(response));
    }

    #[test]
    fn failure_echoes_command_and_correlation() {
        let response = Response::failure(
            Some(Command::Login),
            ErrorCode::AuthFailed,
            "Wrong identity name or password.",
        );
        let wire = encode(&response, Some("7"));
        assert_eq!(
            wire,
            "[AORKLO;ANN;AG7;ERAUTH_FAILED;EMWrong identity name or password.;]"
        );
        assert_eq!(decode(&wire), Ok(response));
    }

    #[test]
    fn failure_without_command_and_unknown_code() {
        let wire = "[ANN;ERSOMETHING_NEW;]";
        let Response::Failure(failure) = decode(wire).unwrap() else {
            panic!("not a failure");
        };
        assert_eq!(failure.command, None);
        assert_eq!(failure.code, ErrorCode::Unknown("SOMETHING_NEW".into()));
        assert_eq!(
            failure.message,
            ErrorCode::Unknown(String::new()).default_message()
        );
    }

    #[test]
    fn long_failure_messages_are_cut_at_a_character_boundary() {
        let response = Response::failure(None, ErrorCode::Internal, "\u{e9}".repeat(1000));
        let Response::Failure(failure) = &response else {
            panic!("not a failure");
        };
        assert_eq!(failure.message.len(), MAX_FAILURE_MESSAGE_LEN);
        encode(&response, None);
    }

    #[test]
    fn signed_status_requires_the_result() {
        assert_eq!(
            decode("[AORAGO;ANY;RI42;RSSIGNED;AR1;AP1;]"),
            Err(MessageError::MissingField { tag: Tag::RESULT })
        );
        let status = RequestStatus {
            id: RequestId::new("42").unwrap(),
            outcome: Outcome::Signed {
                result: vec![0x30, 0x03],
            },
            approvals_required: 1,
            approvals_received: 1,
            expires: None,
            timestamp: None,
        };
        let wire = encode(&Response::RetrieveHash(status.clone()), None);
        assert_eq!(wire, "[AORAGO;ANY;RI42;RSSIGNED;AR1;AP1;SG3003;]");
        assert_eq!(decode(&wire), Ok(Response::RetrieveHash(status)));
    }

    #[test]
    fn unknown_and_unused_fields_are_ignored() {
        assert_eq!(
            decode("[AOTIME;ANY;TM2025-01-31T12:00:00Z;QQfuture;FNx;]"),
            Ok(Response::Time {
                time: value::time("2025-01-31T12:00:00Z").unwrap()
            })
        );
    }

    #[test]
    fn success_needs_a_command_and_a_known_one() {
        assert_eq!(decode("[ANY;VS1;]"), Err(MessageError::MissingCommand));
        assert_eq!(
            decode("[AOZZZZ;ANY;]"),
            Err(MessageError::UnknownCommand {
                command: Command::Unknown(*b"ZZZZ")
            })
        );
        assert_eq!(
            decode("[AOECHO;ANX;]").unwrap_err().code(),
            ErrorCode::BadValue
        );
    }
}

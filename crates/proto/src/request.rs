//! Typed requests (client → server).
//!
//! Decoding is strict: the first field is `AO`, every field the command requires is present,
//! no field the command does not take is accepted, and every value has its field's syntax.
//! Business checks (does the policy exist, does the digest length match the hash algorithm)
//! are the server's.

use time::OffsetDateTime;

use crate::command::Command;
use crate::frame::{Direction, Frame};
use crate::message::{Fields, MessageError};
use crate::tag::Tag;
use crate::types::{
    AuthenticodeSubject, CorrelationId, HashAlgorithm, IdempotencyKey, Password, ReleaseId,
    RequestId, WireToken,
};
use crate::value;
use crate::writer::{EncodeError, FrameWriter};

/// A Host API request: one variant per command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `ECHO`: communication test.
    Echo,
    /// `TIME`: server time.
    Time,
    /// `RKLO`: log an identity in on this connection.
    Login(Login),
    /// `RKCP`: commands and permissions of this session.
    Capabilities,
    /// `RAFA`: issuance policies visible to this session.
    ListPolicies,
    /// `RAGA`: details of one issuance policy.
    GetPolicy {
        /// `PA`: the policy alias.
        policy: String,
    },
    /// `RAUO`: upload a hash-signing request.
    UploadHash(Upload),
    /// `RAGO`: retrieve a hash-signing request.
    RetrieveHash {
        /// `RI`: the request id.
        id: RequestId,
    },
    /// `RAUZ`: upload an Authenticode request.
    UploadAuthenticode(AuthenticodeUpload),
    /// `RAGZ`: retrieve an Authenticode request.
    RetrieveAuthenticode {
        /// `RI`: the request id.
        id: RequestId,
    },
    /// `RAUJ`: upload a JAR request.
    UploadJar(JarUpload),
    /// `RAGJ`: retrieve a JAR request.
    RetrieveJar {
        /// `RI`: the request id.
        id: RequestId,
    },
    /// `RAUR`: open a release.
    OpenRelease(OpenRelease),
    /// `RAGR`: retrieve a release.
    GetRelease {
        /// `RL`: the release id.
        id: ReleaseId,
    },
    /// `RAUP`: upload an OpenPGP request.
    UploadOpenPgp(OpenPgpUpload),
    /// `RAGP`: retrieve an OpenPGP request.
    RetrieveOpenPgp {
        /// `RI`: the request id.
        id: RequestId,
    },
    /// `RAGK`: a policy's OpenPGP public key.
    GetOpenPgpKey {
        /// `PA`: the policy alias.
        policy: String,
    },
}

/// `RAUR` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRelease {
    /// `PA`: the policy every file of the release is uploaded under.
    pub policy: String,
    /// `FC`: how many files the release holds; it is open for approval once all arrived.
    pub files: u64,
    /// `BU`, `CM`, `DS`: build URL, commit and description of the release (`FN`/`FS` are
    /// each file's, sent with its upload).
    pub metadata: Metadata,
}

/// Optional fields of issue 14 that extend existing commands without changing them, read
/// from and written to the frame next to the command's own fields (like `AG`): `RL` on an
/// upload (the release the file joins) and `WT` on a retrieve (`RAGO`/`RAGZ`/`RAGJ`/`RAGR`:
/// wait up to that many seconds for a final state).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// `RL`: the release an upload joins.
    pub release: Option<ReleaseId>,
    /// `WT`: seconds a retrieve may wait on the server for a final state.
    pub wait: Option<u64>,
    /// `IK`: the idempotency key of an upload.
    pub idempotency_key: Option<IdempotencyKey>,
}

impl Extensions {
    /// Reads the extension fields of a request frame (after [`Request::decode`] accepted it,
    /// which checked their syntax and that the command takes them).
    pub fn read(frame: &Frame) -> Result<Self, MessageError> {
        let Some(command) = frame.command() else {
            return Ok(Self::default());
        };
        let mut f = Fields::new(frame);
        Ok(Self {
            release: match Self::takes(command, Tag::RELEASE_ID) {
                true => f.optional(Tag::RELEASE_ID, ReleaseId::new)?,
                false => None,
            },
            wait: match Self::takes(command, Tag::WAIT) {
                true => f.optional(Tag::WAIT, value::decimal_u64)?,
                false => None,
            },
            idempotency_key: match Self::takes(command, Tag::IDEMPOTENCY_KEY) {
                true => f.optional(Tag::IDEMPOTENCY_KEY, IdempotencyKey::new)?,
                false => None,
            },
        })
    }

    fn takes(command: Command, tag: Tag) -> bool {
        match tag {
            Tag::RELEASE_ID | Tag::IDEMPOTENCY_KEY => matches!(
                command,
                Command::UploadHash
                    | Command::UploadAuthenticode
                    | Command::UploadJar
                    | Command::UploadOpenPgp
            ),
            Tag::WAIT => matches!(
                command,
                Command::RetrieveHash
                    | Command::RetrieveAuthenticode
                    | Command::RetrieveJar
                    | Command::RetrieveOpenPgp
                    | Command::GetRelease
            ),
            _ => false,
        }
    }

    fn decode(f: &mut Fields<'_>, command: Command) -> Result<(), MessageError> {
        if Self::takes(command, Tag::RELEASE_ID) {
            f.optional(Tag::RELEASE_ID, ReleaseId::new)?;
        }
        if Self::takes(command, Tag::WAIT) {
            f.optional(Tag::WAIT, value::decimal_u64)?;
        }
        if Self::takes(command, Tag::IDEMPOTENCY_KEY) {
            f.optional(Tag::IDEMPOTENCY_KEY, IdempotencyKey::new)?;
        }
        Ok(())
    }

    fn write(&self, command: Command, w: &mut FrameWriter<'_>) -> Result<(), EncodeError> {
        for (tag, present) in [
            (Tag::RELEASE_ID, self.release.is_some()),
            (Tag::WAIT, self.wait.is_some()),
            (Tag::IDEMPOTENCY_KEY, self.idempotency_key.is_some()),
        ] {
            if present && !Self::takes(command, tag) {
                return Err(EncodeError::Value {
                    tag,
                    error: crate::value::ValueError::NotOneOf {
                        expected: "no such field on this command",
                    },
                });
            }
        }
        w.opt_token(
            Tag::RELEASE_ID,
            self.release.as_ref().map(ReleaseId::as_str),
        )?;
        w.opt_decimal(Tag::WAIT, self.wait)?;
        w.opt_token(
            Tag::IDEMPOTENCY_KEY,
            self.idempotency_key.as_ref().map(IdempotencyKey::as_str),
        )
    }
}

/// `RKLO` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// `ID`: identity name.
    pub identity: String,
    /// `PW`: password.
    pub password: Password,
}

/// Fields common to the three upload commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// `PA`: issuance policy alias.
    pub policy: String,
    /// `HA`: hash algorithm of the digest.
    pub hash: HashAlgorithm,
    /// `DG`: the digest computed by the client (for `RAUZ` the PE image digest, for `RAUJ`
    /// the digest of the .SF file).
    pub digest: Vec<u8>,
    /// Description of the artifact for approvers and the audit log.
    pub metadata: Metadata,
}

/// Optional description of the artifact, shown to approvers and kept in the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `FN`: file name.
    pub file_name: Option<String>,
    /// `FS`: file size in bytes.
    pub file_size: Option<u64>,
    /// `BU`: build URL.
    pub build_url: Option<String>,
    /// `CM`: source commit.
    pub commit: Option<String>,
    /// `DS`: free-form description.
    pub description: Option<String>,
}

/// `RAUZ` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticodeUpload {
    /// Policy, hash algorithm, PE image digest and metadata.
    pub upload: Upload,
    /// `PN`: program name (`SpcSpOpusInfo.programName`).
    pub program_name: Option<String>,
    /// `PU`: program URL (`SpcSpOpusInfo.moreInfo`).
    pub program_url: Option<String>,
    /// `AK`: what is signed; absent means a PE image.
    pub subject: Option<AuthenticodeSubject>,
}

/// `RAUJ` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JarUpload {
    /// Policy, hash algorithm, .SF file digest and metadata.
    pub upload: Upload,
    /// `EC`: number of entries the .SF file covers.
    pub entry_count: Option<u64>,
    /// `SN`: signer name, the base name of `META-INF/<SN>.SF` and its block file.
    pub signer_name: Option<String>,
}

/// `RAUP` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPgpUpload {
    /// Policy, hash algorithm, digest (of the file, then the signature's hashed part and
    /// trailer) and metadata.
    pub upload: Upload,
    /// `OT`: the signature creation time in the hashed part (whole seconds).
    pub created: OffsetDateTime,
}

impl Request {
    /// The command code of the request.
    pub fn command(&self) -> Command {
        match self {
            Self::Echo => Command::Echo,
            Self::Time => Command::Time,
            Self::Login(_) => Command::Login,
            Self::Capabilities => Command::Capabilities,
            Self::ListPolicies => Command::ListPolicies,
            Self::GetPolicy { .. } => Command::GetPolicy,
            Self::UploadHash(_) => Command::UploadHash,
            Self::RetrieveHash { .. } => Command::RetrieveHash,
            Self::UploadAuthenticode(_) => Command::UploadAuthenticode,
            Self::RetrieveAuthenticode { .. } => Command::RetrieveAuthenticode,
            Self::UploadJar(_) => Command::UploadJar,
            Self::RetrieveJar { .. } => Command::RetrieveJar,
            Self::OpenRelease(_) => Command::OpenRelease,
            Self::GetRelease { .. } => Command::GetRelease,
            Self::UploadOpenPgp(_) => Command::UploadOpenPgp,
            Self::RetrieveOpenPgp { .. } => Command::RetrieveOpenPgp,
            Self::GetOpenPgpKey { .. } => Command::GetOpenPgpKey,
        }
    }

    /// Reads a request from a frame. On error, answer with the frame's
    /// [`context`](Frame::context) and [`MessageError::code`].
    pub fn decode(frame: &Frame) -> Result<Request, MessageError> {
        let mut f = Fields::new(frame);
        let command = f.leading_command()?.ok_or(MessageError::MissingCommand)?;
        f.optional(Tag::CORRELATION, CorrelationId::new)?;
        let request = match command {
            Command::Echo => Self::Echo,
            Command::Time => Self::Time,
            Command::Login => Self::Login(Login {
                identity: f.required(Tag::IDENTITY, value::text)?,
                password: f.required(Tag::PASSWORD, |raw| {
                    value::secret(raw).map(Password::from_zeroizing)
                })?,
            }),
            Command::Capabilities => Self::Capabilities,
            Command::ListPolicies => Self::ListPolicies,
            Command::GetPolicy => Self::GetPolicy {
                policy: f.required(Tag::POLICY, value::text)?,
            },
            Command::UploadHash => Self::UploadHash(Upload::read(&mut f)?),
            Command::RetrieveHash => Self::RetrieveHash {
                id: f.required(Tag::REQUEST_ID, RequestId::new)?,
            },
            Command::UploadAuthenticode => Self::UploadAuthenticode(AuthenticodeUpload {
                upload: Upload::read(&mut f)?,
                program_name: f.optional(Tag::PROGRAM_NAME, value::text)?,
                program_url: f.optional(Tag::PROGRAM_URL, value::text)?,
                subject: f.optional(Tag::SUBJECT, AuthenticodeSubject::from_wire)?,
            }),
            Command::RetrieveAuthenticode => Self::RetrieveAuthenticode {
                id: f.required(Tag::REQUEST_ID, RequestId::new)?,
            },
            Command::UploadJar => Self::UploadJar(JarUpload {
                upload: Upload::read(&mut f)?,
                entry_count: f.optional(Tag::ENTRY_COUNT, value::decimal_u64)?,
                signer_name: f.optional(Tag::SIGNER_NAME, value::token)?,
            }),
            Command::RetrieveJar => Self::RetrieveJar {
                id: f.required(Tag::REQUEST_ID, RequestId::new)?,
            },
            Command::OpenRelease => Self::OpenRelease(OpenRelease {
                policy: f.required(Tag::POLICY, value::text)?,
                files: f.required(Tag::FILE_COUNT, value::decimal_u64)?,
                metadata: Metadata {
                    build_url: f.optional(Tag::BUILD_URL, value::text)?,
                    commit: f.optional(Tag::COMMIT, value::text)?,
                    description: f.optional(Tag::DESCRIPTION, value::text)?,
                    ..Metadata::default()
                },
            }),
            Command::GetRelease => Self::GetRelease {
                id: f.required(Tag::RELEASE_ID, ReleaseId::new)?,
            },
            Command::UploadOpenPgp => Self::UploadOpenPgp(OpenPgpUpload {
                upload: Upload::read(&mut f)?,
                created: f.required(Tag::OPENPGP_TIME, value::time)?,
            }),
            Command::RetrieveOpenPgp => Self::RetrieveOpenPgp {
                id: f.required(Tag::REQUEST_ID, RequestId::new)?,
            },
            Command::GetOpenPgpKey => Self::GetOpenPgpKey {
                policy: f.required(Tag::POLICY, value::text)?,
            },
            Command::Unknown(_) => return Err(MessageError::UnknownCommand { command }),
        };
        Extensions::decode(&mut f, command)?;
        f.finish(command)?;
        Ok(request)
    }

    /// Appends the request frame to `out`: `AO`, then `AG` when given, then the fields in
    /// tag-table order. On error nothing is appended.
    ///
    /// A [`Login`] frame holds the password in clear: wipe `out` after sending it.
    pub fn encode(
        &self,
        correlation: Option<&CorrelationId>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        self.encode_with(correlation, &Extensions::default(), out)
    }

    /// [`encode`](Self::encode) with the [`Extensions`] fields after the command's own (an
    /// extension the command does not take is an error).
    pub fn encode_with(
        &self,
        correlation: Option<&CorrelationId>,
        extensions: &Extensions,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        FrameWriter::encode(out, Direction::Request, |w| {
            w.token(Tag::COMMAND, self.command().as_str())?;
            w.opt_token(Tag::CORRELATION, correlation.map(CorrelationId::as_str))?;
            match self {
                Self::Echo | Self::Time | Self::Capabilities | Self::ListPolicies => Ok(()),
                Self::Login(login) => {
                    w.text(Tag::IDENTITY, &login.identity)?;
                    w.text(Tag::PASSWORD, login.password.expose())
                }
                Self::GetPolicy { policy } | Self::GetOpenPgpKey { policy } => {
                    w.text(Tag::POLICY, policy)
                }
                Self::UploadHash(upload) => upload.write(w),
                Self::UploadAuthenticode(a) => {
                    a.upload.write(w)?;
                    w.opt_text(Tag::PROGRAM_NAME, a.program_name.as_deref())?;
                    w.opt_text(Tag::PROGRAM_URL, a.program_url.as_deref())?;
                    w.opt_token(Tag::SUBJECT, a.subject.map(AuthenticodeSubject::to_wire))
                }
                Self::UploadJar(j) => {
                    j.upload.write(w)?;
                    w.opt_decimal(Tag::ENTRY_COUNT, j.entry_count)?;
                    w.opt_token(Tag::SIGNER_NAME, j.signer_name.as_deref())
                }
                Self::UploadOpenPgp(o) => {
                    o.upload.write(w)?;
                    w.time(Tag::OPENPGP_TIME, o.created)
                }
                Self::RetrieveHash { id }
                | Self::RetrieveAuthenticode { id }
                | Self::RetrieveJar { id }
                | Self::RetrieveOpenPgp { id } => w.token(Tag::REQUEST_ID, id.as_str()),
                Self::OpenRelease(o) => {
                    w.text(Tag::POLICY, &o.policy)?;
                    w.opt_text(Tag::BUILD_URL, o.metadata.build_url.as_deref())?;
                    w.opt_text(Tag::COMMIT, o.metadata.commit.as_deref())?;
                    w.opt_text(Tag::DESCRIPTION, o.metadata.description.as_deref())?;
                    w.decimal(Tag::FILE_COUNT, o.files)
                }
                Self::GetRelease { id } => w.token(Tag::RELEASE_ID, id.as_str()),
            }?;
            extensions.write(self.command(), w)
        })
    }
}

impl Upload {
    fn read(f: &mut Fields<'_>) -> Result<Self, MessageError> {
        Ok(Self {
            policy: f.required(Tag::POLICY, value::text)?,
            hash: f.required(Tag::HASH, HashAlgorithm::from_wire)?,
            digest: f.required(Tag::DIGEST, value::hex)?,
            metadata: Metadata {
                file_name: f.optional(Tag::FILE_NAME, value::text)?,
                file_size: f.optional(Tag::FILE_SIZE, value::decimal_u64)?,
                build_url: f.optional(Tag::BUILD_URL, value::text)?,
                commit: f.optional(Tag::COMMIT, value::text)?,
                description: f.optional(Tag::DESCRIPTION, value::text)?,
            },
        })
    }

    fn write(&self, w: &mut FrameWriter<'_>) -> Result<(), EncodeError> {
        w.text(Tag::POLICY, &self.policy)?;
        w.token(Tag::HASH, self.hash.to_wire())?;
        w.hex(Tag::DIGEST, &self.digest)?;
        let m = &self.metadata;
        w.opt_text(Tag::FILE_NAME, m.file_name.as_deref())?;
        w.opt_decimal(Tag::FILE_SIZE, m.file_size)?;
        w.opt_text(Tag::BUILD_URL, m.build_url.as_deref())?;
        w.opt_text(Tag::COMMIT, m.commit.as_deref())?;
        w.opt_text(Tag::DESCRIPTION, m.description.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_code::ErrorCode;
    use crate::value::ValueError;

    fn decode(wire: &str) -> Result<Request, MessageError> {
        Request::decode(&Frame::decode(wire.as_bytes(), Direction::Request).unwrap())
    }

    #[test]
    fn echo_with_correlation() {
        assert_eq!(decode("[AOECHO;AG1;]"), Ok(Request::Echo));
        let mut out = Vec::new();
        let id = CorrelationId::new("1").unwrap();
        Request::Echo.encode(Some(&id), &mut out).unwrap();
        assert_eq!(out, b"[AOECHO;AG1;]");
    }

    #[test]
    fn login_decodes_the_password_and_hides_it() {
        let request = decode("[AORKLO;IDjenkins;PWp%3Bss word;]").unwrap();
        let Request::Login(login) = &request else {
            panic!("not a login: {request:?}");
        };
        assert_eq!(login.identity, "jenkins");
        assert_eq!(login.password.expose(), "p;ss word");
        assert!(!format!("{request:?}").contains("ss word"));
    }

    #[test]
    fn upload_with_metadata() {
        let request =
            decode("[AORAUZ;AG9;PArelease;HASHA256;DG00ff;FNsetup%20x.exe;FS1024;PNSigil;]")
                .unwrap();
        let expected = Request::UploadAuthenticode(AuthenticodeUpload {
            upload: Upload {
                policy: "release".into(),
                hash: HashAlgorithm::Sha256,
                digest: vec![0x00, 0xff],
                metadata: Metadata {
                    file_name: Some("setup x.exe".into()),
                    file_size: Some(1024),
                    ..Metadata::default()
                },
            },
            program_name: Some("Sigil".into()),
            program_url: None,
            subject: None,
        });
        assert_eq!(request, expected);
        let mut out = Vec::new();
        request
            .encode(Some(&CorrelationId::new("9").unwrap()), &mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[AORAUZ;AG9;PArelease;HASHA256;DG00FF;FNsetup x.exe;FS1024;PNSigil;]"
        );
    }

    #[test]
    fn authenticode_subject() {
        let request = decode("[AORAUZ;PArelease;HASHA256;DG00ff;AKMSI;]").unwrap();
        let Request::UploadAuthenticode(upload) = &request else {
            panic!("not RAUZ: {request:?}");
        };
        assert_eq!(upload.subject, Some(AuthenticodeSubject::Msi));
        let mut out = Vec::new();
        request.encode(None, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[AORAUZ;PArelease;HASHA256;DG00FF;AKMSI;]"
        );
        assert!(matches!(
            decode("[AORAUZ;PArelease;HASHA256;DG00ff;AKmsi;]"),
            Err(MessageError::Value {
                tag: Tag::SUBJECT,
                ..
            })
        ));
        assert!(matches!(
            decode("[AORAUO;PArelease;HASHA256;DG00ff;AKMSI;]"),
            Err(MessageError::UnexpectedTag {
                tag: Tag::SUBJECT,
                ..
            })
        ));
    }

    #[test]
    fn extensions_only_where_the_command_takes_them() {
        let frame = |wire: &str| Frame::decode(wire.as_bytes(), Direction::Request).unwrap();
        let waiting = frame("[AORAGO;RI42;WT25;]");
        assert!(Request::decode(&waiting).is_ok());
        assert_eq!(
            Extensions::read(&waiting).unwrap(),
            Extensions {
                release: None,
                wait: Some(25),
                ..Extensions::default()
            }
        );
        let keyed = frame("[AORAUO;PAx;HASHA256;DG00;IKk-1;]");
        assert_eq!(
            Extensions::read(&keyed).unwrap().idempotency_key,
            Some(IdempotencyKey::new("k-1").unwrap())
        );
        let joining = frame("[AORAUO;PAx;HASHA256;DG00;RLr-1;]");
        assert!(Request::decode(&joining).is_ok());
        assert_eq!(
            Extensions::read(&joining).unwrap().release,
            Some(ReleaseId::new("r-1").unwrap())
        );
        for (wire, tag) in [
            ("[AORAGO;RI42;RLr-1;]", Tag::RELEASE_ID),
            ("[AORAUO;PAx;HASHA256;DG00;WT5;]", Tag::WAIT),
            ("[AORAUR;PAx;FC2;WT5;]", Tag::WAIT),
            ("[AORAGO;RI42;IKk-1;]", Tag::IDEMPOTENCY_KEY),
        ] {
            assert!(
                matches!(decode(wire), Err(MessageError::UnexpectedTag { tag: t, .. }) if t == tag),
                "{wire}"
            );
        }
        let mut out = Vec::new();
        let wait = Extensions {
            release: None,
            wait: Some(1),
            ..Extensions::default()
        };
        assert!(Request::Echo.encode_with(None, &wait, &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn strictness() {
        let cases = [
            (
                "[AGX;AOECHO;]",
                MessageError::MissingCommand,
                ErrorCode::MissingField,
            ),
            ("[]", MessageError::MissingCommand, ErrorCode::MissingField),
            (
                "[AOXXXX;]",
                MessageError::UnknownCommand {
                    command: Command::Unknown(*b"XXXX"),
                },
                ErrorCode::UnknownCommand,
            ),
            (
                "[AORKLO;IDx;]",
                MessageError::MissingField { tag: Tag::PASSWORD },
                ErrorCode::MissingField,
            ),
            (
                "[AOECHO;PAx;]",
                MessageError::UnexpectedTag {
                    command: Command::Echo,
                    tag: Tag::POLICY,
                },
                ErrorCode::UnexpectedTag,
            ),
            (
                "[AORAUO;PAx;HAMD5;DG00;]",
                MessageError::Value {
                    tag: Tag::HASH,
                    error: ValueError::NotOneOf {
                        expected: "SHA256, SHA384, SHA512",
                    },
                },
                ErrorCode::BadValue,
            ),
            (
                "[AOecho;]",
                MessageError::Value {
                    tag: Tag::COMMAND,
                    error: ValueError::BadCommand,
                },
                ErrorCode::BadValue,
            ),
        ];
        for (wire, error, code) in cases {
            let got = decode(wire).unwrap_err();
            assert_eq!(got, error, "{wire}");
            assert_eq!(got.code(), code, "{wire}");
        }
    }
}

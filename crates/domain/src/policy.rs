//! Issuance policies and the upload check.
//!
//! Parse, don't validate: [`IssuancePolicy::check_upload`] turns an [`Upload`] into a
//! [`CheckedUpload`], the only input [`crate::SigningRequest::new`] accepts, so no request can
//! be built from an upload its policy did not accept.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::metadata::{MetadataError, RequestMetadata};
use crate::names::{GroupName, PolicyAlias, RoleName};
use crate::permission::Permission;
use crate::pki::{KeyId, SerialNumber};
use crate::session::Session;
use crate::strenum::{UnknownValue, str_enum};

/// Most approvals a policy may require.
pub const MAX_APPROVALS: u32 = 16;
/// Shortest request lifetime, in seconds.
pub const MIN_REQUEST_LIFETIME_SECS: u32 = 60;
/// Longest request lifetime, in seconds (30 days).
pub const MAX_REQUEST_LIFETIME_SECS: u32 = 30 * 24 * 3600;

/// Hash algorithms a client may have used for its digest: the one type of `sigil-keys`,
/// stored and shown as its lower-case name (`sha256`).
pub use sigil_keys::HashAlgorithm;

/// Reads a hash algorithm by its lower-case name (`sha256`), exactly, as the HTTPS API and
/// the store spell it.
pub fn parse_hash(text: &str) -> Result<HashAlgorithm, UnknownValue> {
    HashAlgorithm::from_name(text)
        .ok_or_else(|| UnknownValue::new("hash algorithm", text, &["sha256", "sha384", "sha512"]))
}

str_enum! {
    /// What kind of signature a request asks for (its format).
    pub enum SigningFormat ("signing format") {
        /// A raw signature over the digest.
        Hash = "hash",
        /// An Authenticode PKCS#7 SignedData over the PE image digest.
        Authenticode = "authenticode",
        /// A JAR signature block over the digest of the .SF file.
        Jar = "jar",
        /// An OpenPGP v4 detached signature packet over the digest of the file and the
        /// signature's hashed part (see `docs/openpgp.md`).
        OpenPgp = "openpgp",
    }
}

str_enum! {
    /// Signature scheme used with RSA keys (ignored for EC keys).
    pub enum RsaScheme ("RSA signature scheme") {
        /// RSASSA-PKCS1-v1_5.
        Pkcs1v15 = "pkcs1v15",
        /// RSASSA-PSS.
        Pss = "pss",
    }
}

/// The fields of an [`IssuancePolicy`] before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDraft {
    /// Alias clients name.
    pub alias: PolicyAlias,
    /// Serial of the code-signing certificate the policy signs with.
    pub certificate: SerialNumber,
    /// The key of that certificate.
    pub key_id: KeyId,
    /// Scheme for RSA keys.
    pub rsa_scheme: RsaScheme,
    /// Approvals needed (0 = signed at once).
    pub approvals_required: u32,
    /// Who may approve (required when `approvals_required > 0`).
    pub approval_group: Option<GroupName>,
    /// Allowed hash algorithms (at least one).
    pub hashes: BTreeSet<HashAlgorithm>,
    /// Allowed formats (at least one).
    pub formats: BTreeSet<SigningFormat>,
    /// How long a request stays pending before it expires, in seconds.
    pub request_lifetime_secs: u32,
    /// Roles whose sessions see and use the policy.
    pub roles: BTreeSet<RoleName>,
    /// Every signature under the policy carries an RFC 3161 time-stamp from Sigil's own TSA,
    /// added by the server before it answers SIGNED (absent in older bodies: false).
    #[serde(default)]
    pub timestamp_required: bool,
}

/// A validated issuance policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyDraft", into = "PolicyDraft")]
pub struct IssuancePolicy(PolicyDraft);

/// Why a policy definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Approvals are required but no group may give them.
    #[error("policy {alias}: {approvals} approvals required but no approval group: name one")]
    GroupRequired {
        /// The policy.
        alias: PolicyAlias,
        /// Approvals required.
        approvals: u32,
    },
    /// Too many approvals.
    #[error("policy {alias}: at most {MAX_APPROVALS} approvals may be required")]
    TooManyApprovals {
        /// The policy.
        alias: PolicyAlias,
    },
    /// No hash algorithm or no format allowed.
    #[error("policy {alias}: allow at least one hash algorithm and one format")]
    NothingAllowed {
        /// The policy.
        alias: PolicyAlias,
    },
    /// The request lifetime is out of range.
    #[error(
        "policy {alias}: request lifetime must be {MIN_REQUEST_LIFETIME_SECS} to {MAX_REQUEST_LIFETIME_SECS} seconds"
    )]
    Lifetime {
        /// The policy.
        alias: PolicyAlias,
    },
}

impl TryFrom<PolicyDraft> for IssuancePolicy {
    type Error = PolicyError;

    fn try_from(draft: PolicyDraft) -> Result<Self, PolicyError> {
        let alias = || draft.alias.clone();
        if draft.approvals_required > MAX_APPROVALS {
            return Err(PolicyError::TooManyApprovals { alias: alias() });
        }
        if draft.approvals_required > 0 && draft.approval_group.is_none() {
            return Err(PolicyError::GroupRequired {
                alias: alias(),
                approvals: draft.approvals_required,
            });
        }
        if draft.hashes.is_empty() || draft.formats.is_empty() {
            return Err(PolicyError::NothingAllowed { alias: alias() });
        }
        if !(MIN_REQUEST_LIFETIME_SECS..=MAX_REQUEST_LIFETIME_SECS)
            .contains(&draft.request_lifetime_secs)
        {
            return Err(PolicyError::Lifetime { alias: alias() });
        }
        Ok(Self(draft))
    }
}

impl From<IssuancePolicy> for PolicyDraft {
    fn from(policy: IssuancePolicy) -> Self {
        policy.0
    }
}

/// What a client uploads, before its policy checked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Format.
    pub format: SigningFormat,
    /// Hash algorithm of the digest.
    pub hash: HashAlgorithm,
    /// The digest.
    pub digest: Vec<u8>,
    /// Metadata.
    pub metadata: RequestMetadata,
}

/// An [`Upload`] that `policy` accepted for the session that sent it: made only by
/// [`IssuancePolicy::check_upload`], consumed by [`crate::SigningRequest::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUpload<'p> {
    policy: &'p IssuancePolicy,
    upload: Upload,
}

impl<'p> CheckedUpload<'p> {
    /// The policy that accepted the upload.
    pub fn policy(&self) -> &'p IssuancePolicy {
        self.policy
    }

    /// The accepted upload.
    pub fn upload(&self) -> &Upload {
        &self.upload
    }

    pub(crate) fn into_parts(self) -> (&'p IssuancePolicy, Upload) {
        (self.policy, self.upload)
    }
}

/// Why an upload was refused. Nothing is stored when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// No such policy, or the session may not see it (the two are not told apart).
    #[error(
        "no issuance policy with this alias is available to you: list them with RAFA or `sigil policies`"
    )]
    PolicyNotFound,
    /// The policy does not allow this hash algorithm.
    #[error("hash algorithm {} is not allowed by this policy", hash.name())]
    HashNotAllowed {
        /// The refused algorithm.
        hash: HashAlgorithm,
    },
    /// The policy does not allow this format.
    #[error("format {format} is not allowed by this policy")]
    FormatNotAllowed {
        /// The refused format.
        format: SigningFormat,
    },
    /// The digest length does not match the hash algorithm.
    #[error("digest is {actual} bytes but {} digests are {expected} bytes", hash.name())]
    DigestLength {
        /// The declared algorithm.
        hash: HashAlgorithm,
        /// Its digest length.
        expected: usize,
        /// What was sent.
        actual: usize,
    },
    /// A metadata field is too long.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl IssuancePolicy {
    /// Validates a draft.
    pub fn new(draft: PolicyDraft) -> Result<Self, PolicyError> {
        Self::try_from(draft)
    }

    /// The definition.
    pub fn draft(&self) -> &PolicyDraft {
        &self.0
    }

    /// Alias.
    pub fn alias(&self) -> &PolicyAlias {
        &self.0.alias
    }

    /// Approvals required.
    pub fn approvals_required(&self) -> u32 {
        self.0.approvals_required
    }

    /// Approval group.
    pub fn approval_group(&self) -> Option<&GroupName> {
        self.0.approval_group.as_ref()
    }

    /// Whether `session` sees and may use the policy: it holds `signing:request` and an active
    /// role listed by the policy.
    pub fn visible_to(&self, session: &Session) -> bool {
        session.has(Permission::SigningRequest)
            && self.0.roles.iter().any(|role| session.role_active(role))
    }

    /// Checks an upload against the policy: the session must see the policy, which must allow
    /// the format and the hash; the digest must have the hash's length and the metadata fit
    /// their limits.
    pub fn check_upload(
        &self,
        session: &Session,
        upload: Upload,
    ) -> Result<CheckedUpload<'_>, UploadError> {
        if !self.visible_to(session) {
            return Err(UploadError::PolicyNotFound);
        }
        let Upload { format, hash, .. } = upload;
        if !self.0.formats.contains(&format) {
            return Err(UploadError::FormatNotAllowed { format });
        }
        if !self.0.hashes.contains(&hash) {
            return Err(UploadError::HashNotAllowed { hash });
        }
        if upload.digest.len() != hash.digest_len() {
            return Err(UploadError::DigestLength {
                hash,
                expected: hash.digest_len(),
                actual: upload.digest.len(),
            });
        }
        upload.metadata.check()?;
        Ok(CheckedUpload {
            policy: self,
            upload,
        })
    }
}

/// [`IssuancePolicy::check_upload`] for a policy that may not exist.
pub fn check_upload<'p>(
    policy: Option<&'p IssuancePolicy>,
    session: &Session,
    upload: Upload,
) -> Result<CheckedUpload<'p>, UploadError> {
    policy
        .ok_or(UploadError::PolicyNotFound)?
        .check_upload(session, upload)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::identity::{Identity, IdentityKind};
    use crate::metadata::MetadataField;
    use crate::names::IdentityName;
    use crate::role::tests::role;
    use uuid::Uuid;

    pub(crate) fn policy(approvals: u32) -> IssuancePolicy {
        IssuancePolicy::new(PolicyDraft {
            alias: PolicyAlias::new("release").unwrap(),
            certificate: SerialNumber::from_hex("01").unwrap(),
            key_id: KeyId(Uuid::nil()),
            rsa_scheme: RsaScheme::Pkcs1v15,
            approvals_required: approvals,
            approval_group: (approvals > 0).then(|| GroupName::new("officers").unwrap()),
            hashes: [HashAlgorithm::Sha256].into_iter().collect(),
            formats: [SigningFormat::Hash, SigningFormat::Jar]
                .into_iter()
                .collect(),
            request_lifetime_secs: 3600,
            roles: [RoleName::new("builders").unwrap()].into_iter().collect(),
            timestamp_required: false,
        })
        .unwrap()
    }

    /// An upload of a zero digest of `len` bytes, without metadata.
    pub(crate) fn upload(format: SigningFormat, hash: HashAlgorithm, len: usize) -> Upload {
        Upload {
            format,
            hash,
            digest: vec![0; len],
            metadata: RequestMetadata::default(),
        }
    }

    /// `policy(approvals)`'s check of a SHA-256 hash upload by a `builders` session.
    pub(crate) fn checked(policy: &IssuancePolicy, digest: Vec<u8>) -> CheckedUpload<'_> {
        let upload = Upload {
            digest,
            ..upload(SigningFormat::Hash, HashAlgorithm::Sha256, 0)
        };
        let session = session_with("builders", &[Permission::SigningRequest]);
        policy.check_upload(&session, upload).unwrap()
    }

    pub(crate) fn session_with(role_name: &str, permissions: &[Permission]) -> Session {
        let r = role(role_name, 1, permissions);
        let mut id = Identity::new(
            IdentityName::new("jenkins").unwrap(),
            IdentityKind::Application,
        );
        id.roles.insert(r.name().clone());
        let mut s = Session::new(crate::permission::Interface::HostApi);
        s.login(&id, &[r]).unwrap();
        s
    }

    #[test]
    fn validation() {
        let mut d = policy(0).draft().clone();
        d.approvals_required = 2;
        assert!(matches!(
            IssuancePolicy::new(d.clone()),
            Err(PolicyError::GroupRequired { .. })
        ));
        d.approval_group = Some(GroupName::new("g").unwrap());
        assert!(IssuancePolicy::new(d.clone()).is_ok());
        d.hashes.clear();
        assert!(matches!(
            IssuancePolicy::new(d.clone()),
            Err(PolicyError::NothingAllowed { .. })
        ));
        d.hashes.insert(HashAlgorithm::Sha384);
        d.request_lifetime_secs = 1;
        assert!(matches!(
            IssuancePolicy::new(d),
            Err(PolicyError::Lifetime { .. })
        ));
    }

    #[test]
    fn hash_names_are_exact() {
        assert_eq!(parse_hash("sha384"), Ok(HashAlgorithm::Sha384));
        let refused = parse_hash("SHA384").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "unknown hash algorithm `SHA384`: expected one of sha256, sha384, sha512"
        );
    }

    #[test]
    fn upload_checks() {
        let p = policy(0);
        let s = session_with("builders", &[Permission::SigningRequest]);
        let md = RequestMetadata::default();
        let ok = |format, hash, n, m: &RequestMetadata| {
            let upload = Upload {
                format,
                hash,
                digest: vec![0; n],
                metadata: m.clone(),
            };
            p.check_upload(&s, upload).map(|c| c.upload().clone())
        };
        let checked = ok(SigningFormat::Hash, HashAlgorithm::Sha256, 32, &md).unwrap();
        assert_eq!(
            (checked.format, checked.hash, checked.digest.len()),
            (SigningFormat::Hash, HashAlgorithm::Sha256, 32)
        );
        assert_eq!(
            ok(SigningFormat::Authenticode, HashAlgorithm::Sha256, 32, &md),
            Err(UploadError::FormatNotAllowed {
                format: SigningFormat::Authenticode
            })
        );
        assert_eq!(
            ok(SigningFormat::Hash, HashAlgorithm::Sha512, 64, &md),
            Err(UploadError::HashNotAllowed {
                hash: HashAlgorithm::Sha512
            })
        );
        assert!(matches!(
            ok(SigningFormat::Hash, HashAlgorithm::Sha256, 31, &md),
            Err(UploadError::DigestLength {
                expected: 32,
                actual: 31,
                ..
            })
        ));
        let big = RequestMetadata {
            commit: Some("c".repeat(1000)),
            ..RequestMetadata::default()
        };
        assert!(matches!(
            ok(SigningFormat::Hash, HashAlgorithm::Sha256, 32, &big),
            Err(UploadError::Metadata(MetadataError {
                field: MetadataField::Commit,
                ..
            }))
        ));
        assert_eq!(
            check_upload(
                None,
                &s,
                upload(SigningFormat::Hash, HashAlgorithm::Sha256, 32)
            ),
            Err(UploadError::PolicyNotFound)
        );
    }

    #[test]
    fn invisible_is_not_found() {
        let p = policy(0);
        let other_role = session_with("others", &[Permission::SigningRequest]);
        let no_permission = session_with("builders", &[Permission::AuditRead]);
        for s in [&other_role, &no_permission] {
            assert!(!p.visible_to(s));
            assert_eq!(
                p.check_upload(s, upload(SigningFormat::Hash, HashAlgorithm::Sha256, 32)),
                Err(UploadError::PolicyNotFound)
            );
        }
    }
}

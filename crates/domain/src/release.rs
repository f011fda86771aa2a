//! Releases: several signing requests under one policy decided by one approval.
//!
//! ```text
//! open ──last declared file──▶ pending ──approve (quorum)──▶ approved ──all signed──▶ signed
//!  │ (0 approvals: straight to approved)  │                          └──any failed──▶ failed
//!  ├──deny──▶ denied ◀────────────────────┘
//!  └──expire_if_due(now)──▶ expired (from open or pending)
//! ```
//! A release is opened with the number of files it will hold; it is open for approval only
//! once every declared file arrived, so an approver never approves a set that can still grow.
//! Each file stays its own [`SigningRequest`](crate::SigningRequest) (its own digest and
//! signature); the members take the release's decision
//! ([`SigningRequest::apply_release_decision`](crate::SigningRequest::apply_release_decision)).
//! Every transition checks before it changes anything: an error leaves the release as it was.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::group::ApprovalGroup;
use crate::names::{GroupName, IdentityName, PolicyAlias};
use crate::permission::Permission;
use crate::policy::IssuancePolicy;
use crate::request::{
    Approval, ApprovalProgress, ApprovalRule, COMMENT_MAX, MetadataError, MetadataField,
    RequestError, RequestStatus,
};
use crate::session::Session;

/// Most files one release holds.
pub const RELEASE_MAX_FILES: u32 = 1000;

/// A release id (a UUID: version 7, time-ordered, for new releases; version 4 for older ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReleaseId(pub Uuid);

impl ReleaseId {
    /// A fresh id: time-ordered (UUID v7), random beyond the millisecond.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(crate::time_ordered_uuid(rng))
    }
}

impl std::fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What the client tells approvers about the whole release (each file has its own name and
/// size). All optional, bounded as the request metadata fields of the same name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseMetadata {
    /// Build URL.
    pub build_url: Option<String>,
    /// Source commit.
    pub commit: Option<String>,
    /// Free-form description.
    pub description: Option<String>,
}

impl ReleaseMetadata {
    /// Checks every field against its limit.
    pub fn check(&self) -> Result<(), MetadataError> {
        for (field, value) in [
            (MetadataField::BuildUrl, &self.build_url),
            (MetadataField::Commit, &self.commit),
            (MetadataField::Description, &self.description),
        ] {
            let actual = value.as_ref().map_or(0, String::len);
            if actual > field.limit() {
                return Err(MetadataError {
                    field,
                    limit: field.limit(),
                    actual,
                });
            }
        }
        Ok(())
    }
}

/// The state of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ReleaseState {
    /// Receiving its declared files; not open for approval yet.
    Open,
    /// Every declared file arrived: waiting for approvals.
    Pending,
    /// Quorum reached (or none needed): its files are being signed.
    Approved {
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Every file was signed.
    Signed {
        /// When the last file was signed.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Approved, but at least one file could not be signed.
    Failed {
        /// When that was noticed.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Denied by an approver.
    Denied {
        /// By whom.
        by: IdentityName,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        /// Why.
        reason: String,
    },
    /// Not complete, or not approved, in time.
    Expired {
        /// When it was noticed.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
}

/// Why a file could not join a release, or a release could not be opened. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// A release of no files.
    #[error("a release needs at least one file")]
    Empty,
    /// More files than [`RELEASE_MAX_FILES`].
    #[error("a release holds at most {RELEASE_MAX_FILES} files, not {declared}: split it")]
    TooManyFiles {
        /// What was declared.
        declared: u64,
    },
    /// A release metadata field is too long.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// No such release, or not the caller's (not told apart).
    #[error("no such release is available to you")]
    NotFound,
    /// Every declared file arrived already.
    #[error("the release already holds all its {declared} files: open a new release for more")]
    Full {
        /// Files declared.
        declared: u32,
    },
    /// A file under another policy.
    #[error(
        "the release is under policy {release_policy}, not {policy}: every file of a release uses the same policy"
    )]
    OtherPolicy {
        /// The release's policy.
        release_policy: PolicyAlias,
        /// The policy of the upload.
        policy: String,
    },
    /// The release was decided (or expired): it takes no more files.
    #[error("the release is {state}: it takes no more files")]
    Closed {
        /// Its state.
        state: RequestStatus,
    },
}

/// A release: the decision for a set of signing requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    id: ReleaseId,
    policy: PolicyAlias,
    requester: IdentityName,
    metadata: ReleaseMetadata,
    declared: u32,
    received: u32,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires: OffsetDateTime,
    approvals_required: u32,
    approval_group: Option<GroupName>,
    approvals: Vec<Approval>,
    state: ReleaseState,
    /// Optimistic-concurrency counter kept by the store (not part of the serialized body).
    #[serde(skip)]
    revision: u64,
}

impl Release {
    /// Opens a release of `declared` files under `policy` (whose approvals, group and request
    /// lifetime are copied, as for a request).
    pub fn open(
        id: ReleaseId,
        policy: &IssuancePolicy,
        requester: IdentityName,
        declared: u64,
        metadata: ReleaseMetadata,
        now: OffsetDateTime,
    ) -> Result<Self, ReleaseError> {
        let declared = match u32::try_from(declared) {
            Ok(0) => return Err(ReleaseError::Empty),
            Ok(n) if n <= RELEASE_MAX_FILES => n,
            _ => return Err(ReleaseError::TooManyFiles { declared }),
        };
        metadata.check()?;
        Ok(Self {
            id,
            policy: policy.alias().clone(),
            requester,
            metadata,
            declared,
            received: 0,
            created: now,
            expires: now + time::Duration::seconds(i64::from(policy.draft().request_lifetime_secs)),
            approvals_required: policy.approvals_required(),
            approval_group: policy.approval_group().cloned(),
            approvals: Vec::new(),
            state: ReleaseState::Open,
            revision: 0,
        })
    }

    /// Id.
    pub fn id(&self) -> ReleaseId {
        self.id
    }
    /// Policy alias.
    pub fn policy(&self) -> &PolicyAlias {
        &self.policy
    }
    /// Requester.
    pub fn requester(&self) -> &IdentityName {
        &self.requester
    }
    /// Metadata.
    pub fn metadata(&self) -> &ReleaseMetadata {
        &self.metadata
    }
    /// Files declared when it was opened.
    pub fn declared(&self) -> u32 {
        self.declared
    }
    /// Files uploaded so far.
    pub fn received(&self) -> u32 {
        self.received
    }
    /// Creation time.
    pub fn created(&self) -> OffsetDateTime {
        self.created
    }
    /// Expiry of the open and pending states.
    pub fn expires(&self) -> OffsetDateTime {
        self.expires
    }
    /// Approvals required (copied from the policy).
    pub fn approvals_required(&self) -> u32 {
        self.approvals_required
    }
    /// Approval group (copied from the policy).
    pub fn approval_group(&self) -> Option<&GroupName> {
        self.approval_group.as_ref()
    }
    /// Approvals recorded.
    pub fn approvals(&self) -> &[Approval] {
        &self.approvals
    }
    /// State.
    pub fn state(&self) -> &ReleaseState {
        &self.state
    }
    /// The state as a request state name (`open` reads as `pending`).
    pub fn status(&self) -> RequestStatus {
        match self.state {
            ReleaseState::Open | ReleaseState::Pending => RequestStatus::Pending,
            ReleaseState::Approved { .. } => RequestStatus::Approved,
            ReleaseState::Signed { .. } => RequestStatus::Signed,
            ReleaseState::Failed { .. } => RequestStatus::Failed,
            ReleaseState::Denied { .. } => RequestStatus::Denied,
            ReleaseState::Expired { .. } => RequestStatus::Expired,
        }
    }
    /// The store's revision counter for optimistic concurrency.
    pub fn revision(&self) -> u64 {
        self.revision
    }
    /// Sets the revision counter: for stores, when loading or after an update.
    pub fn set_revision(&mut self, revision: u64) {
        self.revision = revision;
    }

    fn rule(&self) -> ApprovalRule<'_> {
        ApprovalRule {
            requester: &self.requester,
            group: self.approval_group.as_ref(),
            approvals: &self.approvals,
            required: self.approvals_required,
        }
    }

    /// Distinct approvers other than the requester.
    pub fn counted_approvals(&self) -> usize {
        self.rule().counted()
    }

    /// Counts one more file uploaded by the requester under `policy`. The last declared file
    /// closes the release to uploads: it is then pending (or approved, when the policy needs
    /// no approval).
    pub fn add_file(&mut self, policy: &str, now: OffsetDateTime) -> Result<(), ReleaseError> {
        if self.state == ReleaseState::Pending {
            return Err(ReleaseError::Full {
                declared: self.declared,
            });
        }
        if self.state != ReleaseState::Open || now >= self.expires {
            return Err(ReleaseError::Closed {
                state: if self.state == ReleaseState::Open {
                    RequestStatus::Expired
                } else {
                    self.status()
                },
            });
        }
        if self.policy.as_str() != policy {
            return Err(ReleaseError::OtherPolicy {
                release_policy: self.policy.clone(),
                policy: policy.to_owned(),
            });
        }
        self.received += 1;
        if self.received == self.declared {
            self.state = if self.approvals_required == 0 {
                ReleaseState::Approved { at: now }
            } else {
                ReleaseState::Pending
            };
        }
        Ok(())
    }

    fn require_pending(&self, now: OffsetDateTime, approving: bool) -> Result<(), RequestError> {
        match self.state {
            ReleaseState::Pending => {}
            ReleaseState::Open if !approving => {}
            ReleaseState::Open => {
                return Err(RequestError::Incomplete {
                    received: self.received,
                    declared: self.declared,
                });
            }
            _ => {
                return Err(RequestError::NotPending {
                    state: self.status(),
                });
            }
        }
        if now >= self.expires {
            return Err(RequestError::Expired);
        }
        Ok(())
    }

    /// Which identity of `session` approves or denies: as for
    /// [`SigningRequest::acting_identity`](crate::SigningRequest::acting_identity).
    pub fn acting_identity(
        &self,
        session: &Session,
        group: Option<&ApprovalGroup>,
        named: Option<&IdentityName>,
        approving: bool,
    ) -> Result<IdentityName, RequestError> {
        self.rule()
            .acting_identity(session, group, named, approving)
    }

    /// Records an approval, under the rule of a single request: a member of the release's
    /// group holding `signing:approve` itself, never the requester, each identity once. Only
    /// a complete release (every declared file arrived) can be approved.
    pub fn approve(
        &mut self,
        approver: &IdentityName,
        session: &Session,
        group: Option<&ApprovalGroup>,
        comment: &str,
        now: OffsetDateTime,
    ) -> Result<ApprovalProgress, RequestError> {
        self.require_pending(now, true)?;
        check_comment(comment)?;
        let (approval, progress) = self
            .rule()
            .approve(approver, session, group, comment, now)?;
        self.approvals.push(approval);
        if progress == ApprovalProgress::QuorumReached {
            self.state = ReleaseState::Approved { at: now };
        }
        Ok(progress)
    }

    /// Denies the release (open or pending): every file of it is denied with it.
    pub fn deny(
        &mut self,
        by: &IdentityName,
        session: &Session,
        group: Option<&ApprovalGroup>,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<(), RequestError> {
        self.require_pending(now, false)?;
        check_comment(reason)?;
        self.rule().require_approver(by, session, group)?;
        self.state = ReleaseState::Denied {
            by: by.clone(),
            at: now,
            reason: reason.to_owned(),
        };
        Ok(())
    }

    /// Moves an open or pending release past its expiry to `expired`; returns whether it
    /// changed.
    pub fn expire_if_due(&mut self, now: OffsetDateTime) -> bool {
        if matches!(self.state, ReleaseState::Open | ReleaseState::Pending) && now >= self.expires {
            self.state = ReleaseState::Expired { at: now };
            true
        } else {
            false
        }
    }

    /// Records that every file of an approved release reached its final state: `signed` when
    /// all were signed, else `failed`.
    pub fn finish(&mut self, all_signed: bool, now: OffsetDateTime) -> Result<(), RequestError> {
        if self.status() != RequestStatus::Approved {
            return Err(RequestError::WrongState {
                state: self.status(),
                action: "finished",
            });
        }
        self.state = if all_signed {
            ReleaseState::Signed { at: now }
        } else {
            ReleaseState::Failed { at: now }
        };
        Ok(())
    }

    /// Only the requester, or a session with `signing:read-all`, may read a release (the
    /// service also lets the approvers of its group read it).
    pub fn check_read(&self, session: &Session) -> Result<(), RequestError> {
        if session.has_identity(&self.requester) || session.has(Permission::SigningReadAll) {
            Ok(())
        } else {
            Err(RequestError::NotFound)
        }
    }
}

fn check_comment(comment: &str) -> Result<(), RequestError> {
    if comment.len() > COMMENT_MAX {
        Err(RequestError::CommentTooLong {
            actual: comment.len(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Identity, IdentityKind};
    use crate::permission::Interface;
    use crate::policy::tests::policy;
    use crate::request::tests::t;
    use crate::request::{RequestId, SigningRequest};
    use crate::role::tests::role;

    fn name(n: &str) -> IdentityName {
        IdentityName::new(n).unwrap()
    }

    fn release(approvals: u32, files: u64) -> Release {
        Release::open(
            ReleaseId(Uuid::from_u128(9)),
            &policy(approvals),
            name("jenkins"),
            files,
            ReleaseMetadata::default(),
            t(0),
        )
        .unwrap()
    }

    fn approver(who: &str) -> Session {
        let r = role("approver", 1, &[Permission::SigningApprove]);
        let mut id = Identity::new(name(who), IdentityKind::Person);
        id.roles.insert(r.name().clone());
        let mut s = Session::new(Interface::Https);
        s.login(&id, &[r]).unwrap();
        s
    }

    fn officers() -> ApprovalGroup {
        ApprovalGroup {
            name: GroupName::new("officers").unwrap(),
            members: ["alice", "bob", "jenkins"]
                .iter()
                .map(|m| name(m))
                .collect(),
        }
    }

    #[test]
    fn opening_checks_the_count() {
        let p = policy(1);
        let open = |n| {
            Release::open(
                ReleaseId(Uuid::nil()),
                &p,
                name("j"),
                n,
                ReleaseMetadata::default(),
                t(0),
            )
        };
        assert_eq!(open(0).unwrap_err(), ReleaseError::Empty);
        assert_eq!(
            open(u64::from(RELEASE_MAX_FILES) + 1).unwrap_err(),
            ReleaseError::TooManyFiles { declared: 1001 }
        );
        assert!(open(u64::from(RELEASE_MAX_FILES)).is_ok());
    }

    #[test]
    fn approval_only_once_complete_and_by_distinct_others() {
        let g = officers();
        let mut r = release(2, 2);
        let alias = r.policy().as_str().to_owned();
        r.add_file(&alias, t(1)).unwrap();
        let (alice, bob, jenkins) = (approver("alice"), approver("bob"), approver("jenkins"));
        assert_eq!(
            r.approve(&name("alice"), &alice, Some(&g), "", t(2)),
            Err(RequestError::Incomplete {
                received: 1,
                declared: 2
            })
        );
        assert!(matches!(
            r.add_file("other", t(2)),
            Err(ReleaseError::OtherPolicy { .. })
        ));
        r.add_file(&alias, t(2)).unwrap();
        assert_eq!(r.state(), &ReleaseState::Pending);
        assert_eq!(
            r.add_file(&alias, t(3)),
            Err(ReleaseError::Full { declared: 2 })
        );
        assert_eq!(
            r.approve(&name("jenkins"), &jenkins, Some(&g), "", t(3)),
            Err(RequestError::OwnRequest)
        );
        assert_eq!(
            r.approve(&name("alice"), &alice, Some(&g), "", t(3)),
            Ok(ApprovalProgress::Recorded { remaining: 1 })
        );
        assert_eq!(
            r.approve(&name("alice"), &alice, Some(&g), "", t(4)),
            Err(RequestError::AlreadyApproved)
        );
        assert_eq!(
            r.approve(&name("bob"), &bob, Some(&g), "ok", t(5)),
            Ok(ApprovalProgress::QuorumReached)
        );
        assert_eq!(r.status(), RequestStatus::Approved);
        r.finish(true, t(6)).unwrap();
        assert_eq!(r.status(), RequestStatus::Signed);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Release>(&json).unwrap(), r);
    }

    #[test]
    fn members_follow_the_release_and_refuse_their_own_decision() {
        let p = policy(1);
        let mut r = release(1, 1);
        let upload = crate::policy::tests::checked(&p, vec![1; 32]);
        let mut member = SigningRequest::new_in_release(RequestId(Uuid::nil()), &r, upload, t(1));
        r.add_file(p.alias().as_str(), t(1)).unwrap();
        let g = officers();
        let alice = approver("alice");
        assert_eq!(
            member.approve(&name("alice"), &alice, Some(&g), "", t(2)),
            Err(RequestError::InRelease { release: r.id() })
        );
        assert!(
            !member.expire_if_due(t(100_000)),
            "expires with its release"
        );
        assert!(
            !member.apply_release_decision(&r),
            "pending release: no change"
        );
        r.deny(&name("alice"), &alice, Some(&g), "wrong build", t(3))
            .unwrap();
        assert!(member.apply_release_decision(&r));
        assert_eq!(member.status(), RequestStatus::Denied);
        assert_eq!(
            r.add_file(p.alias().as_str(), t(4)),
            Err(ReleaseError::Closed {
                state: RequestStatus::Denied
            })
        );
    }

    #[test]
    fn expiry_and_zero_approvals() {
        let mut r = release(1, 3);
        assert!(!r.expire_if_due(t(3599)));
        assert!(r.expire_if_due(t(3600)));
        assert_eq!(r.status(), RequestStatus::Expired);
        let mut z = release(0, 1);
        let alias = z.policy().as_str().to_owned();
        z.add_file(&alias, t(1)).unwrap();
        assert_eq!(z.status(), RequestStatus::Approved);
    }
}

//! Signing requests: metadata limits, the lifecycle and the approval quorum.
//!
//! ```text
//! pending ──approve (quorum of distinct approvers)──▶ approved ──sign──▶ signed
//!    │ └──deny──▶ denied           (0 approvals: created approved)   └──fail──▶ failed
//!    └──expire_if_due(now)──▶ expired
//! ```
//! Every transition checks before it changes anything: an error leaves the request as it was.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::group::ApprovalGroup;
pub use crate::metadata::{AuthenticodeSubject, MetadataError, MetadataField, RequestMetadata};
use crate::names::{GroupName, IdentityName, PolicyAlias};
use crate::permission::Permission;
use crate::policy::{CheckedUpload, HashAlgorithm, SigningFormat};
use crate::release::{Release, ReleaseId, ReleaseState};
use crate::session::Session;
use crate::strenum::str_enum;

/// Longest approval comment, denial reason or failure reason, in bytes.
pub const COMMENT_MAX: usize = 1024;

/// A signing request id (a UUID: version 7, time-ordered, for ids Sigil generates; version 4 for
/// older records, and derived from the idempotency key when the client gives one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub Uuid);

impl RequestId {
    /// A fresh id: time-ordered (UUID v7), random beyond the millisecond.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(crate::time_ordered_uuid(rng))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Who approved.
    pub approver: IdentityName,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Comment (may be empty).
    pub comment: String,
}

str_enum! {
    /// The state of a request without its details (the indexed column, and list filters).
    pub enum RequestStatus ("request state") {
        /// Waiting for approvals.
        Pending = "pending",
        /// Quorum reached (or none needed), not signed yet.
        Approved = "approved",
        /// Signed: the result is available.
        Signed = "signed",
        /// Denied by an approver.
        Denied = "denied",
        /// Not approved in time.
        Expired = "expired",
        /// Signing failed.
        Failed = "failed",
    }
}

/// The state of a request with its details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting for approvals.
    Pending,
    /// Quorum reached (or none needed).
    Approved {
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Signed.
    Signed {
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        /// The signature (raw) or signature block (PKCS#7 DER).
        #[serde(with = "crate::serde_hex")]
        result: Vec<u8>,
        /// Hash format under a policy that requires time-stamps: the DER `TimeStampResp`
        /// over `result` (Authenticode and JAR carry their token inside `result`).
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "crate::serde_hex::option"
        )]
        timestamp: Option<Vec<u8>>,
    },
    /// Denied.
    Denied {
        /// By whom.
        by: IdentityName,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        /// Why.
        reason: String,
    },
    /// Expired while pending.
    Expired {
        /// When it was noticed.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Signing failed.
    Failed {
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        /// Why (no secrets: shown to the requester).
        reason: String,
    },
}

impl RequestState {
    /// The state without details.
    pub fn status(&self) -> RequestStatus {
        match self {
            Self::Pending => RequestStatus::Pending,
            Self::Approved { .. } => RequestStatus::Approved,
            Self::Signed { .. } => RequestStatus::Signed,
            Self::Denied { .. } => RequestStatus::Denied,
            Self::Expired { .. } => RequestStatus::Expired,
            Self::Failed { .. } => RequestStatus::Failed,
        }
    }
}

/// Why a transition or a read was refused. The request is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Approve/deny on a request that is not pending.
    #[error("the request is {state}, not pending: nothing to approve or deny")]
    NotPending {
        /// Its current state.
        state: RequestStatus,
    },
    /// The request is past its expiry (call [`SigningRequest::expire_if_due`] and persist).
    #[error("the request has expired: submit a new one")]
    Expired,
    /// The requester tried to approve its own request.
    #[error("you cannot approve your own request")]
    OwnRequest,
    /// The identity already approved; it counts once.
    #[error("you have already approved this request")]
    AlreadyApproved,
    /// The acting identity does not hold `signing:approve` through its own active roles, or
    /// is not logged in on the session.
    #[error("you do not have the signing:approve permission")]
    NotPermitted,
    /// The identity named to act is not logged in on the session.
    #[error("identity {identity} is not logged in on this session: name one that is")]
    NotOnSession {
        /// The name given.
        identity: IdentityName,
    },
    /// Several identities of the session could act and none was named.
    #[error(
        "several identities of this session could act on this request ({}): name the one that acts (`as`, `sigil request approve --as`)",
        .candidates.iter().map(IdentityName::as_str).collect::<Vec<_>>().join(", ")
    )]
    Ambiguous {
        /// Those that qualify.
        candidates: Vec<IdentityName>,
    },
    /// The approver is not a member of the request's approval group.
    #[error("you are not a member of the approval group {group}")]
    NotMember {
        /// The group.
        group: GroupName,
    },
    /// No such request, or the session may not read it (not told apart).
    #[error("no such signing request is available to you")]
    NotFound,
    /// Sign/fail on a request in the wrong state.
    #[error("the request is {state}: it cannot be {action}")]
    WrongState {
        /// Its current state.
        state: RequestStatus,
        /// What was attempted.
        action: &'static str,
    },
    /// A comment or reason is too long.
    #[error("comment is {actual} bytes: at most {COMMENT_MAX} are allowed")]
    CommentTooLong {
        /// What was sent.
        actual: usize,
    },
    /// Approve/deny on one request of a release: the release is decided as a whole.
    #[error(
        "the request belongs to release {release}: approve or deny the release (`sigil release approve {release}`)"
    )]
    InRelease {
        /// The release.
        release: ReleaseId,
    },
    /// Approve on a release whose files have not all arrived (it could still grow).
    #[error(
        "the release has {received} of its {declared} files: it can be approved once all have arrived"
    )]
    Incomplete {
        /// Files uploaded so far.
        received: u32,
        /// Files declared when it was opened.
        declared: u32,
    },
}

/// What an approval achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalProgress {
    /// Recorded; more distinct approvals are needed.
    Recorded {
        /// How many more.
        remaining: u32,
    },
    /// Quorum reached: the request is approved and can be signed.
    QuorumReached,
}

/// A signing request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningRequest {
    id: RequestId,
    format: SigningFormat,
    policy: PolicyAlias,
    hash: HashAlgorithm,
    #[serde(with = "crate::serde_hex")]
    digest: Vec<u8>,
    metadata: RequestMetadata,
    requester: IdentityName,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires: OffsetDateTime,
    approvals_required: u32,
    approval_group: Option<GroupName>,
    approvals: Vec<Approval>,
    state: RequestState,
    /// The release the request belongs to: its approval is the release's decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    release: Option<ReleaseId>,
    /// Its position in the release (1 for the first file uploaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    release_index: Option<u32>,
    /// Optimistic-concurrency counter kept by the store (not part of the serialized body).
    #[serde(skip)]
    revision: u64,
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

impl SigningRequest {
    /// A new request for an upload its policy accepted. The policy's approvals and group are
    /// copied so that a later policy change does not alter requests in flight. With 0
    /// approvals required the request starts `approved` and the service signs it within the
    /// upload.
    pub fn new(
        id: RequestId,
        requester: IdentityName,
        upload: CheckedUpload<'_>,
        now: OffsetDateTime,
    ) -> Self {
        let (policy, upload) = upload.into_parts();
        let approvals_required = policy.approvals_required();
        Self {
            id,
            format: upload.format,
            policy: policy.alias().clone(),
            hash: upload.hash,
            digest: upload.digest,
            metadata: upload.metadata,
            requester,
            created: now,
            expires: now + time::Duration::seconds(i64::from(policy.draft().request_lifetime_secs)),
            approvals_required,
            approval_group: policy.approval_group().cloned(),
            approvals: Vec::new(),
            state: if approvals_required == 0 {
                RequestState::Approved { at: now }
            } else {
                RequestState::Pending
            },
            release: None,
            release_index: None,
            revision: 0,
        }
    }

    /// A new request that is one file of `release` (opened under the same policy), the one
    /// [`Release::add_file`] just counted: it expires with the release and is approved or
    /// denied only through it.
    pub fn new_in_release(
        id: RequestId,
        release: &Release,
        upload: CheckedUpload<'_>,
        now: OffsetDateTime,
    ) -> Self {
        let mut request = Self::new(id, release.requester().clone(), upload, now);
        request.expires = release.expires();
        request.release = Some(release.id());
        request.release_index = Some(release.received());
        request
    }

    /// Its position in its release (1 for the first file uploaded).
    pub fn release_index(&self) -> Option<u32> {
        self.release_index
    }

    /// The release the request belongs to, if any.
    pub fn release(&self) -> Option<ReleaseId> {
        self.release
    }

    /// Applies the decision of its release to a pending member request: the release's
    /// approvals are copied, and the request becomes approved, denied or expired with it.
    /// Returns whether the request changed.
    pub fn apply_release_decision(&mut self, release: &Release) -> bool {
        if self.state != RequestState::Pending || self.release != Some(release.id()) {
            return false;
        }
        let state = match release.state() {
            // A release is only signed or failed after its members left `pending`.
            ReleaseState::Open
            | ReleaseState::Pending
            | ReleaseState::Signed { .. }
            | ReleaseState::Failed { .. } => return false,
            ReleaseState::Approved { at } => RequestState::Approved { at: *at },
            ReleaseState::Denied { by, at, reason } => RequestState::Denied {
                by: by.clone(),
                at: *at,
                reason: reason.clone(),
            },
            ReleaseState::Expired { at } => RequestState::Expired { at: *at },
        };
        self.approvals = release.approvals().to_vec();
        self.state = state;
        true
    }

    /// Id.
    pub fn id(&self) -> RequestId {
        self.id
    }
    /// Format.
    pub fn format(&self) -> SigningFormat {
        self.format
    }
    /// Policy alias.
    pub fn policy(&self) -> &PolicyAlias {
        &self.policy
    }
    /// Hash algorithm.
    pub fn hash(&self) -> HashAlgorithm {
        self.hash
    }
    /// Digest.
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }
    /// Metadata.
    pub fn metadata(&self) -> &RequestMetadata {
        &self.metadata
    }
    /// Requester.
    pub fn requester(&self) -> &IdentityName {
        &self.requester
    }
    /// Creation time.
    pub fn created(&self) -> OffsetDateTime {
        self.created
    }
    /// Expiry time of the pending state.
    pub fn expires(&self) -> OffsetDateTime {
        self.expires
    }
    /// Approvals required (copied from the policy at creation).
    pub fn approvals_required(&self) -> u32 {
        self.approvals_required
    }
    /// Approval group (copied from the policy at creation).
    pub fn approval_group(&self) -> Option<&GroupName> {
        self.approval_group.as_ref()
    }
    /// Approvals recorded.
    pub fn approvals(&self) -> &[Approval] {
        &self.approvals
    }
    /// State with details.
    pub fn state(&self) -> &RequestState {
        &self.state
    }
    /// State without details.
    pub fn status(&self) -> RequestStatus {
        self.state.status()
    }
    /// The signed result, once signed.
    pub fn result(&self) -> Option<&[u8]> {
        match &self.state {
            RequestState::Signed { result, .. } => Some(result),
            _ => None,
        }
    }

    /// The `TimeStampResp` the server made over a hash-format result, once signed.
    pub fn timestamp(&self) -> Option<&[u8]> {
        match &self.state {
            RequestState::Signed {
                timestamp: Some(t), ..
            } => Some(t),
            _ => None,
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

    /// Distinct approvers other than the requester: what counts towards the quorum (robust
    /// even against a stored list that was tampered with).
    pub fn counted_approvals(&self) -> usize {
        self.rule().counted()
    }

    fn require_pending(&self, now: OffsetDateTime) -> Result<(), RequestError> {
        if let Some(release) = self.release {
            return Err(RequestError::InRelease { release });
        }
        if self.state != RequestState::Pending {
            return Err(RequestError::NotPending {
                state: self.status(),
            });
        }
        if now >= self.expires {
            return Err(RequestError::Expired);
        }
        Ok(())
    }

    fn rule(&self) -> ApprovalRule<'_> {
        ApprovalRule {
            requester: &self.requester,
            group: self.approval_group.as_ref(),
            approvals: &self.approvals,
            required: self.approvals_required,
        }
    }

    fn require_approver(
        &self,
        who: &IdentityName,
        session: &Session,
        group: Option<&ApprovalGroup>,
    ) -> Result<(), RequestError> {
        self.rule().require_approver(who, session, group)
    }

    /// Which identity of `session` approves (or, with `approving` false, denies): the one
    /// `named` in the call, which must be logged in on the session; without a name, the only
    /// identity that qualifies — it holds `signing:approve` through its own active roles, is a
    /// member of `group`, is not the requester and (approving) has not approved yet.
    ///
    /// Refusals: [`RequestError::NotOnSession`], [`RequestError::Ambiguous`] (several qualify:
    /// the caller must name one), [`RequestError::NotPermitted`] (nobody logged in). When none
    /// qualifies, the likeliest actor is returned (the first identity holding the permission,
    /// else the principal): [`Self::approve`] / [`Self::deny`] then refuse it with the reason.
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

    /// Records an approval by `approver` (logged in on `session`, a member of `group`, which
    /// must be the request's group). The requester never approves its own request; an
    /// identity counts once.
    pub fn approve(
        &mut self,
        approver: &IdentityName,
        session: &Session,
        group: Option<&ApprovalGroup>,
        comment: &str,
        now: OffsetDateTime,
    ) -> Result<ApprovalProgress, RequestError> {
        self.require_pending(now)?;
        check_comment(comment)?;
        let (approval, progress) = self
            .rule()
            .approve(approver, session, group, comment, now)?;
        self.approvals.push(approval);
        if progress == ApprovalProgress::QuorumReached {
            self.state = RequestState::Approved { at: now };
        }
        Ok(progress)
    }

    /// Denies the request. Any member of the approval group with `signing:approve` may deny.
    pub fn deny(
        &mut self,
        by: &IdentityName,
        session: &Session,
        group: Option<&ApprovalGroup>,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<(), RequestError> {
        self.require_pending(now)?;
        check_comment(reason)?;
        self.require_approver(by, session, group)?;
        self.state = RequestState::Denied {
            by: by.clone(),
            at: now,
            reason: reason.to_owned(),
        };
        Ok(())
    }

    /// Moves a pending request past its expiry to `expired`; returns whether it changed (the
    /// service then persists it with an audit event).
    /// A member of a release expires only with its release ([`Self::apply_release_decision`]).
    pub fn expire_if_due(&mut self, now: OffsetDateTime) -> bool {
        if self.release.is_none() && self.state == RequestState::Pending && now >= self.expires {
            self.state = RequestState::Expired { at: now };
            true
        } else {
            false
        }
    }

    /// Stores the signing result of an approved request.
    pub fn mark_signed(
        &mut self,
        result: Vec<u8>,
        now: OffsetDateTime,
    ) -> Result<(), RequestError> {
        self.mark_signed_stamped(result, None, now)
    }

    /// [`mark_signed`](Self::mark_signed) with the `TimeStampResp` of a hash signature.
    pub fn mark_signed_stamped(
        &mut self,
        result: Vec<u8>,
        timestamp: Option<Vec<u8>>,
        now: OffsetDateTime,
    ) -> Result<(), RequestError> {
        if self.status() != RequestStatus::Approved {
            return Err(RequestError::WrongState {
                state: self.status(),
                action: "signed",
            });
        }
        self.state = RequestState::Signed {
            at: now,
            result,
            timestamp,
        };
        Ok(())
    }

    /// Records that signing an approved request failed.
    pub fn mark_failed(&mut self, reason: &str, now: OffsetDateTime) -> Result<(), RequestError> {
        if self.status() != RequestStatus::Approved {
            return Err(RequestError::WrongState {
                state: self.status(),
                action: "marked failed",
            });
        }
        self.state = RequestState::Failed {
            at: now,
            reason: crate::text::truncate(reason, COMMENT_MAX).to_owned(),
        };
        Ok(())
    }

    /// Only the requester, or a session with `signing:read-all`, may read a request; others get
    /// [`RequestError::NotFound`], as for a request that does not exist.
    pub fn check_read(&self, session: &Session) -> Result<(), RequestError> {
        if session.has_identity(&self.requester) || session.has(Permission::SigningReadAll) {
            Ok(())
        } else {
            Err(RequestError::NotFound)
        }
    }
}

/// The approval rule shared by requests and releases: who may approve or deny, and what
/// counts towards the quorum.
pub(crate) struct ApprovalRule<'a> {
    pub(crate) requester: &'a IdentityName,
    pub(crate) group: Option<&'a GroupName>,
    pub(crate) approvals: &'a [Approval],
    /// Distinct approvals the quorum needs.
    pub(crate) required: u32,
}

impl ApprovalRule<'_> {
    /// Distinct approvers other than the requester (robust even against a stored list that
    /// was tampered with).
    pub(crate) fn counted(&self) -> usize {
        let mut seen: Vec<&IdentityName> = Vec::with_capacity(self.approvals.len());
        for a in self.approvals {
            if a.approver != *self.requester && !seen.contains(&&a.approver) {
                seen.push(&a.approver);
            }
        }
        seen.len()
    }

    /// Checks `approver`'s approval under the rule (never the requester; a member of the
    /// group holding `signing:approve` itself; each identity once) and returns it with what
    /// it achieves once recorded. The caller checks its own state and the comment first.
    pub(crate) fn approve(
        &self,
        approver: &IdentityName,
        session: &Session,
        group: Option<&ApprovalGroup>,
        comment: &str,
        now: OffsetDateTime,
    ) -> Result<(Approval, ApprovalProgress), RequestError> {
        if approver == self.requester {
            return Err(RequestError::OwnRequest);
        }
        self.require_approver(approver, session, group)?;
        if self.approvals.iter().any(|a| &a.approver == approver) {
            return Err(RequestError::AlreadyApproved);
        }
        // A new distinct approver who is not the requester: one more towards the quorum.
        let counted = u32::try_from(self.counted() + 1).unwrap_or(u32::MAX);
        let progress = if counted >= self.required {
            ApprovalProgress::QuorumReached
        } else {
            ApprovalProgress::Recorded {
                remaining: self.required - counted,
            }
        };
        let approval = Approval {
            approver: approver.clone(),
            at: now,
            comment: comment.to_owned(),
        };
        Ok((approval, progress))
    }

    pub(crate) fn require_approver(
        &self,
        who: &IdentityName,
        session: &Session,
        group: Option<&ApprovalGroup>,
    ) -> Result<(), RequestError> {
        // The permission must be the acting identity's own: another identity's role on the
        // same session does not lend it (nor does membership come from another identity).
        if !session.has_identity(who) || !session.identity_has(who, Permission::SigningApprove) {
            return Err(RequestError::NotPermitted);
        }
        let Some(group_name) = self.group else {
            return Err(RequestError::NotPermitted);
        };
        match group {
            Some(g) if &g.name == group_name && g.is_member(who) => Ok(()),
            _ => Err(RequestError::NotMember {
                group: group_name.clone(),
            }),
        }
    }

    /// See [`SigningRequest::acting_identity`].
    pub(crate) fn acting_identity(
        &self,
        session: &Session,
        group: Option<&ApprovalGroup>,
        named: Option<&IdentityName>,
        approving: bool,
    ) -> Result<IdentityName, RequestError> {
        if let Some(name) = named {
            if !session.has_identity(name) {
                return Err(RequestError::NotOnSession {
                    identity: name.clone(),
                });
            }
            return Ok(name.clone());
        }
        let qualifies = |who: &IdentityName| {
            who != self.requester
                && self.require_approver(who, session, group).is_ok()
                && !(approving && self.approvals.iter().any(|a| &a.approver == who))
        };
        let mut candidates: Vec<IdentityName> = session
            .identities()
            .iter()
            .filter(|who| qualifies(who))
            .cloned()
            .collect();
        if candidates.len() > 1 {
            return Err(RequestError::Ambiguous { candidates });
        }
        if let Some(only) = candidates.pop() {
            return Ok(only);
        }
        // Nobody qualifies: the likeliest actor, whose approval is then refused with the reason.
        session
            .identities()
            .iter()
            .find(|who| session.identity_has(who, Permission::SigningApprove))
            .or_else(|| session.principal())
            .cloned()
            .ok_or(RequestError::NotPermitted)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::identity::{Identity, IdentityKind};
    use crate::permission::Interface;
    use crate::policy::tests::{checked, policy};
    use crate::role::tests::role;
    use proptest::prelude::*;

    #[test]
    fn ids_made_a_millisecond_apart_sort_in_the_order_they_were_made() {
        let mut rng = rand::rng();
        let first = RequestId::generate(&mut rng);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = RequestId::generate(&mut rng);
        assert_eq!(first.0.get_version_num(), 7);
        // The store's primary key is the text form: that is the order that matters.
        assert!(first.to_string() < second.to_string(), "{first} {second}");
        assert_ne!(RequestId::generate(&mut rng), RequestId::generate(&mut rng));
    }

    pub(crate) fn t(secs: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_700_000_000 + secs)
    }

    pub(crate) fn request(approvals: u32) -> SigningRequest {
        let policy = policy(approvals);
        SigningRequest::new(
            RequestId(Uuid::from_u128(7)),
            IdentityName::new("jenkins").unwrap(),
            checked(&policy, vec![0xab; 32]),
            t(0),
        )
    }

    fn name(n: &str) -> IdentityName {
        IdentityName::new(n).unwrap()
    }

    fn officers(members: &[&str]) -> ApprovalGroup {
        ApprovalGroup {
            name: GroupName::new("officers").unwrap(),
            members: members.iter().map(|m| name(m)).collect(),
        }
    }

    fn approver_session(who: &str, permissions: &[Permission]) -> Session {
        let r = role("approver", 1, permissions);
        let mut id = Identity::new(name(who), IdentityKind::Person);
        id.roles.insert(r.name().clone());
        let mut s = Session::new(Interface::Https);
        s.login(&id, &[r]).unwrap();
        s
    }

    fn approve_as(
        r: &mut SigningRequest,
        who: &str,
        group: &ApprovalGroup,
    ) -> Result<ApprovalProgress, RequestError> {
        let s = approver_session(who, &[Permission::SigningApprove]);
        r.approve(&name(who), &s, Some(group), "ok", t(10))
    }

    #[test]
    fn quorum_of_distinct_approvers() {
        let g = officers(&["alice", "bob", "jenkins"]);
        let mut r = request(2);
        assert_eq!(r.status(), RequestStatus::Pending);
        assert_eq!(
            approve_as(&mut r, "alice", &g),
            Ok(ApprovalProgress::Recorded { remaining: 1 })
        );
        let before = r.clone();
        assert_eq!(
            approve_as(&mut r, "alice", &g),
            Err(RequestError::AlreadyApproved)
        );
        assert_eq!(
            approve_as(&mut r, "jenkins", &g),
            Err(RequestError::OwnRequest)
        );
        assert_eq!(r, before, "errors change nothing");
        assert_eq!(
            approve_as(&mut r, "bob", &g),
            Ok(ApprovalProgress::QuorumReached)
        );
        assert_eq!(r.status(), RequestStatus::Approved);
        assert!(matches!(
            approve_as(&mut r, "carol", &officers(&["carol"])),
            Err(RequestError::NotPending { .. })
        ));
        r.mark_signed(vec![1, 2, 3], t(11)).unwrap();
        assert_eq!(r.result(), Some(&[1u8, 2, 3][..]));
        assert!(r.mark_signed(vec![], t(12)).is_err());
    }

    #[test]
    fn membership_and_permission_are_both_needed() {
        let g = officers(&["alice"]);
        let mut r = request(1);
        assert_eq!(
            approve_as(&mut r, "mallory", &g),
            Err(RequestError::NotMember {
                group: g.name.clone()
            })
        );
        let no_perm = approver_session("alice", &[Permission::AuditRead]);
        assert_eq!(
            r.approve(&name("alice"), &no_perm, Some(&g), "", t(1)),
            Err(RequestError::NotPermitted)
        );
        let s = approver_session("alice", &[Permission::SigningApprove]);
        assert_eq!(
            r.approve(&name("bob"), &s, Some(&g), "", t(1)),
            Err(RequestError::NotPermitted),
            "approver must be logged in"
        );
        let other_group = ApprovalGroup {
            name: GroupName::new("other").unwrap(),
            members: g.members.clone(),
        };
        assert!(matches!(
            r.approve(&name("alice"), &s, Some(&other_group), "", t(1)),
            Err(RequestError::NotMember { .. })
        ));
        assert_eq!(
            r.approve(
                &name("alice"),
                &s,
                Some(&g),
                &"x".repeat(COMMENT_MAX + 1),
                t(1)
            ),
            Err(RequestError::CommentTooLong {
                actual: COMMENT_MAX + 1
            })
        );
        assert_eq!(r.approvals().len(), 0);
    }

    #[test]
    fn permission_and_membership_must_come_from_the_same_identity() {
        let approver = role("approver", 1, &[Permission::SigningApprove]);
        let member = role("member", 1, &[Permission::SigningRequest]);
        let roles = vec![approver.clone(), member.clone()];
        let mut a2 = Identity::new(name("approver2"), IdentityKind::Person);
        a2.roles.insert(approver.name().clone());
        let mut mx = Identity::new(name("memberx"), IdentityKind::Person);
        mx.roles.insert(member.name().clone());
        let mut s = Session::new(Interface::Https);
        s.login(&a2, &roles).unwrap();
        s.login(&mx, &roles).unwrap();
        let g = officers(&["memberx"]);
        let mut r = request(1);
        // memberx is a member without the permission; approver2 has it but is no member.
        assert_eq!(
            r.approve(&name("memberx"), &s, Some(&g), "", t(1)),
            Err(RequestError::NotPermitted)
        );
        let actor = r.acting_identity(&s, Some(&g), None, true).unwrap();
        assert_eq!(actor, name("approver2"));
        assert!(matches!(
            r.approve(&actor, &s, Some(&g), "", t(1)),
            Err(RequestError::NotMember { .. })
        ));
        assert_eq!(
            r.deny(&name("memberx"), &s, Some(&g), "", t(1)),
            Err(RequestError::NotPermitted)
        );
        assert_eq!(r.approvals().len(), 0);
        assert_eq!(r.status(), RequestStatus::Pending);
    }

    #[test]
    fn the_acting_identity_is_named_or_the_only_one_that_qualifies() {
        let approver = role("approver", 1, &[Permission::SigningApprove]);
        let roles = vec![approver.clone()];
        let person = |n: &str| {
            let mut id = Identity::new(name(n), IdentityKind::Person);
            id.roles.insert(approver.name().clone());
            id
        };
        let mut s = Session::new(Interface::Https);
        s.login(&person("alice"), &roles).unwrap();
        s.login(&person("bob"), &roles).unwrap();
        s.login(&person("jenkins"), &roles).unwrap();
        let mut r = request(2);
        // alice and bob both qualify (jenkins is the requester, carol is not logged in).
        assert_eq!(
            r.acting_identity(
                &s,
                Some(&officers(&["alice", "bob", "jenkins"])),
                None,
                true
            ),
            Err(RequestError::Ambiguous {
                candidates: vec![name("alice"), name("bob")]
            })
        );
        let g = officers(&["alice", "bob", "jenkins"]);
        assert_eq!(
            r.acting_identity(&s, Some(&g), Some(&name("carol")), true),
            Err(RequestError::NotOnSession {
                identity: name("carol")
            })
        );
        assert_eq!(
            r.acting_identity(&s, Some(&g), Some(&name("bob")), true),
            Ok(name("bob"))
        );
        // Only one is a member: no name needed.
        assert_eq!(
            r.acting_identity(&s, Some(&officers(&["bob"])), None, true),
            Ok(name("bob"))
        );
        // One that approved already no longer qualifies to approve (it may still deny).
        r.approve(&name("alice"), &s, Some(&g), "", t(1)).unwrap();
        assert_eq!(r.acting_identity(&s, Some(&g), None, true), Ok(name("bob")));
        assert!(matches!(
            r.acting_identity(&s, Some(&g), None, false),
            Err(RequestError::Ambiguous { .. })
        ));
        // Nobody logged in.
        assert_eq!(
            r.acting_identity(&Session::new(Interface::Https), Some(&g), None, true),
            Err(RequestError::NotPermitted)
        );
    }

    #[test]
    fn deny_expire_and_read() {
        let g = officers(&["alice"]);
        let s = approver_session("alice", &[Permission::SigningApprove]);
        let mut r = request(1);
        r.deny(&name("alice"), &s, Some(&g), "not a release build", t(5))
            .unwrap();
        assert_eq!(r.status(), RequestStatus::Denied);
        assert!(matches!(
            r.deny(&name("alice"), &s, Some(&g), "", t(6)),
            Err(RequestError::NotPending {
                state: RequestStatus::Denied
            })
        ));

        let mut r = request(1);
        assert!(!r.expire_if_due(t(3599)));
        assert_eq!(
            r.approve(&name("alice"), &s, Some(&g), "", t(3600)),
            Err(RequestError::Expired)
        );
        assert!(r.expire_if_due(t(3600)));
        assert_eq!(r.status(), RequestStatus::Expired);
        assert!(!r.expire_if_due(t(3601)));

        assert_eq!(r.check_read(&s), Err(RequestError::NotFound));
        let auditor = approver_session("audrey", &[Permission::SigningReadAll]);
        assert_eq!(r.check_read(&auditor), Ok(()));
        let requester = approver_session("jenkins", &[Permission::SigningRequest]);
        assert_eq!(r.check_read(&requester), Ok(()));
    }

    #[test]
    fn zero_approvals_starts_approved_and_serde_round_trips() {
        let mut r = request(0);
        assert_eq!(r.status(), RequestStatus::Approved);
        r.mark_signed(vec![9; 4], t(1)).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"result\":\"09090909\""), "{json}");
        assert_eq!(serde_json::from_str::<SigningRequest>(&json).unwrap(), r);
        let mut f = request(0);
        f.mark_failed("key unavailable", t(1)).unwrap();
        assert_eq!(f.status(), RequestStatus::Failed);
    }

    proptest! {
        /// Whatever sequence of identities tries to approve, the quorum counts only distinct
        /// non-requester members, and the request is approved exactly when that count reaches
        /// the policy's requirement.
        #[test]
        fn quorum_never_counts_requester_or_duplicates(
            required in 1u32..5,
            attempts in proptest::collection::vec(0usize..5, 0..20),
        ) {
            let people = ["jenkins", "a", "b", "c", "d"];
            let g = officers(&people);
            let mut r = request(required);
            let mut distinct = std::collections::BTreeSet::new();
            for i in attempts {
                let who = people[i];
                let res = approve_as(&mut r, who, &g);
                if r.status() == RequestStatus::Pending || res.is_ok() {
                    if who != "jenkins" { if res.is_ok() { distinct.insert(who); } }
                    else { prop_assert_eq!(res, Err(RequestError::OwnRequest)); }
                }
                prop_assert_eq!(r.counted_approvals(), distinct.len());
                prop_assert!(r.approvals().iter().all(|a| a.approver.as_str() != "jenkins"));
                let approved = r.status() == RequestStatus::Approved;
                prop_assert_eq!(approved, distinct.len() as u32 >= required);
            }
        }
    }
}

//! Wire types (`sigil-proto`) ↔ domain types (`sigil-domain`).

use sigil_domain::{RequestMetadata, RequestState, SigningRequest};
use sigil_proto::{Metadata, Outcome, RequestStatus};

use crate::service::ServiceError;

/// The metadata fields common to every upload.
pub(crate) fn metadata(wire: Metadata) -> RequestMetadata {
    RequestMetadata {
        file_name: wire.file_name,
        file_size: wire.file_size,
        build_url: wire.build_url,
        commit: wire.commit,
        description: wire.description,
        ..RequestMetadata::default()
    }
}

/// A JAR entry count, which the store keeps as 32 bits.
pub(crate) fn entry_count(count: Option<u64>) -> Result<Option<u32>, ServiceError> {
    count
        .map(|c| {
            u32::try_from(c).map_err(|_| {
                ServiceError::refused(
                    sigil_proto::ErrorCode::BadValue,
                    format!("EC (ENTRY_COUNT) {c} is too large: at most {}", u32::MAX),
                )
            })
        })
        .transpose()
}

/// The request-status fields of a request.
pub(crate) fn status(request: &SigningRequest) -> Result<RequestStatus, ServiceError> {
    let id = sigil_proto::RequestId::new(request.id().to_string())
        .map_err(|e| ServiceError::internal(format!("request id as a token: {e}")))?;
    let outcome = match request.state() {
        RequestState::Pending => Outcome::Pending,
        RequestState::Approved { .. } => Outcome::Approved,
        RequestState::Signed { result, .. } => Outcome::Signed {
            result: result.clone(),
        },
        RequestState::Denied { reason, .. } => Outcome::Denied {
            reason: (!reason.is_empty()).then(|| reason.clone()),
        },
        RequestState::Expired { .. } => Outcome::Expired,
        RequestState::Failed { .. } => Outcome::Failed,
    };
    let pending = matches!(request.state(), RequestState::Pending);
    Ok(RequestStatus {
        id,
        outcome,
        approvals_required: request.approvals_required(),
        approvals_received: u32::try_from(request.counted_approvals()).unwrap_or(u32::MAX),
        expires: pending.then(|| request.expires()),
        timestamp: request.timestamp().map(<[u8]>::to_vec),
    })
}

/// The `RAUR`/`RAGR` answer of a release.
pub(crate) fn release_status(
    release: &sigil_domain::Release,
) -> Result<sigil_proto::ReleaseStatus, ServiceError> {
    use sigil_domain::ReleaseState;
    let id = sigil_proto::ReleaseId::new(release.id().to_string())
        .map_err(|e| ServiceError::internal(format!("release id as a token: {e}")))?;
    let state = sigil_proto::RequestState::parse(&release.status().as_str().to_ascii_uppercase())
        .map_err(|e| ServiceError::internal(format!("release state on the wire: {e}")))?;
    let (state_time, denial_reason) = match release.state() {
        ReleaseState::Open | ReleaseState::Pending => (None, None),
        ReleaseState::Approved { at }
        | ReleaseState::Signed { at }
        | ReleaseState::Failed { at }
        | ReleaseState::Expired { at } => (Some(*at), None),
        ReleaseState::Denied { at, reason, .. } => {
            (Some(*at), (!reason.is_empty()).then(|| reason.clone()))
        }
    };
    Ok(sigil_proto::ReleaseStatus {
        id,
        state,
        policy: release.policy().to_string(),
        requester: release.requester().to_string(),
        files: u64::from(release.declared()),
        files_received: u64::from(release.received()),
        approvals_required: release.approvals_required(),
        approvals: release
            .approvals()
            .iter()
            .map(|a| (a.approver.to_string(), a.at))
            .collect(),
        created: release.created(),
        expires: release.expires(),
        state_time,
        denial_reason,
    })
}

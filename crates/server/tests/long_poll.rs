//! Long polling (`WT`) and releases (`RAUR`, `RL`, `RAGR`) on the Host API of the real server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use sigil_proto::{
    CorrelationId, ErrorCode, Extensions, HashAlgorithm, Metadata, OpenRelease, Outcome as Wire,
    ReleaseId, ReleaseStatus, Request, RequestId, RequestState, Response,
};
use sigil_server::service::authorize::Caller;
use sigil_server::service::{releases, requests};
use sigil_testkit::hostapi::*;

/// Sends `request` with its extension fields and reads the answer.
async fn call_with(client: &mut Client, request: Request, extensions: Extensions) -> Response {
    let mut out = Vec::new();
    let ag = CorrelationId::new("900").unwrap();
    request
        .encode_with(Some(&ag), &extensions, &mut out)
        .unwrap();
    client.send_raw(&out).await;
    client.recv().await
}

fn waiting(secs: u64) -> Extensions {
    Extensions {
        release: None,
        wait: Some(secs),
        ..Extensions::default()
    }
}

fn release(response: &Response) -> ReleaseStatus {
    match response {
        Response::OpenRelease(r) | Response::GetRelease(r) => (**r).clone(),
        other => panic!("not a release answer: {other:?}"),
    }
}

/// A retrieve with `WT` held by the server while the request is pending, in a task.
fn retrieve_waiting(
    mut client: Client,
    id: RequestId,
    secs: u64,
) -> tokio::task::JoinHandle<(Client, Response)> {
    tokio::spawn(async move {
        let r = call_with(&mut client, Request::RetrieveHash { id }, waiting(secs)).await;
        (client, r)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_retrieve_answers_when_the_request_is_decided() {
    let world = world().await;
    let state = world.state();
    let mut c = world.logged_in("jenkins").await;
    let up = c.upload_hash("two", HashAlgorithm::Sha256, &[7; 32]).await;
    let id = status(&up).id.clone();

    // A bounded wait on an undecided request ends with its state.
    let r = call_with(&mut c, Request::RetrieveHash { id: id.clone() }, waiting(1)).await;
    assert_eq!(status(&r).outcome, Wire::Pending);

    // A long wait is held while the request is pending (also past one approval) and answers
    // with the signature once the quorum is reached.
    let task = retrieve_waiting(c, id.clone(), 60);
    let alice = approver(&state, "alice").await;
    requests::approve(&state, &Caller::new(&alice), domain_id(&id), "")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!task.is_finished(), "answered while still pending");
    let bob = approver(&state, "bob").await;
    requests::approve(&state, &Caller::new(&bob), domain_id(&id), "")
        .await
        .unwrap();
    let (mut c, r) = task.await.unwrap();
    assert!(matches!(status(&r).outcome, Wire::Signed { .. }), "{r:?}");

    // WT only where a command takes it.
    let r = call_with(
        &mut c,
        Request::Echo,
        Extensions::default(), // encodes nothing extra
    )
    .await;
    assert!(r.is_success());
    c.send_raw(b"[AOECHO;WT5;]").await;
    assert_code(&c.recv().await, ErrorCode::UnexpectedTag);

    // A shutting-down server ends every wait with the current state.
    let up = c.upload_hash("two", HashAlgorithm::Sha256, &[8; 32]).await;
    let pending = status(&up).id.clone();
    let task = retrieve_waiting(c, pending, 60);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!task.is_finished(), "answered while still pending");
    state.changes.stop_waiting();
    let (_, r) = task.await.unwrap();
    assert_eq!(status(&r).outcome, Wire::Pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_over_the_host_api_is_opened_filled_and_decided_once() {
    let world = world().await;
    let state = world.state();
    let mut c = world.logged_in("jenkins").await;
    let open = |files| {
        Request::OpenRelease(OpenRelease {
            policy: "two".into(),
            files,
            metadata: Metadata {
                description: Some("release 3".into()),
                ..Metadata::default()
            },
        })
    };
    assert_code(&c.call(open(0)).await, ErrorCode::BadValue);
    assert_code(&c.call(open(1001)).await, ErrorCode::BadValue);
    let opened = release(&c.call(open(2)).await);
    assert_eq!(opened.state, RequestState::Pending);
    assert_eq!((opened.files, opened.files_received), (2, 0));
    assert_eq!(opened.requester, "jenkins");
    let joining = Extensions {
        release: Some(opened.id.clone()),
        wait: None,
        ..Extensions::default()
    };
    let upload = |digest: u8| {
        Request::UploadHash(sigil_testkit::hostapi::upload(
            "two",
            HashAlgorithm::Sha256,
            &[digest; 32],
        ))
    };
    let first = call_with(&mut c, upload(1), joining.clone()).await;
    let first = status(&first).id.clone();
    let second = call_with(&mut c, upload(2), joining.clone()).await;
    assert_eq!(status(&second).outcome, Wire::Pending);
    assert_code(
        &call_with(&mut c, upload(3), joining.clone()).await,
        ErrorCode::ReleaseClosed,
    );
    let unknown = Extensions {
        release: Some(ReleaseId::new("00000000-0000-4000-8000-000000000000").unwrap()),
        wait: None,
        ..Extensions::default()
    };
    assert_code(
        &call_with(&mut c, upload(4), unknown).await,
        ErrorCode::RequestNotFound,
    );
    let got = release(
        &c.call(Request::GetRelease {
            id: opened.id.clone(),
        })
        .await,
    );
    assert_eq!((got.state, got.files_received), (RequestState::Pending, 2));

    // Waiting on the release: answered once every file is signed, with the approvers.
    let id = sigil_domain::ReleaseId(uuid::Uuid::parse_str(opened.id.as_str()).unwrap());
    let task = {
        let rl = opened.id.clone();
        tokio::spawn(async move {
            let r = call_with(&mut c, Request::GetRelease { id: rl }, waiting(60)).await;
            (c, r)
        })
    };
    let alice = approver(&state, "alice").await;
    let bob = approver(&state, "bob").await;
    // One file cannot be approved on its own.
    let err = requests::approve(&state, &Caller::new(&alice), domain_id(&first), "")
        .await
        .unwrap_err();
    assert_eq!(err.host_api_code(), ErrorCode::RequestInRelease, "{err}");
    releases::approve_as(&state, &Caller::new(&alice), id, "", None)
        .await
        .unwrap();
    releases::approve_as(&state, &Caller::new(&bob), id, "", None)
        .await
        .unwrap();
    let (mut c, r) = task.await.unwrap();
    let done = release(&r);
    assert_eq!(done.state, RequestState::Signed, "{done:?}");
    let approvers: Vec<&str> = done.approvals.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(approvers, ["alice", "bob"]);
    assert!(done.state_time.is_some());
    let r = c.retrieve_hash(&first).await;
    assert_eq!(status(&r).approvals_received, 2);
    assert!(!signature(&r).is_empty());
}

/// An upload sent again with the same idempotency key (`IK`) answers with the first one's
/// request, whether pending or signed at once, and creates nothing; the key with another
/// digest is refused; another key makes another request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_upload_with_its_idempotency_key_returns_the_same_request() {
    let world = world().await;
    let state = world.state();
    let mut c = world.logged_in("jenkins").await;
    let keyed = |key: &str| Extensions {
        idempotency_key: Some(sigil_proto::IdempotencyKey::new(key).unwrap()),
        ..Extensions::default()
    };
    let upload = |policy: &str, digest: u8| {
        Request::UploadHash(sigil_testkit::hostapi::upload(
            policy,
            HashAlgorithm::Sha256,
            &[digest; 32],
        ))
    };
    let count = || async {
        state
            .store
            .list_requests(&Default::default())
            .await
            .unwrap()
            .len()
    };

    let first = call_with(&mut c, upload("two", 1), keyed("k-pending")).await;
    let again = call_with(&mut c, upload("two", 1), keyed("k-pending")).await;
    assert_eq!(status(&first).id, status(&again).id);
    assert_eq!(status(&again).outcome, Wire::Pending);
    assert_eq!(count().await, 1);

    // Signed at once: the repeat returns the stored signature, nothing is signed again.
    let signed = call_with(&mut c, upload("ec", 2), keyed("k-signed")).await;
    let again = call_with(&mut c, upload("ec", 2), keyed("k-signed")).await;
    assert_eq!(status(&signed).id, status(&again).id);
    assert_eq!(status(&signed).outcome, status(&again).outcome);
    assert_eq!(count().await, 2);

    assert_code(
        &call_with(&mut c, upload("two", 3), keyed("k-pending")).await,
        ErrorCode::BadValue,
    );
    let other = call_with(&mut c, upload("two", 1), keyed("k-other")).await;
    assert_ne!(status(&other).id, status(&first).id);
    assert_eq!(count().await, 3);
}

//! The Host API against the real server: `init` + `start` on 127.0.0.1:0, mutual TLS with
//! client certificates issued by the deployment's System TLS CA Root, real SQLite. The test
//! client is rustls + the `sigil-proto` codec; one test uses `openssl s_client`.
//!
//! Covers the bad-input catalogue of the server-core issue (framing, fields, logins, commands,
//! permissions) and of the signing-requests issue (policies, digests, metadata, reads,
//! approvals), hash signing checked with `openssl dgst -verify`, the approval workflow,
//! expiry and a restart.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use sha2::Digest;
use sigil_domain::{
    Change, CommandCode, HashAlgorithm as DomainHash, Interface, PolicyAlias, RequestFilter,
    RequestId as DomainRequestId, RequestMetadata, Session, Settings, SigningFormat,
    SigningRequest,
};
use sigil_proto::{ErrorCode, HashAlgorithm, Outcome as Wire, Request, RequestId, Response};
use sigil_server::service::auth::{self, LoginContext};
use sigil_server::service::authorize::Caller;
use sigil_server::service::requests;
use sigil_testkit::hostapi::*;
use tokio::io::AsyncWriteExt;

// ---- framing and commands -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_s_client_echo() {
    // A short idle timeout: `s_client -quiet` keeps reading after its input ends, so the
    // server's idle close is what ends the exchange.
    let world = world_with(|c| c.idle_timeout = Duration::from_secs(1)).await;
    let (cert, key) = &world.jenkins;
    let (_ok, out, err) = common::s_client(
        world.server().host_api_addr(),
        &world.root,
        Some((cert, key)),
        &["-quiet"],
        b"[AOECHO;AG1;]",
    );
    assert!(out.starts_with("[AOECHO;"), "{out}\n{err}");
    assert!(out.contains("ANY;") && out.contains("AG1;"), "{out}");
    assert!(
        out.contains(&format!("VS{};", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_are_answered_and_fatal_ones_close() {
    let world = world().await;
    let mut c = world.connect().await;

    // Pipelining: three requests in one write, three answers in order.
    c.send_raw(b"[AOECHO;AG1;]\n[AOTIME;AG2;] [AOECHO;AG3;]")
        .await;
    for ag in ["1", "2", "3"] {
        let (echoed, response) = c.recv_with_ag().await;
        assert_eq!(echoed.as_deref(), Some(ag));
        assert!(response.is_success(), "{response:?}");
    }

    // Errors with clear boundaries: answered, the connection stays open.
    c.send_raw(b"[AOSIGN;AG4;]").await;
    let (ag, r) = c.recv_with_ag().await;
    assert_eq!(ag.as_deref(), Some("4"));
    assert_code(&r, ErrorCode::UnknownCommand);
    assert_eq!(r.command().unwrap().as_str(), "SIGN");
    c.send_raw(b"[AOECHO;AG5;ZZx;]").await;
    assert_code(&c.recv().await, ErrorCode::UnknownTag);
    c.send_raw(b"[AOECHO;AG6;AG7;]").await;
    assert_code(&c.recv().await, ErrorCode::DuplicateTag);
    c.send_raw(b"[AORAUO;AG8;PArsa-pkcs1;HASHA256;DGxyz;]")
        .await;
    let (ag, r) = c.recv_with_ag().await;
    assert_eq!(ag.as_deref(), Some("8"));
    assert_code(&r, ErrorCode::BadHex);
    c.send_raw(b"[AOECHO;AG9;PWx;]").await;
    assert_code(&c.recv().await, ErrorCode::UnexpectedTag);
    c.send_raw(b"[AORAGA;]").await;
    assert_code(&c.recv().await, ErrorCode::MissingField);
    assert!(c.call(Request::Echo).await.is_success());

    // Missing `]`: FRAME_SYNTAX, then the server closes.
    c.send_raw(b"[AOECHO;AG10;[AOECHO;]").await;
    let (ag, r) = c.recv_with_ag().await;
    assert_eq!(ag.as_deref(), Some("10"));
    assert_code(&r, ErrorCode::FrameSyntax);
    assert!(c.closed().await);

    // Bytes outside a frame.
    let mut c = world.connect().await;
    c.send_raw(b"hello").await;
    assert_code(&c.recv().await, ErrorCode::FrameSyntax);
    assert!(c.closed().await);

    // Over the size limit: answered as soon as the limit is passed, then closed.
    let mut c = world.connect().await;
    let mut big = b"[AOECHO;AG11;DS".to_vec();
    big.extend(std::iter::repeat_n(
        b'a',
        sigil_proto::MAX_REQUEST_FRAME_LEN + 10,
    ));
    c.send_raw(&big).await;
    let (ag, r) = c.recv_with_ag().await;
    assert_eq!(ag.as_deref(), Some("11"));
    assert_code(&r, ErrorCode::FrameTooLarge);
    assert!(c.closed().await);

    // Truncated: the client closes its side inside a frame.
    let mut c = world.connect().await;
    c.send_raw(b"[AOECHO;AG12;").await;
    c.stream.shutdown().await.unwrap();
    let (ag, r) = c.recv_with_ag().await;
    assert_eq!(ag.as_deref(), Some("12"));
    assert_code(&r, ErrorCode::TruncatedFrame);
    assert!(c.closed().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_lockout_and_certificate_binding() {
    let world = world().await;
    let state = world.state();
    commit(
        &state,
        vec![Change::PutSettings(Settings {
            lockout_threshold: 3,
            ..Settings::default()
        })],
    )
    .await;

    let mut c = world.connect().await;
    // Nothing but ECHO/TIME/RKLO/RKCP before a login.
    assert_code(&c.call(Request::ListPolicies).await, ErrorCode::NotLoggedIn);
    match c.call(Request::Capabilities).await {
        Response::Capabilities {
            commands,
            permissions,
        } => {
            let codes: Vec<&str> = commands.iter().map(|c| c.as_str()).collect();
            assert_eq!(codes, ["ECHO", "TIME", "RKLO", "RKCP"]);
            assert!(permissions.is_empty());
        }
        other => panic!("{other:?}"),
    }

    // Wrong password, unknown identity: one code. Lockout after 3 failures; then even the
    // right password is refused.
    assert_code(&c.login("nobody", PASSWORD).await, ErrorCode::AuthFailed);
    for _ in 0..2 {
        assert_code(&c.login("builder2", "wrong").await, ErrorCode::AuthFailed);
    }
    let (code, message) = failure(&c.login("builder2", "wrong").await);
    assert_eq!(code, ErrorCode::AuthFailed);
    assert!(message.contains("locked"), "{message}");
    assert_code(
        &c.login("builder2", PASSWORD).await,
        ErrorCode::IdentityLocked,
    );
    let stored = state
        .store
        .get_identity(&name("builder2"))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.locked);
    assert_eq!(stored.failed_logins, 3);

    assert_code(&c.login("locky", PASSWORD).await, ErrorCode::IdentityLocked);
    assert_code(&c.login("off", PASSWORD).await, ErrorCode::IdentityDisabled);
    // An identity whose roles do not allow the Host API.
    assert_code(&c.login("alice", PASSWORD).await, ErrorCode::NotPermitted);

    // jenkins is bound to its certificate: refused with another CN.
    let mut other = world.connect_as(&world.other).await;
    assert_code(
        &other.login("jenkins", PASSWORD).await,
        ErrorCode::CertMismatch,
    );
    let mut c = world.connect().await;
    assert_eq!(
        c.login("jenkins", PASSWORD).await,
        Response::Login {
            logins_remaining: 0
        }
    );
    assert_code(
        &c.login("jenkins", PASSWORD).await,
        ErrorCode::AlreadyLoggedIn,
    );
    match c.call(Request::Capabilities).await {
        Response::Capabilities {
            commands,
            permissions,
        } => {
            // Every command but RAGK, which needs signing:openpgp-key.
            assert_eq!(commands.len(), sigil_proto::Command::KNOWN.len() - 1);
            assert!(!commands.contains(&sigil_proto::Command::GetOpenPgpKey));
            assert_eq!(permissions, ["signing:request"]);
        }
        other => panic!("{other:?}"),
    }

    // Logged in, but the role does not grant the command.
    let mut w = world.connect().await;
    assert_eq!(
        w.login("watcher", PASSWORD).await,
        Response::Login {
            logins_remaining: 0
        }
    );
    assert_code(
        &w.call(Request::ListPolicies).await,
        ErrorCode::NotPermitted,
    );

    // A disabled command, on a connection that is already open.
    commit(
        &state,
        vec![Change::SetCommandEnabled {
            code: CommandCode::new("TIME").unwrap(),
            enabled: false,
        }],
    )
    .await;
    assert_code(&c.call(Request::Time).await, ErrorCode::CommandDisabled);
    match c.call(Request::Capabilities).await {
        Response::Capabilities { commands, .. } => {
            assert!(!commands.iter().any(|c| c.as_str() == "TIME"));
        }
        other => panic!("{other:?}"),
    }
    assert!(c.call(Request::Echo).await.is_success());

    // Refusals are in the audit log.
    let events = state.store.read_audit(0, 1000).await.unwrap();
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e.action == "hostapi.refused")
        .collect();
    assert!(refused.len() >= 3, "{refused:?}");
    let failed_logins = events
        .iter()
        .filter(|e| e.action == "login" && e.outcome == "failure")
        .count();
    assert!(failed_logins >= 8, "{failed_logins}");
}

// ---- hash signing ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_signing_with_no_approval_verifies_with_openssl() {
    let world = world().await;
    let mut c = world.logged_in("jenkins").await;
    let dir = world.dir.path();

    match c.call(Request::ListPolicies).await {
        Response::ListPolicies { policies } => {
            let set: BTreeSet<&str> = policies.iter().map(String::as_str).collect();
            assert_eq!(
                set,
                BTreeSet::from(["ec", "narrow", "rsa-pkcs1", "rsa-pss", "two"])
            );
        }
        other => panic!("{other:?}"),
    }

    let file = dir.join("artifact.bin");
    std::fs::write(&file, b"the firmware image\n".repeat(1000)).unwrap();
    let content = std::fs::read(&file).unwrap();

    // (policy, openssl digest, hash, digest, -sigopt values, key algorithm)
    type Case<'a> = (
        &'a str,
        &'a str,
        HashAlgorithm,
        Vec<u8>,
        Vec<&'a str>,
        &'a str,
    );
    let cases: [Case<'_>; 6] = [
        (
            "rsa-pss",
            "sha384",
            HashAlgorithm::Sha384,
            sha2::Sha384::digest(&content).to_vec(),
            vec!["rsa_padding_mode:pss", "rsa_pss_saltlen:48"],
            "rsa-2048",
        ),
        (
            "rsa-pkcs1",
            "sha256",
            HashAlgorithm::Sha256,
            sha2::Sha256::digest(&content).to_vec(),
            vec![],
            "rsa-2048",
        ),
        (
            "rsa-pkcs1",
            "sha512",
            HashAlgorithm::Sha512,
            sha2::Sha512::digest(&content).to_vec(),
            vec![],
            "rsa-2048",
        ),
        (
            "rsa-pss",
            "sha256",
            HashAlgorithm::Sha256,
            sha2::Sha256::digest(&content).to_vec(),
            vec!["rsa_padding_mode:pss", "rsa_pss_saltlen:32"],
            "rsa-2048",
        ),
        (
            "ec",
            "sha256",
            HashAlgorithm::Sha256,
            sha2::Sha256::digest(&content).to_vec(),
            vec![],
            "ecdsa-p256",
        ),
        (
            "ec",
            "sha384",
            HashAlgorithm::Sha384,
            sha2::Sha384::digest(&content).to_vec(),
            vec![],
            "ecdsa-p256",
        ),
    ];
    for (alias, hash_name, hash, digest, sigopts, algorithm) in cases {
        let info = match c
            .call(Request::GetPolicy {
                policy: alias.into(),
            })
            .await
        {
            Response::GetPolicy(info) => info,
            other => panic!("{other:?}"),
        };
        assert_eq!(info.key_algorithm.as_str(), algorithm);
        assert_eq!(info.approvals_required, 0);
        let public = public_key_pem(dir, &info.certificate_chain, alias);

        let uploaded = c.upload_hash(alias, hash, &digest).await;
        let st = status(&uploaded);
        assert_eq!(st.approvals_required, 0);
        assert_eq!(st.expires, None);
        let sig = signature(&uploaded);
        openssl_verify(hash_name, &public, &sig, &file, &sigopts);

        // Retrieval gives the same signature.
        let again = c.retrieve_hash(&st.id).await;
        assert_eq!(signature(&again), sig);
    }

    // The chain is signer first, then the code-signing CA, then the root.
    let info = match c
        .call(Request::GetPolicy {
            policy: "ec".into(),
        })
        .await
    {
        Response::GetPolicy(info) => info,
        other => panic!("{other:?}"),
    };
    let chain_file = dir.join("chain.der");
    std::fs::write(&chain_file, &info.certificate_chain).unwrap();
    let mut reader = sigil_pki::x509_cert::der::SliceReader::new(&info.certificate_chain).unwrap();
    let mut subjects = Vec::new();
    use sigil_pki::x509_cert::der::{Decode, Reader};
    while !reader.is_finished() {
        let cert = sigil_pki::x509_cert::Certificate::decode(&mut reader).unwrap();
        subjects.push(cert.tbs_certificate().subject().to_string());
    }
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert!(subjects[0].contains("EC signer"), "{subjects:?}");
    assert!(
        subjects[1].contains("Jenkins Code Signing CA"),
        "{subjects:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_and_read_refusals_store_nothing() {
    let world = world().await;
    let state = world.state();
    let mut c = world.logged_in("jenkins").await;
    let d256 = [0x11u8; 32];
    let before = request_count(&state).await;

    assert_code(
        &c.upload_hash("no-such-policy", HashAlgorithm::Sha256, &d256)
            .await,
        ErrorCode::PolicyNotFound,
    );
    assert_code(
        &c.upload_hash("hidden", HashAlgorithm::Sha256, &d256).await,
        ErrorCode::PolicyNotFound,
    );
    assert_code(
        &c.call(Request::GetPolicy {
            policy: "hidden".into(),
        })
        .await,
        ErrorCode::PolicyNotFound,
    );
    assert_code(
        &c.upload_hash("ec", HashAlgorithm::Sha256, &[0x11; 31])
            .await,
        ErrorCode::DigestLength,
    );
    assert_code(
        &c.upload_hash("ec", HashAlgorithm::Sha384, &d256).await,
        ErrorCode::DigestLength,
    );
    assert_code(
        &c.upload_hash("narrow", HashAlgorithm::Sha256, &d256).await,
        ErrorCode::HashNotAllowed,
    );
    assert_code(
        &c.call(Request::UploadJar(sigil_proto::JarUpload {
            upload: upload("narrow", HashAlgorithm::Sha384, &[0x11; 48]),
            entry_count: Some(3),
            signer_name: Some("SIGIL".into()),
        }))
        .await,
        ErrorCode::FormatNotAllowed,
    );
    let mut big = upload("ec", HashAlgorithm::Sha256, &d256);
    big.metadata.file_name = Some("x".repeat(300));
    assert_code(
        &c.call(Request::UploadHash(big)).await,
        ErrorCode::MetadataTooLarge,
    );
    let mut big = upload("ec", HashAlgorithm::Sha256, &d256);
    big.metadata.description = Some("d".repeat(2000));
    assert_code(
        &c.call(Request::UploadHash(big)).await,
        ErrorCode::MetadataTooLarge,
    );
    assert_eq!(
        request_count(&state).await,
        before,
        "a refused upload stored a request"
    );

    // Another identity's request is not found; so is a request of another kind, and an id
    // that is not one.
    let mut b = world.logged_in("builder2").await;
    let theirs = status(&b.upload_hash("two", HashAlgorithm::Sha256, &d256).await).clone();
    assert_eq!(theirs.outcome, Wire::Pending);
    assert_code(
        &c.retrieve_hash(&theirs.id).await,
        ErrorCode::RequestNotFound,
    );
    assert_code(
        &b.call(Request::RetrieveJar {
            id: theirs.id.clone(),
        })
        .await,
        ErrorCode::RequestNotFound,
    );
    assert_code(
        &b.retrieve_hash(&RequestId::new("not-a-uuid").unwrap())
            .await,
        ErrorCode::RequestNotFound,
    );
    assert_code(
        &b.retrieve_hash(&RequestId::new(uuid::Uuid::new_v4().to_string()).unwrap())
            .await,
        ErrorCode::RequestNotFound,
    );
    // The owner reads it.
    assert_eq!(
        status(&b.retrieve_hash(&theirs.id).await).outcome,
        Wire::Pending
    );
}

// ---- approvals --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_distinct_approvers_sign_and_a_denial_reaches_the_requester() {
    let world = world().await;
    let state = world.state();
    let dir = world.dir.path();
    let mut c = world.logged_in("jenkins").await;
    let file = dir.join("release.bin");
    std::fs::write(&file, b"release 1.0").unwrap();
    let digest = sha2::Sha256::digest(std::fs::read(&file).unwrap()).to_vec();

    let up = c.upload_hash("two", HashAlgorithm::Sha256, &digest).await;
    let st = status(&up).clone();
    assert_eq!(st.outcome, Wire::Pending);
    assert_eq!((st.approvals_required, st.approvals_received), (2, 0));
    assert!(st.expires.is_some());
    let id = domain_id(&st.id);

    let alice = approver(&state, "alice").await;
    let after_one = requests::approve(&state, &Caller::new(&alice), id, "looks good")
        .await
        .unwrap();
    assert_eq!(after_one.counted_approvals(), 1);
    let r = c.retrieve_hash(&st.id).await;
    assert_eq!(status(&r).outcome, Wire::Pending);
    assert_eq!(status(&r).approvals_received, 1);

    // The same approver twice counts once (refused); a non-member is refused: an approver
    // outside the request's group does not even see it (no signing:read-all).
    let again = requests::approve(&state, &Caller::new(&alice), id, "again")
        .await
        .unwrap_err();
    assert_eq!(again.host_api_code(), ErrorCode::NotPermitted, "{again}");
    let dave = approver(&state, "dave").await;
    let err = requests::approve(&state, &Caller::new(&dave), id, "")
        .await
        .unwrap_err();
    assert_eq!(err.host_api_code(), ErrorCode::RequestNotFound, "{err}");
    // The requester itself (no signing:approve on its session).
    let mut jenkins_https = Session::new(Interface::Https);
    auth::login(
        &state,
        &mut jenkins_https,
        "builder2",
        PASSWORD.as_bytes(),
        LoginContext::default(),
    )
    .await
    .unwrap();
    let err = requests::approve(&state, &Caller::new(&jenkins_https), id, "")
        .await
        .unwrap_err();
    assert_eq!(err.host_api_code(), ErrorCode::NotPermitted, "{err}");
    assert_eq!(status(&c.retrieve_hash(&st.id).await).approvals_received, 1);

    // A second distinct approver: signed within the approval.
    let bob = approver(&state, "bob").await;
    let signed = requests::approve(&state, &Caller::new(&bob), id, "ok")
        .await
        .unwrap();
    assert!(signed.result().is_some(), "{:?}", signed.state());
    let r = c.retrieve_hash(&st.id).await;
    assert_eq!(status(&r).approvals_received, 2);
    let sig = signature(&r);
    let info = match c
        .call(Request::GetPolicy {
            policy: "two".into(),
        })
        .await
    {
        Response::GetPolicy(info) => info,
        other => panic!("{other:?}"),
    };
    let public = public_key_pem(dir, &info.certificate_chain, "two");
    openssl_verify("sha256", &public, &sig, &file, &[]);

    // Not pending any more.
    let carol = approver(&state, "carol").await;
    let err = requests::approve(&state, &Caller::new(&carol), id, "")
        .await
        .unwrap_err();
    assert_eq!(err.host_api_code(), ErrorCode::RequestNotPending, "{err}");
    let err = requests::deny(&state, &Caller::new(&carol), id, "late")
        .await
        .unwrap_err();
    assert_eq!(err.host_api_code(), ErrorCode::RequestNotPending, "{err}");

    // The requester's own approval, by an identity that is also an approver.
    let mut selfie = world.logged_in("selfie").await;
    let own = status(
        &selfie
            .upload_hash("two", HashAlgorithm::Sha256, &digest)
            .await,
    )
    .clone();
    let selfie_https = approver(&state, "selfie").await;
    let err = requests::approve(
        &state,
        &Caller::new(&selfie_https),
        domain_id(&own.id),
        "mine",
    )
    .await
    .unwrap_err();
    assert_eq!(err.host_api_code(), ErrorCode::NotPermitted, "{err}");
    assert!(err.to_string().contains("own"), "{err}");

    // A denial with its reason reaches RAGO.
    let denied = requests::deny(
        &state,
        &Caller::new(&carol),
        domain_id(&own.id),
        "not a release build",
    )
    .await
    .unwrap();
    assert_eq!(denied.status(), sigil_domain::RequestStatus::Denied);
    match &status(&selfie.retrieve_hash(&own.id).await).outcome {
        Wire::Denied { reason } => assert_eq!(reason.as_deref(), Some("not a release build")),
        other => panic!("{other:?}"),
    }

    // Every transition is an audit event naming the request.
    let events = state.store.read_audit(0, 1000).await.unwrap();
    let object = st.id.as_str();
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e.object.as_deref() == Some(object) && e.outcome == "success")
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "request.create",
            "request.approve",
            "request.approve",
            "request.sign"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_request_expires_and_a_pending_one_survives_a_restart() {
    let mut world = world().await;
    let state = world.state();

    // A request created two hours ago under a one-hour lifetime.
    let policy = state
        .store
        .get_policy(&PolicyAlias::new("two").unwrap())
        .await
        .unwrap()
        .unwrap();
    // The request is built from an upload the policy accepted, as the service builds it.
    let mut builder = Session::new(Interface::HostApi);
    auth::login(
        &state,
        &mut builder,
        "builder2",
        PASSWORD.as_bytes(),
        LoginContext::default(),
    )
    .await
    .unwrap();
    let upload = sigil_domain::Upload {
        format: SigningFormat::Hash,
        hash: DomainHash::Sha256,
        digest: vec![7; 32],
        metadata: RequestMetadata::default(),
    };
    let old = SigningRequest::new(
        DomainRequestId(uuid::Uuid::new_v4()),
        name("jenkins"),
        policy.check_upload(&builder, upload).unwrap(),
        state.now() - time::Duration::hours(2),
    );
    let old_id = RequestId::new(old.id().to_string()).unwrap();
    commit(&state, vec![Change::CreateRequest(Box::new(old.clone()))]).await;
    let mut c = world.logged_in("jenkins").await;
    assert_eq!(
        status(&c.retrieve_hash(&old_id).await).outcome,
        Wire::Expired
    );
    let stored = state.store.get_request(old.id()).await.unwrap().unwrap();
    assert_eq!(stored.status(), sigil_domain::RequestStatus::Expired);
    let alice = approver(&state, "alice").await;
    let err = requests::approve(&state, &Caller::new(&alice), old.id(), "")
        .await
        .unwrap_err();
    assert_eq!(err.host_api_code(), ErrorCode::RequestNotPending, "{err}");

    // Pending across a restart, then approved and signed.
    let st = status(&c.upload_hash("two", HashAlgorithm::Sha256, &[9; 32]).await).clone();
    drop(c);
    drop(state);
    world.restart().await;
    let state = world.state();
    let mut c = world.logged_in("jenkins").await;
    assert_eq!(
        status(&c.retrieve_hash(&st.id).await).outcome,
        Wire::Pending
    );
    for who in ["alice", "bob"] {
        let session = approver(&state, who).await;
        requests::approve(&state, &Caller::new(&session), domain_id(&st.id), "")
            .await
            .unwrap();
    }
    let sig = signature(&c.retrieve_hash(&st.id).await);
    assert!(!sig.is_empty());

    // The requester lists its own requests only; an approver sees its group's.
    let jenkins_session = {
        let mut s = Session::new(Interface::Https);
        auth::login(
            &state,
            &mut s,
            "builder2",
            PASSWORD.as_bytes(),
            LoginContext::default(),
        )
        .await
        .unwrap();
        s
    };
    let theirs = requests::list(
        &state,
        &Caller::new(&jenkins_session),
        RequestFilter::default(),
    )
    .await
    .unwrap();
    assert!(theirs.is_empty());
    let all = requests::list(&state, &Caller::new(&alice), RequestFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_pipelined_uploads_on_one_connection_are_answered_in_order() {
    let world = world().await;
    let mut c = world.logged_in("jenkins").await;
    const N: usize = 300;
    let mut out = Vec::new();
    let mut digests = Vec::new();
    for i in 0..N {
        let digest = sha2::Sha256::digest(format!("file {i}")).to_vec();
        let ag = sigil_proto::CorrelationId::new(format!("f{i}")).unwrap();
        Request::UploadHash(upload("ec", HashAlgorithm::Sha256, &digest))
            .encode(Some(&ag), &mut out)
            .unwrap();
        digests.push(digest);
    }
    // All requests in one write, before reading anything.
    c.send_raw(&out).await;
    let mut signatures = Vec::new();
    for i in 0..N {
        let (ag, response) = c.recv_with_ag().await;
        assert_eq!(ag, Some(format!("f{i}")), "answers come in request order");
        signatures.push(signature(&response));
    }
    // Each signature is over its own digest (checked against the certificate's key).
    let info = match c
        .call(Request::GetPolicy {
            policy: "ec".into(),
        })
        .await
    {
        Response::GetPolicy(info) => info,
        other => panic!("{other:?}"),
    };
    let spki = {
        use sigil_pki::x509_cert::der::{Decode, Encode};
        let mut reader =
            sigil_pki::x509_cert::der::SliceReader::new(&info.certificate_chain).unwrap();
        let leaf = sigil_pki::x509_cert::Certificate::decode(&mut reader).unwrap();
        leaf.tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .unwrap()
    };
    for (digest, sig) in digests.iter().zip(&signatures) {
        sigil_keys::verify_digest(
            &spki,
            sigil_keys::HashAlgorithm::Sha256,
            sigil_keys::RsaPadding::Pkcs1v15,
            digest,
            sig,
        )
        .unwrap();
    }
    assert_eq!(
        request_count(&world.state()).await,
        N,
        "one stored request per upload"
    );
}

/// The per-request reads are cached, but a change to the policy takes effect on the next
/// request: a policy switched to a key that does not match its certificate fails the next
/// signature (stored as failed, with both events), and a policy no longer open to the
/// requester's role is not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_changes_apply_at_once_and_a_failed_signature_is_stored() {
    let world = world().await;
    let state = world.state();
    let mut c = world.logged_in("jenkins").await;
    let digest = sha2::Sha256::digest(b"first").to_vec();
    // Fills the cache: policy, chain, key.
    signature(&c.upload_hash("ec", HashAlgorithm::Sha256, &digest).await);

    let alias = PolicyAlias::new("ec").unwrap();
    let ec = state.store.get_policy(&alias).await.unwrap().unwrap();
    let rsa = state
        .store
        .get_policy(&PolicyAlias::new("rsa-pkcs1").unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut wrong_key = ec.draft().clone();
    wrong_key.key_id = rsa.draft().key_id;
    commit(
        &state,
        vec![Change::UpdatePolicy(Box::new(
            sigil_domain::IssuancePolicy::new(wrong_key).unwrap(),
        ))],
    )
    .await;
    let (code, message) = failure(&c.upload_hash("ec", HashAlgorithm::Sha256, &digest).await);
    assert_eq!(code, ErrorCode::SigningFailed, "{message}");
    let failed = state
        .store
        .list_requests(&RequestFilter {
            state: Some(sigil_domain::RequestStatus::Failed),
            ..RequestFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    let object = failed[0].id().to_string();
    let events: Vec<_> = state
        .store
        .read_audit(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.object.as_deref() == Some(object.as_str()))
        .collect();
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        actions,
        [("request.create", "success"), ("request.sign", "failure")]
    );
    assert_eq!(events[1].seq, events[0].seq + 1, "one commit, chained");
    // The signing outcome is recorded on the interface, and from the address, of the upload.
    let source = c.stream.get_ref().0.local_addr().unwrap().to_string();
    assert_eq!(
        events[1].source.as_deref(),
        Some(source.as_str()),
        "{:?}",
        events[1]
    );
    assert_eq!(
        events[1].interface.as_deref(),
        Some("host-api"),
        "{:?}",
        events[1]
    );

    // Closed to the requester's role: not found at once.
    let mut closed = ec.draft().clone();
    closed.roles = [sigil_domain::RoleName::new("approver").unwrap()]
        .into_iter()
        .collect();
    commit(
        &state,
        vec![Change::UpdatePolicy(Box::new(
            sigil_domain::IssuancePolicy::new(closed).unwrap(),
        ))],
    )
    .await;
    assert_code(
        &c.upload_hash("ec", HashAlgorithm::Sha256, &digest).await,
        ErrorCode::PolicyNotFound,
    );
}

/// Pipelined frames run concurrently but a login is a barrier: every upload before it is
/// refused as not logged in, every one after it is signed, and all answers (more frames than
/// the server's in-flight bound) come back in request order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_in_the_middle_of_a_pipeline_applies_to_exactly_the_frames_after_it() {
    let world = world().await;
    let mut c = world.connect().await;
    const BEFORE: usize = 32;
    const AFTER: usize = 96;
    let mut out = Vec::new();
    let mut digests = Vec::new();
    for i in 0..BEFORE + 1 + AFTER {
        let ag = sigil_proto::CorrelationId::new(format!("p{i}")).unwrap();
        let request = if i == BEFORE {
            Request::Login(sigil_proto::Login {
                identity: "jenkins".into(),
                password: sigil_proto::Password::new(PASSWORD),
            })
        } else {
            let digest = sha2::Sha256::digest(format!("pipelined {i}")).to_vec();
            digests.push(digest.clone());
            Request::UploadHash(upload("ec", HashAlgorithm::Sha256, &digest))
        };
        request.encode(Some(&ag), &mut out).unwrap();
    }
    Request::Echo
        .encode(
            Some(&sigil_proto::CorrelationId::new("last").unwrap()),
            &mut out,
        )
        .unwrap();
    // Everything in one write, before reading anything.
    c.send_raw(&out).await;
    let mut signatures = Vec::new();
    for i in 0..BEFORE + 1 + AFTER {
        let (ag, response) = c.recv_with_ag().await;
        assert_eq!(ag, Some(format!("p{i}")), "answers come in request order");
        if i < BEFORE {
            assert_code(&response, ErrorCode::NotLoggedIn);
        } else if i == BEFORE {
            assert_eq!(
                response,
                Response::Login {
                    logins_remaining: 0
                }
            );
        } else {
            signatures.push(signature(&response));
        }
    }
    let (ag, response) = c.recv_with_ag().await;
    assert_eq!(ag.as_deref(), Some("last"));
    assert!(matches!(response, Response::Echo { .. }), "{response:?}");
    assert_eq!(signatures.len(), AFTER);

    // Each signature is over its own digest.
    let state = world.state();
    let policy = state
        .store
        .get_policy(&PolicyAlias::new("ec").unwrap())
        .await
        .unwrap()
        .unwrap();
    let certificate = state
        .store
        .get_certificate(&policy.draft().certificate)
        .await
        .unwrap()
        .unwrap();
    let spki = {
        use sigil_pki::x509_cert::der::{Decode, Encode};
        sigil_pki::x509_cert::Certificate::from_der(&certificate.der)
            .unwrap()
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .unwrap()
    };
    for (digest, sig) in digests.iter().skip(BEFORE).zip(&signatures) {
        sigil_keys::verify_digest(
            &spki,
            sigil_keys::HashAlgorithm::Sha256,
            sigil_keys::RsaPadding::Pkcs1v15,
            digest,
            sig,
        )
        .unwrap();
    }
    assert_eq!(
        request_count(&state).await,
        AFTER,
        "only the uploads after the login are stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_control_on_one_connection_and_shutdown_closes_it() {
    let mut world = world().await;
    let state = world.state();
    let pair = sigil_domain::Role::new(sigil_domain::RoleDraft {
        name: sigil_domain::RoleName::new("pair").unwrap(),
        role_type: sigil_domain::RoleType::Application,
        class: sigil_domain::RoleClass::Principal,
        logins_required: 2,
        permissions: [sigil_domain::Permission::SigningRequest]
            .into_iter()
            .collect(),
        interfaces: [Interface::HostApi].into_iter().collect(),
    })
    .unwrap();
    commit(
        &state,
        vec![
            Change::CreateRole(pair),
            Change::CreateIdentity(Box::new(identity("p1", &["pair"]))),
            Change::CreateIdentity(Box::new(identity("p2", &["pair"]))),
        ],
    )
    .await;
    drop(state);

    let mut c = world.connect().await;
    // One of two: logged in, but the role is not active yet.
    assert_eq!(
        c.login("p1", PASSWORD).await,
        Response::Login {
            logins_remaining: 1
        }
    );
    let (code, message) = failure(&c.call(Request::ListPolicies).await);
    assert_eq!(code, ErrorCode::NotPermitted);
    assert!(message.contains("1 more login"), "{message}");
    // The same identity again does not count twice.
    assert_code(&c.login("p1", PASSWORD).await, ErrorCode::AlreadyLoggedIn);
    // A second holder completes it.
    assert_eq!(
        c.login("p2", PASSWORD).await,
        Response::Login {
            logins_remaining: 0
        }
    );
    assert_eq!(
        c.call(Request::ListPolicies).await,
        Response::ListPolicies { policies: vec![] }
    );

    // Logins belong to the connection: a new one starts empty.
    let mut fresh = world.connect().await;
    assert_code(
        &fresh.call(Request::ListPolicies).await,
        ErrorCode::NotLoggedIn,
    );

    // Shutdown closes idle connections.
    let server = world.server.take().unwrap();
    let stopping = tokio::spawn(server.shutdown());
    assert!(c.closed().await);
    assert!(fresh.closed().await);
    stopping.await.unwrap();
}

/// An internal failure answers `INTERNAL` with a generic message and a correlation id, never
/// its detail: here the `signing_requests` table is dropped behind the running server.
#[tokio::test]
async fn an_internal_error_hides_its_detail_behind_an_id() {
    let world = world().await;
    let mut c = world.logged_in("builder2").await;
    let id = RequestId::new(uuid::Uuid::new_v4().to_string()).unwrap();
    assert_code(&c.retrieve_hash(&id).await, ErrorCode::RequestNotFound);
    let db = world.data.join("sigil.db");
    common::run_ok(
        "sqlite3",
        &[db.to_str().unwrap(), "DROP TABLE signing_requests"],
    );
    let (code, message) = failure(&c.retrieve_hash(&id).await);
    assert_eq!(code, ErrorCode::Internal, "{message}");
    let correlation = message
        .strip_prefix("internal server error (id ")
        .and_then(|rest| rest.strip_suffix("): the details are in the server's log"))
        .unwrap_or_else(|| panic!("not the generic message: {message}"));
    assert!(
        correlation.len() == 8 && correlation.bytes().all(|b| b.is_ascii_hexdigit()),
        "{message}"
    );
    for detail in ["signing_requests", "no such table", "store", "sqlite"] {
        assert!(!message.to_lowercase().contains(detail), "{message}");
    }
}

/// `request.*` audit events carry the Host API peer's address and the interface.
#[tokio::test]
async fn request_events_carry_the_source_address() {
    let world = world().await;
    let mut c = world.logged_in("builder2").await;
    let source = c.stream.get_ref().0.local_addr().unwrap().to_string();
    let up = c.upload_hash("two", HashAlgorithm::Sha256, &[9; 32]).await;
    let id = status(&up).id.clone();
    let events = world.state().store.read_audit(0, 1000).await.unwrap();
    let created = events
        .iter()
        .find(|e| e.action == "request.create" && e.object.as_deref() == Some(id.as_str()))
        .unwrap_or_else(|| panic!("no request.create for {id:?}: {events:?}"));
    assert_eq!(
        created.source.as_deref(),
        Some(source.as_str()),
        "{created:?}"
    );
    assert_eq!(
        created.interface.as_deref(),
        Some("host-api"),
        "{created:?}"
    );
}

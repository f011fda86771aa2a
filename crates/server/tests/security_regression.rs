//! Security regressions: each test is named after the flaw it prevents and fails on a server
//! that has it. Real server on 127.0.0.1, real TLS, both interfaces (issue 22).
//!
//! Sessions are re-checked on every request: an identity that is disabled, loses its role, is
//! deleted or is locked, or whose API key is deleted, stops working on the HTTPS sessions and
//! Host API connections it opened before. An approval is the act of one identity, which must hold the permission and be a
//! member itself. Revoking a client certificate closes the connections that presented it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use sigil_domain::{
    ApprovalGroup, CaName, Change, GroupName, Identity, RevocationReason, RoleName, SerialNumber,
};
use sigil_proto::{ErrorCode, HashAlgorithm, Request, RequestId, Response};
use sigil_server::AppState;
use sigil_server::service::certificates;
use sigil_testkit::hostapi::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

// ---- a small HTTPS client ------------------------------------------------------------------

/// An HTTP/1.1-over-TLS client for the HTTPS listener, with an optional client certificate.
struct Web {
    addr: SocketAddr,
    tls: TlsConnector,
}

#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
    retry_after: Option<u64>,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Web {
    fn new(world: &World, cert: Option<&(PathBuf, PathBuf)>) -> Self {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&world.root).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let config = match cert {
            Some((chain, key)) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(chain)
                    .unwrap()
                    .map(|c| c.unwrap())
                    .collect();
                builder
                    .with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key).unwrap())
                    .unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        Self {
            addr: world.server().https_addr(),
            tls: TlsConnector::from(Arc::new(config)),
        }
    }

    async fn open(&self) -> TlsStream<TcpStream> {
        self.open_from([127, 0, 0, 1].into()).await
    }

    /// A connection from the loopback address `source` (any of 127.0.0.0/8 reaches the
    /// server on 127.0.0.1).
    async fn open_from(&self, source: std::net::IpAddr) -> TlsStream<TcpStream> {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        let tcp = socket.connect(self.addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        self.tls.connect(name, tcp).await.unwrap()
    }

    /// One request on `stream`; the connection stays open for the next one. A write error is
    /// returned (the server may have closed the connection).
    async fn send(
        stream: &mut TlsStream<TcpStream>,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> std::io::Result<()> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} /api/v1{path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.flush().await
    }

    /// The next reply on `stream` (`Content-Length` bodies), `None` once the server closed.
    async fn receive(stream: &mut TlsStream<TcpStream>) -> Option<Reply> {
        let mut data = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&data[..end]).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let l = l.to_ascii_lowercase();
                        l.strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
                if data.len() >= end + 4 + length {
                    let retry_after = head.lines().find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("retry-after:")
                            .map(|v| v.trim().parse().unwrap())
                    });
                    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
                    let body = &data[end + 4..end + 4 + length];
                    let body = if body.is_empty() {
                        Value::Null
                    } else {
                        serde_json::from_slice(body).unwrap()
                    };
                    return Some(Reply {
                        status,
                        body,
                        retry_after,
                    });
                }
            }
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                assert!(data.is_empty(), "closed inside a reply");
                return None;
            }
            data.extend_from_slice(&buf[..n]);
        }
    }

    /// One request on a fresh connection.
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.call_from([127, 0, 0, 1].into(), method, path, token, body)
            .await
    }

    /// One request on a fresh connection from the loopback address `source`.
    async fn call_from(
        &self,
        source: std::net::IpAddr,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut stream = self.open_from(source).await;
        Self::send(&mut stream, method, path, token, body)
            .await
            .unwrap();
        Self::receive(&mut stream).await.expect("no reply")
    }

    /// A new HTTPS session with `names` logged in (each with its own password).
    async fn session(&self, names: &[&str]) -> String {
        let mut token: Option<String> = None;
        for who in names {
            let r = self
                .call(
                    "POST",
                    "/login",
                    token.as_deref(),
                    Some(json!({"identity": who, "password": PASSWORD})),
                )
                .await;
            assert_eq!(r.status, 200, "login of {who}: {:?}", r.body);
            if token.is_none() {
                token = Some(r.body["session"].as_str().unwrap().to_owned());
            }
        }
        token.unwrap()
    }
}

// ---- helpers ---------------------------------------------------------------------------------

async fn stored(state: &AppState, who: &str) -> Identity {
    state.store.get_identity(&name(who)).await.unwrap().unwrap()
}

/// Applies `change` to the stored identity `who` (what an administrator's update commits).
async fn update(state: &AppState, who: &str, change: impl FnOnce(&mut Identity)) {
    let mut identity = stored(state, who).await;
    change(&mut identity);
    commit(state, vec![Change::UpdateIdentity(Box::new(identity))]).await;
}

/// Locks `who` the way an attacker would: wrong passwords until the lockout threshold.
async fn lock_by_failed_logins(world: &World, who: &str) {
    let threshold = world
        .state()
        .store
        .settings()
        .await
        .unwrap()
        .lockout_threshold;
    let mut client = world.connect().await;
    for _ in 0..threshold {
        assert_code(
            &client.login(who, "wrong password, again").await,
            ErrorCode::AuthFailed,
        );
    }
    assert!(stored(&world.state(), who).await.locked);
}

/// A pending request under policy `two` (two approvals), submitted by `builder2`.
async fn pending_request(world: &World) -> RequestId {
    let mut builder = world.logged_in("builder2").await;
    let r = builder
        .upload_hash("two", HashAlgorithm::Sha256, &[0x5a; 32])
        .await;
    status(&r).id.clone()
}

async fn approvals(state: &AppState, id: &RequestId) -> Vec<String> {
    state
        .store
        .get_request(domain_id(id))
        .await
        .unwrap()
        .unwrap()
        .approvals()
        .iter()
        .map(|a| a.approver.to_string())
        .collect()
}

/// A Host API call that needs `signing:request`.
async fn upload(client: &mut Client) -> Response {
    client
        .upload_hash("ec", HashAlgorithm::Sha256, &[0x11; 32])
        .await
}

#[track_caller]
fn assert_signed_or_pending(response: &Response) {
    assert!(
        matches!(
            response,
            Response::UploadHash(_) | Response::RetrieveHash(_)
        ),
        "expected a request status, got {response:?}"
    );
}

// ---- sessions are re-checked on every request -----------------------------------------------

#[tokio::test]
async fn a_disabled_identity_keeps_working_on_sessions_opened_before() {
    let world = world().await;
    let state = world.state();
    let id = pending_request(&world).await;

    // Host API: jenkins, bound to its certificate, logged in before it is disabled.
    let mut jenkins = world.logged_in("jenkins").await;
    assert_signed_or_pending(&upload(&mut jenkins).await);
    // HTTPS: alice (approver) logged in before she is disabled.
    let web = Web::new(&world, None);
    let alice = web.session(&["alice"]).await;
    assert_eq!(
        web.call("GET", &format!("/requests/{id}"), Some(&alice), None)
            .await
            .status,
        200
    );

    update(&state, "jenkins", |i| i.enabled = false).await;
    update(&state, "alice", |i| i.enabled = false).await;

    assert_code(&upload(&mut jenkins).await, ErrorCode::IdentityDisabled);
    // The session has ended: the next call is simply not logged in.
    assert_code(&upload(&mut jenkins).await, ErrorCode::NotLoggedIn);
    // Re-enabling does not bring the old session back: log in again.
    update(&state, "jenkins", |i| i.enabled = true).await;
    assert_code(&upload(&mut jenkins).await, ErrorCode::NotLoggedIn);
    assert_eq!(
        jenkins.login("jenkins", PASSWORD).await,
        Response::Login {
            logins_remaining: 0
        }
    );
    assert_signed_or_pending(&upload(&mut jenkins).await);

    let r = web
        .call(
            "POST",
            &format!("/requests/{id}/approve"),
            Some(&alice),
            Some(json!({})),
        )
        .await;
    assert_eq!((r.status, r.code()), (401, "NOT_LOGGED_IN"), "{:?}", r.body);
    assert!(
        approvals(&state, &id).await.is_empty(),
        "nothing was approved"
    );
    // The token is gone for good.
    update(&state, "alice", |i| i.enabled = true).await;
    let r = web.call("GET", "/session", Some(&alice), None).await;
    assert_eq!((r.status, r.code()), (401, "NOT_LOGGED_IN"));
}

#[tokio::test]
async fn a_removed_role_keeps_working_on_sessions_opened_before() {
    let world = world().await;
    let state = world.state();
    let id = pending_request(&world).await;
    let mut builder = world.logged_in("builder2").await;
    assert_signed_or_pending(&upload(&mut builder).await);
    let web = Web::new(&world, None);
    let alice = web.session(&["alice"]).await;

    update(&state, "builder2", |i| i.roles.clear()).await;
    update(&state, "alice", |i| {
        i.roles.remove(&RoleName::new("approver").unwrap());
    })
    .await;

    assert_code(&upload(&mut builder).await, ErrorCode::NotPermitted);
    let r = web
        .call(
            "POST",
            &format!("/requests/{id}/approve"),
            Some(&alice),
            Some(json!({})),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{:?}", r.body);
    assert!(approvals(&state, &id).await.is_empty());
    // The session itself goes on, narrowed: it shows no permission any more.
    let r = web.call("GET", "/session", Some(&alice), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["permissions"], json!([]), "{:?}", r.body);

    // Giving the role back works at once, without a new login (the identity never left).
    update(&state, "builder2", |i| {
        i.roles.insert(RoleName::new("application").unwrap());
    })
    .await;
    assert_signed_or_pending(&upload(&mut builder).await);
}

#[tokio::test]
async fn a_deleted_identity_keeps_working_on_sessions_opened_before() {
    let world = world().await;
    let state = world.state();
    let id = pending_request(&world).await;
    commit(
        &state,
        vec![
            Change::CreateIdentity(Box::new(identity("tempbuild", &["application"]))),
            Change::CreateRole(reading_approver()),
            Change::CreateIdentity(Box::new(identity("tempread", &["reading-approver"]))),
        ],
    )
    .await;
    let mut temp = world.logged_in("tempbuild").await;
    assert_signed_or_pending(&upload(&mut temp).await);
    let web = Web::new(&world, None);
    let reader = web.session(&["tempread"]).await;
    let r = web
        .call("GET", &format!("/requests/{id}"), Some(&reader), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    commit(
        &state,
        vec![
            Change::DeleteIdentity(name("tempbuild")),
            Change::DeleteIdentity(name("tempread")),
        ],
    )
    .await;

    assert_code(&upload(&mut temp).await, ErrorCode::NotLoggedIn);
    let r = web
        .call("GET", &format!("/requests/{id}"), Some(&reader), None)
        .await;
    assert_eq!((r.status, r.code()), (401, "NOT_LOGGED_IN"), "{:?}", r.body);
    let r = web.call("GET", "/requests", Some(&reader), None).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_deleted_api_key_keeps_working_on_sessions_opened_before() {
    let world = world().await;
    let state = world.state();
    let key = sigil_domain::generate_api_key(name("builder2"), "ci", state.now(), &mut rand::rng());
    commit(&state, vec![Change::AddApiKey(key.record.clone())]).await;

    let mut host = world.connect().await;
    assert_eq!(
        host.login("builder2", &key.token).await,
        Response::Login {
            logins_remaining: 0
        }
    );
    assert_signed_or_pending(&upload(&mut host).await);
    let web = Web::new(&world, None);
    let r = web
        .call(
            "POST",
            "/login",
            None,
            Some(json!({"identity": "builder2", "password": key.token.as_str()})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let token = r.body["session"].as_str().unwrap().to_owned();
    assert_eq!(
        web.call("GET", "/requests", Some(&token), None)
            .await
            .status,
        200
    );
    // A password login of the same identity is not affected by the key.
    let mut by_password = world.logged_in("builder2").await;

    commit(&state, vec![Change::DeleteApiKey(key.record.id.clone())]).await;

    assert_code(&upload(&mut host).await, ErrorCode::NotLoggedIn);
    let r = web.call("GET", "/requests", Some(&token), None).await;
    assert_eq!((r.status, r.code()), (401, "NOT_LOGGED_IN"), "{:?}", r.body);
    assert_signed_or_pending(&upload(&mut by_password).await);
}

#[tokio::test]
async fn a_locked_identity_keeps_working_on_sessions_opened_before() {
    let world = world().await;
    let state = world.state();
    let id = pending_request(&world).await;
    let mut builder = world.logged_in("builder2").await;
    assert_signed_or_pending(&upload(&mut builder).await);
    let web = Web::new(&world, None);
    let alice = web.session(&["alice"]).await;

    // Failed logins elsewhere lock both (a login counter change, not an administrator's).
    lock_by_failed_logins(&world, "builder2").await;
    for _ in 0..state.store.settings().await.unwrap().lockout_threshold {
        let r = web
            .call(
                "POST",
                "/login",
                None,
                Some(json!({"identity": "alice", "password": "wrong password, again"})),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    assert!(stored(&state, "alice").await.locked);

    assert_code(&upload(&mut builder).await, ErrorCode::IdentityLocked);
    let r = web
        .call(
            "POST",
            &format!("/requests/{id}/approve"),
            Some(&alice),
            Some(json!({})),
        )
        .await;
    assert_eq!((r.status, r.code()), (401, "NOT_LOGGED_IN"), "{:?}", r.body);
    assert!(approvals(&state, &id).await.is_empty());
}

#[tokio::test]
async fn an_administrator_session_outlives_the_lock_of_its_administrators() {
    let world = world().await;
    let state = world.state();
    commit(
        &state,
        vec![
            Change::CreateIdentity(Box::new(identity("root1", &["administrator"]))),
            Change::CreateIdentity(Box::new(identity("root2", &["administrator"]))),
        ],
    )
    .await;
    let web = Web::new(&world, None);
    let admins = web.session(&["root1", "root2"]).await;
    assert_eq!(
        web.call("GET", "/identities", Some(&admins), None)
            .await
            .status,
        200
    );

    // One administrator locked: dual control no longer holds, the session is narrowed.
    update(&state, "root2", |i| i.locked = true).await;
    let r = web.call("GET", "/identities", Some(&admins), None).await;
    assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{:?}", r.body);
    let r = web.call("GET", "/session", Some(&admins), None).await;
    assert_eq!(r.body["identities"], json!(["root1"]), "{:?}", r.body);

    // Both locked: the session has ended.
    update(&state, "root1", |i| i.locked = true).await;
    let r = web.call("GET", "/identities", Some(&admins), None).await;
    assert_eq!((r.status, r.code()), (401, "NOT_LOGGED_IN"), "{:?}", r.body);
}

// ---- an approval is the act of one identity --------------------------------------------------

#[tokio::test]
async fn permission_and_membership_from_two_identities_approve_a_request() {
    let world = world().await;
    let state = world.state();
    let mut group = state
        .store
        .get_group(&GroupName::new("release-approvers").unwrap())
        .await
        .unwrap()
        .unwrap();
    group.members.insert(name("memberx"));
    commit(
        &state,
        vec![
            // approver2 holds signing:approve (and reads every request, so the refusal below
            // comes from the approval rule, not the read rule) but is no member; memberx is a
            // member without it.
            Change::CreateRole(reading_approver()),
            Change::CreateIdentity(Box::new(identity("approver2", &["reading-approver"]))),
            Change::CreateIdentity(Box::new(identity("memberx", &["application"]))),
            Change::UpdateGroup(ApprovalGroup { ..group }),
        ],
    )
    .await;
    let id = pending_request(&world).await;
    let web = Web::new(&world, None);
    let both = web.session(&["approver2", "memberx"]).await;

    for body in [
        json!({}),
        json!({"as": "memberx"}),
        json!({"as": "approver2"}),
    ] {
        let r = web
            .call(
                "POST",
                &format!("/requests/{id}/approve"),
                Some(&both),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (403, "NOT_PERMITTED"),
            "{body}: {:?}",
            r.body
        );
    }
    let r = web
        .call(
            "POST",
            &format!("/requests/{id}/deny"),
            Some(&both),
            Some(json!({"comment": "no", "as": "memberx"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{:?}", r.body);
    assert!(approvals(&state, &id).await.is_empty());
    let request = state
        .store
        .get_request(domain_id(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.status(), sigil_domain::RequestStatus::Pending);
}

#[tokio::test]
async fn permission_and_membership_from_two_identities_read_group_requests() {
    let world = world().await;
    let state = world.state();
    let mut group = state
        .store
        .get_group(&GroupName::new("release-approvers").unwrap())
        .await
        .unwrap()
        .unwrap();
    group.members.insert(name("memberx"));
    // A role with signing:approve only (no signing:read-all): reading rests on membership.
    let approve_only = sigil_domain::Role::new(sigil_domain::RoleDraft {
        name: RoleName::new("approve-only").unwrap(),
        role_type: sigil_domain::RoleType::Approver,
        class: sigil_domain::RoleClass::Principal,
        logins_required: 1,
        permissions: [sigil_domain::Permission::SigningApprove]
            .into_iter()
            .collect(),
        interfaces: [sigil_domain::Interface::Https].into_iter().collect(),
    })
    .unwrap();
    commit(
        &state,
        vec![
            Change::CreateRole(approve_only),
            Change::CreateIdentity(Box::new(identity("approver3", &["approve-only"]))),
            Change::CreateIdentity(Box::new(identity("memberx", &["application"]))),
            Change::UpdateGroup(ApprovalGroup { ..group }),
        ],
    )
    .await;
    let id = pending_request(&world).await;
    let web = Web::new(&world, None);
    let both = web.session(&["approver3", "memberx"]).await;
    let r = web
        .call("GET", &format!("/requests/{id}"), Some(&both), None)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (404, "REQUEST_NOT_FOUND"),
        "{:?}",
        r.body
    );
    let r = web.call("GET", "/requests", Some(&both), None).await;
    assert_eq!((r.status, r.body.clone()), (200, json!([])));
}

#[tokio::test]
async fn an_approval_by_a_session_of_several_approvers_names_who_approved() {
    let world = world().await;
    let state = world.state();
    let id = pending_request(&world).await;
    let web = Web::new(&world, None);
    let pair = web.session(&["alice", "bob"]).await;

    // Both qualify: the caller must say who approves; the candidates are listed.
    let r = web
        .call(
            "POST",
            &format!("/requests/{id}/approve"),
            Some(&pair),
            Some(json!({})),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{:?}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("alice") && message.contains("bob"),
        "{message}"
    );
    // Naming someone not on the session is refused.
    let r = web
        .call(
            "POST",
            &format!("/requests/{id}/approve"),
            Some(&pair),
            Some(json!({"as": "carol"})),
        )
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(approvals(&state, &id).await.is_empty());

    let r = web
        .call(
            "POST",
            &format!("/requests/{id}/approve"),
            Some(&pair),
            Some(json!({"as": "bob"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(approvals(&state, &id).await, vec!["bob".to_owned()]);
    // bob approved: alice is now the only one who may, no name needed.
    let r = web
        .call(
            "POST",
            &format!("/requests/{id}/approve"),
            Some(&pair),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["state"], "signed", "{:?}", r.body);

    // The audit events name each approving identity, not the session's principal.
    let events = state.store.read_audit(1, 10_000).await.unwrap();
    let approvers: Vec<_> = events
        .iter()
        .filter(|e| e.action == "request.approve" && e.outcome == "success")
        .map(|e| e.identity.clone().unwrap_or_default())
        .collect();
    assert_eq!(approvers, vec!["bob".to_owned(), "alice".to_owned()]);
}

// ---- revocation closes connections -----------------------------------------------------------

/// A client certificate with CN `cn` and its serial.
async fn revocable_certificate(
    state: &AppState,
    dir: &Path,
    cn: &str,
) -> ((PathBuf, PathBuf), SerialNumber) {
    let (cert, key, serial) = issued_client_certificate(state, dir, "system-tls-root", cn).await;
    ((cert, key), serial)
}

#[tokio::test]
async fn a_revoked_client_certificate_keeps_working_on_open_connections() {
    let world = world().await;
    let state = world.state();
    let (cert, serial) = revocable_certificate(&state, world.dir.path(), "revokee").await;
    let (other_cert, _) = revocable_certificate(&state, world.dir.path(), "bystander").await;

    // Host API: a logged-in connection, and another certificate's connection beside it.
    let mut host = world.connect_as(&cert).await;
    assert_eq!(
        host.login("builder2", PASSWORD).await,
        Response::Login {
            logins_remaining: 0
        }
    );
    assert_signed_or_pending(&upload(&mut host).await);
    let mut bystander = world.connect_as(&other_cert).await;
    assert!(matches!(
        bystander.call(Request::Echo).await,
        Response::Echo { .. }
    ));

    // HTTPS: a kept-alive connection with the certificate.
    let web = Web::new(&world, Some(&cert));
    let mut https = web.open().await;
    Web::send(&mut https, "GET", "/health", None, None)
        .await
        .unwrap();
    assert_eq!(Web::receive(&mut https).await.unwrap().status, 200);

    certificates::revoke::perform(&state, "test", &serial, RevocationReason::KeyCompromise)
        .await
        .unwrap();

    // Both connections of the revoked certificate are closed; the next request is not answered.
    let mut frame = Vec::new();
    Request::Echo.encode(None, &mut frame).unwrap();
    let _ = host.stream.write_all(&frame).await;
    let _ = host.stream.flush().await;
    assert!(
        host.closed().await,
        "the Host API connection must be closed"
    );
    let _ = Web::send(&mut https, "GET", "/health", None, None).await;
    assert!(
        Web::receive(&mut https).await.is_none(),
        "the HTTPS connection must be closed"
    );
    // The other certificate's connection goes on.
    assert!(matches!(
        bystander.call(Request::Echo).await,
        Response::Echo { .. }
    ));
    assert_eq!(state.live.len(), 1, "only the bystander is registered");
}

/// An approver role that also reads every request (the built-in `approver` reads only its
/// groups' requests).
fn reading_approver() -> sigil_domain::Role {
    sigil_domain::Role::new(sigil_domain::RoleDraft {
        name: RoleName::new("reading-approver").unwrap(),
        role_type: sigil_domain::RoleType::Approver,
        class: sigil_domain::RoleClass::Principal,
        logins_required: 1,
        permissions: [
            sigil_domain::Permission::SigningApprove,
            sigil_domain::Permission::SigningReadAll,
        ]
        .into_iter()
        .collect(),
        interfaces: [sigil_domain::Interface::Https].into_iter().collect(),
    })
    .unwrap()
}

#[tokio::test]
async fn a_certificate_under_a_revoked_intermediate_ca_still_signed() {
    let world = world().await;
    let state = world.state();
    let mut jenkins = world.logged_in("jenkins").await;
    assert_signed_or_pending(&upload(&mut jenkins).await);
    // The parent (system-tls-root) revokes the intermediate "code-ca" that issued the
    // certificate of policy "ec"; the code-signing certificate itself is not revoked.
    let ca = state
        .store
        .get_ca(&CaName::new("code-ca").unwrap())
        .await
        .unwrap()
        .unwrap();
    let ca_serial = state
        .store
        .list_certificates(None)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.der == ca.certificate_der)
        .unwrap()
        .serial;
    certificates::revoke::perform(&state, "test", &ca_serial, RevocationReason::CaCompromise)
        .await
        .unwrap();
    let refused = upload(&mut jenkins).await;
    assert_code(&refused, ErrorCode::SigningFailed);
    let (_, message) = failure(&refused);
    assert!(
        message.contains("intermediate CA") && message.contains(&ca_serial.to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn pki_audit_events_lacked_the_source_address_and_interface() {
    let world = world().await;
    let state = world.state();
    commit(
        &state,
        vec![
            Change::CreateIdentity(Box::new(identity("root1", &["administrator"]))),
            Change::CreateIdentity(Box::new(identity("root2", &["administrator"]))),
        ],
    )
    .await;
    let web = Web::new(&world, None);
    let admins = web.session(&["root1", "root2"]).await;
    let r = web
        .call("GET", "/cas/code-ca/crl", Some(&admins), None)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let events = state.store.read_audit(1, 10_000).await.unwrap();
    let crl = events
        .iter()
        .rev()
        .find(|e| e.action == "ca.crl")
        .expect("a ca.crl event");
    assert_eq!(crl.interface.as_deref(), Some("https"), "{crl:?}");
    assert!(
        crl.source
            .as_deref()
            .is_some_and(|s| s.starts_with("127.0.0.1:")),
        "{crl:?}"
    );
    assert!(crl.identity.is_some(), "{crl:?}");
}

#[tokio::test]
async fn repeated_refused_calls_grew_the_audit_log_without_bound() {
    let world = world_with(|c| c.refusal_audit.limit = 5).await;
    let state = world.state();
    let web = Web::new(&world, None);
    let alice = web.session(&["alice"]).await;
    let before = state.store.audit_head().await.unwrap().seq;
    for _ in 0..30 {
        let r = web.call("GET", "/identities", Some(&alice), None).await;
        assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{r:?}");
    }
    let events = state.store.read_audit(before + 1, 10_000).await.unwrap();
    let refused = events
        .iter()
        .filter(|e| e.details.get("reason").map(String::as_str) == Some("not permitted"))
        .count();
    let summaries: Vec<_> = events
        .iter()
        .filter(|e| e.action == "audit.refusals-counted")
        .collect();
    // Each HTTPS call is its own connection: the identity's budget is the one that binds.
    assert_eq!(refused, 5, "{events:?}");
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    assert_eq!(summaries[0].identity.as_deref(), Some("alice"));
    // Past the limit the answer is the same: only the audit record is a count.
    let r = web.call("GET", "/identities", Some(&alice), None).await;
    assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{r:?}");
}

#[tokio::test]
async fn failed_calls_were_never_rate_limited() {
    let world = world_with(|c| {
        c.failure_limit = sigil_domain::FailureLimitPolicy {
            limit: 5,
            // Long enough that every step below runs in one window; the summaries are
            // written at shutdown (or when a window ends).
            window: std::time::Duration::from_secs(600),
        };
    })
    .await;
    let state = world.state();
    let before = state.store.audit_head().await.unwrap().seq;
    let web = Web::new(&world, None);
    let elsewhere: std::net::IpAddr = [127, 0, 0, 2].into();

    // HTTPS: five refused calls of alice's session from 127.0.0.1 ...
    let alice = web.session(&["alice"]).await;
    for _ in 0..5 {
        let r = web.call("GET", "/identities", Some(&alice), None).await;
        assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{r:?}");
    }
    // ... then that address is refused whatever it calls, with Retry-After, not run ...
    for _ in 0..20 {
        let r = web.call("GET", "/health", None, None).await;
        assert_eq!((r.status, r.code()), (429, "TOO_MANY_FAILURES"), "{r:?}");
        assert!(
            r.retry_after.is_some_and(|s| (1..=600).contains(&s)),
            "{r:?}"
        );
    }
    // ... and so is alice's session from another address (per identity) ...
    let r = web
        .call_from(elsewhere, "GET", "/session", Some(&alice), None)
        .await;
    assert_eq!((r.status, r.code()), (429, "TOO_MANY_FAILURES"), "{r:?}");
    // ... while another identity from that address is not affected.
    let carol = {
        let r = web
            .call_from(
                elsewhere,
                "POST",
                "/login",
                None,
                Some(json!({"identity": "carol", "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        r.body["session"].as_str().unwrap().to_owned()
    };
    let r = web
        .call_from(elsewhere, "GET", "/requests", Some(&carol), None)
        .await;
    assert_eq!(r.status, 200, "{r:?}");

    // Host API: refused commands count per connection and per identity.
    let mut first = world.logged_in("builder2").await;
    let unknown = || Request::GetPolicy {
        policy: "no-such-policy".into(),
    };
    let code = |r: Response| match r {
        Response::Failure(f) => f.code,
        other => panic!("{other:?}"),
    };
    for _ in 0..5 {
        assert_eq!(code(first.call(unknown()).await), ErrorCode::PolicyNotFound);
    }
    for _ in 0..10 {
        assert_eq!(
            code(first.call(unknown()).await),
            ErrorCode::TooManyFailures
        );
    }
    // The connection stays open; even a command that would succeed is refused.
    assert_eq!(
        code(first.call(Request::ListPolicies).await),
        ErrorCode::TooManyFailures
    );
    // builder2 on a new connection: its login is the connection's own, its calls are
    // builder2's.
    let mut second = world.logged_in("builder2").await;
    assert_eq!(
        code(second.call(Request::ListPolicies).await),
        ErrorCode::TooManyFailures
    );
    // Another identity on a new connection from the same address is not affected.
    let mut third = world.logged_in("selfie").await;
    assert!(
        matches!(
            third.call(Request::ListPolicies).await,
            Response::ListPolicies { .. }
        ),
        "selfie was throttled too"
    );

    // Not one audit event per refusal: the five refused calls of each interface, then one
    // summary per throttled key, written when its window ends (here: at shutdown).
    let mut world = world;
    world.server.take().unwrap().shutdown().await;
    let events = state.store.read_audit(before + 1, 10_000).await.unwrap();
    let refusals = events
        .iter()
        .filter(|e| {
            e.action.ends_with("refused")
                || e.details.get("reason").map(String::as_str) == Some("not permitted")
        })
        .count();
    assert!(refusals <= 10, "{refusals} refusal events: {events:#?}");
    let mut summaries: Vec<(String, String, String)> = events
        .iter()
        .filter(|e| e.action == "calls.throttled")
        .map(|e| {
            (
                e.details["key"].clone(),
                e.details["failures"].clone(),
                e.details["refused"].clone(),
            )
        })
        .collect();
    summaries.sort();
    let connection = summaries
        .iter()
        .find(|s| s.0.starts_with("connection 127.0.0.1:"))
        .cloned()
        .expect("a summary of the first connection");
    assert_eq!((connection.1.as_str(), connection.2.as_str()), ("5", "11"));
    let expected = vec![
        (
            "address 127.0.0.1".to_owned(),
            "5".to_owned(),
            "20".to_owned(),
        ),
        connection,
        ("identity alice".to_owned(), "5".to_owned(), "1".to_owned()),
        (
            "identity builder2".to_owned(),
            "5".to_owned(),
            "12".to_owned(),
        ),
    ];
    assert_eq!(summaries, expected, "{events:#?}");
}

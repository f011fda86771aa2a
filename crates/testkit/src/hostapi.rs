//! The Host API test deployment and client of the server's tests (`hostapi.rs`,
//! `signing_formats.rs`, `hsm.rs`, …): `init` + `start` on 127.0.0.1:0, identities, a
//! code-signing CA with RSA and ECDSA keys, policies, and a rustls + `sigil-proto` client with a
//! client certificate.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::openssl::openssl_csr;
use crate::server::options;
use sigil_domain::{
    ApprovalGroup, AuditDraft, CaName, CertProfile, Change, GroupName, HashAlgorithm as DomainHash,
    Identity, IdentityKind, IdentityName, Interface, IssuancePolicy, Outcome, PasswordParams,
    Permission, PolicyAlias, PolicyDraft, RequestFilter, RequestId as DomainRequestId, Role,
    RoleClass, RoleDraft, RoleName, RoleType, RsaScheme, Session, SigningFormat, hash_password,
};
use sigil_proto::{
    Direction, ErrorCode, Frame, FrameDecoder, HashAlgorithm, Metadata, Outcome as Wire, Password,
    Request, RequestId, RequestStatus, Response, Upload,
};
use sigil_server::service::auth::{self, LoginContext};
use sigil_server::service::pki::{IssueArgs, KeySource, NewCaArgs};
use sigil_server::service::{cas, certificates};
use sigil_server::{AppState, RunningServer, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The password of every identity the deployment makes.
pub const PASSWORD: &str = "correct horse; battery";

// ---- the deployment -------------------------------------------------------------------

/// A running deployment with identities, a code-signing CA, keys and policies.
pub struct World {
    /// Holds everything the test writes.
    pub dir: tempfile::TempDir,
    /// The server's data directory.
    pub data: PathBuf,
    /// The running server (`None` only while [`World::restart`] restarts it).
    pub server: Option<RunningServer>,
    /// The deployment's root CA (PEM), to verify the server against.
    pub root: PathBuf,
    /// (cert chain PEM, key PEM) paths per client certificate CN.
    pub jenkins: (PathBuf, PathBuf),
    /// A second client certificate (CN `other`), bound to no identity.
    pub other: (PathBuf, PathBuf),
}

impl World {
    /// The running server.
    pub fn server(&self) -> &RunningServer {
        self.server.as_ref().unwrap()
    }

    /// The server's state (store, clock, configuration).
    pub fn state(&self) -> Arc<AppState> {
        self.server().state().clone()
    }

    /// A Host API connection with the `jenkins` client certificate.
    pub async fn connect(&self) -> Client {
        Client::connect(self.server(), &self.root, &self.jenkins).await
    }

    /// A Host API connection with another client certificate.
    pub async fn connect_as(&self, cert: &(PathBuf, PathBuf)) -> Client {
        Client::connect(self.server(), &self.root, cert).await
    }

    /// A Host API connection with `name` logged in (its own password).
    pub async fn logged_in(&self, name: &str) -> Client {
        let mut client = self.connect().await;
        let r = client.login(name, PASSWORD).await;
        assert_eq!(
            r,
            Response::Login {
                logins_remaining: 0
            },
            "login of {name}"
        );
        client
    }

    /// Stops the server and starts it again on the same data (new ports).
    pub async fn restart(&mut self) {
        self.server.take().unwrap().shutdown().await;
        self.server = Some(sigil_server::start(config(&self.data)).await.unwrap());
    }
}

pub use crate::server::config;

/// An identity name (valid by construction in the tests).
pub fn name(n: &str) -> IdentityName {
    IdentityName::new(n).unwrap()
}

/// A person with `roles` and the password [`PASSWORD`] (cheap hash).
pub fn identity(n: &str, roles: &[&str]) -> Identity {
    let mut id = Identity::new(name(n), IdentityKind::Person);
    id.roles = roles.iter().map(|r| RoleName::new(*r).unwrap()).collect();
    id.password = Some(
        hash_password(
            PASSWORD.as_bytes(),
            &PasswordParams::INSECURE_FOR_TESTS,
            &mut rand::rng(),
        )
        .unwrap(),
    );
    id
}

/// Commits `changes` to the store directly, audited as `test.setup`.
pub async fn commit(state: &AppState, changes: Vec<Change>) {
    state
        .store
        .commit(
            changes,
            AuditDraft::new(state.now(), "test.setup", Outcome::Success).identity("test"),
        )
        .await
        .unwrap();
}

/// A `tls-client` certificate from `system-tls-root` for an openssl-made key with CN `cn`.
pub async fn client_certificate(state: &AppState, dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
    let (cert, key, _) = issued_client_certificate(state, dir, "system-tls-root", cn).await;
    (cert, key)
}

/// A `tls-client` certificate from the CA `issuer` for an openssl-made key with CN `cn`:
/// (certificate chain path, key path, serial).
pub async fn issued_client_certificate(
    state: &AppState,
    dir: &Path,
    issuer: &str,
    cn: &str,
) -> (PathBuf, PathBuf, sigil_domain::SerialNumber) {
    let (key, csr) = openssl_csr(dir, cn);
    let issued = certificates::issue::perform(
        state,
        "test",
        IssueArgs {
            issuer: CaName::new(issuer).unwrap(),
            profile: CertProfile::TlsClient,
            subject: None,
            sans: vec![],
            validity_days: 30,
            key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
            key: KeySource::Csr(csr),
        },
    )
    .await
    .unwrap();
    let cert = dir.join(format!("{cn}.pem"));
    std::fs::write(&cert, issued.chain_pem().unwrap()).unwrap();
    (cert, key, issued.record.serial)
}

/// A code-signing certificate with a Sigil-held key of `algorithm`; returns (serial, key id).
pub async fn code_signing(
    state: &AppState,
    cn: &str,
    algorithm: sigil_keys::KeyAlgorithm,
) -> (sigil_domain::SerialNumber, sigil_domain::KeyId) {
    let issued = certificates::issue::perform(
        state,
        "test",
        IssueArgs {
            issuer: CaName::new("code-ca").unwrap(),
            profile: CertProfile::CodeSigning,
            subject: Some(format!("CN={cn}")),
            sans: vec![],
            validity_days: 30,
            key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
            key: KeySource::Generate(algorithm),
        },
    )
    .await
    .unwrap();
    (issued.record.serial, issued.record.key_id.unwrap())
}

/// A policy on `cert` (serial, key id) for `roles`; approvals come from `release-approvers`.
#[allow(clippy::too_many_arguments)]
pub fn policy(
    alias: &str,
    cert: &(sigil_domain::SerialNumber, sigil_domain::KeyId),
    scheme: RsaScheme,
    approvals: u32,
    hashes: &[DomainHash],
    formats: &[SigningFormat],
    roles: &[&str],
) -> Change {
    Change::CreatePolicy(Box::new(
        IssuancePolicy::new(PolicyDraft {
            alias: PolicyAlias::new(alias).unwrap(),
            certificate: cert.0.clone(),
            key_id: cert.1,
            rsa_scheme: scheme,
            approvals_required: approvals,
            approval_group: (approvals > 0).then(|| GroupName::new("release-approvers").unwrap()),
            hashes: hashes.iter().copied().collect(),
            formats: formats.iter().copied().collect(),
            request_lifetime_secs: 3600,
            roles: roles.iter().map(|r| RoleName::new(*r).unwrap()).collect(),
            timestamp_required: false,
        })
        .unwrap(),
    ))
}

/// The deployment with the test configuration.
pub async fn world() -> World {
    world_with(|_| {}).await
}

/// [`world`] with the server configuration changed by `adjust` first.
pub async fn world_with(adjust: impl FnOnce(&mut ServerConfig)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let report = sigil_server::init(&options(&data)).await.unwrap();
    let mut cfg = config(&data);
    adjust(&mut cfg);
    let server = sigil_server::start(cfg).await.unwrap();
    let state = server.state().clone();

    let jenkins = client_certificate(&state, dir.path(), "jenkins").await;
    let other = client_certificate(&state, dir.path(), "other").await;

    cas::create::perform(
        &state,
        "test",
        NewCaArgs {
            name: CaName::new("code-ca").unwrap(),
            key_algorithm: sigil_keys::KeyAlgorithm::EcdsaP256,
            subject: "CN=Jenkins Code Signing CA".into(),
            validity_days: 365,
            key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
            parent: Some(CaName::new("system-tls-root").unwrap()),
            path_len: Some(0),
        },
    )
    .await
    .unwrap();
    let rsa = code_signing(&state, "RSA signer", sigil_keys::KeyAlgorithm::Rsa2048).await;
    let ec = code_signing(&state, "EC signer", sigil_keys::KeyAlgorithm::EcdsaP256).await;

    let watcher = Role::new(RoleDraft {
        name: RoleName::new("watcher").unwrap(),
        role_type: RoleType::Application,
        class: RoleClass::Principal,
        logins_required: 1,
        permissions: [Permission::AuditRead].into_iter().collect(),
        interfaces: [Interface::HostApi].into_iter().collect(),
    })
    .unwrap();
    let mut bound = identity("jenkins", &["application"]);
    bound.require_client_certificate = true;
    let mut locked = identity("locky", &["application"]);
    locked.locked = true;
    let mut disabled = identity("off", &["application"]);
    disabled.enabled = false;
    let mut changes = vec![
        Change::CreateRole(watcher),
        Change::CreateIdentity(Box::new(bound)),
        Change::CreateIdentity(Box::new(identity("builder2", &["application"]))),
        Change::CreateIdentity(Box::new(identity("watcher", &["watcher"]))),
        Change::CreateIdentity(Box::new(locked)),
        Change::CreateIdentity(Box::new(disabled)),
        Change::CreateIdentity(Box::new(identity("alice", &["approver"]))),
        Change::CreateIdentity(Box::new(identity("bob", &["approver"]))),
        Change::CreateIdentity(Box::new(identity("carol", &["approver"]))),
        Change::CreateIdentity(Box::new(identity("dave", &["approver"]))),
        Change::CreateIdentity(Box::new(identity("selfie", &["application", "approver"]))),
        Change::CreateGroup(ApprovalGroup {
            name: GroupName::new("release-approvers").unwrap(),
            members: ["alice", "bob", "carol", "selfie"]
                .into_iter()
                .map(name)
                .collect(),
        }),
    ];
    use DomainHash::{Sha256, Sha384, Sha512};
    use SigningFormat::{Authenticode, Hash, Jar};
    let app = &["application"];
    changes.extend([
        policy(
            "rsa-pkcs1",
            &rsa,
            RsaScheme::Pkcs1v15,
            0,
            &[Sha256, Sha384, Sha512],
            &[Hash, Authenticode, Jar],
            app,
        ),
        policy(
            "rsa-pss",
            &rsa,
            RsaScheme::Pss,
            0,
            &[Sha256, Sha384],
            &[Hash],
            app,
        ),
        policy(
            "ec",
            &ec,
            RsaScheme::Pkcs1v15,
            0,
            &[Sha256, Sha384],
            &[Hash, Authenticode, Jar],
            app,
        ),
        policy(
            "two",
            &ec,
            RsaScheme::Pkcs1v15,
            2,
            &[Sha256],
            &[Hash, Authenticode],
            app,
        ),
        policy(
            "narrow",
            &rsa,
            RsaScheme::Pkcs1v15,
            0,
            &[Sha384],
            &[Hash],
            app,
        ),
        policy(
            "hidden",
            &rsa,
            RsaScheme::Pkcs1v15,
            0,
            &[Sha256],
            &[Hash],
            &["administrator"],
        ),
    ]);
    commit(&state, changes).await;
    drop(state);
    World {
        root: report.root_ca,
        dir,
        data,
        server: Some(server),
        jenkins,
        other,
    }
}

// ---- the test client --------------------------------------------------------------------

/// A Host API client: rustls with a client certificate, the proto codec, nothing else.
pub struct Client {
    /// The TLS stream to the Host API.
    pub stream: TlsStream<TcpStream>,
    /// Decodes the server's frames.
    pub decoder: FrameDecoder,
    /// Frames decoded and not read yet.
    pub frames: VecDeque<Frame>,
    /// The next correlation id (`AG`) to send.
    pub next_ag: u64,
}

impl Client {
    /// Connects to the server's Host API, verifying it against `root`, presenting `cert` (chain, key).
    pub async fn connect(server: &RunningServer, root: &Path, cert: &(PathBuf, PathBuf)) -> Client {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(root).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert.0)
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(&cert.1).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
        let tcp = TcpStream::connect(server.host_api_addr()).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let stream = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        Client {
            stream,
            decoder: FrameDecoder::new(Direction::Response),
            frames: VecDeque::new(),
            next_ag: 1,
        }
    }

    /// Writes raw bytes (hostile or hand-built frames).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// The next response frame, `None` once the server closed.
    pub async fn recv_frame(&mut self) -> Option<Frame> {
        let mut buf = vec![0u8; 64 * 1024];
        while self.frames.is_empty() {
            let n = self.stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return None;
            }
            for frame in self.decoder.feed(&buf[..n]) {
                self.frames.push_back(frame.unwrap());
            }
        }
        self.frames.pop_front()
    }

    /// The next response, decoded; fails the test when the server closed.
    pub async fn recv(&mut self) -> Response {
        let frame = self
            .recv_frame()
            .await
            .expect("the server closed the connection");
        Response::decode(&frame).unwrap()
    }

    /// The next frame's `AG`, then the response.
    pub async fn recv_with_ag(&mut self) -> (Option<String>, Response) {
        let frame = self
            .recv_frame()
            .await
            .expect("the server closed the connection");
        let ag = frame.correlation().map(|c| c.as_str().to_owned());
        (ag, Response::decode(&frame).unwrap())
    }

    /// Whether the server closed the connection (after any pending frames).
    pub async fn closed(&mut self) -> bool {
        self.recv_frame().await.is_none()
    }

    /// Sends `request` with a fresh correlation id and returns the response that echoes it.
    pub async fn call(&mut self, request: Request) -> Response {
        let ag = sigil_proto::CorrelationId::new(self.next_ag.to_string()).unwrap();
        self.next_ag += 1;
        let mut out = Vec::new();
        request.encode(Some(&ag), &mut out).unwrap();
        self.send_raw(&out).await;
        let (echoed, response) = self.recv_with_ag().await;
        assert_eq!(echoed.as_deref(), Some(ag.as_str()), "AG echoed");
        response
    }

    /// `LOGIN identity password`.
    pub async fn login(&mut self, identity: &str, password: &str) -> Response {
        self.call(Request::Login(sigil_proto::Login {
            identity: identity.into(),
            password: Password::new(password),
        }))
        .await
    }

    /// `UPLOAD_HASH` of `digest` for `policy`.
    pub async fn upload_hash(
        &mut self,
        policy: &str,
        hash: HashAlgorithm,
        digest: &[u8],
    ) -> Response {
        self.call(Request::UploadHash(upload(policy, hash, digest)))
            .await
    }

    /// `RETRIEVE_HASH` of request `id`.
    pub async fn retrieve_hash(&mut self, id: &RequestId) -> Response {
        self.call(Request::RetrieveHash { id: id.clone() }).await
    }
}

/// An upload of `digest` for `policy` with a file name and size.
pub fn upload(policy: &str, hash: HashAlgorithm, digest: &[u8]) -> Upload {
    Upload {
        policy: policy.into(),
        hash,
        digest: digest.to_vec(),
        metadata: Metadata {
            file_name: Some("firmware.bin".into()),
            file_size: Some(1234),
            ..Metadata::default()
        },
    }
}

/// The code and message of a failure response; fails the test on anything else.
#[track_caller]
pub fn failure(response: &Response) -> (ErrorCode, String) {
    match response {
        Response::Failure(f) => (f.code.clone(), f.message.clone()),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Asserts a failure with `code` and a message.
#[track_caller]
pub fn assert_code(response: &Response, code: ErrorCode) {
    let (got, message) = failure(response);
    assert_eq!(got, code, "{message}");
    assert!(!message.is_empty());
}

/// The request status of an upload or retrieve response; fails the test on anything else.
#[track_caller]
pub fn status(response: &Response) -> &RequestStatus {
    match response {
        Response::UploadHash(s)
        | Response::RetrieveHash(s)
        | Response::UploadAuthenticode(s)
        | Response::RetrieveAuthenticode(s)
        | Response::UploadJar(s)
        | Response::RetrieveJar(s)
        | Response::UploadOpenPgp(s)
        | Response::RetrieveOpenPgp(s) => s,
        other => panic!("expected a request status, got {other:?}"),
    }
}

/// The signature of a `SIGNED` request status; fails the test on anything else.
#[track_caller]
pub fn signature(response: &Response) -> Vec<u8> {
    match &status(response).outcome {
        Wire::Signed { result } => result.clone(),
        other => panic!("expected SIGNED, got {other:?}"),
    }
}

/// An HTTPS-interface session with `who` logged in (approvers use the HTTPS interface).
pub async fn approver(state: &AppState, who: &str) -> Session {
    let mut session = Session::new(Interface::Https);
    auth::login(
        state,
        &mut session,
        who,
        PASSWORD.as_bytes(),
        LoginContext::default(),
    )
    .await
    .unwrap();
    session
}

/// The domain's request id of a wire request id.
pub fn domain_id(id: &RequestId) -> DomainRequestId {
    DomainRequestId(uuid::Uuid::parse_str(id.as_str()).unwrap())
}

/// Writes the signer certificate's public key as PEM (from the RAGA chain).
pub fn public_key_pem(dir: &Path, chain: &[u8], file: &str) -> PathBuf {
    use sigil_pki::x509_cert::der::{Decode, Encode};
    let mut reader = sigil_pki::x509_cert::der::SliceReader::new(chain).unwrap();
    let leaf = sigil_pki::x509_cert::Certificate::decode(&mut reader).unwrap();
    let der_path = dir.join(format!("{file}.der"));
    std::fs::write(&der_path, leaf.to_der().unwrap()).unwrap();
    let pem = crate::tools::stdout_ok(
        "openssl",
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            der_path.to_str().unwrap(),
            "-pubkey",
            "-noout",
        ],
    );
    let path = dir.join(format!("{file}.pub.pem"));
    std::fs::write(&path, pem).unwrap();
    path
}

/// `openssl dgst -<hash> -verify pub -signature sig file [sigopts]` succeeds.
pub fn openssl_verify(hash: &str, public: &Path, sig: &[u8], file: &Path, sigopts: &[&str]) {
    let sig_path = file.with_extension("sig");
    std::fs::write(&sig_path, sig).unwrap();
    let mut args = vec![
        "dgst".to_owned(),
        format!("-{hash}"),
        "-verify".into(),
        public.display().to_string(),
        "-signature".into(),
        sig_path.display().to_string(),
    ];
    for opt in sigopts {
        args.push("-sigopt".into());
        args.push((*opt).into());
    }
    args.push(file.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = crate::tools::stdout_ok("openssl", &args);
    assert!(out.contains("Verified OK"), "{out}");
}

/// How many requests the store holds.
pub async fn request_count(state: &AppState) -> usize {
    state
        .store
        .list_requests(&RequestFilter::default())
        .await
        .unwrap()
        .len()
}

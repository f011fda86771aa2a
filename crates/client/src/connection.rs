//! One mutual-TLS Host API connection.
//!
//! The client certificate and key come from the profile's PKCS#12 file, and the server must
//! present a certificate chaining to the profile's `ca_certificate` for `server_name`.
//! Every request carries a fresh correlation id (`AG`) that the answer must echo. Many
//! requests can be pipelined with [`Connection::pipeline`]: all are written while the answers
//! are read concurrently (so neither side blocks on a full TCP buffer), in request order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use sigil_pki::x509_cert::der::Encode;
use sigil_proto::{
    AuthenticodeUpload, Command, CorrelationId, Direction, Extensions, FrameDecoder,
    IdempotencyKey, JarUpload, Login, OpenRelease, Password, PolicyInfo, ReleaseId, ReleaseStatus,
    Request, RequestId, RequestStatus, Response, Upload,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};
use crate::job::Format;
use crate::profile::{Profile, SecretSource};

/// How long to wait for the TCP connection and the TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may stay silent while answers are expected.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(300);
/// Size of the read buffer.
const READ_CHUNK: usize = 64 * 1024;

/// A connected (and, after [`login_profile`](Self::login_profile), logged-in) Host API session.
pub struct Connection {
    stream: TlsStream<TcpStream>,
    decoder: FrameDecoder,
    read_buf: Vec<u8>,
    /// Answers read ahead of the request that expects them (none in normal operation).
    ready: VecDeque<(Option<CorrelationId>, Response)>,
    next_correlation: u64,
    /// How to connect and log in again after a dropped connection (see
    /// [`resume_with`](Self::resume_with)).
    resume: Option<Resume>,
}

/// The profile and secrets a dropped connection is made again with.
struct Resume {
    profile: Profile,
    secrets: Arc<dyn SecretSource>,
}

/// Connection attempts after a dropped connection before the error is reported.
pub const RECONNECT_ATTEMPTS: u32 = 6;
/// First delay before connecting again (doubled per attempt, up to 5 s).
const RECONNECT_DELAY: Duration = Duration::from_millis(250);

/// A random idempotency key for one upload (`IK`).
pub fn new_idempotency_key() -> Result<IdempotencyKey> {
    let mut bytes = [0u8; 16];
    tls_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| ClientError::Protocol("no random bytes for an idempotency key".into()))?;
    IdempotencyKey::new(hex::encode(bytes)).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Whether sending `request` again cannot do anything twice: reads, and uploads that carry
/// an idempotency key.
fn repeatable(request: &Request, extensions: Option<&Extensions>) -> bool {
    match request.command() {
        Command::Echo
        | Command::Time
        | Command::Capabilities
        | Command::ListPolicies
        | Command::GetPolicy
        | Command::RetrieveHash
        | Command::RetrieveAuthenticode
        | Command::RetrieveJar
        | Command::GetRelease => true,
        Command::UploadHash | Command::UploadAuthenticode | Command::UploadJar => {
            extensions.is_some_and(|e| e.idempotency_key.is_some() && e.release.is_none())
        }
        _ => false,
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("next_correlation", &self.next_correlation)
            .finish_non_exhaustive()
    }
}

/// Builds the TLS client configuration of a profile: its CA as the only trust anchor and,
/// when the profile has one, the client certificate from its PKCS#12 file.
pub fn tls_config(profile: &Profile, secrets: &dyn SecretSource) -> Result<rustls::ClientConfig> {
    let ca_pem = std::fs::read(&profile.ca_certificate).map_err(|e| {
        ClientError::file(
            &profile.ca_certificate,
            format!("cannot read the CA certificate: {e}"),
        )
    })?;
    let cas = sigil_pki::pem::parse_certificates(&ca_pem).map_err(|e| {
        ClientError::file(
            &profile.ca_certificate,
            format!("no PEM certificate in it: {e}"),
        )
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in &cas {
        let der = ca
            .to_der()
            .map_err(|e| ClientError::file(&profile.ca_certificate, e))?;
        roots
            .add(CertificateDer::from(der))
            .map_err(|e| ClientError::file(&profile.ca_certificate, format!("bad CA: {e}")))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(tls_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let Some(p12_path) = &profile.pkcs12 else {
        return Ok(builder.with_no_client_auth());
    };
    let p12 = std::fs::read(p12_path)
        .map_err(|e| ClientError::file(p12_path, format!("cannot read the PKCS#12 file: {e}")))?;
    let password = profile.pkcs12_password(secrets)?;
    let started = std::time::Instant::now();
    let contents = sigil_pki::pkcs12::import(&p12, &password).map_err(|e| {
        ClientError::file(
            p12_path,
            format!("cannot open the PKCS#12 file (wrong password?): {e}"),
        )
    })?;
    let mut chain = Vec::with_capacity(1 + contents.chain.len());
    for cert in std::iter::once(&contents.certificate).chain(&contents.chain) {
        let der = cert.to_der().map_err(|e| ClientError::file(p12_path, e))?;
        chain.push(CertificateDer::from(der));
    }
    tracing::debug!(elapsed = ?started.elapsed(), "PKCS#12 file decrypted");
    let pkcs8 = contents.key.to_pkcs8_der();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec()));
    builder.with_client_auth_cert(chain, key).map_err(|e| {
        ClientError::file(
            p12_path,
            format!("the certificate and key in the PKCS#12 file are not usable: {e}"),
        )
    })
}

/// The client's TLS provider: ring, not aws-lc (which the server signs with).
///
/// A `sigil sign` process makes one connection; the first random bytes aws-lc hands out start
/// its CPU jitter entropy collector (measured: ~50 ms of CPU, more than the rest of the
/// process), while ring's generator reads the operating system's `getrandom`. The server
/// keeps aws-lc; TLS 1.3/1.2 between the two is the same protocol.
fn tls_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

impl Connection {
    /// Connects to the profile's Host API with its client certificate (no login yet).
    pub async fn connect(profile: &Profile, secrets: &dyn SecretSource) -> Result<Self> {
        let address = profile.host_api_address()?.to_owned();
        if profile.pkcs12.is_none() {
            return Err(ClientError::Profile {
                path: profile.path.clone(),
                message: "no pkcs12 client certificate: the Host API needs one (add pkcs12 = \
                          \"FILE.p12\", or set SIGIL_PKCS12 to the file)"
                    .into(),
            });
        }
        let config = tls_config(profile, secrets)?;
        let server_name = ServerName::try_from(profile.server_name.clone()).map_err(|e| {
            ClientError::Profile {
                path: profile.path.clone(),
                message: format!(
                    "server_name {:?} is not a DNS name or IP: {e}",
                    profile.server_name
                ),
            }
        })?;
        let connect = async {
            let tcp =
                TcpStream::connect(&address)
                    .await
                    .map_err(|source| ClientError::Connect {
                        address: address.clone(),
                        source,
                    })?;
            tcp.set_nodelay(true).map_err(ClientError::Io)?;
            tracing::debug!("TCP connected to {address}");
            TlsConnector::from(Arc::new(config))
                .connect(server_name, tcp)
                .await
                .map_err(|e| {
                    ClientError::Tls(format!(
                        "{e} (check ca_certificate, server_name and the client certificate)"
                    ))
                })
        };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| ClientError::Connect {
                address: address.clone(),
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"),
            })??;
        tracing::debug!("TLS handshake done");
        Ok(Self {
            stream,
            decoder: FrameDecoder::new(Direction::Response),
            read_buf: vec![0; READ_CHUNK],
            ready: VecDeque::new(),
            next_correlation: 1,
            resume: None,
        })
    }

    /// From now on, when the connection drops (the node died, a load balancer closed it)
    /// during a [`pipeline_with`](Self::pipeline_with) whose requests are all repeatable
    /// (reads, retrieves by request id, uploads with an idempotency key), connect again with
    /// `profile` (through the same address: a load balancer picks a live node), log in again
    /// and send the requests again, up to [`RECONNECT_ATTEMPTS`] times. Anything else still
    /// fails with the connection error.
    pub fn resume_with(&mut self, profile: Profile, secrets: Arc<dyn SecretSource>) {
        self.resume = Some(Resume { profile, secrets });
    }

    /// Connects and logs in the profile's identities, trying again on a connection failure
    /// (a load balancer may hand the first attempt to a node that just died) up to
    /// [`RECONNECT_ATTEMPTS`] times, and [resumes](Self::resume_with) after later drops.
    /// Returns the connection and the logins still required.
    pub async fn connect_resuming(
        profile: &Profile,
        secrets: Arc<dyn SecretSource>,
    ) -> Result<(Self, u32)> {
        let mut attempt = 0;
        let mut delay = RECONNECT_DELAY;
        loop {
            let made = async {
                let mut conn = Connection::connect(profile, secrets.as_ref()).await?;
                let remaining = conn.login_profile(profile, secrets.as_ref()).await?;
                Ok::<_, ClientError>((conn, remaining))
            };
            match made.await {
                Ok((mut conn, remaining)) => {
                    conn.resume_with(profile.clone(), secrets);
                    return Ok((conn, remaining));
                }
                Err(e)
                    if e.kind() == crate::error::ErrorKind::Connection
                        && attempt < RECONNECT_ATTEMPTS =>
                {
                    attempt += 1;
                    tracing::warn!("{e}: connecting again (attempt {attempt})");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A new connection, logged in, in place of this one (which dropped).
    async fn reconnect(&mut self) -> Result<()> {
        let Some(resume) = self.resume.take() else {
            return Err(ClientError::Closed(String::new()));
        };
        let fresh = async {
            let mut fresh = Connection::connect(&resume.profile, resume.secrets.as_ref()).await?;
            fresh
                .login_profile(&resume.profile, resume.secrets.as_ref())
                .await?;
            Ok::<_, ClientError>(fresh)
        };
        let fresh = Box::pin(fresh).await;
        match fresh {
            Ok(mut fresh) => {
                fresh.resume = Some(resume);
                *self = fresh;
                Ok(())
            }
            Err(e) => {
                self.resume = Some(resume);
                Err(e)
            }
        }
    }

    /// Logs in every identity of the profile, in order, on this connection (dual control:
    /// a role needing two logins applies once both are in). Returns the logins still
    /// required after the last one (0: ready).
    pub async fn login_profile(
        &mut self,
        profile: &Profile,
        secrets: &dyn SecretSource,
    ) -> Result<u32> {
        if profile.identities.is_empty() {
            return Err(ClientError::Profile {
                path: profile.path.clone(),
                message: "no [[identity]] to log in: add one with its name".into(),
            });
        }
        let mut remaining = 0;
        for identity in &profile.identities {
            let password = profile.identity_password(identity, secrets)?;
            remaining = self
                .login(&identity.name, Password::new(password.as_str()))
                .await?;
            tracing::debug!(identity = %identity.name, remaining, "logged in");
        }
        Ok(remaining)
    }

    fn next_id(&mut self) -> Result<CorrelationId> {
        let id = CorrelationId::new(self.next_correlation.to_string())
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.next_correlation = self.next_correlation.wrapping_add(1);
        Ok(id)
    }

    /// Sends `requests` and returns their answers in order (failures included, as
    /// [`Response::Failure`]). Writing and reading run concurrently.
    pub async fn pipeline(&mut self, requests: &[Request]) -> Result<Vec<Response>> {
        self.pipeline_with(requests, &[]).await
    }

    /// [`pipeline`](Self::pipeline) with the [`Extensions`] of each request (`extensions[i]`
    /// goes with `requests[i]`; requests past the end of `extensions` have none). Resent on
    /// a new connection after a drop when that is safe (see [`resume_with`](Self::resume_with)).
    pub async fn pipeline_with(
        &mut self,
        requests: &[Request],
        extensions: &[Extensions],
    ) -> Result<Vec<Response>> {
        let mut attempt = 0;
        let mut delay = RECONNECT_DELAY;
        loop {
            let error = match self.exchange(requests, extensions).await {
                Err(e) if e.kind() == crate::error::ErrorKind::Connection => e,
                done => return done,
            };
            let safe = requests
                .iter()
                .enumerate()
                .all(|(i, r)| repeatable(r, extensions.get(i)));
            if self.resume.is_none() || !safe {
                return Err(error);
            }
            // Reconnect (a failed attempt counts too) until one works or attempts run out.
            loop {
                attempt += 1;
                if attempt > RECONNECT_ATTEMPTS {
                    return Err(error);
                }
                tracing::warn!("{error}: connecting again (attempt {attempt}) to resume");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                match self.reconnect().await {
                    Ok(()) => break,
                    Err(e) if e.kind() == crate::error::ErrorKind::Connection => {
                        tracing::warn!("{e}");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// One exchange of `requests` on this connection.
    async fn exchange(
        &mut self,
        requests: &[Request],
        extensions: &[Extensions],
    ) -> Result<Vec<Response>> {
        // A login frame holds a password in clear: the buffer is wiped on drop.
        let mut out = Zeroizing::new(Vec::with_capacity(256 * requests.len()));
        let mut expected = Vec::with_capacity(requests.len());
        let none = Extensions::default();
        for (i, request) in requests.iter().enumerate() {
            let id = self.next_id()?;
            let ext = extensions.get(i).unwrap_or(&none);
            request.encode_with(Some(&id), ext, &mut out).map_err(|e| {
                ClientError::Protocol(format!("cannot encode {}: {e}", request.command()))
            })?;
            expected.push((id, request.command()));
        }
        let Self {
            stream,
            decoder,
            read_buf,
            ready,
            ..
        } = self;
        let (mut reader, mut writer) = tokio::io::split(stream);
        let write = async {
            writer.write_all(&out).await.map_err(ClientError::Io)?;
            writer.flush().await.map_err(ClientError::Io)
        };
        let read = read_answers(&mut reader, decoder, read_buf, ready, expected.len());
        let ((), answers) = tokio::try_join!(write, read)?;
        let mut responses = Vec::with_capacity(answers.len());
        for ((correlation, response), (id, command)) in answers.into_iter().zip(expected) {
            if let Some(got) = &correlation
                && got != &id
            {
                return Err(ClientError::Protocol(format!(
                    "answer for correlation id {got} where {id} was expected"
                )));
            }
            if let Some(answered) = response.command()
                && answered != command
            {
                return Err(ClientError::Protocol(format!(
                    "answer to {answered} where one to {command} was expected"
                )));
            }
            responses.push(response);
        }
        Ok(responses)
    }

    /// Sends one request and returns its answer (a failure answer is an error).
    pub async fn call(&mut self, request: Request) -> Result<Response> {
        let command = request.command();
        let answer = self
            .pipeline(std::slice::from_ref(&request))
            .await?
            .pop()
            .ok_or_else(|| ClientError::Protocol("no answer".into()))?;
        into_result(command, answer)
    }

    /// `ECHO`: the server's version.
    pub async fn echo(&mut self) -> Result<String> {
        match self.call(Request::Echo).await? {
            Response::Echo { version } => Ok(version),
            other => Err(unexpected(&other)),
        }
    }

    /// `TIME`: the server's clock.
    pub async fn time(&mut self) -> Result<time::OffsetDateTime> {
        match self.call(Request::Time).await? {
            Response::Time { time } => Ok(time),
            other => Err(unexpected(&other)),
        }
    }

    /// `RKLO`: logs `identity` in; returns the logins still required (0: ready).
    pub async fn login(&mut self, identity: &str, password: Password) -> Result<u32> {
        let request = Request::Login(Login {
            identity: identity.to_owned(),
            password,
        });
        match self.call(request).await {
            Ok(Response::Login { logins_remaining }) => Ok(logins_remaining),
            Ok(other) => Err(unexpected(&other)),
            Err(ClientError::Server {
                command,
                code,
                message,
            }) => Err(ClientError::Server {
                command,
                code,
                message: format!("login as {identity}: {message}"),
            }),
            Err(e) => Err(e),
        }
    }

    /// `RKCP`: commands and permissions of this session.
    pub async fn capabilities(&mut self) -> Result<(Vec<Command>, Vec<String>)> {
        match self.call(Request::Capabilities).await? {
            Response::Capabilities {
                commands,
                permissions,
            } => Ok((commands, permissions)),
            other => Err(unexpected(&other)),
        }
    }

    /// `RAFA`: the policies this session may use.
    pub async fn list_policies(&mut self) -> Result<Vec<String>> {
        match self.call(Request::ListPolicies).await? {
            Response::ListPolicies { policies } => Ok(policies),
            other => Err(unexpected(&other)),
        }
    }

    /// `RAGK`: the policy's OpenPGP public key, self-signed by the server.
    pub async fn get_openpgp_key(&mut self, policy: &str) -> Result<sigil_proto::OpenPgpKey> {
        match self
            .call(Request::GetOpenPgpKey {
                policy: policy.to_owned(),
            })
            .await?
        {
            Response::GetOpenPgpKey(key) => Ok(key),
            other => Err(unexpected(&other)),
        }
    }

    /// `RAGA`: one policy's details.
    pub async fn get_policy(&mut self, policy: &str) -> Result<PolicyInfo> {
        match self
            .call(Request::GetPolicy {
                policy: policy.to_owned(),
            })
            .await?
        {
            Response::GetPolicy(info) => Ok(info),
            other => Err(unexpected(&other)),
        }
    }

    /// `RAUO`: uploads a hash-signing request.
    pub async fn upload_hash(&mut self, upload: Upload) -> Result<RequestStatus> {
        status(self.call(Request::UploadHash(upload)).await?)
    }

    /// `RAUZ`: uploads an Authenticode request.
    pub async fn upload_authenticode(
        &mut self,
        upload: AuthenticodeUpload,
    ) -> Result<RequestStatus> {
        status(self.call(Request::UploadAuthenticode(upload)).await?)
    }

    /// `RAUJ`: uploads a JAR request.
    pub async fn upload_jar(&mut self, upload: JarUpload) -> Result<RequestStatus> {
        status(self.call(Request::UploadJar(upload)).await?)
    }

    /// `RAUR`: opens a release of `open.files` files.
    pub async fn open_release(&mut self, open: OpenRelease) -> Result<ReleaseStatus> {
        match self.call(Request::OpenRelease(open)).await? {
            Response::OpenRelease(status) => Ok(*status),
            other => Err(unexpected(&other)),
        }
    }

    /// `RAGR`: a release's state, approvers and times.
    pub async fn get_release(&mut self, id: ReleaseId) -> Result<ReleaseStatus> {
        match self.call(Request::GetRelease { id }).await? {
            Response::GetRelease(status) => Ok(*status),
            other => Err(unexpected(&other)),
        }
    }

    /// `RAGO`/`RAGZ`/`RAGJ`: the state (and result, once signed) of a request.
    pub async fn retrieve(&mut self, format: Format, id: RequestId) -> Result<RequestStatus> {
        status(self.call(retrieve_request(format, id)).await?)
    }
}

/// The retrieve command of a format.
pub fn retrieve_request(format: Format, id: RequestId) -> Request {
    match format {
        Format::Hash => Request::RetrieveHash { id },
        Format::Authenticode => Request::RetrieveAuthenticode { id },
        Format::Jar => Request::RetrieveJar { id },
        Format::OpenPgp => Request::RetrieveOpenPgp { id },
    }
}

/// The retrieve command of a format.
pub fn retrieve_command(format: Format) -> Command {
    match format {
        Format::Hash => Command::RetrieveHash,
        Format::Authenticode => Command::RetrieveAuthenticode,
        Format::Jar => Command::RetrieveJar,
        Format::OpenPgp => Command::RetrieveOpenPgp,
    }
}

/// A failure answer as an error; any other answer as is.
pub fn into_result(command: Command, answer: Response) -> Result<Response> {
    match answer {
        Response::Failure(f) => Err(ClientError::Server {
            command: f.command.unwrap_or(command).to_string(),
            code: f.code,
            message: f.message,
        }),
        other => Ok(other),
    }
}

/// The request status carried by an upload or retrieve answer.
pub fn status(answer: Response) -> Result<RequestStatus> {
    match answer {
        Response::UploadHash(s)
        | Response::RetrieveHash(s)
        | Response::UploadAuthenticode(s)
        | Response::RetrieveAuthenticode(s)
        | Response::UploadJar(s)
        | Response::RetrieveJar(s)
        | Response::UploadOpenPgp(s)
        | Response::RetrieveOpenPgp(s) => Ok(s),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(answer: &Response) -> ClientError {
    ClientError::Protocol(format!(
        "answer to {} where another command was expected",
        answer
            .command()
            .map_or_else(|| "an unknown command".to_owned(), |c| c.to_string())
    ))
}

/// Reads `count` answers (after any already read ahead).
async fn read_answers<R: AsyncRead + Unpin>(
    reader: &mut R,
    decoder: &mut FrameDecoder,
    buf: &mut [u8],
    ready: &mut VecDeque<(Option<CorrelationId>, Response)>,
    count: usize,
) -> Result<Vec<(Option<CorrelationId>, Response)>> {
    let mut answers = Vec::with_capacity(count);
    while answers.len() < count {
        if let Some(answer) = ready.pop_front() {
            answers.push(answer);
            continue;
        }
        let n = tokio::time::timeout(RESPONSE_TIMEOUT, reader.read(buf))
            .await
            .map_err(|_| {
                ClientError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "no answer from the server for {} s",
                        RESPONSE_TIMEOUT.as_secs()
                    ),
                ))
            })?
            .map_err(ClientError::Io)?;
        let chunk = buf.get(..n).unwrap_or_default();
        if n == 0 {
            let detail = match decoder.finish() {
                Err(e) => format!(" in the middle of an answer: {e}"),
                Ok(()) => " before answering every request".to_owned(),
            };
            return Err(ClientError::Closed(detail));
        }
        for frame in decoder.feed(chunk) {
            let frame = frame
                .map_err(|e| ClientError::Protocol(format!("the server sent a bad frame: {e}")))?;
            let correlation = frame.correlation();
            let response = Response::decode(&frame).map_err(|e| {
                ClientError::Protocol(format!(
                    "the server sent an answer this client cannot read: {e}"
                ))
            })?;
            ready.push_back((correlation, response));
        }
    }
    Ok(answers)
}

//! The HTTPS JSON API client (`/api/v1`): a session for every `[[identity]]` of a profile
//! (dual control: the identities log in one after the other on the same session token), and
//! one typed method per route, with the bodies of `sigil-api`.

use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sigil_api::ErrorBody;
use sigil_api::admin::{AuditEvent, CommandBody, CommandView, Settings, SettingsBody, VerifyView};
use sigil_api::identities::{
    ApiKeyBody, ApiKeyView, IdentityView, NewIdentityBody, PasswordBody, PasswordSet,
    UpdateIdentityBody,
};
use sigil_api::keys::{
    ImportChainBody, ImportPkcs12Body, ImportedView, KeyCsrBody, KeyCsrView, KeyView, NewKeyBody,
};
use sigil_api::login::{LoginBody, SessionView};
use sigil_api::pki::{
    CaView, CertificateView, ChainBody, ChainLoaded, CrlView, CsrBody, CsrView, ExportBody,
    ExportView, IssueBody, NewCaBody, RevokeBody,
};
use sigil_api::releases::ReleaseView;
use sigil_api::requests::{CommentBody, RequestView};

pub use crate::verbatim::Verbatim;

use crate::error::{ClientError, ErrorKind};
use crate::profile::{HttpsSetupError, Profile, SecretSource};

/// How long one HTTPS call may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// An error of the HTTPS API client.
#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    /// The profile cannot be used for the HTTPS API.
    #[error("{0}")]
    Config(String),
    /// The server answered with an error body.
    #[error("{method} {path}: HTTP {status} {code}: {message}")]
    Server {
        /// The HTTP method.
        method: String,
        /// The path below `/api/v1`.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The error code of the body (`HTTP` when the body had none).
        code: String,
        /// The message of the body (the whole body when it had none).
        message: String,
    },
    /// The server could not be reached or the TLS handshake failed.
    #[error(
        "cannot reach the HTTPS API at {url}: {detail} (is the server running, is `https` in the profile right?)"
    )]
    Connection {
        /// The URL called.
        url: String,
        /// Why, with every cause.
        detail: String,
    },
    /// The profile or a password source failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A successful answer is not the JSON the route answers.
    #[error("{method} {path}: the answer is not the expected JSON: {detail}")]
    Answer {
        /// The HTTP method.
        method: String,
        /// The path below `/api/v1`.
        path: String,
        /// What did not fit.
        detail: String,
    },
}

impl HttpsError {
    /// What the user has to fix (the CLI maps it to an exit code).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) => ErrorKind::Config,
            Self::Connection { .. } => ErrorKind::Connection,
            Self::Server { status, .. } if *status >= 500 => ErrorKind::ServerFailure,
            Self::Server { .. } => ErrorKind::Refused,
            Self::Answer { .. } => ErrorKind::Other,
            Self::Client(e) => e.kind(),
        }
    }
}

/// A logged-in HTTPS API session.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    logins_still_required: u32,
}

impl Client {
    /// Logs every identity of `profile` in on one session, their passwords from `secrets`.
    pub async fn login(profile: &Profile, secrets: &dyn SecretSource) -> Result<Self, HttpsError> {
        let path = profile.path.display();
        let base = profile.https.clone().ok_or_else(|| {
            config(format!(
                "{path} has no https address: add https = \"https://HOST:PORT\""
            ))
        })?;
        let (builder, url) = profile
            .https_client(&base, reqwest::Client::builder())
            .map_err(|e| match e {
                HttpsSetupError::Config(message) => config(format!("{path}: {message}")),
                HttpsSetupError::Resolve(detail) => HttpsError::Connection {
                    url: base.clone(),
                    detail,
                },
            })?;
        let base = format!("{}/api/v1", url.as_str().trim_end_matches('/'));
        let http = builder
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| config(format!("cannot set up the HTTPS client: {e}")))?;
        if profile.identities.is_empty() {
            return Err(config(format!("{path} has no [[identity]] to log in")));
        }
        let mut client = Self {
            http,
            base,
            token: String::new(),
            logins_still_required: 0,
        };
        for identity in &profile.identities {
            let password = profile.identity_password(identity, secrets)?;
            let answer = client
                .log_in(LoginBody {
                    identity: identity.name.clone(),
                    password: password.to_string(),
                })
                .await?;
            if let Some(session) = &answer.session {
                client.token.clone_from(session);
            }
            client.logins_still_required = answer.logins_still_required;
        }
        Ok(client)
    }

    /// The most logins any role of the session still needs after [`Client::login`].
    pub fn logins_still_required(&self) -> u32 {
        self.logins_still_required
    }

    /// Ends the session (best effort: it expires anyway).
    pub async fn logout(self) {
        let _ = self
            .call::<_, serde_json::Value>(Method::POST, "/logout", Some(&serde_json::json!({})))
            .await;
    }

    // ---- one method per route ------------------------------------------------------------

    /// `POST /login`: logs one identity in on the session (a new one without a token).
    pub async fn log_in(&self, body: LoginBody) -> Result<SessionView, HttpsError> {
        self.call(Method::POST, "/login", Some(&body)).await
    }

    /// `GET /identities`.
    pub async fn list_identities(&self) -> Result<Vec<IdentityView>, HttpsError> {
        self.get("/identities").await
    }

    /// `GET /identities/{name}`.
    pub async fn get_identity(&self, name: &str) -> Result<IdentityView, HttpsError> {
        self.get(&format!("/identities/{}", segment(name))).await
    }

    /// `POST /identities`: the answer holds the generated password when none was given.
    pub async fn create_identity(
        &self,
        body: &NewIdentityBody,
    ) -> Result<IdentityView, HttpsError> {
        self.call(Method::POST, "/identities", Some(body)).await
    }

    /// `PUT /identities/{name}`.
    pub async fn update_identity(
        &self,
        name: &str,
        body: &UpdateIdentityBody,
    ) -> Result<IdentityView, HttpsError> {
        let path = format!("/identities/{}", segment(name));
        self.call(Method::PUT, &path, Some(body)).await
    }

    /// `DELETE /identities/{name}`.
    pub async fn delete_identity(&self, name: &str) -> Result<(), HttpsError> {
        let path = format!("/identities/{}", segment(name));
        self.call_empty(Method::DELETE, &path).await
    }

    /// `POST /identities/{name}/unlock`.
    pub async fn unlock_identity(&self, name: &str) -> Result<IdentityView, HttpsError> {
        let path = format!("/identities/{}/unlock", segment(name));
        self.call(Method::POST, &path, Some(&serde_json::json!({})))
            .await
    }

    /// `POST /identities/{name}/password`: the answer holds the generated password when none
    /// was given.
    pub async fn set_password(
        &self,
        name: &str,
        body: &PasswordBody,
    ) -> Result<PasswordSet, HttpsError> {
        let path = format!("/identities/{}/password", segment(name));
        self.call(Method::POST, &path, Some(body)).await
    }

    /// `POST /identities/{name}/api-keys`.
    pub async fn create_api_key(
        &self,
        name: &str,
        body: &ApiKeyBody,
    ) -> Result<ApiKeyView, HttpsError> {
        let path = format!("/identities/{}/api-keys", segment(name));
        self.call(Method::POST, &path, Some(body)).await
    }

    /// `GET /requests` with `query` (`""` or `?state=…&…`).
    pub async fn list_requests(
        &self,
        query: &str,
    ) -> Result<Verbatim<Vec<RequestView>>, HttpsError> {
        self.get(&format!("/requests{query}")).await
    }

    /// `GET /requests/{id}`.
    pub async fn get_request(&self, id: &str) -> Result<Verbatim<RequestView>, HttpsError> {
        self.get(&format!("/requests/{}", segment(id))).await
    }

    /// `POST /requests/{id}/approve`.
    pub async fn approve_request(
        &self,
        id: &str,
        body: &CommentBody,
    ) -> Result<Verbatim<RequestView>, HttpsError> {
        self.post(&format!("/requests/{}/approve", segment(id)), body)
            .await
    }

    /// `POST /requests/{id}/deny`.
    pub async fn deny_request(
        &self,
        id: &str,
        body: &CommentBody,
    ) -> Result<Verbatim<RequestView>, HttpsError> {
        self.post(&format!("/requests/{}/deny", segment(id)), body)
            .await
    }

    /// `GET /releases` with `query` (`""` or `?state=…&…`).
    pub async fn list_releases(
        &self,
        query: &str,
    ) -> Result<Verbatim<Vec<ReleaseView>>, HttpsError> {
        self.get(&format!("/releases{query}")).await
    }

    /// `GET /releases/{id}`.
    pub async fn get_release(&self, id: &str) -> Result<Verbatim<ReleaseView>, HttpsError> {
        self.get(&format!("/releases/{}", segment(id))).await
    }

    /// `POST /releases/{id}/approve`.
    pub async fn approve_release(
        &self,
        id: &str,
        body: &CommentBody,
    ) -> Result<Verbatim<ReleaseView>, HttpsError> {
        self.post(&format!("/releases/{}/approve", segment(id)), body)
            .await
    }

    /// `POST /releases/{id}/deny`.
    pub async fn deny_release(
        &self,
        id: &str,
        body: &CommentBody,
    ) -> Result<Verbatim<ReleaseView>, HttpsError> {
        self.post(&format!("/releases/{}/deny", segment(id)), body)
            .await
    }

    /// `GET /commands`.
    pub async fn list_commands(&self) -> Result<Vec<CommandView>, HttpsError> {
        self.get("/commands").await
    }

    /// `PUT /commands/{code}`.
    pub async fn set_command(
        &self,
        code: &str,
        body: &CommandBody,
    ) -> Result<CommandView, HttpsError> {
        self.put(&format!("/commands/{}", segment(code)), body)
            .await
    }

    /// `GET /settings`.
    pub async fn get_settings(&self) -> Result<Verbatim<Settings>, HttpsError> {
        self.get("/settings").await
    }

    /// `PUT /settings`.
    pub async fn update_settings(
        &self,
        body: &SettingsBody,
    ) -> Result<Verbatim<Settings>, HttpsError> {
        self.put("/settings", body).await
    }

    /// `GET /audit?from=&limit=`: at most `limit` events from sequence number `from`.
    pub async fn read_audit(
        &self,
        from: u64,
        limit: u32,
    ) -> Result<Vec<Verbatim<AuditEvent>>, HttpsError> {
        self.get(&format!("/audit?from={from}&limit={limit}")).await
    }

    /// `GET /audit?last=N`: the newest `last` events, oldest first.
    pub async fn read_audit_last(
        &self,
        last: u32,
    ) -> Result<Vec<Verbatim<AuditEvent>>, HttpsError> {
        self.get(&format!("/audit?last={last}")).await
    }

    /// `GET /audit/verify`.
    pub async fn verify_audit(&self) -> Result<VerifyView, HttpsError> {
        self.get("/audit/verify").await
    }

    /// `GET /keys`.
    pub async fn list_keys(&self) -> Result<Verbatim<Vec<KeyView>>, HttpsError> {
        self.get("/keys").await
    }

    /// `POST /keys`.
    pub async fn create_key(&self, body: &NewKeyBody) -> Result<Verbatim<KeyView>, HttpsError> {
        self.post("/keys", body).await
    }

    /// `POST /keys/{id}/csr`.
    pub async fn key_csr(&self, key: &str, body: &KeyCsrBody) -> Result<KeyCsrView, HttpsError> {
        self.post(&format!("/keys/{}/csr", segment(key)), body)
            .await
    }

    /// `POST /keys/{id}/chain`.
    pub async fn import_chain(
        &self,
        key: &str,
        body: &ImportChainBody,
    ) -> Result<Verbatim<CertificateView>, HttpsError> {
        self.post(&format!("/keys/{}/chain", segment(key)), body)
            .await
    }

    /// `POST /keys/import`.
    pub async fn import_pkcs12(
        &self,
        body: &ImportPkcs12Body,
    ) -> Result<Verbatim<ImportedView>, HttpsError> {
        self.post("/keys/import", body).await
    }

    /// `GET /cas`.
    pub async fn list_cas(&self) -> Result<Verbatim<Vec<CaView>>, HttpsError> {
        self.get("/cas").await
    }

    /// `GET /cas/{name}`.
    pub async fn get_ca(&self, name: &str) -> Result<Verbatim<CaView>, HttpsError> {
        self.get(&format!("/cas/{}", segment(name))).await
    }

    /// `POST /cas`.
    pub async fn create_ca(&self, body: &NewCaBody) -> Result<Verbatim<CaView>, HttpsError> {
        self.post("/cas", body).await
    }

    /// `GET /cas/{name}/crl`.
    pub async fn ca_crl(&self, name: &str) -> Result<CrlView, HttpsError> {
        self.get(&format!("/cas/{}/crl", segment(name))).await
    }

    /// `GET /certificates`, those `issuer` issued when given.
    pub async fn list_certificates(
        &self,
        issuer: Option<&str>,
    ) -> Result<Verbatim<Vec<CertificateView>>, HttpsError> {
        match issuer {
            Some(issuer) => {
                self.get(&format!("/certificates?issuer={}", segment(issuer)))
                    .await
            }
            None => self.get("/certificates").await,
        }
    }

    /// `GET /certificates/{serial}`: with `chain_pem`.
    pub async fn get_certificate(
        &self,
        serial: &str,
    ) -> Result<Verbatim<CertificateView>, HttpsError> {
        self.get(&format!("/certificates/{}", segment(serial)))
            .await
    }

    /// `POST /certificates`.
    pub async fn issue_certificate(
        &self,
        body: &IssueBody,
    ) -> Result<Verbatim<CertificateView>, HttpsError> {
        self.post("/certificates", body).await
    }

    /// `POST /certificates/{serial}/revoke`.
    pub async fn revoke_certificate(
        &self,
        serial: &str,
        body: &RevokeBody,
    ) -> Result<Verbatim<CertificateView>, HttpsError> {
        self.post(&format!("/certificates/{}/revoke", segment(serial)), body)
            .await
    }

    /// `POST /certificates/{serial}/export`.
    pub async fn export_certificate(
        &self,
        serial: &str,
        body: &ExportBody,
    ) -> Result<ExportView, HttpsError> {
        self.post(&format!("/certificates/{}/export", segment(serial)), body)
            .await
    }

    /// `POST /listeners/{listener}/csr`.
    pub async fn listener_csr(
        &self,
        listener: &str,
        body: &CsrBody,
    ) -> Result<CsrView, HttpsError> {
        self.post(&format!("/listeners/{}/csr", segment(listener)), body)
            .await
    }

    /// `PUT /listeners/{listener}/chain`.
    pub async fn listener_chain(
        &self,
        listener: &str,
        body: &ChainBody,
    ) -> Result<ChainLoaded, HttpsError> {
        self.put(&format!("/listeners/{}/chain", segment(listener)), body)
            .await
    }

    // ---- any route: the caller names the answer's type --------------------------------------

    /// `GET path`, the answer as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, HttpsError> {
        self.call::<(), T>(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body, the answer as `T`.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, HttpsError> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `PUT path` with a JSON body, the answer as `T`.
    pub async fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, HttpsError> {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// `DELETE path` (answered with no body).
    pub async fn delete(&self, path: &str) -> Result<(), HttpsError> {
        self.call_empty(Method::DELETE, path).await
    }

    // ---- transport -------------------------------------------------------------------------

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, HttpsError> {
        let text = self.send(method.clone(), path, body).await?;
        // An empty answer (204) reads as JSON `null`.
        let text = if text.is_empty() {
            "null"
        } else {
            text.as_str()
        };
        serde_json::from_str(text).map_err(|e| HttpsError::Answer {
            method: method.to_string(),
            path: path.to_owned(),
            detail: e.to_string(),
        })
    }

    async fn call_empty(&self, method: Method, path: &str) -> Result<(), HttpsError> {
        self.send::<()>(method, path, None).await.map(drop)
    }

    /// Sends one request; a success answers its body text, a failure the error body's code
    /// and message.
    async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<String, HttpsError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        if let Some(body) = body {
            let json = zeroize::Zeroizing::new(serde_json::to_string(body).map_err(|e| {
                HttpsError::Answer {
                    method: method.to_string(),
                    path: path.to_owned(),
                    detail: format!("cannot encode the request body: {e}"),
                }
            })?);
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json.as_bytes().to_vec());
        }
        let connection = |e: reqwest::Error| HttpsError::Connection {
            url: url.clone(),
            detail: error_chain(&e),
        };
        let response = request.send().await.map_err(connection)?;
        let status = response.status();
        let text = response.text().await.map_err(connection)?;
        if status.is_success() {
            return Ok(text);
        }
        let (code, message) = match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => (body.error.code, body.error.message),
            Err(_) => ("HTTP".into(), text),
        };
        Err(HttpsError::Server {
            method: method.to_string(),
            path: path.to_owned(),
            status: status.as_u16(),
            code,
            message,
        })
    }
}

fn config(message: String) -> HttpsError {
    HttpsError::Config(message)
}

/// A URL path segment with the characters that would change the path escaped.
pub fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

//! The HTTPS JSON API client: a session for every `[[identity]]` of a profile (dual
//! control: the identities log in one after the other on the same session token).

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sigil_client::Profile;
use sigil_client::profile::ProcessSecrets;

use crate::exit;

/// An error answered by the HTTPS API (or the failure to reach it).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The server answered with an error body.
    #[error("{method} {path}: HTTP {status} {code}: {message}")]
    Server {
        method: String,
        path: String,
        status: u16,
        code: String,
        message: String,
    },
    /// The server could not be reached or the TLS handshake failed.
    #[error(
        "cannot reach the HTTPS API at {url}: {detail} (is the server running, is `https` in the profile right?)"
    )]
    Connection { url: String, detail: String },
}

impl ApiError {
    /// The exit code: connection 7, server failure 8, any other refusal 3.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Connection { .. } => exit::CONNECTION,
            Self::Server { status, .. } if *status >= 500 => exit::SERVER_FAILED,
            Self::Server { .. } => exit::REFUSED,
        }
    }
}

/// A logged-in HTTPS API session.
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    /// Loads `profile`, logs every identity in on one session and returns it.
    pub(crate) async fn login(profile_path: &std::path::Path) -> Result<Self> {
        let profile = Profile::load(profile_path)?;
        let base = profile.https.clone().ok_or_else(|| {
            exit::usage(format!(
                "{} has no https address: add https = \"https://HOST:PORT\"",
                profile_path.display()
            ))
        })?;
        // Check the certificate for `server_name` (as the Host API does) while connecting to
        // the address in the URL.
        let mut url = reqwest::Url::parse(&base).map_err(|e| {
            exit::usage(format!(
                "{}: https {base:?} is not a URL: {e}",
                profile_path.display()
            ))
        })?;
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let mut resolve = None;
        if !host.eq_ignore_ascii_case(&profile.server_name) {
            use std::net::ToSocketAddrs;
            let addrs: Vec<std::net::SocketAddr> = (host.as_str(), port)
                .to_socket_addrs()
                .map_err(|e| ApiError::Connection {
                    url: base.clone(),
                    detail: format!("cannot resolve {host}: {e}"),
                })?
                .collect();
            url.set_host(Some(&profile.server_name)).map_err(|e| {
                exit::usage(format!(
                    "{}: server_name {:?} cannot be a URL host: {e}",
                    profile_path.display(),
                    profile.server_name
                ))
            })?;
            resolve = Some(addrs);
        }
        let base = format!("{}/api/v1", url.as_str().trim_end_matches('/'));
        let pem = std::fs::read(&profile.ca_certificate).with_context(|| {
            format!(
                "cannot read the CA certificate {}",
                profile.ca_certificate.display()
            )
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
            format!("no PEM certificate in {}", profile.ca_certificate.display())
        })?;
        let mut builder = reqwest::Client::builder();
        if let Some(addrs) = &resolve {
            builder = builder.resolve_to_addrs(&profile.server_name, addrs);
        }
        let http = builder
            .tls_certs_only(certs)
            .timeout(Duration::from_secs(120))
            .build()
            .context("cannot set up the HTTPS client")?;
        if profile.identities.is_empty() {
            return Err(exit::usage(format!(
                "{} has no [[identity]] to log in",
                profile_path.display()
            )));
        }
        let mut api = Self {
            http,
            base,
            token: String::new(),
        };
        let mut remaining = 0;
        for identity in &profile.identities {
            let password = profile.identity_password(identity, &ProcessSecrets)?;
            let body = zeroize::Zeroizing::new(
                json!({"identity": identity.name, "password": password.as_str()}).to_string(),
            );
            let answer = api
                .send(reqwest::Method::POST, "/login", Some(body.as_str()))
                .await?;
            if let Some(session) = answer.get("session").and_then(Value::as_str) {
                api.token = session.to_owned();
            }
            remaining = answer
                .get("logins_still_required")
                .and_then(Value::as_u64)
                .unwrap_or(0);
        }
        if remaining > 0 {
            eprintln!(
                "note: the session still needs {remaining} more login(s) for some role; add \
                 another [[identity]] holding it to the profile"
            );
        }
        Ok(api)
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&str>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.map_err(|e| ApiError::Connection {
            url: url.clone(),
            detail: error_chain(&e),
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| ApiError::Connection {
            url: url.clone(),
            detail: error_chain(&e),
        })?;
        if status.is_success() {
            if text.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text)
                .with_context(|| format!("{method} {path}: the answer is not JSON"));
        }
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get("error"))
                .and_then(|e| e.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Err(ApiError::Server {
            method: method.to_string(),
            path: path.to_owned(),
            status: status.as_u16(),
            code: field("code").unwrap_or_else(|| "HTTP".into()),
            message: field("message").unwrap_or(text),
        }
        .into())
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Value> {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(reqwest::Method::POST, path, Some(&body.to_string()))
            .await
    }

    pub(crate) async fn put(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(reqwest::Method::PUT, path, Some(&body.to_string()))
            .await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<Value> {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Ends the session (best effort: it expires anyway).
    pub(crate) async fn logout(self) {
        let _ = self
            .send(reqwest::Method::POST, "/logout", Some("{}"))
            .await;
    }
}

/// A URL path segment with the characters that would change the path escaped.
pub(crate) fn segment(value: &str) -> String {
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

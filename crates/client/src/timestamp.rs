//! RFC 3161 time-stamps for the signatures `sigil sign` writes (`--timestamp [URL]`).
//!
//! A signature that comes back from the server is stamped before anything is written: the
//! imprint is the hash of the signature value (Authenticode, JAR: the SignerInfo's
//! signature; hash format: the raw signature bytes), the token goes into the SignerInfo's
//! unsigned attributes (Authenticode `1.3.6.1.4.1.311.3.3.1`, JAR `id-aa-timeStampToken`),
//! and for the hash format the whole `TimeStampResp` is written beside the `.sig` as
//! `FILE.tsr`. A TSA that is down, slow or answers anything but a valid token for this
//! request fails that file, which is then left as it was.
//!
//! Under a policy that requires time-stamps the server has already stamped the signature
//! with its own TSA (for the hash format it sends the `TimeStampResp` along): the client
//! checks that stamp and writes it, and does not stamp a second time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sigil_pki::stamp::{
    ID_AA_TIME_STAMP_TOKEN, MAX_RESPONSE_LEN, SPC_RFC3161_OBJID, StampRequest, StampedToken,
    add_unsigned_attribute, find_stamp, read_response_token, signer_signature,
};
use sigil_proto::HashAlgorithm;

use crate::error::{ClientError, Result};
use crate::job::Format;
use crate::profile::{HttpsSetupError, Profile};

/// The path of Sigil's TSA under the profile's `https` base.
pub const SERVER_TSA_PATH: &str = "/api/v1/timestamp";
/// The longest a TSA may take to answer one request (connection included).
pub const TSA_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a TCP/TLS connection to the TSA may take.
pub const TSA_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a request refused for load (HTTP 429 or 503 with `Retry-After`) is retried.
pub const MAX_RETRIES: u32 = 5;
/// The longest wait between two retries, whatever `Retry-After` says.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

/// Which TSA stamps the signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TsaChoice {
    /// The server's own TSA: the profile's `https` base + [`SERVER_TSA_PATH`], trusted with
    /// the profile's CA certificate.
    Server,
    /// Any RFC 3161 TSA over `http://` or `https://` (the system's roots for https).
    Url(String),
}

/// The environment variable holding the default of `--timestamp`: `server` or a TSA URL.
pub const TIMESTAMP_ENV: &str = "SIGIL_TIMESTAMP";

impl TsaChoice {
    /// Reads `--timestamp [VALUE]`, `--no-timestamp` (which the caller makes exclusive), the
    /// [`TIMESTAMP_ENV`] value and the file arguments. `--timestamp` without a value means the
    /// server's TSA, with an `http(s)://` value that TSA, and any other value is a file the
    /// optional value swallowed (it goes back to the files, first). Without either option the
    /// environment decides: `server`, a URL, or unset/empty for none.
    pub fn from_args(
        value: Option<&str>,
        no_timestamp: bool,
        env: Option<&str>,
        files: &[String],
    ) -> Result<(Option<Self>, Vec<String>)> {
        let mut files = files.to_vec();
        let is_url = |v: &str| v.starts_with("http://") || v.starts_with("https://");
        let choice = match value {
            Some("") => Some(Self::Server),
            Some(v) if is_url(v) => Some(Self::Url(v.to_owned())),
            Some(file) => {
                files.insert(0, file.to_owned());
                Some(Self::Server)
            }
            None if no_timestamp => None,
            None => match env.map(str::trim) {
                None | Some("") => None,
                Some("server") => Some(Self::Server),
                Some(v) if is_url(v) => Some(Self::Url(v.to_owned())),
                Some(v) => {
                    return Err(ClientError::Usage(format!(
                        "{TIMESTAMP_ENV}={v:?}: give \"server\" or the URL of an RFC 3161 TSA \
                         (http:// or https://)"
                    )));
                }
            },
        };
        Ok((choice, files))
    }
}

/// A configured TSA client.
#[derive(Debug, Clone)]
pub struct Stamper {
    http: reqwest::Client,
    url: String,
    server: bool,
    hash: HashAlgorithm,
}

/// A signature with its time-stamp.
#[derive(Debug, Clone)]
pub struct Stamped {
    /// The signature to write: the `SignedData` with the token inside, or the raw
    /// signature unchanged (hash format).
    pub result: Vec<u8>,
    /// The `TimeStampResp` to write as `FILE.tsr` (hash format only).
    pub tsr: Option<Vec<u8>>,
    /// For a person: `time-stamped 2026-... by CN=...`.
    pub detail: String,
}

impl Stamper {
    /// A client for `choice`; `hash` is the imprint's hash algorithm.
    pub fn new(choice: &TsaChoice, profile: &Profile, hash: HashAlgorithm) -> Result<Self> {
        let usage = |m: String| ClientError::Usage(m);
        let builder = reqwest::Client::builder()
            .timeout(TSA_TIMEOUT)
            .connect_timeout(TSA_CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        let (builder, url, server) = match choice {
            TsaChoice::Url(url) => {
                let parsed = reqwest::Url::parse(url)
                    .map_err(|e| usage(format!("--timestamp {url:?} is not a URL: {e}")))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(usage(format!(
                        "--timestamp {url:?}: a TSA is reached over http:// or https://"
                    )));
                }
                (builder, url.clone(), false)
            }
            TsaChoice::Server => {
                let (builder, url) = server_tsa(builder, profile)?;
                (builder, url, true)
            }
        };
        let http = builder
            .build()
            .map_err(|e| usage(format!("cannot set up the TSA client: {e}")))?;
        Ok(Self {
            http,
            url,
            server,
            hash,
        })
    }

    /// A checked token over `data`.
    pub async fn token(&self, data: &[u8]) -> Result<StampedToken> {
        let request = StampRequest::new(self.hash, data).map_err(|e| self.error(e.to_string()))?;
        let mut attempt = 0;
        loop {
            let response = self
                .http
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/timestamp-query")
                .body(request.der.clone())
                .send()
                .await
                .map_err(|e| self.error(format!("no answer: {}", error_chain(&e))))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let body = read_body(response)
                .await
                .map_err(|e| self.error(format!("reading the answer failed: {e}")))?;
            // A TSA over its rate limit says when to come back: wait (bounded) and retry.
            let busy = status == reqwest::StatusCode::TOO_MANY_REQUESTS
                || (status == reqwest::StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some());
            if busy && attempt < MAX_RETRIES {
                attempt += 1;
                let wait = Duration::from_secs(retry_after.unwrap_or(1)).min(MAX_RETRY_WAIT);
                tracing::debug!(url = %self.url, ?wait, attempt, "TSA busy, retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            let checked = request.check(&body);
            if !status.is_success() {
                // A refusal with a TimeStampResp says why; anything else only has the status.
                let why = match checked {
                    Err(e @ sigil_pki::stamp::StampError::Rejected { .. }) => e.to_string(),
                    _ => "no time-stamp in the answer".to_owned(),
                };
                return Err(self.error(format!("HTTP {status}: {why}{}", self.hint(status))));
            }
            return checked.map_err(|e| self.error(e.to_string()));
        }
    }

    /// Stamps a signature the server returned for a file of `format`.
    pub async fn stamp(&self, format: Format, signature: &[u8]) -> Result<Stamped> {
        match format {
            Format::Hash | Format::OpenPgp => {
                let token = self.token(signature).await?;
                Ok(Stamped {
                    result: signature.to_vec(),
                    detail: describe(&token),
                    tsr: Some(token.response),
                })
            }
            Format::Authenticode | Format::Jar => {
                let value = signer_signature(signature)
                    .map_err(|e| self.error(format!("the signature cannot be stamped: {e}")))?;
                let token = self.token(&value).await?;
                let oid = if format == Format::Jar {
                    ID_AA_TIME_STAMP_TOKEN
                } else {
                    SPC_RFC3161_OBJID
                };
                let result = add_unsigned_attribute(signature, oid, &token.token)
                    .map_err(|e| self.error(format!("cannot add the token: {e}")))?;
                Ok(Stamped {
                    result,
                    detail: describe(&token),
                    tsr: None,
                })
            }
        }
    }

    fn error(&self, message: String) -> ClientError {
        ClientError::Timestamp {
            url: self.url.clone(),
            message,
        }
    }

    fn hint(&self, status: reqwest::StatusCode) -> &'static str {
        if self.server && status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            " (the server's TSA is not enabled: an administrator enables it with \
             sigil settings set --timestamp-certificate SERIAL, see docs/timestamping.md; \
             or give another TSA with --timestamp URL)"
        } else if self.server && status == reqwest::StatusCode::NOT_FOUND {
            " (this server has no TSA route: give a TSA with --timestamp URL)"
        } else {
            ""
        }
    }
}

/// `time-stamped TIME by TSA`.
fn describe(token: &StampedToken) -> String {
    format!("time-stamped {} by {}", token.info.time, token.info.tsa)
}

/// The answer's body, at most [`MAX_RESPONSE_LEN`] bytes.
async fn read_body(mut response: reqwest::Response) -> std::result::Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| error_chain(&e))? {
        if body.len() + chunk.len() > MAX_RESPONSE_LEN {
            return Err(format!("more than {MAX_RESPONSE_LEN} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The server's TSA: the profile's `https` URL, its certificate checked for `server_name`
/// against the profile's CA, as the HTTPS API commands do.
fn server_tsa(
    builder: reqwest::ClientBuilder,
    profile: &Profile,
) -> Result<(reqwest::ClientBuilder, String)> {
    let bad = |message: String| ClientError::Profile {
        path: profile.path.clone(),
        message,
    };
    let base = profile.https.as_deref().ok_or_else(|| {
        bad(
            "--timestamp without a URL uses the server's TSA, but the profile has no https \
             address: add https = \"https://HOST:PORT\" or give --timestamp URL"
                .into(),
        )
    })?;
    let (builder, url) = profile.https_client(base, builder).map_err(|e| match e {
        HttpsSetupError::Config(message) => bad(message),
        HttpsSetupError::Resolve(message) => ClientError::Timestamp {
            url: base.to_owned(),
            message,
        },
    })?;
    let url = format!("{}{SERVER_TSA_PATH}", url.as_str().trim_end_matches('/'));
    Ok((builder, url))
}

/// Where the time-stamp of the raw signature `signature` goes: `FILE.sig` → `FILE.tsr`
/// (any other name gets `.tsr` appended).
pub fn tsr_path(signature: &Path) -> PathBuf {
    let stem = signature
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".sig"))
        .filter(|s| !s.is_empty());
    match stem {
        Some(stem) => signature.with_file_name(format!("{stem}.tsr")),
        None => {
            let mut name = signature.as_os_str().to_owned();
            name.push(".tsr");
            PathBuf::from(name)
        }
    }
}

/// What to write for a signature the server returned: the server's own time-stamp when it
/// added one (a policy that requires time-stamps: inside an Authenticode or JAR signature,
/// or `server_tsr` for the hash format), checked; else a stamp from `stamper` when given;
/// else the signature unchanged.
pub async fn maybe_stamp(
    stamper: Option<&Stamper>,
    format: Format,
    signature: Vec<u8>,
    server_tsr: Option<Vec<u8>>,
) -> Result<Stamped> {
    if let Some(detail) = server_stamp(format, &signature, server_tsr.as_deref())? {
        return Ok(Stamped {
            result: signature,
            tsr: server_tsr,
            detail,
        });
    }
    match stamper {
        Some(stamper) => stamper.stamp(format, &signature).await,
        None => Ok(Stamped {
            result: signature,
            tsr: None,
            detail: String::new(),
        }),
    }
}

/// The description of the time-stamp the server put on `signature`, checked (the token
/// verifies and stamps this signature); `None` when there is none.
fn server_stamp(format: Format, signature: &[u8], tsr: Option<&[u8]>) -> Result<Option<String>> {
    let bad = |message: String| ClientError::Timestamp {
        url: "the server".to_owned(),
        message,
    };
    let (info, imprint_ok) = match (format, tsr) {
        (Format::Hash | Format::OpenPgp, None) => return Ok(None),
        (Format::Hash | Format::OpenPgp, Some(tsr)) => {
            let info = read_response_token(tsr).map_err(|e| bad(e.to_string()))?;
            let ok = info.stamps(signature);
            (info, ok)
        }
        (Format::Authenticode | Format::Jar, _) => match find_stamp(signature) {
            Ok(None) => return Ok(None),
            Ok(Some(found)) => (found.info, found.imprint_ok),
            Err(e) => return Err(bad(e.to_string())),
        },
    };
    if !imprint_ok {
        return Err(bad(
            "the server's time-stamp does not cover the signature it returned".to_owned(),
        ));
    }
    Ok(Some(format!(
        "time-stamped {} by {} (required by the policy, added by the server)",
        info.time, info.tsa
    )))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsr_beside_the_signature() {
        assert_eq!(tsr_path(Path::new("a/f.bin.sig")), Path::new("a/f.bin.tsr"));
        assert_eq!(tsr_path(Path::new("out")), Path::new("out.tsr"));
        assert_eq!(tsr_path(Path::new("a/.sig")), Path::new("a/.sig.tsr"));
    }

    #[test]
    fn timestamp_arguments() {
        let files = vec!["b.exe".to_owned()];
        let choose = |value, no, env| TsaChoice::from_args(value, no, env, &files).unwrap();
        let url = Some(TsaChoice::Url("http://tsa.example/".into()));
        assert_eq!(
            choose(Some(""), false, None),
            (Some(TsaChoice::Server), files.clone())
        );
        let (choice, f) = choose(Some("a.exe"), false, None);
        assert_eq!(choice, Some(TsaChoice::Server));
        assert_eq!(f, vec!["a.exe".to_owned(), "b.exe".to_owned()]);
        assert_eq!(choose(Some("http://tsa.example/"), false, None).0, url);
        assert_eq!(choose(None, false, None).0, None);
        assert_eq!(choose(None, false, Some("")).0, None);
        assert_eq!(
            choose(None, false, Some("server")).0,
            Some(TsaChoice::Server)
        );
        assert_eq!(choose(None, false, Some("http://tsa.example/")).0, url);
        assert_eq!(choose(None, true, Some("server")).0, None);
        assert!(TsaChoice::from_args(None, false, Some("ftp://x"), &files).is_err());
    }
}

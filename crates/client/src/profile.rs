//! The client profile (TOML): where the server is, what to trust, who logs in.
//!
//! Relative paths are relative to the profile file. Passwords are never in the profile:
//! each identity names an environment variable (default `SIGIL_PASSWORD`) and optionally a
//! password file; the sources are tried in that order, then an interactive prompt when
//! standard input is a terminal, else the error names the variable to set.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use sigil_api::profile::ProfileFile;
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};

/// Environment variable read for the PKCS#12 password when the profile names no file.
pub const P12_PASSWORD_ENV: &str = "SIGIL_P12_PASSWORD";
/// Default environment variable of an identity's password.
pub const DEFAULT_PASSWORD_ENV: &str = sigil_api::profile::DEFAULT_PASSWORD_ENV;
/// Environment variable naming the client PKCS#12 file; when set, it replaces the profile's
/// `pkcs12` (CI systems hand a certificate credential over as a file whose path they choose).
pub const PKCS12_ENV: &str = "SIGIL_PKCS12";

/// A loaded client profile, with every path resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The profile file.
    pub path: PathBuf,
    /// Host API address (`host:port`), when the profile has one.
    pub host_api: Option<String>,
    /// HTTPS API base URL, when the profile has one.
    pub https: Option<String>,
    /// TLS name checked in the server's certificate.
    pub server_name: String,
    /// The CA certificate(s) (PEM) the server's certificate must chain to.
    pub ca_certificate: PathBuf,
    /// Client certificate and key (PKCS#12), needed for the Host API.
    pub pkcs12: Option<PathBuf>,
    /// File holding the PKCS#12 password.
    pub pkcs12_password_file: Option<PathBuf>,
    /// Identities to log in, in order.
    pub identities: Vec<IdentityConfig>,
}

/// One `[[identity]]` of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityConfig {
    /// Identity name.
    pub name: String,
    /// Environment variable holding the password.
    pub password_env: String,
    /// File holding the password (used when the variable is unset).
    pub password_file: Option<PathBuf>,
}

/// Where secrets come from: the process environment and terminal, or (in tests) a stand-in.
pub trait SecretSource: Send + Sync {
    /// The value of an environment variable, if set.
    fn var(&self, name: &str) -> Option<Zeroizing<String>>;
    /// Asks the user; `None` when there is no terminal to ask on.
    fn prompt(&self, question: &str) -> Option<Zeroizing<String>>;
}

/// The real environment and, when standard input is a terminal, a no-echo prompt.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessSecrets;

impl SecretSource for ProcessSecrets {
    fn var(&self, name: &str) -> Option<Zeroizing<String>> {
        std::env::var(name).ok().map(Zeroizing::new)
    }

    fn prompt(&self, question: &str) -> Option<Zeroizing<String>> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        rpassword::prompt_password(question)
            .ok()
            .map(Zeroizing::new)
    }
}

impl Profile {
    /// Reads and checks the profile at `path`; `SIGIL_PKCS12`, when set, replaces its
    /// `pkcs12` (relative to the working directory).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ClientError::Profile {
            path: path.to_path_buf(),
            message: format!("cannot read it: {e}"),
        })?;
        let mut profile = Self::parse(&text, path)?;
        if let Some(file) = std::env::var_os(PKCS12_ENV).filter(|v| !v.is_empty()) {
            profile.pkcs12 = Some(PathBuf::from(file));
        }
        Ok(profile)
    }

    /// Parses profile text; relative paths are resolved against `path`'s directory.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let bad = |message: String| ClientError::Profile {
            path: path.to_path_buf(),
            message,
        };
        let file = ProfileFile::from_toml(text)
            .map_err(|e| bad(format!("not a valid client profile: {e}")))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: String| {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { base.join(p) }
        };
        let mut identities = Vec::with_capacity(file.identity.len());
        for id in file.identity {
            if id.name.is_empty() {
                return Err(bad("an [[identity]] has an empty name".into()));
            }
            if identities
                .iter()
                .any(|i: &IdentityConfig| i.name == id.name)
            {
                return Err(bad(format!("identity {:?} is listed twice", id.name)));
            }
            identities.push(IdentityConfig {
                name: id.name,
                password_env: id.password_env,
                password_file: id.password_file.map(resolve),
            });
        }
        if file.host_api.is_none() && file.https.is_none() {
            return Err(bad(
                "it names neither host_api nor https: add the server's address".into(),
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            host_api: file.host_api,
            https: file.https,
            server_name: file.server_name,
            ca_certificate: resolve(file.ca_certificate),
            pkcs12: file.pkcs12.map(resolve),
            pkcs12_password_file: file.pkcs12_password_file.map(resolve),
            identities,
        })
    }

    /// The password of `identity`: its environment variable, else its password file, else a
    /// prompt on a terminal, else an error naming the variable to set.
    pub fn identity_password(
        &self,
        identity: &IdentityConfig,
        secrets: &dyn SecretSource,
    ) -> Result<Zeroizing<String>> {
        if let Some(value) = secrets.var(&identity.password_env) {
            return Ok(value);
        }
        if let Some(file) = &identity.password_file {
            return read_secret_file(file);
        }
        secrets
            .prompt(&format!("Password for {}: ", identity.name))
            .ok_or_else(|| {
                ClientError::Secret(format!(
                    "no password for identity {}: set the environment variable {} (or add \
                     password_file to {})",
                    identity.name,
                    identity.password_env,
                    self.path.display()
                ))
            })
    }

    /// The PKCS#12 password: `pkcs12_password_file`, else `SIGIL_P12_PASSWORD`, else a
    /// prompt on a terminal.
    pub fn pkcs12_password(&self, secrets: &dyn SecretSource) -> Result<Zeroizing<String>> {
        if let Some(file) = &self.pkcs12_password_file {
            return read_secret_file(file);
        }
        if let Some(value) = secrets.var(P12_PASSWORD_ENV) {
            return Ok(value);
        }
        secrets.prompt("PKCS#12 password: ").ok_or_else(|| {
            ClientError::Secret(format!(
                "no password for the PKCS#12 file: set {P12_PASSWORD_ENV} (or add \
                     pkcs12_password_file to {})",
                self.path.display()
            ))
        })
    }

    /// The Host API address, or an error saying the profile lacks it.
    pub fn host_api_address(&self) -> Result<&str> {
        self.host_api
            .as_deref()
            .ok_or_else(|| ClientError::Profile {
                path: self.path.clone(),
                message: "no host_api address: add host_api = \"HOST:PORT\"".into(),
            })
    }
}

/// Reads a secret file, without its trailing line break.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<String>> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        ClientError::Secret(format!(
            "cannot read the secret file {}: {e}",
            path.display()
        ))
    })?);
    Ok(Zeroizing::new(
        text.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

/// Why the HTTPS client of a profile could not be set up (each caller words it for its
/// command: an HTTPS API command or the server's TSA).
#[derive(Debug)]
pub enum HttpsSetupError {
    /// The `https` address, the `server_name` or the CA file is wrong (a configuration error).
    Config(String),
    /// The `https` host does not resolve (a connection error).
    Resolve(String),
}

impl Profile {
    /// `builder` set up for the server's HTTPS listener at `base` (the profile's `https`):
    /// it connects to the address in the URL but checks the certificate for `server_name`
    /// (as the Host API does), trusting only the profile's CA. Returns the builder and the
    /// URL with `server_name` as its host.
    pub fn https_client(
        &self,
        base: &str,
        mut builder: reqwest::ClientBuilder,
    ) -> std::result::Result<(reqwest::ClientBuilder, reqwest::Url), HttpsSetupError> {
        use std::net::{SocketAddr, ToSocketAddrs};
        let config = HttpsSetupError::Config;
        let mut url = reqwest::Url::parse(base)
            .map_err(|e| config(format!("https {base:?} is not a URL: {e}")))?;
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        if !host.eq_ignore_ascii_case(&self.server_name) {
            let addrs: Vec<SocketAddr> = (host.as_str(), port)
                .to_socket_addrs()
                .map_err(|e| HttpsSetupError::Resolve(format!("cannot resolve {host}: {e}")))?
                .collect();
            url.set_host(Some(&self.server_name)).map_err(|e| {
                config(format!(
                    "server_name {:?} cannot be a URL host: {e}",
                    self.server_name
                ))
            })?;
            builder = builder.resolve_to_addrs(&self.server_name, &addrs);
        }
        let ca = self.ca_certificate.display();
        let pem = std::fs::read(&self.ca_certificate)
            .map_err(|e| config(format!("cannot read the CA certificate {ca}: {e}")))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| config(format!("no PEM certificate in {ca}: {e}")))?;
        Ok((builder.tls_certs_only(certs), url))
    }
}

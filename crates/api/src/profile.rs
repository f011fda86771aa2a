//! The client profile format (`admin/admin.toml`, `clients/*.toml`): how a client finds the
//! server, which CA it trusts and who logs in. The server writes it (`init`, `quickstart`) and
//! `sigil-client` reads it, both through [`ProfileFile`]. Paths are kept as written: relative
//! paths are relative to the profile file, and the reader resolves them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// Default environment variable of an identity's password.
pub const DEFAULT_PASSWORD_ENV: &str = "SIGIL_PASSWORD";

/// A client profile as stored in TOML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// Host API address (`host:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_api: Option<String>,
    /// HTTPS API base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<String>,
    /// TLS name the client checks in the server's certificate (default `localhost`).
    #[serde(default = "default_server_name")]
    pub server_name: String,
    /// Trust anchor(s) (PEM).
    pub ca_certificate: String,
    /// Client certificate and key (PKCS#12), needed for the Host API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs12: Option<String>,
    /// File holding the PKCS#12 password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs12_password_file: Option<String>,
    /// Identities that log in, in order.
    #[serde(default)]
    pub identity: Vec<ProfileIdentity>,
}

/// One `[[identity]]` of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileIdentity {
    /// Identity name.
    pub name: String,
    /// Environment variable holding its password (default `SIGIL_PASSWORD`).
    #[serde(default = "default_password_env")]
    pub password_env: String,
    /// File holding its password (used when the variable is unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
}

fn default_server_name() -> String {
    "localhost".into()
}

fn default_password_env() -> String {
    DEFAULT_PASSWORD_ENV.into()
}

impl ProfileFile {
    /// A profile for a server listening on `host_api` and `https`, trusting `ca_certificate`.
    pub fn new(host_api: SocketAddr, https: SocketAddr, ca_certificate: &str) -> Self {
        Self {
            host_api: Some(connectable(host_api).to_string()),
            https: Some(format!("https://{}", connectable(https))),
            server_name: default_server_name(),
            ca_certificate: ca_certificate.to_owned(),
            pkcs12: None,
            pkcs12_password_file: None,
            identity: Vec::new(),
        }
    }

    /// Parses profile text.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The profile as TOML, with a comment saying what it is.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        let body = toml::to_string(self)?;
        Ok(format!(
            "# Sigil client profile. Relative paths are relative to this file.\n\
             # Passwords: the environment variable named by password_env, else password_file.\n{body}"
        ))
    }
}

/// The address a local client connects to: a wildcard listener is reached on loopback.
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_contract_format_and_reads_it_back() {
        let mut profile = ProfileFile::new(
            "0.0.0.0:9100".parse().unwrap(),
            "127.0.0.1:8443".parse().unwrap(),
            "../ca/root.pem",
        );
        profile.pkcs12 = Some("jenkins.p12".into());
        profile.identity.push(ProfileIdentity {
            name: "jenkins".into(),
            password_env: "SIGIL_PASSWORD".into(),
            password_file: Some("jenkins.password".into()),
        });
        let text = profile.to_toml().unwrap();
        let value: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(value["host_api"].as_str(), Some("127.0.0.1:9100"));
        assert_eq!(value["https"].as_str(), Some("https://127.0.0.1:8443"));
        assert_eq!(value["pkcs12"].as_str(), Some("jenkins.p12"));
        assert!(value.get("pkcs12_password_file").is_none());
        let identity = &value["identity"].as_array().unwrap()[0];
        assert_eq!(identity["name"].as_str(), Some("jenkins"));
        assert_eq!(identity["password_file"].as_str(), Some("jenkins.password"));
        assert_eq!(ProfileFile::from_toml(&text).unwrap(), profile);
    }

    #[test]
    fn defaults_and_unknown_fields() {
        let p = ProfileFile::from_toml(
            "https = \"https://h:1\"\nca_certificate = \"ca.pem\"\n[[identity]]\nname = \"a\"\n",
        )
        .unwrap();
        assert_eq!(p.server_name, "localhost");
        assert_eq!(p.identity[0].password_env, DEFAULT_PASSWORD_ENV);
        assert!(ProfileFile::from_toml("ca_certificate = \"x\"\nhost = \"y\"\n").is_err());
    }
}

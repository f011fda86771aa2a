//! Client profiles (`admin/admin.toml`, `clients/*.toml`): how `sigil` finds the server, which
//! CA to trust and who logs in. The format is shared with `sigil-client`; relative paths are
//! relative to the profile file.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use serde::Serialize;

use crate::error::ServerError;

/// A client profile as written by `init` and `quickstart`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientProfile {
    /// Host API address.
    pub host_api: String,
    /// HTTPS API base URL.
    pub https: String,
    /// TLS name the client checks.
    pub server_name: String,
    /// Trust anchor (PEM), relative to the profile.
    pub ca_certificate: String,
    /// Client certificate and key (PKCS#12), relative to the profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs12: Option<String>,
    /// File holding the PKCS#12 password, relative to the profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs12_password_file: Option<String>,
    /// Identities that log in.
    pub identity: Vec<ProfileIdentity>,
}

/// One identity of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileIdentity {
    /// Identity name.
    pub name: String,
    /// Environment variable holding its password.
    pub password_env: String,
    /// File holding its password (used when the variable is unset), relative to the profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
}

impl ClientProfile {
    /// A profile for a server listening on `host_api` and `https`, trusting `ca_certificate`.
    pub fn new(host_api: SocketAddr, https: SocketAddr, ca_certificate: &str) -> Self {
        Self {
            host_api: connectable(host_api).to_string(),
            https: format!("https://{}", connectable(https)),
            server_name: "localhost".to_owned(),
            ca_certificate: ca_certificate.to_owned(),
            pkcs12: None,
            pkcs12_password_file: None,
            identity: Vec::new(),
        }
    }

    /// The profile as TOML, with a comment saying what it is.
    pub fn to_toml(&self) -> Result<String, ServerError> {
        let body = toml::to_string(self)
            .map_err(|e| ServerError::Config(format!("cannot write a client profile: {e}")))?;
        Ok(format!(
            "# Sigil client profile. Relative paths are relative to this file.\n\
             # Passwords: the environment variable named by password_env, else password_file.\n{body}"
        ))
    }

    /// Writes the profile to a new file (mode 0600: it names secret files).
    pub fn write(&self, path: &Path) -> Result<(), ServerError> {
        crate::paths::write_private_file(path, self.to_toml()?.as_bytes())
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
mod tests {
    use super::*;

    #[test]
    fn writes_the_contract_format() {
        let mut profile = ClientProfile::new(
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
    }
}

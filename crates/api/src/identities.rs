//! Identities: `/identities`, their passwords and API keys.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// `POST /identities` body.
#[derive(Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewIdentityBody {
    /// 1–64 characters of `A-Z a-z 0-9 . _ - @`, starting with a letter or digit.
    pub name: String,
    /// `person` or `application`.
    pub kind: String,
    /// Names of existing roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The password; without it the server generates one and answers it once.
    #[serde(default)]
    pub password: Option<String>,
    /// Log in only with a TLS client certificate whose only CN is the name.
    #[serde(default)]
    pub require_client_certificate: bool,
}

/// `PUT /identities/{name}` body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateIdentityBody {
    /// Replaces the roles.
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// A disabled identity cannot log in and drops out of its sessions.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Log in only with a TLS client certificate whose only CN is the name.
    #[serde(default)]
    pub require_client_certificate: Option<bool>,
}

/// `POST /identities/{name}/password` body.
#[derive(Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// The new password; without it the server generates one and answers it once.
    #[serde(default)]
    pub password: Option<String>,
}

/// `POST /identities/{name}/password` answer.
#[derive(Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordSet {
    /// The identity.
    pub identity: String,
    /// The generated password, shown this once (absent when one was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// `POST /identities/{name}/api-keys` body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApiKeyBody {
    /// What the key is for (shown in the audit log).
    #[serde(default)]
    pub label: String,
}

/// A new API key: the token is shown once.
#[derive(Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyView {
    /// The key id.
    pub id: String,
    /// The identity the key logs in as.
    pub identity: String,
    /// The label given.
    pub label: String,
    /// The key, `sigil_<id>_<secret>`: use it as the password; shown this once, only its hash is stored.
    pub token: String,
}

/// An identity (never its password hash).
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct IdentityView {
    pub name: String,
    /// `person` or `application`.
    pub kind: String,
    pub enabled: bool,
    /// Locked after too many failed logins (the lock ends by itself, or `POST /identities/{name}/unlock`).
    pub locked: bool,
    /// Consecutive failed logins (reset by a login or an unlock).
    pub failed_logins: u32,
    pub roles: Vec<String>,
    pub has_password: bool,
    pub require_client_certificate: bool,
    /// The generated password, only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl Drop for IdentityView {
    fn drop(&mut self) {
        if let Some(p) = self.password.as_mut() {
            zeroize::Zeroize::zeroize(p);
        }
    }
}

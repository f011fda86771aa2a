//! Login, logout and the session: `POST /login`, `POST /logout`, `GET /session`.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// `POST /login` body. The password is wiped from memory when the body is dropped.
#[derive(Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// The identity's name.
    pub identity: String,
    /// Its password, or one of its API keys (`sigil_<id>_<secret>`).
    pub password: String,
}

/// A role still waiting for logins.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct PendingView {
    pub role: String,
    /// Distinct identities holding the role that still have to log in on this session.
    pub more_logins_needed: u32,
}

/// The state of a session, as login and `GET /session` report it.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct SessionView {
    /// The new session's token, only when the login opened a session: send it as
    /// `Authorization: Bearer <token>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The identities logged in on the session.
    pub identities: Vec<String>,
    /// The most logins any held role still needs.
    pub logins_still_required: u32,
    pub pending: Vec<PendingView>,
    /// The permissions of the session's active roles.
    pub permissions: Vec<String>,
}

/// `POST /logout` answer.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoggedOut {
    /// Always `true`.
    pub logged_out: bool,
}

/// `GET /health` answer.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// The server's version.
    pub version: String,
}

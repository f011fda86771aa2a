//! The CA: `/cas`, `/certificates`, exports and the listeners' certificates.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The key backend of keys Sigil generates and holds itself (the server's
/// `sigil_domain::SOFTWARE_BACKEND`, which a server test keeps equal to this).
pub const SOFTWARE_BACKEND: &str = "software";

fn software_backend() -> String {
    SOFTWARE_BACKEND.to_owned()
}

/// `POST /cas` body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCaBody {
    /// The CA name.
    pub name: String,
    /// Key algorithm: `rsa-2048`, `rsa-3072`, `rsa-4096`, `ec-p256`, `ec-p384` or `ed25519`.
    pub key_algorithm: String,
    /// Distinguished name, e.g. `CN=Example Root CA,O=Example`.
    pub subject: String,
    /// Validity of its certificate in days.
    pub validity_days: u32,
    /// The issuing CA (absent for a root CA).
    #[serde(default)]
    pub parent: Option<String>,
    /// Path length constraint of its certificate.
    #[serde(default)]
    pub path_len: Option<u8>,
    /// Where the CA key is held: `software` (default) or an HSM's name.
    #[serde(default = "software_backend")]
    pub key_backend: String,
}

/// `GET /cas/{name}/crl` answer.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct CrlView {
    pub ca: String,
    pub number: u64,
    pub crl_pem: String,
}

/// `POST /certificates` body: either `csr_pem` or `key_algorithm`.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    /// The issuing CA.
    pub issuer: String,
    /// `ca`, `tls-server`, `tls-client`, `code-signing` or `timestamping`.
    pub profile: String,
    /// Distinguished name (overrides a CSR's subject).
    #[serde(default)]
    pub subject: Option<String>,
    /// Subject alternative names: `DNS:host`, `IP:127.0.0.1`.
    #[serde(default)]
    pub sans: Vec<String>,
    /// Validity in days.
    pub validity_days: u32,
    /// The subject's PKCS#10 CSR (its signature is verified); exactly one of `csr_pem` and `key_algorithm`.
    #[serde(default)]
    pub csr_pem: Option<String>,
    /// Sigil generates the key and keeps it sealed: key algorithm: `rsa-2048`, `rsa-3072`, `rsa-4096`, `ec-p256`, `ec-p384` or `ed25519`.
    #[serde(default)]
    pub key_algorithm: Option<String>,
    /// Where a generated key is held: `software` (default) or an HSM's name.
    #[serde(default = "software_backend")]
    pub key_backend: String,
}

/// `POST /certificates/{serial}/revoke` body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// `unspecified` (the default), `key-compromise`, `ca-compromise`, `affiliation-changed`, `superseded`, `cessation-of-operation`, `certificate-hold` or `privilege-withdrawn`.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /certificates/{serial}/export` body. The password is wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    /// Protects the PKCS#12 (at least 12 characters).
    pub password: String,
}

/// `POST /certificates/{serial}/export` answer.
#[derive(Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportView {
    /// The certificate's serial.
    pub serial: String,
    /// The PKCS#12 file, base64.
    pub pkcs12_base64: String,
}

/// `POST /listeners/{listener}/csr` body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CsrBody {
    /// Distinguished name of the listener certificate.
    #[serde(default)]
    pub subject: Option<String>,
    /// Subject alternative names: `DNS:host`, `IP:127.0.0.1`.
    #[serde(default)]
    pub sans: Vec<String>,
}

/// `POST /listeners/{listener}/csr` answer.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct CsrView {
    pub listener: String,
    pub key_id: String,
    pub csr_pem: String,
}

/// `PUT /listeners/{listener}/chain` body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChainBody {
    /// The `key_id` the listener CSR returned.
    pub key_id: String,
    /// The signed certificate and its CA certificates, PEM, leaf first.
    pub chain_pem: String,
    /// A node's id (`node_id` in its sigil.toml): replace that node's own chain instead of the
    /// deployment's.
    #[serde(default)]
    pub node: Option<String>,
}

/// `PUT /listeners/{listener}/chain` answer.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct ChainLoaded {
    pub listener: String,
    pub key_id: String,
    pub loaded: bool,
}

/// A revocation.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct RevocationView {
    pub at: String,
    pub reason: String,
}

/// A certificate, with PEM and (when known) its chain.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct CertificateView {
    /// Lowercase hex, no leading zeros.
    pub serial: String,
    pub subject: String,
    pub issuer: String,
    /// Issued by a CA outside Sigil (imported with its chain); `issuer` is then its DN.
    pub external: bool,
    /// `ca`, `tls-server`, `tls-client`, `code-signing` or `timestamping`.
    pub profile: String,
    pub not_before: String,
    pub not_after: String,
    /// The held key, when Sigil holds it.
    pub key_id: Option<String>,
    /// When and why it was revoked, or `null`.
    pub revocation: Option<RevocationView>,
    /// The certificate, PEM.
    pub pem: String,
    /// The certificate and its CA certificates, PEM, leaf first (when showing one certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_pem: Option<String>,
}

/// A CA container.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct CaView {
    pub name: String,
    pub parent: Option<String>,
    pub key_id: String,
    pub certificate_pem: String,
    pub subject: Option<String>,
    pub not_after: Option<String>,
}

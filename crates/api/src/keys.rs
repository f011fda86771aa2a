//! Keys: `/keys`, their CSRs, chains and PKCS#12 imports.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// `POST /keys` body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    /// `rsa-2048`, `rsa-3072`, `rsa-4096`, `ec-p256` or `ec-p384`.
    pub algorithm: String,
    /// `code-signing` (the default), `timestamping`, …: the profile its certificate must have.
    #[serde(default)]
    pub purpose: Option<String>,
    /// `software` (the default) or the name of an `[[hsm]]` of `sigil.toml`.
    #[serde(default)]
    pub backend: Option<String>,
}

/// `POST /keys/{id}/csr` body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyCsrBody {
    /// Distinguished name to request.
    pub subject: String,
    /// Subject alternative names: `DNS:host`, `IP:127.0.0.1`.
    #[serde(default)]
    pub sans: Vec<String>,
}

/// `POST /keys/{id}/csr` answer.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct KeyCsrView {
    pub key_id: String,
    pub csr_pem: String,
}

/// `POST /keys/{id}/chain` body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportChainBody {
    /// The certificate another CA issued for the key and its CA certificates, PEM, leaf first.
    pub chain_pem: String,
    /// `code-signing` (the default), `timestamping`, …: the extended key usage the leaf must have.
    #[serde(default)]
    pub purpose: Option<String>,
}

/// `POST /keys/import` body. Wiped on drop (it holds the password and the encrypted key).
#[derive(Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportPkcs12Body {
    /// The `.p12` file, base64.
    pub pkcs12_base64: String,
    /// Its password.
    pub password: String,
    /// CA certificates, PEM, when the file has none.
    #[serde(default)]
    pub chain_pem: Option<String>,
    /// `code-signing` (the default), `timestamping`, ….
    #[serde(default)]
    pub purpose: Option<String>,
    /// `software` (the default) or the name of an `[[hsm]]` to import the key into.
    #[serde(default)]
    pub backend: Option<String>,
}

/// A held key (public parts) and the certificates stored for it.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct KeyView {
    pub key_id: String,
    pub algorithm: String,
    pub purpose: String,
    /// `software` or the name of an `[[hsm]]`.
    pub backend: String,
    pub created: String,
    pub public_key_pem: String,
    /// Serials of the certificates stored for the key.
    pub certificates: Vec<String>,
}

/// `POST /keys/import` answer.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct ImportedView {
    pub key_id: String,
    pub certificate: crate::pki::CertificateView,
}

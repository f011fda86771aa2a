//! PKI routes: CA containers, certificates, revocation, CRLs, PKCS#12 export, and the
//! listener-certificate flow (CSR → sign → load chain, swapped in without a restart). The
//! permission is checked here; the work is [`crate::service::pki`]'s.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sigil_domain::{
    CaName, CertProfile, Interface, KeyId, Permission, RevocationReason, SerialNumber,
};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::Https;
use super::error::{ApiError, ApiResult};
use super::extract::{Body, Caller, PathArg, QueryArg, parse};
use super::views::{CaView, CertificateView};
use crate::service::admin::require;
use crate::service::pki as svc;

fn serial(text: &str) -> Result<SerialNumber, ApiError> {
    SerialNumber::from_hex(text).map_err(|e| ApiError::invalid(e.to_string()))
}

// ---- CAs ----------------------------------------------------------------------------------

/// `POST /cas` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCaBody {
    name: String,
    key_algorithm: String,
    subject: String,
    validity_days: u32,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    path_len: Option<u8>,
    /// Where the CA key is held: `software` (default) or an HSM's name.
    #[serde(default = "software_backend")]
    key_backend: String,
}

/// `GET /cas` (`ca:list`).
pub(crate) async fn list_cas(
    State(h): State<Https>,
    caller: Caller,
) -> ApiResult<Json<Vec<CaView>>> {
    require(&h.app, &caller.actor(), Permission::CaList, "ca.list").await?;
    let cas = svc::list_cas(&h.app).await?;
    Ok(Json(
        cas.iter().map(CaView::new).collect::<Result<Vec<_>, _>>()?,
    ))
}

/// `GET /cas/{name}` (`ca:list`).
pub(crate) async fn get_ca(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
) -> ApiResult<Json<CaView>> {
    require(&h.app, &caller.actor(), Permission::CaList, "ca.show").await?;
    let name: CaName = parse(&name)?;
    Ok(Json(CaView::new(&svc::get_ca(&h.app, &name).await?)?))
}

/// `POST /cas` (`ca:add`).
pub(crate) async fn create_ca(
    State(h): State<Https>,
    caller: Caller,
    Body(body): Body<NewCaBody>,
) -> ApiResult<(StatusCode, Json<CaView>)> {
    require(&h.app, &caller.actor(), Permission::CaAdd, "ca.create").await?;
    let args = svc::NewCaArgs {
        name: parse(&body.name)?,
        key_algorithm: svc::parse_key_algorithm(&body.key_algorithm)?,
        subject: body.subject,
        validity_days: body.validity_days,
        parent: body.parent.as_deref().map(parse).transpose()?,
        path_len: body.path_len,
        key_backend: body.key_backend,
    };
    let record = svc::create_ca(&h.app, &caller.actor(), args).await?;
    Ok((StatusCode::CREATED, Json(CaView::new(&record)?)))
}

/// `GET /cas/{name}/crl` answer.
#[derive(Serialize)]
pub(crate) struct CrlView {
    ca: String,
    number: u64,
    crl_pem: String,
}

/// `GET /cas/{name}/crl` (`ca:export`): a freshly signed CRL.
pub(crate) async fn crl(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
) -> ApiResult<Json<CrlView>> {
    require(&h.app, &caller.actor(), Permission::CaExport, "ca.crl").await?;
    let name: CaName = parse(&name)?;
    let crl = svc::crl(&h.app, &caller.actor(), &name).await?;
    Ok(Json(CrlView {
        ca: crl.ca.to_string(),
        number: crl.number,
        crl_pem: crl.pem,
    }))
}

// ---- certificates -------------------------------------------------------------------------

/// `GET /certificates` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CertificateQuery {
    #[serde(default)]
    issuer: Option<String>,
}

/// `GET /certificates?issuer=` (`ca:list`).
pub(crate) async fn list_certificates(
    State(h): State<Https>,
    caller: Caller,
    QueryArg(q): QueryArg<CertificateQuery>,
) -> ApiResult<Json<Vec<CertificateView>>> {
    require(
        &h.app,
        &caller.actor(),
        Permission::CaList,
        "certificate.list",
    )
    .await?;
    let issuer: Option<CaName> = q.issuer.as_deref().map(parse).transpose()?;
    let list = svc::list_certificates(&h.app, issuer.as_ref()).await?;
    Ok(Json(
        list.iter()
            .map(|r| CertificateView::new(r, None))
            .collect::<Result<Vec<_>, _>>()?,
    ))
}

/// `GET /certificates/{serial}` (`ca:list`): with its chain.
pub(crate) async fn get_certificate(
    State(h): State<Https>,
    caller: Caller,
    PathArg(text): PathArg<String>,
) -> ApiResult<Json<CertificateView>> {
    require(
        &h.app,
        &caller.actor(),
        Permission::CaList,
        "certificate.show",
    )
    .await?;
    let issued = svc::get_certificate(&h.app, &serial(&text)?).await?;
    Ok(Json(CertificateView::new(
        &issued.record,
        Some(&issued.chain),
    )?))
}

/// `POST /certificates` body: either `csr_pem` or `key_algorithm`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueBody {
    issuer: String,
    profile: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    sans: Vec<String>,
    validity_days: u32,
    #[serde(default)]
    csr_pem: Option<String>,
    #[serde(default)]
    key_algorithm: Option<String>,
    /// Where a generated key is held: `software` (default) or an HSM's name.
    #[serde(default = "software_backend")]
    key_backend: String,
}

fn software_backend() -> String {
    sigil_domain::SOFTWARE_BACKEND.to_owned()
}

/// `POST /certificates` (`ca:issue`; a Sigil-generated key also needs `keys:add`).
pub(crate) async fn issue_certificate(
    State(h): State<Https>,
    caller: Caller,
    Body(body): Body<IssueBody>,
) -> ApiResult<(StatusCode, Json<CertificateView>)> {
    require(
        &h.app,
        &caller.actor(),
        Permission::CaIssue,
        "certificate.issue",
    )
    .await?;
    let key = match (body.csr_pem, body.key_algorithm.as_deref()) {
        (Some(csr), None) => svc::KeySource::Csr(csr.into_bytes()),
        (None, Some(algorithm)) => {
            require(
                &h.app,
                &caller.actor(),
                Permission::KeysAdd,
                "certificate.issue",
            )
            .await?;
            svc::KeySource::Generate(svc::parse_key_algorithm(algorithm)?)
        }
        _ => {
            return Err(ApiError::invalid(
                "give exactly one of \"csr_pem\" (the subject's CSR) or \"key_algorithm\" (Sigil generates and keeps the key)",
            ));
        }
    };
    let args = svc::IssueArgs {
        issuer: parse(&body.issuer)?,
        profile: parse::<CertProfile>(&body.profile)?,
        subject: body.subject,
        sans: body.sans,
        validity_days: body.validity_days,
        key,
        key_backend: body.key_backend,
    };
    let issued = svc::issue_certificate(&h.app, &caller.actor(), args).await?;
    Ok((
        StatusCode::CREATED,
        Json(CertificateView::new(&issued.record, Some(&issued.chain))?),
    ))
}

/// `POST /certificates/{serial}/revoke` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeBody {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /certificates/{serial}/revoke` (`ca:revoke`).
pub(crate) async fn revoke(
    State(h): State<Https>,
    caller: Caller,
    PathArg(text): PathArg<String>,
    Body(body): Body<RevokeBody>,
) -> ApiResult<Json<CertificateView>> {
    require(
        &h.app,
        &caller.actor(),
        Permission::CaRevoke,
        "certificate.revoke",
    )
    .await?;
    let reason = match &body.reason {
        Some(r) => parse::<RevocationReason>(r)?,
        None => RevocationReason::Unspecified,
    };
    let record = svc::revoke_certificate(&h.app, &caller.actor(), &serial(&text)?, reason).await?;
    Ok(Json(CertificateView::new(&record, None)?))
}

/// `POST /certificates/{serial}/export` body. The password is wiped on drop.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportBody {
    password: String,
}

/// `POST /certificates/{serial}/export` answer.
#[derive(Serialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct ExportView {
    serial: String,
    pkcs12_base64: String,
}

/// `POST /certificates/{serial}/export` (`ca:export-clear-key`, and the setting
/// `allow_export_with_password` must be on).
pub(crate) async fn export(
    State(h): State<Https>,
    caller: Caller,
    PathArg(text): PathArg<String>,
    Body(body): Body<ExportBody>,
) -> ApiResult<Json<ExportView>> {
    require(
        &h.app,
        &caller.actor(),
        Permission::CaExportClearKey,
        "certificate.export",
    )
    .await?;
    let serial = serial(&text)?;
    let p12 = svc::export_pkcs12(&h.app, &caller.actor(), &serial, &body.password).await?;
    Ok(Json(ExportView {
        serial: serial.to_string(),
        pkcs12_base64: base64::engine::general_purpose::STANDARD.encode(p12.as_slice()),
    }))
}

// ---- listeners ----------------------------------------------------------------------------

fn listener(text: &str) -> Result<Interface, ApiError> {
    text.parse().map_err(|_| {
        ApiError::not_found(format!(
            "there is no listener {text:?}: use host-api or https"
        ))
    })
}

/// `POST /listeners/{listener}/csr` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CsrBody {
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    sans: Vec<String>,
}

/// `POST /listeners/{listener}/csr` answer.
#[derive(Serialize)]
pub(crate) struct CsrView {
    listener: String,
    key_id: String,
    csr_pem: String,
}

/// `POST /listeners/{listener}/csr` (`keys:add`): a new sealed listener key and its CSR.
pub(crate) async fn listener_csr(
    State(h): State<Https>,
    caller: Caller,
    PathArg(which): PathArg<String>,
    Body(body): Body<CsrBody>,
) -> ApiResult<Json<CsrView>> {
    require(&h.app, &caller.actor(), Permission::KeysAdd, "listener.csr").await?;
    let interface = listener(&which)?;
    let csr = svc::listener_csr(
        &h.app,
        &caller.actor(),
        interface,
        body.subject.as_deref(),
        &body.sans,
    )
    .await?;
    Ok(Json(CsrView {
        listener: interface.as_str().to_owned(),
        key_id: csr.key_id.to_string(),
        csr_pem: csr.csr_pem,
    }))
}

/// `PUT /listeners/{listener}/chain` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChainBody {
    key_id: String,
    chain_pem: String,
    /// A node's id (`node_id` in its sigil.toml): replace that node's own chain instead of the
    /// deployment's.
    #[serde(default)]
    node: Option<String>,
}

/// `PUT /listeners/{listener}/chain` answer.
#[derive(Serialize)]
pub(crate) struct ChainLoaded {
    listener: String,
    key_id: String,
    loaded: bool,
}

/// `PUT /listeners/{listener}/chain` (`ca:upload`): new connections get the chain at once.
pub(crate) async fn load_chain(
    State(h): State<Https>,
    caller: Caller,
    PathArg(which): PathArg<String>,
    Body(body): Body<ChainBody>,
) -> ApiResult<Json<ChainLoaded>> {
    require(
        &h.app,
        &caller.actor(),
        Permission::CaUpload,
        "listener.chain",
    )
    .await?;
    let interface = listener(&which)?;
    let key_id = body
        .key_id
        .parse::<uuid::Uuid>()
        .map(KeyId)
        .map_err(|_| ApiError::invalid("key_id is not the UUID a listener CSR returned"))?;
    let node = body
        .node
        .as_deref()
        .map(|node| {
            node.parse::<uuid::Uuid>()
                .map(|id| id.to_string())
                .map_err(|_| {
                    ApiError::invalid(
                        "node is not a node id (the UUID `node_id` of the node's sigil.toml)",
                    )
                })
        })
        .transpose()?;
    svc::load_listener_chain(
        &h.app,
        &caller.actor(),
        node.as_deref(),
        interface,
        key_id,
        body.chain_pem.as_bytes(),
    )
    .await?;
    Ok(Json(ChainLoaded {
        listener: interface.as_str().to_owned(),
        key_id: key_id.to_string(),
        loaded: true,
    }))
}

//! PKI routes: CA containers, certificates, revocation, CRLs, PKCS#12 export, and the
//! listener-certificate flow (CSR → sign → load chain, swapped in without a restart). The
//! use cases ([`crate::service::cas`], [`crate::service::certificates`],
//! [`crate::service::listeners`]) check the permission and do the work.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use serde::Deserialize;
use sigil_domain::{CaName, CertProfile, Interface, KeyId, RevocationReason, SerialNumber};
use utoipa::IntoParams;

use sigil_api::pki::{
    CaView, CertificateView, ChainBody, ChainLoaded, CrlView, CsrBody, CsrView, ExportBody,
    ExportView, IssueBody, NewCaBody, RevokeBody,
};

use super::Https;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Caller, PathArg, QueryArg, parse};
use super::views::{ca_view, certificate_view};
use crate::service::pki as svc;
use crate::service::{cas, certificates, listeners};

fn serial(text: &str) -> Result<SerialNumber, ApiError> {
    SerialNumber::from_hex(text).map_err(|e| ApiError::invalid(e.to_string()))
}

// ---- CAs ----------------------------------------------------------------------------------

/// `GET /cas` (`ca:list`): every CA.
#[utoipa::path(
    get,
    path = "/cas",
    tag = "pki",
    responses(
        (status = 200, description = "Every CA.", body = Vec<CaView>),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `ca:list`.", body = ErrorBody),
    )
)]
pub(crate) async fn list_cas(
    State(h): State<Https>,
    caller: Caller,
) -> ApiResult<Json<Vec<CaView>>> {
    let cas = cas::list::run(&h.app, &caller.actor()).await?;
    Ok(Json(
        cas.iter().map(ca_view).collect::<Result<Vec<_>, _>>()?,
    ))
}

/// `GET /cas/{name}` (`ca:list`): one CA.
#[utoipa::path(
    get,
    path = "/cas/{name}",
    tag = "pki",
    params(("name" = String, Path, description = "The CA's name.")),
    responses(
        (status = 200, description = "The CA.", body = CaView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `ca:list`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such CA.", body = ErrorBody),
    )
)]
pub(crate) async fn get_ca(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
) -> ApiResult<Json<CaView>> {
    let name: CaName = parse(&name)?;
    Ok(Json(ca_view(
        &cas::show::run(&h.app, &caller.actor(), &name).await?,
    )?))
}

/// `POST /cas` (`ca:add`): a new root or intermediate CA with its key.
#[utoipa::path(
    post,
    path = "/cas",
    tag = "pki",
    request_body = NewCaBody,
    responses(
        (status = 201, description = "Created, with its key and certificate.", body = CaView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `ca:add`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: the parent CA does not exist.", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the name exists already.", body = ErrorBody),
    )
)]
pub(crate) async fn create_ca(
    State(h): State<Https>,
    caller: Caller,
    Body(body): Body<NewCaBody>,
) -> ApiResult<(StatusCode, Json<CaView>)> {
    let args = svc::NewCaArgs {
        name: parse(&body.name)?,
        key_algorithm: svc::parse_key_algorithm(&body.key_algorithm)?,
        subject: body.subject,
        validity_days: body.validity_days,
        parent: body.parent.as_deref().map(parse).transpose()?,
        path_len: body.path_len,
        key_backend: body.key_backend,
    };
    let record = cas::create::run(&h.app, &caller.actor(), args).await?;
    Ok((StatusCode::CREATED, Json(ca_view(&record)?)))
}

/// `GET /cas/{name}/crl` (`ca:export`): a freshly signed CRL.
#[utoipa::path(
    get,
    path = "/cas/{name}/crl",
    tag = "pki",
    params(("name" = String, Path, description = "The CA's name.")),
    responses(
        (status = 200, description = "A freshly signed CRL.", body = CrlView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `ca:export`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such CA.", body = ErrorBody),
    )
)]
pub(crate) async fn crl(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
) -> ApiResult<Json<CrlView>> {
    let name: CaName = parse(&name)?;
    let crl = cas::crl::run(&h.app, &caller.actor(), &name).await?;
    Ok(Json(CrlView {
        ca: crl.ca.to_string(),
        number: crl.number,
        crl_pem: crl.pem,
    }))
}

// ---- certificates -------------------------------------------------------------------------

/// `GET /certificates` query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct CertificateQuery {
    /// Only the certificates of this CA (its name).
    #[serde(default)]
    issuer: Option<String>,
}

/// `GET /certificates?issuer=` (`ca:list`): the certificates, of one CA or all.
#[utoipa::path(
    get,
    path = "/certificates",
    tag = "pki",
    params(CertificateQuery),
    responses(
        (status = 200, description = "The certificates (without `chain_pem`).", body = Vec<CertificateView>),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `ca:list`.", body = ErrorBody),
    )
)]
pub(crate) async fn list_certificates(
    State(h): State<Https>,
    caller: Caller,
    QueryArg(q): QueryArg<CertificateQuery>,
) -> ApiResult<Json<Vec<CertificateView>>> {
    let issuer: Option<CaName> = q.issuer.as_deref().map(parse).transpose()?;
    let list = certificates::list::run(&h.app, &caller.actor(), issuer.as_ref()).await?;
    Ok(Json(
        list.iter()
            .map(|r| certificate_view(r, None))
            .collect::<Result<Vec<_>, _>>()?,
    ))
}

/// `GET /certificates/{serial}` (`ca:list`): with its chain.
#[utoipa::path(
    get,
    path = "/certificates/{serial}",
    tag = "pki",
    params(("serial" = String, Path, description = "The serial number, lowercase hex.")),
    responses(
        (status = 200, description = "The certificate with `chain_pem`.", body = CertificateView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `ca:list`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such certificate.", body = ErrorBody),
    )
)]
pub(crate) async fn get_certificate(
    State(h): State<Https>,
    caller: Caller,
    PathArg(text): PathArg<String>,
) -> ApiResult<Json<CertificateView>> {
    let issued = certificates::show::run(&h.app, &caller.actor(), &serial(&text)?).await?;
    Ok(Json(certificate_view(&issued.record, Some(&issued.chain))?))
}

/// `POST /certificates` (`ca:issue`; a Sigil-generated key also needs `keys:add`).
#[utoipa::path(
    post,
    path = "/certificates",
    tag = "pki",
    request_body = IssueBody,
    responses(
        (status = 201, description = "Issued, with `chain_pem`.", body = CertificateView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `ca:issue` (and `keys:add` with `key_algorithm`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: the issuing CA does not exist.", body = ErrorBody),
    )
)]
pub(crate) async fn issue_certificate(
    State(h): State<Https>,
    caller: Caller,
    Body(body): Body<IssueBody>,
) -> ApiResult<(StatusCode, Json<CertificateView>)> {
    let key = match (body.csr_pem, body.key_algorithm.as_deref()) {
        (Some(csr), None) => svc::KeySource::Csr(csr.into_bytes()),
        (None, Some(algorithm)) => svc::KeySource::Generate(svc::parse_key_algorithm(algorithm)?),
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
    let issued = certificates::issue::run(&h.app, &caller.actor(), args).await?;
    Ok((
        StatusCode::CREATED,
        Json(certificate_view(&issued.record, Some(&issued.chain))?),
    ))
}

/// `POST /certificates/{serial}/revoke` (`ca:revoke`): revokes a certificate.
#[utoipa::path(
    post,
    path = "/certificates/{serial}/revoke",
    tag = "pki",
    params(("serial" = String, Path, description = "The serial number, lowercase hex.")),
    request_body = RevokeBody,
    responses(
        (status = 200, description = "The certificate with `revocation`.", body = CertificateView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `ca:revoke`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such certificate.", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the certificate is revoked already.", body = ErrorBody),
    )
)]
pub(crate) async fn revoke(
    State(h): State<Https>,
    caller: Caller,
    PathArg(text): PathArg<String>,
    Body(body): Body<RevokeBody>,
) -> ApiResult<Json<CertificateView>> {
    let reason = match &body.reason {
        Some(r) => parse::<RevocationReason>(r)?,
        None => RevocationReason::Unspecified,
    };
    let record =
        certificates::revoke::run(&h.app, &caller.actor(), &serial(&text)?, reason).await?;
    Ok(Json(certificate_view(&record, None)?))
}

/// `POST /certificates/{serial}/export` (`ca:export-clear-key`, and the setting
/// `allow_export_with_password` must be on).
#[utoipa::path(
    post,
    path = "/certificates/{serial}/export",
    tag = "pki",
    params(("serial" = String, Path, description = "The serial number, lowercase hex.")),
    request_body = ExportBody,
    responses(
        (status = 200, description = "The key and certificate as a password-protected PKCS#12.", body = ExportView),
        (status = 403, description = "`NOT_PERMITTED`: the session lacks `ca:export-clear-key`, the setting `allow_export_with_password` is off, or the key is held in an HSM.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such certificate, or Sigil does not hold its key.", body = ErrorBody),
    )
)]
pub(crate) async fn export(
    State(h): State<Https>,
    caller: Caller,
    PathArg(text): PathArg<String>,
    Body(body): Body<ExportBody>,
) -> ApiResult<Json<ExportView>> {
    let serial = serial(&text)?;
    let p12 = certificates::export::run(&h.app, &caller.actor(), &serial, &body.password).await?;
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

/// `POST /listeners/{listener}/csr` (`keys:add`): a new sealed listener key and its CSR.
#[utoipa::path(
    post,
    path = "/listeners/{listener}/csr",
    tag = "pki",
    params(("listener" = String, Path, description = "The listener: `host-api` or `https`.")),
    request_body = CsrBody,
    responses(
        (status = 200, description = "A new sealed listener key and its CSR.", body = CsrView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `keys:add`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: there is no such listener.", body = ErrorBody),
    )
)]
pub(crate) async fn listener_csr(
    State(h): State<Https>,
    caller: Caller,
    PathArg(which): PathArg<String>,
    Body(body): Body<CsrBody>,
) -> ApiResult<Json<CsrView>> {
    let interface = listener(&which)?;
    let csr = listeners::csr::run(
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

/// `PUT /listeners/{listener}/chain` (`ca:upload`): new connections get the chain at once.
#[utoipa::path(
    put,
    path = "/listeners/{listener}/chain",
    tag = "pki",
    params(("listener" = String, Path, description = "The listener: `host-api` or `https`.")),
    request_body = ChainBody,
    responses(
        (status = 200, description = "Loaded: new connections get the chain at once.", body = ChainLoaded),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `ca:upload`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: there is no such listener.", body = ErrorBody),
    )
)]
pub(crate) async fn load_chain(
    State(h): State<Https>,
    caller: Caller,
    PathArg(which): PathArg<String>,
    Body(body): Body<ChainBody>,
) -> ApiResult<Json<ChainLoaded>> {
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
    listeners::load_chain::run(
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

#[cfg(test)]
mod tests {
    /// `sigil-api` defaults the key backend of new bodies without depending on the domain.
    #[test]
    fn the_api_default_backend_is_the_domain_software_backend() {
        assert_eq!(
            sigil_api::pki::SOFTWARE_BACKEND,
            sigil_domain::SOFTWARE_BACKEND
        );
    }
}

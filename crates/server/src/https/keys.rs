//! Held keys and certificates from any CA: create a key, make a CSR with it, import the chain
//! another CA issued for it, import a key and certificate from PKCS#12. The use cases
//! ([`crate::service::keys`], [`crate::service::certificates::import_chain`]) check the
//! permission and do the work.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use sigil_domain::{CertProfile, KeyId, SOFTWARE_BACKEND};
use zeroize::Zeroizing;

use sigil_api::keys::{
    ImportChainBody, ImportPkcs12Body, ImportedView, KeyCsrBody, KeyCsrView, KeyView, NewKeyBody,
};
use sigil_api::pki::CertificateView;

use super::Https;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Caller, PathArg, parse};
use super::views::{certificate_view, key_view};
use crate::service::keys as svc;
use crate::service::pki::{Pki, SYSTEM_ACTOR, parse_key_algorithm};

fn key_id(text: &str) -> Result<KeyId, ApiError> {
    text.parse::<uuid::Uuid>().map(KeyId).map_err(|_| {
        ApiError::invalid(format!(
            "{text:?} is not a key id: use the UUID `sigil key list` shows"
        ))
    })
}

fn purpose(text: Option<&str>) -> Result<CertProfile, ApiError> {
    text.map_or(Ok(CertProfile::CodeSigning), parse::<CertProfile>)
}

/// `POST /keys` (`keys:add`): a key without a certificate.
#[utoipa::path(
    post,
    path = "/keys",
    tag = "keys",
    request_body = NewKeyBody,
    responses(
        (status = 201, description = "Created, without a certificate.", body = KeyView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `keys:add`.", body = ErrorBody),
    )
)]
pub(crate) async fn create_key(
    State(h): State<Https>,
    caller: Caller,
    Body(body): Body<NewKeyBody>,
) -> ApiResult<(StatusCode, Json<KeyView>)> {
    let args = svc::NewKeyArgs {
        algorithm: parse_key_algorithm(&body.algorithm)?,
        purpose: purpose(body.purpose.as_deref())?,
        backend: body
            .backend
            .clone()
            .unwrap_or_else(|| SOFTWARE_BACKEND.to_owned()),
    };
    let key = svc::create::run(&h.app, &caller.actor(), args).await?;
    Ok((StatusCode::CREATED, Json(key_view(&key, &[])?)))
}

/// `GET /keys` (`ca:list`): every held key with its certificates.
#[utoipa::path(
    get,
    path = "/keys",
    tag = "keys",
    responses(
        (status = 200, description = "Every key Sigil holds, with the serials of its certificates.", body = Vec<KeyView>),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `ca:list`.", body = ErrorBody),
    )
)]
pub(crate) async fn list_keys(
    State(h): State<Https>,
    caller: Caller,
) -> ApiResult<Json<Vec<KeyView>>> {
    let keys = svc::list::run(&h.app, &caller.actor()).await?;
    Ok(Json(
        keys.iter()
            .map(|k| key_view(&k.key, &k.certificates))
            .collect::<Result<Vec<_>, _>>()?,
    ))
}

/// `POST /keys/{id}/csr` (`keys:add`): a PKCS#10 CSR signed by the held key.
#[utoipa::path(
    post,
    path = "/keys/{id}/csr",
    tag = "keys",
    params(("id" = String, Path, description = "The key id (a UUID, as `GET /keys` lists it).")),
    request_body = KeyCsrBody,
    responses(
        (status = 200, description = "A PKCS#10 CSR signed by the key.", body = KeyCsrView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `keys:add`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such key.", body = ErrorBody),
    )
)]
pub(crate) async fn key_csr(
    State(h): State<Https>,
    caller: Caller,
    PathArg(text): PathArg<String>,
    Body(body): Body<KeyCsrBody>,
) -> ApiResult<Json<KeyCsrView>> {
    let id = key_id(&text)?;
    let csr_pem = svc::csr::run(&h.app, &caller.actor(), id, &body.subject, &body.sans).await?;
    Ok(Json(KeyCsrView {
        key_id: id.to_string(),
        csr_pem,
    }))
}

/// `POST /keys/{id}/chain` (`ca:upload`): the chain another CA issued for the held key.
#[utoipa::path(
    post,
    path = "/keys/{id}/chain",
    tag = "keys",
    params(("id" = String, Path, description = "The key id (a UUID, as `GET /keys` lists it).")),
    request_body = ImportChainBody,
    responses(
        (status = 201, description = "The leaf, stored with `external: true` and its `chain_pem`.", body = CertificateView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `ca:upload`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such key.", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the serial is stored already.", body = ErrorBody),
    )
)]
pub(crate) async fn import_chain(
    State(h): State<Https>,
    caller: Caller,
    PathArg(text): PathArg<String>,
    Body(body): Body<ImportChainBody>,
) -> ApiResult<(StatusCode, Json<CertificateView>)> {
    let id = key_id(&text)?;
    let record = crate::service::certificates::import_chain::run(
        &h.app,
        &caller.actor(),
        id,
        body.chain_pem.as_bytes(),
        purpose(body.purpose.as_deref())?,
    )
    .await?;
    let chain = Pki::new(&h.app, SYSTEM_ACTOR)
        .chain_of_record(&record)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(certificate_view(&record, Some(&chain))?),
    ))
}

/// `POST /keys/import` (`keys:add` and `ca:upload`): a key and its certificate from PKCS#12.
#[utoipa::path(
    post,
    path = "/keys/import",
    tag = "keys",
    request_body = ImportPkcs12Body,
    responses(
        (status = 201, description = "The imported key and its certificate.", body = ImportedView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `keys:add` and `ca:upload`.", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the certificate is stored already.", body = ErrorBody),
    )
)]
pub(crate) async fn import_pkcs12(
    State(h): State<Https>,
    caller: Caller,
    Body(body): Body<ImportPkcs12Body>,
) -> ApiResult<(StatusCode, Json<ImportedView>)> {
    let file = base64::engine::general_purpose::STANDARD
        .decode(body.pkcs12_base64.trim())
        .map_err(|_| ApiError::invalid("pkcs12_base64 is not base64: encode the .p12 file"))?;
    let imported = svc::import_pkcs12::run(
        &h.app,
        &caller.actor(),
        file,
        Zeroizing::new(body.password.clone()),
        body.chain_pem.as_deref().map(str::as_bytes),
        purpose(body.purpose.as_deref())?,
        body.backend.as_deref().unwrap_or(SOFTWARE_BACKEND),
    )
    .await?;
    let chain = Pki::new(&h.app, SYSTEM_ACTOR)
        .chain_of_record(&imported.certificate)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ImportedView {
            key_id: imported.key_id.to_string(),
            certificate: certificate_view(&imported.certificate, Some(&chain))?,
        }),
    ))
}

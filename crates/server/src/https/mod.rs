//! The HTTPS JSON API (axum): sessions with dual control, administration, approvals, PKI.
//!
//! | module | job |
//! |---|---|
//! | [`error`] | JSON error bodies and HTTP statuses |
//! | [`sessions`] | bearer-token sessions in the store, shared by every node (15 minutes idle) |
//! | [`extract`] | extractors: the caller's session, JSON bodies, paths and queries with JSON errors |
//! | [`login`] | `health` (`ready` is [`crate::ready`]), `login` (dual control by logging in again with the token), `logout` |
//! | [`admin`] | identities, roles, commands, settings, groups, policies, audit |
//! | [`pki`] | CAs, certificates, revocation, CRLs, PKCS#12 export, listener certificates |
//! | [`keys`] | held keys: create, CSR, import a chain from any CA, import PKCS#12 |
//! | [`requests`] | signing requests: submit, list, show, approve, deny |
//! | [`releases`] | releases (one decision for many requests): list, show, approve, deny |
//! | [`console`] | the web console for approvers at `/` (static page calling the API) |
//! | [`timestamp`] | the RFC 3161 time-stamping authority (no login) |
//! | [`deadline`] | request bodies that must arrive by a deadline |
//! | [`failures`] | the rate limit on failed calls (429 `TOO_MANY_FAILURES`) |
//!
//! Routes and bodies are documented in `docs/https-api.md`.

mod admin;
mod console;
pub(crate) mod deadline;
mod error;
mod extract;
mod failures;
mod keys;
mod login;
mod pki;
mod rate;
mod releases;
mod requests;
mod sessions;
mod timestamp;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::http::header::{CONTENT_TYPE, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tower_http::limit::RequestBodyLimitLayer;

use crate::state::AppState;
use error::ApiError;
use sessions::Sessions;

/// Largest accepted request body (a certificate chain or CSR is a few KiB).
pub(crate) const BODY_LIMIT: usize = 1024 * 1024;

/// What every HTTPS handler shares.
#[derive(Clone)]
pub(crate) struct Https {
    /// The server state shared with the Host API.
    pub(crate) app: Arc<AppState>,
    /// Live HTTPS sessions.
    pub(crate) sessions: Arc<Sessions>,
    /// The time-stamping route's rate limit.
    pub(crate) timestamp_limit: Arc<rate::TokenBucket>,
}

/// The HTTPS API router (`/api/v1/...`), served by [`crate::server`] on the HTTPS listener.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let timestamp_limit = Arc::new(rate::TokenBucket::new(
        state.config.timestamp_rate,
        std::time::Instant::now(),
    ));
    let https = Https {
        timestamp_limit,
        sessions: Arc::new(Sessions::new(
            state.store.clone(),
            sessions::IDLE_TIMEOUT,
            sessions::MAX_SESSIONS,
        )),
        app: state,
    };
    let api = Router::new()
        .route("/health", get(login::health))
        .route("/ready", get(ready))
        .route("/login", post(login::login))
        .route("/logout", post(login::logout))
        .route("/session", get(login::show_session))
        .route(
            "/identities",
            get(admin::list_identities).post(admin::create_identity),
        )
        .route(
            "/identities/{name}",
            get(admin::get_identity)
                .put(admin::update_identity)
                .delete(admin::delete_identity),
        )
        .route("/identities/{name}/unlock", post(admin::unlock_identity))
        .route("/identities/{name}/password", post(admin::set_password))
        .route("/identities/{name}/api-keys", post(admin::create_api_key))
        .route("/roles", get(admin::list_roles).post(admin::create_role))
        .route(
            "/roles/{name}",
            get(admin::get_role)
                .put(admin::update_role)
                .delete(admin::delete_role),
        )
        .route("/commands", get(admin::list_commands))
        .route("/commands/{code}", put(admin::set_command))
        .route(
            "/settings",
            get(admin::get_settings).put(admin::update_settings),
        )
        .route("/groups", get(admin::list_groups).post(admin::create_group))
        .route(
            "/groups/{name}",
            get(admin::get_group)
                .put(admin::update_group)
                .delete(admin::delete_group),
        )
        .route(
            "/policies",
            get(admin::list_policies).post(admin::create_policy),
        )
        .route(
            "/policies/{alias}",
            get(admin::get_policy)
                .put(admin::update_policy)
                .delete(admin::delete_policy),
        )
        .route("/audit", get(admin::read_audit))
        .route("/audit/verify", get(admin::verify_audit))
        .route("/cas", get(pki::list_cas).post(pki::create_ca))
        .route("/cas/{name}", get(pki::get_ca))
        .route("/cas/{name}/crl", get(pki::crl))
        .route(
            "/certificates",
            get(pki::list_certificates).post(pki::issue_certificate),
        )
        .route("/certificates/{serial}", get(pki::get_certificate))
        .route("/certificates/{serial}/revoke", post(pki::revoke))
        .route("/certificates/{serial}/export", post(pki::export))
        .route("/keys", get(keys::list_keys).post(keys::create_key))
        .route("/keys/import", post(keys::import_pkcs12))
        .route("/keys/{id}/csr", post(keys::key_csr))
        .route("/keys/{id}/chain", post(keys::import_chain))
        .route("/listeners/{listener}/csr", post(pki::listener_csr))
        .route("/listeners/{listener}/chain", put(pki::load_chain))
        .route("/requests", get(requests::list).post(requests::submit))
        .route("/requests/{id}", get(requests::show))
        .route("/requests/{id}/approve", post(requests::approve))
        .route("/requests/{id}/deny", post(requests::deny))
        .route("/releases", get(releases::list))
        .route("/releases/{id}", get(releases::show))
        .route("/releases/{id}/approve", post(releases::approve))
        .route("/releases/{id}/deny", post(releases::deny))
        .route("/timestamp", post(timestamp::timestamp))
        .route_layer(axum::middleware::from_fn(crate::metrics::https_layer))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(https.clone());
    Router::new()
        .route("/", get(console::index))
        .route("/console/console.js", get(console::script))
        .route("/console/console.css", get(console::style))
        .route("/favicon.svg", get(console::favicon))
        .route("/favicon.ico", get(console::favicon))
        .nest("/api/v1", api)
        .fallback(not_found)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(axum::middleware::map_response(json_limit_error))
        .layer(axum::middleware::from_fn_with_state(https, failures::limit))
        .layer(axum::middleware::map_response(security_headers))
}

/// `Strict-Transport-Security` of every response: browsers that reached the server once use
/// HTTPS only for a year (the listener speaks nothing else).
const HSTS: &str = "max-age=31536000";

/// Headers every response carries (API, console, errors, time-stamps): no MIME sniffing of a
/// JSON body into a script, and HTTPS only.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    response
}

/// tower-http answers an oversized body with plain text; clients get the API's JSON error.
async fn json_limit_error(response: Response) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE
        && response.headers().get(CONTENT_TYPE)
            != Some(&HeaderValue::from_static("application/json"))
    {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "INVALID",
            format!("the request body is larger than {BODY_LIMIT} bytes"),
        )
        .into_response();
    }
    response
}

/// `GET /api/v1/ready`: no session needed; 200 when ready, 503 when not (see [`crate::ready`]).
async fn ready(axum::extract::State(h): axum::extract::State<Https>) -> Response {
    let readiness = crate::ready::check(&h.app).await;
    (readiness.status_code(), axum::Json(readiness)).into_response()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "INVALID",
        "this route does not take this HTTP method: see docs/https-api.md",
    )
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such API route: see docs/https-api.md for the routes under /api/v1")
}

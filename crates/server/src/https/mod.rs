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
//! | [`openapi`] | the OpenAPI 3.1 document, generated from the routes and body types |
//! | [`failures`] | the rate limit on failed calls (429 `TOO_MANY_FAILURES`) |
//!
//! Routes and bodies are documented in `docs/https-api.md` and `docs/openapi.json`.

mod admin;
mod console;
pub(crate) mod deadline;
mod error;
mod extract;
mod failures;
mod keys;
mod login;
pub(crate) mod openapi;
mod pki;
mod rate;
mod releases;
mod requests;
mod sessions;
mod timestamp;
pub(crate) mod views;

use std::sync::Arc;

use axum::Router;
use axum::http::header::{CONTENT_TYPE, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
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

/// Declares the routes under `/api/v1` once, as `method "path" => handler`: [`api_routes`]
/// registers them in the router, [`ApiPaths`] puts the same handlers' `#[utoipa::path]`
/// operations into the OpenAPI document, and [`API_ROUTES`] lets a test check that each
/// operation is documented at the method and path the router serves it on.
macro_rules! api_routes {
    ($($method:ident $path:literal => $($handler:ident)::+,)*) => {
        /// `(method, path, handler)` of every route under `/api/v1`, as registered.
        #[cfg(test)]
        pub(crate) const API_ROUTES: &[(&str, &str, &str)] =
            &[$((stringify!($method), $path, stringify!($($handler)::+))),*];

        /// The routes under `/api/v1`.
        fn api_routes() -> Router<Https> {
            Router::new()$(.route($path, axum::routing::$method($($handler)::+)))*
        }

        /// The operations of the routes (merged into the document by [`openapi::document`]).
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($($handler)::+),*))]
        struct ApiPaths;
    };
}

api_routes! {
    get "/health" => login::health,
    get "/ready" => ready,
    get "/openapi.json" => openapi::serve,
    post "/login" => login::login,
    post "/logout" => login::logout,
    get "/session" => login::show_session,
    get "/identities" => admin::list_identities,
    post "/identities" => admin::create_identity,
    get "/identities/{name}" => admin::get_identity,
    put "/identities/{name}" => admin::update_identity,
    delete "/identities/{name}" => admin::delete_identity,
    post "/identities/{name}/unlock" => admin::unlock_identity,
    post "/identities/{name}/password" => admin::set_password,
    post "/identities/{name}/api-keys" => admin::create_api_key,
    get "/roles" => admin::list_roles,
    post "/roles" => admin::create_role,
    get "/roles/{name}" => admin::get_role,
    put "/roles/{name}" => admin::update_role,
    delete "/roles/{name}" => admin::delete_role,
    get "/commands" => admin::list_commands,
    put "/commands/{code}" => admin::set_command,
    get "/settings" => admin::get_settings,
    put "/settings" => admin::update_settings,
    get "/groups" => admin::list_groups,
    post "/groups" => admin::create_group,
    get "/groups/{name}" => admin::get_group,
    put "/groups/{name}" => admin::update_group,
    delete "/groups/{name}" => admin::delete_group,
    get "/policies" => admin::list_policies,
    post "/policies" => admin::create_policy,
    get "/policies/{alias}" => admin::get_policy,
    put "/policies/{alias}" => admin::update_policy,
    delete "/policies/{alias}" => admin::delete_policy,
    get "/audit" => admin::read_audit,
    get "/audit/verify" => admin::verify_audit,
    get "/cas" => pki::list_cas,
    post "/cas" => pki::create_ca,
    get "/cas/{name}" => pki::get_ca,
    get "/cas/{name}/crl" => pki::crl,
    get "/certificates" => pki::list_certificates,
    post "/certificates" => pki::issue_certificate,
    get "/certificates/{serial}" => pki::get_certificate,
    post "/certificates/{serial}/revoke" => pki::revoke,
    post "/certificates/{serial}/export" => pki::export,
    get "/keys" => keys::list_keys,
    post "/keys" => keys::create_key,
    post "/keys/import" => keys::import_pkcs12,
    post "/keys/{id}/csr" => keys::key_csr,
    post "/keys/{id}/chain" => keys::import_chain,
    post "/listeners/{listener}/csr" => pki::listener_csr,
    put "/listeners/{listener}/chain" => pki::load_chain,
    get "/requests" => requests::list_requests,
    post "/requests" => requests::submit,
    get "/requests/{id}" => requests::show_request,
    post "/requests/{id}/approve" => requests::approve_request,
    post "/requests/{id}/deny" => requests::deny_request,
    get "/releases" => releases::list_releases,
    get "/releases/{id}" => releases::show_release,
    post "/releases/{id}/approve" => releases::approve_release,
    post "/releases/{id}/deny" => releases::deny_release,
    post "/timestamp" => timestamp::timestamp,
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
    let api = api_routes()
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

/// `GET /api/v1/ready`: no session needed; 200 when ready, 503 when not.
///
/// Readiness for load balancers: the store answers, one key of each key backend opens, and
/// both listeners accept connections. The reason of a failed check is in the server log only.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "Ready: every check is `ok`.", body = crate::ready::Readiness),
        (status = 503, description = "Not ready: `status` is `not-ready` and the failed checks say `failed`.", body = crate::ready::Readiness),
    )
)]
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

//! The HTTPS JSON API (axum): sessions with dual control, administration, approvals, PKI.
//!
//! | module | job |
//! |---|---|
//! | [`authorize`] | the permission gate: each route's operation checked before its handler |
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
mod authorize;
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

use crate::service::authorize::Operation;
use crate::service::operations as op;
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

/// Declares the routes under `/api/v1` once, as `method "path" => handler [operation]`:
/// [`api_routes`] registers them in the router, each behind the permission gate of its
/// [`Operation`] ([`authorize`]), [`ApiPaths`] puts the same handlers' `#[utoipa::path]`
/// operations into the OpenAPI document, and [`API_ROUTES`] lists them for the tests (every
/// route documented at the method and path it is served on; every route refused without its
/// permission and allowed with it: `tests/permissions.rs`).
macro_rules! api_routes {
    ($($method:ident $path:literal => $($handler:ident)::+ [$operation:path],)*) => {
        /// Every route under `/api/v1`, as registered, with the operation its gate checks.
        #[doc(hidden)]
        pub const API_ROUTES: &[ApiRoute] = &[$(ApiRoute {
            method: stringify!($method),
            path: $path,
            handler: stringify!($($handler)::+),
            operation: $operation,
        }),*];

        /// The routes under `/api/v1`, each behind its permission gate.
        fn api_routes(https: &Https) -> Router<Https> {
            Router::new()$(.route(
                $path,
                axum::routing::$method($($handler)::+).route_layer(
                    axum::middleware::from_fn_with_state(
                        authorize::Gate::new(https, $operation),
                        authorize::check,
                    ),
                ),
            ))*
        }

        /// The operations of the routes (merged into the document by [`openapi::document`]).
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($($handler)::+),*))]
        struct ApiPaths;
    };
}

/// One route of the HTTPS API (see [`API_ROUTES`]).
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct ApiRoute {
    /// The HTTP method, lower case (`get`, `post`, …).
    pub method: &'static str,
    /// The path under `/api/v1`, with `{parameters}`.
    pub path: &'static str,
    /// The handler's path in the crate.
    pub handler: &'static str,
    /// What the caller's session needs, checked before the handler runs.
    pub operation: Operation,
}

api_routes! {
    get "/health" => login::health [op::HEALTH],
    get "/ready" => ready [op::HEALTH],
    get "/openapi.json" => openapi::serve [op::HEALTH],
    post "/login" => login::login [op::LOGIN],
    post "/logout" => login::logout [op::LOGOUT],
    get "/session" => login::show_session [op::SESSION_SHOW],
    get "/identities" => admin::list_identities [op::IDENTITY_LIST],
    post "/identities" => admin::create_identity [op::IDENTITY_CREATE],
    get "/identities/{name}" => admin::get_identity [op::IDENTITY_SHOW],
    put "/identities/{name}" => admin::update_identity [op::IDENTITY_UPDATE],
    delete "/identities/{name}" => admin::delete_identity [op::IDENTITY_DELETE],
    post "/identities/{name}/unlock" => admin::unlock_identity [op::IDENTITY_UNLOCK],
    post "/identities/{name}/password" => admin::set_password [op::IDENTITY_PASSWORD],
    post "/identities/{name}/api-keys" => admin::create_api_key [op::IDENTITY_API_KEY],
    get "/roles" => admin::list_roles [op::ROLE_LIST],
    post "/roles" => admin::create_role [op::ROLE_CREATE],
    get "/roles/{name}" => admin::get_role [op::ROLE_LIST],
    put "/roles/{name}" => admin::update_role [op::ROLE_UPDATE],
    delete "/roles/{name}" => admin::delete_role [op::ROLE_DELETE],
    get "/commands" => admin::list_commands [op::COMMAND_LIST],
    put "/commands/{code}" => admin::set_command [op::COMMAND_SET],
    get "/settings" => admin::get_settings [op::SETTINGS_SHOW],
    put "/settings" => admin::update_settings [op::SETTINGS_UPDATE],
    get "/groups" => admin::list_groups [op::GROUP_LIST],
    post "/groups" => admin::create_group [op::GROUP_CREATE],
    get "/groups/{name}" => admin::get_group [op::GROUP_LIST],
    put "/groups/{name}" => admin::update_group [op::GROUP_UPDATE],
    delete "/groups/{name}" => admin::delete_group [op::GROUP_DELETE],
    get "/policies" => admin::list_policies [op::POLICY_LIST],
    post "/policies" => admin::create_policy [op::POLICY_CREATE],
    get "/policies/{alias}" => admin::get_policy [op::POLICY_SHOW],
    put "/policies/{alias}" => admin::update_policy [op::POLICY_UPDATE],
    delete "/policies/{alias}" => admin::delete_policy [op::POLICY_DELETE],
    get "/audit" => admin::read_audit [op::AUDIT_READ],
    get "/audit/verify" => admin::verify_audit [op::AUDIT_VERIFY],
    get "/cas" => pki::list_cas [op::CA_LIST],
    post "/cas" => pki::create_ca [op::CA_CREATE],
    get "/cas/{name}" => pki::get_ca [op::CA_SHOW],
    get "/cas/{name}/crl" => pki::crl [op::CA_CRL],
    get "/certificates" => pki::list_certificates [op::CERTIFICATE_LIST],
    post "/certificates" => pki::issue_certificate [op::CERTIFICATE_ISSUE],
    get "/certificates/{serial}" => pki::get_certificate [op::CERTIFICATE_SHOW],
    post "/certificates/{serial}/revoke" => pki::revoke [op::CERTIFICATE_REVOKE],
    post "/certificates/{serial}/export" => pki::export [op::CERTIFICATE_EXPORT],
    get "/keys" => keys::list_keys [op::KEY_LIST],
    post "/keys" => keys::create_key [op::KEY_CREATE],
    post "/keys/import" => keys::import_pkcs12 [op::KEY_IMPORT],
    post "/keys/{id}/csr" => keys::key_csr [op::KEY_CSR],
    post "/keys/{id}/chain" => keys::import_chain [op::CERTIFICATE_IMPORT],
    post "/listeners/{listener}/csr" => pki::listener_csr [op::LISTENER_CSR],
    put "/listeners/{listener}/chain" => pki::load_chain [op::LISTENER_CHAIN],
    get "/requests" => requests::list_requests [op::REQUEST_LIST],
    post "/requests" => requests::submit [op::REQUEST_CREATE],
    get "/requests/{id}" => requests::show_request [op::REQUEST_SHOW],
    post "/requests/{id}/approve" => requests::approve_request [op::REQUEST_APPROVE],
    post "/requests/{id}/deny" => requests::deny_request [op::REQUEST_DENY],
    get "/releases" => releases::list_releases [op::RELEASE_LIST],
    get "/releases/{id}" => releases::show_release [op::RELEASE_SHOW],
    post "/releases/{id}/approve" => releases::approve_release [op::RELEASE_APPROVE],
    post "/releases/{id}/deny" => releases::deny_release [op::RELEASE_DENY],
    post "/timestamp" => timestamp::timestamp [op::TIMESTAMP],
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
    let api = api_routes(&https)
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

#[cfg(test)]
mod tests {
    use super::API_ROUTES;
    use crate::service::authorize::Need;

    /// A route path with every `{parameter}` as `{}` and without a query string, so the
    /// docs' `{key_id}` matches the router's `{id}`.
    fn normalized(path: &str) -> String {
        let path = path.split('?').next().unwrap_or_default();
        let mut out = String::new();
        let mut in_parameter = false;
        for c in path.chars() {
            match c {
                '{' => {
                    in_parameter = true;
                    out.push_str("{}");
                }
                '}' => in_parameter = false,
                _ if in_parameter => {}
                _ => out.push(c),
            }
        }
        out
    }

    /// `docs/https-api.md`'s "Routes and permissions" table names, for every route that needs
    /// a permission, each permission of the route's operation.
    #[test]
    fn the_docs_name_each_routes_permissions() {
        let docs = include_str!("../../../../docs/https-api.md");
        let rows: Vec<(String, String, String)> = docs
            .lines()
            .map(|line| line.replace("\\|", "/"))
            .filter_map(|line| {
                let mut cells = line.split('|').map(str::trim).skip(1);
                let route = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
                let permission = cells.next()?;
                let (method, path) = route.split_once(' ')?;
                Some((
                    method.to_ascii_lowercase(),
                    normalized(path),
                    permission.to_owned(),
                ))
            })
            .collect();
        let mut checked = 0;
        for route in API_ROUTES {
            let (Need::AnyOf(permissions) | Need::AllOf(permissions)) = route.operation.need else {
                continue;
            };
            let path = normalized(route.path);
            let Some((_, _, cell)) = rows
                .iter()
                .find(|(method, documented, _)| method == route.method && *documented == path)
            else {
                panic!(
                    "docs/https-api.md has no row for {} {}",
                    route.method, route.path
                );
            };
            for permission in permissions {
                assert!(
                    cell.contains(&format!("`{}`", permission.as_str())),
                    "docs/https-api.md: {} {} needs `{permission}`, the table says {cell:?}",
                    route.method,
                    route.path
                );
            }
            checked += 1;
        }
        assert!(checked > 40, "{checked}");
    }
}

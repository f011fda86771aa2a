//! # sigil-server: the Sigil server
//!
//! | module | job |
//! |---|---|
//! | [`config`] | `[server]` settings of `DATA/sigil.toml` |
//! | [`paths`] | the data directory's layout, secret files |
//! | [`profile`] | client profiles written for administrators and clients |
//! | [`init`] | creating a deployment ([`init()`]) |
//! | [`join`] | adding a node to a PostgreSQL deployment ([`join()`]) |
//! | [`server`] | starting both listeners ([`start`]), graceful shutdown |
//! | [`quickstart`] | the demonstration deployment |
//! | [`state`] | what every handler shares ([`AppState`]) |
//! | [`tls`] | rustls configurations of both listeners, swapped live |
//! | [`metrics`] | Prometheus metrics, their hooks and the scrape listener |
//! | [`ready`] | readiness checks (store, keys, listeners) |
//! | [`limits`] | the open-file limit the connections need |
//! | [`error`] | [`ServerError`] |
//! | [`service`] | operations shared by both interfaces |
//! | `hostapi` | the Host API connection handler |
//! | `https` | the HTTPS JSON API (its OpenAPI document: [`openapi_json`]) |
#![forbid(unsafe_code)]

pub mod backup;
pub mod breakglass;
pub mod config;
pub mod error;
mod hostapi;
mod https;
pub mod init;
pub mod join;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod paths;
pub mod profile;
pub mod quickstart;
pub mod ready;
pub mod server;
pub mod service;
pub mod state;
pub mod tls;

pub use config::ServerConfig;
pub use error::ServerError;
pub use hostapi::requirement;
/// The OpenAPI 3.1 document of the HTTPS API as pretty JSON: what `GET /api/v1/openapi.json`
/// serves and `docs/openapi.json` holds.
pub use https::openapi::document_json as openapi_json;
pub use https::views::audit_view;
pub use https::{API_ROUTES, ApiRoute};
pub use init::{InitOptions, InitReport, MasterKeySource, init};
pub use join::{JoinOptions, JoinReport, join};
pub use server::{RunningServer, StopSignals, start};
pub use state::AppState;

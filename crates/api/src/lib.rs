//! The wire types of Sigil's HTTPS API (`/api/v1`) and the client profile format.
//!
//! The server answers with these types and its clients (`sigil-client`, the `sigil` CLI) send
//! and read them, so a body has exactly one definition. With the `openapi` feature every body
//! also derives `utoipa::ToSchema`, from which the server generates `docs/openapi.json`.

pub mod admin;
pub mod error;
pub mod identities;
pub mod keys;
pub mod login;
pub mod pki;
pub mod profile;
pub mod releases;
pub mod requests;

pub use error::{ErrorBody, ErrorDetail};
pub use profile::{ProfileFile, ProfileIdentity};

//! `libsigil_pkcs11.so`: a PKCS#11 v2.40 module through which PKCS#11 tools (pkcs11-tool,
//! OpenSSL's libp11 engine, jarsigner's SunPKCS11, osslsigncode) sign with Sigil's policies
//! over the Host API. A policy that needs approvals makes `C_Sign` wait until approvers
//! decide.
//!
//! | module | job |
//! |---|---|
//! | [`config`] | where the profile and the settings come from |
//! | [`objects`] | policies as certificate, public and private key objects |
//! | [`mechanism`] | the signing mechanisms: input, hashing, output |
//! | [`module`] | sessions, login, connections, signing and waiting |
//! | [`template`] | caller lengths and buffers (two-call convention), pointer-free |
//! | [`error`] | [`ModuleError`] and its mapping to `CKR_*` |
//! | [`ffi`] | the C entry points, the crate's only unsafe code |

pub mod config;
pub mod error;
pub mod ffi;
mod log;
pub mod mechanism;
pub mod module;
pub mod objects;
pub mod template;

pub use error::ModuleError;

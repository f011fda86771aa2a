//! Certificates, one use case per module: issued by Sigil's CAs or imported from another CA.
//! The work is [`super::pki::Pki`]'s; each use case declares its
//! [`Operation`](super::authorize::Operation) and checks it first.
//!
//! | use case | action | permission |
//! |---|---|---|
//! | [`list`] | `certificate.list` | `ca:list` |
//! | [`show`] | `certificate.show` | `ca:list` |
//! | [`issue`] | `certificate.issue` | `ca:issue` (and `keys:add` when Sigil generates the key) |
//! | [`revoke`] | `certificate.revoke` | `ca:revoke` |
//! | [`export`] | `certificate.export` | `ca:export-clear-key`, and the setting `allow_export_with_password` |
//! | [`import_chain`] | `certificate.import` | `ca:upload` |

pub mod export;
pub mod import_chain;
pub mod issue;
pub mod list;
pub mod revoke;
pub mod show;

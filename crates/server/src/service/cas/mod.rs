//! CA containers, one use case per module. The work is [`super::pki::Pki`]'s; each use case
//! declares its [`Operation`](super::authorize::Operation) and checks it first.
//!
//! | use case | action | permission |
//! |---|---|---|
//! | [`list`] | `ca.list` | `ca:list` |
//! | [`show`] | `ca.show` | `ca:list` |
//! | [`create`] | `ca.create` | `ca:add` |
//! | [`crl`] | `ca.crl` | `ca:export` (public material) |

pub mod create;
pub mod crl;
pub mod list;
pub mod show;

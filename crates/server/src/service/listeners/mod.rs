//! Listener certificates, one use case per module: a CSR for a new sealed listener key, then
//! the chain loaded and swapped in without a restart. The work is [`super::pki::Pki`]'s.
//!
//! | use case | action | permission |
//! |---|---|---|
//! | [`csr`] | `listener.csr` | `keys:add` |
//! | [`load_chain`] | `listener.chain` | `ca:upload` |

pub mod csr;
pub mod load_chain;

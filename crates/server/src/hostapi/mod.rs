//! The Host API listener side: one task per mutual-TLS connection, frames in, responses out.
//!
//! | module | job |
//! |---|---|
//! | `connection` | the read/answer/write loop: pipelining, fatal framing errors, idle timeout, shutdown |
//! | `dispatch` | one session per connection; enabled-command, login and permission checks; the commands |
//! | `convert` | wire types ↔ domain types |

mod connection;
mod convert;
mod dispatch;

pub(crate) use connection::serve_connection;
pub use dispatch::requirement;

//! The Host API listener side: one task per mutual-TLS connection, frames in, responses out.

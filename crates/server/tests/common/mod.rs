//! The server tests' import point for the `sigil-testkit` harness (kept so a test names its
//! helpers `common::…` as before): test deployments and configuration, openssl as an
//! independent TLS client, and running tools.
// Each test file uses some of these.
#![allow(unused_imports, unreachable_pub)]

pub use sigil_testkit::server::{config, deployment, options};
pub use sigil_testkit::tools::{mode, output as run, stdout_ok as run_ok};
pub use sigil_testkit::{openssl_csr, s_client};

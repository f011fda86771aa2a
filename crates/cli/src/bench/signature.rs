//! The CPU a signature and its check cost in this process, to subtract from the server's CPU
//! per request: what remains is what the request around the signature costs.
//!
//! It signs distinct digests with a fresh software key of the policy's algorithm and, for a
//! key whose every signature the server checks (`SigningKey::signatures_need_checking`:
//! Ed25519; ECDSA and RSA software keys are checked once per cached chain, and aws-lc checks
//! each RSA result itself, inside the signature timed here), checks each signature against
//! the public key parsed once, as the server does with a software key (`SoftwareKey`, aws-lc),
//! on one thread, and reads that thread's CPU time from /proc. A
//! policy whose key lives in an HSM costs what the HSM costs: the figure then only tells what
//! a software key would.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use serde::Serialize;
use sigil_keys::{HashAlgorithm, KeyAlgorithm, RsaPadding, SigningKey, SoftwareKey, VerifyingKey};

/// How long to sign and check: long enough for /proc's 10 ms clock ticks to be ~1 % of it.
const SAMPLE: Duration = Duration::from_secs(1);

/// The in-process cost of one signature and its check.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct SignatureCost {
    /// Signatures made (and checked, where the server checks each).
    pub signatures: u64,
    /// CPU microseconds per signature plus its check where the server checks each.
    pub cpu_us_per_signature: f64,
}

/// Measures [`SignatureCost`] for `algorithm` (as the server names it) and `hash`, on a
/// blocking thread.
pub(crate) async fn measure(algorithm: &str, hash: HashAlgorithm) -> Result<SignatureCost> {
    let algorithm: KeyAlgorithm = algorithm
        .parse()
        .map_err(|_| anyhow!("the policy's key algorithm {algorithm:?} is not one Sigil knows"))?;
    tokio::task::spawn_blocking(move || sample(algorithm, hash))
        .await
        .context("the signature measurement panicked")?
}

fn sample(algorithm: KeyAlgorithm, hash: HashAlgorithm) -> Result<SignatureCost> {
    let key = SoftwareKey::generate(algorithm)
        .with_context(|| format!("generating a {algorithm} key to time its signatures"))?;
    let verifying = VerifyingKey::from_spki(key.public_key_der())?;
    let padding = RsaPadding::Pkcs1v15;
    let ticks_before = super::read_cpu_ticks_at("/proc/thread-self/stat")?;
    let start = Instant::now();
    let mut signatures = 0u64;
    while start.elapsed() < SAMPLE {
        let digest = hash.digest(&signatures.to_le_bytes());
        let signature = key.sign_digest(hash, padding, &digest)?;
        if key.signatures_need_checking() {
            verifying.verify_digest(hash, padding, &digest, &signature)?;
        }
        signatures += 1;
    }
    let ticks = super::read_cpu_ticks_at("/proc/thread-self/stat")?.saturating_sub(ticks_before);
    Ok(SignatureCost {
        signatures,
        cpu_us_per_signature: ticks as f64 / super::USER_HZ * 1e6 / signatures.max(1) as f64,
    })
}

//! Time-stamps on the server's own signatures, for policies with `timestamp_required`.
//!
//! Right after signing, the server asks its own TSA for a token over the signature value
//! (Authenticode, JAR: the SignerInfo's signature; hash format: the raw signature) and puts
//! it where verifiers look: Authenticode's unsigned attribute `1.3.6.1.4.1.311.3.3.1`, the
//! JAR block's `id-aa-timeStampToken`; for the hash format the whole `TimeStampResp` is kept
//! with the request and sent to the client (Host API tag `TS`), which writes it as
//! `FILE.tsr`. When the TSA cannot issue a token, the signature is not released: the request
//! fails with the reason.

use sigil_domain::{IssuancePolicy, SigningFormat, SigningRequest};
use sigil_pki::stamp::{
    ID_AA_TIME_STAMP_TOKEN, SPC_RFC3161_OBJID, add_unsigned_attribute, signer_signature,
};

use super::ServiceError;
use super::signing::SigningError;
use crate::AppState;

/// A signature, and the `TimeStampResp` of a hash-format signature under a policy that
/// requires time-stamps.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The raw signature or signature block (with its token embedded when stamped).
    pub result: Vec<u8>,
    /// Hash format: the DER `TimeStampResp` over `result`.
    pub timestamp: Option<Vec<u8>>,
}

/// Stamps `result` when `policy` requires it.
pub async fn apply(
    state: &AppState,
    policy: &IssuancePolicy,
    request: &SigningRequest,
    result: Vec<u8>,
) -> Result<Signed, SigningError> {
    if !policy.draft().timestamp_required {
        return Ok(Signed {
            result,
            timestamp: None,
        });
    }
    let refused = |why: &str| {
        SigningError(format!(
            "policy {} requires a time-stamp, but the server's time-stamping authority did not issue one: {why}",
            request.policy()
        ))
    };
    // Only the TSA's own refusal (not set up, certificate unusable) reaches the requester;
    // anything else goes to the log.
    let fail = |e: &dyn std::fmt::Display| {
        tracing::error!(request = %request.id(), error = %e, "time-stamping a signature failed");
        refused("an internal error (details in the server log)")
    };
    let stamp = async |data: &[u8]| {
        super::timestamp::stamp(
            state,
            request.requester().as_str(),
            &request.id().to_string(),
            request.hash(),
            data,
        )
        .await
        .map_err(|e| match e {
            ServiceError::Invalid(why) => refused(&why),
            other => fail(&other.for_operator()),
        })
    };
    match request.format() {
        // The token covers the bytes returned (raw signature, OpenPGP packet) and travels
        // next to them in `TS`.
        SigningFormat::Hash | SigningFormat::OpenPgp => {
            let response = stamp(&result).await?;
            Ok(Signed {
                result,
                timestamp: Some(response),
            })
        }
        SigningFormat::Authenticode | SigningFormat::Jar => {
            let value = signer_signature(&result).map_err(|e| fail(&e))?;
            let response = stamp(&value).await?;
            let token = sigil_pki::tsp::read_response(&response)
                .map_err(|e| fail(&e))?
                .token
                .ok_or_else(|| fail(&"the answer holds no token"))?;
            let oid = if request.format() == SigningFormat::Jar {
                ID_AA_TIME_STAMP_TOKEN
            } else {
                SPC_RFC3161_OBJID
            };
            let result = add_unsigned_attribute(&result, oid, &token).map_err(|e| fail(&e))?;
            Ok(Signed {
                result,
                timestamp: None,
            })
        }
    }
}

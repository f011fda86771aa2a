//! Sigil as an RFC 3161 time-stamping authority (TSA).
//!
//! The TSA signs with the `timestamping` certificate named by the `timestamp_certificate`
//! setting, whose key is sealed in the vault like every other key. RFC 3161 clients
//! (`jarsigner -tsa`, `signtool /tr`, `osslsigncode -ts`, `openssl ts`) do not log in, so
//! [`timestamp`] takes no session; every token issued is an audit event `timestamp.issue`
//! (token serial, hash, imprint, nonce), written before the token is released.
//!
//! Every answer is a DER `TimeStampResp`: granted with a token, or a rejection carrying the
//! `PKIFailureInfo` bit of the fault. [`Reply::status`] says which, and whether the TSA is
//! unavailable (unset, or its certificate is no longer usable), which the HTTPS route answers
//! with HTTP 503.

use std::sync::Arc;
use std::time::SystemTime;

use sigil_domain::{AuditDraft, CertProfile, CertificateRecord, Interface, Outcome, SerialNumber};
use sigil_keys::{RsaPadding, SigningKey};
use sigil_pki::cms::CmsSigner;
use sigil_pki::tsp::{self, FailureInfo, IssuedToken, MessageImprint, TimeStampRequest, TspError};
use sigil_pki::x509_cert::Certificate;
use sigil_pki::x509_cert::der::Decode;
use sigil_pki::x509_cert::der::asn1::OctetString;

use super::ServiceError;
use crate::AppState;
use crate::service::pki::Pki;

/// The audit action of an issued token.
pub const AUDIT_ISSUE: &str = "timestamp.issue";

/// What [`timestamp`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyStatus {
    /// A token was issued.
    Granted,
    /// The request was refused (the client's fault, or a failure while signing).
    Rejected(FailureInfo),
    /// The TSA is not configured or its certificate is not usable now (`systemFailure`).
    Unavailable,
}

/// A DER `TimeStampResp` and what it says.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The DER `TimeStampResp` to send.
    pub der: Vec<u8>,
    /// Granted, rejected, or unavailable.
    pub status: ReplyStatus,
}

/// Answers one DER `TimeStampReq` (untrusted bytes from `source`).
pub async fn timestamp(state: &AppState, body: &[u8], source: Option<&str>) -> Reply {
    let request = match tsp::parse_request(body) {
        Ok(request) => request,
        Err(e) => {
            tracing::info!(source, error = %e, "time-stamp request refused");
            return reject(
                e.failure_info(),
                &e.to_string(),
                ReplyStatus::Rejected(e.failure_info()),
            );
        }
    };
    let tsa = match signer(state).await {
        Ok(tsa) => tsa,
        Err(e) => {
            tracing::warn!(error = %e.for_operator(), "a time-stamp was requested but the TSA is unavailable");
            return reject(
                FailureInfo::SystemFailure,
                &format!("the time-stamping service is unavailable: {e}"),
                ReplyStatus::Unavailable,
            );
        }
    };
    let serial = tsa.serial.clone();
    let now = state.now();
    let job_request = request.clone();
    let issued =
        tokio::task::spawn_blocking(move || tsa.issue(&job_request, SystemTime::from(now))).await;
    let issued = match issued {
        Ok(Ok(issued)) => issued,
        failed => {
            let error = match failed {
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
                Ok(Ok(_)) => String::new(),
            };
            tracing::error!(error, "signing a time-stamp token failed");
            return reject(
                FailureInfo::SystemFailure,
                "signing the time-stamp token failed on the server: tell an administrator",
                ReplyStatus::Rejected(FailureInfo::SystemFailure),
            );
        }
    };
    // The token is released only once its issue is in the audit log.
    let draft =
        audit_draft(state.now(), &serial, &request, &issued, source).interface(Interface::Https);
    if let Err(e) = state.store.commit(Vec::new(), draft).await {
        tracing::error!(error = %e, "recording a time-stamp token in the audit log failed");
        return reject(
            FailureInfo::SystemFailure,
            "recording the time-stamp in the audit log failed: tell an administrator",
            ReplyStatus::Rejected(FailureInfo::SystemFailure),
        );
    }
    Reply {
        der: issued.response,
        status: ReplyStatus::Granted,
    }
}

/// Whether the TSA can issue tokens now (its certificate is set and usable); the error says
/// why not and how to fix it.
pub async fn available(state: &AppState) -> Result<(), ServiceError> {
    signer(state).await.map(|_| ())
}

/// A token from Sigil's own TSA over `data` (a signature the server just made under a policy
/// that requires time-stamps), with the certificates. Audited as `timestamp.issue` for
/// `requester` and `request` before it is returned. Returns the DER `TimeStampResp`.
pub async fn stamp(
    state: &AppState,
    requester: &str,
    request: &str,
    hash: sigil_keys::HashAlgorithm,
    data: &[u8],
) -> Result<Vec<u8>, ServiceError> {
    let tsa = signer(state).await?;
    let digest = OctetString::new(hash.digest(data))
        .map_err(|e| ServiceError::internal(format!("encoding the imprint failed: {e}")))?;
    let query = TimeStampRequest {
        message_imprint: MessageImprint {
            hash_algorithm: hash.algorithm_identifier(),
            hashed_message: digest,
        },
        hash,
        nonce: None,
        cert_req: true,
        policy_requested: false,
    };
    let serial = tsa.serial.clone();
    let now = state.now();
    let job = query.clone();
    let issued = tokio::task::spawn_blocking(move || tsa.issue(&job, SystemTime::from(now)))
        .await
        .map_err(|e| ServiceError::internal(format!("the time-stamp task failed: {e}")))?
        .map_err(|e| ServiceError::internal(format!("issuing the time-stamp failed: {e}")))?;
    let draft = audit_draft(state.now(), &serial, &query, &issued, None)
        .identity(requester)
        .detail("request", request);
    state.store.commit(Vec::new(), draft).await?;
    Ok(issued.response)
}

fn audit_draft(
    now: time::OffsetDateTime,
    tsa_serial: &SerialNumber,
    request: &TimeStampRequest,
    issued: &IssuedToken,
    source: Option<&str>,
) -> AuditDraft {
    let mut draft = AuditDraft::new(now, AUDIT_ISSUE, Outcome::Success)
        .identity("anonymous")
        .object(tsa_serial.as_str())
        .detail("serial", &hex::encode(&issued.serial))
        .detail("hash", request.hash.as_str())
        .detail("imprint", &hex::encode(request.digest()));
    if let Some(nonce) = &request.nonce {
        draft = draft.detail("nonce", &hex::encode(nonce.as_bytes()));
    }
    match source {
        Some(source) => draft.source(source),
        None => draft,
    }
}

fn reject(failure: FailureInfo, text: &str, status: ReplyStatus) -> Reply {
    match tsp::rejection(failure, text) {
        Ok(der) => Reply { der, status },
        Err(e) => {
            // Encoding a short UTF-8 text and one bit cannot fail; answer the fixed minimal
            // rejection rather than nothing.
            tracing::error!(error = %e, "encoding a time-stamp rejection failed");
            Reply {
                der: tsp::SYSTEM_FAILURE_RESPONSE.to_vec(),
                status: ReplyStatus::Rejected(FailureInfo::SystemFailure),
            }
        }
    }
}

/// The TSA's key and certificates, ready to sign on the blocking pool.
struct TsaSigner {
    serial: SerialNumber,
    key: Arc<dyn SigningKey>,
    certificate: Certificate,
    chain: Vec<Certificate>,
}

impl TsaSigner {
    fn issue(&self, request: &TimeStampRequest, now: SystemTime) -> Result<IssuedToken, TspError> {
        let signer = CmsSigner {
            key: self.key.as_ref(),
            certificate: &self.certificate,
            chain: &self.chain,
            hash: self.key.algorithm().default_hash(),
            padding: RsaPadding::Pkcs1v15,
        };
        tsp::issue(&signer, request, now)
    }
}

async fn signer(state: &AppState) -> Result<TsaSigner, ServiceError> {
    let settings = state.store.settings().await?;
    let serial = settings.timestamp_certificate.ok_or_else(|| {
        ServiceError::Invalid(
            "no time-stamping certificate is set: an administrator sets one with sigil settings set --timestamp-certificate SERIAL".to_owned(),
        )
    })?;
    let record = check_certificate(state, &serial).await?;
    let key_id = record.key_id.ok_or_else(|| {
        ServiceError::Invalid(format!(
            "Sigil does not hold the key of certificate {serial}"
        ))
    })?;
    let key = state
        .vault
        .key(state.store.as_ref(), key_id)
        .await
        .map_err(ServiceError::from)?;
    let chain = Pki::new(state, "system").chain_of_record(&record).await?;
    let mut certificates = chain
        .iter()
        .map(|der| Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServiceError::internal(format!("a stored certificate is unreadable: {e}")))?;
    if certificates.is_empty() {
        return Err(ServiceError::internal(
            "the time-stamping certificate's chain is empty".to_owned(),
        ));
    }
    let certificate = certificates.remove(0);
    Ok(TsaSigner {
        serial,
        key,
        certificate,
        chain: certificates,
    })
}

/// Checks that `serial` can sign time-stamps: the certificate exists, has the `timestamping`
/// profile, Sigil holds its key, it is not revoked, and it is valid now. Used when the
/// setting is changed and before every token.
pub async fn check_certificate(
    state: &AppState,
    serial: &SerialNumber,
) -> Result<CertificateRecord, ServiceError> {
    let record = state.store.get_certificate(serial).await?.ok_or_else(|| {
        ServiceError::Invalid(format!(
            "certificate {serial} does not exist: issue one first (sigil cert issue --profile-name timestamping --key-algorithm rsa-3072 --issuer CA)"
        ))
    })?;
    if record.profile != CertProfile::Timestamping {
        return Err(ServiceError::Invalid(format!(
            "certificate {serial} has the {} profile: time-stamps need a timestamping certificate",
            record.profile
        )));
    }
    let key_held = match record.key_id {
        Some(key_id) => state.store.get_sealed_key(key_id).await?.is_some(),
        None => false,
    };
    if !key_held {
        return Err(ServiceError::Invalid(format!(
            "Sigil does not hold the key of certificate {serial}: issue a timestamping certificate with a key Sigil generates (--key-algorithm)"
        )));
    }
    if record.revocation.is_some() {
        return Err(ServiceError::Invalid(format!(
            "certificate {serial} is revoked: issue a new timestamping certificate"
        )));
    }
    let now = state.now();
    if now < record.not_before || now > record.not_after {
        return Err(ServiceError::Invalid(format!(
            "certificate {serial} is not valid now (valid from {} to {}): issue a new timestamping certificate",
            record.not_before, record.not_after
        )));
    }
    Ok(record)
}

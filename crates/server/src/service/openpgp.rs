//! OpenPGP: a policy key's OpenPGP identity (fingerprint, `RAGA`'s `OF`) and the export of
//! its public key with a self-signature (`RAGK`).
//!
//! The key's OpenPGP creation time is the time the key was created in Sigil, so the
//! fingerprint never changes for a key (see `docs/openpgp.md`). The export is a signature
//! made without a signing request — a positive certification over the public key and a user
//! ID the server chooses (`<certificate subject> (Sigil policy <alias>)`), never a signature
//! of data — so it needs its own permission, `signing:openpgp-key`, and is audited
//! (`policy.openpgp_key`).

use sigil_domain::{IssuancePolicy, Outcome, PolicyAlias, SigningFormat, UploadError};
use sigil_openpgp::PublicKey;
use sigil_pki::x509_cert::Certificate;
use sigil_pki::x509_cert::der::Decode;
use sigil_proto::ErrorCode;

use super::ServiceError;
use super::authorize::Caller;
use super::requests::{audit, upload_error};
use super::signing::{self, certificate_chain};
use crate::AppState;

/// The OpenPGP public key of a policy's key.
pub async fn public_key(
    state: &AppState,
    policy: &IssuancePolicy,
) -> Result<PublicKey, ServiceError> {
    let chain = certificate_chain(state, policy).await?;
    let sealed = state
        .store
        .get_sealed_key(policy.draft().key_id)
        .await?
        .ok_or_else(|| {
            ServiceError::internal(format!(
                "the key of policy {} is missing from the store",
                policy.alias()
            ))
        })?;
    let created = u32::try_from(sealed.created.unix_timestamp()).map_err(|_| {
        ServiceError::internal("the key's creation time is outside OpenPGP's range".to_owned())
    })?;
    PublicKey::from_spki(&chain.signer_spki, created)
        .map_err(|e| ServiceError::internal(format!("the policy's key as OpenPGP: {e}")))
}

/// `OF` of `RAGA`: the fingerprint when the policy allows OpenPGP.
pub async fn fingerprint(
    state: &AppState,
    policy: &IssuancePolicy,
) -> Result<Option<Vec<u8>>, ServiceError> {
    if !policy.draft().formats.contains(&SigningFormat::OpenPgp) {
        return Ok(None);
    }
    Ok(Some(
        public_key(state, policy).await?.fingerprint().to_vec(),
    ))
}

/// An exported key: its fingerprint and the transferable public key (binary).
#[derive(Debug, Clone)]
pub struct ExportedKey {
    /// The policy.
    pub policy: PolicyAlias,
    /// The v4 fingerprint.
    pub fingerprint: [u8; 20],
    /// Public-key packet, user ID packet, self-signature.
    pub transferable: Vec<u8>,
}

/// `RAGK`: the policy's public key, self-signed now. The policy must be visible to the
/// session and allow OpenPGP, its certificate usable (as for any signature).
pub async fn export_key(
    state: &AppState,
    session: &Caller<'_>,
    alias: &str,
) -> Result<ExportedKey, ServiceError> {
    let policy = match PolicyAlias::new(alias) {
        Ok(alias) => state.cache.cached_policy(&alias).await?,
        Err(_) => None,
    }
    .filter(|p| p.visible_to(session))
    .ok_or_else(|| upload_error(&UploadError::PolicyNotFound))?;
    if !policy.draft().formats.contains(&SigningFormat::OpenPgp) {
        return Err(upload_error(&UploadError::FormatNotAllowed {
            format: SigningFormat::OpenPgp,
        }));
    }
    let public = public_key(state, &policy).await?;
    let chain = certificate_chain(state, &policy).await?;
    signing::usable(&chain, &policy.draft().certificate, state.now())
        .map_err(|e| ServiceError::refused(ErrorCode::SigningFailed, e.0))?;
    let subject = chain
        .der
        .first()
        .and_then(|der| Certificate::from_der(der).ok())
        .map(|c| c.tbs_certificate().subject().to_string())
        .unwrap_or_default();
    let user_id = format!("{subject} (Sigil policy {})", policy.alias());
    let key = state
        .vault
        .key(state.store.as_ref(), policy.draft().key_id)
        .await
        .map_err(|e| ServiceError::internal(format!("opening the policy's key: {e}")))?;
    let created = u32::try_from(state.now().unix_timestamp())
        .map_err(|_| ServiceError::internal("the clock is outside OpenPGP's range".to_owned()))?;
    let hash = public.algorithm().default_hash();
    let signer = public.clone();
    let transferable = tokio::task::spawn_blocking(move || {
        sigil_openpgp::transferable_public_key(key.as_ref(), &signer, &user_id, hash, created)
    })
    .await
    .map_err(|e| ServiceError::internal(format!("the signing task: {e}")))?
    .map_err(|e| ServiceError::internal(format!("self-signing the OpenPGP key: {e}")))?;
    let fingerprint = public.fingerprint();
    state
        .store
        .commit(
            vec![],
            audit(state, session, "policy.openpgp_key", Outcome::Success)
                .object(policy.alias().as_str())
                .detail("fingerprint", &hex::encode_upper(fingerprint)),
        )
        .await?;
    Ok(ExportedKey {
        policy: policy.alias().clone(),
        fingerprint,
        transferable,
    })
}

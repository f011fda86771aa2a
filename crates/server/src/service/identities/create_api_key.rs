//! Create an API key for an identity.

use sigil_domain::identity::API_KEY_LABEL_MAX;
use sigil_domain::{Change, IdentityName, NewApiKey, Outcome, Permission, generate_api_key};

use super::load_identity;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::state::AppState;

/// Needs `admin:identities`.
pub const OPERATION: Operation = Operation::new(
    "identity.api-key",
    Need::AnyOf(&[Permission::AdminIdentities]),
);

/// Creates a key labelled `label`; the token is returned once and only its hash is stored.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    name: &IdentityName,
    label: &str,
) -> Result<NewApiKey, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    if label.len() > API_KEY_LABEL_MAX {
        return Err(ServiceError::Invalid(format!(
            "API key label is {} bytes: use at most {API_KEY_LABEL_MAX}",
            label.len()
        )));
    }
    load_identity(state, name).await?;
    let key = generate_api_key(name.clone(), label, state.now(), &mut rand::rng());
    let draft = audit(state, caller, OPERATION.action, Outcome::Success)
        .object(name.as_str())
        .detail("key_id", key.record.id.as_str())
        .detail("label", label);
    state
        .store
        .commit(vec![Change::AddApiKey(key.record.clone())], draft)
        .await?;
    Ok(key)
}

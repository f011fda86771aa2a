//! Set an identity's password.

use sigil_domain::{Change, IdentityName, Outcome, Permission};
use zeroize::Zeroizing;

use super::{GENERATED_PASSWORD_LEN, hash_password_blocking, load_identity};
use crate::paths::generate_password;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::state::AppState;

/// Needs `admin:identities`.
pub const OPERATION: Operation = Operation::new(
    "identity.password",
    Need::AnyOf(&[Permission::AdminIdentities]),
);

/// Sets the password; `None` generates one, which is returned.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    name: &IdentityName,
    password: Option<Zeroizing<String>>,
) -> Result<Option<Zeroizing<String>>, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    let mut identity = load_identity(state, name).await?;
    let (password, generated) = match password {
        Some(password) => (password, false),
        None => (generate_password(GENERATED_PASSWORD_LEN), true),
    };
    identity.password =
        Some(hash_password_blocking(password.clone(), state.password_params).await?);
    let draft = audit(state, caller, OPERATION.action, Outcome::Success)
        .object(name.as_str())
        .detail("password", if generated { "generated" } else { "given" });
    state
        .store
        .commit(vec![Change::UpdateIdentity(Box::new(identity))], draft)
        .await?;
    Ok(generated.then_some(password))
}

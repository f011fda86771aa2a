//! Create an identity.

use sigil_domain::{Change, Identity, Outcome, Permission};

use super::{CreatedIdentity, GENERATED_PASSWORD_LEN, NewIdentity, hash_password_blocking};
use crate::paths::generate_password;
use crate::service::ServiceError;
use crate::service::audit::join;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::service::roles::check_roles_exist;
use crate::state::AppState;

/// Needs `admin:identities`.
pub const OPERATION: Operation = Operation::new(
    "identity.create",
    Need::AnyOf(&[Permission::AdminIdentities]),
);

/// Creates an identity. The password is never logged or audited.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    args: NewIdentity,
) -> Result<CreatedIdentity, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    check_roles_exist(state, &args.roles).await?;
    let (password, generated) = match args.password {
        Some(password) => (password, false),
        None => (generate_password(GENERATED_PASSWORD_LEN), true),
    };
    let hash = hash_password_blocking(password.clone(), state.password_params).await?;
    let mut identity = Identity::new(args.name, args.kind);
    identity.roles = args.roles;
    identity.password = Some(hash);
    identity.require_client_certificate = args.require_client_certificate;
    let draft = audit(state, caller, OPERATION.action, Outcome::Success)
        .object(identity.name.as_str())
        .detail("kind", identity.kind.as_str())
        .detail("roles", &join(&identity.roles))
        .detail(
            "require_client_certificate",
            &identity.require_client_certificate.to_string(),
        )
        .detail("password", if generated { "generated" } else { "given" });
    state
        .store
        .commit(
            vec![Change::CreateIdentity(Box::new(identity.clone()))],
            draft,
        )
        .await?;
    Ok(CreatedIdentity {
        identity,
        generated_password: generated.then_some(password),
    })
}

//! Identities (`admin:identities`): one module per use case, and what they share — the
//! argument types, loading an identity, password hashing and the check that a change leaves
//! the deployment administrable.

pub mod create;
pub mod create_api_key;
pub mod delete;
pub mod list;
pub mod set_password;
pub mod show;
pub mod unlock;
pub mod update;

use std::collections::BTreeSet;

use sigil_domain::{
    Identity, IdentityKind, IdentityName, PasswordParams, Permission, Role, RoleName, hash_password,
};
use zeroize::Zeroizing;

use crate::service::ServiceError;
use crate::state::AppState;

/// Length of generated identity passwords (letters and digits, about 143 bits).
pub const GENERATED_PASSWORD_LEN: usize = 24;

/// Hashes a password off the async runtime (argon2id is deliberately slow).
pub async fn hash_password_blocking(
    password: Zeroizing<String>,
    params: PasswordParams,
) -> Result<sigil_domain::PasswordHash, ServiceError> {
    tokio::task::spawn_blocking(move || {
        hash_password(password.as_bytes(), &params, &mut rand::rng())
    })
    .await
    .map_err(|e| ServiceError::internal(format!("password hashing task failed: {e}")))?
    .map_err(|e| ServiceError::Invalid(e.to_string()))
}

/// A new identity.
#[derive(Debug)]
pub struct NewIdentity {
    /// Name.
    pub name: IdentityName,
    /// Person or application.
    pub kind: IdentityKind,
    /// Roles (each must exist).
    pub roles: BTreeSet<RoleName>,
    /// The password; `None` generates one (returned once).
    pub password: Option<Zeroizing<String>>,
    /// Bind the identity to a client certificate whose CN is its name.
    pub require_client_certificate: bool,
}

/// A created identity and, when the server generated it, its password (show it once).
#[derive(Debug)]
pub struct CreatedIdentity {
    /// The stored identity.
    pub identity: Identity,
    /// The generated password.
    pub generated_password: Option<Zeroizing<String>>,
}

/// Changes to an identity; `None` keeps a field.
#[derive(Debug, Default)]
pub struct IdentityUpdate {
    /// New role set.
    pub roles: Option<BTreeSet<RoleName>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Client-certificate binding.
    pub require_client_certificate: Option<bool>,
}

/// The stored identity of that name, or `NotFound`.
pub(crate) async fn load_identity(
    state: &AppState,
    name: &IdentityName,
) -> Result<Identity, ServiceError> {
    state
        .store
        .get_identity(name)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("identity {name}")))
}

/// Whether some role granting `admin:roles` on HTTPS is held by enough enabled identities to
/// be activated: a change that breaks this would leave nobody able to administer roles.
pub fn administrable(roles: &[Role], identities: &[Identity]) -> bool {
    roles.iter().any(|role| {
        role.grants(Permission::AdminRoles)
            && role.allows(sigil_domain::Interface::Https)
            && identities
                .iter()
                .filter(|i| i.enabled && i.roles.contains(role.name()))
                .count()
                >= role.logins_required() as usize
    })
}

/// Refuses a change after which the deployment could no longer be administered. `identity`
/// replaces (or, with `deleted`, removes) the stored identity of that name; `role` replaces
/// the stored role of that name.
pub(crate) async fn keep_administrable(
    state: &AppState,
    identity: Option<(&Identity, bool)>,
    role: Option<&Role>,
) -> Result<(), ServiceError> {
    let mut identities = state.store.list_identities().await?;
    let mut roles = state.store.list_roles().await?;
    let before = administrable(&roles, &identities);
    if let Some((changed, deleted)) = identity {
        identities.retain(|i| i.name != changed.name);
        if !deleted {
            identities.push(changed.clone());
        }
    }
    if let Some(changed) = role {
        roles.retain(|r| r.name() != changed.name());
        roles.push(changed.clone());
    }
    // A deployment that was not administrable may be repaired step by step.
    if before && !administrable(&roles, &identities) {
        return Err(ServiceError::Conflict(
            "refused: after this change no role granting admin:roles on https would have enough enabled identities to log in (the deployment could no longer be administered); add another administrator first".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_domain::{Interface, RoleClass, RoleDraft, RoleType};

    fn admin_role(logins: u32) -> Role {
        Role::new(RoleDraft {
            name: RoleName::new("administrator").unwrap(),
            role_type: RoleType::Administrator,
            class: RoleClass::Principal,
            logins_required: logins,
            permissions: [Permission::AdminRoles].into_iter().collect(),
            interfaces: [Interface::Https].into_iter().collect(),
        })
        .unwrap()
    }

    fn admin(name: &str, enabled: bool) -> Identity {
        let mut i = Identity::new(IdentityName::new(name).unwrap(), IdentityKind::Person);
        i.roles.insert(RoleName::new("administrator").unwrap());
        i.enabled = enabled;
        i
    }

    #[test]
    fn administrable_needs_enough_enabled_holders() {
        let two = [admin_role(2)];
        assert!(administrable(&two, &[admin("a", true), admin("b", true)]));
        assert!(!administrable(&two, &[admin("a", true), admin("b", false)]));
        assert!(!administrable(&two, &[admin("a", true)]));
        assert!(administrable(&[admin_role(1)], &[admin("a", true)]));
        assert!(!administrable(&[], &[admin("a", true)]));
    }
}

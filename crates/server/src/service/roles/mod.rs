//! Roles (`admin:roles`): one module per use case, and what they share — loading a role,
//! checking that named roles exist, and a role's audit details.

pub mod create;
pub mod delete;
pub mod list;
pub mod update;

use std::collections::BTreeSet;

use sigil_domain::{AuditDraft, Role, RoleName};

use crate::service::ServiceError;
use crate::service::audit::join;
use crate::state::AppState;

/// Refuses unless every role of `roles` exists (identities and policies name roles).
pub(crate) async fn check_roles_exist(
    state: &AppState,
    roles: &BTreeSet<RoleName>,
) -> Result<(), ServiceError> {
    for role in roles {
        if state.store.get_role(role).await?.is_none() {
            return Err(ServiceError::Invalid(format!(
                "role {role} does not exist: create it first or list roles with GET /api/v1/roles"
            )));
        }
    }
    Ok(())
}

/// The stored role of that name, or `NotFound`.
async fn load_role(state: &AppState, name: &RoleName) -> Result<Role, ServiceError> {
    state
        .store
        .get_role(name)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("role {name}")))
}

/// A role's definition as audit details.
fn role_audit(draft: AuditDraft, role: &Role) -> AuditDraft {
    draft
        .object(role.name().as_str())
        .detail("type", role.role_type().as_str())
        .detail("logins_required", &role.logins_required().to_string())
        .detail("permissions", &join(role.permissions()))
        .detail("interfaces", &join(role.interfaces()))
}

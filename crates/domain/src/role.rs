//! Roles: a permission set with dual control ("logins required") and allowed interfaces.

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use crate::names::RoleName;
use crate::permission::{Interface, Permission};
use crate::strenum::str_enum;

/// The largest "logins required" a role may ask for: more distinct people than this on one
/// session is not a realistic ceremony and would only lock a deployment out.
pub const MAX_LOGINS_REQUIRED: u32 = 8;

str_enum! {
    /// What a role is for. It documents intent; permissions decide what the role can do.
    pub enum RoleType ("role type") {
        /// Administers the deployment (usually with logins required = 2).
        Administrator = "administrator",
        /// A build system or other application that submits signing requests.
        Application = "application",
        /// A person who approves or denies signing requests.
        Approver = "approver",
    }
}

str_enum! {
    /// The class of a role. Sigil has one class today; it is stored so that more can be added.
    pub enum RoleClass ("role class") {
        /// A role held by principals (identities).
        Principal = "principal",
    }
}

/// A role. Its permissions apply to a session only once `logins_required` distinct identities
/// holding it are logged in on that session, on an interface the role allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RoleDraft", into = "RoleDraft")]
pub struct Role {
    name: RoleName,
    role_type: RoleType,
    class: RoleClass,
    logins_required: NonZeroU32,
    permissions: BTreeSet<Permission>,
    interfaces: BTreeSet<Interface>,
}

/// The fields of a [`Role`] before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDraft {
    /// Name.
    pub name: RoleName,
    /// Type.
    pub role_type: RoleType,
    /// Class.
    pub class: RoleClass,
    /// Distinct identities holding the role that must log in before it is active (1 to
    /// [`MAX_LOGINS_REQUIRED`]).
    pub logins_required: u32,
    /// Permissions granted while active.
    pub permissions: BTreeSet<Permission>,
    /// Interfaces the role may be used on (at least one).
    pub interfaces: BTreeSet<Interface>,
}

/// Why a role definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoleError {
    /// `logins_required` is 0 or above [`MAX_LOGINS_REQUIRED`].
    #[error(
        "role {role}: logins required is {value}, it must be between 1 and {MAX_LOGINS_REQUIRED}"
    )]
    LoginsRequired {
        /// The role.
        role: RoleName,
        /// The refused value.
        value: u32,
    },
    /// No interface is allowed, so the role could never be used.
    #[error("role {role} allows no interface: allow host-api, https or both")]
    NoInterface {
        /// The role.
        role: RoleName,
    },
}

impl TryFrom<RoleDraft> for Role {
    type Error = RoleError;

    fn try_from(draft: RoleDraft) -> Result<Self, RoleError> {
        let logins_required = NonZeroU32::new(draft.logins_required)
            .filter(|n| n.get() <= MAX_LOGINS_REQUIRED)
            .ok_or_else(|| RoleError::LoginsRequired {
                role: draft.name.clone(),
                value: draft.logins_required,
            })?;
        if draft.interfaces.is_empty() {
            return Err(RoleError::NoInterface { role: draft.name });
        }
        Ok(Self {
            name: draft.name,
            role_type: draft.role_type,
            class: draft.class,
            logins_required,
            permissions: draft.permissions,
            interfaces: draft.interfaces,
        })
    }
}

impl From<Role> for RoleDraft {
    fn from(role: Role) -> Self {
        Self {
            name: role.name,
            role_type: role.role_type,
            class: role.class,
            logins_required: role.logins_required.get(),
            permissions: role.permissions,
            interfaces: role.interfaces,
        }
    }
}

impl Role {
    /// Validates a draft.
    pub fn new(draft: RoleDraft) -> Result<Self, RoleError> {
        Self::try_from(draft)
    }

    /// Name.
    pub fn name(&self) -> &RoleName {
        &self.name
    }

    /// Type.
    pub fn role_type(&self) -> RoleType {
        self.role_type
    }

    /// Class.
    pub fn class(&self) -> RoleClass {
        self.class
    }

    /// Distinct logins needed before the role is active on a session.
    pub fn logins_required(&self) -> u32 {
        self.logins_required.get()
    }

    /// Permissions granted while active.
    pub fn permissions(&self) -> &BTreeSet<Permission> {
        &self.permissions
    }

    /// Whether the role grants `permission`.
    pub fn grants(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// Interfaces the role may be used on.
    pub fn interfaces(&self) -> &BTreeSet<Interface> {
        &self.interfaces
    }

    /// Whether the role may be used on `interface`.
    pub fn allows(&self, interface: Interface) -> bool {
        self.interfaces.contains(&interface)
    }
}

/// The roles `sigil init` creates, as a starting point administrators can change:
///
/// | role | type | logins required | interfaces | permissions |
/// |---|---|---|---|---|
/// | `administrator` | administrator | 2 | https | every `admin:*`, `ca:*`, `keys:add`, `audit:*`, `signing:read-all` |
/// | `approver` | approver | 1 | https | `signing:approve` |
/// | `application` | application | 1 | host-api, https | `signing:request` |
///
/// Approvers have no `signing:read-all`: they read the requests of the approval groups they
/// belong to (what they judge), so the read limits of groups hold for them. An administrator
/// who wants an approver role to read everything grants `signing:read-all` to it.
pub fn builtin_roles() -> Vec<Role> {
    use Permission as P;
    // The definitions are constants (checked by a test), so `ok()` loses nothing.
    let make =
        |name: &str, role_type, logins_required, interfaces: &[Interface], permissions: &[P]| {
            let draft = RoleDraft {
                name: RoleName::new(name).ok()?,
                role_type,
                class: RoleClass::Principal,
                logins_required,
                permissions: permissions.iter().copied().collect(),
                interfaces: interfaces.iter().copied().collect(),
            };
            Role::new(draft).ok()
        };
    let admin_permissions: Vec<P> = P::ALL
        .iter()
        .copied()
        .filter(|p| !matches!(p, P::SigningRequest | P::SigningApprove))
        .collect();
    [
        make(
            "administrator",
            RoleType::Administrator,
            2,
            &[Interface::Https],
            &admin_permissions,
        ),
        make(
            "approver",
            RoleType::Approver,
            1,
            &[Interface::Https],
            &[P::SigningApprove],
        ),
        make(
            "application",
            RoleType::Application,
            1,
            Interface::ALL,
            &[P::SigningRequest],
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn role(name: &str, logins: u32, permissions: &[Permission]) -> Role {
        Role::new(RoleDraft {
            name: RoleName::new(name).unwrap(),
            role_type: RoleType::Administrator,
            class: RoleClass::Principal,
            logins_required: logins,
            permissions: permissions.iter().copied().collect(),
            interfaces: Interface::ALL.iter().copied().collect(),
        })
        .unwrap()
    }

    #[test]
    fn validates_logins_required_and_interfaces() {
        let mut draft: RoleDraft = role("admin", 2, &[Permission::AdminRoles]).into();
        draft.logins_required = 0;
        assert!(matches!(
            Role::new(draft.clone()),
            Err(RoleError::LoginsRequired { value: 0, .. })
        ));
        draft.logins_required = MAX_LOGINS_REQUIRED + 1;
        assert!(Role::new(draft.clone()).is_err());
        draft.logins_required = 1;
        draft.interfaces.clear();
        assert!(matches!(
            Role::new(draft),
            Err(RoleError::NoInterface { .. })
        ));
    }

    #[test]
    fn builtin_roles_are_valid() {
        let roles = builtin_roles();
        assert_eq!(roles.len(), 3);
        let admin = &roles[0];
        assert_eq!(admin.logins_required(), 2);
        assert!(admin.grants(Permission::CaExportClearKey));
        assert!(admin.grants(Permission::AdminCommands));
        assert!(!admin.grants(Permission::SigningApprove));
        assert!(roles[1].grants(Permission::SigningApprove));
        assert!(!roles[1].grants(Permission::SigningReadAll));
        assert!(roles[2].allows(Interface::HostApi));
    }

    #[test]
    fn serde_validates() {
        let role = role("admin", 2, &[Permission::AdminRoles]);
        let json = serde_json::to_string(&role).unwrap();
        assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        let bad = json.replace("\"logins_required\":2", "\"logins_required\":0");
        assert!(serde_json::from_str::<Role>(&bad).is_err());
    }
}

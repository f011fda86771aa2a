//! A session: the identities logged in on one connection (or one HTTPS login) and the
//! permissions that follows from them under dual control.

use std::collections::{BTreeMap, BTreeSet};

use crate::identity::Identity;
use crate::names::{IdentityName, RoleName};
use crate::permission::{Interface, Permission};
use crate::role::Role;

/// Identities that may be logged in on one session at once (bounds memory per connection).
pub const MAX_SESSION_IDENTITIES: usize = 16;

/// In-memory session state. Roles are snapshotted at each login.
#[derive(Debug, Clone)]
pub struct Session {
    interface: Interface,
    /// Distinct identities, in login order (the first is the session's principal).
    identities: Vec<IdentityName>,
    /// Roles held by at least one logged-in identity and usable on this interface.
    roles: BTreeMap<RoleName, RoleState>,
}

#[derive(Debug, Clone)]
struct RoleState {
    role: Role,
    holders: BTreeSet<IdentityName>,
}

impl RoleState {
    fn active(&self) -> bool {
        self.holders.len() >= self.role.logins_required() as usize
    }
}

/// A role that is not active yet on a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRole {
    /// The role.
    pub role: RoleName,
    /// How many more distinct identities holding it must log in.
    pub more_logins_needed: u32,
}

/// What a login changed on the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginProgress {
    /// The identity was already logged in: it counts once, nothing changed.
    pub already_logged_in: bool,
    /// Roles that are not active yet and what each still needs.
    pub pending: Vec<PendingRole>,
}

impl LoginProgress {
    /// The number `RKLO` returns: the most logins any held role still needs (0 when every
    /// role of the logged-in identities is active).
    pub fn logins_still_required(&self) -> u32 {
        self.pending
            .iter()
            .map(|p| p.more_logins_needed)
            .max()
            .unwrap_or(0)
    }
}

/// A session cannot take another identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many identities on this session: at most {MAX_SESSION_IDENTITIES}")]
pub struct SessionFull;

impl Session {
    /// An empty session on `interface`.
    pub fn new(interface: Interface) -> Self {
        Self {
            interface,
            identities: Vec::new(),
            roles: BTreeMap::new(),
        }
    }

    /// Adds an identity whose login [`crate::identity::decide_login`] accepted. `roles` are the
    /// role definitions; only those the identity holds and this interface allows count.
    pub fn login(
        &mut self,
        identity: &Identity,
        roles: &[Role],
    ) -> Result<LoginProgress, SessionFull> {
        let already_logged_in = self.identities.contains(&identity.name);
        if !already_logged_in {
            if self.identities.len() >= MAX_SESSION_IDENTITIES {
                return Err(SessionFull);
            }
            self.identities.push(identity.name.clone());
            for role in roles
                .iter()
                .filter(|r| identity.roles.contains(r.name()) && r.allows(self.interface))
            {
                let state = self
                    .roles
                    .entry(role.name().clone())
                    .or_insert_with(|| RoleState {
                        role: role.clone(),
                        holders: BTreeSet::new(),
                    });
                state.holders.insert(identity.name.clone());
            }
        }
        Ok(LoginProgress {
            already_logged_in,
            pending: self.pending(),
        })
    }

    /// The interface.
    pub fn interface(&self) -> Interface {
        self.interface
    }

    /// Distinct logged-in identities, in login order.
    pub fn identities(&self) -> &[IdentityName] {
        &self.identities
    }

    /// The first identity that logged in: the requester of the signing requests this session
    /// submits and the actor in its audit events.
    pub fn principal(&self) -> Option<&IdentityName> {
        self.identities.first()
    }

    /// Whether `name` is logged in.
    pub fn has_identity(&self, name: &IdentityName) -> bool {
        self.identities.contains(name)
    }

    /// Roles whose logins-required count is met.
    pub fn active_roles(&self) -> impl Iterator<Item = &Role> {
        self.roles.values().filter(|s| s.active()).map(|s| &s.role)
    }

    /// Whether the role `name` is active.
    pub fn role_active(&self, name: &RoleName) -> bool {
        self.roles.get(name).is_some_and(RoleState::active)
    }

    /// Roles held by a logged-in identity that still need more logins.
    pub fn pending(&self) -> Vec<PendingRole> {
        self.roles
            .values()
            .filter(|s| !s.active())
            .map(|s| PendingRole {
                role: s.role.name().clone(),
                more_logins_needed: s
                    .role
                    .logins_required()
                    .saturating_sub(u32::try_from(s.holders.len()).unwrap_or(u32::MAX)),
            })
            .collect()
    }

    /// Effective permissions: the union over active roles.
    pub fn permissions(&self) -> BTreeSet<Permission> {
        self.active_roles()
            .flat_map(|r| r.permissions().iter().copied())
            .collect()
    }

    /// Whether an active role grants `permission`.
    pub fn has(&self, permission: Permission) -> bool {
        self.active_roles().any(|r| r.grants(permission))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::IdentityKind;
    use crate::role::tests::role;

    fn person(name: &str, roles: &[&Role]) -> Identity {
        let mut id = Identity::new(IdentityName::new(name).unwrap(), IdentityKind::Person);
        id.roles = roles.iter().map(|r| r.name().clone()).collect();
        id
    }

    #[test]
    fn dual_control_needs_two_distinct_identities() {
        let admin = role("administrator", 2, &[Permission::AdminRoles]);
        let roles = vec![admin.clone()];
        let a = person("admin1", &[&admin]);
        let b = person("admin2", &[&admin]);
        let mut s = Session::new(Interface::Https);

        let p = s.login(&a, &roles).unwrap();
        assert_eq!(p.logins_still_required(), 1);
        assert!(!s.has(Permission::AdminRoles));

        let p = s.login(&a, &roles).unwrap();
        assert!(p.already_logged_in);
        assert_eq!(
            p.logins_still_required(),
            1,
            "the same identity counts once"
        );
        assert!(!s.has(Permission::AdminRoles));

        let p = s.login(&b, &roles).unwrap();
        assert_eq!(p.logins_still_required(), 0);
        assert!(s.has(Permission::AdminRoles));
        assert_eq!(s.principal(), Some(&a.name));
        assert_eq!(s.identities().len(), 2);
    }

    #[test]
    fn permissions_are_union_of_active_roles_on_allowed_interfaces() {
        let app = role("app", 1, &[Permission::SigningRequest]);
        let admin = role("administrator", 2, &[Permission::AdminRoles]);
        let mut draft: crate::role::RoleDraft = role("web", 1, &[Permission::AuditRead]).into();
        draft.interfaces = [Interface::Https].into_iter().collect();
        let web = Role::new(draft).unwrap();
        let roles = vec![app.clone(), admin.clone(), web.clone()];
        let mut s = Session::new(Interface::HostApi);
        s.login(&person("x", &[&app, &admin, &web]), &roles)
            .unwrap();
        assert_eq!(
            s.permissions(),
            [Permission::SigningRequest].into_iter().collect()
        );
        assert_eq!(
            s.pending(),
            vec![PendingRole {
                role: admin.name().clone(),
                more_logins_needed: 1
            }]
        );
    }
}

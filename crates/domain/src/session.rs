//! A session: the identities logged in on one connection (or one HTTPS login) and the
//! permissions that follows from them under dual control.

use std::collections::{BTreeMap, BTreeSet};

use crate::identity::{ApiKeyId, Identity};
use crate::names::{IdentityName, RoleName};
use crate::permission::{Interface, Permission};
use crate::role::Role;

/// Identities that may be logged in on one session at once (bounds memory per connection).
pub const MAX_SESSION_IDENTITIES: usize = 16;

/// In-memory session state. Roles are taken at each login and recomputed by
/// [`Session::revalidate`] from the identities and roles as they stand now.
#[derive(Debug, Clone)]
pub struct Session {
    interface: Interface,
    /// Distinct identities, in login order (the first is the session's principal).
    identities: Vec<IdentityName>,
    /// Roles held by at least one logged-in identity and usable on this interface.
    roles: BTreeMap<RoleName, RoleState>,
    /// The API key each identity logged in with, if it used one (its deletion ends the login).
    api_keys: BTreeMap<IdentityName, ApiKeyId>,
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

/// What of a session is stored (shared by every node): the interface, the identities in login
/// order and the API keys they used. Roles are not stored: [`Session::revalidate`] recomputes
/// them from the identities and roles as they stand when the session is used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionRecord {
    /// The interface.
    pub interface: Interface,
    /// Identities in login order.
    pub identities: Vec<IdentityName>,
    /// The API key each identity logged in with, if any.
    #[serde(default)]
    pub api_keys: BTreeMap<IdentityName, ApiKeyId>,
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

/// Why an identity dropped out of a session when it was revalidated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// The identity no longer exists.
    Deleted,
    /// An administrator disabled it.
    Disabled,
    /// It is locked (too many failed logins, or an administrator locked it).
    Locked,
    /// It logged in with an API key that has since been deleted.
    KeyDeleted,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Deleted => "was deleted",
            Self::Disabled => "was disabled",
            Self::Locked => "is locked",
            Self::KeyDeleted => "logged in with an API key that was deleted",
        })
    }
}

/// The outcome of [`Session::revalidate`].
#[derive(Debug, Clone)]
pub struct Revalidation {
    /// The session as it stands now: the remaining identities with their current roles.
    pub session: Session,
    /// Identities that dropped out, in login order, and why.
    pub dropped: Vec<(IdentityName, Dropped)>,
}

impl Revalidation {
    /// Whether no identity is left although one was logged in: the session has ended.
    pub fn ended(&self) -> bool {
        self.session.identities.is_empty() && !self.dropped.is_empty()
    }
}

impl Session {
    /// An empty session on `interface`.
    pub fn new(interface: Interface) -> Self {
        Self {
            interface,
            identities: Vec::new(),
            roles: BTreeMap::new(),
            api_keys: BTreeMap::new(),
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

    /// What to store of this session.
    pub fn record(&self) -> SessionRecord {
        SessionRecord {
            interface: self.interface,
            identities: self.identities.clone(),
            api_keys: self.api_keys.clone(),
        }
    }

    /// A stored session, with no role yet: pass it through [`Session::revalidate`] before use.
    pub fn from_record(record: SessionRecord) -> Self {
        let mut identities: Vec<IdentityName> = Vec::with_capacity(record.identities.len());
        for name in record.identities {
            if !identities.contains(&name) && identities.len() < MAX_SESSION_IDENTITIES {
                identities.push(name);
            }
        }
        let api_keys = record
            .api_keys
            .into_iter()
            .filter(|(name, _)| identities.contains(name))
            .collect();
        Self {
            interface: record.interface,
            identities,
            roles: BTreeMap::new(),
            api_keys,
        }
    }

    /// Records that the logged-in identity `name` used the API key `id` (see
    /// [`Session::revalidate`]: the login ends when the key is deleted).
    pub fn note_api_key(&mut self, name: &IdentityName, id: ApiKeyId) {
        if self.identities.contains(name) {
            self.api_keys.insert(name.clone(), id);
        }
    }

    /// The API key `name` logged in with, if any.
    pub fn api_key(&self, name: &IdentityName) -> Option<&ApiKeyId> {
        self.api_keys.get(name)
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

    /// Whether the identity `name` itself holds `permission` on this session: one of ITS roles
    /// grants it and that role is active (a dual-control role is active once enough of its
    /// holders are logged in; each of those holders then holds it). Another identity's role
    /// never counts, so permission and group membership come from the same identity.
    pub fn identity_has(&self, name: &IdentityName, permission: Permission) -> bool {
        self.roles
            .values()
            .any(|s| s.active() && s.holders.contains(name) && s.role.grants(permission))
    }

    /// The session rebuilt from the identities and roles as they stand now. `current` reads
    /// an identity's stored record (`None`: deleted); `roles` are all role definitions.
    ///
    /// An identity that is gone, disabled or locked, or that logged in with an API key for
    /// which `key_exists` is now false, drops out (in [`Revalidation::dropped`]); the others
    /// are logged in again in their order, so their roles, the roles' permissions and
    /// interfaces, and dual control are all recomputed. The password is not checked again.
    pub fn revalidate<'a>(
        &self,
        mut current: impl FnMut(&IdentityName) -> Option<&'a Identity>,
        mut key_exists: impl FnMut(&IdentityName, &ApiKeyId) -> bool,
        roles: &[Role],
    ) -> Revalidation {
        let mut session = Session::new(self.interface);
        let mut dropped = Vec::new();
        for name in &self.identities {
            let reason = match current(name) {
                None => Some(Dropped::Deleted),
                Some(identity) if identity.name != *name => Some(Dropped::Deleted),
                Some(identity) if !identity.enabled => Some(Dropped::Disabled),
                Some(identity) if identity.locked => Some(Dropped::Locked),
                Some(_)
                    if self
                        .api_keys
                        .get(name)
                        .is_some_and(|key| !key_exists(name, key)) =>
                {
                    Some(Dropped::KeyDeleted)
                }
                Some(identity) => {
                    // Never full: it holds at most the identities this session held.
                    if session.login(identity, roles).is_err() {
                        Some(Dropped::Deleted)
                    } else {
                        None
                    }
                }
            };
            match reason {
                Some(reason) => dropped.push((name.clone(), reason)),
                None => {
                    if let Some(key) = self.api_keys.get(name) {
                        session.api_keys.insert(name.clone(), key.clone());
                    }
                }
            }
        }
        Revalidation { session, dropped }
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
    fn revalidation_drops_gone_disabled_and_locked_identities_and_recomputes_roles() {
        let admin = role("administrator", 2, &[Permission::AdminRoles]);
        let approver = role("approver", 1, &[Permission::SigningApprove]);
        let roles = vec![admin.clone(), approver.clone()];
        let a = person("admin1", &[&admin, &approver]);
        let b = person("admin2", &[&admin]);
        let c = person("admin3", &[&admin]);
        let mut s = Session::new(Interface::Https);
        for id in [&a, &b, &c] {
            s.login(id, &roles).unwrap();
        }
        assert!(s.has(Permission::AdminRoles));

        // Unchanged records: the same session.
        let all = [a.clone(), b.clone(), c.clone()];
        let lookup = |n: &IdentityName| all.iter().find(|i| &i.name == n);
        let same = s.revalidate(lookup, |_, _| true, &roles);
        assert!(same.dropped.is_empty());
        assert!(!same.ended());
        assert_eq!(same.session.identities(), s.identities());
        assert!(same.session.has(Permission::AdminRoles));

        // admin2 disabled, admin3 locked: dual control falls apart, admin1 keeps its own role.
        let mut b2 = b.clone();
        b2.enabled = false;
        let mut c2 = c.clone();
        c2.locked = true;
        let now = [a.clone(), b2, c2];
        let r = s.revalidate(|n| now.iter().find(|i| &i.name == n), |_, _| true, &roles);
        assert_eq!(
            r.dropped,
            vec![
                (b.name.clone(), Dropped::Disabled),
                (c.name.clone(), Dropped::Locked)
            ]
        );
        assert_eq!(r.session.identities(), std::slice::from_ref(&a.name));
        assert!(!r.session.has(Permission::AdminRoles));
        assert!(r.session.has(Permission::SigningApprove));

        // A role taken away: the identity stays, the permission goes.
        let mut a2 = a.clone();
        a2.roles.remove(approver.name());
        let r = s.revalidate(|n| (n == &a.name).then_some(&a2), |_, _| true, &roles);
        assert!(!r.session.has(Permission::SigningApprove));
        assert_eq!(r.dropped.len(), 2, "the others are deleted");
        assert!(r.dropped.iter().all(|(_, why)| *why == Dropped::Deleted));

        // Nobody left: the session has ended.
        let r = s.revalidate(|_| None, |_, _| true, &roles);
        assert!(r.ended());
        assert!(r.session.principal().is_none());
        // An empty session never "ends".
        assert!(
            !Session::new(Interface::Https)
                .revalidate(|_| None, |_, _| true, &roles)
                .ended()
        );
    }

    #[test]
    fn a_login_with_a_deleted_api_key_drops_out() {
        let app = role("app", 1, &[Permission::SigningRequest]);
        let roles = vec![app.clone()];
        let a = person("ci", &[&app]);
        let b = person("ci2", &[&app]);
        let key = ApiKeyId::new("0123456789abcdef".to_owned()).unwrap();
        let mut s = Session::new(Interface::HostApi);
        s.login(&a, &roles).unwrap();
        s.login(&b, &roles).unwrap();
        s.note_api_key(&a.name, key.clone());
        let all = [a.clone(), b.clone()];
        let lookup = |n: &IdentityName| all.iter().find(|i| &i.name == n);
        let kept = s.revalidate(lookup, |_, k| k == &key, &roles);
        assert!(kept.dropped.is_empty());
        assert_eq!(kept.session.api_key(&a.name), Some(&key), "still recorded");
        let r = s.revalidate(lookup, |_, _| false, &roles);
        assert_eq!(r.dropped, vec![(a.name.clone(), Dropped::KeyDeleted)]);
        assert_eq!(r.session.identities(), std::slice::from_ref(&b.name));
    }

    #[test]
    fn identity_has_only_through_its_own_active_roles() {
        let approver = role("approver", 1, &[Permission::SigningApprove]);
        let member = role("member", 1, &[Permission::SigningRequest]);
        let pair = role("pair", 2, &[Permission::SigningReadAll]);
        let roles = vec![approver.clone(), member.clone(), pair.clone()];
        let a = person("approver2", &[&approver, &pair]);
        let m = person("memberx", &[&member]);
        let mut s = Session::new(Interface::Https);
        s.login(&a, &roles).unwrap();
        s.login(&m, &roles).unwrap();
        assert!(s.has(Permission::SigningApprove));
        assert!(s.identity_has(&a.name, Permission::SigningApprove));
        assert!(!s.identity_has(&m.name, Permission::SigningApprove));
        // A dual-control role counts for its holders only once it is active.
        assert!(!s.identity_has(&a.name, Permission::SigningReadAll));
        let p = person("pair2", &[&pair]);
        s.login(&p, &roles).unwrap();
        assert!(s.identity_has(&a.name, Permission::SigningReadAll));
        assert!(s.identity_has(&p.name, Permission::SigningReadAll));
        assert!(!s.identity_has(&m.name, Permission::SigningReadAll));
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

//! Approval groups: named sets of identities allowed to approve the requests of the policies
//! that name the group.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::names::{GroupName, IdentityName};

/// Most members an approval group may have.
pub const MAX_GROUP_MEMBERS: usize = 256;

/// An approval group. Approving needs membership **and** the `signing:approve` permission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalGroup {
    /// Name.
    pub name: GroupName,
    /// Members.
    pub members: BTreeSet<IdentityName>,
}

impl ApprovalGroup {
    /// Whether `identity` is a member.
    pub fn is_member(&self, identity: &IdentityName) -> bool {
        self.members.contains(identity)
    }
}

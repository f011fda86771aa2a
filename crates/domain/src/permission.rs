//! Permissions (`area:action`) and the interfaces a role may be used on.

use crate::strenum::str_enum;

str_enum! {
    /// One permission, written `area:action`. The strings are stable: they are stored in the
    /// database and shown in `RKCP`.
    pub enum Permission ("permission") {
        /// Create a CA container.
        CaAdd = "ca:add",
        /// List CA containers and their certificates.
        CaList = "ca:list",
        /// Issue a certificate from a CA.
        CaIssue = "ca:issue",
        /// Revoke a certificate.
        CaRevoke = "ca:revoke",
        /// Export certificates (public material).
        CaExport = "ca:export",
        /// Upload (import) a certificate.
        CaUpload = "ca:upload",
        /// Export a private key as an encrypted PKCS#12 (also needs the global setting).
        CaExportClearKey = "ca:export-clear-key",
        /// Create keys.
        KeysAdd = "keys:add",
        /// Submit signing requests to visible policies.
        SigningRequest = "signing:request",
        /// Approve or deny signing requests (with approval-group membership).
        SigningApprove = "signing:approve",
        /// Export a visible policy's OpenPGP public key, which the server self-signs with the
        /// policy's key (a certification, not a signature of data).
        SigningOpenPgpKey = "signing:openpgp-key",
        /// Read every signing request, not only one's own.
        SigningReadAll = "signing:read-all",
        /// Manage identities (create, enable, unlock, keys).
        AdminIdentities = "admin:identities",
        /// Manage roles.
        AdminRoles = "admin:roles",
        /// Manage approval groups.
        AdminGroups = "admin:groups",
        /// Manage issuance policies.
        AdminPolicies = "admin:policies",
        /// Enable and disable Host API commands.
        AdminCommands = "admin:commands",
        /// Change global settings.
        AdminSettings = "admin:settings",
        /// Read the audit log.
        AuditRead = "audit:read",
        /// Export the audit log.
        AuditExport = "audit:export",
    }
}

str_enum! {
    /// An interface a session comes in on; roles list the interfaces they may be used on.
    pub enum Interface ("interface") {
        /// The mutual-TLS Host API.
        HostApi = "host-api",
        /// The HTTPS API and web console.
        Https = "https",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_known_and_refuses_unknown() {
        assert_eq!(
            "ca:export-clear-key".parse(),
            Ok(Permission::CaExportClearKey)
        );
        assert_eq!("host-api".parse(), Ok(Interface::HostApi));
        let err = "ca:delete".parse::<Permission>().unwrap_err();
        assert_eq!(err.kind, "permission");
        assert!(err.to_string().contains("ca:add, ca:list"), "{err}");
        assert_eq!(Permission::ALL.len(), 20);
    }

    #[test]
    fn serde_uses_the_string() {
        let json = serde_json::to_string(&Permission::SigningReadAll).unwrap();
        assert_eq!(json, "\"signing:read-all\"");
        assert_eq!(
            serde_json::from_str::<Permission>(&json).unwrap(),
            Permission::SigningReadAll
        );
        assert!(serde_json::from_str::<Permission>("\"signing:everything\"").is_err());
    }

    proptest! {
        #[test]
        fn permission_round_trip(index in 0..Permission::ALL.len()) {
            let p = Permission::ALL[index];
            prop_assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
            prop_assert_eq!(p.to_string(), p.as_str());
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,40}") {
            if let Ok(p) = text.parse::<Permission>() {
                prop_assert_eq!(p.as_str(), text.as_str());
            }
        }
    }
}

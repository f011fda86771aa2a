//! The HTTPS JSON API against the real server: `init` + `start` on 127.0.0.1:0, real TLS
//! (trusting only DATA/ca/root.pem), the generated administrator passwords, real SQLite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod https_common;

use https_common::Client;
use serde_json::{Value, json};
use sigil_server::RunningServer;
use sigil_server::service::authorize::Caller;

/// A started deployment with both administrators' passwords.
struct Fixture {
    _dir: tempfile::TempDir,
    server: RunningServer,
    client: Client,
    admins: Vec<(String, String)>,
    root_ca: std::path::PathBuf,
    data: std::path::PathBuf,
}

impl Fixture {
    async fn new() -> Self {
        let (dir, data, report) = common::deployment().await;
        let server = sigil_server::start(common::config(&data)).await.unwrap();
        let client = Client::new(server.https_addr(), &report.root_ca);
        let admins = report
            .admin_names
            .iter()
            .zip(&report.admin_password_files)
            .map(|(name, file)| {
                (
                    name.clone(),
                    std::fs::read_to_string(file).unwrap().trim().to_owned(),
                )
            })
            .collect();
        Self {
            _dir: dir,
            server,
            client,
            admins,
            root_ca: report.root_ca.clone(),
            data,
        }
    }

    /// A session with both administrators logged in (dual control met).
    async fn admin_session(&self) -> String {
        let (n1, p1) = &self.admins[0];
        let (n2, p2) = &self.admins[1];
        let first = self.client.login(None, n1, p1).await;
        assert_eq!(first.status, 200, "{first:?}");
        let token = first.body["session"].as_str().unwrap().to_owned();
        let second = self.client.login(Some(&token), n2, p2).await;
        assert_eq!(second.status, 200, "{second:?}");
        assert_eq!(second.body["logins_still_required"], 0, "{second:?}");
        token
    }

    /// Creates the CA `codesign` (P-256) and a `code-signing` certificate "CN=Release" with a
    /// key Sigil generates; returns the certificate as the API shows it (`serial`, `pem`, …).
    async fn code_signing_certificate(&self, admin: &str) -> Value {
        let r = self
            .client
            .post(
                "/cas",
                admin,
                json!({"name": "codesign", "key_algorithm": "ec-p256",
                       "subject": "CN=Code Signing Test CA", "validity_days": 365}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        let r = self
            .client
            .post(
                "/certificates",
                admin,
                json!({"issuer": "codesign", "profile": "code-signing", "subject": "CN=Release",
                       "validity_days": 90, "key_algorithm": "ec-p256"}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        r.body
    }

    /// Creates a person identity holding `roles`; returns its generated password.
    async fn person(&self, admin: &str, name: &str, roles: &[&str]) -> String {
        let r = self
            .client
            .post(
                "/identities",
                admin,
                json!({"name": name, "kind": "person", "roles": roles}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        r.body["password"].as_str().unwrap().to_owned()
    }
}

fn auditor_role() -> Value {
    json!({
        "name": "auditor", "type": "approver", "class": "principal", "logins_required": 1,
        "permissions": ["audit:read"], "interfaces": ["https"]
    })
}

#[tokio::test]
async fn health_needs_no_session_and_everything_else_does() {
    let f = Fixture::new().await;
    let r = f.client.call("GET", "/health", None, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["status"], "ok");
    assert!(r.body["version"].is_string());

    let r = f.client.call("GET", "/roles", None, None).await;
    assert_eq!((r.status, r.code()), (401, "NOT_LOGGED_IN"), "{r:?}");
    let r = f.client.get("/roles", "0123456789abcdef").await;
    assert_eq!((r.status, r.code()), (401, "NOT_LOGGED_IN"), "{r:?}");
    assert!(r.message().contains("log in again"), "{r:?}");

    let r = f.client.call("GET", "/no-such-route", None, None).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"), "{r:?}");
    f.server.shutdown().await;
}

#[tokio::test]
async fn one_administrator_cannot_change_a_role_two_can() {
    let f = Fixture::new().await;
    let (n1, p1) = &f.admins[0];
    let (n2, p2) = &f.admins[1];
    let first = f.client.login(None, n1, p1).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body["logins_still_required"], 1, "{first:?}");
    assert_eq!(first.body["pending"][0]["role"], "administrator");
    assert_eq!(first.body["pending"][0]["more_logins_needed"], 1);
    assert_eq!(first.body["permissions"], json!([]));
    let token = first.body["session"].as_str().unwrap().to_owned();

    // One administrator alone: refused, and nothing changes.
    let r = f.client.post("/roles", &token, auditor_role()).await;
    assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{r:?}");
    assert!(r.message().contains("admin:roles"), "{r:?}");
    assert!(r.message().contains("1 more login"), "{r:?}");
    let r = f
        .client
        .put(
            "/roles/administrator",
            &token,
            json!({"type": "administrator", "logins_required": 1,
                   "permissions": ["admin:roles"], "interfaces": ["https"]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{r:?}");

    // The same administrator again does not count twice.
    let again = f.client.login(Some(&token), n1, p1).await;
    assert_eq!(
        (again.status, again.code()),
        (409, "ALREADY_LOGGED_IN"),
        "{again:?}"
    );

    // A second, distinct administrator on the same session: dual control is met.
    let second = f.client.login(Some(&token), n2, p2).await;
    assert_eq!(second.status, 200, "{second:?}");
    assert_eq!(second.body["logins_still_required"], 0);
    assert!(
        second.body.get("session").is_none(),
        "the token stays the same"
    );
    assert_eq!(second.body["identities"], json!([n1, n2]));
    let permissions = second.body["permissions"].as_array().unwrap();
    assert!(permissions.contains(&json!("admin:roles")), "{second:?}");

    let r = f.client.post("/roles", &token, auditor_role()).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["type"], "approver");

    // Changes that would leave nobody able to administer are refused.
    let r = f
        .client
        .put(
            &format!("/identities/{n2}"),
            &token,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"), "{r:?}");
    let r = f
        .client
        .put(
            "/roles/administrator",
            &token,
            json!({"type": "administrator", "logins_required": 3,
                   "permissions": ["admin:roles"], "interfaces": ["https"]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"), "{r:?}");
    let r = f.client.call("PATCH", "/roles", Some(&token), None).await;
    assert_eq!((r.status, r.code()), (405, "INVALID"), "{r:?}");
    let r = f.client.post("/roles", &token, auditor_role()).await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"), "{r:?}");

    let mut changed = auditor_role();
    changed["permissions"] = json!(["audit:read", "audit:export"]);
    let r = f.client.put("/roles/auditor", &token, changed).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["permissions"], json!(["audit:read", "audit:export"]));
    let r = f.client.get("/roles/auditor", &token).await;
    assert_eq!(r.body["permissions"], json!(["audit:read", "audit:export"]));

    // Bad definitions are refused with the reason.
    let mut bad = auditor_role();
    bad["name"] = json!("zero");
    bad["logins_required"] = json!(0);
    let r = f.client.post("/roles", &token, bad).await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    assert!(r.message().contains("logins required"), "{r:?}");
    let mut bad = auditor_role();
    bad["name"] = json!("typo");
    bad["permissions"] = json!(["audit:everything"]);
    let r = f.client.post("/roles", &token, bad).await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");

    // A role held by an identity cannot be deleted; an unused one can.
    let r = f
        .client
        .call("DELETE", "/roles/administrator", Some(&token), None)
        .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"), "{r:?}");
    let r = f
        .client
        .call("DELETE", "/roles/auditor", Some(&token), None)
        .await;
    assert_eq!(r.status, 204, "{r:?}");

    // Logout ends the session.
    let r = f.client.call("POST", "/logout", Some(&token), None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = f.client.get("/roles", &token).await;
    assert_eq!((r.status, r.code()), (401, "NOT_LOGGED_IN"), "{r:?}");

    // Every refusal and change is in the audit log, and the chain verifies.
    let token = f.admin_session().await;
    let r = f.client.get("/audit?from=1&limit=1000", &token).await;
    assert_eq!(r.status, 200, "{r:?}");
    let events = r.body.as_array().unwrap();
    let find = |action: &str, outcome: &str| {
        events
            .iter()
            .any(|e| e["action"] == action && e["outcome"] == outcome)
    };
    assert!(find("role.create", "failure"), "{events:?}");
    assert!(find("role.create", "success"));
    let created = events
        .iter()
        .find(|e| e["action"] == "role.create" && e["outcome"] == "success")
        .unwrap();
    assert_eq!(created["interface"], "https", "{created:?}");
    assert!(
        created["source"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "admin changes record the source address: {created:?}"
    );
    assert!(find("role.update", "success"));
    assert!(find("role.delete", "success"));
    assert!(find("login", "success"));
    let r = f.client.get("/audit/verify", &token).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["ok"], true, "{r:?}");
    assert!(r.body["events"].as_u64().unwrap() >= events.len() as u64);
    f.server.shutdown().await;
}

#[tokio::test]
async fn a_role_with_one_login_works_after_one_login() {
    let f = Fixture::new().await;
    let admin = f.admin_session().await;
    let r = f.client.post("/roles", &admin, auditor_role()).await;
    assert_eq!(r.status, 201, "{r:?}");
    let password = f.person(&admin, "carol", &["auditor"]).await;
    assert!(
        password.len() >= 24,
        "a generated password is returned once"
    );
    let r = f.client.get("/identities/carol", &admin).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.get("password").is_none(), "never shown again: {r:?}");
    assert_eq!(r.body["has_password"], true);

    let login = f.client.login(None, "carol", &password).await;
    assert_eq!(login.status, 200, "{login:?}");
    assert_eq!(login.body["logins_still_required"], 0);
    assert_eq!(login.body["permissions"], json!(["audit:read"]));
    let token = login.body["session"].as_str().unwrap();
    let r = f.client.get("/audit?limit=5", token).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body.as_array().unwrap().len(), 5);
    let r = f.client.get("/audit/verify", token).await;
    assert_eq!(r.body["ok"], true, "{r:?}");
    // The newest events, oldest first, ending with that verification (itself an event);
    // `last` takes no other bound.
    let head = r.body["head_seq"].as_u64().unwrap() + 1;
    let r = f.client.get("/audit?last=3", token).await;
    assert_eq!(r.status, 200, "{r:?}");
    let seqs: Vec<u64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [head - 2, head - 1, head], "{r:?}");
    assert_eq!(r.body[2]["action"], "audit.verify", "{r:?}");
    let r = f.client.get("/audit?last=3&from=1", token).await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    // ...and nothing the role does not grant.
    let r = f.client.get("/identities", token).await;
    assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{r:?}");
    assert!(r.message().contains("admin:identities"), "{r:?}");
    f.server.shutdown().await;
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_lock_the_identity_until_unlocked() {
    let f = Fixture::new().await;
    let admin = f.admin_session().await;
    let r = f
        .client
        .put("/settings", &admin, json!({"lockout_threshold": 3}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["lockout_threshold"], 3);
    assert_eq!(r.body["allow_export_with_password"], false);
    let r = f
        .client
        .put("/settings", &admin, json!({"lockout_threshold": 0}))
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    let r = f.client.post("/roles", &admin, auditor_role()).await;
    assert_eq!(r.status, 201, "{r:?}");
    let password = f.person(&admin, "dave", &["auditor"]).await;

    // An unknown name and a wrong password look the same.
    let unknown = f.client.login(None, "nobody", "wrong-password-123").await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (401, "AUTH_FAILED"),
        "{unknown:?}"
    );
    for attempt in 1..=3 {
        let r = f.client.login(None, "dave", "wrong-password-123").await;
        assert_eq!(
            (r.status, r.code()),
            (401, "AUTH_FAILED"),
            "attempt {attempt}: {r:?}"
        );
        assert_eq!(r.message() == unknown.message(), attempt < 3, "{r:?}");
    }
    // Locked now: even the right password is refused, without checking it.
    let r = f.client.login(None, "dave", &password).await;
    assert_eq!((r.status, r.code()), (423, "IDENTITY_LOCKED"), "{r:?}");
    let r = f.client.get("/identities/dave", &admin).await;
    assert_eq!(r.body["locked"], true, "{r:?}");
    assert_eq!(r.body["failed_logins"], 3, "{r:?}");

    let r = f
        .client
        .post("/identities/dave/unlock", &admin, json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["locked"], false);
    let r = f.client.login(None, "dave", &password).await;
    assert_eq!(r.status, 200, "{r:?}");

    // Disabled identities cannot log in.
    let r = f
        .client
        .put("/identities/dave", &admin, json!({"enabled": false}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = f.client.login(None, "dave", &password).await;
    assert_eq!((r.status, r.code()), (403, "IDENTITY_DISABLED"), "{r:?}");

    // A new password set by an administrator replaces the old one.
    let r = f
        .client
        .put("/identities/dave", &admin, json!({"enabled": true}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = f
        .client
        .post(
            "/identities/dave/password",
            &admin,
            json!({"password": "a-new-long-password"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.get("password").is_none(),
        "a given password is not echoed"
    );
    let r = f.client.login(None, "dave", &password).await;
    assert_eq!(r.status, 401, "{r:?}");
    let r = f.client.login(None, "dave", "a-new-long-password").await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = f
        .client
        .post(
            "/identities/dave/password",
            &admin,
            json!({"password": "short"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");

    // The audit log has the failures, the lock and the unlock, and no password.
    let r = f.client.get("/audit?limit=1000", &admin).await;
    let text = r.body.to_string();
    assert!(text.contains("\"identity.unlock\""), "{text}");
    assert!(text.contains("\"locked\":\"true\""), "{text}");
    assert!(!text.contains(&password) && !text.contains("a-new-long-password"));
    f.server.shutdown().await;
}

#[tokio::test]
async fn identities_groups_and_policies() {
    let f = Fixture::new().await;
    let admin = f.admin_session().await;

    // A code-signing CA and a certificate with a Sigil-held key.
    let r = f
        .client
        .post(
            "/cas",
            &admin,
            json!({"name": "codesign", "key_algorithm": "ec-p256",
                   "subject": "CN=Test Code Signing CA,O=Sigil Tests", "validity_days": 365}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert!(
        r.body["certificate_pem"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let r = f
        .client
        .post(
            "/certificates",
            &admin,
            json!({"issuer": "codesign", "profile": "code-signing",
                   "subject": "CN=Release Signing,O=Sigil Tests", "validity_days": 90,
                   "key_algorithm": "ec-p256"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let serial = r.body["serial"].as_str().unwrap().to_owned();
    assert!(r.body["key_id"].is_string());
    assert!(
        r.body["chain_pem"]
            .as_str()
            .unwrap()
            .matches("BEGIN CERTIFICATE")
            .count()
            >= 2
    );

    // The same certificate from a CSR: no Sigil-held key.
    let dir = tempfile::tempdir().unwrap();
    let (_key, csr) = common::openssl_csr(dir.path(), "external");
    let r = f
        .client
        .post(
            "/certificates",
            &admin,
            json!({"issuer": "codesign", "profile": "code-signing", "validity_days": 30,
                   "csr_pem": String::from_utf8(csr).unwrap()}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let csr_serial = r.body["serial"].as_str().unwrap().to_owned();
    assert!(r.body["key_id"].is_null());

    // Roles, identities, a group.
    let r = f
        .client
        .post(
            "/roles",
            &admin,
            json!({"name": "builder", "type": "application", "logins_required": 1,
                   "permissions": ["signing:request"], "interfaces": ["host-api", "https"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = f
        .client
        .post(
            "/identities",
            &admin,
            json!({"name": "jenkins", "kind": "application", "roles": ["builder"],
                   "password": "jenkins-password-1", "require_client_certificate": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert!(
        r.body.get("password").is_none(),
        "a given password is not echoed"
    );
    assert_eq!(r.body["require_client_certificate"], true);
    // Bound to a client certificate: a login without one is refused.
    let r = f.client.login(None, "jenkins", "jenkins-password-1").await;
    assert_eq!((r.status, r.code()), (403, "CERT_MISMATCH"), "{r:?}");
    let r = f
        .client
        .post("/identities", &admin, json!({"name": "x", "kind": "robot"}))
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    let r = f
        .client
        .post(
            "/identities",
            &admin,
            json!({"name": "y", "kind": "person", "roles": ["ghost"]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    assert!(r.message().contains("ghost"), "{r:?}");
    let r = f
        .client
        .post(
            "/identities",
            &admin,
            json!({"name": "jenkins", "kind": "person"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"), "{r:?}");

    let key = f
        .client
        .post(
            "/identities/jenkins/api-keys",
            &admin,
            json!({"label": "ci"}),
        )
        .await;
    assert_eq!(key.status, 201, "{key:?}");
    assert!(key.body["token"].as_str().unwrap().starts_with("sigil_"));

    let approver_password = f.person(&admin, "alice", &[]).await;
    assert!(!approver_password.is_empty());
    let r = f
        .client
        .post(
            "/groups",
            &admin,
            json!({"name": "release-approvers", "members": ["alice"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = f
        .client
        .post(
            "/groups",
            &admin,
            json!({"name": "bad", "members": ["nobody"]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");

    // Policies: validated against the store.
    let policy = |alias: &str, certificate: &str, group: Option<&str>, hashes: Value| {
        json!({"alias": alias, "certificate": certificate, "rsa_scheme": "pkcs1v15",
               "approvals_required": if group.is_some() { 1 } else { 0 },
               "approval_group": group, "hashes": hashes, "formats": ["hash"],
               "request_lifetime_secs": 3600, "roles": ["builder"]})
    };
    let r = f
        .client
        .post(
            "/policies",
            &admin,
            policy(
                "release",
                &serial,
                Some("release-approvers"),
                json!(["sha256"]),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["approval_group"], "release-approvers");
    let r = f
        .client
        .post(
            "/policies",
            &admin,
            policy("p1", "abcdef", None, json!(["sha256"])),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "INVALID"),
        "unknown certificate: {r:?}"
    );
    let r = f
        .client
        .post(
            "/policies",
            &admin,
            policy("p2", &csr_serial, None, json!(["sha256"])),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "no key: {r:?}");
    assert!(r.message().contains("no Sigil-held key"), "{r:?}");
    let r = f
        .client
        .post(
            "/policies",
            &admin,
            policy("p3", &serial, Some("nope"), json!(["sha256"])),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "INVALID"),
        "unknown group: {r:?}"
    );
    let r = f
        .client
        .post("/policies", &admin, policy("p4", &serial, None, json!([])))
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "no hashes: {r:?}");
    let r = f
        .client
        .post(
            "/policies",
            &admin,
            policy("release", &serial, None, json!(["sha256"])),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"), "{r:?}");

    let r = f.client.get("/policies", &admin).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "{r:?}");
    let r = f.client.get("/policies/release", &admin).await;
    assert_eq!(r.body["certificate"], serial.as_str());
    let mut changed = policy(
        "release",
        &serial,
        Some("release-approvers"),
        json!(["sha256", "sha512"]),
    );
    changed["approvals_required"] = json!(2);
    let r = f.client.put("/policies/release", &admin, changed).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["approvals_required"], 2);
    assert_eq!(r.body["hashes"], json!(["sha256", "sha512"]));
    let r = f
        .client
        .put(
            "/policies/release",
            &admin,
            policy("other", &serial, None, json!(["sha256"])),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    let r = f
        .client
        .put(
            "/policies/ghost",
            &admin,
            policy("ghost", &serial, None, json!(["sha256"])),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"), "{r:?}");

    // A group named by a policy cannot be deleted.
    let r = f
        .client
        .call("DELETE", "/groups/release-approvers", Some(&admin), None)
        .await;
    assert_eq!((r.status, r.code()), (409, "CONFLICT"), "{r:?}");
    let r = f
        .client
        .put(
            "/groups/release-approvers",
            &admin,
            json!({"members": ["alice", "jenkins"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["members"], json!(["alice", "jenkins"]));

    // Revocation shows up on the certificate and in the CRL.
    let r = f
        .client
        .post(
            &format!("/certificates/{csr_serial}/revoke"),
            &admin,
            json!({"reason": "superseded"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["revocation"]["reason"], "superseded");
    let r = f.client.get("/cas/codesign/crl", &admin).await;
    assert_eq!(r.status, 200, "{r:?}");
    let crl = dir.path().join("crl.pem");
    std::fs::write(&crl, r.body["crl_pem"].as_str().unwrap()).unwrap();
    let text = common::run_ok(
        "openssl",
        &["crl", "-in", crl.to_str().unwrap(), "-noout", "-text"],
    );
    assert!(
        text.to_ascii_lowercase()
            .contains(&csr_serial.to_ascii_lowercase()),
        "{text}"
    );

    let r = f.client.get("/certificates?issuer=codesign", &admin).await;
    assert_eq!(r.body.as_array().unwrap().len(), 2, "{r:?}");
    f.server.shutdown().await;
}

#[tokio::test]
async fn commands_can_be_disabled_and_enabled() {
    let f = Fixture::new().await;
    let admin = f.admin_session().await;
    let r = f.client.get("/commands", &admin).await;
    assert_eq!(r.status, 200, "{r:?}");
    let echo = |body: &Value| {
        body.as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == "ECHO")
            .map(|c| c["enabled"].clone())
    };
    assert_eq!(echo(&r.body), Some(json!(true)), "{r:?}");
    let r = f
        .client
        .put("/commands/ECHO", &admin, json!({"enabled": false}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = f.client.get("/commands", &admin).await;
    assert_eq!(echo(&r.body), Some(json!(false)), "{r:?}");
    let r = f
        .client
        .put("/commands/ECHO", &admin, json!({"enabled": true}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = f.client.get("/commands", &admin).await;
    assert_eq!(echo(&r.body), Some(json!(true)), "{r:?}");

    let r = f
        .client
        .put("/commands/ZZZZ", &admin, json!({"enabled": true}))
        .await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"), "{r:?}");
    let r = f
        .client
        .put("/commands/echo", &admin, json!({"enabled": true}))
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    let r = f
        .client
        .put("/commands/ECHO", &admin, json!({"enabled": "yes"}))
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    f.server.shutdown().await;
}

#[tokio::test]
async fn key_export_is_refused_while_the_setting_is_off_and_opens_with_openssl_when_on() {
    let f = Fixture::new().await;
    let admin = f.admin_session().await;
    let r = f
        .client
        .post(
            "/cas",
            &admin,
            json!({"name": "issuing", "key_algorithm": "ec-p256",
                   "subject": "CN=Export Test CA", "validity_days": 365}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = f
        .client
        .post(
            "/certificates",
            &admin,
            json!({"issuer": "issuing", "profile": "tls-client", "subject": "CN=exported",
                   "validity_days": 30, "key_algorithm": "ec-p256"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let serial = r.body["serial"].as_str().unwrap().to_owned();
    let export = format!("/certificates/{serial}/export");
    let p12_password = "export-password-123";

    let r = f.client.get("/settings", &admin).await;
    assert_eq!(
        r.body["allow_export_with_password"], false,
        "off by default: {r:?}"
    );
    let r = f
        .client
        .post(&export, &admin, json!({"password": p12_password}))
        .await;
    assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{r:?}");
    assert!(r.message().contains("allow_export_with_password"), "{r:?}");

    let r = f
        .client
        .put(
            "/settings",
            &admin,
            json!({"allow_export_with_password": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = f
        .client
        .post(&export, &admin, json!({"password": p12_password}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(r.body["pkcs12_base64"].as_str().unwrap())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exported.p12");
    std::fs::write(&file, der).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "pkcs12",
            "-in",
            file.to_str().unwrap(),
            "-info",
            "-noout",
            "-passin",
            "env:SIGIL_TEST_P12",
        ])
        .env("SIGIL_TEST_P12", p12_password)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new("openssl")
        .args([
            "pkcs12",
            "-in",
            file.to_str().unwrap(),
            "-nodes",
            "-passin",
            "env:SIGIL_TEST_P12",
        ])
        .env("SIGIL_TEST_P12", p12_password)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("PRIVATE KEY") && text.contains("CN = exported"),
        "{text}"
    );
    let out = std::process::Command::new("openssl")
        .args([
            "pkcs12",
            "-in",
            file.to_str().unwrap(),
            "-info",
            "-noout",
            "-passin",
            "env:SIGIL_TEST_P12",
        ])
        .env("SIGIL_TEST_P12", "the-wrong-password")
        .output()
        .unwrap();
    assert!(!out.status.success(), "a wrong password must not open it");

    // Both attempts are in the audit log: the refused one as a failure with its reason.
    let r = f.client.get("/audit?limit=1000", &admin).await;
    assert_eq!(r.status, 200, "{r:?}");
    let exports: Vec<(String, String)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "certificate.export-key" && e["object"] == serial.as_str())
        .map(|e| {
            (
                e["outcome"].as_str().unwrap().to_owned(),
                e["details"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(exports.len(), 2, "{exports:?}");
    assert_eq!(exports[0].0, "failure");
    assert!(
        exports[0].1.contains("allow_export_with_password"),
        "{exports:?}"
    );
    assert_eq!(exports[1].0, "success");
    f.server.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let f = Fixture::new().await;
    let admin = f.admin_session().await;
    let r = f
        .client
        .raw("POST", "/api/v1/roles", Some(&admin), b"{not json")
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    let r = f
        .client
        .post("/roles", &admin, json!({"name": "r", "unknown_field": 1}))
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    let r = f.client.get("/identities/bad%20name", &admin).await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    let r = f.client.get("/identities/ghost", &admin).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"), "{r:?}");
    let r = f.client.get("/audit?from=x", &admin).await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    let big = vec![b' '; 2 * 1024 * 1024];
    let r = f
        .client
        .raw("POST", "/api/v1/roles", Some(&admin), &big)
        .await;
    assert_eq!(r.status, 413, "{r:?}");
    let r = f.client.login(None, "admin1", "").await;
    assert_eq!(r.status, 401, "{r:?}");
    f.server.shutdown().await;
}

#[tokio::test]
async fn listener_csr_signed_and_loaded_over_the_api_takes_effect_without_a_restart() {
    let f = Fixture::new().await;
    let admin = f.admin_session().await;
    let r = f
        .client
        .post(
            "/listeners/https/csr",
            &admin,
            json!({"subject": "CN=api-rotated.example",
                   "sans": ["DNS:localhost", "DNS:api-rotated.example"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let key_id = r.body["key_id"].as_str().unwrap().to_owned();
    let csr = r.body["csr_pem"].as_str().unwrap().to_owned();
    assert!(csr.contains("BEGIN CERTIFICATE REQUEST"), "{r:?}");

    let r = f
        .client
        .post(
            "/certificates",
            &admin,
            json!({"issuer": "system-tls-root", "profile": "tls-server", "validity_days": 90,
                   "csr_pem": csr}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let chain = r.body["chain_pem"].as_str().unwrap().to_owned();

    let r = f
        .client
        .put(
            "/listeners/nowhere/chain",
            &admin,
            json!({"key_id": key_id, "chain_pem": chain}),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"), "{r:?}");
    let r = f
        .client
        .put(
            "/listeners/https/chain",
            &admin,
            json!({"key_id": "not-a-uuid", "chain_pem": chain}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    let r = f
        .client
        .put(
            "/listeners/https/chain",
            &admin,
            json!({"key_id": key_id, "chain_pem": chain}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["loaded"], true);

    // The next connection gets the new certificate; the session (in memory) carries on.
    // openssl blocks: run it off the runtime that serves the connection.
    let (addr, root) = (f.server.https_addr(), f.root_ca.clone());
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || common::s_client(addr, &root, None, &[], b""))
            .await
            .unwrap();
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("api-rotated.example"),
        "the new chain is not served:\n{out}"
    );
    let r = f.client.get("/settings", &admin).await;
    assert_eq!(r.status, 200, "{r:?}");
    f.server.shutdown().await;
}

/// Uploads a hash-signing request as `identity` (over the service layer, as the Host API does).
async fn upload(f: &Fixture, identity: &str, password: &str, policy: &str, file: &str) -> String {
    use sigil_domain::{HashAlgorithm, Interface, RequestMetadata, Session, SigningFormat, Upload};
    use sigil_server::service::auth::{LoginContext, login};
    let state = f.server.state();
    let mut session = Session::new(Interface::HostApi);
    login(
        state,
        &mut session,
        identity,
        password.as_bytes(),
        LoginContext::default(),
    )
    .await
    .unwrap();
    let upload = Upload {
        format: SigningFormat::Hash,
        hash: HashAlgorithm::Sha256,
        digest: vec![0xab; 32],
        metadata: RequestMetadata {
            file_name: Some(file.to_owned()),
            file_size: Some(123_456),
            build_url: Some("https://ci.example/job/7".to_owned()),
            commit: Some("0123abcd".to_owned()),
            ..RequestMetadata::default()
        },
    };
    let request =
        sigil_server::service::requests::upload(state, &Caller::new(&session), policy, upload)
            .await
            .unwrap();
    request.id().to_string()
}

#[tokio::test]
async fn approvers_see_what_they_judge_and_approve_or_deny() {
    let f = Fixture::new().await;
    let admin = f.admin_session().await;
    let cert = f.code_signing_certificate(&admin).await;
    let serial = cert["serial"].as_str().unwrap().to_owned();
    let r = f
        .client
        .post(
            "/identities",
            &admin,
            json!({"name": "jenkins", "kind": "application", "roles": ["application"],
                   "password": "jenkins-password-1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let alice = f.person(&admin, "alice", &["approver"]).await;
    let bob = f.person(&admin, "bob", &["approver"]).await;
    let mallory = f.person(&admin, "mallory", &["approver"]).await;
    let r = f
        .client
        .post(
            "/groups",
            &admin,
            json!({"name": "release-approvers", "members": ["alice", "bob"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = f
        .client
        .post(
            "/policies",
            &admin,
            json!({"alias": "two-approvals", "certificate": serial, "approvals_required": 2,
                   "approval_group": "release-approvers", "hashes": ["sha256"], "formats": ["hash"],
                   "request_lifetime_secs": 3600, "roles": ["application"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");

    let first = upload(
        &f,
        "jenkins",
        "jenkins-password-1",
        "two-approvals",
        "app.exe",
    )
    .await;
    let second = upload(
        &f,
        "jenkins",
        "jenkins-password-1",
        "two-approvals",
        "lib.dll",
    )
    .await;

    let login = |name: &'static str, password: String| {
        let client = f.client.clone();
        async move {
            let r = client.login(None, name, &password).await;
            assert_eq!(r.status, 200, "{r:?}");
            r.body["session"].as_str().unwrap().to_owned()
        }
    };
    let alice = login("alice", alice).await;
    let bob = login("bob", bob).await;
    let mallory = login("mallory", mallory).await;
    let jenkins = login("jenkins", "jenkins-password-1".to_owned()).await;

    // The approver sees everything needed to judge.
    let r = f.client.get("/requests?state=pending", &alice).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body.as_array().unwrap().len(), 2, "{r:?}");
    let r = f.client.get(&format!("/requests/{first}"), &alice).await;
    assert_eq!(r.status, 200, "{r:?}");
    let v = &r.body;
    assert_eq!(v["state"], "pending");
    assert_eq!(v["requester"], "jenkins");
    assert_eq!(v["policy"], "two-approvals");
    assert_eq!(v["format"], "hash");
    assert_eq!(v["hash"], "sha256");
    assert_eq!(v["digest"], "ab".repeat(32));
    assert_eq!(v["metadata"]["file_name"], "app.exe");
    assert_eq!(v["metadata"]["file_size"], 123_456);
    assert_eq!(v["metadata"]["build_url"], "https://ci.example/job/7");
    assert_eq!(v["metadata"]["commit"], "0123abcd");
    assert!(v["age_secs"].as_i64().unwrap() >= 0);
    assert!(v["created"].is_string() && v["expires"].is_string());
    assert_eq!(v["approvals_required"], 2);
    assert_eq!(v["approval_group"], "release-approvers");

    // Quorum: two distinct approvers; the same one twice counts once.
    let approve = format!("/requests/{first}/approve");
    let r = f
        .client
        .post(&approve, &alice, json!({"comment": "looks right"}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["state"], "pending");
    assert_eq!(r.body["approvals"][0]["approver"], "alice");
    assert_eq!(r.body["approvals"][0]["comment"], "looks right");
    let r = f
        .client
        .post(&approve, &alice, json!({"comment": "again"}))
        .await;
    assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{r:?}");
    let r = f
        .client
        .post(&approve, &mallory, json!({"comment": "not a member"}))
        .await;
    // An approver outside the request's group does not even see it (no signing:read-all).
    assert_eq!((r.status, r.code()), (404, "REQUEST_NOT_FOUND"), "{r:?}");
    let r = f
        .client
        .post(&approve, &jenkins, json!({"comment": "my own"}))
        .await;
    assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{r:?}");
    let r = f.client.post(&approve, &bob, json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["state"], "signed", "{r:?}");
    assert_eq!(r.body["approvals"].as_array().unwrap().len(), 2);
    let r = f.client.post(&approve, &bob, json!({})).await;
    assert_eq!((r.status, r.code()), (409, "REQUEST_NOT_PENDING"), "{r:?}");

    // A denial needs a reason and reaches the requester.
    let deny = format!("/requests/{second}/deny");
    let r = f.client.post(&deny, &bob, json!({})).await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    let r = f
        .client
        .post(&deny, &bob, json!({"comment": "unexpected build"}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["state"], "denied");
    assert_eq!(r.body["reason"], "unexpected build");
    assert_eq!(r.body["denied_by"], "bob");
    let r = f.client.get(&format!("/requests/{second}"), &jenkins).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["reason"], "unexpected build");

    // The requester sees only its own requests; unknown and malformed ids are refused.
    let r = f.client.get("/requests", &jenkins).await;
    assert_eq!(r.body.as_array().unwrap().len(), 2, "{r:?}");
    let r = f.client.get("/requests?requester=alice", &jenkins).await;
    assert_eq!(r.body.as_array().unwrap().len(), 0, "{r:?}");
    let r = f.client.get("/requests?state=bogus", &jenkins).await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    let r = f
        .client
        .get("/requests/00000000-0000-4000-8000-000000000000", &alice)
        .await;
    assert_eq!((r.status, r.code()), (404, "REQUEST_NOT_FOUND"), "{r:?}");
    let r = f.client.get("/requests/not-a-uuid", &alice).await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");

    // Every transition is audited; the chain verifies.
    let r = f.client.get("/audit?limit=1000", &admin).await;
    let text = r.body.to_string();
    assert!(text.contains("\"request.approve\"") && text.contains("\"request.deny\""));
    let r = f.client.get("/audit/verify", &admin).await;
    assert_eq!(r.body["ok"], true, "{r:?}");
    f.server.shutdown().await;
}

/// A logged-in Host API session of `identity` (for uploads over the service layer).
async fn host_session(f: &Fixture, identity: &str, password: &str) -> sigil_domain::Session {
    use sigil_domain::{Interface, Session};
    use sigil_server::service::auth::{LoginContext, login};
    let mut session = Session::new(Interface::HostApi);
    login(
        f.server.state(),
        &mut session,
        identity,
        password.as_bytes(),
        LoginContext::default(),
    )
    .await
    .unwrap();
    session
}

/// A hash upload of `file` as one file of `release`.
async fn upload_in_release(
    f: &Fixture,
    session: &sigil_domain::Session,
    policy: &str,
    release: sigil_domain::ReleaseId,
    file: &str,
) -> Result<String, sigil_server::service::ServiceError> {
    use sigil_domain::{HashAlgorithm, RequestMetadata, SigningFormat, Upload};
    let upload = Upload {
        format: SigningFormat::Hash,
        hash: HashAlgorithm::Sha256,
        digest: vec![0xcd; 32],
        metadata: RequestMetadata {
            file_name: Some(file.to_owned()),
            file_size: Some(42),
            ..RequestMetadata::default()
        },
    };
    sigil_server::service::requests::upload_in(
        f.server.state(),
        &Caller::new(session),
        policy,
        upload,
        Some(release),
        None,
    )
    .await
    .map(|r| r.id().to_string())
}

#[tokio::test]
async fn a_release_is_approved_once_for_all_its_files_and_only_when_complete() {
    use sigil_domain::ReleaseMetadata;
    use sigil_server::service::releases;
    let f = Fixture::new().await;
    let admin = f.admin_session().await;
    let cert = f.code_signing_certificate(&admin).await;
    let serial = cert["serial"].as_str().unwrap().to_owned();
    let r = f
        .client
        .post(
            "/identities",
            &admin,
            json!({"name": "jenkins", "kind": "application", "roles": ["application", "approver"],
                   "password": "jenkins-password-1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let alice = f.person(&admin, "alice", &["approver"]).await;
    let bob = f.person(&admin, "bob", &["approver"]).await;
    let r = f
        .client
        .post(
            "/groups",
            &admin,
            json!({"name": "release-approvers", "members": ["alice", "bob", "jenkins"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    for alias in ["two-approvals", "other"] {
        let r = f
            .client
            .post(
                "/policies",
                &admin,
                json!({"alias": alias, "certificate": serial, "approvals_required": 2,
                       "approval_group": "release-approvers", "hashes": ["sha256"],
                       "formats": ["hash"], "request_lifetime_secs": 3600,
                       "roles": ["application"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
    }
    let state = f.server.state();
    let ci = host_session(&f, "jenkins", "jenkins-password-1").await;
    let metadata = ReleaseMetadata {
        description: Some("release 1.2".to_owned()),
        build_url: Some("https://ci.example/job/8".to_owned()),
        commit: Some("feedbeef".to_owned()),
    };
    let err = releases::open(
        state,
        &Caller::new(&ci),
        "two-approvals",
        0,
        metadata.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "BAD_VALUE", "{err}");
    let err = releases::open(
        state,
        &Caller::new(&ci),
        "two-approvals",
        1001,
        metadata.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "BAD_VALUE", "{err}");
    let release = releases::open(state, &Caller::new(&ci), "two-approvals", 3, metadata)
        .await
        .unwrap()
        .id();
    let first = upload_in_release(&f, &ci, "two-approvals", release, "a.bin")
        .await
        .unwrap();
    let err = upload_in_release(&f, &ci, "other", release, "x.bin")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "RELEASE_CLOSED", "{err}");

    let login = |name: &'static str, password: String| {
        let client = f.client.clone();
        async move {
            let r = client.login(None, name, &password).await;
            assert_eq!(r.status, 200, "{r:?}");
            r.body["session"].as_str().unwrap().to_owned()
        }
    };
    let alice = login("alice", alice).await;
    let bob = login("bob", bob).await;
    let jenkins = login("jenkins", "jenkins-password-1".to_owned()).await;
    let approve = format!("/releases/{release}/approve");

    // Not complete: nobody can approve a set that can still grow.
    let r = f.client.post(&approve, &alice, json!({})).await;
    assert_eq!((r.status, r.code()), (409, "REQUEST_NOT_PENDING"), "{r:?}");
    assert!(r.body.to_string().contains("1 of its 3 files"), "{r:?}");
    upload_in_release(&f, &ci, "two-approvals", release, "b.bin")
        .await
        .unwrap();
    upload_in_release(&f, &ci, "two-approvals", release, "c.bin")
        .await
        .unwrap();
    let err = upload_in_release(&f, &ci, "two-approvals", release, "d.bin")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "RELEASE_CLOSED", "{err}");

    // The approver sees the release as one item with its files.
    let r = f.client.get("/releases?state=pending", &alice).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body.as_array().unwrap().len(), 1, "{r:?}");
    let v = &r.body[0];
    assert_eq!(v["id"], release.to_string());
    assert_eq!(v["state"], "pending");
    assert_eq!(v["requester"], "jenkins");
    assert_eq!(v["policy"], "two-approvals");
    assert_eq!(v["description"], "release 1.2");
    assert_eq!(v["build_url"], "https://ci.example/job/8");
    assert_eq!(v["commit"], "feedbeef");
    assert_eq!(v["approvals_required"], 2);
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 3, "{v}");
    assert_eq!(files[0]["file_name"], "a.bin");
    assert_eq!(files[0]["file_size"], 42);
    assert_eq!(files[0]["format"], "hash");
    assert_eq!(files[0]["digest"], "cd".repeat(32));
    assert_eq!(files[0]["state"], "pending");
    let r = f.client.get(&format!("/requests/{first}"), &alice).await;
    assert_eq!(r.body["release_id"], release.to_string(), "{r:?}");

    // One file cannot be decided on its own; the requester cannot approve its release; one
    // approver counts once.
    let r = f
        .client
        .post(&format!("/requests/{first}/approve"), &alice, json!({}))
        .await;
    assert_eq!((r.status, r.code()), (409, "REQUEST_IN_RELEASE"), "{r:?}");
    let r = f.client.post(&approve, &jenkins, json!({})).await;
    assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{r:?}");
    let r = f
        .client
        .post(&approve, &alice, json!({"comment": "ok"}))
        .await;
    assert_eq!(
        (r.status, r.body["state"].clone()),
        (200, json!("pending")),
        "{r:?}"
    );
    let r = f.client.post(&approve, &alice, json!({})).await;
    assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{r:?}");
    let r = f.client.post(&approve, &bob, json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["state"], "signed", "{r:?}");
    assert_eq!(r.body["approvals"].as_array().unwrap().len(), 2);
    for file in r.body["files"].as_array().unwrap() {
        assert_eq!(file["state"], "signed", "{file}");
    }
    let r = f.client.get(&format!("/requests/{first}"), &jenkins).await;
    assert_eq!(r.body["state"], "signed", "{r:?}");
    assert_eq!(r.body["approvals"].as_array().unwrap().len(), 2, "{r:?}");

    // A denied release denies every file, even one still open for files.
    let second = releases::open(
        state,
        &Caller::new(&ci),
        "two-approvals",
        2,
        ReleaseMetadata::default(),
    )
    .await
    .unwrap()
    .id();
    upload_in_release(&f, &ci, "two-approvals", second, "e.bin")
        .await
        .unwrap();
    let deny = format!("/releases/{second}/deny");
    let r = f.client.post(&deny, &bob, json!({})).await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    let r = f
        .client
        .post(&deny, &bob, json!({"comment": "wrong branch"}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["state"], "denied");
    assert_eq!(r.body["denied_by"], "bob");
    assert_eq!(r.body["reason"], "wrong branch");
    assert_eq!(r.body["files"][0]["state"], "denied");
    let err = upload_in_release(&f, &ci, "two-approvals", second, "f.bin")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "RELEASE_CLOSED", "{err}");

    // Visibility and filters as for requests.
    let r = f.client.get("/releases", &jenkins).await;
    assert_eq!(r.body.as_array().unwrap().len(), 2, "{r:?}");
    let r = f.client.get("/releases?state=signed", &alice).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "{r:?}");
    let r = f.client.get("/releases?requester=alice", &alice).await;
    assert_eq!(r.body.as_array().unwrap().len(), 0, "{r:?}");
    let r = f
        .client
        .get("/releases/00000000-0000-4000-8000-000000000000", &alice)
        .await;
    assert_eq!((r.status, r.code()), (404, "REQUEST_NOT_FOUND"), "{r:?}");
    let r = f.client.get("/releases/nope", &alice).await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");

    let r = f.client.get("/audit?limit=1000", &admin).await;
    let text = r.body.to_string();
    for action in [
        "release.create",
        "release.complete",
        "release.approve",
        "release.sign",
        "release.deny",
    ] {
        assert!(
            text.contains(&format!("\"{action}\"")),
            "{action} not audited"
        );
    }
    let r = f.client.get("/audit/verify", &admin).await;
    assert_eq!(r.body["ok"], true, "{r:?}");
    f.server.shutdown().await;
}

#[tokio::test]
async fn audit_verify_names_an_edited_and_a_deleted_event() {
    let f = Fixture::new().await;
    let admin = f.admin_session().await;
    let r = f.client.post("/roles", &admin, auditor_role()).await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = f.client.get("/audit/verify", &admin).await;
    assert_eq!(r.body["ok"], true, "{r:?}");
    assert!(r.body.get("break").is_none(), "{r:?}");
    let events = r.body["events"].as_u64().unwrap();
    assert!(events >= 4, "{r:?}");

    let db = f.data.join("sigil.db");
    let sql = |statement: &str| {
        common::run_ok("sqlite3", &[db.to_str().unwrap(), statement]);
    };
    sql("UPDATE audit_events SET action = 'role.delete' WHERE action = 'role.create'");
    let r = f.client.get("/audit/verify", &admin).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["ok"], false, "{r:?}");
    assert_eq!(r.body["break"]["kind"], "altered", "{r:?}");
    let seq = r.body["break"]["seq"].as_u64().unwrap();
    assert!(
        r.body["break"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("audit event {seq} ")),
        "{r:?}"
    );
    sql("UPDATE audit_events SET action = 'role.create' WHERE action = 'role.delete'");
    let r = f.client.get("/audit/verify", &admin).await;
    assert_eq!(r.body["ok"], true, "restored: {r:?}");

    sql("DELETE FROM audit_events WHERE seq = 2");
    let r = f.client.get("/audit/verify", &admin).await;
    assert_eq!(r.body["ok"], false, "{r:?}");
    assert_eq!(r.body["break"]["kind"], "missing", "{r:?}");
    assert_eq!(r.body["break"]["seq"], 2, "{r:?}");
    f.server.shutdown().await;
}

#[tokio::test]
async fn an_api_key_logs_its_own_identity_in() {
    let f = Fixture::new().await;
    let admin = f.admin_session().await;
    let carol_password = f.person(&admin, "carol", &["approver"]).await;
    f.person(&admin, "dave", &["approver"]).await;
    let key = f
        .client
        .post(
            "/identities/carol/api-keys",
            &admin,
            json!({"label": "release laptop"}),
        )
        .await;
    assert_eq!(key.status, 201, "{key:?}");
    let token = key.body["token"].as_str().unwrap().to_owned();

    // The key logs carol in, as her password does.
    let r = f.client.login(None, "carol", &token).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["logins_still_required"], 0, "{r:?}");
    let r = f.client.login(None, "carol", &carol_password).await;
    assert_eq!(r.status, 200, "{r:?}");

    // Not for another identity, and not with one character of the secret changed.
    let r = f.client.login(None, "dave", &token).await;
    assert_eq!((r.status, r.code()), (401, "AUTH_FAILED"), "{r:?}");
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let r = f.client.login(None, "carol", &forged).await;
    assert_eq!((r.status, r.code()), (401, "AUTH_FAILED"), "{r:?}");

    // The audit log says how each login was made.
    let r = f.client.get("/audit?limit=1000", &admin).await;
    assert_eq!(r.status, 200, "{r:?}");
    let text = r.body.to_string();
    assert!(
        text.contains("api-key") && text.contains("password"),
        "{text}"
    );
}

#[tokio::test]
async fn a_ci_identity_submits_over_https_and_gets_a_signature_openssl_verifies() {
    use sha2::Digest;
    let f = Fixture::new().await;
    let admin = f.admin_session().await;
    let cert = f.code_signing_certificate(&admin).await;
    let serial = cert["serial"].as_str().unwrap().to_owned();
    let r = f
        .client
        .post(
            "/roles",
            &admin,
            json!({"name": "builder", "type": "application", "logins_required": 1,
                   "permissions": ["signing:request"], "interfaces": ["host-api", "https"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = f
        .client
        .post(
            "/identities",
            &admin,
            json!({"name": "ci", "kind": "application", "roles": ["builder"],
                   "password": "ci-password-12345"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = f
        .client
        .post(
            "/policies",
            &admin,
            json!({"alias": "release", "certificate": serial, "approvals_required": 0,
                   "hashes": ["sha256"], "formats": ["hash"],
                   "request_lifetime_secs": 3600, "roles": ["builder"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");

    let login = f.client.login(None, "ci", "ci-password-12345").await;
    assert_eq!(login.status, 200, "{login:?}");
    let ci = login.body["session"].as_str().unwrap().to_owned();
    let content = b"release artifact over HTTPS\n";
    let digest = hex::encode(sha2::Sha256::digest(content));
    let submit = |format: &str, hash: &str, digest: &str| {
        json!({"policy": "release", "format": format, "hash": hash, "digest": digest,
               "metadata": {"file_name": "app.bin", "build_url": "https://ci.example/7"}})
    };
    let r = f
        .client
        .post("/requests", &ci, submit("hash", "sha256", &digest))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["state"], "signed", "{r:?}");
    assert_eq!(r.body["metadata"]["file_name"], "app.bin", "{r:?}");
    let signature = hex::decode(r.body["result"].as_str().unwrap()).unwrap();

    // openssl checks the signature with the certificate's public key.
    let dir = tempfile::tempdir().unwrap();
    let (file, sig, pem) = (
        dir.path().join("app.bin"),
        dir.path().join("app.sig"),
        dir.path().join("cert.pem"),
    );
    std::fs::write(&file, content).unwrap();
    std::fs::write(&sig, &signature).unwrap();
    std::fs::write(&pem, cert["pem"].as_str().unwrap()).unwrap();
    let pubkey = common::run_ok(
        "openssl",
        &["x509", "-in", pem.to_str().unwrap(), "-pubkey", "-noout"],
    );
    let pub_path = dir.path().join("pub.pem");
    std::fs::write(&pub_path, pubkey).unwrap();
    let out = common::run_ok(
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            pub_path.to_str().unwrap(),
            "-signature",
            sig.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    );
    assert!(out.contains("Verified OK"), "{out}");

    // The same refusals as on the Host API, with their codes.
    let r = f
        .client
        .post("/requests", &ci, submit("jar", "sha256", &digest))
        .await;
    assert_eq!((r.status, r.code()), (400, "FORMAT_NOT_ALLOWED"), "{r:?}");
    let r = f
        .client
        .post("/requests", &ci, submit("hash", "sha256", &digest[..62]))
        .await;
    assert_eq!((r.status, r.code()), (400, "DIGEST_LENGTH"), "{r:?}");
    let r = f
        .client
        .post("/requests", &ci, submit("hash", "sha256", "zz"))
        .await;
    assert_eq!((r.status, r.code()), (400, "INVALID"), "{r:?}");
    let r = f
        .client
        .post("/requests", &admin, submit("hash", "sha256", &digest))
        .await;
    assert_eq!((r.status, r.code()), (403, "NOT_PERMITTED"), "{r:?}");
    let r = f
        .client
        .put("/commands/RAUO", &admin, json!({"enabled": false}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = f
        .client
        .post("/requests", &ci, submit("hash", "sha256", &digest))
        .await;
    assert_eq!((r.status, r.code()), (403, "COMMAND_DISABLED"), "{r:?}");
    let r = f
        .client
        .put("/commands/RAUO", &admin, json!({"enabled": true}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");

    // A revoked certificate signs nothing more, at once: the request is stored as failed.
    let r = f
        .client
        .post(
            &format!("/certificates/{serial}/revoke"),
            &admin,
            json!({"reason": "key-compromise"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = f
        .client
        .post("/requests", &ci, submit("hash", "sha256", &digest))
        .await;
    assert_eq!((r.status, r.code()), (500, "SIGNING_FAILED"), "{r:?}");
    assert!(r.message().contains("revoked"), "{r:?}");
    let r = f.client.get("/requests?state=failed", &ci).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body.as_array().unwrap().len(), 1, "{r:?}");
    assert!(
        r.body[0]["reason"].as_str().unwrap().contains("revoked"),
        "{r:?}"
    );
    f.server.shutdown().await;
}

#[tokio::test]
async fn the_console_is_served_at_the_root_with_a_strict_content_security_policy() {
    let f = Fixture::new().await;
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    let page = text(f.client.raw_bytes("GET", "/", None, b"").await);
    let (head, body) = page.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{head}"
    );
    assert!(head.contains("x-frame-options: deny") && head.contains("cache-control: no-store"));
    assert!(
        body.contains(r#"<script src="/console/console.js" defer></script>"#),
        "{body}"
    );
    assert!(
        !body.contains("<script>"),
        "no inline script: the CSP forbids it"
    );
    assert!(body.contains(r#"<link rel="icon" href="/favicon.svg""#));

    let script = text(
        f.client
            .raw_bytes("GET", "/console/console.js", None, b"")
            .await,
    );
    let (head, body) = script.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/javascript"),
        "{head}"
    );
    // The script only writes server values as text, and only calls the API.
    assert!(
        !body.contains("innerHTML") && !body.contains("eval("),
        "{body}"
    );
    assert!(body.contains(r#"const api = "/api/v1";"#));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("console.js");
    std::fs::write(&file, body).unwrap();
    let check = std::process::Command::new("node")
        .arg("--check")
        .arg(&file)
        .output()
        .expect("node is needed to check the console script (scripts/test.sh installs nodejs)");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let css = text(
        f.client
            .raw_bytes("GET", "/console/console.css", None, b"")
            .await,
    );
    assert!(
        css.to_ascii_lowercase().contains("content-type: text/css"),
        "{css}"
    );
    // The page's icon comes from the binary (no 404 in the browser's log).
    for path in ["/favicon.svg", "/favicon.ico"] {
        let icon = text(f.client.raw_bytes("GET", path, None, b"").await);
        let (head, svg) = icon.split_once("\r\n\r\n").unwrap();
        let head = head.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{path}: {head}");
        assert!(head.contains("content-type: image/svg+xml"), "{head}");
        assert!(svg.starts_with("<svg "), "{svg}");
    }
    f.server.shutdown().await;
}

/// An internal failure answers a generic message with a correlation id, never its detail:
/// here the `signing_requests` table is dropped behind the running server with `sqlite3`.
#[tokio::test]
async fn an_internal_error_hides_its_detail_behind_an_id() {
    let f = Fixture::new().await;
    let admin = f.admin_session().await;
    let r = f.client.get("/requests", &admin).await;
    assert_eq!(r.status, 200, "{r:?}");
    let db = f.data.join("sigil.db");
    common::run_ok(
        "sqlite3",
        &[db.to_str().unwrap(), "DROP TABLE signing_requests"],
    );
    let r = f.client.get("/requests", &admin).await;
    assert_eq!((r.status, r.code()), (500, "INTERNAL"), "{r:?}");
    let message = r.message();
    let id = message
        .strip_prefix("internal server error (id ")
        .and_then(|rest| rest.strip_suffix("): the details are in the server's log"))
        .unwrap_or_else(|| panic!("not the generic message: {message}"));
    assert!(
        id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{message}"
    );
    for detail in ["signing_requests", "no such table", "store", "sqlite"] {
        assert!(!message.to_lowercase().contains(detail), "{message}");
    }
    f.server.shutdown().await;
}

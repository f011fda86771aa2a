//! One conformance suite for every `Store` backend: SQLite always (in a temp dir), PostgreSQL
//! when `SIGIL_TEST_PG_URL` names a server where the test user may create databases (each test
//! gets a fresh database).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use sigil_domain::*;
use sigil_store::{PgStore, SqliteOptions, SqliteStore};
use sqlx::Connection;
use time::OffsetDateTime;

// ---------------------------------------------------------------------------------------------
// Harness

enum Target {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres {
        options: Box<sqlx::postgres::PgConnectOptions>,
    },
}

struct Harness {
    target: Target,
    store: Arc<dyn Store>,
}

impl Harness {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sigil.db");
        let store = SqliteStore::open(&path, SqliteOptions::default())
            .await
            .unwrap();
        Self {
            target: Target::Sqlite { _dir: dir, path },
            store: Arc::new(store),
        }
    }

    async fn postgres() -> Option<Self> {
        let url = std::env::var("SIGIL_TEST_PG_URL").ok()?;
        let admin = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap();
        let mut conn = sqlx::PgConnection::connect_with(&admin).await.unwrap();
        let name = format!("sigil_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let options = admin.database(&name);
        let store = PgStore::connect_with(options.clone()).await.unwrap();
        Some(Self {
            target: Target::Postgres {
                options: Box::new(options),
            },
            store: Arc::new(store),
        })
    }

    /// Closes the store and opens it again on the same database.
    async fn reopen(&mut self) {
        // Only this handle holds the store here; closing it ends the SQLite writer.
        let old = std::mem::replace(&mut self.store, Arc::new(NullStore));
        drop(old);
        self.store = match &self.target {
            Target::Sqlite { path, .. } => Arc::new(
                SqliteStore::open(path, SqliteOptions::default())
                    .await
                    .unwrap(),
            ),
            Target::Postgres { options } => {
                Arc::new(PgStore::connect_with((**options).clone()).await.unwrap())
            }
        };
    }

    /// Another store on the same database, as a second Sigil node (PostgreSQL) or a second
    /// process (SQLite) would open it.
    async fn second(&self) -> Arc<dyn Store> {
        match &self.target {
            Target::Sqlite { path, .. } => Arc::new(
                SqliteStore::open(path, SqliteOptions::default())
                    .await
                    .unwrap(),
            ),
            Target::Postgres { options } => {
                Arc::new(PgStore::connect_with((**options).clone()).await.unwrap())
            }
        }
    }

    /// Runs raw SQL on the database behind the store's back (to tamper with rows).
    async fn raw(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match &self.target {
            Target::Sqlite { path, .. } => {
                let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
            Target::Postgres { options } => {
                let mut conn = sqlx::PgConnection::connect_with(options).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }
}

/// A placeholder while a store is being reopened; never called.
struct NullStore;

macro_rules! null_methods {
    ($($name:ident ( $($arg:ident : $ty:ty),* ) -> $out:ty;)*) => {
        $(fn $name<'a>(&'a self, $($arg: $ty),*) -> BoxFuture<'a, StoreResult<$out>> {
            $(let _ = $arg;)*
            Box::pin(async { Err(StoreError::Config { what: "store is being reopened".into() }) })
        })*
    };
}

impl Store for NullStore {
    null_methods! {
        commit(changes: Vec<Change>, audit: AuditDraft) -> AuditEvent;
        commit_events(changes: Vec<Change>, audits: Vec<AuditDraft>) -> Vec<AuditEvent>;
        get_identity(name: &'a IdentityName) -> Option<Identity>;
        list_identities() -> Vec<Identity>;
        get_api_key(id: &'a ApiKeyId) -> Option<ApiKeyRecord>;
        list_api_keys(identity: &'a IdentityName) -> Vec<ApiKeyRecord>;
        get_role(name: &'a RoleName) -> Option<Role>;
        list_roles() -> Vec<Role>;
        get_group(name: &'a GroupName) -> Option<ApprovalGroup>;
        list_groups() -> Vec<ApprovalGroup>;
        get_policy(alias: &'a PolicyAlias) -> Option<IssuancePolicy>;
        list_policies() -> Vec<IssuancePolicy>;
        get_request(id: RequestId) -> Option<SigningRequest>;
        list_requests(filter: &'a RequestFilter) -> Vec<SigningRequest>;
        get_release(id: sigil_domain::ReleaseId) -> Option<sigil_domain::Release>;
        list_releases(filter: &'a RequestFilter) -> Vec<sigil_domain::Release>;
        list_release_requests(id: sigil_domain::ReleaseId) -> Vec<SigningRequest>;
        settings() -> Settings;
        enabled_commands() -> EnabledCommands;
        get_sealed_key(id: KeyId) -> Option<SealedKey>;
        list_sealed_keys() -> Vec<SealedKey>;
        get_ca(name: &'a CaName) -> Option<CaRecord>;
        list_cas() -> Vec<CaRecord>;
        get_certificate(serial: &'a SerialNumber) -> Option<CertificateRecord>;
        list_certificates(issuer: Option<&'a CaName>) -> Vec<CertificateRecord>;
        get_listener_chain(interface: Interface) -> Option<ListenerChain>;
        get_node_listener_chain(node: &'a str, interface: Interface) -> Option<ListenerChain>;
        custody_record() -> Option<String>;
        read_audit(from_seq: u64, limit: u32) -> Vec<AuditEvent>;
        audit_head() -> ChainHead;
        deployment_id() -> Option<String>;
        create_session(key: &'a [u8; 32], record: &'a SessionRecord, now_ns: i64, idle_since: i64, max: u32) -> bool;
        get_session(key: &'a [u8; 32]) -> Option<(SessionRecord, i64)>;
        update_session(key: &'a [u8; 32], record: Option<&'a SessionRecord>, now_ns: i64) -> bool;
        delete_session(key: &'a [u8; 32]) -> bool;
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Harness::sqlite().await).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    match super::Harness::postgres().await {
                        Some(h) => super::$name(h).await,
                        None => eprintln!("SIGIL_TEST_PG_URL is not set: PostgreSQL not tested"),
                    }
                }
            )*
        }
    };
}

conformance!(
    sessions_shared_between_nodes,
    deployment_id_is_written_once,
    identities_and_api_keys,
    login_failures_count_and_lock,
    roles_and_groups,
    pki_records,
    external_certificates,
    policies,
    settings_and_commands,
    request_lifecycle_survives_reopen,
    request_filters,
    failing_change_writes_no_event,
    chain_detects_edited_row,
    chain_detects_deleted_rows,
    chain_detects_reordered_pair,
    concurrent_writers_all_acknowledged,
    failures_in_a_batch_fail_only_their_caller,
    two_nodes_share_one_chain,
    create_and_sign_in_one_commit,
    releases_and_their_requests,
);

// ---------------------------------------------------------------------------------------------
// Fixtures

fn now() -> OffsetDateTime {
    // Whole microseconds plus nanos, to check that time survives storage exactly.
    OffsetDateTime::from_unix_timestamp_nanos(1_764_000_000_123_456_789).unwrap()
}

fn audit(action: &str) -> AuditDraft {
    AuditDraft::new(now(), action, Outcome::Success)
        .identity("admin1")
        .source("127.0.0.1:50000")
        .interface(Interface::Https)
}

fn name(n: &str) -> IdentityName {
    IdentityName::new(n).unwrap()
}

fn role(n: &str, logins: u32, permissions: &[Permission]) -> Role {
    Role::new(RoleDraft {
        name: RoleName::new(n).unwrap(),
        role_type: RoleType::Approver,
        class: RoleClass::Principal,
        logins_required: logins,
        permissions: permissions.iter().copied().collect(),
        interfaces: Interface::ALL.iter().copied().collect(),
    })
    .unwrap()
}

fn identity(n: &str, roles: &[&Role]) -> Identity {
    let mut id = Identity::new(name(n), IdentityKind::Person);
    id.roles = roles.iter().map(|r| r.name().clone()).collect();
    id
}

async fn ok(store: &dyn Store, changes: Vec<Change>, action: &str) -> AuditEvent {
    store.commit(changes, audit(action)).await.unwrap()
}

fn key_id(n: u128) -> KeyId {
    KeyId(uuid::Uuid::from_u128(n))
}

fn sealed_key(n: u128) -> SealedKey {
    SealedKey {
        id: key_id(n),
        algorithm: "ecdsa-p256".into(),
        purpose: CertProfile::CodeSigning,
        public_key_der: vec![0x30, 0x59, n as u8],
        location: KeyLocation::Software {
            sealed: vec![0xAA; 60],
        },
        created: now(),
    }
}

fn ca(n: &str, key: u128) -> CaRecord {
    CaRecord {
        name: CaName::new(n).unwrap(),
        key_id: key_id(key),
        certificate_der: vec![0x30, 0x82, 1, 2],
        parent: None,
        next_serial: 1,
        next_crl_number: 1,
    }
}

fn certificate(serial: &str, issuer: &str, key: Option<u128>) -> CertificateRecord {
    CertificateRecord {
        serial: SerialNumber::from_hex(serial).unwrap(),
        issuer: CertificateIssuer::Ca(CaName::new(issuer).unwrap()),
        profile: CertProfile::CodeSigning,
        subject: "CN=Release Signing".into(),
        der: vec![0x30, 0x82, 3, 4],
        not_before: now(),
        not_after: now() + time::Duration::days(365),
        key_id: key.map(key_id),
        revocation: None,
    }
}

fn policy(alias: &str, approvals: u32) -> IssuancePolicy {
    IssuancePolicy::new(PolicyDraft {
        alias: PolicyAlias::new(alias).unwrap(),
        certificate: SerialNumber::from_hex("1001").unwrap(),
        key_id: key_id(2),
        rsa_scheme: RsaScheme::Pss,
        approvals_required: approvals,
        approval_group: (approvals > 0).then(|| GroupName::new("officers").unwrap()),
        hashes: [HashAlgorithm::Sha256, HashAlgorithm::Sha384]
            .into_iter()
            .collect(),
        formats: [SigningFormat::Hash, SigningFormat::Jar]
            .into_iter()
            .collect(),
        request_lifetime_secs: 3600,
        roles: [RoleName::new("builders").unwrap()].into_iter().collect(),
        timestamp_required: false,
    })
    .unwrap()
}

/// Roles, identities (jenkins, alice, bob), group `officers`, CA, code-signing cert and key,
/// policies `release` (2 approvals) and `nightly` (0).
async fn deployment(store: &dyn Store) {
    let builders = role("builders", 1, &[Permission::SigningRequest]);
    let approvers = role("approvers", 1, &[Permission::SigningApprove]);
    ok(
        store,
        vec![
            Change::CreateRole(builders.clone()),
            Change::CreateRole(approvers.clone()),
            Change::CreateIdentity(Box::new(identity("jenkins", &[&builders]))),
            Change::CreateIdentity(Box::new(identity("alice", &[&approvers]))),
            Change::CreateIdentity(Box::new(identity("bob", &[&approvers]))),
            Change::CreateGroup(ApprovalGroup {
                name: GroupName::new("officers").unwrap(),
                members: [name("alice"), name("bob")].into_iter().collect(),
            }),
            Change::AddSealedKey(Box::new(sealed_key(1))),
            Change::AddSealedKey(Box::new(sealed_key(2))),
            Change::CreateCa(Box::new(ca("root", 1))),
            Change::AddCertificate(Box::new(certificate("1001", "root", Some(2)))),
            Change::CreatePolicy(Box::new(policy("release", 2))),
            Change::CreatePolicy(Box::new(policy("nightly", 0))),
        ],
        "bootstrap",
    )
    .await;
}

/// `upload` as `policy` accepts it from a `builders` session (the only way to a request).
fn checked(policy: &IssuancePolicy, upload: Upload) -> CheckedUpload<'_> {
    let builders = role("builders", 1, &[Permission::SigningRequest]);
    let session = session_of(&identity("jenkins", &[&builders]), &[builders]);
    policy.check_upload(&session, upload).unwrap()
}

fn new_request(id: u128, policy_alias: &str, approvals: u32, requester: &str) -> SigningRequest {
    let policy = policy(policy_alias, approvals);
    let upload = checked(
        &policy,
        Upload {
            format: SigningFormat::Hash,
            hash: HashAlgorithm::Sha256,
            digest: vec![id as u8; 32],
            metadata: RequestMetadata {
                file_name: Some("app.exe".into()),
                file_size: Some(123_456),
                build_url: Some("https://ci.example/job/1".into()),
                commit: Some("0123abcd".into()),
                ..RequestMetadata::default()
            },
        },
    );
    SigningRequest::new(
        RequestId(uuid::Uuid::from_u128(id)),
        name(requester),
        upload,
        now(),
    )
}

async fn all_events(store: &dyn Store) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    loop {
        let from = events.last().map_or(1, |e: &AuditEvent| e.seq + 1);
        let page = store.read_audit(from, 100).await.unwrap();
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}

async fn verify(store: &dyn Store) -> Result<ChainHead, ChainBreak> {
    let events = all_events(store).await;
    let head = store.audit_head().await.unwrap();
    verify_chain(ChainHead::GENESIS, &events, Some(&head))
}

fn assert_conflict<T: std::fmt::Debug>(result: StoreResult<T>, needle: &str) {
    match result {
        Err(StoreError::Conflict { what }) => assert!(what.contains(needle), "{what}"),
        other => panic!("expected a conflict about {needle:?}, got {other:?}"),
    }
}

fn session_of(store_identity: &Identity, roles: &[Role]) -> Session {
    let mut s = Session::new(Interface::Https);
    s.login(store_identity, roles).unwrap();
    s
}

// ---------------------------------------------------------------------------------------------
// Tests

async fn identities_and_api_keys(h: Harness) {
    let s = h.store.as_ref();
    let r = role("approvers", 1, &[Permission::SigningApprove]);
    let mut alice = identity("alice", &[&r]);
    alice.password = Some(
        hash_password(
            b"a long enough password",
            &PasswordParams::INSECURE_FOR_TESTS,
            &mut rand::rng(),
        )
        .unwrap(),
    );
    alice.require_client_certificate = true;
    ok(
        s,
        vec![
            Change::CreateRole(r.clone()),
            Change::CreateIdentity(Box::new(alice.clone())),
        ],
        "identity.create",
    )
    .await;

    assert_eq!(
        s.get_identity(&alice.name).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(s.get_identity(&name("nobody")).await.unwrap(), None);
    assert_conflict(
        s.commit(
            vec![Change::CreateIdentity(Box::new(identity("alice", &[])))],
            audit("x"),
        )
        .await,
        "identity alice already exists",
    );
    let ghost_role = role("ghost", 1, &[]);
    assert_conflict(
        s.commit(
            vec![Change::CreateIdentity(Box::new(identity(
                "carol",
                &[&ghost_role],
            )))],
            audit("x"),
        )
        .await,
        "role ghost does not exist",
    );

    let other = role("auditors", 1, &[Permission::AuditRead]);
    alice.roles = [other.name().clone()].into_iter().collect();
    alice.enabled = false;
    ok(
        s,
        vec![
            Change::CreateRole(other),
            Change::UpdateIdentity(Box::new(alice.clone())),
        ],
        "identity.update",
    )
    .await;
    let listed = s.list_identities().await.unwrap();
    assert_eq!(listed, vec![alice.clone()]);
    assert!(matches!(
        s.commit(
            vec![Change::UpdateIdentity(Box::new(identity("zed", &[])))],
            audit("x")
        )
        .await,
        Err(StoreError::NotFound {
            what: "identity",
            ..
        })
    ));

    let key = generate_api_key(alice.name.clone(), "ci", now(), &mut rand::rng());
    ok(s, vec![Change::AddApiKey(key.record.clone())], "apikey.add").await;
    let id = api_key_id(&key.token).unwrap();
    let found = s.get_api_key(&id).await.unwrap().unwrap();
    assert_eq!(found, key.record);
    assert!(found.matches(&key.token));
    assert_eq!(
        s.list_api_keys(&alice.name).await.unwrap(),
        vec![key.record.clone()]
    );
    let orphan = generate_api_key(name("nobody"), "", now(), &mut rand::rng());
    assert_conflict(
        s.commit(vec![Change::AddApiKey(orphan.record)], audit("x"))
            .await,
        "identity nobody does not exist",
    );

    ok(
        s,
        vec![Change::DeleteIdentity(alice.name.clone())],
        "identity.delete",
    )
    .await;
    assert_eq!(s.get_identity(&alice.name).await.unwrap(), None);
    assert_eq!(
        s.get_api_key(&id).await.unwrap(),
        None,
        "keys go with their identity"
    );
    assert!(matches!(
        s.commit(vec![Change::DeleteIdentity(alice.name.clone())], audit("x"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    verify(s).await.unwrap();
}

async fn login_failures_count_and_lock(h: Harness) {
    let s = h.store.as_ref();
    let mut alice = identity("alice", &[]);
    alice.password = Some(
        hash_password(
            b"a long enough password",
            &PasswordParams::INSECURE_FOR_TESTS,
            &mut rand::rng(),
        )
        .unwrap(),
    );
    ok(
        s,
        vec![Change::CreateIdentity(Box::new(alice.clone()))],
        "identity.create",
    )
    .await;
    let roles: Vec<Role> = Vec::new();
    for attempt in 1..=3u32 {
        let current = s.get_identity(&alice.name).await.unwrap().unwrap();
        let decision = decide_login(&LoginAttempt {
            identity: Some(&current),
            roles: &roles,
            secret: Secret::Password(b"wrong password!!"),
            peer_cn: None,
            interface: Interface::HostApi,
            lockout_threshold: 3,
            lockout: sigil_domain::LockoutPolicy::default(),
            now: now(),
            password_params: PasswordParams::INSECURE_FOR_TESTS,
        });
        assert_eq!(decision.result, Err(LoginRefusal::AuthFailed));
        assert_eq!(decision.locks_now, attempt == 3);
        let change = decision.state_change.unwrap();
        let draft = AuditDraft::new(now(), "login", Outcome::Failure).identity("alice");
        s.commit(
            vec![Change::RecordLogin {
                identity: alice.name.clone(),
                change,
            }],
            draft,
        )
        .await
        .unwrap();
        let stored = s.get_identity(&alice.name).await.unwrap().unwrap();
        assert_eq!(stored.failed_logins, attempt);
        assert_eq!(stored.locked, attempt >= 3);
        // The lock's end is stored and read back (to the nanosecond the store keeps).
        assert_eq!(stored.locked_until.is_some(), attempt >= 3);
    }
    let locked_until = s
        .get_identity(&alice.name)
        .await
        .unwrap()
        .unwrap()
        .locked_until
        .unwrap();
    assert!(locked_until > now(), "{locked_until}");
    // An administrator unlocks.
    let mut locked = s.get_identity(&alice.name).await.unwrap().unwrap();
    locked.unlock();
    ok(
        s,
        vec![Change::UpdateIdentity(Box::new(locked))],
        "identity.unlock",
    )
    .await;
    let stored = s.get_identity(&alice.name).await.unwrap().unwrap();
    assert!(!stored.locked);
    assert_eq!(stored.failed_logins, 0);
    // Concurrent failures all count (the increment happens in SQL).
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = h.store.clone();
            tokio::spawn(async move {
                store
                    .commit(
                        vec![Change::RecordLogin {
                            identity: name("alice"),
                            change: LoginStateChange::Failure {
                                lock_threshold: 100,
                                lock_until: now(),
                            },
                        }],
                        AuditDraft::new(now(), "login", Outcome::Failure),
                    )
                    .await
                    .unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        s.get_identity(&alice.name)
            .await
            .unwrap()
            .unwrap()
            .failed_logins,
        20
    );
    ok(
        s,
        vec![Change::RecordLogin {
            identity: alice.name.clone(),
            change: LoginStateChange::Reset,
        }],
        "login",
    )
    .await;
    let reset = s.get_identity(&alice.name).await.unwrap().unwrap();
    assert_eq!(
        (reset.failed_logins, reset.locked, reset.locked_until),
        (0, false, None)
    );
    verify(s).await.unwrap();
}

async fn roles_and_groups(h: Harness) {
    let s = h.store.as_ref();
    let admin = role(
        "administrator",
        2,
        &[Permission::AdminRoles, Permission::AdminIdentities],
    );
    let approvers = role("approvers", 1, &[Permission::SigningApprove]);
    ok(
        s,
        vec![
            Change::CreateRole(admin.clone()),
            Change::CreateRole(approvers.clone()),
        ],
        "role.create",
    )
    .await;
    assert_eq!(s.get_role(admin.name()).await.unwrap(), Some(admin.clone()));
    assert_eq!(
        s.list_roles().await.unwrap(),
        vec![admin.clone(), approvers.clone()]
    );
    assert_conflict(
        s.commit(vec![Change::CreateRole(admin.clone())], audit("x"))
            .await,
        "already exists",
    );

    let mut changed: RoleDraft = admin.clone().into();
    changed.logins_required = 3;
    let changed = Role::new(changed).unwrap();
    ok(s, vec![Change::UpdateRole(changed.clone())], "role.update").await;
    assert_eq!(
        s.get_role(admin.name())
            .await
            .unwrap()
            .unwrap()
            .logins_required(),
        3
    );

    ok(
        s,
        vec![
            Change::CreateIdentity(Box::new(identity("alice", &[&approvers]))),
            Change::CreateIdentity(Box::new(identity("bob", &[&approvers]))),
        ],
        "identity.create",
    )
    .await;
    assert_conflict(
        s.commit(
            vec![Change::DeleteRole(approvers.name().clone())],
            audit("x"),
        )
        .await,
        "still held",
    );

    let mut group = ApprovalGroup {
        name: GroupName::new("officers").unwrap(),
        members: [name("alice")].into_iter().collect(),
    };
    ok(s, vec![Change::CreateGroup(group.clone())], "group.create").await;
    assert_eq!(s.get_group(&group.name).await.unwrap(), Some(group.clone()));
    assert_conflict(
        s.commit(vec![Change::CreateGroup(group.clone())], audit("x"))
            .await,
        "already exists",
    );
    group.members.insert(name("bob"));
    ok(s, vec![Change::UpdateGroup(group.clone())], "group.update").await;
    assert_eq!(s.list_groups().await.unwrap(), vec![group.clone()]);
    let mut bad = group.clone();
    bad.members.insert(name("mallory"));
    assert_conflict(
        s.commit(vec![Change::UpdateGroup(bad)], audit("x")).await,
        "identity mallory does not exist",
    );
    assert_eq!(
        s.get_group(&group.name).await.unwrap(),
        Some(group.clone()),
        "failed update changed nothing"
    );

    // Deleting an identity removes its memberships.
    ok(
        s,
        vec![Change::DeleteIdentity(name("bob"))],
        "identity.delete",
    )
    .await;
    assert_eq!(
        s.get_group(&group.name).await.unwrap().unwrap().members,
        [name("alice")].into_iter().collect::<BTreeSet<_>>()
    );
    ok(
        s,
        vec![
            Change::DeleteGroup(group.name.clone()),
            Change::DeleteRole(admin.name().clone()),
        ],
        "delete",
    )
    .await;
    assert_eq!(s.get_group(&group.name).await.unwrap(), None);
    assert_eq!(s.get_role(admin.name()).await.unwrap(), None);
    verify(s).await.unwrap();
}

async fn pki_records(h: Harness) {
    let s = h.store.as_ref();
    let mut intermediate = ca("issuing", 2);
    intermediate.parent = Some(CaName::new("root").unwrap());
    ok(
        s,
        vec![
            Change::AddSealedKey(Box::new(sealed_key(1))),
            Change::AddSealedKey(Box::new(sealed_key(2))),
            Change::CreateCa(Box::new(ca("root", 1))),
            Change::CreateCa(Box::new(intermediate.clone())),
            Change::AddCertificate(Box::new(certificate("00FF01", "root", None))),
            Change::AddCertificate(Box::new(certificate("1001", "issuing", Some(2)))),
        ],
        "pki",
    )
    .await;
    assert_eq!(
        s.get_sealed_key(key_id(1)).await.unwrap(),
        Some(sealed_key(1))
    );
    assert_eq!(s.list_sealed_keys().await.unwrap().len(), 2);
    // An HSM key record keeps the token object's coordinates and no key bytes.
    let mut hsm_key = sealed_key(3);
    hsm_key.location = KeyLocation::Hsm {
        hsm: "hsm1".into(),
        object_id: vec![0x51, 0x6c, 0x00, 0xff],
        label: "sigil-key-3".into(),
    };
    ok(
        s,
        vec![Change::AddSealedKey(Box::new(hsm_key.clone()))],
        "hsm key",
    )
    .await;
    let read = s.get_sealed_key(key_id(3)).await.unwrap().unwrap();
    assert_eq!(read, hsm_key);
    assert_eq!(read.location.backend(), "hsm1");
    assert!(!read.location.is_exportable());
    assert_eq!(s.list_sealed_keys().await.unwrap().len(), 3);
    assert_eq!(
        s.get_ca(&intermediate.name).await.unwrap(),
        Some(intermediate.clone())
    );
    assert_eq!(s.list_cas().await.unwrap().len(), 2);
    let serial = SerialNumber::from_hex("ff01").unwrap();
    assert_eq!(
        s.get_certificate(&serial).await.unwrap(),
        Some(certificate("ff01", "root", None))
    );
    assert_eq!(
        s.list_certificates(Some(&intermediate.name))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.list_certificates(None).await.unwrap().len(), 2);

    assert_conflict(
        s.commit(
            vec![Change::AddCertificate(Box::new(certificate(
                "ff01", "issuing", None,
            )))],
            audit("x"),
        )
        .await,
        "serial ff01 already exists",
    );
    assert_conflict(
        s.commit(
            vec![Change::AddSealedKey(Box::new(sealed_key(1)))],
            audit("x"),
        )
        .await,
        "already exists",
    );
    assert_conflict(
        s.commit(
            vec![Change::CreateCa(Box::new(ca("orphan", 99)))],
            audit("x"),
        )
        .await,
        "does not exist",
    );

    let revocation = Revocation {
        at: now(),
        reason: RevocationReason::KeyCompromise,
    };
    ok(
        s,
        vec![Change::RevokeCertificate {
            serial: serial.clone(),
            revocation,
        }],
        "revoke",
    )
    .await;
    assert_eq!(
        s.get_certificate(&serial)
            .await
            .unwrap()
            .unwrap()
            .revocation,
        Some(revocation)
    );
    assert_conflict(
        s.commit(
            vec![Change::RevokeCertificate {
                serial: serial.clone(),
                revocation,
            }],
            audit("x"),
        )
        .await,
        "already revoked",
    );

    ok(
        s,
        vec![Change::UpdateCaCounters {
            name: intermediate.name.clone(),
            next_serial: 10,
            next_crl_number: 4,
        }],
        "ca",
    )
    .await;
    ok(
        s,
        vec![Change::UpdateCaCounters {
            name: intermediate.name.clone(),
            next_serial: 5,
            next_crl_number: 5,
        }],
        "ca",
    )
    .await;
    let counters = s.get_ca(&intermediate.name).await.unwrap().unwrap();
    assert_eq!(
        (counters.next_serial, counters.next_crl_number),
        (10, 5),
        "counters never go back"
    );

    let chain = ListenerChain {
        key_id: key_id(2),
        certificates: vec![vec![1, 2, 3], vec![4, 5]],
    };
    ok(
        s,
        vec![Change::PutListenerChain {
            interface: Interface::HostApi,
            chain: chain.clone(),
        }],
        "tls",
    )
    .await;
    assert_eq!(
        s.get_listener_chain(Interface::HostApi).await.unwrap(),
        Some(chain.clone())
    );
    assert_eq!(s.get_listener_chain(Interface::Https).await.unwrap(), None);
    // A node's own chain is kept apart from the deployment's, per node and interface.
    assert_eq!(
        s.get_node_listener_chain("node-b", Interface::HostApi)
            .await
            .unwrap(),
        None
    );
    let node_chain = ListenerChain {
        key_id: key_id(2),
        certificates: vec![vec![6, 7]],
    };
    ok(
        s,
        vec![Change::PutNodeListenerChain {
            node: "node-b".into(),
            interface: Interface::HostApi,
            chain: node_chain.clone(),
        }],
        "tls",
    )
    .await;
    assert_eq!(
        s.get_node_listener_chain("node-b", Interface::HostApi)
            .await
            .unwrap(),
        Some(node_chain)
    );
    assert_eq!(
        s.get_node_listener_chain("node-c", Interface::HostApi)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.get_node_listener_chain("node-b", Interface::Https)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.get_listener_chain(Interface::HostApi).await.unwrap(),
        Some(chain)
    );

    assert_eq!(s.custody_record().await.unwrap(), None);
    ok(
        s,
        vec![Change::PutCustodyRecord(
            r#"{"kind":"shamir","m":2,"n":3}"#.into(),
        )],
        "custody",
    )
    .await;
    ok(
        s,
        vec![Change::PutCustodyRecord(
            r#"{"kind":"shamir","m":3,"n":5}"#.into(),
        )],
        "custody",
    )
    .await;
    assert_eq!(
        s.custody_record().await.unwrap().as_deref(),
        Some(r#"{"kind":"shamir","m":3,"n":5}"#)
    );
    verify(s).await.unwrap();
}

/// A certificate from a CA outside Sigil: no CA container, its chain kept with it, named by a
/// policy like any other, revocable, and listed only when no issuer is asked for.
async fn external_certificates(h: Harness) {
    let s = h.store.as_ref();
    deployment(s).await;
    let mut external = certificate("abc123", "root", Some(2));
    external.issuer = CertificateIssuer::External(ExternalIssuer {
        name: "CN=Public Code Signing CA,O=Example Trust".into(),
        chain: vec![vec![0x30, 1, 2], vec![0x30, 3, 4, 5]],
    });
    ok(
        s,
        vec![Change::AddCertificate(Box::new(external.clone()))],
        "import",
    )
    .await;
    assert_eq!(
        s.get_certificate(&external.serial).await.unwrap(),
        Some(external.clone())
    );
    let all = s.list_certificates(None).await.unwrap();
    assert!(all.contains(&external), "{all:?}");
    let root = s
        .list_certificates(Some(&CaName::new("root").unwrap()))
        .await
        .unwrap();
    assert!(!root.contains(&external), "{root:?}");

    let mut draft = policy("external", 0).draft().clone();
    draft.certificate = external.serial.clone();
    ok(
        s,
        vec![Change::CreatePolicy(Box::new(
            IssuancePolicy::new(draft).unwrap(),
        ))],
        "policy",
    )
    .await;
    let revocation = Revocation {
        at: now(),
        reason: RevocationReason::Superseded,
    };
    ok(
        s,
        vec![Change::RevokeCertificate {
            serial: external.serial.clone(),
            revocation,
        }],
        "revoke",
    )
    .await;
    let stored = s.get_certificate(&external.serial).await.unwrap().unwrap();
    assert_eq!(stored.revocation, Some(revocation));
    assert_eq!(stored.issuer, external.issuer);

    // The serial is unique across Sigil's and external certificates.
    let mut clash = external.clone();
    clash.revocation = None;
    assert_conflict(
        s.commit(vec![Change::AddCertificate(Box::new(clash))], audit("x"))
            .await,
        "serial abc123 already exists",
    );
    verify(s).await.unwrap();
}

async fn policies(h: Harness) {
    let s = h.store.as_ref();
    deployment(s).await;
    assert_eq!(
        s.get_policy(&PolicyAlias::new("release").unwrap())
            .await
            .unwrap(),
        Some(policy("release", 2))
    );
    assert_eq!(
        s.list_policies().await.unwrap(),
        vec![policy("nightly", 0), policy("release", 2)]
    );
    assert_conflict(
        s.commit(
            vec![Change::CreatePolicy(Box::new(policy("release", 1)))],
            audit("x"),
        )
        .await,
        "policy release already exists",
    );
    let mut missing_group = policy("other", 1).draft().clone();
    missing_group.approval_group = Some(GroupName::new("nobody").unwrap());
    assert_conflict(
        s.commit(
            vec![Change::CreatePolicy(Box::new(
                IssuancePolicy::new(missing_group).unwrap(),
            ))],
            audit("x"),
        )
        .await,
        "does not exist",
    );
    let mut changed = policy("release", 2).draft().clone();
    changed.hashes = [HashAlgorithm::Sha512].into_iter().collect();
    let changed = IssuancePolicy::new(changed).unwrap();
    ok(
        s,
        vec![Change::UpdatePolicy(Box::new(changed.clone()))],
        "policy.update",
    )
    .await;
    assert_eq!(
        s.get_policy(changed.alias()).await.unwrap(),
        Some(changed.clone())
    );
    assert_conflict(
        s.commit(
            vec![Change::DeleteGroup(GroupName::new("officers").unwrap())],
            audit("x"),
        )
        .await,
        "still named by policies",
    );
    ok(
        s,
        vec![Change::DeletePolicy(changed.alias().clone())],
        "policy.delete",
    )
    .await;
    assert_eq!(s.get_policy(changed.alias()).await.unwrap(), None);
    verify(s).await.unwrap();
}

async fn settings_and_commands(h: Harness) {
    let s = h.store.as_ref();
    let defaults = s.settings().await.unwrap();
    assert!(
        !defaults.allow_export_with_password,
        "export is off by default"
    );
    assert_eq!(defaults, Settings::default());
    let changed = Settings {
        allow_export_with_password: true,
        lockout_threshold: 7,
        timestamp_certificate: None,
    };
    ok(s, vec![Change::PutSettings(changed.clone())], "settings").await;
    assert_eq!(s.settings().await.unwrap(), changed);
    let invalid = Settings {
        lockout_threshold: 0,
        ..changed.clone()
    };
    assert!(
        s.commit(vec![Change::PutSettings(invalid)], audit("x"))
            .await
            .is_err()
    );

    assert!(s.enabled_commands().await.unwrap().is_empty());
    let code = |c| CommandCode::new(c).unwrap();
    ok(
        s,
        ["ECHO", "RKLO", "RAUO"]
            .into_iter()
            .map(|c| Change::SetCommandEnabled {
                code: code(c),
                enabled: true,
            })
            .collect(),
        "commands",
    )
    .await;
    ok(
        s,
        vec![Change::SetCommandEnabled {
            code: code("RKLO"),
            enabled: true,
        }],
        "commands",
    )
    .await;
    ok(
        s,
        vec![Change::SetCommandEnabled {
            code: code("ECHO"),
            enabled: false,
        }],
        "commands",
    )
    .await;
    assert_eq!(
        s.enabled_commands().await.unwrap(),
        [code("RKLO"), code("RAUO")].into_iter().collect()
    );
    verify(s).await.unwrap();
}

async fn request_lifecycle_survives_reopen(mut h: Harness) {
    deployment(h.store.as_ref()).await;
    let s = h.store.clone();
    let request = new_request(1, "release", 2, "jenkins");
    s.commit(
        vec![Change::CreateRequest(Box::new(request.clone()))],
        audit("request.upload"),
    )
    .await
    .unwrap();
    let mut loaded = s.get_request(request.id()).await.unwrap().unwrap();
    assert_eq!(loaded, request);
    assert_eq!(loaded.revision(), 0);

    let approvers = role("approvers", 1, &[Permission::SigningApprove]);
    let group = s
        .get_group(&GroupName::new("officers").unwrap())
        .await
        .unwrap()
        .unwrap();
    let alice = s.get_identity(&name("alice")).await.unwrap().unwrap();
    let alice_session = session_of(&alice, std::slice::from_ref(&approvers));
    let stale = loaded.clone();
    assert_eq!(
        loaded.approve(
            &alice.name,
            &alice_session,
            Some(&group),
            "looks right",
            now()
        ),
        Ok(ApprovalProgress::Recorded { remaining: 1 })
    );
    s.commit(
        vec![Change::UpdateRequest(Box::new(loaded.clone()))],
        audit("request.approve"),
    )
    .await
    .unwrap();

    // A concurrent writer still holding revision 0 is refused.
    let mut racing = stale;
    let bob = s.get_identity(&name("bob")).await.unwrap().unwrap();
    let bob_session = session_of(&bob, std::slice::from_ref(&approvers));
    racing
        .approve(&bob.name, &bob_session, Some(&group), "", now())
        .unwrap();
    assert_conflict(
        s.commit(
            vec![Change::UpdateRequest(Box::new(racing))],
            audit("request.approve"),
        )
        .await,
        "changed at the same time",
    );

    let mut loaded = s.get_request(request.id()).await.unwrap().unwrap();
    assert_eq!(loaded.revision(), 1);
    assert_eq!(loaded.approvals().len(), 1);
    assert_eq!(
        loaded.approve(&bob.name, &bob_session, Some(&group), "", now()),
        Ok(ApprovalProgress::QuorumReached)
    );
    // Approve and sign in one unit, as the service does.
    loaded.mark_signed(vec![0x30, 0x82, 0x01], now()).unwrap();
    s.commit(
        vec![Change::UpdateRequest(Box::new(loaded.clone()))],
        audit("request.sign"),
    )
    .await
    .unwrap();
    drop(s);

    h.reopen().await;
    let reloaded = h.store.get_request(request.id()).await.unwrap().unwrap();
    assert_eq!(reloaded.status(), RequestStatus::Signed);
    assert_eq!(reloaded.result(), Some(&[0x30, 0x82, 0x01][..]));
    assert_eq!(reloaded.approvals().len(), 2);
    assert_eq!(reloaded.revision(), 2);
    assert_eq!(reloaded.metadata(), request.metadata());
    assert_eq!(reloaded.created(), now(), "timestamps keep nanoseconds");
    assert!(
        h.store
            .get_request(RequestId(uuid::Uuid::from_u128(99)))
            .await
            .unwrap()
            .is_none()
    );
    let missing = new_request(99, "release", 2, "jenkins");
    assert!(matches!(
        h.store
            .commit(vec![Change::UpdateRequest(Box::new(missing))], audit("x"))
            .await,
        Err(StoreError::NotFound {
            what: "signing request",
            ..
        })
    ));
    let head = verify(h.store.as_ref()).await.unwrap();
    assert_eq!(
        head.seq, 4,
        "bootstrap, upload, approve, sign; refused writes left no event"
    );
}

async fn request_filters(h: Harness) {
    let s = h.store.as_ref();
    deployment(s).await;
    let mut changes = Vec::new();
    for i in 0..6u128 {
        let (alias, approvals) = if i % 2 == 0 {
            ("release", 2)
        } else {
            ("nightly", 0)
        };
        let requester = if i < 3 { "jenkins" } else { "alice" };
        changes.push(Change::CreateRequest(Box::new(new_request(
            i + 1,
            alias,
            approvals,
            requester,
        ))));
    }
    ok(s, changes, "request.upload").await;
    let list = |filter: RequestFilter| async move { s.list_requests(&filter).await.unwrap() };
    assert_eq!(list(RequestFilter::default()).await.len(), 6);
    let pending = list(RequestFilter {
        state: Some(RequestStatus::Pending),
        ..Default::default()
    })
    .await;
    assert_eq!(pending.len(), 3);
    assert!(pending.iter().all(|r| r.status() == RequestStatus::Pending));
    let by_alice = list(RequestFilter {
        requester: Some(name("alice")),
        ..Default::default()
    })
    .await;
    assert_eq!(by_alice.len(), 3);
    let nightly_by_jenkins = list(RequestFilter {
        requester: Some(name("jenkins")),
        policy: Some(PolicyAlias::new("nightly").unwrap()),
        ..Default::default()
    })
    .await;
    assert_eq!(nightly_by_jenkins.len(), 1);
    assert_eq!(nightly_by_jenkins[0].status(), RequestStatus::Approved);
    assert_eq!(
        list(RequestFilter {
            limit: 2,
            ..Default::default()
        })
        .await
        .len(),
        2
    );
    assert_conflict(
        s.commit(
            vec![Change::CreateRequest(Box::new(new_request(
                1, "release", 2, "jenkins",
            )))],
            audit("x"),
        )
        .await,
        "already exists",
    );
}

async fn failing_change_writes_no_event(h: Harness) {
    let s = h.store.as_ref();
    let before = ok(s, vec![], "server.start").await;
    let r = role("approvers", 1, &[]);
    // The first change is fine, the second fails: neither it, nor the event, is kept.
    let result = s
        .commit(
            vec![Change::CreateRole(r.clone()), Change::CreateRole(r.clone())],
            audit("role.create"),
        )
        .await;
    assert_conflict(result, "role approvers already exists");
    assert_eq!(s.get_role(r.name()).await.unwrap(), None);
    assert_eq!(s.audit_head().await.unwrap(), before.head());
    assert_eq!(all_events(s).await.len(), 1);
    let after = ok(s, vec![Change::CreateRole(r)], "role.create").await;
    assert_eq!(after.seq, 2);
    assert_eq!(after.prev_hash, before.hash);
    verify(s).await.unwrap();
}

/// `commit_events`: a request created and signed in one transaction, with both events chained
/// in order; a failing change keeps neither event; no event at all is refused.
async fn create_and_sign_in_one_commit(h: Harness) {
    deployment(h.store.as_ref()).await;
    let s = h.store.as_ref();
    let before = s.audit_head().await.unwrap();
    let created = new_request(7, "nightly", 0, "jenkins");
    assert_eq!(created.status(), RequestStatus::Approved);
    let mut signed = created.clone();
    signed.mark_signed(vec![0x30, 0x01], now()).unwrap();
    let events = s
        .commit_events(
            vec![
                Change::CreateRequest(Box::new(created.clone())),
                Change::UpdateRequest(Box::new(signed.clone())),
            ],
            vec![audit("request.create"), audit("request.sign")],
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].action, "request.create");
    assert_eq!(events[1].action, "request.sign");
    assert_eq!(events[0].seq, before.seq + 1);
    assert_eq!(events[0].prev_hash, before.hash);
    assert_eq!(events[1].seq, before.seq + 2);
    assert_eq!(events[1].prev_hash, events[0].hash);
    assert_eq!(s.audit_head().await.unwrap(), events[1].head());
    let stored = s.get_request(created.id()).await.unwrap().unwrap();
    assert_eq!(stored.status(), RequestStatus::Signed);
    assert_eq!(stored.result(), Some(&[0x30, 0x01][..]));
    assert_eq!(stored.revision(), 1);

    // The same id again: the create fails, so neither event is written.
    let result = s
        .commit_events(
            vec![Change::CreateRequest(Box::new(created.clone()))],
            vec![audit("request.create"), audit("request.sign")],
        )
        .await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(s.audit_head().await.unwrap(), events[1].head());

    let empty = s.commit_events(vec![], vec![]).await;
    assert!(matches!(empty, Err(StoreError::Config { .. })), "{empty:?}");
    assert_eq!(s.audit_head().await.unwrap(), events[1].head());
    verify(s).await.unwrap();
}

async fn chain_of(h: &Harness, n: usize) {
    for i in 0..n {
        let draft = AuditDraft::new(now(), "login", Outcome::Success)
            .identity(&format!("user{i}"))
            .detail("attempt", &i.to_string());
        h.store.commit(vec![], draft).await.unwrap();
    }
    assert_eq!(verify(h.store.as_ref()).await.unwrap().seq, n as u64);
}

async fn chain_detects_edited_row(h: Harness) {
    chain_of(&h, 6).await;
    h.raw("UPDATE audit_events SET outcome = 'failure' WHERE seq = 3")
        .await;
    let err = verify(h.store.as_ref()).await.unwrap_err();
    assert_eq!(
        err,
        ChainBreak {
            seq: 3,
            kind: BreakKind::Altered
        }
    );
    assert!(
        err.to_string().contains("audit event 3 was altered"),
        "{err}"
    );
    // Garbage in a structured column is reported the same way, not as a read error.
    h.raw("UPDATE audit_events SET outcome = 'success', details = 'not json' WHERE seq = 2")
        .await;
    assert_eq!(
        verify(h.store.as_ref()).await.unwrap_err(),
        ChainBreak {
            seq: 2,
            kind: BreakKind::Altered
        }
    );
}

async fn chain_detects_deleted_rows(h: Harness) {
    chain_of(&h, 6).await;
    h.raw("DELETE FROM audit_events WHERE seq = 6").await;
    assert_eq!(
        verify(h.store.as_ref()).await.unwrap_err(),
        ChainBreak {
            seq: 6,
            kind: BreakKind::TailMissing { head_seq: 6 }
        }
    );
    h.raw("DELETE FROM audit_events WHERE seq = 2").await;
    assert_eq!(
        verify(h.store.as_ref()).await.unwrap_err(),
        ChainBreak {
            seq: 2,
            kind: BreakKind::Missing { found: 3 }
        }
    );
}

async fn chain_detects_reordered_pair(h: Harness) {
    chain_of(&h, 6).await;
    h.raw(
        "UPDATE audit_events SET seq = 1000 WHERE seq = 2; \
         UPDATE audit_events SET seq = 2 WHERE seq = 5; \
         UPDATE audit_events SET seq = 5 WHERE seq = 1000;",
    )
    .await;
    assert_eq!(
        verify(h.store.as_ref()).await.unwrap_err(),
        ChainBreak {
            seq: 2,
            kind: BreakKind::Reordered { original_seq: 5 }
        }
    );
}

async fn concurrent_writers_all_acknowledged(h: Harness) {
    deployment(h.store.as_ref()).await;
    const WRITERS: u128 = 200;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let store = h.store.clone();
            tokio::spawn(async move {
                let request = new_request(1000 + i, "release", 2, "jenkins");
                let draft = AuditDraft::new(now(), "request.upload", Outcome::Success)
                    .identity("jenkins")
                    .object(&request.id().to_string());
                store
                    .commit(vec![Change::CreateRequest(Box::new(request))], draft)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut seqs = BTreeSet::new();
    for t in tasks {
        let event = t.await.unwrap();
        assert!(
            seqs.insert(event.seq),
            "each write gets its own audit position"
        );
    }
    assert_eq!(seqs.len(), WRITERS as usize);
    let head = verify(h.store.as_ref()).await.unwrap();
    assert_eq!(head.seq, 1 + WRITERS as u64);
    let events = all_events(h.store.as_ref()).await;
    for i in 0..WRITERS {
        let id = uuid::Uuid::from_u128(1000 + i).to_string();
        assert!(
            h.store
                .get_request(RequestId(uuid::Uuid::from_u128(1000 + i)))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            events
                .iter()
                .filter(|e| e.object.as_deref() == Some(id.as_str()))
                .count(),
            1
        );
    }
    let all = h
        .store
        .list_requests(&RequestFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), WRITERS as usize);
}

async fn failures_in_a_batch_fail_only_their_caller(h: Harness) {
    let r = role("approvers", 1, &[]);
    ok(h.store.as_ref(), vec![Change::CreateRole(r)], "role.create").await;
    // Half the writers try to create an existing role; they may share a batch with the others.
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = h.store.clone();
            tokio::spawn(async move {
                let identity_name = format!("user{i}");
                let change = if i % 2 == 0 {
                    Change::CreateIdentity(Box::new(identity(&identity_name, &[])))
                } else {
                    Change::CreateRole(role("approvers", 1, &[]))
                };
                (i, store.commit(vec![change], audit("create")).await)
            })
        })
        .collect();
    for t in tasks {
        let (i, result) = t.await.unwrap();
        if i % 2 == 0 {
            result.unwrap();
        } else {
            assert_conflict(result, "already exists");
        }
    }
    assert_eq!(h.store.list_identities().await.unwrap().len(), 50);
    assert_eq!(verify(h.store.as_ref()).await.unwrap().seq, 51);
}

async fn two_nodes_share_one_chain(h: Harness) {
    let other = h.second().await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = if i % 2 == 0 {
                h.store.clone()
            } else {
                other.clone()
            };
            tokio::spawn(async move {
                let draft = AuditDraft::new(now(), "login", Outcome::Success)
                    .identity(&format!("node{}-user{i}", i % 2));
                store.commit(vec![], draft).await.unwrap().seq
            })
        })
        .collect();
    let mut seqs = BTreeSet::new();
    for t in tasks {
        assert!(seqs.insert(t.await.unwrap()));
    }
    assert_eq!(seqs, (1..=200).collect::<BTreeSet<u64>>());
    assert_eq!(verify(h.store.as_ref()).await.unwrap().seq, 200);
    assert_eq!(verify(other.as_ref()).await.unwrap().seq, 200);
}

/// A session created through one store is seen, updated and ended through another on the
/// same database; idle sessions are deleted when a new one is created; the limit holds.
async fn sessions_shared_between_nodes(h: Harness) {
    let other = h.second().await;
    let alice = IdentityName::new("alice").unwrap();
    let record = SessionRecord {
        interface: Interface::Https,
        identities: vec![alice.clone()],
        api_keys: Default::default(),
    };
    let (a, b) = ([1u8; 32], [2u8; 32]);
    assert!(
        h.store
            .create_session(&a, &record, 100, 0, 2)
            .await
            .unwrap()
    );
    let (read, used) = other.get_session(&a).await.unwrap().unwrap();
    assert_eq!((read, used), (record.clone(), 100));
    let mut two = record.clone();
    two.identities.push(IdentityName::new("bob").unwrap());
    assert!(other.update_session(&a, Some(&two), 150).await.unwrap());
    assert_eq!(h.store.get_session(&a).await.unwrap(), Some((two, 150)));
    assert!(h.store.update_session(&a, None, 160).await.unwrap());
    assert_eq!(other.get_session(&a).await.unwrap().unwrap().1, 160);
    assert!(other.create_session(&b, &record, 170, 0, 2).await.unwrap());
    assert!(
        !h.store
            .create_session(&[3; 32], &record, 170, 0, 2)
            .await
            .unwrap(),
        "the limit counts the sessions of every node"
    );
    // Everything used before 165 is idle: `a` is deleted, `c` fits.
    assert!(
        h.store
            .create_session(&[3; 32], &record, 200, 165, 2)
            .await
            .unwrap()
    );
    assert_eq!(other.get_session(&a).await.unwrap(), None);
    assert!(h.store.delete_session(&b).await.unwrap());
    assert!(!other.delete_session(&b).await.unwrap());
    assert!(!other.update_session(&b, None, 300).await.unwrap());
    assert_eq!(h.store.get_session(&b).await.unwrap(), None);
}

async fn deployment_id_is_written_once(h: Harness) {
    assert_eq!(h.store.deployment_id().await.unwrap(), None);
    let draft = || AuditDraft::new(now(), "deployment.init", Outcome::Success);
    h.store
        .commit(vec![Change::SetDeploymentId("d1".into())], draft())
        .await
        .unwrap();
    assert_eq!(
        h.store.deployment_id().await.unwrap().as_deref(),
        Some("d1")
    );
    let again = h
        .store
        .commit(vec![Change::SetDeploymentId("d2".into())], draft())
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "{again:?}"
    );
    assert_eq!(
        h.store.deployment_id().await.unwrap().as_deref(),
        Some("d1")
    );
}

async fn releases_and_their_requests(mut h: Harness) {
    deployment(h.store.as_ref()).await;
    let s = h.store.clone();
    let release_policy = policy("release", 2);
    let mut release = Release::open(
        ReleaseId(uuid::Uuid::from_u128(500)),
        &release_policy,
        name("jenkins"),
        2,
        ReleaseMetadata {
            description: Some("release 2.0".into()),
            ..ReleaseMetadata::default()
        },
        now(),
    )
    .unwrap();
    ok(
        s.as_ref(),
        vec![Change::CreateRelease(Box::new(release.clone()))],
        "release.create",
    )
    .await;
    assert_eq!(s.get_release(release.id()).await.unwrap().unwrap(), release);
    // Each file joins in one commit with the release's count; uploaded out of id order.
    let mut members = Vec::new();
    for id in [9u128, 3] {
        release.add_file("release", now()).unwrap();
        let upload = new_request(id, "release", 2, "jenkins");
        let member = SigningRequest::new_in_release(
            upload.id(),
            &release,
            checked(
                &release_policy,
                Upload {
                    format: upload.format(),
                    hash: upload.hash(),
                    digest: upload.digest().to_vec(),
                    metadata: upload.metadata().clone(),
                },
            ),
            now(),
        );
        ok(
            s.as_ref(),
            vec![
                Change::UpdateRelease(Box::new(release.clone())),
                Change::CreateRequest(Box::new(member.clone())),
            ],
            "request.create",
        )
        .await;
        release.set_revision(release.revision() + 1);
        members.push(member);
    }
    let listed = s.list_release_requests(release.id()).await.unwrap();
    assert_eq!(listed, members, "upload order");
    assert_eq!(listed[0].release(), Some(release.id()));
    assert_eq!(listed[1].release_index(), Some(2));
    // A stale release is refused, and the request of the same commit is not stored.
    let mut stale = release.clone();
    stale.set_revision(0);
    let orphan = new_request(77, "release", 2, "jenkins");
    assert_conflict(
        s.commit(
            vec![
                Change::UpdateRelease(Box::new(stale)),
                Change::CreateRequest(Box::new(orphan.clone())),
            ],
            audit("request.create"),
        )
        .await,
        "changed at the same time",
    );
    assert!(s.get_request(orphan.id()).await.unwrap().is_none());
    // A request naming an unknown release is refused.
    let ghost_release = Release::open(
        ReleaseId(uuid::Uuid::from_u128(501)),
        &release_policy,
        name("jenkins"),
        1,
        ReleaseMetadata::default(),
        now(),
    )
    .unwrap();
    let ghost = SigningRequest::new_in_release(
        RequestId(uuid::Uuid::from_u128(78)),
        &ghost_release,
        checked(
            &release_policy,
            Upload {
                format: SigningFormat::Hash,
                hash: HashAlgorithm::Sha256,
                digest: vec![1; 32],
                metadata: RequestMetadata::default(),
            },
        ),
        now(),
    );
    assert!(
        s.commit(
            vec![Change::CreateRequest(Box::new(ghost))],
            audit("request.create")
        )
        .await
        .is_err()
    );

    // The decision: the release and every file in one commit.
    let approvers = role("approvers", 1, &[Permission::SigningApprove]);
    let group = s
        .get_group(&GroupName::new("officers").unwrap())
        .await
        .unwrap()
        .unwrap();
    let alice = s.get_identity(&name("alice")).await.unwrap().unwrap();
    let alice_session = session_of(&alice, std::slice::from_ref(&approvers));
    release
        .deny(
            &alice.name,
            &alice_session,
            Some(&group),
            "wrong build",
            now(),
        )
        .unwrap();
    let mut changes = vec![Change::UpdateRelease(Box::new(release.clone()))];
    for mut m in s.list_release_requests(release.id()).await.unwrap() {
        assert!(m.apply_release_decision(&release));
        changes.push(Change::UpdateRequest(Box::new(m)));
    }
    ok(s.as_ref(), changes, "release.deny").await;
    drop(s);

    h.reopen().await;
    let stored = h.store.get_release(release.id()).await.unwrap().unwrap();
    assert_eq!(stored.status(), RequestStatus::Denied);
    assert_eq!(stored.received(), 2);
    assert_eq!(stored.created(), now(), "timestamps keep nanoseconds");
    for m in h.store.list_release_requests(release.id()).await.unwrap() {
        assert_eq!(m.status(), RequestStatus::Denied);
    }
    let filter = |state, requester: &str| RequestFilter {
        state,
        requester: Some(name(requester)),
        ..RequestFilter::default()
    };
    assert_eq!(
        h.store
            .list_releases(&filter(Some(RequestStatus::Denied), "jenkins"))
            .await
            .unwrap()
            .len(),
        1
    );
    for (state, requester) in [(Some(RequestStatus::Pending), "jenkins"), (None, "alice")] {
        assert!(
            h.store
                .list_releases(&filter(state, requester))
                .await
                .unwrap()
                .is_empty()
        );
    }
    verify(h.store.as_ref()).await.unwrap();
}

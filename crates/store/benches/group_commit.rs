//! Throughput of signing-request uploads persisted with their audit event on SQLite
//! (`synchronous=FULL`), with group commit (`max_batch` 512) and without it (`max_batch` 1).
//! Each iteration is 1,000 concurrent callers, each committing one `CreateRequest` + event.
//!
//! `cargo bench -p sigil-store --bench group_commit`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sigil_domain::*;
use sigil_store::{SqliteOptions, SqliteStore};
use time::OffsetDateTime;

const CALLERS: u64 = 1000;

fn policy() -> IssuancePolicy {
    IssuancePolicy::new(PolicyDraft {
        alias: PolicyAlias::new("release").unwrap(),
        certificate: SerialNumber::from_hex("01").unwrap(),
        key_id: KeyId(uuid::Uuid::from_u128(1)),
        rsa_scheme: RsaScheme::Pkcs1v15,
        approvals_required: 1,
        approval_group: Some(GroupName::new("officers").unwrap()),
        hashes: [HashAlgorithm::Sha256].into_iter().collect(),
        formats: [SigningFormat::Hash].into_iter().collect(),
        request_lifetime_secs: 3600,
        roles: [RoleName::new("builders").unwrap()].into_iter().collect(),
        timestamp_required: false,
    })
    .unwrap()
}

/// A session of `jenkins` in the `builders` role, which the policy lets upload.
fn builder_session() -> Session {
    let builders = Role::new(RoleDraft {
        name: RoleName::new("builders").unwrap(),
        role_type: RoleType::Application,
        class: RoleClass::Principal,
        logins_required: 1,
        permissions: [Permission::SigningRequest].into_iter().collect(),
        interfaces: Interface::ALL.iter().copied().collect(),
    })
    .unwrap();
    let mut jenkins = Identity::new(
        IdentityName::new("jenkins").unwrap(),
        IdentityKind::Application,
    );
    jenkins.roles.insert(builders.name().clone());
    let mut session = Session::new(Interface::HostApi);
    session.login(&jenkins, &[builders]).unwrap();
    session
}

async fn setup(store: &SqliteStore) {
    let now = OffsetDateTime::now_utc();
    let changes = vec![
        Change::CreateGroup(ApprovalGroup {
            name: GroupName::new("officers").unwrap(),
            members: Default::default(),
        }),
        Change::AddSealedKey(Box::new(SealedKey {
            id: KeyId(uuid::Uuid::from_u128(1)),
            algorithm: "ecdsa-p256".into(),
            purpose: CertProfile::CodeSigning,
            public_key_der: vec![1],
            location: KeyLocation::Software { sealed: vec![2] },
            created: now,
        })),
        Change::CreateCa(Box::new(CaRecord {
            name: CaName::new("root").unwrap(),
            key_id: KeyId(uuid::Uuid::from_u128(1)),
            certificate_der: vec![3],
            parent: None,
            next_serial: 2,
            next_crl_number: 1,
        })),
        Change::AddCertificate(Box::new(CertificateRecord {
            serial: SerialNumber::from_hex("01").unwrap(),
            issuer: CaName::new("root").unwrap().into(),
            profile: CertProfile::CodeSigning,
            subject: "CN=bench".into(),
            der: vec![4],
            not_before: now,
            not_after: now,
            key_id: Some(KeyId(uuid::Uuid::from_u128(1))),
            revocation: None,
        })),
        Change::CreatePolicy(Box::new(policy())),
    ];
    store
        .commit(changes, AuditDraft::new(now, "bootstrap", Outcome::Success))
        .await
        .unwrap();
}

fn uploads(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("sqlite_upload_commit");
    group.throughput(Throughput::Elements(CALLERS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for max_batch in [1usize, 512] {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions {
            max_batch,
            ..SqliteOptions::default()
        };
        let store = rt.block_on(async {
            let store = SqliteStore::open(&dir.path().join("bench.db"), options)
                .await
                .unwrap();
            setup(&store).await;
            Arc::new(store)
        });
        let policy = policy();
        let session = builder_session();
        let next_id = Arc::new(AtomicU64::new(1));
        group.bench_function(format!("max_batch_{max_batch}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let tasks: Vec<_> = (0..CALLERS)
                            .map(|_| {
                                let store = store.clone();
                                let id = next_id.fetch_add(1, Ordering::Relaxed);
                                let upload = Upload {
                                    format: SigningFormat::Hash,
                                    hash: HashAlgorithm::Sha256,
                                    digest: vec![7; 32],
                                    metadata: RequestMetadata::default(),
                                };
                                let request = SigningRequest::new(
                                    RequestId(uuid::Uuid::from_u128(u128::from(id))),
                                    IdentityName::new("jenkins").unwrap(),
                                    policy.check_upload(&session, upload).unwrap(),
                                    OffsetDateTime::now_utc(),
                                );
                                tokio::spawn(async move {
                                    let draft = AuditDraft::new(
                                        OffsetDateTime::now_utc(),
                                        "request.upload",
                                        Outcome::Success,
                                    )
                                    .identity("jenkins")
                                    .object(&request.id().to_string());
                                    store
                                        .commit(
                                            vec![Change::CreateRequest(Box::new(request))],
                                            draft,
                                        )
                                        .await
                                        .unwrap();
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                    }
                    start.elapsed()
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, uploads);
criterion_main!(benches);

//! `sigil backup` / `sigil restore` on real deployments: a backup taken while `sigil sign`
//! runs, restored into a new directory, started, signing with the same keys (checked by
//! openssl), its audit chain verified and continued; each refusal writes nothing; and a
//! PostgreSQL round trip (SQLite → PostgreSQL → PostgreSQL) on the server `SIGIL_TEST_PG_URL`
//! names (`scripts/test.sh` starts one; the test fails without it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use common::{World, args, chain, p, point_profile, run_ok, sigil, text, world};
use sigil_domain::{AuditEvent, PasswordParams};
use sigil_server::{RunningServer, ServerConfig};
use sqlx::Connection;

/// Signs `count` files in each of `workers` concurrent `sigil sign` runs (several rounds).
fn start_load(world: &World, workers: usize, rounds: usize) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let dir = world.dir.path().join(format!("load{worker}"));
        std::fs::create_dir_all(&dir).unwrap();
        let profile = world.jenkins.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..rounds {
                let mut files = Vec::new();
                for i in 0..5 {
                    let name = format!("r{round}-{i}.txt");
                    std::fs::write(dir.join(&name), format!("{worker} {round} {i}\n")).unwrap();
                    files.push(name);
                }
                let mut a = args(&["sign", "--profile", p(&profile), "--policy", "release"]);
                a.extend(files);
                let out = sigil(a, &dir).await;
                assert_eq!(out.status.code(), Some(0), "{}", text(&out));
            }
        }));
    }
    tasks
}

async fn audit_events(url: &str) -> Vec<AuditEvent> {
    let store = sigil_store::open(url).await.unwrap();
    let mut events = Vec::new();
    loop {
        let page = store
            .read_audit(events.len() as u64 + 1, 1000)
            .await
            .unwrap();
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}

async fn start_restored(data: &Path) -> RunningServer {
    let mut config = ServerConfig::load(&data.join("sigil.toml")).unwrap();
    config.host_api = "127.0.0.1:0".parse().unwrap();
    config.https = "127.0.0.1:0".parse().unwrap();
    config.password_params = PasswordParams::INSECURE_FOR_TESTS;
    sigil_server::start(config).await.unwrap()
}

/// Signs `name` through `server` with the restored deployment's own jenkins profile and checks
/// the signature with openssl against the original deployment's public key.
async fn sign_and_verify(world: &World, data: &Path, server: &RunningServer, name: &str) {
    let profile = data.join("clients/jenkins.toml");
    point_profile(&profile, server);
    let dir = world.dir.path();
    std::fs::write(
        dir.join(name),
        format!("{name} signed by a restored deployment\n"),
    )
    .unwrap();
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&profile),
            "--policy",
            "release",
            name,
        ]),
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (_, _, public) = chain(world, "release").await;
    let verified = run_ok(
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            p(&public),
            "-signature",
            p(&dir.join(format!("{name}.sig"))),
            p(&dir.join(name)),
        ],
    );
    assert!(verified.contains("Verified OK"), "{verified}");
}

async fn backup(world: &World, data: &Path, name: &str) -> PathBuf {
    let file = world.dir.path().join(name);
    let out = sigil(
        args(&["backup", "--data", p(data), "--out", p(&file)]),
        world.dir.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    file
}

async fn restore(world: &World, file: &Path, data: &Path, extra: &[&str]) -> std::process::Output {
    let key = world.data.join("master.key");
    let mut a = args(&[
        "restore",
        "--in",
        p(file),
        "--data",
        p(data),
        "--key-file",
        p(&key),
    ]);
    a.extend(args(extra));
    sigil(a, world.dir.path()).await
}

async fn audit_verify(world: &World, data: &Path) -> String {
    let out = sigil(
        args(&["audit", "verify", "--data", p(data)]),
        world.dir.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    text(&out)
}

/// The restored chain is the original's first `n` events, then `backup.restored`, then more.
fn assert_continues(original: &[AuditEvent], restored: &[AuditEvent]) -> usize {
    let at = restored
        .iter()
        .position(|e| e.action == "backup.restored")
        .expect("a backup.restored event");
    assert!(at > 0);
    assert_eq!(
        &restored[..at],
        &original[..at],
        "the restored chain is the original's prefix"
    );
    assert_eq!(restored[at].prev_hash, original[at - 1].hash);
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_load_restores_a_deployment_that_signs_and_continues_the_chain() {
    let world = world().await;
    let load = start_load(&world, 4, 3);
    let file = backup(&world, &world.data, "under-load.sigilbak").await;
    for task in load {
        task.await.unwrap();
    }

    let restored = world.dir.path().join("restored");
    let out = restore(&world, &file, &restored, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("backup.restored"), "{}", text(&out));
    for name in [
        "sigil.toml",
        "ca/root.pem",
        "admin/admin.toml",
        "clients/jenkins.p12",
        "master.key",
    ] {
        assert!(restored.join(name).is_file(), "{name} restored");
    }

    let server = start_restored(&restored).await;
    sign_and_verify(&world, &restored, &server, "after-restore.txt").await;
    server.shutdown().await;

    let verified = audit_verify(&world, &restored).await;
    assert!(verified.contains("audit chain intact"), "{verified}");
    let original = audit_events(&format!(
        "sqlite://{}",
        world.data.join("sigil.db").display()
    ))
    .await;
    let restored_events =
        audit_events(&format!("sqlite://{}", restored.join("sigil.db").display())).await;
    let at = assert_continues(&original, &restored_events);
    // The restored server started and signed after the restore event.
    assert!(
        restored_events[at + 1..]
            .iter()
            .any(|e| e.action == "request.sign")
    );
    world.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_a_damaged_file_and_an_existing_target_are_refused_and_nothing_is_written() {
    let world = world().await;
    let dir = world.dir.path();
    let file = backup(&world, &world.data, "good.sigilbak").await;
    let good = std::fs::read(&file).unwrap();
    let target = dir.join("target");

    let leftovers = || -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".target"))
            .collect()
    };
    let refused = |out: &std::process::Output, why: &str| {
        assert_ne!(out.status.code(), Some(0), "{}", text(out));
        assert!(text(out).contains(why), "expected {why:?}:\n{}", text(out));
        assert!(!target.exists(), "nothing written for {why}");
        assert!(
            leftovers().is_empty(),
            "no staging directory left for {why}"
        );
    };

    // Another deployment's master key.
    let other = dir.join("other");
    let out = sigil(args(&["init", "--data", p(&other)]), dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = sigil(
        args(&[
            "restore",
            "--in",
            p(&file),
            "--data",
            p(&target),
            "--key-file",
            p(&other.join("master.key")),
        ]),
        dir,
    )
    .await;
    refused(&out, "is not this deployment's master key");

    // Truncated (half, and only the last byte missing).
    for len in [good.len() / 2, good.len() - 1] {
        let cut = dir.join("cut.sigilbak");
        std::fs::write(&cut, &good[..len]).unwrap();
        let out = restore(&world, &cut, &target, &[]).await;
        refused(&out, "damaged");
    }

    // One byte altered: in the encrypted body, and in the public header.
    for at in [good.len() / 2, 30] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        let altered = dir.join("altered.sigilbak");
        std::fs::write(&altered, &bad).unwrap();
        let out = restore(&world, &altered, &target, &[]).await;
        assert_ne!(out.status.code(), Some(0), "{}", text(&out));
        assert!(!target.exists() && leftovers().is_empty(), "{}", text(&out));
    }

    // Over an existing deployment (the original data directory) and a non-empty directory.
    let out = restore(&world, &file, &world.data, &[]).await;
    assert!(text(&out).contains("not empty"), "{}", text(&out));
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep.txt"), "mine").unwrap();
    let out = restore(&world, &file, &target, &[]).await;
    assert!(text(&out).contains("not empty"), "{}", text(&out));
    let names: Vec<_> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["keep.txt"]);
    assert_eq!(
        std::fs::read_to_string(target.join("keep.txt")).unwrap(),
        "mine"
    );

    // An existing backup file is not overwritten.
    let out = sigil(
        args(&["backup", "--data", p(&world.data), "--out", p(&file)]),
        dir,
    )
    .await;
    assert!(
        text(&out).contains("refusing to overwrite"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&file).unwrap(), good);
    world.server.shutdown().await;
}

async fn new_pg_database(base: &str) -> String {
    let admin = sqlx::postgres::PgConnectOptions::from_str(base).unwrap();
    let mut conn = sqlx::PgConnection::connect_with(&admin).await.unwrap();
    let name = format!("sigil_backup_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_to_postgres_to_postgres_round_trip() {
    let base = std::env::var("SIGIL_TEST_PG_URL").expect(
        "SIGIL_TEST_PG_URL must name a PostgreSQL server where databases can be created \
         (scripts/test.sh starts one)",
    );
    let world = world().await;
    let dir = world.dir.path();
    let load = start_load(&world, 2, 2);
    let file = backup(&world, &world.data, "sqlite.sigilbak").await;
    for task in load {
        task.await.unwrap();
    }

    // SQLite → PostgreSQL.
    let db_a = new_pg_database(&base).await;
    let data_a = dir.join("pg-a");
    let out = restore(&world, &file, &data_a, &["--database", &db_a]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!data_a.join("sigil.db").exists());
    let server = start_restored(&data_a).await;
    sign_and_verify(&world, &data_a, &server, "on-postgres.txt").await;

    // PostgreSQL → PostgreSQL, taken while that server runs.
    let file_b = backup(&world, &data_a, "postgres.sigilbak").await;
    let db_b = new_pg_database(&base).await;
    let data_b = dir.join("pg-b");
    let out = restore(&world, &file_b, &data_b, &["--database", &db_b]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let server_b = start_restored(&data_b).await;
    sign_and_verify(&world, &data_b, &server_b, "on-postgres-b.txt").await;
    server_b.shutdown().await;
    audit_verify(&world, &data_b).await;
    let events_a = audit_events(&db_a).await;
    let events_b = audit_events(&db_b).await;
    // b's chain continues a's, which continues the SQLite original's.
    let restored_a = assert_continues(
        &audit_events(&format!(
            "sqlite://{}",
            world.data.join("sigil.db").display()
        ))
        .await,
        &events_a,
    );
    let b_at = events_b
        .iter()
        .rposition(|e| e.action == "backup.restored")
        .unwrap();
    assert!(b_at > restored_a);
    assert_eq!(&events_b[..b_at], &events_a[..b_at]);

    // Into a database that holds a deployment: refused, nothing written.
    let before = audit_events(&db_a).await.len();
    let data_c = dir.join("pg-c");
    let out = restore(&world, &file_b, &data_c, &["--database", &db_a]).await;
    assert!(
        text(&out).contains("already holds a Sigil deployment"),
        "{}",
        text(&out)
    );
    assert!(!data_c.exists());
    assert_eq!(audit_events(&db_a).await.len(), before);
    server.shutdown().await;
    audit_verify(&world, &data_a).await;
    world.server.shutdown().await;
}

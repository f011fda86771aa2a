//! `sigil_server::init`: the data directory it writes, refusing to overwrite, no half-written
//! state on failure, key components.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use sigil_server::{MasterKeySource, ServerConfig};

#[tokio::test]
async fn writes_the_documented_layout() {
    let (_dir, data, report) = common::deployment().await;
    for file in [
        "sigil.toml",
        "sigil.db",
        "master.key",
        "ca/root.pem",
        "admin/admin1.password",
        "admin/admin2.password",
        "admin/admin.toml",
    ] {
        assert!(data.join(file).is_file(), "{file} missing");
    }
    assert_eq!(report.admin_profile, data.join("admin/admin.toml"));
    assert_eq!(report.root_ca, data.join("ca/root.pem"));
    assert_eq!(report.master_key_file, Some(data.join("master.key")));
    for file in &report.admin_password_files {
        assert_eq!(common::mode(file), 0o600);
        let password = std::fs::read_to_string(file).unwrap();
        assert!(password.len() >= 20, "{password:?}");
        assert!(password.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    assert_eq!(common::mode(&data.join("master.key")), 0o600);

    // The root is a CA certificate named as documented; the config file loads.
    let subject = common::run_ok(
        "openssl",
        &[
            "x509",
            "-in",
            data.join("ca/root.pem").to_str().unwrap(),
            "-noout",
            "-subject",
        ],
    );
    assert!(subject.contains("System TLS CA Root"), "{subject}");
    let config = ServerConfig::load(&report.config_file).unwrap();
    assert_eq!(config.data_dir, data.join("."));

    // The admin profile names both administrators with their password files.
    let profile: toml::Table =
        toml::from_str(&std::fs::read_to_string(&report.admin_profile).unwrap()).unwrap();
    assert_eq!(profile["ca_certificate"].as_str(), Some("../ca/root.pem"));
    let identities = profile["identity"].as_array().unwrap();
    assert_eq!(identities.len(), 2);
    assert_eq!(identities[0]["name"].as_str(), Some("admin1"));
    assert_eq!(
        identities[1]["password_file"].as_str(),
        Some("admin2.password")
    );

    // Nothing but the data directory was left beside it.
    let siblings: Vec<_> = std::fs::read_dir(data.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, vec![std::ffi::OsString::from("data")]);
}

#[tokio::test]
async fn refuses_to_overwrite_an_existing_deployment() {
    let (_dir, data, _report) = common::deployment().await;
    let before = std::fs::read(data.join("master.key")).unwrap();
    let err = sigil_server::init(&common::options(&data))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not empty"), "{err}");
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert_eq!(std::fs::read(data.join("master.key")).unwrap(), before);

    // Any stray file counts as not empty.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    assert!(
        sigil_server::init(&common::options(dir.path()))
            .await
            .is_err()
    );
    assert!(!dir.path().join("sigil.db").exists());
}

#[tokio::test]
async fn an_existing_empty_directory_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("empty");
    std::fs::create_dir(&data).unwrap();
    sigil_server::init(&common::options(&data)).await.unwrap();
    assert!(data.join("sigil.db").is_file());
}

#[tokio::test]
async fn a_bad_hostname_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut options = common::options(&data);
    options.hostnames = vec!["not a host name!".into()];
    let err = sigil_server::init(&options).await.unwrap_err().to_string();
    assert!(err.contains("--hostname"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_refused_split_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut options = common::options(&data);
    options.master_key = MasterKeySource::Components {
        threshold: 1,
        count: 3,
    };
    let err = sigil_server::init(&options).await.unwrap_err().to_string();
    assert!(err.contains("1-of-N"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn key_components_are_returned_once_and_no_key_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut options = common::options(&data);
    options.master_key = MasterKeySource::Components {
        threshold: 2,
        count: 3,
    };
    let report = sigil_server::init(&options).await.unwrap();
    assert_eq!(report.key_components.len(), 3);
    assert!(report.master_key_file.is_none());
    assert!(!data.join("master.key").exists());
    for (i, component) in report.key_components.iter().enumerate() {
        assert_eq!(usize::from(component.index), i + 1);
        assert_eq!(component.threshold, 2);
        assert!(
            component.text.starts_with("SKC1-"),
            "{}",
            component.text.as_str()
        );
        let parsed = sigil_custody::KeyComponent::parse(&component.text).unwrap();
        assert_eq!(parsed.kcv().to_string(), component.kcv);
    }
}

#[tokio::test]
async fn the_listener_certificate_chains_to_the_root_with_the_hostnames() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut options = common::options(&data);
    options.hostnames = vec!["sigil.example.com".into(), "10.1.2.3".into()];
    sigil_server::init(&options).await.unwrap();

    let store = sigil_store::open(&format!("sqlite://{}", data.join("sigil.db").display()))
        .await
        .unwrap();
    for interface in sigil_domain::Interface::ALL {
        let chain = store.get_listener_chain(*interface).await.unwrap().unwrap();
        assert_eq!(chain.certificates.len(), 2);
        let leaf = dir.path().join("leaf.der");
        std::fs::write(&leaf, &chain.certificates[0]).unwrap();
        let leaf_pem = dir.path().join("leaf.pem");
        common::run_ok(
            "openssl",
            &[
                "x509",
                "-inform",
                "DER",
                "-in",
                leaf.to_str().unwrap(),
                "-out",
                leaf_pem.to_str().unwrap(),
            ],
        );
        let root = data.join("ca/root.pem");
        let verified = common::run_ok(
            "openssl",
            &[
                "verify",
                "-x509_strict",
                "-purpose",
                "sslserver",
                "-CAfile",
                root.to_str().unwrap(),
                leaf_pem.to_str().unwrap(),
            ],
        );
        assert!(verified.contains("OK"), "{verified}");
        let text = common::run_ok(
            "openssl",
            &[
                "x509",
                "-in",
                leaf_pem.to_str().unwrap(),
                "-noout",
                "-ext",
                "subjectAltName",
            ],
        );
        for name in [
            "DNS:localhost",
            "IP Address:127.0.0.1",
            "DNS:sigil.example.com",
            "IP Address:10.1.2.3",
        ] {
            assert!(text.contains(name), "{name} missing in {text}");
        }
    }
    // Every Host API command is enabled, the builtin roles exist.
    assert_eq!(
        store.enabled_commands().await.unwrap().len(),
        sigil_proto::Command::KNOWN.len()
    );
    assert_eq!(store.list_roles().await.unwrap().len(), 3);
    let admins = store.list_identities().await.unwrap();
    assert_eq!(admins.len(), 2);
    assert!(
        admins
            .iter()
            .all(|a| a.roles.iter().any(|r| r.as_str() == "administrator"))
    );
}

/// A new, empty database on the test PostgreSQL server (`SIGIL_TEST_PG_URL`, which
/// `scripts/test.sh` exports).
fn new_pg_database() -> String {
    let base = std::env::var("SIGIL_TEST_PG_URL").expect(
        "SIGIL_TEST_PG_URL must name a PostgreSQL server where databases can be created \
         (scripts/test.sh starts one)",
    );
    let name = format!("sigil_init_{}", uuid::Uuid::new_v4().simple());
    common::run_ok(
        "psql",
        &[&base, "-qAt", "-c", &format!("CREATE DATABASE {name}")],
    );
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

/// Every relation of the database's schema (name and kind) and the row count of each table.
fn pg_contents(url: &str) -> String {
    let relations = common::run_ok(
        "psql",
        &[
            url,
            "-qAt",
            "-c",
            "SELECT relname::text || ':' || relkind::text FROM pg_class c JOIN pg_namespace n \
             ON n.oid = c.relnamespace WHERE n.nspname = current_schema() ORDER BY 1",
        ],
    );
    let mut out = relations.clone();
    for line in relations.lines() {
        if let Some(table) = line.strip_suffix(":r") {
            let count = common::run_ok(
                "psql",
                &[url, "-qAt", "-c", &format!("SELECT COUNT(*) FROM {table}")],
            );
            out.push_str(&format!("{table} rows {count}"));
        }
    }
    out
}

#[tokio::test]
async fn postgres_init_is_all_or_nothing() {
    let url = new_pg_database();
    // A table planted where a later migration creates one: init fails after it has created
    // most of the schema (and, before this was one transaction, left that schema behind).
    common::run_ok(
        "psql",
        &[&url, "-qAt", "-c", "CREATE TABLE deployment (planted TEXT)"],
    );
    let before = pg_contents(&url);
    assert!(before.contains("deployment:r"), "{before}");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut options = common::options(&data);
    options.database = url.clone();
    let err = sigil_server::init(&options).await.unwrap_err().to_string();
    assert_eq!(
        pg_contents(&url),
        before,
        "the failed init changed the database"
    );
    assert!(err.contains("schema"), "{err}");
    assert!(!data.exists(), "the failed init left a data directory");

    // Without the planted table the same init succeeds, and a second one is refused without
    // changing anything.
    common::run_ok("psql", &[&url, "-qAt", "-c", "DROP TABLE deployment"]);
    let report = sigil_server::init(&options).await.unwrap();
    assert!(!data.join("init-postgres.db").exists());
    assert!(!data.join("sigil.db").exists());
    let filled = pg_contents(&url);
    assert!(filled.contains("identities rows 2"), "{filled}");
    assert!(filled.contains("deployment rows 1"), "{filled}");
    let events = common::run_ok("psql", &[&url, "-qAt", "-c", "SELECT seq FROM audit_head"]);
    assert_ne!(events.trim(), "0", "the audit chain head was not copied");

    let other = dir.path().join("other");
    let mut again = common::options(&other);
    again.database = url.clone();
    let err = sigil_server::init(&again).await.unwrap_err().to_string();
    assert!(err.contains("already holds a Sigil deployment"), "{err}");
    assert_eq!(pg_contents(&url), filled);

    // The deployment runs: the server starts on it (its sigil.toml names the database).
    assert_eq!(common::config(&report.data_dir).database, url);
    let server = sigil_server::start(common::config(&data)).await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn postgres_init_fills_a_database_that_holds_only_the_schema() {
    let url = new_pg_database();
    // A server that connected once (or an older init that failed after the migrations)
    // leaves the schema without a deployment.
    sigil_store::PgStore::connect(&url)
        .await
        .unwrap()
        .close()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut options = common::options(&dir.path().join("data"));
    options.database = url.clone();
    sigil_server::init(&options).await.unwrap();
    assert!(pg_contents(&url).contains("identities rows 2"));
}

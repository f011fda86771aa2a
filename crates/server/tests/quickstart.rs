//! `sigil_server::quickstart`: the demonstration deployment, checked with openssl and keytool,
//! idempotent on a second run, and usable against the real server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use sigil_domain::{CaName, GroupName, IdentityName, PolicyAlias, RoleName, Store};
use sigil_server::quickstart::{self, QuickstartReport};

async fn store(data: &Path) -> std::sync::Arc<dyn Store> {
    sigil_store::open(&format!("sqlite://{}", data.join("sigil.db").display()))
        .await
        .unwrap()
}

async fn provision(data: &Path) -> QuickstartReport {
    quickstart::provision_with(&common::options(data))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisions_the_demo_and_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("sigil-data");
    let report = provision(&data).await;
    assert!(report.init.is_some());
    assert!(report.created_anything);
    assert_eq!(report.policies, vec!["release", "release-approved"]);

    // Files and modes.
    for path in [
        &report.jenkins_p12,
        &report.jenkins_p12_password_file,
        &report.jenkins_password_file,
        &report.jenkins_api_key_file,
        &report.approver_password_file,
        &report.jenkins_profile,
        &report.approver_profile,
    ] {
        assert_eq!(common::mode(path), 0o600, "{}", path.display());
    }
    assert!(report.jenkins_p12_password.len() >= 12);
    assert!(report.jenkins_password.len() >= 20);
    assert_eq!(
        std::fs::read_to_string(&report.jenkins_password_file).unwrap(),
        *report.jenkins_password
    );
    assert_eq!(
        std::fs::read_to_string(&report.jenkins_api_key_file).unwrap(),
        *report.jenkins_api_key
    );

    // The PKCS#12 opens with openssl and keytool with its password, not without.
    let p12 = report.jenkins_p12.to_str().unwrap();
    let passfile = format!("file:{}", report.jenkins_p12_password_file.display());
    let pem = dir.path().join("jenkins-all.pem");
    common::run_ok(
        "openssl",
        &[
            "pkcs12",
            "-in",
            p12,
            "-passin",
            &passfile,
            "-nodes",
            "-out",
            pem.to_str().unwrap(),
        ],
    );
    let wrong = common::run(
        "openssl",
        &[
            "pkcs12",
            "-in",
            p12,
            "-passin",
            "pass:wrong-password-123",
            "-nodes",
        ],
    );
    assert!(!wrong.status.success());
    let keytool = common::run_ok(
        "keytool",
        &[
            "-list",
            "-storetype",
            "PKCS12",
            "-keystore",
            p12,
            "-storepass",
            &report.jenkins_p12_password,
        ],
    );
    assert!(keytool.contains("PrivateKeyEntry"), "{keytool}");

    // The client certificate: CN=jenkins, a TLS client certificate of the System TLS CA Root.
    let leaf = dir.path().join("jenkins.pem");
    common::run_ok(
        "openssl",
        &[
            "pkcs12",
            "-in",
            p12,
            "-passin",
            &passfile,
            "-clcerts",
            "-nokeys",
            "-out",
            leaf.to_str().unwrap(),
        ],
    );
    let verified = common::run_ok(
        "openssl",
        &[
            "verify",
            "-purpose",
            "sslclient",
            "-CAfile",
            report.root_ca.to_str().unwrap(),
            leaf.to_str().unwrap(),
        ],
    );
    assert!(verified.contains("OK"), "{verified}");
    let subject = common::run_ok(
        "openssl",
        &["x509", "-in", leaf.to_str().unwrap(), "-noout", "-subject"],
    );
    assert!(subject.contains("CN = jenkins"), "{subject}");

    // Profiles in the contract's format.
    let profile: toml::Table =
        toml::from_str(&std::fs::read_to_string(&report.jenkins_profile).unwrap()).unwrap();
    assert_eq!(profile["pkcs12"].as_str(), Some("jenkins.p12"));
    assert_eq!(
        profile["pkcs12_password_file"].as_str(),
        Some("jenkins.p12.password")
    );
    assert_eq!(profile["ca_certificate"].as_str(), Some("../ca/root.pem"));
    assert_eq!(profile["identity"][0]["name"].as_str(), Some("jenkins"));
    assert_eq!(
        profile["identity"][0]["password_env"].as_str(),
        Some("SIGIL_PASSWORD")
    );
    assert_eq!(
        profile["identity"][0]["password_file"].as_str(),
        Some("jenkins.api-key"),
        "the CI profile logs in with the API key"
    );
    let approver: toml::Table =
        toml::from_str(&std::fs::read_to_string(&report.approver_profile).unwrap()).unwrap();
    assert_eq!(approver["identity"][0]["name"].as_str(), Some("approver"));
    assert!(approver.get("pkcs12").is_none());

    // What the store holds.
    let db = store(&data).await;
    let role = db
        .get_role(&RoleName::new("jenkins").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(role.logins_required(), 1);
    assert!(role.grants(sigil_domain::Permission::SigningRequest));
    assert!(role.allows(sigil_domain::Interface::HostApi));
    let jenkins = db
        .get_identity(&IdentityName::new("jenkins").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(jenkins.require_client_certificate);
    assert!(sigil_domain::verify_password(
        report.jenkins_password.as_bytes(),
        jenkins.password.as_ref().unwrap()
    ));
    let key_id = sigil_domain::api_key_id(&report.jenkins_api_key).unwrap();
    let key = db.get_api_key(&key_id).await.unwrap().unwrap();
    assert_eq!(key.identity.as_str(), "jenkins");
    assert!(key.matches(&report.jenkins_api_key));
    let group = db
        .get_group(&GroupName::new("release-approvers").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(group.is_member(&IdentityName::new("approver").unwrap()));
    let release = db
        .get_policy(&PolicyAlias::new("release").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(release.approvals_required(), 0);
    let approved = db
        .get_policy(&PolicyAlias::new("release-approved").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(approved.approvals_required(), 1);
    assert_eq!(
        approved.approval_group().map(|g| g.as_str()),
        Some("release-approvers")
    );
    assert_eq!(approved.draft().formats.len(), 4); // hash, authenticode, jar, openpgp
    assert_eq!(approved.draft().hashes.len(), 3);
    let cert = db
        .get_certificate(&report.code_signing_serial)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        cert.issuer.ca(),
        Some(&CaName::new("jenkins-code-signing-ca").unwrap())
    );
    let key = db
        .get_sealed_key(cert.key_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(key.algorithm, "rsa-3072");
    let cert_path = dir.path().join("code.der");
    std::fs::write(&cert_path, &cert.der).unwrap();
    let text = common::run_ok(
        "openssl",
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            cert_path.to_str().unwrap(),
            "-noout",
            "-text",
        ],
    );
    assert!(text.contains("Code Signing"), "{text}");
    assert!(text.contains("3072 bit"), "{text}");
    drop(db);

    // A second run reuses everything.
    let p12_before = std::fs::read(&report.jenkins_p12).unwrap();
    let again = provision(&data).await;
    assert!(again.init.is_none());
    assert!(!again.created_anything);
    assert_eq!(again.code_signing_serial, report.code_signing_serial);
    assert_eq!(again.timestamp_serial, report.timestamp_serial);
    assert_eq!(*again.jenkins_password, *report.jenkins_password);
    assert_eq!(*again.jenkins_api_key, *report.jenkins_api_key);
    assert_eq!(*again.jenkins_p12_password, *report.jenkins_p12_password);
    assert_eq!(*again.approver_password, *report.approver_password);
    assert_eq!(std::fs::read(&report.jenkins_p12).unwrap(), p12_before);
    let db = store(&data).await;
    assert_eq!(
        db.list_certificates(None).await.unwrap().len(),
        4,
        "listener, jenkins, code signing, time-stamping"
    );
    drop(db);

    // An API key file that no longer holds a stored key of jenkins gets a new key.
    std::fs::write(
        &report.jenkins_api_key_file,
        format!("sigil_{}_{}", "0".repeat(16), "1".repeat(64)),
    )
    .unwrap();
    let third = provision(&data).await;
    assert!(third.created_anything);
    assert_ne!(*third.jenkins_api_key, *report.jenkins_api_key);
    assert_eq!(
        std::fs::read_to_string(&third.jenkins_api_key_file).unwrap(),
        *third.jenkins_api_key
    );
    assert_eq!(common::mode(&third.jenkins_api_key_file), 0o600);
    let db = store(&data).await;
    let id = sigil_domain::api_key_id(&third.jenkins_api_key).unwrap();
    assert!(
        db.get_api_key(&id)
            .await
            .unwrap()
            .unwrap()
            .matches(&third.jenkins_api_key)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jenkins_certificate_opens_the_host_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("sigil-data");
    let report = provision(&data).await;
    let server = sigil_server::start(common::config(&data)).await.unwrap();
    let passfile = format!("file:{}", report.jenkins_p12_password_file.display());
    let pem = dir.path().join("jenkins-all.pem");
    common::run_ok(
        "openssl",
        &[
            "pkcs12",
            "-in",
            report.jenkins_p12.to_str().unwrap(),
            "-passin",
            &passfile,
            "-nodes",
            "-out",
            pem.to_str().unwrap(),
        ],
    );
    let (ok, out, err) = common::s_client(
        server.host_api_addr(),
        &report.root_ca,
        Some((&pem, &pem)),
        &["-tls1_2", "-brief"],
        b"",
    );
    assert!(ok, "{out}\n{err}");
    server.shutdown().await;
}

#[tokio::test]
async fn refuses_a_directory_that_is_not_a_deployment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("something.txt"), "x").unwrap();
    let err = quickstart::provision_with(&common::options(dir.path()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("neither empty nor a Sigil data directory"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

//! The PKI service on a real deployment: CA containers checked with openssl, certificates from
//! openssl CSRs and from Sigil-generated keys, refusals that change nothing, the
//! setting-gated PKCS#12 export checked with openssl and keytool.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use sigil_domain::{CaName, CertProfile, Change, Settings};
use sigil_keys::KeyAlgorithm;
use sigil_server::service::ServiceError;
use sigil_server::service::pki::{self, IssueArgs, KeySource, NewCaArgs};
use sigil_server::service::{cas, certificates};

fn ca_args(name: &str, parent: Option<&str>) -> NewCaArgs {
    NewCaArgs {
        name: CaName::new(name).unwrap(),
        key_algorithm: KeyAlgorithm::EcdsaP256,
        subject: format!("CN={name},O=Sigil Test"),
        validity_days: 365,
        key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
        parent: parent.map(|p| CaName::new(p).unwrap()),
        path_len: None,
    }
}

fn write_pem(dir: &Path, name: &str, pem: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_and_certificates_verify_with_openssl() {
    let (dir, data, _report) = common::deployment().await;
    let server = sigil_server::start(common::config(&data)).await.unwrap();
    let state = server.state();

    let root = cas::create::perform(state, "admin1", ca_args("test-root", None))
        .await
        .unwrap();
    let inter = cas::create::perform(state, "admin1", ca_args("test-inter", Some("test-root")))
        .await
        .unwrap();
    assert_eq!(inter.parent, Some(root.name.clone()));
    let root_pem = write_pem(
        dir.path(),
        "root.pem",
        &pki::chain_pem(std::slice::from_ref(&root.certificate_der)).unwrap(),
    );
    let inter_pem = write_pem(
        dir.path(),
        "inter.pem",
        &pki::chain_pem(std::slice::from_ref(&inter.certificate_der)).unwrap(),
    );
    let out = common::run_ok(
        "openssl",
        &["verify", "-x509_strict", "-CAfile", &root_pem, &inter_pem],
    );
    assert!(out.contains("OK"), "{out}");
    // The intermediate is also recorded as a certificate of its parent.
    let of_root = certificates::list::perform(state, Some(&root.name))
        .await
        .unwrap();
    assert_eq!(of_root.len(), 1);
    assert_eq!(of_root[0].profile, CertProfile::Ca);

    // A duplicate name is a conflict, an unknown parent not found; nothing is stored.
    let cas_before = cas::list::perform(state).await.unwrap().len();
    assert!(matches!(
        cas::create::perform(state, "admin1", ca_args("test-root", None)).await,
        Err(ServiceError::Conflict(_))
    ));
    assert!(matches!(
        cas::create::perform(state, "admin1", ca_args("orphan", Some("nope"))).await,
        Err(ServiceError::NotFound(_))
    ));
    let mut bad_subject = ca_args("bad-subject", None);
    bad_subject.subject = "/CN=openssl-style".into();
    assert!(matches!(
        cas::create::perform(state, "admin1", bad_subject).await,
        Err(ServiceError::Invalid(_))
    ));
    assert_eq!(cas::list::perform(state).await.unwrap().len(), cas_before);

    // tls-server from an openssl CSR under the intermediate, with the CSR's SANs.
    let key = dir.path().join("web.key");
    let csr = dir.path().join("web.csr");
    common::run_ok(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-subj",
            "/CN=web.example",
            "-addext",
            "subjectAltName=DNS:web.example,IP:10.0.0.7",
            "-out",
            csr.to_str().unwrap(),
        ],
    );
    let issued = certificates::issue::perform(
        state,
        "admin1",
        IssueArgs {
            issuer: inter.name.clone(),
            profile: CertProfile::TlsServer,
            subject: None,
            sans: vec![],
            validity_days: 30,
            key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
            key: KeySource::Csr(std::fs::read(&csr).unwrap()),
        },
    )
    .await
    .unwrap();
    assert_eq!(issued.chain.len(), 3);
    assert!(issued.record.key_id.is_none());
    let leaf = write_pem(dir.path(), "web.pem", &issued.pem().unwrap());
    let out = common::run_ok(
        "openssl",
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            &root_pem,
            "-untrusted",
            &inter_pem,
            &leaf,
        ],
    );
    assert!(out.contains("OK"), "{out}");
    let text = common::run_ok(
        "openssl",
        &["x509", "-in", &leaf, "-noout", "-ext", "subjectAltName"],
    );
    assert!(
        text.contains("DNS:web.example") && text.contains("IP Address:10.0.0.7"),
        "{text}"
    );
    let shown = certificates::show::perform(state, &issued.record.serial)
        .await
        .unwrap();
    assert_eq!(shown.chain, issued.chain);

    // code-signing with a key Sigil generates: sealed, recorded with the certificate.
    let signing = certificates::issue::perform(
        state,
        "admin1",
        IssueArgs {
            issuer: inter.name.clone(),
            profile: CertProfile::CodeSigning,
            subject: Some("CN=Release Signing".into()),
            sans: vec![],
            validity_days: 30,
            key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
            key: KeySource::Generate(pki::parse_key_algorithm("ec-p384").unwrap()),
        },
    )
    .await
    .unwrap();
    let key_id = signing.record.key_id.unwrap();
    let sealed = state.store.get_sealed_key(key_id).await.unwrap().unwrap();
    assert_eq!(sealed.algorithm, "ecdsa-p384");
    let code = write_pem(dir.path(), "code.pem", &signing.pem().unwrap());
    let text = common::run_ok("openssl", &["x509", "-in", &code, "-noout", "-text"]);
    assert!(text.contains("Code Signing"), "{text}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_and_change_nothing() {
    let (dir, data, _report) = common::deployment().await;
    let server = sigil_server::start(common::config(&data)).await.unwrap();
    let state = server.state();
    let root = CaName::new("system-tls-root").unwrap();
    let count = || async {
        certificates::list::perform(state, None)
            .await
            .unwrap()
            .len()
    };
    let before = count().await;
    let args = |key: KeySource| IssueArgs {
        issuer: root.clone(),
        profile: CertProfile::TlsClient,
        subject: None,
        sans: vec![],
        validity_days: 30,
        key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
        key,
    };

    // Garbage, a truncated CSR, a CSR with a broken signature.
    let (_key, csr) = common::openssl_csr(dir.path(), "client");
    for bad in [b"not a csr".to_vec(), csr[..csr.len() / 2].to_vec()] {
        let err = certificates::issue::perform(state, "admin1", args(KeySource::Csr(bad))).await;
        assert!(matches!(err, Err(ServiceError::Invalid(_))), "{err:?}");
    }
    let der_csr = dir.path().join("client.der");
    let pem_csr = dir.path().join("client.csr.pem");
    std::fs::write(&pem_csr, &csr).unwrap();
    common::run_ok(
        "openssl",
        &[
            "req",
            "-in",
            pem_csr.to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            der_csr.to_str().unwrap(),
        ],
    );
    let mut tampered = std::fs::read(&der_csr).unwrap();
    let last = tampered.len() - 3;
    tampered[last] ^= 0x01;
    let err = certificates::issue::perform(state, "admin1", args(KeySource::Csr(tampered))).await;
    assert!(matches!(err, Err(ServiceError::Invalid(_))), "{err:?}");

    // Unknown issuer; a CA profile; a generated key without a subject; Ed25519 for code signing.
    let mut unknown = args(KeySource::Csr(csr.clone()));
    unknown.issuer = CaName::new("nope").unwrap();
    assert!(matches!(
        certificates::issue::perform(state, "admin1", unknown).await,
        Err(ServiceError::NotFound(_))
    ));
    let mut ca = args(KeySource::Csr(csr.clone()));
    ca.profile = CertProfile::Ca;
    assert!(matches!(
        certificates::issue::perform(state, "admin1", ca).await,
        Err(ServiceError::Invalid(_))
    ));
    let no_subject = args(KeySource::Generate(KeyAlgorithm::EcdsaP256));
    let err = certificates::issue::perform(state, "admin1", no_subject)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("subject"), "{err}");
    let mut ed = args(KeySource::Generate(KeyAlgorithm::Ed25519));
    ed.profile = CertProfile::CodeSigning;
    ed.subject = Some("CN=x".into());
    assert!(matches!(
        certificates::issue::perform(state, "admin1", ed).await,
        Err(ServiceError::Invalid(_))
    ));
    // Longer than the issuing CA lives.
    let mut long = args(KeySource::Csr(csr.clone()));
    long.validity_days = 36_500;
    let err = certificates::issue::perform(state, "admin1", long)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("issuing CA"), "{err}");

    assert_eq!(count().await, before);
    assert!(pki::parse_key_algorithm("rsa-1024").is_err());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkcs12_export_needs_the_setting_and_opens_with_openssl_and_keytool() {
    let (dir, data, _report) = common::deployment().await;
    let server = sigil_server::start(common::config(&data)).await.unwrap();
    let state = server.state();
    let issued = certificates::issue::perform(
        state,
        "admin1",
        IssueArgs {
            issuer: CaName::new("system-tls-root").unwrap(),
            profile: CertProfile::TlsClient,
            subject: Some("CN=builder".into()),
            sans: vec![],
            validity_days: 30,
            key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
            key: KeySource::Generate(KeyAlgorithm::EcdsaP256),
        },
    )
    .await
    .unwrap();
    let serial = &issued.record.serial;
    let password = "correct horse battery";

    let audit_before = state.store.audit_head().await.unwrap();
    let err = certificates::export::perform(state, "admin1", serial, password)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("allow_export_with_password"),
        "{err}"
    );
    assert_eq!(err.code(), "NOT_PERMITTED");
    // Nothing exported, and the refused attempt is the one new audit event.
    let after = state.store.audit_head().await.unwrap();
    assert_eq!(after.seq, audit_before.seq + 1);
    let refused = state.store.read_audit(after.seq, 1).await.unwrap();
    assert_eq!(refused[0].action, "certificate.export-key");
    assert_eq!(refused[0].outcome, "failure");

    let settings = Settings {
        allow_export_with_password: true,
        ..Settings::default()
    };
    state
        .store
        .commit(
            vec![Change::PutSettings(settings)],
            sigil_domain::AuditDraft::new(
                state.now(),
                "settings.update",
                sigil_domain::Outcome::Success,
            ),
        )
        .await
        .unwrap();
    let short = certificates::export::perform(state, "admin1", serial, "short").await;
    assert!(matches!(short, Err(ServiceError::Invalid(_))), "{short:?}");
    let file = certificates::export::perform(state, "admin1", serial, password)
        .await
        .unwrap();
    let p12 = dir.path().join("builder.p12");
    std::fs::write(&p12, &*file).unwrap();
    let p12 = p12.to_str().unwrap();
    let info = common::run_ok(
        "openssl",
        &[
            "pkcs12",
            "-in",
            p12,
            "-passin",
            &format!("pass:{password}"),
            "-nodes",
        ],
    );
    assert!(
        info.contains("BEGIN PRIVATE KEY") && info.contains("CN = builder"),
        "{info}"
    );
    assert!(
        !common::run(
            "openssl",
            &[
                "pkcs12",
                "-in",
                p12,
                "-passin",
                "pass:wrong password!",
                "-nodes"
            ]
        )
        .status
        .success()
    );
    let list = common::run_ok(
        "keytool",
        &[
            "-list",
            "-storetype",
            "PKCS12",
            "-keystore",
            p12,
            "-storepass",
            password,
        ],
    );
    assert!(list.contains("PrivateKeyEntry"), "{list}");

    // A certificate from a CSR has no key in Sigil: nothing to export.
    let (_key, csr) = common::openssl_csr(dir.path(), "csr-client");
    let from_csr = certificates::issue::perform(
        state,
        "admin1",
        IssueArgs {
            issuer: CaName::new("system-tls-root").unwrap(),
            profile: CertProfile::TlsClient,
            subject: None,
            sans: vec![],
            validity_days: 30,
            key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
            key: KeySource::Csr(csr),
        },
    )
    .await
    .unwrap();
    let err =
        certificates::export::perform(state, "admin1", &from_csr.record.serial, password).await;
    assert!(matches!(err, Err(ServiceError::Invalid(_))), "{err:?}");
    server.shutdown().await;
}

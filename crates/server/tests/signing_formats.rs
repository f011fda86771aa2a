//! Authenticode (`RAUZ`/`RAGZ`) and JAR (`RAUJ`/`RAGJ`) signing through the real server, the
//! way the client does it: the digest is computed here, only the digest crosses the wire, the
//! server's PKCS#7 is embedded here, and independent verifiers judge the result —
//! `osslsigncode verify` for PE files, `jarsigner -verify -strict` for JARs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use sigil_authenticode::{EmbedMode, embed_signature, image_digest_file};
use sigil_jar::{SignOptions, SignatureBlockKind, SignerName};
use sigil_proto::{
    AuthenticodeUpload, ErrorCode, HashAlgorithm, JarUpload, Outcome as Wire, Request, Response,
};
use sigil_server::service::authorize::Caller;
use sigil_server::service::requests;
use sigil_testkit::hostapi::*;
use sigil_testkit::jarsigner::jarsigner_verify;
use sigil_testkit::osslsigncode_verify;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(name)
}

fn authenticode_upload(policy: &str, hash: HashAlgorithm, digest: &[u8]) -> Request {
    Request::UploadAuthenticode(AuthenticodeUpload {
        upload: upload(policy, hash, digest),
        program_name: Some("Sigil test program".into()),
        program_url: Some("https://example.com/sigil".into()),
        subject: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticode_through_the_server_verifies_with_osslsigncode() {
    let world = world().await;
    let dir = world.dir.path();
    let mut c = world.logged_in("jenkins").await;

    let cases = [
        ("tiny64.exe", "rsa-pkcs1", sigil_keys::HashAlgorithm::Sha256),
        ("tiny32.exe", "rsa-pkcs1", sigil_keys::HashAlgorithm::Sha384),
        ("tiny64.exe", "ec", sigil_keys::HashAlgorithm::Sha384),
        ("tiny32.exe", "ec", sigil_keys::HashAlgorithm::Sha256),
    ];
    for (i, (fixture, policy, hash)) in cases.into_iter().enumerate() {
        let input = dir.join(format!("in-{i}-{fixture}"));
        std::fs::copy(testdata(&format!("pe/{fixture}")), &input).unwrap();
        let digest = image_digest_file(&input, hash).unwrap().digest;
        let response = c.call(authenticode_upload(policy, hash, &digest)).await;
        assert!(
            matches!(response, Response::UploadAuthenticode(_)),
            "{response:?}"
        );
        let pkcs7 = signature(&response);
        let output = dir.join(format!("signed-{i}-{fixture}"));
        embed_signature(&input, &output, &pkcs7, EmbedMode::Replace).unwrap();
        let text = osslsigncode_verify(&output, &world.root).assert_verified();
        assert!(text.contains("Sigil test program"), "{text}");

        // RAGZ gives the same; RAGO and RAGJ do not know the request.
        let id = status(&response).id.clone();
        let again = c
            .call(Request::RetrieveAuthenticode { id: id.clone() })
            .await;
        assert_eq!(signature(&again), pkcs7);
        assert_code(
            &c.call(Request::RetrieveHash { id: id.clone() }).await,
            ErrorCode::RequestNotFound,
        );
        assert_code(
            &c.call(Request::RetrieveJar { id }).await,
            ErrorCode::RequestNotFound,
        );
    }

    // With approvals: pending, approved by two, then RAGZ yields a signature that verifies.
    let input = dir.join("approved.exe");
    std::fs::copy(testdata("pe/tiny64.exe"), &input).unwrap();
    let digest = image_digest_file(&input, sigil_keys::HashAlgorithm::Sha256)
        .unwrap()
        .digest;
    let response = c
        .call(authenticode_upload("two", HashAlgorithm::Sha256, &digest))
        .await;
    let pending = status(&response).clone();
    assert_eq!(pending.outcome, Wire::Pending);
    let state = world.state();
    for who in ["alice", "bob"] {
        let session = approver(&state, who).await;
        requests::approve(&state, &Caller::new(&session), domain_id(&pending.id), "ok")
            .await
            .unwrap();
    }
    let done = c
        .call(Request::RetrieveAuthenticode { id: pending.id })
        .await;
    let output = dir.join("approved-signed.exe");
    embed_signature(&input, &output, &signature(&done), EmbedMode::Replace).unwrap();
    osslsigncode_verify(&output, &world.root).assert_verified();

    // A policy without the Authenticode format refuses it.
    assert_code(
        &c.call(authenticode_upload(
            "rsa-pss",
            HashAlgorithm::Sha256,
            &digest,
        ))
        .await,
        ErrorCode::FormatNotAllowed,
    );
}

/// `AK` travels from the upload through the stored request (also when it waits for approvals)
/// to the signed `SpcIndirectDataContent`, and into the `request.create` audit event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authenticode_subject_reaches_the_signed_content() {
    use sigil_authenticode::{AuthenticodeContent, Subject};
    use sigil_proto::AuthenticodeSubject as WireSubject;
    let world = world().await;
    let mut c = world.logged_in("jenkins").await;
    let upload = |policy: &str, subject: Option<WireSubject>, digest: &[u8]| {
        Request::UploadAuthenticode(AuthenticodeUpload {
            upload: upload(policy, HashAlgorithm::Sha256, digest),
            program_name: None,
            program_url: None,
            subject,
        })
    };
    let contains =
        |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    for (wire, subject) in [
        (None, Subject::Pe),
        (Some(WireSubject::Pe), Subject::Pe),
        (Some(WireSubject::Msi), Subject::Msi),
        (Some(WireSubject::Cab), Subject::Cab),
        (Some(WireSubject::Script), Subject::Script),
    ] {
        let digest = [subject as u8 + 1; 32];
        let content =
            AuthenticodeContent::for_subject(subject, sigil_keys::HashAlgorithm::Sha256, &digest)
                .unwrap();
        let response = c.call(upload("rsa-pkcs1", wire, &digest)).await;
        assert!(
            contains(&signature(&response), content.econtent_der()),
            "{subject}: the signature does not hold the subject's content"
        );
    }

    // Through the store: pending, approved, signed as an MSI.
    let digest = [0x42; 32];
    let response = c.call(upload("two", Some(WireSubject::Msi), &digest)).await;
    let pending = status(&response).clone();
    assert_eq!(pending.outcome, Wire::Pending);
    let state = world.state();
    for who in ["alice", "bob"] {
        let session = approver(&state, who).await;
        requests::approve(&state, &Caller::new(&session), domain_id(&pending.id), "ok")
            .await
            .unwrap();
    }
    let done = c
        .call(Request::RetrieveAuthenticode {
            id: pending.id.clone(),
        })
        .await;
    let msi =
        AuthenticodeContent::for_subject(Subject::Msi, sigil_keys::HashAlgorithm::Sha256, &digest)
            .unwrap();
    assert!(contains(&signature(&done), msi.econtent_der()));
    let events = state.store.read_audit(0, 1000).await.unwrap();
    let created = events
        .iter()
        .find(|e| e.object.as_deref() == Some(pending.id.as_str()) && e.action == "request.create")
        .unwrap();
    assert_eq!(
        created.details.get("subject").map(String::as_str),
        Some("msi")
    );

    // A catalog: a detached SignedData over the trust list's digest (content type
    // szOID_CTL), which the client completes with the trust list.
    let response = c
        .call(upload("rsa-pkcs1", Some(WireSubject::Catalog), &digest))
        .await;
    let catalog = signature(&response);
    let signed_data = sigil_pki::cms::decode_signed_data(&catalog).unwrap();
    assert_eq!(
        signed_data.encap_content_info.econtent_type,
        sigil_authenticode::catalog::MS_CTL_OBJID
    );
    assert!(signed_data.encap_content_info.econtent.is_none());
    assert!(contains(&catalog, &digest));
}

/// A small JAR made by the JDK's `jar` tool.
fn jdk_jar(dir: &Path) -> PathBuf {
    let content = dir.join("jar-content");
    std::fs::create_dir_all(content.join("com/example")).unwrap();
    std::fs::write(content.join("com/example/readme.txt"), "hello from sigil\n").unwrap();
    std::fs::write(content.join("data.bin"), vec![7u8; 10_000]).unwrap();
    let jar = dir.join("app.jar");
    let out = Command::new("jar")
        .arg("cf")
        .arg(&jar)
        .arg("-C")
        .arg(&content)
        .arg(".")
        .output()
        .expect("the JDK's jar tool must be installed");
    assert!(out.status.success(), "{out:?}");
    jar
}

/// A PKCS#12 truststore holding `root`, as `keytool -importcert` makes it.
fn truststore(dir: &Path, root: &Path) -> PathBuf {
    let store = dir.join("truststore.p12");
    common::run_ok(
        "keytool",
        &[
            "-importcert",
            "-noprompt",
            "-storetype",
            "PKCS12",
            "-alias",
            "sigil-root",
            "-file",
            root.to_str().unwrap(),
            "-keystore",
            store.to_str().unwrap(),
            "-storepass",
            "changeit",
        ],
    );
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jar_through_the_server_verifies_with_jarsigner() {
    let world = world().await;
    let dir = world.dir.path();
    let mut c = world.logged_in("jenkins").await;
    let jar = jdk_jar(dir);
    let store = truststore(dir, &world.root);

    let cases = [
        ("rsa-pkcs1", HashAlgorithm::Sha256, SignatureBlockKind::Rsa),
        ("rsa-pkcs1", HashAlgorithm::Sha512, SignatureBlockKind::Rsa),
        ("ec", HashAlgorithm::Sha384, SignatureBlockKind::Ec),
    ];
    for (i, (policy, hash, kind)) in cases.into_iter().enumerate() {
        let signer = SignerName::new("SIGIL").unwrap();
        let prepared = sigil_jar::prepare(&jar, &SignOptions::new(signer, hash)).unwrap();
        let response = c
            .call(Request::UploadJar(JarUpload {
                upload: upload(policy, hash, &prepared.signature_file_digest()),
                entry_count: Some(2),
                signer_name: Some("SIGIL".into()),
            }))
            .await;
        assert!(matches!(response, Response::UploadJar(_)), "{response:?}");
        let block = signature(&response);
        let again = c
            .call(Request::RetrieveJar {
                id: status(&response).id.clone(),
            })
            .await;
        assert_eq!(signature(&again), block);

        let signed = dir.join(format!("signed-{i}.jar"));
        prepared.write_signed(&jar, &block, kind, &signed).unwrap();
        let out = jarsigner_verify(&signed, &store);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "jarsigner -verify failed:\n{text}");
        assert!(text.contains("jar verified."), "{text}");
        assert!(!text.contains("unsigned entries"), "{text}");
    }

    // A signer name over the metadata limit is refused before anything is stored.
    let prepared = sigil_jar::prepare(
        &jar,
        &SignOptions::new(SignerName::new("SIGIL").unwrap(), HashAlgorithm::Sha256),
    )
    .unwrap();
    let response = c
        .call(Request::UploadJar(JarUpload {
            upload: upload(
                "ec",
                HashAlgorithm::Sha256,
                &prepared.signature_file_digest(),
            ),
            entry_count: Some(2),
            signer_name: Some("MUCH-TOO-LONG".into()),
        }))
        .await;
    assert_code(&response, ErrorCode::MetadataTooLarge);
}

//! HSM-held keys through the real server, with Debian's SoftHSM2 as the HSM: a CA and
//! code-signing keys generated on the token (key backend `hsm1`), hash, Authenticode and JAR
//! signatures judged by `openssl`, `osslsigncode verify` and `jarsigner -verify -strict`;
//! `pkcs11-tool` shows the keys sensitive and not extractable and cannot read them; no key
//! bytes in the database; a restart reopens the keys; a wrong PIN stops the start-up; PKCS#12
//! export is refused whatever the setting; the keys vanishing from the token under a signing
//! load fail requests cleanly while the server keeps serving.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` once per process and the workspace forbids `unsafe`
//! (`set_var`), so each test re-runs itself in a child process with its own token directory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use sigil_authenticode::{EmbedMode, embed_signature, image_digest_file};
use sigil_domain::{
    CaName, CertProfile, HashAlgorithm as DomainHash, KeyLocation, PolicyAlias, RsaScheme,
    SigningFormat,
};
use sigil_jar::{SignOptions, SignatureBlockKind, SignerName};
use sigil_keys::KeyAlgorithm;
use sigil_proto::{AuthenticodeUpload, HashAlgorithm, JarUpload, Request};
use sigil_server::service::pki::{IssueArgs, KeySource, NewCaArgs};
use sigil_server::service::{cas, certificates};
use sigil_testkit::hostapi::*;
use sigil_testkit::osslsigncode_verify;

use sigil_testkit::softhsm::{MODULE, Token, in_softhsm, softhsm_dir};

const TOKEN: &str = "sigil-test";
const PIN: &str = "hsm-user-pin-1";
const HSM_TOKEN: Token<'static> = Token {
    label: TOKEN,
    pin: PIN,
    so_pin: "so-pin-9",
};

fn hsm_section(pin_file: &Path) -> String {
    format!(
        "\n[[hsm]]\nname = \"hsm1\"\nmodule = \"{MODULE}\"\ntoken_label = \"{TOKEN}\"\n\
         pin_file = \"{}\"\nsessions = 4\n",
        pin_file.display()
    )
}

/// The test deployment plus `[[hsm]] hsm1` in its sigil.toml, an HSM-held CA `hsm-ca` and
/// HSM-held code-signing certificates with policies `hsm-rsa` (RSA-3072) and `hsm-ec`
/// (P-256), each also as `…-pss` (PSS for RSA).
async fn hsm_world() -> World {
    let pin_file = softhsm_dir().join("pin");
    let mut world = world().await;
    let toml = world.data.join("sigil.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(&hsm_section(&pin_file));
    std::fs::write(&toml, text).unwrap();
    world.restart().await;
    let state = world.state();
    cas::create::perform(
        &state,
        "test",
        NewCaArgs {
            name: CaName::new("hsm-ca").unwrap(),
            key_algorithm: KeyAlgorithm::EcdsaP384,
            subject: "CN=HSM Code Signing CA".into(),
            validity_days: 365,
            key_backend: "hsm1".into(),
            parent: Some(CaName::new("system-tls-root").unwrap()),
            path_len: Some(0),
        },
    )
    .await
    .unwrap();
    let mut changes = Vec::new();
    for (alias, cn, algorithm) in [
        ("hsm-rsa", "HSM RSA signer", KeyAlgorithm::Rsa3072),
        ("hsm-ec", "HSM EC signer", KeyAlgorithm::EcdsaP256),
    ] {
        let issued = certificates::issue::perform(
            &state,
            "test",
            IssueArgs {
                issuer: CaName::new("hsm-ca").unwrap(),
                profile: CertProfile::CodeSigning,
                subject: Some(format!("CN={cn}")),
                sans: vec![],
                validity_days: 30,
                key_backend: "hsm1".into(),
                key: KeySource::Generate(algorithm),
            },
        )
        .await
        .unwrap();
        let cert = (issued.record.serial, issued.record.key_id.unwrap());
        use DomainHash::{Sha256, Sha384};
        use SigningFormat::{Authenticode, Hash, Jar};
        changes.push(policy(
            alias,
            &cert,
            RsaScheme::Pkcs1v15,
            0,
            &[Sha256, Sha384],
            &[Hash, Authenticode, Jar],
            &["application"],
        ));
        changes.push(policy(
            &format!("{alias}-pss"),
            &cert,
            RsaScheme::Pss,
            0,
            &[Sha256],
            &[Hash],
            &["application"],
        ));
    }
    commit(&state, changes).await;
    world
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(name)
}

/// The policy's certificate (DER file).
async fn policy_certificate(world: &World, alias: &str) -> PathBuf {
    let state = world.state();
    let policy = state
        .store
        .get_policy(&PolicyAlias::new(alias).unwrap())
        .await
        .unwrap()
        .unwrap();
    let record = state
        .store
        .get_certificate(&policy.draft().certificate)
        .await
        .unwrap()
        .unwrap();
    let path = world.dir.path().join(format!("{alias}.der"));
    std::fs::write(&path, &record.der).unwrap();
    path
}

/// `openssl pkeyutl -verify` of a raw signature over a SHA-256 digest.
fn openssl_verify_digest(dir: &Path, cert_der: &Path, pss: bool, digest: &[u8], signature: &[u8]) {
    let digest_file = dir.join("digest.bin");
    let sig_file = dir.join("sig.bin");
    let pubkey = dir.join("pub.pem");
    std::fs::write(&digest_file, digest).unwrap();
    std::fs::write(&sig_file, signature).unwrap();
    common::run_ok(
        "openssl",
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            cert_der.to_str().unwrap(),
            "-pubkey",
            "-noout",
            "-out",
            pubkey.to_str().unwrap(),
        ],
    );
    let mut args = vec![
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        pubkey.to_str().unwrap(),
        "-in",
        digest_file.to_str().unwrap(),
        "-sigfile",
        sig_file.to_str().unwrap(),
        "-pkeyopt",
        "digest:sha256",
    ];
    if pss {
        args.extend([
            "-pkeyopt",
            "rsa_padding_mode:pss",
            "-pkeyopt",
            "rsa_pss_saltlen:digest",
        ]);
    }
    let out = common::run_ok("openssl", &args);
    assert!(out.contains("Signature Verified Successfully"), "{out}");
}

fn jdk_jar(dir: &Path) -> PathBuf {
    let content = dir.join("jar-content");
    std::fs::create_dir_all(content.join("com/example")).unwrap();
    std::fs::write(
        content.join("com/example/readme.txt"),
        "hello from an HSM\n",
    )
    .unwrap();
    let jar = dir.join("app.jar");
    common::run_ok(
        "jar",
        &[
            "cf",
            jar.to_str().unwrap(),
            "-C",
            content.to_str().unwrap(),
            ".",
        ],
    );
    jar
}

fn jarsigner_verify(dir: &Path, jar: &Path, root: &Path) {
    let store = dir.join("truststore.p12");
    if !store.exists() {
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
    }
    let out = sigil_testkit::jarsigner::jarsigner_verify(jar, &store);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "jarsigner -verify failed:\n{text}");
    assert!(text.contains("jar verified."), "{text}");
}

/// Signs a hash (PKCS#1 v1.5 / ECDSA, and PSS), an Authenticode PE and a JAR with each HSM
/// policy; every result verifies.
async fn sign_everything(world: &World, tag: &str) {
    let dir = world.dir.path();
    let mut c = world.logged_in("jenkins").await;
    for (alias, kind) in [
        ("hsm-rsa", SignatureBlockKind::Rsa),
        ("hsm-ec", SignatureBlockKind::Ec),
    ] {
        let cert = policy_certificate(world, alias).await;
        for (policy, pss) in [
            (alias.to_owned(), false),
            (format!("{alias}-pss"), alias == "hsm-rsa"),
        ] {
            let digest =
                sigil_keys::HashAlgorithm::Sha256.digest(format!("{tag}{policy}").as_bytes());
            let response = c
                .call(Request::UploadHash(upload(
                    &policy,
                    HashAlgorithm::Sha256,
                    &digest,
                )))
                .await;
            openssl_verify_digest(dir, &cert, pss, &digest, &signature(&response));
        }

        let input = dir.join(format!("{tag}-{alias}.exe"));
        std::fs::copy(testdata("pe/tiny64.exe"), &input).unwrap();
        let digest = image_digest_file(&input, sigil_keys::HashAlgorithm::Sha256)
            .unwrap()
            .digest;
        let response = c
            .call(Request::UploadAuthenticode(AuthenticodeUpload {
                upload: upload(alias, HashAlgorithm::Sha256, &digest),
                program_name: Some("HSM-signed".into()),
                program_url: None,
                subject: None,
            }))
            .await;
        let signed = dir.join(format!("{tag}-{alias}-signed.exe"));
        embed_signature(&input, &signed, &signature(&response), EmbedMode::Replace).unwrap();
        osslsigncode_verify(&signed, &world.root).assert_verified();

        let jar = jdk_jar(dir);
        let prepared = sigil_jar::prepare(
            &jar,
            &SignOptions::new(SignerName::new("SIGIL").unwrap(), HashAlgorithm::Sha384),
        )
        .unwrap();
        let response = c
            .call(Request::UploadJar(JarUpload {
                upload: upload(
                    alias,
                    HashAlgorithm::Sha384,
                    &prepared.signature_file_digest(),
                ),
                entry_count: Some(1),
                signer_name: Some("SIGIL".into()),
            }))
            .await;
        let signed_jar = dir.join(format!("{tag}-{alias}-signed.jar"));
        prepared
            .write_signed(&jar, &signature(&response), kind, &signed_jar)
            .unwrap();
        jarsigner_verify(dir, &signed_jar, &world.root);
    }
}

/// Asks the token (a session of its own) for the private values of each key: every one is
/// reported sensitive, and the key is marked always sensitive and never extractable.
fn private_values_are_refused(ids: &[String]) {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass};
    use cryptoki::session::UserType;
    let context = Pkcs11::new(MODULE).unwrap();
    // The server of this process initialised the module already; that is fine.
    let _ = context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = context
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| context.get_token_info(*s).unwrap().label().trim_end() == TOKEN)
        .unwrap();
    let session = context.open_ro_session(slot).unwrap();
    let _ = session.login(UserType::User, Some(&PIN.to_owned().into()));
    for id in ids {
        let handle = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Id(hex::decode(id).unwrap()),
            ])
            .unwrap()[0];
        let secret = [
            AttributeType::Value,
            AttributeType::PrivateExponent,
            AttributeType::Prime1,
        ];
        for (kind, info) in secret
            .iter()
            .zip(session.get_attribute_info(handle, &secret).unwrap())
        {
            assert!(
                matches!(info, AttributeInfo::Sensitive | AttributeInfo::TypeInvalid),
                "{kind:?} of key {id}: {info:?}"
            );
        }
        let flags = session
            .get_attributes(
                handle,
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                    AttributeType::Token,
                ],
            )
            .unwrap();
        for expected in [
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::AlwaysSensitive(true),
            Attribute::NeverExtractable(true),
            Attribute::Token(true),
        ] {
            assert!(flags.contains(&expected), "key {id}: {flags:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsm_keys_sign_verifiably_stay_on_the_token_and_survive_a_restart() {
    if !in_softhsm(
        "hsm_keys_sign_verifiably_stay_on_the_token_and_survive_a_restart",
        Some(HSM_TOKEN),
    ) {
        return;
    }
    let mut world = hsm_world().await;
    sign_everything(&world, "first").await;

    // The records name hsm1 and hold no key bytes; the database's HSM rows have an empty
    // `sealed` column.
    let state = world.state();
    let mut hsm_ids = Vec::new();
    for record in state.store.list_sealed_keys().await.unwrap() {
        if let KeyLocation::Hsm {
            hsm,
            object_id,
            label,
        } = &record.location
        {
            assert_eq!(hsm, "hsm1");
            assert_eq!(label, &format!("sigil-{}", record.id));
            hsm_ids.push(hex::encode(object_id));
        }
    }
    assert_eq!(hsm_ids.len(), 3, "the CA key and two code-signing keys");
    drop(state);
    let db = world.data.join("sigil.db");
    let rows = common::run_ok(
        "sqlite3",
        &[
            db.to_str().unwrap(),
            "SELECT backend, length(sealed), hex(hsm_object_id) FROM sealed_keys \
             WHERE backend <> 'software'",
        ],
    );
    assert_eq!(rows.lines().count(), 3, "{rows}");
    for line in rows.lines() {
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields[0], "hsm1");
        assert_eq!(
            fields[1], "0",
            "an HSM key row holds no sealed bytes: {line}"
        );
        assert!(hsm_ids.contains(&fields[2].to_lowercase()), "{line}");
    }

    // pkcs11-tool (OpenSC) sees the private keys as sensitive and never extractable, and
    // cannot read their value.
    let pkcs11_tool = |extra: &[&str]| {
        let mut args = vec![
            "--module",
            MODULE,
            "--token-label",
            TOKEN,
            "--login",
            "--pin",
            PIN,
        ];
        args.extend_from_slice(extra);
        common::run("pkcs11-tool", &args)
    };
    let listing = pkcs11_tool(&["--list-objects", "--type", "privkey"]);
    assert!(listing.status.success(), "{listing:?}");
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    for id in &hsm_ids {
        let block = listing
            .split("Private Key Object")
            .find(|b| b.to_lowercase().contains(id))
            .unwrap_or_else(|| panic!("key {id} not listed:\n{listing}"));
        assert!(block.contains("sensitive"), "{block}");
        assert!(block.contains("never extractable"), "{block}");
        // It signs and nothing else (no decrypt, no unwrap).
        let usage = block.lines().find(|l| l.contains("Usage:"));
        assert_eq!(usage.map(str::trim), Some("Usage:      sign"), "{block}");
        // pkcs11-tool does not even try to read a private key's value ("not (yet)
        // supported") and prints nothing.
        let read = pkcs11_tool(&["--read-object", "--type", "privkey", "--id", id]);
        assert!(read.stdout.is_empty(), "{read:?}");
    }
    // Asked directly (C_GetAttributeValue), the token refuses every private component.
    private_values_are_refused(&hsm_ids);

    // A restart opens the same keys from their records.
    world.restart().await;
    sign_everything(&world, "after-restart").await;

    // A wrong PIN stops the start-up, naming the HSM and what to do.
    world.server.take().unwrap().shutdown().await;
    std::fs::write(softhsm_dir().join("pin"), "not-the-pin\n").unwrap();
    let error = sigil_server::start(config(&world.data))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("HSM \"hsm1\""), "{error}");
    assert!(error.contains("refused the user PIN"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsm_key_export_is_refused_whatever_the_setting() {
    if !in_softhsm(
        "hsm_key_export_is_refused_whatever_the_setting",
        Some(HSM_TOKEN),
    ) {
        return;
    }
    let world = hsm_world().await;
    let state = world.state();
    let mut settings = state.store.settings().await.unwrap();
    settings.allow_export_with_password = true;
    commit(&state, vec![sigil_domain::Change::PutSettings(settings)]).await;
    let policy = state
        .store
        .get_policy(&PolicyAlias::new("hsm-ec").unwrap())
        .await
        .unwrap()
        .unwrap();
    let error = certificates::export::perform(
        &state,
        "test",
        &policy.draft().certificate,
        "a long export password",
    )
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(error.contains("held in HSM \"hsm1\""), "{error}");
    assert!(error.contains("cannot be exported"), "{error}");
    // Under the same setting a software key still exports.
    let software = state
        .store
        .get_policy(&PolicyAlias::new("ec").unwrap())
        .await
        .unwrap()
        .unwrap();
    certificates::export::perform(
        &state,
        "test",
        &software.draft().certificate,
        "a long export password",
    )
    .await
    .unwrap();
}

/// What one load client saw.
#[derive(Default, Debug)]
struct Tally {
    signed: usize,
    failed: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsm_keys_vanishing_under_load_fail_requests_cleanly_and_the_server_keeps_serving() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    if !in_softhsm(
        "hsm_keys_vanishing_under_load_fail_requests_cleanly_and_the_server_keeps_serving",
        Some(HSM_TOKEN),
    ) {
        return;
    }
    let world = hsm_world().await;
    let state = world.state();
    let mut spki = std::collections::HashMap::new();
    for alias in ["hsm-ec", "hsm-rsa"] {
        let policy = state
            .store
            .get_policy(&PolicyAlias::new(alias).unwrap())
            .await
            .unwrap()
            .unwrap();
        let key = state
            .store
            .get_sealed_key(policy.draft().key_id)
            .await
            .unwrap()
            .unwrap();
        spki.insert(alias, key.public_key_der);
    }
    let spki = Arc::new(spki);

    // Four clients sign in a loop (P-256 and RSA-3072 in turn) until told to stop; every
    // answer is either a signature that verifies or a clean SIGNING_FAILED refusal.
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicUsize::new(0));
    let tallies: Vec<Arc<Mutex<Tally>>> = (0..4).map(|_| Arc::default()).collect();
    let mut tasks = Vec::new();
    for (n, tally) in tallies.iter().enumerate() {
        let mut c = world.logged_in("jenkins").await;
        let (stop, requests, tally, spki) =
            (stop.clone(), requests.clone(), tally.clone(), spki.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let alias = if i.is_multiple_of(2) {
                    "hsm-ec"
                } else {
                    "hsm-rsa"
                };
                let digest =
                    sigil_keys::HashAlgorithm::Sha256.digest(format!("{n}/{i}").as_bytes());
                let response = c
                    .call(Request::UploadHash(upload(
                        alias,
                        HashAlgorithm::Sha256,
                        &digest,
                    )))
                    .await;
                requests.fetch_add(1, Ordering::Relaxed);
                match &response {
                    sigil_proto::Response::Failure(f) => {
                        assert_eq!(f.code, sigil_proto::ErrorCode::SigningFailed, "{f:?}");
                        tally.lock().unwrap().failed.push(f.message.clone());
                    }
                    _ => {
                        sigil_keys::verify_digest(
                            &spki[alias],
                            sigil_keys::HashAlgorithm::Sha256,
                            sigil_keys::RsaPadding::Pkcs1v15,
                            &digest,
                            &signature(&response),
                        )
                        .unwrap();
                        tally.lock().unwrap().signed += 1;
                    }
                }
            }
        }));
    }
    let total = |f: &dyn Fn(&Tally) -> usize| -> usize {
        tallies.iter().map(|t| f(&t.lock().unwrap())).sum()
    };
    let wait_for = |what: &'static str, done: &dyn Fn() -> bool| {
        // Pacing only: the loop ends on what the clients saw, never on a clock.
        let mut rounds = 0u32;
        while !done() {
            std::thread::sleep(std::time::Duration::from_millis(20));
            rounds += 1;
            if rounds.is_multiple_of(250) {
                eprintln!(
                    "waiting for {what}: {} requests, {} signed, {} failed",
                    requests.load(Ordering::Relaxed),
                    total(&|t| t.signed),
                    total(&|t| t.failed.len())
                );
            }
            assert!(rounds < 50_000, "waited too long for {what}");
        }
    };
    wait_for("signatures before the fault", &|| total(&|t| t.signed) >= 8);

    // From outside the server: the key objects' files disappear from the token's directory
    // (the token itself stays), then come back. (SoftHSM2 does not re-attach a token whose
    // whole directory vanished until the module is loaded again; see docs/hsm.md.)
    let tokens = softhsm_dir().join("tokens");
    let token = std::fs::read_dir(&tokens)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let away = softhsm_dir().join("objects-away");
    std::fs::create_dir(&away).unwrap();
    let objects: Vec<PathBuf> = std::fs::read_dir(&token)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "object")
                && p.file_name().is_some_and(|n| n != "token.object")
        })
        .collect();
    assert!(objects.len() >= 6, "{objects:?}");
    for object in &objects {
        std::fs::rename(object, away.join(object.file_name().unwrap())).unwrap();
    }
    let before = requests.load(Ordering::Relaxed);
    wait_for("failures while the keys are gone", &|| {
        total(&|t| t.failed.len()) >= 4 || requests.load(Ordering::Relaxed) >= before + 400
    });
    // Meanwhile the server serves software keys as usual.
    {
        let mut c = world.logged_in("jenkins").await;
        let digest = sigil_keys::HashAlgorithm::Sha256.digest(b"software during the outage");
        let response = c
            .call(Request::UploadHash(upload(
                "ec",
                HashAlgorithm::Sha256,
                &digest,
            )))
            .await;
        signature(&response);
    }
    for object in &objects {
        std::fs::rename(away.join(object.file_name().unwrap()), object).unwrap();
    }
    let failed_during = total(&|t| t.failed.len());
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }

    assert!(
        failed_during >= 1,
        "no request failed while the keys were away: the fault did not bite"
    );
    for tally in &tallies {
        for message in &tally.lock().unwrap().failed {
            assert!(message.contains("backend \"hsm1\" failed"), "{message}");
            assert!(message.contains("after reopening the session"), "{message}");
            assert!(!message.contains("panic"), "{message}");
        }
    }
    // The audit chain, failures included, verifies.
    let mut events = Vec::new();
    loop {
        let page = state
            .store
            .read_audit(events.len() as u64 + 1, 1000)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    let head = state.store.audit_head().await.unwrap();
    sigil_domain::verify_chain(sigil_domain::ChainHead::GENESIS, &events, Some(&head)).unwrap();
    let failures = events
        .iter()
        .filter(|e| e.outcome == sigil_domain::Outcome::Failure.as_str())
        .count();
    assert!(failures >= failed_during, "{failures} < {failed_during}");
    eprintln!(
        "fault test: {} requests, {failed_during} failed while the token was away, {} signed",
        requests.load(Ordering::Relaxed),
        total(&|t| t.signed)
    );
}

//! The public-CA recipe with the key in an HSM (SoftHSM2), through the real server: a key
//! generated on the token, a CSR signed by it, an independent CA made with plain `openssl`
//! issues the certificate, the chain is imported, an Authenticode signature made on the token
//! verifies with `osslsigncode verify -CAfile` against that CA's root. And a key made by
//! `openssl`, imported from PKCS#12 into the token: its signatures verify with the original
//! certificate, and it is never exported again.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` once per process (and the workspace forbids `unsafe`
//! `set_var`): the test re-runs itself in a child process with its own token (as `hsm.rs`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::Command;

use sigil_authenticode::{EmbedMode, embed_signature, image_digest_file};
use sigil_domain::{
    CertProfile, HashAlgorithm as DomainHash, KeyLocation, RsaScheme, SigningFormat,
};
use sigil_keys::KeyAlgorithm;
use sigil_proto::{AuthenticodeUpload, HashAlgorithm, Request};
use sigil_server::service::certificates;
use sigil_server::service::keys::{self, NewKeyArgs};
use sigil_testkit::hostapi::*;
use zeroize::Zeroizing;

use sigil_testkit::softhsm::{MODULE, Token, in_softhsm, softhsm_dir};

const TOKEN: &str = "sigil-external";
const PIN: &str = "hsm-user-pin-2";
const HSM_TOKEN: Token<'static> = Token {
    label: TOKEN,
    pin: PIN,
    so_pin: "so-pin-7",
};

fn run_ok_env(program: &str, args: &[&str], conf: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .env("SOFTHSM2_CONF", conf)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

fn run_ok(program: &str, args: &[&str]) -> String {
    let conf = std::env::var_os("SOFTHSM2_CONF").unwrap();
    run_ok_env(program, args, Path::new(&conf))
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsm_key_csr_external_ca_chain_and_pkcs12_import_sign_verifiably() {
    if !in_softhsm(
        "hsm_key_csr_external_ca_chain_and_pkcs12_import_sign_verifiably",
        Some(HSM_TOKEN),
    ) {
        return;
    }
    let mut world = world().await;
    let toml = world.data.join("sigil.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(&format!(
        "\n[[hsm]]\nname = \"hsm1\"\nmodule = \"{MODULE}\"\ntoken_label = \"{TOKEN}\"\n\
         pin_file = \"{}\"\nsessions = 2\n",
        softhsm_dir().join("pin").display()
    ));
    std::fs::write(&toml, text).unwrap();
    world.restart().await;
    let state = world.state();
    let dir = world.dir.path().to_owned();

    // An independent CA, plain openssl.
    let (root, root_key) = (dir.join("ext-root.pem"), dir.join("ext-root.key"));
    run_ok(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:3072",
            "-nodes",
            "-keyout",
            p(&root_key),
            "-out",
            p(&root),
            "-subj",
            "/CN=Independent HSM Test Root",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let ext = dir.join("ext.cnf");
    std::fs::write(
        &ext,
        "[codesign]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    )
    .unwrap();
    let sign_csr = |csr: &Path, out: &Path| {
        run_ok(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                p(csr),
                "-CA",
                p(&root),
                "-CAkey",
                p(&root_key),
                "-CAcreateserial",
                "-days",
                "20",
                "-sha256",
                "-extfile",
                p(&ext),
                "-extensions",
                "codesign",
                "-out",
                p(out),
            ],
        );
    };

    // 1. Key on the token → CSR → the CA → chain imported → policy → Authenticode.
    let key = keys::create::perform(
        &state,
        "test",
        NewKeyArgs {
            algorithm: KeyAlgorithm::Rsa3072,
            purpose: CertProfile::CodeSigning,
            backend: "hsm1".into(),
        },
    )
    .await
    .unwrap();
    assert!(matches!(key.location, KeyLocation::Hsm { .. }), "{key:?}");
    let csr_pem = keys::csr::perform(&state, "test", key.id, "CN=HSM Publisher,O=Example", &[])
        .await
        .unwrap();
    let csr = dir.join("hsm.csr");
    std::fs::write(&csr, csr_pem).unwrap();
    let leaf = dir.join("hsm-leaf.pem");
    sign_csr(&csr, &leaf);
    let chain = [
        std::fs::read_to_string(&leaf).unwrap(),
        std::fs::read_to_string(&root).unwrap(),
    ]
    .concat();
    let record = certificates::import_chain::perform(
        &state,
        "test",
        key.id,
        chain.as_bytes(),
        CertProfile::CodeSigning,
    )
    .await
    .unwrap();
    assert!(record.issuer.ca().is_none());
    use DomainHash::Sha256;
    use SigningFormat::{Authenticode, Hash};
    commit(
        &state,
        vec![policy(
            "hsm-public",
            &(record.serial.clone(), key.id),
            RsaScheme::Pkcs1v15,
            0,
            &[Sha256],
            &[Hash, Authenticode],
            &["application"],
        )],
    )
    .await;
    let mut c = world.logged_in("jenkins").await;
    let input = dir.join("hsm-in.exe");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pe/tiny64.exe"),
        &input,
    )
    .unwrap();
    let digest = image_digest_file(&input, sigil_keys::HashAlgorithm::Sha256)
        .unwrap()
        .digest;
    let response = c
        .call(Request::UploadAuthenticode(AuthenticodeUpload {
            upload: upload("hsm-public", HashAlgorithm::Sha256, &digest),
            program_name: Some("HSM key, external CA".into()),
            program_url: None,
            subject: None,
        }))
        .await;
    let signed = dir.join("hsm-signed.exe");
    embed_signature(&input, &signed, &signature(&response), EmbedMode::Replace).unwrap();
    let verified = run_ok(
        "osslsigncode",
        &["verify", "-CAfile", p(&root), "-in", p(&signed)],
    );
    assert!(
        verified.contains("Signature verification: ok"),
        "{verified}"
    );

    // 2. A key made by openssl, imported from PKCS#12 into the token.
    let (own_key, own_csr, own_cert, p12) = (
        dir.join("own.key"),
        dir.join("own.csr"),
        dir.join("own.pem"),
        dir.join("own.p12"),
    );
    run_ok(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            p(&own_key),
            "-out",
            p(&own_csr),
            "-subj",
            "/CN=Imported HSM Publisher",
        ],
    );
    sign_csr(&own_csr, &own_cert);
    run_ok(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-inkey",
            p(&own_key),
            "-in",
            p(&own_cert),
            "-certfile",
            p(&root),
            "-passout",
            "pass:an import password",
            "-out",
            p(&p12),
        ],
    );
    let imported = keys::import_pkcs12::perform(
        &state,
        "test",
        std::fs::read(&p12).unwrap(),
        Zeroizing::new("an import password".to_owned()),
        None,
        CertProfile::CodeSigning,
        "hsm1",
    )
    .await
    .unwrap();
    let held = state
        .store
        .get_sealed_key(imported.key_id)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(held.location, KeyLocation::Hsm { .. }), "{held:?}");
    commit(
        &state,
        vec![policy(
            "hsm-imported",
            &(imported.certificate.serial.clone(), imported.key_id),
            RsaScheme::Pkcs1v15,
            0,
            &[Sha256],
            &[Hash],
            &["application"],
        )],
    )
    .await;
    let message = b"signed on the token with an imported key";
    let digest = sigil_keys::HashAlgorithm::Sha256.digest(message);
    let response = c
        .call(Request::UploadHash(upload(
            "hsm-imported",
            HashAlgorithm::Sha256,
            &digest,
        )))
        .await;
    let (msg, sig, public) = (dir.join("m.bin"), dir.join("m.sig"), dir.join("own.pub"));
    std::fs::write(&msg, message).unwrap();
    std::fs::write(&sig, signature(&response)).unwrap();
    std::fs::write(
        &public,
        run_ok(
            "openssl",
            &["x509", "-in", p(&own_cert), "-pubkey", "-noout"],
        ),
    )
    .unwrap();
    let checked = run_ok(
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            p(&public),
            "-signature",
            p(&sig),
            p(&msg),
        ],
    );
    assert!(checked.contains("Verified OK"), "{checked}");

    // Never exported, whatever the setting.
    let mut settings = state.store.settings().await.unwrap();
    settings.allow_export_with_password = true;
    commit(&state, vec![sigil_domain::Change::PutSettings(settings)]).await;
    let error = sigil_server::service::certificates::export::perform(
        &state,
        "test",
        &imported.certificate.serial,
        "a long export password",
    )
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(error.contains("cannot be exported"), "{error}");
}

//! Keys and certificates from a CA outside Sigil, end to end with the `sigil` binary against
//! the real server: an independent CA made with plain `openssl` signs the CSR Sigil made for a
//! held key, the chain is imported, a MinGW PE and a JAR are signed under a policy naming the
//! imported certificate, and `osslsigncode verify -CAfile` / `jarsigner -verify -strict` accept
//! them against that CA's root. Bad chains are refused with a clear error and change nothing.
//! A key and certificate made by `openssl` are imported from PKCS#12.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

mod common;
use common::{World, p, run_ok, text, world};

/// Runs `sigil` (off the async runtime, which serves the server meanwhile).
async fn sigil(args: &[&str], cwd: &Path) -> Output {
    common::sigil(common::args(args), cwd).await
}

/// `sigil ... ` that must succeed and print JSON.
async fn sigil_json(args: &[&str], cwd: &Path) -> Value {
    let out = sigil(args, cwd).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

/// An independent two-level CA made with plain `openssl`: a root and an issuing
/// intermediate, with an extension file for code-signing leaves (and one without the EKU).
struct ExternalCa {
    dir: PathBuf,
    root: PathBuf,
    inter: PathBuf,
    inter_key: PathBuf,
    root_key: PathBuf,
}

impl ExternalCa {
    fn new(dir: &Path) -> Self {
        let dir = dir.join("external-ca");
        std::fs::create_dir_all(&dir).unwrap();
        let (root, root_key) = (dir.join("root.pem"), dir.join("root.key"));
        let (inter, inter_key) = (dir.join("inter.pem"), dir.join("inter.key"));
        std::fs::write(
            dir.join("ext.cnf"),
            "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
             [codesign]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
             [server]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        )
        .unwrap();
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
                "/CN=Independent Test Root/O=Elsewhere Trust",
                "-days",
                "30",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        let inter_csr = dir.join("inter.csr");
        run_ok(
            "openssl",
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:3072",
                "-nodes",
                "-keyout",
                p(&inter_key),
                "-out",
                p(&inter_csr),
                "-subj",
                "/CN=Independent Code Signing CA/O=Elsewhere Trust",
            ],
        );
        let ca = Self {
            root,
            inter,
            inter_key,
            root_key,
            dir,
        };
        let (root, root_key, inter) = (ca.root.clone(), ca.root_key.clone(), ca.inter.clone());
        ca.sign(&inter_csr, &root, &root_key, "ca", "30", &inter);
        ca
    }

    /// Issues a certificate for `csr` from `issuer` with the extension section `section`.
    fn sign(&self, csr: &Path, issuer: &Path, key: &Path, section: &str, days: &str, out: &Path) {
        run_ok(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                p(csr),
                "-CA",
                p(issuer),
                "-CAkey",
                p(key),
                "-CAcreateserial",
                "-days",
                days,
                "-sha256",
                "-extfile",
                p(&self.dir.join("ext.cnf")),
                "-extensions",
                section,
                "-out",
                p(out),
            ],
        );
    }

    /// A leaf from the intermediate; returns its path.
    fn leaf(&self, csr: &Path, section: &str, days: &str, name: &str) -> PathBuf {
        let out = self.dir.join(name);
        self.sign(csr, &self.inter, &self.inter_key, section, days, &out);
        out
    }

    /// `files` concatenated into `name`.
    fn bundle(&self, files: &[&Path], name: &str) -> PathBuf {
        let out = self.dir.join(name);
        let text: String = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        std::fs::write(&out, text).unwrap();
        out
    }
}

/// A MinGW-built PE (x86_64), fresh from the compiler.
fn mingw_pe(dir: &Path) -> PathBuf {
    let source = dir.join("hello.c");
    std::fs::write(
        &source,
        "#include <stdio.h>\nint main(void) { puts(\"signed by an external CA\"); return 0; }\n",
    )
    .unwrap();
    let exe = dir.join("hello.exe");
    run_ok(
        "x86_64-w64-mingw32-gcc",
        &["-O2", "-o", p(&exe), p(&source)],
    );
    exe
}

async fn certificate_count(world: &World) -> usize {
    world
        .server
        .state()
        .store
        .list_certificates(None)
        .await
        .unwrap()
        .len()
}

async fn create_policy(world: &World, alias: &str, serial: &str) {
    let body = world.dir.path().join(format!("{alias}.json"));
    std::fs::write(
        &body,
        json!({"alias": alias, "certificate": serial, "approvals_required": 0,
               "hashes": ["sha256", "sha384"], "formats": ["hash", "authenticode", "jar"],
               "request_lifetime_secs": 3600, "roles": ["jenkins"]})
        .to_string(),
    )
    .unwrap();
    sigil_json(
        &[
            "policy",
            "--profile",
            p(&world.admin),
            "create",
            "--file",
            p(&body),
        ],
        world.dir.path(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_from_an_openssl_ca_signs_a_pe_and_a_jar_that_verify_against_its_root() {
    let world = world().await;
    let dir = world.dir.path();
    let admin = p(&world.admin);
    let ca = ExternalCa::new(dir);

    // One administrator alone may not create keys (dual control).
    let keys_before = world.server.state().store.list_sealed_keys().await.unwrap();
    let profile = std::fs::read_to_string(&world.admin).unwrap();
    let blocks: Vec<&str> = profile.split("[[identity]]").collect();
    assert_eq!(blocks.len(), 3, "{profile}");
    let single = world.admin.with_file_name("one-admin.toml");
    std::fs::write(&single, format!("{}[[identity]]{}", blocks[0], blocks[1])).unwrap();
    let out = sigil(
        &[
            "key",
            "--profile",
            p(&single),
            "create",
            "--algorithm",
            "rsa-3072",
        ],
        dir,
    )
    .await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("keys:add"),
        "{}",
        text(&out)
    );
    // A backend that is not configured is named in the refusal.
    let out = sigil(
        &[
            "key",
            "--profile",
            admin,
            "create",
            "--algorithm",
            "ec-p256",
            "--backend",
            "vault9",
        ],
        dir,
    )
    .await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\"vault9\" is not configured"),
        "{}",
        text(&out)
    );
    let keys = world.server.state().store.list_sealed_keys().await.unwrap();
    assert_eq!(keys.len(), keys_before.len(), "nothing created");

    // A key without a certificate, and a CSR signed by it.
    let key = sigil_json(
        &[
            "key",
            "--profile",
            admin,
            "create",
            "--algorithm",
            "rsa-3072",
        ],
        dir,
    )
    .await;
    let key_id = key["key_id"].as_str().unwrap().to_owned();
    assert_eq!(key["algorithm"], "rsa-3072", "{key}");
    assert_eq!(key["purpose"], "code-signing", "{key}");
    assert_eq!(key["certificates"], json!([]), "{key}");
    let csr = dir.join("publisher.csr");
    let out = sigil(
        &[
            "key",
            "--profile",
            admin,
            "csr",
            &key_id,
            "--subject",
            "CN=Example Publisher,O=Example Corp,C=DE",
            "--out",
            p(&csr),
        ],
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let checked = run_ok(
        "openssl",
        &["req", "-in", p(&csr), "-verify", "-noout", "-subject"],
    );
    assert!(checked.contains("verify OK"), "{checked}");
    assert!(checked.contains("Example Publisher"), "{checked}");

    // The independent CA signs it: a good leaf and the bad variants.
    let leaf = ca.leaf(&csr, "codesign", "20", "leaf.pem");
    // With the root: `jarsigner -verify -strict -keystore` accepts a signer only when a
    // certificate of the chain in the signature is in its keystore.
    let good = ca.bundle(&[&leaf, &ca.inter, &ca.root], "good-chain.pem");
    let no_eku = ca.bundle(
        &[&ca.leaf(&csr, "server", "20", "server.pem"), &ca.inter],
        "no-eku.pem",
    );
    let expired = ca.bundle(
        &[&ca.leaf(&csr, "codesign", "-1", "old.pem"), &ca.inter],
        "expired.pem",
    );
    let broken = ca.bundle(&[&leaf, &ca.root], "broken.pem");
    let only_leaf = ca.bundle(&[&leaf], "only-leaf.pem");
    let other_csr = ca.dir.join("other.csr");
    run_ok(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:3072",
            "-nodes",
            "-keyout",
            p(&ca.dir.join("other.key")),
            "-out",
            p(&other_csr),
            "-subj",
            "/CN=Someone Else",
        ],
    );
    let mismatched = ca.bundle(
        &[
            &ca.leaf(&other_csr, "codesign", "20", "other.pem"),
            &ca.inter,
        ],
        "mismatched.pem",
    );
    let garbage = ca.dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGUgYXQgYWxs\n-----END CERTIFICATE-----\n",
    )
    .unwrap();

    let before = certificate_count(&world).await;
    let head = world.server.state().store.audit_head().await.unwrap();
    for (file, expected) in [
        (&mismatched, "another public key than the held key"),
        (&broken, "the chain does not link"),
        (&no_eku, "does not carry the codeSigning extended key usage"),
        (&expired, "is expired"),
        (&garbage, "malformed certificate"),
        (&only_leaf, "holds only the leaf certificate"),
    ] {
        let out = sigil(
            &[
                "cert",
                "--profile",
                admin,
                "import",
                "--key",
                &key_id,
                "--chain",
                p(file),
            ],
            dir,
        )
        .await;
        assert_ne!(out.status.code(), Some(0), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expected),
            "{} should say {expected:?}:\n{}",
            file.display(),
            text(&out)
        );
    }
    assert_eq!(certificate_count(&world).await, before, "nothing stored");
    let events = world
        .server
        .state()
        .store
        .read_audit(head.seq + 1, 1000)
        .await
        .unwrap();
    assert!(
        events.iter().all(|e| e.action != "certificate.import"),
        "{events:?}"
    );

    // The good chain is imported; the policy names it as it names one from Sigil's CA.
    let imported = sigil_json(
        &[
            "cert",
            "--profile",
            admin,
            "import",
            "--key",
            &key_id,
            "--chain",
            p(&good),
        ],
        dir,
    )
    .await;
    assert_eq!(imported["external"], true, "{imported}");
    assert_eq!(
        imported["issuer"], "O=Elsewhere Trust,CN=Independent Code Signing CA",
        "{imported}"
    );
    assert_eq!(
        imported["key_id"].as_str(),
        Some(key_id.as_str()),
        "{imported}"
    );
    let serial = imported["serial"].as_str().unwrap().to_owned();
    let again = sigil(
        &[
            "cert",
            "--profile",
            admin,
            "import",
            "--key",
            &key_id,
            "--chain",
            p(&good),
        ],
        dir,
    )
    .await;
    assert_ne!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already stored"),
        "{}",
        text(&again)
    );
    let keys = sigil_json(&["key", "--profile", admin, "list"], dir).await;
    let listed = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == key_id.as_str())
        .unwrap();
    assert_eq!(listed["certificates"], json!([serial]), "{keys}");
    let audit = world
        .server
        .state()
        .store
        .read_audit(1, 1000)
        .await
        .unwrap();
    for action in ["key.create", "key.csr", "certificate.import"] {
        assert!(
            audit
                .iter()
                .any(|e| e.action == action && e.identity.is_some()),
            "no {action} event"
        );
    }
    create_policy(&world, "external", &serial).await;

    // A MinGW PE signed under it verifies against the external root alone.
    let exe = mingw_pe(dir);
    let out = sigil(
        &[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "external",
            p(&exe),
        ],
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let checked = run_ok(
        "osslsigncode",
        &["verify", "-CAfile", p(&ca.root), "-in", p(&exe)],
    );
    assert!(checked.contains("Signature verification: ok"), "{checked}");
    assert!(checked.contains("Example Publisher"), "{checked}");

    // A JAR, checked by jarsigner -strict trusting only the external root.
    let content = dir.join("jar-content");
    std::fs::create_dir_all(content.join("com/example")).unwrap();
    std::fs::write(content.join("com/example/readme.txt"), "hello\n").unwrap();
    let jar = dir.join("app.jar");
    run_ok("jar", &["cf", p(&jar), "-C", p(&content), "."]);
    let out = sigil(
        &[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "external",
            p(&jar),
        ],
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let store = dir.join("truststore.p12");
    run_ok(
        "keytool",
        &[
            "-importcert",
            "-noprompt",
            "-storetype",
            "PKCS12",
            "-alias",
            "root",
            "-file",
            p(&ca.root),
            "-keystore",
            p(&store),
            "-storepass",
            "changeit",
        ],
    );
    let checked = run_ok(
        "jarsigner",
        &[
            "-verify",
            "-strict",
            "-keystore",
            p(&store),
            "-storepass",
            "changeit",
            p(&jar),
        ],
    );
    assert!(checked.contains("jar verified."), "{checked}");

    // Revoking it in Sigil stops signing at once (the external CA's CRL is not consulted).
    sigil_json(&["cert", "--profile", admin, "revoke", &serial], dir).await;
    let out = sigil(
        &[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "external",
            p(&exe),
        ],
        dir,
    )
    .await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("revoked"),
        "{}",
        text(&out)
    );
    world.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pkcs12_from_openssl_is_imported_and_its_signatures_verify_against_the_original_certificate()
 {
    let world = world().await;
    let dir = world.dir.path();
    let admin = p(&world.admin);
    let ca = ExternalCa::new(dir);

    // openssl makes the key and the certificate, and exports them with the chain.
    let (key, csr) = (dir.join("own.key"), dir.join("own.csr"));
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
            p(&key),
            "-out",
            p(&csr),
            "-subj",
            "/CN=Imported Publisher",
        ],
    );
    let cert = ca.leaf(&csr, "codesign", "20", "own.pem");
    let password = dir.join("p12.password");
    std::fs::write(&password, "correct horse battery staple\n").unwrap();
    let p12 = dir.join("own.p12");
    run_ok(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-inkey",
            p(&key),
            "-in",
            p(&cert),
            "-certfile",
            p(&ca.inter),
            "-passout",
            &format!("file:{}", p(&password)),
            "-out",
            p(&p12),
        ],
    );

    // Refusals first: wrong password, a legacy (RC2/3DES) file, a file without its CA
    // certificates; nothing is stored.
    let before = certificate_count(&world).await;
    let keys_before = world
        .server
        .state()
        .store
        .list_sealed_keys()
        .await
        .unwrap()
        .len();
    let wrong = dir.join("wrong.password");
    std::fs::write(&wrong, "not the password at all\n").unwrap();
    let legacy = dir.join("legacy.p12");
    run_ok(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-legacy",
            "-inkey",
            p(&key),
            "-in",
            p(&cert),
            "-certfile",
            p(&ca.inter),
            "-passout",
            &format!("file:{}", p(&password)),
            "-out",
            p(&legacy),
        ],
    );
    let bare = dir.join("bare.p12");
    run_ok(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-inkey",
            p(&key),
            "-in",
            p(&cert),
            "-passout",
            &format!("file:{}", p(&password)),
            "-out",
            p(&bare),
        ],
    );
    for (file, pw, expected) in [
        (&p12, &wrong, "wrong password"),
        (&legacy, &password, "without -legacy"),
        (&bare, &password, "-certfile"),
    ] {
        let out = sigil(
            &[
                "key",
                "--profile",
                admin,
                "import",
                p(file),
                "--password-file",
                p(pw),
            ],
            dir,
        )
        .await;
        assert_ne!(out.status.code(), Some(0), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expected),
            "{} should say {expected:?}:\n{}",
            file.display(),
            text(&out)
        );
    }
    assert_eq!(certificate_count(&world).await, before);
    assert_eq!(
        world
            .server
            .state()
            .store
            .list_sealed_keys()
            .await
            .unwrap()
            .len(),
        keys_before
    );

    // The good file, into the software keystore.
    let imported = sigil_json(
        &[
            "key",
            "--profile",
            admin,
            "import",
            p(&p12),
            "--password-file",
            p(&password),
        ],
        dir,
    )
    .await;
    let serial = imported["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(imported["certificate"]["external"], true, "{imported}");
    // The file without CA certificates is accepted when the chain is given beside it.
    let bare_key = dir.join("bare2.key");
    let bare_csr = dir.join("bare2.csr");
    run_ok(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            p(&bare_key),
            "-out",
            p(&bare_csr),
            "-subj",
            "/CN=Bare Publisher",
        ],
    );
    let bare_cert = ca.leaf(&bare_csr, "codesign", "20", "bare2.pem");
    let bare2 = dir.join("bare2.p12");
    run_ok(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-inkey",
            p(&bare_key),
            "-in",
            p(&bare_cert),
            "-passout",
            &format!("file:{}", p(&password)),
            "-out",
            p(&bare2),
        ],
    );
    let with_chain = sigil_json(
        &[
            "key",
            "--profile",
            admin,
            "import",
            p(&bare2),
            "--password-file",
            p(&password),
            "--chain",
            p(&ca.inter),
        ],
        dir,
    )
    .await;
    assert_eq!(with_chain["certificate"]["external"], true, "{with_chain}");

    // Signatures under a policy naming it verify with the original certificate's key.
    create_policy(&world, "imported", &serial).await;
    let file = dir.join("artifact.bin");
    std::fs::write(&file, b"an artifact signed with an imported key\n").unwrap();
    let out = sigil(
        &[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "imported",
            p(&file),
        ],
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let public = dir.join("own.pub.pem");
    std::fs::write(
        &public,
        run_ok("openssl", &["x509", "-in", p(&cert), "-pubkey", "-noout"]),
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
            p(&dir.join("artifact.bin.sig")),
            p(&file),
        ],
    );
    assert!(checked.contains("Verified OK"), "{checked}");
    let exe = mingw_pe(dir);
    let out = sigil(
        &[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "imported",
            p(&exe),
        ],
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let checked = run_ok(
        "osslsigncode",
        &["verify", "-CAfile", p(&ca.root), "-in", p(&exe)],
    );
    assert!(checked.contains("Signature verification: ok"), "{checked}");
    let audit = world
        .server
        .state()
        .store
        .read_audit(1, 1000)
        .await
        .unwrap();
    assert!(
        audit.iter().any(|e| e.action == "key.import"),
        "no key.import event"
    );
    world.server.shutdown().await;
}

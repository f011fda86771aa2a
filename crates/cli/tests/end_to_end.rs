//! `sigil` against the real server: quickstart provisioning in a temporary directory, the
//! server on ephemeral loopback ports, the CLI binary as a user runs it, and independent
//! verifiers (openssl, osslsigncode, jarsigner).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::{World, args, chain, p, run_ok, sigil, text, world};

async fn login_events(world: &World, identity: &str) -> usize {
    let store = &world.server.state().store;
    let mut count = 0;
    let mut from = 1;
    loop {
        let events = store.read_audit(from, 1000).await.unwrap();
        let Some(last) = events.last() else { break };
        from = last.seq + 1;
        count += events
            .iter()
            .filter(|e| e.action == "login" && e.identity.as_deref() == Some(identity))
            .count();
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_hash_authenticode_jar_and_bulk_verified_independently() {
    let world = world().await;
    let dir = world.dir.path();
    let (chain, root, public) = chain(&world, "release").await;

    // Hash: FILE.sig verified by openssl and by `sigil verify`.
    let hello = dir.join("hello.txt");
    std::fs::write(&hello, "hello from the sigil CLI test\n").unwrap();
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release",
            "hello.txt",
        ]),
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let sig = dir.join("hello.txt.sig");
    let verified = run_ok(
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            p(&public),
            "-signature",
            p(&sig),
            p(&hello),
        ],
    );
    assert!(verified.contains("Verified OK"), "{verified}");
    let out = sigil(
        args(&[
            "verify",
            "hello.txt",
            "--signature",
            p(&sig),
            "--certificate",
            p(&chain),
        ]),
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::write(&hello, "tampered\n").unwrap();
    let out = sigil(
        args(&[
            "verify",
            "hello.txt",
            "--signature",
            p(&sig),
            "--certificate",
            p(&chain),
        ]),
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // Authenticode, detected from the PE header, embedded in place; SHA-384 image digest.
    let pe = dir.join("tiny64.exe");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pe/tiny64.exe");
    std::fs::copy(fixture, &pe).unwrap();
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release",
            "--hash",
            "sha384",
            "--program-name",
            "Tiny",
            "tiny64.exe",
        ]),
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let checked = run_ok(
        "osslsigncode",
        &["verify", "-CAfile", p(&root), "-in", p(&pe)],
    );
    assert!(checked.contains("Signature verification: ok"), "{checked}");
    let out = sigil(args(&["verify", "tiny64.exe"]), dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // --append nests a second (SHA-256) signature; both verify.
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release",
            "--append",
            "tiny64.exe",
        ]),
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nested"),
        "{}",
        text(&out)
    );
    let out = sigil(args(&["verify", "tiny64.exe"]), dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("signature 2 (nested): valid"),
        "{}",
        text(&out)
    );
    let checked = run_ok(
        "osslsigncode",
        &["verify", "-CAfile", p(&root), "-in", p(&pe)],
    );
    assert!(checked.contains("Signature verification: ok"), "{checked}");

    // --output leaves the input untouched; the copy is signed (replacing its signature).
    let before = std::fs::read(&pe).unwrap();
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release",
            "-o",
            "copy.exe",
            "tiny64.exe",
        ]),
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(std::fs::read(&pe).unwrap(), before);
    let out = sigil(args(&["verify", "copy.exe"]), dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("nested"),
        "{}",
        text(&out)
    );

    // JAR, detected from the extension, written in place; jarsigner -strict with the root.
    let content = dir.join("jar-content");
    std::fs::create_dir_all(content.join("com/example")).unwrap();
    std::fs::write(content.join("com/example/readme.txt"), "hello\n").unwrap();
    std::fs::write(content.join("data.bin"), vec![7u8; 5000]).unwrap();
    let jar = dir.join("app.jar");
    run_ok("jar", &["cf", p(&jar), "-C", p(&content), "."]);
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release",
            "app.jar",
        ]),
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
            p(&root),
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
    let out = sigil(args(&["verify", "app.jar"]), dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Bulk: 500 files from one glob, one login (one connection), every signature checked.
    let bulk = dir.join("bulk");
    std::fs::create_dir(&bulk).unwrap();
    for i in 0..500 {
        std::fs::write(bulk.join(format!("f{i:03}.txt")), format!("file {i}\n")).unwrap();
    }
    let logins_before = login_events(&world, "jenkins").await;
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release",
            "--json",
            "bulk/*.txt",
        ]),
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(login_events(&world, "jenkins").await, logins_before + 1);
    let mut lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Several files form one release: one object per file, then the release's.
    let release = lines.pop().unwrap();
    assert_eq!(release["files"], 500, "{release}");
    assert!(release["manifest"].is_string(), "{release}");
    assert_eq!(lines.len(), 500);
    assert!(lines.iter().all(|l| l["outcome"] == "signed"), "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l["release_id"] == release["release_id"])
    );
    let der = Command::new("openssl")
        .args(["pkey", "-pubin", "-in", p(&public), "-outform", "DER"])
        .output()
        .unwrap()
        .stdout;
    for i in 0..500 {
        let file = bulk.join(format!("f{i:03}.txt"));
        let digest = {
            use sha2::Digest;
            sha2::Sha256::digest(std::fs::read(&file).unwrap()).to_vec()
        };
        let signature = std::fs::read(bulk.join(format!("f{i:03}.txt.sig"))).unwrap();
        sigil_keys::verify_digest(
            &der,
            sigil_keys::HashAlgorithm::Sha256,
            sigil_keys::RsaPadding::Pkcs1v15,
            &digest,
            &signature,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    // And a sample through openssl.
    let verified = run_ok(
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            p(&public),
            "-signature",
            p(&bulk.join("f499.txt.sig")),
            p(&bulk.join("f499.txt")),
        ],
    );
    assert!(verified.contains("Verified OK"));

    world.server.shutdown().await;
}

/// Waits until the approver sees exactly one pending request and returns its id.
async fn pending_request(world: &World) -> String {
    for _ in 0..600 {
        let out = sigil(
            args(&[
                "request",
                "list",
                "--profile",
                p(&world.approver),
                "--state",
                "pending",
                "--json",
            ]),
            world.dir.path(),
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if let Some(first) = list.as_array().and_then(|a| a.first()) {
            return first["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no pending request appeared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_denials_timeouts_and_refusals_have_their_exit_codes() {
    let world = world().await;
    let dir = world.dir.path().to_path_buf();
    let (_, _, public) = chain(&world, "release-approved").await;
    std::fs::write(dir.join("a.txt"), "needs approval\n").unwrap();

    // Timed out (6); the request id in the output resumes it after the approval.
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release-approved",
            "--wait",
            "1s",
            "--json",
            "a.txt",
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["outcome"], "timed-out");
    let id = line["request_id"].as_str().unwrap().to_owned();
    assert_eq!(pending_request(&world).await, id);
    let out = sigil(
        args(&[
            "request",
            "approve",
            "--profile",
            p(&world.approver),
            &id,
            "--comment",
            "ok",
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release-approved",
            "--request-id",
            &id,
            "a.txt",
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let verified = run_ok(
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            p(&public),
            "-signature",
            p(&dir.join("a.txt.sig")),
            p(&dir.join("a.txt")),
        ],
    );
    assert!(verified.contains("Verified OK"));

    // Waiting signer, approver approves meanwhile → 0.
    std::fs::write(dir.join("b.txt"), "approved while waiting\n").unwrap();
    let waiting = {
        let (jenkins, dir) = (world.jenkins.clone(), dir.clone());
        tokio::spawn(async move {
            sigil(
                args(&[
                    "sign",
                    "--profile",
                    p(&jenkins),
                    "--policy",
                    "release-approved",
                    "--wait",
                    "5m",
                    "b.txt",
                ]),
                &dir,
            )
            .await
        })
    };
    let id = pending_request(&world).await;
    let out = sigil(
        args(&["request", "approve", "--profile", p(&world.approver), &id]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = waiting.await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(dir.join("b.txt.sig").is_file());

    // Denied → 4, with the approver's reason.
    std::fs::write(dir.join("c.txt"), "to be denied\n").unwrap();
    let waiting = {
        let (jenkins, dir) = (world.jenkins.clone(), dir.clone());
        tokio::spawn(async move {
            sigil(
                args(&[
                    "sign",
                    "--profile",
                    p(&jenkins),
                    "--policy",
                    "release-approved",
                    "--wait",
                    "5m",
                    "--json",
                    "c.txt",
                ]),
                &dir,
            )
            .await
        })
    };
    let id = pending_request(&world).await;
    let out = sigil(
        args(&[
            "request",
            "deny",
            "--profile",
            p(&world.approver),
            &id,
            "--comment",
            "not a release build",
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = waiting.await.unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["outcome"], "denied");
    assert_eq!(line["reason"], "not a release build");
    assert!(!dir.join("c.txt.sig").exists());

    // Refused by the server → 3 (unknown policy), nothing written.
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "no-such-policy",
            "c.txt",
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("POLICY_NOT_FOUND"),
        "{}",
        text(&out)
    );

    // A PE refused (unknown policy) or left waiting for an approval (--wait 0): the file is
    // untouched and no copy of it (staged while connecting) is left next to it.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pe/tiny64.exe");
    std::fs::copy(&fixture, dir.join("unsigned.exe")).unwrap();
    let before = std::fs::read(dir.join("unsigned.exe")).unwrap();
    for (policy, code) in [("no-such-policy", 3), ("release-approved", 6)] {
        let out = sigil(
            args(&[
                "sign",
                "--profile",
                p(&world.jenkins),
                "--policy",
                policy,
                "--wait",
                "0",
                "unsigned.exe",
            ]),
            &dir,
        )
        .await;
        assert_eq!(out.status.code(), Some(code), "{}", text(&out));
        assert_eq!(std::fs::read(dir.join("unsigned.exe")).unwrap(), before);
        let leftovers: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".sigil"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}\n{}", text(&out));
    }

    // Usage → 2: no such file; --output with several files.
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release",
            "missing-*.txt",
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release",
            "-o",
            "x.sig",
            "a.txt",
            "b.txt",
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // The admin profile logs both administrators in (dual control) and reads the audit log;
    // the offline check agrees.
    let out = sigil(
        args(&["audit", "verify", "--profile", p(&world.admin)]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = sigil(args(&["audit", "verify", "--data", p(&world.data)]), &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("audit chain intact"));

    // The HTTPS API checks the server certificate for the profile's server_name → 7.
    let wrong = world.approver.with_file_name("wrong-name.toml");
    let profile = std::fs::read_to_string(&world.approver).unwrap();
    std::fs::write(
        &wrong,
        profile.replace(
            "server_name = \"localhost\"",
            "server_name = \"wrong.example\"",
        ),
    )
    .unwrap();
    let out = sigil(args(&["request", "list", "--profile", p(&wrong)]), &dir).await;
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrong.example"),
        "{}",
        text(&out)
    );

    // Audit export: offline and through the server, one JSON line per event.
    let out = sigil(args(&["audit", "export", "--data", p(&world.data)]), &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let offline: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(offline.len() > 10);
    for (i, e) in offline.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1));
    }
    assert!(offline.iter().any(|e| e["action"] == "request.deny"));
    let exported = dir.join("audit.jsonl");
    let out = sigil(
        args(&[
            "audit",
            "export",
            "--profile",
            p(&world.admin),
            "--out",
            p(&exported),
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let online = std::fs::read_to_string(&exported).unwrap();
    assert!(online.lines().count() >= offline.len());

    // Connection refused → 7.
    let port = world.server.host_api_addr().port();
    world.server.shutdown().await;
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release",
            "a.txt",
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(7), "{}\nport {port}", text(&out));

    // An edited event breaks the chain; the offline check names it.
    let db = world.data.join("sigil.db");
    run_ok(
        "sqlite3",
        &[
            p(&db),
            "UPDATE audit_events SET action = 'edited' WHERE seq = 5",
        ],
    );
    let out = sigil(args(&["audit", "verify", "--data", p(&world.data)]), &dir).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("event 5"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_not_approved_in_its_lifetime_exits_5() {
    let world = world().await;
    let dir = world.dir.path().to_path_buf();
    let policy = dir.join("short.json");
    let body = serde_json::json!({
        "alias": "short-lived", "certificate": world.report.code_signing_serial.to_string(),
        "rsa_scheme": "pkcs1v15", "approvals_required": 1,
        "approval_group": "release-approvers", "hashes": ["sha256"], "formats": ["hash"],
        "request_lifetime_secs": 60, "roles": ["jenkins"],
    });
    std::fs::write(&policy, body.to_string()).unwrap();
    let out = sigil(
        args(&[
            "policy",
            "create",
            "--profile",
            p(&world.admin),
            "--file",
            p(&policy),
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::write(dir.join("late.txt"), "nobody approves this\n").unwrap();
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "short-lived",
            "--wait",
            "10m",
            "--json",
            "late.txt",
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["outcome"], "expired");
    world.server.shutdown().await;
}

#[test]
fn init_with_key_components_then_server_unsealed_from_files_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bin = env!("CARGO_BIN_EXE_sigil");
    let out = Command::new(bin)
        .args([
            "init",
            "--data",
            p(&data),
            "--components",
            "2/3",
            "--host-api",
        ])
        .args([
            "127.0.0.1:0",
            "--https",
            "127.0.0.1:0",
            "--hostname",
            "sigil.test",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let components: Vec<&str> = stdout
        .split_whitespace()
        .filter(|w| w.starts_with("SKC1-"))
        .collect();
    assert_eq!(components.len(), 3, "{stdout}");
    assert!(!data.join("master.key").exists());
    // A non-empty data directory is refused.
    let again = Command::new(bin)
        .args(["init", "--data", p(&data)])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(again.status.code(), Some(0), "{}", text(&again));

    // Without components (and no terminal): a usage error that says what to give.
    let out = Command::new(bin)
        .args(["server", "--data", p(&data)])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--component-file"));

    // Two of the three components unseal it.
    let files: Vec<PathBuf> = [components[0], components[2]]
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let f = dir.path().join(format!("c{i}.txt"));
            std::fs::write(&f, format!("{c}\n")).unwrap();
            f
        })
        .collect();
    let mut child = Command::new(bin)
        .args(["server", "--data", p(&data)])
        .args([
            "--component-file",
            p(&files[0]),
            "--component-file",
            p(&files[1]),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let running = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.starts_with("Sigil is running"))
        .expect("the server did not start");
    assert!(running.contains("Host API on 127.0.0.1:"), "{running}");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(rest.iter().any(|l| l == "Sigil stopped."), "{rest:?}");
}

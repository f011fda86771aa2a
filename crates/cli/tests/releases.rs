//! Releases end to end: `sigil sign` with several files against the real server, one
//! approval (`sigil release approve`), the outputs checked by osslsigncode, jarsigner and
//! openssl, the release manifest by `sigil verify --manifest`; denial, expiry and the bad
//! inputs refused before anything is submitted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use sigil_domain::RequestFilter;

mod common;
use common::{World, args, chain, p, run_ok, sigil, text, world};

const PE_FIXTURE: &str = "../../testdata/pe/tiny64.exe";

/// A mixed set in `dir`: `pe` PE images, `jars` JARs and `hashes` text files (in that order).
fn mixed_files(dir: &Path, pe: usize, jars: usize, hashes: usize) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(PE_FIXTURE);
    for i in 0..pe {
        let file = dir.join(format!("app{i}.exe"));
        std::fs::copy(&fixture, &file).unwrap();
        files.push(file);
    }
    for i in 0..jars {
        let content = dir.join(format!("jar-content-{i}"));
        std::fs::create_dir_all(content.join("com/example")).unwrap();
        std::fs::write(content.join("com/example/readme.txt"), format!("jar {i}\n")).unwrap();
        let jar = dir.join(format!("lib{i}.jar"));
        run_ok("jar", &["cf", p(&jar), "-C", p(&content), "."]);
        files.push(jar);
    }
    for i in 0..hashes {
        let file = dir.join(format!("notes{i}.txt"));
        std::fs::write(&file, format!("release notes {i}\n")).unwrap();
        files.push(file);
    }
    files
}

/// `sigil sign --json` of `files` under `policy`, run in the background.
fn sign_in_background(
    world: &World,
    policy: &str,
    files: &[PathBuf],
    extra: &[&str],
) -> tokio::task::JoinHandle<Output> {
    let mut a = args(&[
        "sign",
        "--profile",
        p(&world.jenkins),
        "--policy",
        policy,
        "--json",
        "--description",
        "release 2.0",
    ]);
    a.extend(extra.iter().map(|s| (*s).to_owned()));
    a.extend(files.iter().map(|f| p(f).to_owned()));
    let dir = world.dir.path().to_path_buf();
    tokio::spawn(async move { sigil(a, &dir).await })
}

/// Waits until the approver sees one pending release with all `files` arrived; its id.
async fn complete_release(world: &World, files: usize) -> String {
    for _ in 0..1200 {
        let out = sigil(
            args(&[
                "release",
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
        if let Some(r) = list.as_array().and_then(|a| a.first())
            && r["files_received"] == files
        {
            assert_eq!(r["files"].as_array().unwrap().len(), files, "{r}");
            assert_eq!(r["description"], "release 2.0", "{r}");
            return r["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no complete pending release appeared");
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn contents(files: &[PathBuf]) -> Vec<Vec<u8>> {
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// Waits until the approver sees one pending request that is not part of a release.
async fn pending_request(world: &World) -> String {
    for _ in 0..1200 {
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
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if let Some(r) = list
            .as_array()
            .and_then(|a| a.iter().find(|r| r["release_id"].is_null()))
        {
            return r["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no pending request appeared");
}

async fn stored_requests(world: &World) -> usize {
    world
        .server
        .state()
        .store
        .list_requests(&RequestFilter::default())
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_release_of_20_files_is_approved_once_and_verified_independently() {
    let world = world().await;
    let dir = world.dir.path().to_path_buf();
    let (_, root, public) = chain(&world, "release-approved").await;
    let files = mixed_files(&dir, 7, 6, 7);
    assert_eq!(files.len(), 20);

    // Every signature time-stamped by the server's own TSA (the quickstart's, under the same
    // root as the code-signing chain).
    let signing = sign_in_background(
        &world,
        "release-approved",
        &files,
        &["--timestamp", "--wait", "5m"],
    );
    let id = complete_release(&world, 20).await;
    let approved_at = Instant::now();
    let out = sigil(
        args(&[
            "release",
            "approve",
            "--profile",
            p(&world.approver),
            &id,
            "--comment",
            "release 2.0 checked",
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let answered_at = Instant::now();
    let out = signing.await.unwrap();
    // Approval to a finished client (20 files embedded, the process exit included): printed,
    // never asserted. The approve call itself includes its HTTPS login and the 20 signatures.
    println!(
        "approval-to-signature latency, 20 files: {} ms from the approve call, {} ms from its answer to sigil sign's exit",
        approved_at.elapsed().as_millis(),
        answered_at.elapsed().as_millis()
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let mut lines = json_lines(&out);
    let last = lines.pop().unwrap();
    assert_eq!(last["release_id"], id.as_str(), "{last}");
    assert_eq!(last["files"], 20);
    assert_eq!(last["exit_code"], 0);
    let manifest = PathBuf::from(last["manifest"].as_str().unwrap());
    assert_eq!(manifest, dir.join(format!("sigil-release-{id}.json")));
    assert_eq!(lines.len(), 20);
    for line in &lines {
        assert_eq!(line["outcome"], "signed", "{line}");
        assert_eq!(line["release_id"], id.as_str(), "{line}");
    }

    // Every output, by the independent verifiers.
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
    for file in &files {
        match file.extension().and_then(|e| e.to_str()) {
            Some("exe") => {
                let checked = run_ok(
                    "osslsigncode",
                    &[
                        "verify",
                        "-CAfile",
                        p(&root),
                        "-TSA-CAfile",
                        p(&root),
                        "-in",
                        p(file),
                    ],
                );
                assert!(checked.contains("Signature verification: ok"), "{checked}");
                assert!(
                    checked.contains("Timestamp Server Signature verification: ok"),
                    "{checked}"
                );
            }
            Some("jar") => {
                let checked = run_ok(
                    "jarsigner",
                    &[
                        "-verify",
                        "-verbose",
                        "-strict",
                        "-keystore",
                        p(&store),
                        "-storepass",
                        "changeit",
                        p(file),
                    ],
                );
                assert!(checked.contains("jar verified."), "{checked}");
                assert!(checked.contains("Timestamped by"), "{checked}");
                assert!(!checked.contains("no timestamp"), "{checked}");
            }
            _ => {
                let sig = PathBuf::from(format!("{}.sig", p(file)));
                let verified = run_ok(
                    "openssl",
                    &[
                        "dgst",
                        "-sha256",
                        "-verify",
                        p(&public),
                        "-signature",
                        p(&sig),
                        p(file),
                    ],
                );
                assert!(verified.contains("Verified OK"), "{verified}");
                let stamped = run_ok(
                    "openssl",
                    &[
                        "ts",
                        "-verify",
                        "-in",
                        &format!("{}.tsr", p(file)),
                        "-data",
                        p(&sig),
                        "-CAfile",
                        p(&root),
                    ],
                );
                assert!(stamped.contains("Verification: OK"), "{stamped}");
            }
        }
    }

    // The manifest: what was signed, by whom, and it matches the files.
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(m["release_id"], id.as_str());
    assert_eq!(m["policy"], "release-approved");
    assert_eq!(m["requester"], "jenkins");
    assert_eq!(m["approvals"][0]["approver"], "approver");
    assert!(m["approvals"][0]["at"].is_string() && m["signed"].is_string());
    assert_eq!(m["files"].as_array().unwrap().len(), 20);
    let formats: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["format"].as_str().unwrap())
        .collect();
    for format in ["authenticode", "jar", "hash"] {
        assert!(formats.contains(&format), "{formats:?}");
    }
    let sig = std::fs::read(dir.join("notes0.txt.sig")).unwrap();
    let notes = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "notes0.txt")
        .unwrap();
    let sig_sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&sig))
    };
    assert_eq!(notes["signature_sha256"], sig_sha.as_str(), "{notes}");
    assert_eq!(notes["signature_file"], "notes0.txt.sig");
    let out = sigil(args(&["verify", "--manifest", p(&manifest)]), &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // One byte of one file changed: the check names that file and exits 1.
    let changed = dir.join("lib3.jar");
    let mut bytes = std::fs::read(&changed).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&changed, &bytes).unwrap();
    let out = sigil(args(&["verify", "--manifest", p(&manifest)]), &dir).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("CHANGED") && all.contains("lib3.jar"), "{all}");
    assert_eq!(all.matches("CHANGED ").count(), 1, "only that file: {all}");

    // A single waiting file: from the approve call's answer to the waiting client's exit.
    let mut latencies = Vec::new();
    for i in 0..5 {
        let file = dir.join(format!("single{i}.txt"));
        std::fs::write(&file, format!("single {i}\n")).unwrap();
        let signing = sign_in_background(&world, "release-approved", &[file], &["--wait", "5m"]);
        let request = pending_request(&world).await;
        let out = sigil(
            args(&[
                "request",
                "approve",
                "--profile",
                p(&world.approver),
                &request,
            ]),
            &dir,
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let answered_at = Instant::now();
        let out = signing.await.unwrap();
        latencies.push(answered_at.elapsed().as_millis());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    println!(
        "approval-to-signature latency, 1 file, approve answer to sigil sign exit (ms): {latencies:?}"
    );

    // `sigil request list` shows the release of each file.
    let out = sigil(
        args(&["request", "list", "--profile", p(&world.approver)]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("RELEASE"), "{listed}");
    assert_eq!(listed.matches(id.as_str()).count(), 20, "{listed}");
    assert!(listed.contains("single0.txt"), "{listed}");
    world.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_release_leaves_every_file_untouched_and_bad_sets_submit_nothing() {
    let world = world().await;
    let dir = world.dir.path().to_path_buf();
    let files = mixed_files(&dir, 1, 1, 1);
    let before = contents(&files);

    let signing = sign_in_background(&world, "release-approved", &files, &["--wait", "5m"]);
    let id = complete_release(&world, 3).await;
    // A file of the release cannot be decided on its own.
    let out = sigil(
        args(&["request", "list", "--profile", p(&world.approver), "--json"]),
        &dir,
    )
    .await;
    let requests: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let member = requests[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(requests[0]["release_id"], id.as_str());
    let out = sigil(
        args(&[
            "request",
            "approve",
            "--profile",
            p(&world.approver),
            &member,
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("REQUEST_IN_RELEASE"), "{}", text(&out));
    let out = sigil(
        args(&[
            "release",
            "deny",
            "--profile",
            p(&world.approver),
            &id,
            "--comment",
            "wrong branch",
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = signing.await.unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let mut lines = json_lines(&out);
    let last = lines.pop().unwrap();
    assert_eq!(last["release_id"], id.as_str());
    assert!(last.get("manifest").is_none(), "{last}");
    for line in &lines {
        assert_eq!(line["outcome"], "denied", "{line}");
        assert_eq!(line["reason"], "wrong branch", "{line}");
    }
    assert_eq!(contents(&files), before, "a denied release changes no file");
    assert!(!dir.join("notes0.txt.sig").exists());
    assert!(!dir.join(format!("sigil-release-{id}.json")).exists());
    let out = sigil(
        args(&["release", "show", "--profile", p(&world.approver), &id]),
        &dir,
    )
    .await;
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["state"], "denied");
    assert_eq!(shown["denied_by"], "approver");

    // Bad sets: refused before anything is submitted (exit 2, nothing stored).
    let stored = stored_requests(&world).await;
    let bulk = dir.join("many");
    std::fs::create_dir(&bulk).unwrap();
    for i in 0..1001 {
        std::fs::write(bulk.join(format!("f{i:04}.txt")), format!("{i}\n")).unwrap();
    }
    let not_a_jar = dir.join("broken.jar");
    std::fs::write(&not_a_jar, "not a zip archive").unwrap();
    // The same file under another name (`.` alone would be folded by the path comparison).
    let dotted = format!("{}/many/../app0.exe", p(&dir));
    for (case, files, code) in [
        (
            "more files than the limit",
            vec!["many/*.txt".to_owned()],
            2,
        ),
        (
            "one output twice",
            vec![p(&files[0]).to_owned(), dotted.clone()],
            2,
        ),
        (
            "a file that cannot be signed",
            vec![p(&files[2]).to_owned(), p(&not_a_jar).to_owned()],
            1,
        ),
    ] {
        let mut a = args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release-approved",
            "--wait",
            "0",
        ]);
        a.extend(files);
        let out = sigil(a, &dir).await;
        assert_eq!(out.status.code(), Some(code), "{case}: {}", text(&out));
        assert!(
            text(&out).contains("at most 1000")
                || text(&out).contains("same output")
                || text(&out).contains("nothing was submitted"),
            "{case}: {}",
            text(&out)
        );
        assert_eq!(
            stored_requests(&world).await,
            stored,
            "{case}: nothing stored"
        );
    }
    // A format the policy does not allow: refused before the release is opened.
    let body = serde_json::json!({
        "alias": "hash-only", "certificate": world.report.code_signing_serial.to_string(),
        "rsa_scheme": "pkcs1v15", "approvals_required": 1,
        "approval_group": "release-approvers", "hashes": ["sha256"], "formats": ["hash"],
        "request_lifetime_secs": 3600, "roles": ["jenkins"],
    });
    create_policy(&world, &body).await;
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "hash-only",
            p(&files[2]),
            p(&files[0]),
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("does not allow the authenticode format"),
        "{}",
        text(&out)
    );
    assert_eq!(stored_requests(&world).await, stored);
    let releases = world
        .server
        .state()
        .store
        .list_releases(&RequestFilter::default())
        .await
        .unwrap();
    assert_eq!(releases.len(), 1, "only the denied release was ever opened");
    world.server.shutdown().await;
}

async fn create_policy(world: &World, body: &serde_json::Value) {
    let dir = world.dir.path();
    let file = dir.join(format!("{}.json", body["alias"].as_str().unwrap()));
    std::fs::write(&file, body.to_string()).unwrap();
    let out = sigil(
        args(&[
            "policy",
            "create",
            "--profile",
            p(&world.admin),
            "--file",
            p(&file),
        ]),
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_not_approved_in_its_lifetime_expires_with_every_file() {
    let world = world().await;
    let dir = world.dir.path().to_path_buf();
    let body = serde_json::json!({
        "alias": "short-lived", "certificate": world.report.code_signing_serial.to_string(),
        "rsa_scheme": "pkcs1v15", "approvals_required": 1,
        "approval_group": "release-approvers", "hashes": ["sha256"],
        "formats": ["hash", "authenticode", "jar"],
        "request_lifetime_secs": 60, "roles": ["jenkins"],
    });
    create_policy(&world, &body).await;
    let files = mixed_files(&dir, 1, 1, 1);
    let before = contents(&files);
    // The client long-polls: the server answers at the expiry, without a client poll.
    let out = sign_in_background(&world, "short-lived", &files, &["--wait", "10m"])
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let mut lines = json_lines(&out);
    let last = lines.pop().unwrap();
    assert!(last.get("manifest").is_none(), "{last}");
    assert!(lines.iter().all(|l| l["outcome"] == "expired"), "{lines:?}");
    assert_eq!(
        contents(&files),
        before,
        "an expired release changes no file"
    );
    let release = last["release_id"].as_str().unwrap();
    let out = sigil(
        args(&["release", "show", "--profile", p(&world.approver), release]),
        &dir,
    )
    .await;
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["state"], "expired", "{shown}");
    // Expired: nobody can approve it any more.
    let out = sigil(
        args(&[
            "release",
            "approve",
            "--profile",
            p(&world.approver),
            release,
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    world.server.shutdown().await;
}

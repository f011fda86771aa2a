//! The approvers' web console in a real browser: the real server (quickstart deployment on
//! loopback ports), waiting `sigil sign` clients, and `tests/browser/console.py` driving
//! Debian's headless Chromium through chromium-driver and Selenium. The outputs the approval in
//! the browser releases are checked by osslsigncode and openssl; the administrator action by
//! the audit log. Needs `/usr/bin/python3` with selenium and cryptography, chromium and
//! chromedriver (`scripts/test.sh` installs them); without them it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

mod common;
use common::{World, args, p, run_ok, sigil, text, world};

/// The payload every metadata field carries: rendered as markup it would add an image and run
/// its handler.
const XSS: &str = "<img src=x onerror=alert(1)>";

/// Saves the policy's chain with `sigil policies show`; returns the root certificate's file.
async fn root_of(world: &World, policy: &str) -> PathBuf {
    let dir = world.dir.path();
    let chain = dir.join("chain.pem");
    let out = sigil(
        args(&[
            "policies",
            "--profile",
            p(&world.jenkins),
            "show",
            policy,
            "--chain-out",
            p(&chain),
        ]),
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pem = std::fs::read_to_string(&chain).unwrap();
    let root = pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .last()
        .unwrap()
        .to_owned();
    let file = dir.join("root.pem");
    std::fs::write(&file, root).unwrap();
    file
}

fn sign_args(world: &World, wait: &str, build_url: &str, description: &str) -> Vec<String> {
    args(&[
        "sign",
        "--profile",
        p(&world.jenkins),
        "--policy",
        "release-approved",
        "--wait",
        wait,
        "--build-url",
        build_url,
        "--commit",
        &format!("c0ffee{XSS}"),
        "--description",
        description,
        "--program-name",
        &format!("Prog{XSS}"),
    ])
}

/// Audit events with this action and object, as (identity, outcome).
async fn audit_events(world: &World, action: &str, object: &str) -> Vec<(String, String)> {
    let store = &world.server.state().store;
    let (mut found, mut from) = (Vec::new(), 1);
    loop {
        let events = store.read_audit(from, 1000).await.unwrap();
        let Some(last) = events.last() else { break };
        from = last.seq + 1;
        for e in events {
            if e.action == action && e.object.as_deref() == Some(object) {
                found.push((e.identity.clone().unwrap_or_default(), e.outcome.clone()));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvers_and_administrators_work_in_a_real_browser() {
    let world = world().await;
    let dir = world.dir.path().to_path_buf();
    let root = root_of(&world, "release-approved").await;

    // An approver the browser script locks out by failed logins, for the administrators to unlock.
    let out = sigil(
        args(&[
            "identity",
            "create",
            "bob",
            "--role",
            "approver",
            "--profile",
            p(&world.admin),
        ]),
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // A request left pending (--wait 0) whose http: build URL must not become a link.
    std::fs::write(dir.join("plain.txt"), "pending with an http build URL\n").unwrap();
    let http_build_url = "http://ci.example/job/7";
    let mut a = sign_args(&world, "0", http_build_url, "HTTP-BUILD pending");
    a.push("plain.txt".to_owned());
    let out = sigil(a, &dir).await;
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));

    // The CI client waits for the approval given in the browser: a release of a PE and a file
    // whose name is a payload, every metadata field with one too.
    let pe = dir.join("app.exe");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pe/tiny64.exe");
    std::fs::copy(fixture, &pe).unwrap();
    let xss_file = dir.join(format!("{XSS}.txt"));
    std::fs::write(&xss_file, "a file named like markup\n").unwrap();
    let https_build_url = format!("https://ci.example/job/1?x={XSS}");
    let description = format!("APPROVE-ME release {XSS}");
    let approving = {
        let mut a = sign_args(&world, "5m", &https_build_url, &description);
        a.extend(["app.exe".to_owned(), format!("{XSS}.txt")]);
        let dir = dir.clone();
        tokio::spawn(async move { sigil(a, &dir).await })
    };

    let settings = world.server.state().store.settings().await.unwrap();
    let read = |file: &str| {
        std::fs::read_to_string(world.data.join("admin").join(file))
            .unwrap()
            .trim()
            .to_owned()
    };
    let config = json!({
        "url": format!("https://{}", world.server.https_addr()),
        "ca": p(&world.report.root_ca),
        "approver": {"name": "approver", "password": world.report.approver_password.as_str()},
        "admin1": {"name": "admin1", "password": read("admin1.password")},
        "admin2": {"name": "admin2", "password": read("admin2.password")},
        "locked_identity": "bob",
        "lockout_threshold": settings.lockout_threshold,
        "policy": "release-approved",
        "xss": XSS,
        "approve_marker": "APPROVE-ME",
        "deny_marker": "DENY-ME",
        "http_marker": "HTTP-BUILD",
        "release_files": 2,
        "shown_as_text": {
            "file name": format!("{XSS}.txt"),
            "program name": format!("Prog{XSS}"),
            "description": description,
            "commit": format!("c0ffee{XSS}"),
            "build URL": https_build_url,
        },
        "https_build_url": https_build_url,
        "https_build_url_href": "https://ci.example/job/1?x=%3Cimg%20src=x%20onerror=alert(1)%3E",
        "http_build_url": http_build_url,
        "javascript_build_url": "javascript:alert(document.domain)",
        "approve_comment": format!("approved {XSS}"),
        "deny_reason": format!("no: {XSS}"),
    });

    // The browser script; its `logged-in` line starts the client whose release (denied in the
    // browser) must appear in the open page by itself.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser/console.py");
    let handle = tokio::runtime::Handle::current();
    let deny_args = {
        let mut a = sign_args(
            &world,
            "5m",
            "javascript:alert(document.domain)",
            &format!("DENY-ME {XSS}"),
        );
        for name in ["deny.txt", "deny2.txt"] {
            std::fs::write(dir.join(name), "to be denied in the browser\n").unwrap();
            a.push(name.to_owned());
        }
        a
    };
    let (browser, denying) = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            let mut child = Command::new("/usr/bin/python3")
                .arg(&script)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("cannot run /usr/bin/python3 (scripts/test.sh installs python3-selenium)");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(config.to_string().as_bytes())
                .unwrap();
            // stderr is read meanwhile, so that a chatty driver cannot fill its pipe and stall.
            let mut stderr = child.stderr.take().unwrap();
            let errors = std::thread::spawn(move || {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
                text
            });
            let mut denying = None;
            let mut lines = Vec::new();
            for line in BufReader::new(child.stdout.take().unwrap()).lines() {
                let line = line.unwrap();
                if line == "logged-in" {
                    let (a, d) = (deny_args.clone(), dir.clone());
                    denying = Some(handle.spawn(async move { sigil(a, &d).await }));
                }
                lines.push(line);
            }
            let status = child.wait().unwrap();
            ((status, lines, errors.join().unwrap()), denying)
        }
    })
    .await
    .unwrap();
    let (status, lines, stderr) = browser;
    assert!(
        status.success() && lines.last().map(String::as_str) == Some("ok"),
        "browser script failed ({status}):\nstdout: {lines:?}\nstderr:\n{stderr}"
    );

    // The approved client finished; its outputs verify independently.
    let out = approving.await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let checked = run_ok(
        "osslsigncode",
        &["verify", "-CAfile", p(&root), "-in", p(&pe)],
    );
    assert!(checked.contains("Signature verification: ok"), "{checked}");
    let public = dir.join("pub.pem");
    let key = run_ok(
        "openssl",
        &[
            "x509",
            "-in",
            p(&dir.join("chain.pem")),
            "-pubkey",
            "-noout",
        ],
    );
    std::fs::write(&public, key).unwrap();
    let signature = dir.join(format!("{XSS}.txt.sig"));
    let verified = run_ok(
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            p(&public),
            "-signature",
            p(&signature),
            p(&xss_file),
        ],
    );
    assert!(verified.contains("Verified OK"), "{verified}");

    // Its release manifest names the approval given in the browser and matches the files.
    let manifest = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("sigil-release-") && name.ends_with(".json")
        })
        .expect("no release manifest was written");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(written["approvals"][0]["approver"], "approver", "{written}");
    assert_eq!(written["files"].as_array().unwrap().len(), 2, "{written}");
    let out = sigil(args(&["verify", "--manifest", p(&manifest)]), &dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // The client of the denied release exits 4 with the reason typed in the browser, and
    // writes nothing.
    let out = denying.expect("the script never logged in").await.unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("no: {XSS}")),
        "the reason does not reach the requester: {}",
        text(&out)
    );
    assert!(!dir.join("deny.txt.sig").exists() && !dir.join("deny2.txt.sig").exists());

    // The dual-control actions done in the browser are in the audit log.
    assert_eq!(
        audit_events(&world, "identity.unlock", "bob").await,
        [("admin1".to_owned(), "success".to_owned())]
    );
    assert_eq!(
        audit_events(&world, "identity.update", "bob").await,
        [("admin1".to_owned(), "success".to_owned())]
    );
    let store = &world.server.state().store;
    let bob = store
        .get_identity(&"bob".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!bob.locked && !bob.enabled, "{bob:?}");
    world.server.shutdown().await;
}

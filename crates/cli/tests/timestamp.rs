//! `sigil sign --timestamp`: every format stamped by Sigil's own TSA and by an independent
//! TSA (`openssl ts -reply` with its own CA, behind a small HTTP server this test runs),
//! checked by the independent verifiers (`osslsigncode verify -TSA-CAfile`, `jarsigner
//! -verify -verbose -strict`, `openssl ts -verify`) and by `sigil verify`; a TSA that is down,
//! answers garbage or is disabled fails the file and leaves everything as it was.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;
use common::{World, args, p, run_ok, sigil, text, world};

/// What the test's HTTP TSA does with a request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `openssl ts -reply` answers.
    Openssl,
    /// A 200 with an HTML page.
    Garbage,
    /// The first request gets 503 with `Retry-After: 1`, the rest `openssl ts -reply`.
    BusyOnce,
    /// Reads the request and never answers (the connection stays open).
    Silent,
}

/// An independent TSA: its own openssl CA and TSA certificate (EKU timeStamping, critical).
struct OpensslTsa {
    dir: PathBuf,
    /// Its root certificate (the trust anchor of its tokens).
    root: PathBuf,
}

fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let t = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openssl {args:?}: {t}");
    t
}

impl OpensslTsa {
    fn new(base: &Path) -> Self {
        let dir = base.join("openssl-tsa");
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.as_path();
        openssl_ok(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "3650",
                "-subj",
                "/O=Independent Test/CN=Independent TSA Root",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl_ok(
            d,
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "tsa.key",
                "-out",
                "tsa.csr",
                "-subj",
                "/O=Independent Test/CN=Independent TSA",
            ],
        );
        std::fs::write(
            d.join("tsa-ext.cnf"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=critical,timeStamping\n",
        )
        .unwrap();
        openssl_ok(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "3650",
                "-extfile",
                "tsa-ext.cnf",
                "-out",
                "tsa.pem",
            ],
        );
        // Fields Sigil's own TSA never writes: millisecond accuracy, a fraction of a second
        // in genTime, ordering, the TSA name; the chain when the request asks for it.
        std::fs::write(
            d.join("tsa.cnf"),
            format!(
                "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\ndir = {dir}\n\
                 serial = $dir/serial\ncrypto_device = builtin\nsigner_cert = $dir/tsa.pem\n\
                 certs = $dir/ca.pem\nsigner_key = $dir/tsa.key\nsigner_digest = sha256\n\
                 default_policy = 1.2.3.4.1\ndigests = sha256, sha384, sha512\n\
                 accuracy = secs:1, millisecs:500\nclock_precision_digits = 3\n\
                 ordering = yes\ntsa_name = yes\ness_cert_id_chain = no\n\
                 ess_cert_id_alg = sha256\n",
                dir = d.display()
            ),
        )
        .unwrap();
        std::fs::write(d.join("serial"), "01\n").unwrap();
        Self {
            root: d.join("ca.pem"),
            dir,
        }
    }

    /// Serves RFC 3161 over HTTP on a loopback port; returns the URL and the request count.
    fn serve(&self, mode: Mode) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/tsa", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let (dir, seen) = (self.dir.clone(), count.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let n = seen.fetch_add(1, Ordering::SeqCst);
                answer(stream, &dir, mode, n);
            }
        });
        (url, count)
    }
}

/// Reads one HTTP request and answers it as `mode` says (request number `n`).
fn answer(stream: TcpStream, dir: &Path, mode: Mode, n: usize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut query = vec![0u8; length];
    reader.read_exact(&mut query).unwrap();
    if mode == Mode::Silent {
        // Hold the connection until the client gives up and closes it.
        let _ = reader.read(&mut [0u8; 1]);
        return;
    }
    let (status, extra, body) = match mode {
        Mode::Garbage => (
            "200 OK",
            "Content-Type: text/html\r\n",
            b"<html>not a time-stamp</html>".to_vec(),
        ),
        Mode::BusyOnce if n == 0 => ("503 Service Unavailable", "Retry-After: 1\r\n", Vec::new()),
        Mode::Openssl | Mode::BusyOnce | Mode::Silent => {
            let (q, r) = (dir.join(format!("q{n}.tsq")), dir.join(format!("r{n}.tsr")));
            std::fs::write(&q, &query).unwrap();
            openssl_ok(
                dir,
                &[
                    "ts",
                    "-reply",
                    "-config",
                    "tsa.cnf",
                    "-queryfile",
                    p(&q),
                    "-out",
                    p(&r),
                ],
            );
            (
                "200 OK",
                "Content-Type: application/timestamp-reply\r\n",
                std::fs::read(&r).unwrap(),
            )
        }
    };
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// The policy's chain (`sigil policies show --chain-out`); returns the root (the
/// code-signing CA, which is also the root of Sigil's TSA certificate).
async fn code_signing_root(world: &World) -> PathBuf {
    let dir = world.dir.path();
    let chain = dir.join("release-chain.pem");
    let out = sigil(
        args(&[
            "policies",
            "--profile",
            p(&world.jenkins),
            "show",
            "release",
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
        .nth(1)
        .unwrap();
    let path = dir.join("release-root.pem");
    std::fs::write(&path, root).unwrap();
    path
}

/// Waits until the approver sees a pending request and returns its id.
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
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no pending request appeared");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A copy of the PE fixture at `path`.
fn pe(path: &Path) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pe/tiny64.exe");
    std::fs::copy(fixture, path).unwrap();
}

/// An unsigned JAR at `path`.
fn jar(path: &Path) {
    let content = path.with_extension("content");
    std::fs::create_dir_all(content.join("com/example")).unwrap();
    std::fs::write(content.join("com/example/readme.txt"), "hello\n").unwrap();
    run_ok("jar", &["cf", p(path), "-C", p(&content), "."]);
    std::fs::remove_dir_all(content).unwrap();
}

/// `sigil sign --policy release` with `extra` options, in `dir`.
async fn sign(world: &World, dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut a = args(&[
        "sign",
        "--profile",
        p(&world.jenkins),
        "--policy",
        "release",
    ]);
    a.extend(args(extra));
    sigil(a, dir).await
}

/// The per-file objects of `sigil sign --json` (several files form a release, whose own
/// object, without `file`, comes last).
fn file_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l.get("file").is_some())
        .collect()
}

/// The names in `dir`.
fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// osslsigncode: the signature and `stamps` time-stamps verify with these roots.
fn osslsigncode_ok(file: &Path, root: &Path, tsa_root: &Path, stamps: usize) {
    let checked = run_ok(
        "osslsigncode",
        &[
            "verify",
            "-CAfile",
            p(root),
            "-TSA-CAfile",
            p(tsa_root),
            "-in",
            p(file),
        ],
    );
    assert!(checked.contains("Signature verification: ok"), "{checked}");
    assert_eq!(
        checked
            .matches("Timestamp Server Signature verification: ok")
            .count(),
        stamps,
        "{checked}"
    );
}

/// A PKCS#12 truststore with the code-signing root and `tsa_root`.
fn truststore(dir: &Path, name: &str, root: &Path, tsa_root: &Path) -> PathBuf {
    let store = dir.join(name);
    for (alias, pem) in [("root", root), ("tsa-root", tsa_root)] {
        if alias == "tsa-root" && std::fs::read(pem).unwrap() == std::fs::read(root).unwrap() {
            continue;
        }
        run_ok(
            "keytool",
            &[
                "-importcert",
                "-noprompt",
                "-storetype",
                "PKCS12",
                "-alias",
                alias,
                "-file",
                p(pem),
                "-keystore",
                p(&store),
                "-storepass",
                "changeit",
            ],
        );
    }
    store
}

/// jarsigner -strict: verified, time-stamped by `tsa`, no warning about a missing stamp.
fn jarsigner_ok(file: &Path, store: &Path, tsa: &str) {
    let checked = run_ok(
        "jarsigner",
        &[
            "-verify",
            "-verbose",
            "-strict",
            "-keystore",
            p(store),
            "-storepass",
            "changeit",
            p(file),
        ],
    );
    assert!(checked.contains("jar verified."), "{checked}");
    assert!(checked.contains("Timestamped by"), "{checked}");
    assert!(checked.contains(tsa), "{checked}");
    assert!(!checked.contains("no timestamp"), "{checked}");
    assert!(!checked.contains("not include a timestamp"), "{checked}");
}

/// openssl ts -verify of FILE.tsr over FILE.sig.
fn openssl_ts_ok(dir: &Path, name: &str, tsa_root: &Path) {
    let checked = run_ok(
        "openssl",
        &[
            "ts",
            "-verify",
            "-in",
            p(&dir.join(format!("{name}.tsr"))),
            "-data",
            p(&dir.join(format!("{name}.sig"))),
            "-CAfile",
            p(tsa_root),
        ],
    );
    assert!(checked.contains("Verification: OK"), "{checked}");
}

/// `sigil verify` succeeds and reports a time-stamp by `tsa` whose imprint matches.
async fn sigil_verify_ok(dir: &Path, extra: &[&str], tsa: &str) {
    let mut a = args(&["verify"]);
    a.extend(args(extra));
    let out = sigil(a, dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("time-stamp:"))
        .unwrap_or_else(|| panic!("no time-stamp reported: {}", text(&out)));
    assert!(line.contains(tsa) && line.contains("imprint ok"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_stamped_by_sigil_and_by_an_independent_tsa() {
    let world = world().await;
    let root = code_signing_root(&world).await;
    let independent = OpensslTsa::new(world.dir.path());
    let (url, _) = independent.serve(Mode::Openssl);

    // (TSA option, its root, the name its tokens show)
    let cases = [
        ("sigil", None, root.clone(), "Sigil Timestamping"),
        (
            "independent",
            Some(url),
            independent.root.clone(),
            "Independent TSA",
        ),
    ];
    for (name, url, tsa_root, tsa_name) in cases {
        let dir = world.dir.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        pe(&dir.join("app.exe"));
        jar(&dir.join("app.jar"));
        std::fs::write(dir.join("notes.txt"), format!("stamped by {name}\n")).unwrap();
        let mut options = vec!["--json"];
        match &url {
            Some(url) => options.extend(["--timestamp", url.as_str()]),
            // `--timestamp` without a value, then the files: the server's own TSA.
            None => options.push("--timestamp"),
        }
        options.extend(["app.exe", "app.jar", "notes.txt"]);
        let out = sign(&world, &dir, &options).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        for line in file_lines(&out) {
            assert_eq!(line["outcome"], "signed", "{line}");
            let detail = line["detail"].as_str().unwrap();
            assert!(
                detail.contains("time-stamped") && detail.contains(tsa_name),
                "{line}"
            );
        }

        osslsigncode_ok(&dir.join("app.exe"), &root, &tsa_root, 1);
        let store = truststore(&dir, "trust.p12", &root, &tsa_root);
        jarsigner_ok(&dir.join("app.jar"), &store, tsa_name);
        openssl_ts_ok(&dir, "notes.txt", &tsa_root);

        sigil_verify_ok(&dir, &["app.exe"], tsa_name).await;
        sigil_verify_ok(&dir, &["app.jar"], tsa_name).await;
        let chain = world.dir.path().join("release-chain.pem");
        let raw = [
            "notes.txt",
            "--signature",
            "notes.txt.sig",
            "--certificate",
            p(&chain),
        ];
        sigil_verify_ok(&dir, &raw, tsa_name).await;

        // A token over another signature: `sigil verify` names the mismatch and fails.
        std::fs::write(dir.join("other.txt"), "other\n").unwrap();
        let out = sign(&world, &dir, &["other.txt"]).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let other_sig = dir.join("other.txt.sig");
        let out = sigil(
            args(&[
                "verify",
                "notes.txt",
                "--signature",
                "notes.txt.sig",
                "--certificate",
                p(&chain),
                "--tsr",
                "notes.txt.tsr",
            ]),
            &dir,
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        std::fs::copy(dir.join("notes.txt.tsr"), dir.join("other.txt.tsr")).unwrap();
        let _ = other_sig;
        let out = sigil(
            args(&[
                "verify",
                "other.txt",
                "--signature",
                "other.txt.sig",
                "--certificate",
                p(&chain),
            ]),
            &dir,
        )
        .await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("imprint MISMATCH"),
            "{}",
            text(&out)
        );

        // --append --timestamp: the new nested signature carries its own stamp.
        let out = sign(&world, &dir, &["--append", "--timestamp", "app.exe"]).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("nested"),
            "{}",
            text(&out)
        );
        let tsa_roots = dir.join("tsa-roots.pem");
        let mut both = std::fs::read(&tsa_root).unwrap();
        both.extend(std::fs::read(&root).unwrap());
        std::fs::write(&tsa_roots, both).unwrap();
        osslsigncode_ok(&dir.join("app.exe"), &root, &tsa_roots, 2);
        let out = sigil(args(&["verify", "app.exe"]), &dir).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.matches("imprint ok").count(), 2, "{stdout}");
    }
    world.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tsa_down_silent_answering_garbage_or_disabled_fails_the_file_and_writes_nothing() {
    let world = world().await;
    let independent = OpensslTsa::new(world.dir.path());
    let (garbage, _) = independent.serve(Mode::Garbage);
    // A port nobody listens on any more.
    let down = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/tsa", listener.local_addr().unwrap())
    };
    let dir = world.dir.path().join("files");
    std::fs::create_dir(&dir).unwrap();
    pe(&dir.join("app.exe"));
    jar(&dir.join("app.jar"));
    std::fs::write(dir.join("notes.txt"), "notes\n").unwrap();
    let before: Vec<Vec<u8>> = ["app.exe", "app.jar", "notes.txt"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
    let names = listing(&dir);

    let check = |out: &std::process::Output, why: &str| {
        assert_ne!(out.status.code(), Some(0), "{}", text(out));
        let lines = file_lines(out);
        assert_eq!(lines.len(), 3, "{}", text(out));
        for line in &lines {
            assert_eq!(line["outcome"], "error", "{line}");
            let message = line["message"].as_str().unwrap();
            assert!(message.contains("time-stamp from"), "{line}");
            assert!(message.contains(why), "{line}");
            assert!(message.contains("nothing was written"), "{line}");
        }
        assert_eq!(listing(&dir), names, "files were left behind");
        for (f, b) in ["app.exe", "app.jar", "notes.txt"].iter().zip(&before) {
            assert_eq!(&std::fs::read(dir.join(f)).unwrap(), b, "{f} changed");
        }
    };
    let files = ["app.exe", "app.jar", "notes.txt"];

    let mut a = vec!["--json", "--timestamp", garbage.as_str()];
    a.extend(files);
    check(
        &sign(&world, &dir, &a).await,
        "not a valid RFC 3161 time-stamp",
    );

    let mut a = vec!["--json", "--timestamp", down.as_str()];
    a.extend(files);
    check(&sign(&world, &dir, &a).await, "no answer");

    // A TSA that never answers: the request gives up after its bounded timeout (30 s).
    let (silent, _) = independent.serve(Mode::Silent);
    let out = sign(
        &world,
        &dir,
        &["--json", "--timestamp", &silent, "notes.txt"],
    )
    .await;
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        line["message"].as_str().unwrap().contains("timed out"),
        "{line}"
    );
    assert_eq!(listing(&dir), names, "files were left behind");

    // Sigil's TSA disabled by the administrators: the message says how to enable it.
    let out = sigil(
        args(&[
            "settings",
            "--profile",
            p(&world.admin),
            "set",
            "--no-timestamp-certificate",
        ]),
        world.dir.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut a = vec!["--json"];
    a.extend(files);
    a.push("--timestamp");
    check(&sign(&world, &dir, &a).await, "--timestamp-certificate");

    // --no-timestamp: signed, unstamped; with --timestamp too: a usage error.
    let out = sign(
        &world,
        &dir,
        &["--timestamp", "--no-timestamp", "notes.txt"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = sign(&world, &dir, &["--no-timestamp", "notes.txt"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(dir.join("notes.txt.sig").is_file());
    assert!(!dir.join("notes.txt.tsr").exists());
    world.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_files_in_one_run_are_all_stamped_and_a_busy_tsa_is_retried() {
    let world = world().await;
    let root = code_signing_root(&world).await;
    let dir = world.dir.path().join("release");
    std::fs::create_dir(&dir).unwrap();
    let mut files = Vec::new();
    jar(&dir.join("template.jar"));
    for i in 0..7 {
        pe(&dir.join(format!("lib{i}.exe")));
        std::fs::copy(dir.join("template.jar"), dir.join(format!("mod{i}.jar"))).unwrap();
        files.extend([format!("lib{i}.exe"), format!("mod{i}.jar")]);
    }
    std::fs::remove_file(dir.join("template.jar")).unwrap();
    for i in 0..6 {
        std::fs::write(dir.join(format!("data{i}.txt")), format!("data {i}\n")).unwrap();
        files.push(format!("data{i}.txt"));
    }
    assert_eq!(files.len(), 20);

    // Once unstamped (a copy, for comparison only), then stamped: the times are printed, not
    // asserted.
    let plain = world.dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    for f in &files {
        std::fs::copy(dir.join(f), plain.join(f)).unwrap();
    }
    let mut a = vec!["--json"];
    a.extend(files.iter().map(String::as_str));
    let started = std::time::Instant::now();
    let out = sign(&world, &plain, &a).await;
    let unstamped = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    a.push("--timestamp");
    let started = std::time::Instant::now();
    let out = sign(&world, &dir, &a).await;
    eprintln!(
        "20 files: {unstamped:?} without time-stamps, {:?} with Sigil's TSA",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let lines = file_lines(&out);
    assert_eq!(lines.len(), 20);
    assert!(lines.iter().all(|l| l["outcome"] == "signed"), "{lines:?}");
    let store = truststore(&dir, "trust.p12", &root, &root);
    for f in &files {
        let path = dir.join(f);
        if f.ends_with(".exe") {
            osslsigncode_ok(&path, &root, &root, 1);
        } else if f.ends_with(".jar") {
            jarsigner_ok(&path, &store, "Sigil Timestamping");
        } else {
            openssl_ts_ok(&dir, f, &root);
        }
    }

    // A TSA that answers 503 with Retry-After once: the client waits and retries.
    let independent = OpensslTsa::new(world.dir.path());
    let (url, count) = independent.serve(Mode::BusyOnce);
    std::fs::write(dir.join("late.txt"), "late\n").unwrap();
    let out = sign(&world, &dir, &["--timestamp", &url, "late.txt"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(count.load(Ordering::SeqCst), 2);
    openssl_ts_ok(&dir, "late.txt", &independent.root);
    world.server.shutdown().await;
}

/// `sigil policy create` (administrators) with `timestamp_required`; `approvals` from the
/// quickstart's approval group.
async fn create_stamped_policy(world: &World, alias: &str, approvals: u32) -> std::process::Output {
    let body = world.dir.path().join(format!("{alias}.json"));
    let json = serde_json::json!({
        "alias": alias,
        "certificate": world.report.code_signing_serial.as_str(),
        "approvals_required": approvals,
        "approval_group": (approvals > 0).then_some("release-approvers"),
        "hashes": ["sha256"],
        "formats": ["hash", "authenticode", "jar"],
        "request_lifetime_secs": 3600,
        "roles": ["jenkins"],
        "timestamp_required": true,
    });
    std::fs::write(&body, json.to_string()).unwrap();
    sigil(
        args(&[
            "policy",
            "--profile",
            p(&world.admin),
            "create",
            "--file",
            p(&body),
        ]),
        world.dir.path(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_requires_timestamps_gets_them_from_the_server() {
    let world = world().await;
    let root = code_signing_root(&world).await;
    let out = create_stamped_policy(&world, "stamped", 0).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["timestamp_required"], true, "{created}");
    let out = sigil(
        args(&[
            "policies",
            "--profile",
            p(&world.jenkins),
            "show",
            "stamped",
        ]),
        world.dir.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("timestamp required: yes"),
        "{}",
        text(&out)
    );

    // No --timestamp, and --timestamp with another TSA: the server's stamp, only one.
    let independent = OpensslTsa::new(world.dir.path());
    let (url, asked) = independent.serve(Mode::Openssl);
    let dir = world.dir.path().join("stamped");
    std::fs::create_dir(&dir).unwrap();
    pe(&dir.join("app.exe"));
    jar(&dir.join("app.jar"));
    std::fs::write(dir.join("notes.txt"), "notes\n").unwrap();
    for extra in [vec![], vec!["--timestamp", url.as_str()]] {
        let mut a = args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "stamped",
            "--json",
        ]);
        a.extend(args(&extra));
        a.extend(args(&["app.exe", "app.jar", "notes.txt"]));
        let out = sigil(a, &dir).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let mut hash_request = None;
        for line in file_lines(&out) {
            let detail = line["detail"].as_str().unwrap();
            assert!(detail.contains("added by the server"), "{line}");
            assert!(detail.contains("Sigil Timestamping"), "{line}");
            if line["format"] == "hash" {
                hash_request = line["request_id"].as_str().map(str::to_owned);
            }
        }
        // The HTTPS API shows the same TimeStampResp as `timestamp`.
        let out = sigil(
            args(&[
                "request",
                "show",
                "--profile",
                p(&world.admin),
                &hash_request.unwrap(),
            ]),
            &dir,
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let tsr = std::fs::read(dir.join("notes.txt.tsr")).unwrap();
        assert_eq!(
            shown["timestamp"].as_str(),
            Some(hex(&tsr).as_str()),
            "{shown}"
        );
        osslsigncode_ok(&dir.join("app.exe"), &root, &root, 1);
        let store = dir.join("trust.p12");
        if !store.exists() {
            truststore(&dir, "trust.p12", &root, &root);
        }
        jarsigner_ok(&dir.join("app.jar"), &store, "Sigil Timestamping");
        openssl_ts_ok(&dir, "notes.txt", &root);
        sigil_verify_ok(&dir, &["app.exe"], "Sigil Timestamping").await;
    }
    assert_eq!(asked.load(Ordering::SeqCst), 0, "the client stamped again");

    // With an approval: stamped when the approved request is signed, and retrieved with
    // its TimeStampResp by the waiting client.
    let out = create_stamped_policy(&world, "stamped-approved", 1).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::write(dir.join("approved.txt"), "approved\n").unwrap();
    let waiting = {
        let (jenkins, dir) = (world.jenkins.clone(), dir.clone());
        tokio::spawn(async move {
            let a = args(&[
                "sign",
                "--profile",
                p(&jenkins),
                "--policy",
                "stamped-approved",
                "approved.txt",
            ]);
            sigil(a, &dir).await
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
    openssl_ts_ok(&dir, "approved.txt", &root);

    // The TSA disabled later: signing fails with the reason, nothing is written, and a new
    // policy requiring time-stamps is refused.
    let out = sigil(
        args(&[
            "settings",
            "--profile",
            p(&world.admin),
            "set",
            "--no-timestamp-certificate",
        ]),
        world.dir.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::write(dir.join("late.txt"), "late\n").unwrap();
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "stamped",
            "late.txt",
        ]),
        &dir,
    )
    .await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("requires a time-stamp") && stderr.contains("--timestamp-certificate"),
        "{}",
        text(&out)
    );
    assert!(!dir.join("late.txt.sig").exists());
    assert!(!dir.join("late.txt.tsr").exists());
    let out = create_stamped_policy(&world, "stamped-too", 0).await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("time-stamping authority is not usable"),
        "{}",
        text(&out)
    );
    world.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_files_than_the_tsa_rate_allows_are_all_stamped() {
    // 10 tokens a second (bursts of 10): 40 files in one run meet 503 with Retry-After and
    // wait; every file still ends stamped, by exactly one token each.
    let world = common::world_with(|config| config.timestamp_rate = 10.0).await;
    let root = code_signing_root(&world).await;
    let dir = world.dir.path().join("many");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..40 {
        std::fs::write(dir.join(format!("m{i:02}.txt")), format!("many {i}\n")).unwrap();
    }
    let out = sign(&world, &dir, &["--json", "--timestamp", "*.txt"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for i in 0..40 {
        openssl_ts_ok(&dir, &format!("m{i:02}.txt"), &root);
    }
    let store = &world.server.state().store;
    let mut issued = 0;
    let mut from = 1;
    loop {
        let events = store.read_audit(from, 1000).await.unwrap();
        let Some(last) = events.last() else { break };
        from = last.seq + 1;
        issued += events
            .iter()
            .filter(|e| e.action == "timestamp.issue")
            .count();
    }
    assert_eq!(issued, 40);
    world.server.shutdown().await;
}

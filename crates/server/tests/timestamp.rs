//! The RFC 3161 time-stamping authority at `POST /api/v1/timestamp`, against the real server
//! (quickstart deployment, 127.0.0.1:0, real TLS, real SQLite), driven by real clients:
//! `openssl ts` makes the queries and verifies the replies, `curl` carries them over HTTPS,
//! `jarsigner -tsa` time-stamps a JAR signature and `jarsigner -verify` shows it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use sigil_domain::CaName;
use sigil_pki::tsp::{self, FailureInfo, POLICY_OID};
use sigil_server::RunningServer;
use sigil_server::quickstart::{self, CODE_SIGNING_CA, QuickstartReport};

/// A started quickstart deployment and the files the clients need.
struct Tsa {
    dir: tempfile::TempDir,
    server: RunningServer,
    report: QuickstartReport,
    /// The Sigil TLS root (`DATA/ca/root.pem`), trusted by curl and Java for HTTPS.
    tls_root: PathBuf,
    /// The code-signing CA certificate, the trust anchor of the time-stamps.
    tsa_root: PathBuf,
    /// The TSA certificate.
    tsa_cert: PathBuf,
}

impl Tsa {
    async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// A deployment whose server configuration `adjust` changes first.
    async fn with_config(adjust: impl FnOnce(&mut sigil_server::ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let report = quickstart::provision_with(&common::options(&data))
            .await
            .unwrap();
        let mut config = common::config(&data);
        adjust(&mut config);
        let server = sigil_server::start(config).await.unwrap();
        let store = &server.state().store;
        let ca = store
            .get_ca(&CaName::new(CODE_SIGNING_CA).unwrap())
            .await
            .unwrap()
            .unwrap();
        let tsa = store
            .get_certificate(&report.timestamp_serial)
            .await
            .unwrap()
            .unwrap();
        let tsa_root = dir.path().join("tsa-root.pem");
        let tsa_cert = dir.path().join("tsa.pem");
        std::fs::write(
            &tsa_root,
            sigil_pki::pem::encode("CERTIFICATE", &ca.certificate_der).unwrap(),
        )
        .unwrap();
        std::fs::write(
            &tsa_cert,
            sigil_pki::pem::encode("CERTIFICATE", &tsa.der).unwrap(),
        )
        .unwrap();
        Self {
            tls_root: report.root_ca.clone(),
            dir,
            server,
            report,
            tsa_root,
            tsa_cert,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn url(&self, path: &str) -> String {
        format!(
            "https://localhost:{}/api/v1{path}",
            self.server.https_addr().port()
        )
    }

    /// POSTs `body` with `curl`; returns (HTTP status, response body).
    fn curl(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
        token: Option<&str>,
    ) -> (u16, Vec<u8>) {
        self.curl_method("POST", path, content_type, body, token)
    }

    fn curl_method(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
        token: Option<&str>,
    ) -> (u16, Vec<u8>) {
        let input = self.path("curl-in");
        let output = self.path("curl-out");
        std::fs::write(&input, body).unwrap();
        let _ = std::fs::remove_file(&output);
        let resolve = format!("localhost:{}:127.0.0.1", self.server.https_addr().port());
        let content_type = format!("Content-Type: {content_type}");
        let auth = token.map(|t| format!("Authorization: Bearer {t}"));
        let mut args = vec![
            "-sS",
            "-X",
            method,
            "--resolve",
            &resolve,
            "--cacert",
            self.tls_root.to_str().unwrap(),
            "-H",
            &content_type,
            "--data-binary",
        ];
        let data = format!("@{}", input.display());
        args.push(&data);
        if let Some(auth) = &auth {
            args.extend(["-H", auth.as_str()]);
        }
        let url = self.url(path);
        args.extend(["-o", output.to_str().unwrap(), "-w", "%{http_code}", &url]);
        let status = common::run_ok("curl", &args);
        (
            status.trim().parse().unwrap(),
            std::fs::read(&output).unwrap_or_default(),
        )
    }

    /// POSTs a DER time-stamp query; returns (HTTP status, DER reply).
    fn timestamp(&self, query: &[u8]) -> (u16, Vec<u8>) {
        self.curl("/timestamp", "application/timestamp-query", query, None)
    }

    /// A session with both quickstart administrators logged in.
    fn admin_session(&self) -> String {
        let init = self.report.init.as_ref().unwrap();
        let mut token: Option<String> = None;
        for (name, file) in init.admin_names.iter().zip(&init.admin_password_files) {
            let password = std::fs::read_to_string(file).unwrap().trim().to_owned();
            let body = json!({"identity": name, "password": password}).to_string();
            let (status, reply) = self.curl(
                "/login",
                "application/json",
                body.as_bytes(),
                token.as_deref(),
            );
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
            if token.is_none() {
                let reply: Value = serde_json::from_slice(&reply).unwrap();
                token = Some(reply["session"].as_str().unwrap().to_owned());
            }
        }
        token.unwrap()
    }

    fn put_settings(&self, token: &str, body: Value) -> (u16, Value) {
        let (status, reply) = self.curl_method(
            "PUT",
            "/settings",
            "application/json",
            body.to_string().as_bytes(),
            Some(token),
        );
        (status, serde_json::from_slice(&reply).unwrap())
    }
}

fn openssl(args: &[&str]) -> Output {
    common::run("openssl", args)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `openssl ts -query` for `data` with `extra` options; returns the DER query.
fn query(dir: &Path, name: &str, data: &Path, extra: &[&str]) -> Vec<u8> {
    let out = dir.join(name);
    let mut args = vec![
        "ts",
        "-query",
        "-data",
        data.to_str().unwrap(),
        "-out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    let result = openssl(&args);
    assert!(result.status.success(), "{}", text(&result));
    std::fs::read(out).unwrap()
}

/// The nonce `openssl ts -query -text` shows for a query file.
fn query_nonce(path: &Path) -> String {
    let out = openssl(&["ts", "-query", "-in", path.to_str().unwrap(), "-text"]);
    let text = text(&out);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Nonce: "))
        .unwrap_or_else(|| panic!("no nonce in {text}"))
        .to_owned()
}

fn verify(tsa: &Tsa, data: &Path, reply: &Path) -> Output {
    openssl(&[
        "ts",
        "-verify",
        "-data",
        data.to_str().unwrap(),
        "-in",
        reply.to_str().unwrap(),
        "-CAfile",
        tsa.tsa_root.to_str().unwrap(),
        "-untrusted",
        tsa.tsa_cert.to_str().unwrap(),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_verifies_granted_tokens_and_bad_requests_are_rejected_with_the_right_bit() {
    let tsa = Tsa::new().await;
    let data = tsa.path("artifact.bin");
    std::fs::write(&data, b"the artifact to time-stamp\n").unwrap();

    // SHA-256 with certReq: granted, our policy, the nonce echoed, verifies.
    let q = query(tsa.dir.path(), "q.tsq", &data, &["-sha256", "-cert"]);
    let (status, reply) = tsa.timestamp(&q);
    assert_eq!(status, 200);
    let r = tsa.path("r.tsr");
    std::fs::write(&r, &reply).unwrap();
    let shown = text(&openssl(&[
        "ts",
        "-reply",
        "-in",
        r.to_str().unwrap(),
        "-text",
    ]));
    assert!(shown.contains("Status: Granted."), "{shown}");
    assert!(
        shown.contains(&format!("Policy OID: {POLICY_OID}")),
        "{shown}"
    );
    let nonce = query_nonce(&tsa.path("q.tsq"));
    assert!(
        shown.contains(&format!("Nonce: {nonce}")),
        "{nonce} in {shown}"
    );
    assert!(shown.contains("Accuracy: 0x01 seconds"), "{shown}");
    assert!(shown.contains("CN=Sigil Timestamping"), "{shown}");
    let ok = verify(&tsa, &data, &r);
    assert!(text(&ok).contains("Verification: OK"), "{}", text(&ok));
    let summary = tsp::read_response(&reply).unwrap();
    assert!(tsp::token_has_certificates(&summary.token.unwrap()).unwrap());

    // Another file does not verify against the token.
    let other = tsa.path("other.bin");
    std::fs::write(&other, b"another artifact\n").unwrap();
    let bad = verify(&tsa, &other, &r);
    assert!(!bad.status.success(), "{}", text(&bad));
    assert!(!text(&bad).contains("Verification: OK"), "{}", text(&bad));

    // SHA-512, our policy named, no certReq: no certificates in the token; verifies with
    // the TSA certificate given separately.
    let q = query(
        tsa.dir.path(),
        "q512.tsq",
        &data,
        &["-sha512", "-tspolicy", POLICY_OID],
    );
    let (status, reply) = tsa.timestamp(&q);
    assert_eq!(status, 200);
    let summary = tsp::read_response(&reply).unwrap();
    assert_eq!(summary.status, 0);
    assert!(!tsp::token_has_certificates(&summary.token.unwrap()).unwrap());
    let r512 = tsa.path("r512.tsr");
    std::fs::write(&r512, &reply).unwrap();
    let ok = verify(&tsa, &data, &r512);
    assert!(text(&ok).contains("Verification: OK"), "{}", text(&ok));

    // Each token issued is in the audit log with its serial, hash and imprint.
    let events = tsa.server.state().store.read_audit(1, 1000).await.unwrap();
    let issued: Vec<_> = events
        .iter()
        .filter(|e| e.action == "timestamp.issue")
        .collect();
    assert_eq!(issued.len(), 2);
    let digest = common::run_ok(
        "openssl",
        &["dgst", "-sha256", "-r", data.to_str().unwrap()],
    );
    let digest = digest.split_whitespace().next().unwrap();
    assert_eq!(issued[0].details["imprint"], digest);
    assert_eq!(issued[0].details["hash"], "SHA256");
    assert_eq!(issued[1].details["hash"], "SHA512");
    assert_eq!(
        issued[0].object.as_deref(),
        Some(tsa.report.timestamp_serial.as_str())
    );
    assert_ne!(issued[0].details["serial"], issued[1].details["serial"]);

    // Bad requests: a rejection with the right bit, never a token.
    let valid = query(tsa.dir.path(), "v.tsq", &data, &["-sha256", "-no_nonce"]);
    let reject = |body: &[u8], failure: FailureInfo| {
        let (status, reply) = tsa.timestamp(body);
        assert_eq!(status, 200);
        let summary = tsp::read_response(&reply).unwrap();
        assert_eq!(summary.status, 2, "{summary:?}");
        assert_eq!(summary.failure_bits, vec![usize::from(failure.bit())]);
        assert!(summary.token.is_none());
        let file = tsa.path("rejected.tsr");
        std::fs::write(&file, &reply).unwrap();
        let shown = text(&openssl(&[
            "ts",
            "-reply",
            "-in",
            file.to_str().unwrap(),
            "-text",
        ]));
        assert!(shown.contains("Status: Rejected."), "{shown}");
        shown
    };
    let shown = reject(b"garbage", FailureInfo::BadDataFormat);
    assert!(
        shown.contains("the data submitted has the wrong format"),
        "{shown}"
    );
    // SHA-1 is not accepted.
    let sha1 = query(tsa.dir.path(), "sha1.tsq", &data, &["-sha1"]);
    let shown = reject(&sha1, FailureInfo::BadAlg);
    assert!(
        shown.contains("unrecognized or unsupported algorithm"),
        "{shown}"
    );
    // A digest one byte short: the imprint's OCTET STRING length and the lengths around it.
    let mut short = valid.clone();
    let at = short.len() - 32;
    assert_eq!(short[at - 2..at], [0x04, 32]);
    short.remove(at);
    short[at - 1] = 31;
    short[1] -= 1;
    short[3] -= 1;
    reject(&short, FailureInfo::BadDataFormat);
    // A foreign policy.
    let foreign = query(
        tsa.dir.path(),
        "pol.tsq",
        &data,
        &["-sha256", "-tspolicy", "1.2.3.4"],
    );
    let shown = reject(&foreign, FailureInfo::UnacceptedPolicy);
    assert!(shown.contains("1.2.3.4"), "{shown}");
    // A critical extension (1.2.3.4 = NULL, critical).
    let mut critical = valid.clone();
    critical.extend([
        0xa0, 0x0e, 0x30, 0x0c, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x01, 0x01, 0xff, 0x04, 0x02, 0x05,
        0x00,
    ]);
    critical[1] += 16;
    reject(&critical, FailureInfo::UnacceptedExtension);
    // An oversized body.
    reject(
        &vec![0x30; tsp::MAX_REQUEST_LEN + 1],
        FailureInfo::BadDataFormat,
    );
    // The wrong media type: 415 and a rejection.
    let (status, reply) = tsa.curl("/timestamp", "application/json", &valid, None);
    assert_eq!(status, 415);
    assert_eq!(tsp::read_response(&reply).unwrap().status, 2);
    // Still exactly two tokens in the audit log.
    let events = tsa.server.state().store.read_audit(1, 1000).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "timestamp.issue")
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setting_takes_only_a_usable_timestamping_certificate_and_unset_answers_503() {
    let tsa = Tsa::new().await;
    let token = tsa.admin_session();

    // Refused: an unknown serial, a code-signing certificate, a malformed serial.
    let (status, body) = tsa.put_settings(&token, json!({"timestamp_certificate": "abcdef"}));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{body}"
    );
    let code_signing = tsa.report.code_signing_serial.as_str();
    let (status, body) = tsa.put_settings(&token, json!({"timestamp_certificate": code_signing}));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("code-signing profile"),
        "{body}"
    );
    let (status, _) = tsa.put_settings(&token, json!({"timestamp_certificate": "xyz"}));
    assert_eq!(status, 400);

    // Disabled: 503 and a systemFailure rejection that says how to enable it.
    let (status, body) = tsa.put_settings(&token, json!({"timestamp_certificate": ""}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["timestamp_certificate"], Value::Null);
    let data = tsa.path("a.bin");
    std::fs::write(&data, b"a").unwrap();
    let q = query(tsa.dir.path(), "q.tsq", &data, &["-sha256", "-cert"]);
    let (status, reply) = tsa.timestamp(&q);
    assert_eq!(status, 503);
    let summary = tsp::read_response(&reply).unwrap();
    assert_eq!(
        summary.failure_bits,
        vec![usize::from(FailureInfo::SystemFailure.bit())]
    );
    let file = tsa.path("r.tsr");
    std::fs::write(&file, &reply).unwrap();
    let shown = text(&openssl(&[
        "ts",
        "-reply",
        "-in",
        file.to_str().unwrap(),
        "-text",
    ]));
    assert!(shown.contains("--timestamp-certificate"), "{shown}");

    // Enabled again.
    let serial = tsa.report.timestamp_serial.as_str();
    let (status, body) = tsa.put_settings(&token, json!({"timestamp_certificate": serial}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["timestamp_certificate"], serial);
    let (status, reply) = tsa.timestamp(&q);
    assert_eq!(status, 200);
    std::fs::write(&file, &reply).unwrap();
    let ok = verify(&tsa, &data, &file);
    assert!(text(&ok).contains("Verification: OK"), "{}", text(&ok));
}

fn java_tool(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn java_ok(program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = java_tool(program, args, env);
    assert!(out.status.success(), "{program} {args:?}: {}", text(&out));
    text(&out)
}

/// `keytool -importcert` of a PEM certificate as a trusted entry of a PKCS#12 store
/// (password in `STOREPASS`).
fn import_certificate(alias: &str, pem: &Path, store: &str, env: &[(&str, &str)]) {
    java_ok(
        "keytool",
        &[
            "-importcert",
            "-noprompt",
            "-alias",
            alias,
            "-file",
            pem.to_str().unwrap(),
            "-keystore",
            store,
            "-storetype",
            "PKCS12",
            "-storepass:env",
            "STOREPASS",
        ],
        env,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jarsigner_timestamps_a_jar_with_sigil_as_its_tsa() {
    let tsa = Tsa::new().await;
    let env = [("STOREPASS", "local-test-store-123")];
    let path = |n: &str| tsa.path(n).to_str().unwrap().to_owned();

    // Java trusts Sigil's TLS root for the HTTPS connection to the TSA...
    let truststore = path("truststore.p12");
    import_certificate("sigil-tls", &tsa.tls_root, &truststore, &env);
    // ...and the code-signing CA for the time-stamp's chain when verifying.
    import_certificate("sigil-tsa-root", &tsa.tsa_root, &truststore, &env);
    // A local signing key (self-signed): the JAR signature is not Sigil's here, its timestamp is.
    let keystore = path("signer.p12");
    java_ok(
        "keytool",
        &[
            "-genkeypair",
            "-alias",
            "signer",
            "-keyalg",
            "EC",
            "-groupname",
            "secp256r1",
            "-dname",
            "CN=Local Signer",
            "-validity",
            "30",
            "-keystore",
            &keystore,
            "-storetype",
            "PKCS12",
            "-storepass:env",
            "STOREPASS",
        ],
        &env,
    );
    // jarsigner checks the TSA's chain against the signer's keystore when it signs.
    import_certificate("sigil-tsa-root", &tsa.tsa_root, &keystore, &env);
    let class = tsa.path("Hello.txt");
    std::fs::write(&class, b"hello\n").unwrap();
    let jar = path("app.jar");
    java_ok(
        "jar",
        &[
            "--create",
            "--file",
            &jar,
            "-C",
            tsa.dir.path().to_str().unwrap(),
            "Hello.txt",
        ],
        &[],
    );

    let trust = [
        format!("-J-Djavax.net.ssl.trustStore={truststore}"),
        "-J-Djavax.net.ssl.trustStoreType=PKCS12".to_owned(),
        format!("-J-Djavax.net.ssl.trustStorePassword={}", env[0].1),
    ];
    let url = tsa.url("/timestamp");
    let mut args: Vec<&str> = trust.iter().map(String::as_str).collect();
    args.extend([
        "-keystore",
        &keystore,
        "-storetype",
        "PKCS12",
        "-storepass:env",
        "STOREPASS",
        "-tsa",
        &url,
        &jar,
        "signer",
    ]);
    let signed = java_ok("jarsigner", &args, &env);
    assert!(signed.contains("jar signed."), "{signed}");
    assert!(
        !signed.contains("TSA certificate chain is invalid"),
        "{signed}"
    );

    let verify = java_ok(
        "jarsigner",
        &[
            "-verify",
            "-verbose",
            "-certs",
            "-keystore",
            &truststore,
            "-storetype",
            "PKCS12",
            "-storepass:env",
            "STOREPASS",
            &jar,
        ],
        &env,
    );
    assert!(verify.contains("jar verified."), "{verify}");
    assert!(verify.to_lowercase().contains("timestamped by"), "{verify}");
    assert!(verify.contains("CN=Sigil Timestamping"), "{verify}");
    // Five years of validity: no "expires within one year" warning.
    assert!(!verify.contains("within one year"), "{verify}");

    // The audit log holds the token jarsigner got.
    let events = tsa.server.state().store.read_audit(1, 1000).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "timestamp.issue")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_rate_limit_get_503_and_no_token() {
    // One token, refilled after 1,000 s: the second request is over the limit whatever the
    // machine's speed.
    let tsa = Tsa::with_config(|config| config.timestamp_rate = 0.001).await;
    let data = tsa.path("artifact.bin");
    std::fs::write(&data, b"rate limited\n").unwrap();
    let q = query(tsa.dir.path(), "q.tsq", &data, &["-sha256", "-cert"]);
    let (status, _) = tsa.timestamp(&q);
    assert_eq!(status, 200);
    let (status, reply) = tsa.timestamp(&q);
    assert_eq!(status, 503);
    let r = tsa.path("limited.tsr");
    std::fs::write(&r, &reply).unwrap();
    let shown = text(&openssl(&[
        "ts",
        "-reply",
        "-in",
        r.to_str().unwrap(),
        "-text",
    ]));
    assert!(shown.contains("Status: Rejected."), "{shown}");
    assert!(shown.contains("too many time-stamp requests"), "{shown}");
    assert!(
        shown.contains("TST info:\nNot included."),
        "no token: {shown}"
    );

    // One token was issued, so one audit event.
    let events = tsa
        .server
        .state()
        .store
        .read_audit(1, 10_000)
        .await
        .unwrap();
    let issued = events
        .iter()
        .filter(|e| e.action == "timestamp.issue")
        .count();
    assert_eq!(issued, 1);
    tsa.server.shutdown().await;
}

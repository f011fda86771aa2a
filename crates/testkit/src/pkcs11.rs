//! The PKCS#11 module's harness: a quickstart deployment served on ephemeral loopback ports
//! (built on [`crate::world`]), the built `libsigil_pkcs11.so`, an EC and a PSS policy, and the
//! HTTPS API through `curl` (another process, as an approver's tool would be).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use sigil_server::RunningServer;
use sigil_server::quickstart::QuickstartReport;

pub use crate::tools::stdout_ok as run_ok;
pub use crate::world::{p, text};

/// The module as Cargo built it for this test run: `cargo test` leaves the cdylib in
/// `target/<profile>/deps/`, next to the test executable (only `cargo build` copies it up to
/// `target/<profile>/`, where it may be stale).
pub fn module_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let module = exe.parent().unwrap().join("libsigil_pkcs11.so");
    assert!(module.exists(), "{} was not built", module.display());
    module
}

/// A running quickstart deployment.
pub struct World {
    /// Holds everything the test writes.
    pub dir: tempfile::TempDir,
    /// The running server.
    pub server: RunningServer,
    /// What provisioning made: profiles, password files, certificates.
    pub report: QuickstartReport,
    /// The jenkins client profile (pointing at the running server).
    pub jenkins: PathBuf,
    /// The jenkins identity's password: the PIN.
    pub pin: String,
    /// The root of the policies' chains (PEM).
    pub code_signing_root: PathBuf,
}

/// A running quickstart deployment with the `ec-release` and `pss-release` policies.
pub async fn world() -> World {
    world_with(|_| {}).await
}

/// A world whose server configuration `adjust` changes first.
pub async fn world_with(adjust: impl FnOnce(&mut sigil_server::ServerConfig)) -> World {
    let crate::world::World {
        dir,
        server,
        report,
        jenkins,
        ..
    } = crate::world::world_with(adjust).await;
    let pin = std::fs::read_to_string(&report.jenkins_password_file)
        .unwrap()
        .trim_end()
        .to_owned();
    let code_signing_root = dir.path().join("code-signing-root.pem");
    let world = World {
        dir,
        server,
        report,
        jenkins,
        pin,
        code_signing_root,
    };
    let admin = world.login(&["admin1", "admin2"], &world.report.admin_profile.clone());
    // The quickstart certificate's issuer is the root of every policy's chain.
    let cert = world.api(
        &admin,
        "GET",
        &format!("/certificates/{}", world.report.code_signing_serial),
        None,
    );
    let issuer = world.api(
        &admin,
        "GET",
        &format!("/cas/{}", cert["issuer"].as_str().unwrap()),
        None,
    );
    std::fs::write(
        &world.code_signing_root,
        issuer["certificate_pem"]
            .as_str()
            .unwrap_or_else(|| panic!("{issuer}")),
    )
    .unwrap();
    world.add_policies(&admin);
    world
}

impl World {
    /// Runs curl against the HTTPS API: `token` (if any) and body never on a command line.
    pub fn api(&self, token: &str, method: &str, path: &str, body: Option<&Value>) -> Value {
        let url = format!("https://{}/api/v1{path}", self.server.https_addr());
        let headers = self.dir.path().join("curl-headers");
        let mut header = String::from("Content-Type: application/json\n");
        if !token.is_empty() {
            header.push_str(&format!("Authorization: Bearer {token}\n"));
        }
        std::fs::write(&headers, header).unwrap();
        let mut child = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&self.report.root_ca)
            .args(["-X", method, "-H"])
            .arg(format!("@{}", headers.display()))
            .args(if body.is_some() {
                &["--data-binary", "@-"][..]
            } else {
                &[][..]
            })
            .arg(&url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(body) = body {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(body.to_string().as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "curl {method} {path} failed");
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: {e}: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        assert!(answer.get("error").is_none(), "{method} {path}: {answer}");
        answer
    }

    /// Logs identities of a profile in on one HTTPS session (passwords from their files).
    pub fn login(&self, identities: &[&str], profile: &Path) -> String {
        let mut token = String::new();
        for name in identities {
            let password =
                std::fs::read_to_string(profile.with_file_name(format!("{name}.password")))
                    .unwrap();
            let answer = self.api(
                &token,
                "POST",
                "/login",
                Some(&json!({"identity": name, "password": password.trim_end()})),
            );
            if let Some(session) = answer["session"].as_str() {
                token = session.to_owned();
            }
        }
        token
    }

    /// `ec-release` (a new P-256 key, SHA-256 and SHA-384 only) and `pss-release` (the
    /// quickstart RSA key with the PSS scheme), both without approvals, for the jenkins role.
    fn add_policies(&self, admin: &str) {
        let ec = self.api(
            admin,
            "POST",
            "/certificates",
            Some(&json!({
                "issuer": sigil_server::quickstart::CODE_SIGNING_CA, "profile": "code-signing",
                "subject": "CN=EC Signing,O=Sigil Demo", "validity_days": 365,
                "key_algorithm": "ec-p256", "key_backend": "software",
            })),
        );
        for (alias, serial, scheme, hashes) in [
            (
                "ec-release",
                ec["serial"].as_str().unwrap().to_owned(),
                "pkcs1v15",
                json!(["sha256", "sha384"]),
            ),
            (
                "pss-release",
                self.report.code_signing_serial.to_string(),
                "pss",
                json!(["sha256", "sha384", "sha512"]),
            ),
        ] {
            self.api(
                admin,
                "POST",
                "/policies",
                Some(&json!({
                    "alias": alias, "certificate": serial, "rsa_scheme": scheme,
                    "approvals_required": 0, "hashes": hashes,
                    "formats": ["hash"], "request_lifetime_secs": 3600, "roles": ["jenkins"],
                })),
            );
        }
    }

    /// The approver's pending requests.
    pub fn pending(&self, approver: &str) -> Vec<Value> {
        self.api(approver, "GET", "/requests?state=pending", None)
            .as_array()
            .unwrap()
            .clone()
    }

    /// Waits until exactly one request is pending and returns its id.
    pub async fn one_pending(&self, approver: &str) -> String {
        for _ in 0..600 {
            if let Some(first) = self.pending(approver).first() {
                return first["id"].as_str().unwrap().to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no pending request appeared");
    }

    /// A tool's command with the module's environment (the jenkins profile).
    pub fn tool(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(self.dir.path())
            .env("SIGIL_PKCS11_PROFILE", &self.jenkins)
            .env_remove("SIGIL_PKCS11_CONFIG")
            .env_remove("SIGIL_PASSWORD")
            .env_remove("SIGIL_P12_PASSWORD")
            .stdin(Stdio::null());
        command
    }

    /// A file in the world's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Runs a command off the async runtime (which serves the server meanwhile).
pub async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// Runs a command that must succeed; returns stdout and stderr.
pub async fn ok(command: Command) -> String {
    let out = output(command).await;
    assert!(out.status.success(), "{}", text(&out));
    crate::tools::output_text(&out)
}

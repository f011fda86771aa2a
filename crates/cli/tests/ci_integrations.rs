//! The CI integrations under `integrations/` against the real server and the real `sigil`:
//! the Jenkins shared library step run by Debian's `groovy` through the pipeline-step harness
//! (`integrations/jenkins/test/harness.groovy`), and the GitHub composite action's and the
//! GitLab template's shell steps, taken from their YAML (parsed by PyYAML) and run with bash
//! and the environment the runner would set. Each signs an Authenticode PE, a JAR and a file
//! (checked by osslsigncode, jarsigner -strict and openssl), fails on a denial with the
//! approver's reason and on a timeout with the request id, and never prints a secret.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

mod common;
use common::{World, args, chain, p, run_ok, sigil, text, world};

const DENIAL: &str = "CI test: not a release build";
/// What `sigil --version` prints: the integrations log it first.
const VERSION: &str = concat!("sigil ", env!("CARGO_PKG_VERSION"));
/// A description a shell would act on if it were ever interpolated into a script.
const TRICKY: &str = "app 1.0 \"quoted\" it's $(touch injected) `touch injected`; $HOME";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What every integration's run shares: the server, a workspace with files to sign and a
/// profile without secrets, the secrets as a CI store holds them, and the verifiers' inputs.
struct Ci {
    world: World,
    workspace: PathBuf,
    p12: PathBuf,
    p12_password: String,
    password: String,
    root: PathBuf,
    public: PathBuf,
    truststore: PathBuf,
}

async fn ci(name: &str) -> Ci {
    let world = world().await;
    let dir = world.dir.path().to_path_buf();
    let (_, root, public) = chain(&world, "release").await;
    let truststore = dir.join("truststore.p12");
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
            p(&truststore),
            "-storepass",
            "changeit",
        ],
    );
    let workspace = dir.join(name);
    std::fs::create_dir_all(workspace.join("ci")).unwrap();
    // What a repository commits: addresses and the CA, no client certificate, no secret.
    std::fs::write(
        workspace.join("ci/sigil.toml"),
        format!(
            "host_api = \"{}\"\nhttps = \"https://{}\"\nserver_name = \"localhost\"\n\
             ca_certificate = \"{}\"\n\n[[identity]]\nname = \"jenkins\"\n",
            world.server.host_api_addr(),
            world.server.https_addr(),
            p(&world.report.root_ca),
        ),
    )
    .unwrap();
    let p12_password = std::fs::read_to_string(&world.report.jenkins_p12_password_file)
        .unwrap()
        .trim_end()
        .to_owned();
    let password = world.report.jenkins_password.to_string();
    Ci {
        p12: world.report.jenkins_p12.clone(),
        world,
        workspace,
        p12_password,
        password,
        root,
        public,
        truststore,
    }
}

impl Ci {
    /// Fresh files to sign under `dist/`: a PE, a JAR and a text file.
    fn fixtures(&self) {
        let dist = self.workspace.join("dist");
        let _ = std::fs::remove_dir_all(&dist);
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::copy(repo().join("testdata/pe/tiny64.exe"), dist.join("app.exe")).unwrap();
        let content = self.workspace.join("jar-content");
        std::fs::create_dir_all(content.join("com/example")).unwrap();
        std::fs::write(content.join("com/example/readme.txt"), "hello\n").unwrap();
        run_ok(
            "jar",
            &["cf", p(&dist.join("app.jar")), "-C", p(&content), "."],
        );
        std::fs::write(dist.join("notes.txt"), "release notes\n").unwrap();
    }

    /// The three outputs verify with the independent verifiers.
    fn verify(&self, dir: &Path) {
        let checked = run_ok(
            "osslsigncode",
            &[
                "verify",
                "-CAfile",
                p(&self.root),
                "-in",
                p(&dir.join("app.exe")),
            ],
        );
        assert!(checked.contains("Signature verification: ok"), "{checked}");
        let checked = run_ok(
            "jarsigner",
            &[
                "-verify",
                "-strict",
                "-keystore",
                p(&self.truststore),
                "-storepass",
                "changeit",
                p(&dir.join("app.jar")),
            ],
        );
        assert!(checked.contains("jar verified."), "{checked}");
        let checked = run_ok(
            "openssl",
            &[
                "dgst",
                "-sha256",
                "-verify",
                p(&self.public),
                "-signature",
                p(&dir.join("notes.txt.sig")),
                p(&dir.join("notes.txt")),
            ],
        );
        assert!(checked.contains("Verified OK"), "{checked}");
    }

    /// The run formed one release whose manifest `sigil verify --manifest` accepts, in the
    /// workspace and (when given) as archived.
    async fn verify_manifest(&self, release_id: &str, manifest: &str, archive: Option<&Path>) {
        assert_eq!(manifest, format!("dist/sigil-release-{release_id}.json"));
        let out = sigil(args(&["verify", "--manifest", manifest]), &self.workspace).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        if let Some(archive) = archive {
            assert_eq!(
                std::fs::read(archive.join(manifest)).unwrap(),
                std::fs::read(self.workspace.join(manifest)).unwrap()
            );
        }
    }

    /// The log holds none of the secrets (in any form a CI store holds them).
    fn assert_no_secret(&self, log: &str) {
        let p12 =
            base64::engine::general_purpose::STANDARD.encode(std::fs::read(&self.p12).unwrap());
        for secret in [&self.password, &self.p12_password, &p12] {
            assert!(
                !log.contains(secret.as_str()),
                "a secret is in the log:\n{log}"
            );
        }
    }

    /// A command as a CI runner starts it: the runner's environment (PATH with `sigil`, no
    /// Sigil variables of the developer), in the workspace.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        let bin = Path::new(env!("CARGO_BIN_EXE_sigil")).parent().unwrap();
        let path = format!("{}:{}", p(bin), std::env::var("PATH").unwrap_or_default());
        for (key, _) in std::env::vars() {
            if key.starts_with("SIGIL_") || key.starts_with("INPUT_") || key == "BUILD_URL" {
                command.env_remove(key);
            }
        }
        command
            .env("PATH", path)
            .current_dir(&self.workspace)
            .stdin(Stdio::null());
        command
    }

    /// The request as the administrators see it.
    async fn request(&self, id: &str) -> Value {
        let out = sigil(
            args(&["request", "show", "--profile", p(&self.world.admin), id]),
            self.world.dir.path(),
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Waits for the one pending `kind` (`request` or `release`), then approves or denies it
    /// as the approver; returns its id.
    async fn decide_pending(&self, kind: &str, approve: bool) -> String {
        let approver = p(&self.world.approver);
        let mut id = None;
        for _ in 0..1200 {
            let list = args(&[
                kind,
                "list",
                "--profile",
                approver,
                "--state",
                "pending",
                "--json",
            ]);
            let out = sigil(list, self.world.dir.path()).await;
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
            let list: Value = serde_json::from_slice(&out.stdout).unwrap();
            if let Some(first) = list.as_array().and_then(|a| a.first()) {
                id = Some(first["id"].as_str().unwrap().to_owned());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let id = id.unwrap_or_else(|| panic!("no pending {kind} appeared"));
        let decision = if approve {
            args(&[kind, "approve", "--profile", approver, &id])
        } else {
            args(&[
                kind,
                "deny",
                "--profile",
                approver,
                &id,
                "--comment",
                DENIAL,
            ])
        };
        let out = sigil(decision, self.world.dir.path()).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        id
    }
}

/// Runs a prepared command off the async runtime (the server keeps serving meanwhile).
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn log_of(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A YAML file as JSON, parsed by PyYAML (Debian's python3-yaml).
fn yaml(path: &Path) -> Value {
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
            p(path),
        ])
        .output()
        .expect("cannot run /usr/bin/python3 (install python3-yaml)");
    assert!(out.status.success(), "{}", log_of(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

// --- Jenkins --------------------------------------------------------------------------------

/// The JDK that `groovy` needs (Debian's launcher looks for JAVA_HOME): the one `java` is in.
fn java_home() -> PathBuf {
    if let Some(home) = std::env::var_os("JAVA_HOME").map(PathBuf::from)
        && home.join("bin/java").is_file()
    {
        return home;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let java = std::env::split_paths(&path)
        .map(|d| d.join("java"))
        .find(|j| j.is_file())
        .expect("java is not on PATH (install openjdk-17-jdk-headless)");
    let java = std::fs::canonicalize(java).unwrap();
    java.parent().unwrap().parent().unwrap().to_path_buf()
}

/// `sigilSign(step_args)` run by the harness as a build would; returns the captured log.
async fn jenkins(ci: &Ci, step_args: Value, credentials: &Value) -> Output {
    let dir = ci.world.dir.path();
    let args_file = dir.join("jenkins-args.json");
    std::fs::write(&args_file, step_args.to_string()).unwrap();
    let store = dir.join("jenkins-credentials.json");
    std::fs::write(&store, credentials.to_string()).unwrap();
    let archive = dir.join("jenkins-archive");
    let _ = std::fs::remove_dir_all(&archive);
    let library = repo().join("integrations/jenkins");
    let mut command = ci.command("groovy");
    command
        .env("JAVA_HOME", java_home())
        .env("WORKSPACE", &ci.workspace)
        .env("BUILD_URL", "https://jenkins.example/job/app/42/")
        .env("GIT_COMMIT", "0123456789abcdef0123456789abcdef01234567")
        .arg(library.join("test/harness.groovy"))
        .arg(&library)
        .arg("sigilSign")
        .arg(&args_file)
        .arg(&store)
        .arg(&archive);
    run(command).await
}

fn jenkins_result(log: &str) -> Value {
    let line = log
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line:\n{log}"));
    serde_json::from_str(line).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jenkins_shared_library_signs_fails_with_reasons_and_keeps_secrets() {
    let ci = ci("jenkins").await;
    ci.fixtures();
    // The example pipeline cannot run without a controller: at least it parses.
    let library = repo().join("integrations/jenkins");
    let mut command = ci.command("groovy");
    command
        .env("JAVA_HOME", java_home())
        .arg(library.join("test/syntax.groovy"))
        .arg(library.join("Jenkinsfile"));
    let out = run(command).await;
    assert!(out.status.success(), "{}", log_of(&out));
    let credentials = json!({
        "sigil-ci": {"type": "file", "path": p(&ci.p12)},
        "sigil-ci-p12-password": {"type": "string", "secret": ci.p12_password},
        "sigil-ci-password": {"type": "string", "secret": ci.password},
        "sigil-cert": {"type": "certificate", "path": p(&ci.p12), "password": ci.p12_password},
    });

    // Signed at once: a PE, a JAR and a file; outputs verified, archived, returned.
    let out = jenkins(
        &ci,
        json!({"policy": "release", "files": ["dist/*.exe", "dist/app.jar", "dist/notes.txt"],
               "profile": "ci/sigil.toml", "credentialsId": "sigil-ci",
               "description": TRICKY}),
        &credentials,
    )
    .await;
    let log = log_of(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("Finished: SUCCESS"), "{log}");
    assert!(log.contains(VERSION), "{log}");
    ci.verify(&ci.workspace.join("dist"));
    let result = jenkins_result(&log);
    let signed: Vec<&str> = result["signed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        signed,
        ["dist/app.exe", "dist/app.jar", "dist/notes.txt.sig"],
        "{log}"
    );
    let archive = ci.world.dir.path().join("jenkins-archive");
    for path in &signed {
        assert_eq!(
            std::fs::read(archive.join(path)).unwrap(),
            std::fs::read(ci.workspace.join(path)).unwrap()
        );
    }
    // Several files form one release: its manifest is verified and archived.
    ci.verify_manifest(
        result["releaseId"].as_str().unwrap(),
        result["manifest"].as_str().unwrap(),
        Some(&archive),
    )
    .await;
    let ids = result["requestIds"].as_array().unwrap();
    assert_eq!(ids.len(), 3, "{log}");
    for id in ids {
        let id = id.as_str().unwrap();
        assert!(log.contains(id), "{log}");
        // BUILD_URL and GIT_COMMIT went along without being asked for.
        let request = ci.request(id).await;
        assert_eq!(
            request["metadata"]["build_url"], "https://jenkins.example/job/app/42/",
            "{request}"
        );
        assert_eq!(
            request["metadata"]["commit"], "0123456789abcdef0123456789abcdef01234567",
            "{request}"
        );
        assert_eq!(request["metadata"]["description"], TRICKY, "{request}");
    }
    assert!(!ci.workspace.join("injected").exists());
    ci.assert_no_secret(&log);

    // A release needing one approval: the build waits until the approver approves it.
    ci.fixtures();
    let waiting = jenkins(
        &ci,
        json!({"policy": "release-approved", "files": ["dist/app.jar", "dist/notes.txt"],
               "profile": "ci/sigil.toml", "credentialsId": "sigil-ci", "wait": "5m"}),
        &credentials,
    );
    let (out, release) = tokio::join!(waiting, ci.decide_pending("release", true));
    let log = log_of(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let result = jenkins_result(&log);
    assert_eq!(result["releaseId"], release.as_str(), "{log}");
    ci.verify_manifest(
        &release,
        result["manifest"].as_str().unwrap(),
        Some(&archive),
    )
    .await;
    for id in result["requestIds"].as_array().unwrap() {
        let id = id.as_str().unwrap();
        assert!(
            log.contains(&format!("request {id} is waiting for approval")),
            "{log}"
        );
    }
    ci.assert_no_secret(&log);

    // Denied by the approver (a certificate credential this time): the build fails with the
    // reason; the console link was printed while waiting.
    std::fs::write(ci.workspace.join("dist/notes.txt"), "second notes\n").unwrap();
    let waiting = {
        let step_args = json!({"policy": "release-approved", "files": "dist/notes.txt",
                               "profile": "ci/sigil.toml", "certificateCredentialsId": "sigil-cert",
                               "passwordCredentialsId": "sigil-ci-password", "wait": "5m"});
        let (credentials, ci_ref) = (credentials.clone(), &ci);
        async move { jenkins(ci_ref, step_args, &credentials).await }
    };
    let (out, id) = tokio::join!(waiting, ci.decide_pending("request", false));
    let log = log_of(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("Finished: FAILURE"), "{log}");
    assert!(
        log.contains(&format!("request {id} is waiting for approval")),
        "{log}"
    );
    assert!(
        log.contains(&format!("https://{}/", ci.world.server.https_addr())),
        "{log}"
    );
    assert!(
        log.contains("ERROR: Sigil: a signing request was denied (exit 4)"),
        "{log}"
    );
    assert!(
        log.contains(&format!("(request {id}): denied by the approver: {DENIAL}")),
        "{log}"
    );
    ci.assert_no_secret(&log);

    // Not approved within wait: the build fails naming the request to resume; resuming it
    // after the approval signs the file.
    let out = jenkins(
        &ci,
        json!({"policy": "release-approved", "files": "dist/notes.txt",
               "profile": "ci/sigil.toml", "credentialsId": "sigil-ci", "wait": "0"}),
        &credentials,
    )
    .await;
    let log = log_of(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("(exit 6)"), "{log}");
    let result_id = log
        .lines()
        .find_map(|l| l.split("requestId: '").nth(1))
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no request id to resume:\n{log}"))
        .to_owned();
    assert!(
        log.contains(&format!("sigil sign --request-id {result_id}")),
        "{log}"
    );
    ci.assert_no_secret(&log);
    assert_eq!(ci.decide_pending("request", true).await, result_id);
    // (With a profile whose identity reads another variable, bound by passwordCredentials.)
    let profile = std::fs::read_to_string(ci.workspace.join("ci/sigil.toml")).unwrap();
    std::fs::write(
        ci.workspace.join("ci/named.toml"),
        format!("{profile}password_env = \"JENKINS_SIGIL_PASSWORD\"\n"),
    )
    .unwrap();
    let out = jenkins(
        &ci,
        json!({"policy": "release-approved", "files": "dist/notes.txt",
               "profile": "ci/named.toml", "credentialsId": "sigil-ci",
               "passwordCredentials": {"JENKINS_SIGIL_PASSWORD": "sigil-ci-password"},
               "requestId": result_id}),
        &credentials,
    )
    .await;
    let log = log_of(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let checked = run_ok(
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            p(&chain(&ci.world, "release-approved").await.2),
            "-signature",
            p(&ci.workspace.join("dist/notes.txt.sig")),
            p(&ci.workspace.join("dist/notes.txt")),
        ],
    );
    assert!(checked.contains("Verified OK"), "{checked}");

    // A profile with two identities needs a credential for each password variable.
    std::fs::write(
        ci.workspace.join("ci/two.toml"),
        format!("{profile}\n[[identity]]\nname = \"second\"\npassword_env = \"SECOND_PASSWORD\"\n"),
    )
    .unwrap();
    let out = jenkins(
        &ci,
        json!({"policy": "release", "files": "dist/notes.txt", "profile": "ci/two.toml",
               "credentialsId": "sigil-ci"}),
        &credentials,
    )
    .await;
    let log = log_of(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("no credential for SIGIL_PASSWORD (named by the profile ci/two.toml)"),
        "{log}"
    );

    // No profile where the step is told to look: the build fails saying so.
    let out = jenkins(
        &ci,
        json!({"policy": "release", "files": "dist/notes.txt", "profile": "ci/missing.toml"}),
        &credentials,
    )
    .await;
    let log = log_of(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("ERROR: sigilSign: no client profile ci/missing.toml"),
        "{log}"
    );

    // Refused by the server: the build fails with the server's code.
    let out = jenkins(
        &ci,
        json!({"policy": "no-such-policy", "files": "dist/notes.txt",
               "profile": "ci/sigil.toml", "credentialsId": "sigil-ci"}),
        &credentials,
    )
    .await;
    let log = log_of(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("refused by the server (exit 3)"), "{log}");
    assert!(log.contains("POLICY_NOT_FOUND"), "{log}");

    // The server cannot be reached: the build fails saying what to check.
    let profile = ci.workspace.join("ci/down.toml");
    std::fs::write(
        &profile,
        std::fs::read_to_string(ci.workspace.join("ci/sigil.toml"))
            .unwrap()
            .replace(&ci.world.server.host_api_addr().to_string(), "127.0.0.1:9"),
    )
    .unwrap();
    let out = jenkins(
        &ci,
        json!({"policy": "release", "files": "dist/notes.txt", "profile": "ci/down.toml",
               "credentialsId": "sigil-ci"}),
        &credentials,
    )
    .await;
    let log = log_of(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("cannot reach the Sigil server (exit 7)"),
        "{log}"
    );
    ci.assert_no_secret(&log);

    ci.world.server.shutdown().await;
}

// --- GitHub Actions -------------------------------------------------------------------------

/// `${{ inputs.NAME }}` with the workflow's `with:` values and the action's defaults; any
/// other expression in a `run` step's env is refused (the test would not know its value).
fn github_expression(value: &str, action: &Value, with: &BTreeMap<&str, String>) -> String {
    let Some(inner) = value
        .trim()
        .strip_prefix("${{")
        .and_then(|v| v.strip_suffix("}}"))
    else {
        return value.to_owned();
    };
    let name = inner
        .trim()
        .strip_prefix("inputs.")
        .unwrap_or_else(|| panic!("expression {value} is not an input"));
    let declared = &action["inputs"][name];
    assert!(declared.is_object(), "input {name} is not declared");
    with.get(name).cloned().unwrap_or_else(|| {
        assert_ne!(
            declared["required"], true,
            "required input {name} not given"
        );
        declared["default"].as_str().unwrap_or_default().to_owned()
    })
}

struct GithubRun {
    out: Output,
    outputs: BTreeMap<String, String>,
}

/// Runs the action's `run` steps as a runner does (`bash --noprofile --norc -eo pipefail`,
/// the step's env, GITHUB_* variables); `uses` steps (the optional artifact upload) are not
/// run here.
async fn github(ci: &Ci, with: BTreeMap<&str, String>) -> GithubRun {
    let action = yaml(&repo().join("integrations/github/action.yml"));
    assert_eq!(action["runs"]["using"], "composite");
    let dir = ci.world.dir.path().join("github-runner");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("temp")).unwrap();
    let output_file = dir.join("output");
    std::fs::write(&output_file, "").unwrap();
    let mut log = Vec::new();
    let mut last = None;
    for step in action["runs"]["steps"].as_array().unwrap() {
        let Some(script) = step["run"].as_str() else {
            assert!(step["uses"].is_string() && step["if"].is_string(), "{step}");
            continue;
        };
        assert_eq!(step["shell"], "bash");
        let file = dir.join("step.sh");
        std::fs::write(&file, script).unwrap();
        let mut command = ci.command("bash");
        command
            .args(["--noprofile", "--norc", "-eo", "pipefail", p(&file)])
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_WORKSPACE", &ci.workspace)
            .env("RUNNER_TEMP", dir.join("temp"))
            .env("GITHUB_SHA", "89abcdef0123456789abcdef0123456789abcdef")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", "example/app")
            .env("GITHUB_RUN_ID", "4242");
        for (key, value) in step["env"].as_object().unwrap() {
            command.env(
                key,
                github_expression(value.as_str().unwrap(), &action, &with),
            );
        }
        let out = run(command).await;
        log.push(log_of(&out));
        let failed = !out.status.success();
        last = Some(out);
        if failed {
            break;
        }
    }
    let mut out = last.expect("the action has no run step");
    out.stdout = log.concat().into_bytes();
    out.stderr.clear();
    // $GITHUB_OUTPUT: NAME=VALUE lines and NAME<<DELIMITER blocks.
    let text = std::fs::read_to_string(&output_file).unwrap();
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            outputs.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_owned(), value.to_owned());
        }
    }
    for (name, declared) in action["outputs"].as_object().unwrap() {
        let value = declared["value"].as_str().unwrap();
        assert_eq!(value, format!("${{{{ steps.sign.outputs.{name} }}}}"));
    }
    GithubRun { out, outputs }
}

/// The log as the runner shows it: `::add-mask::` commands are consumed, not printed.
fn github_log(ci: &Ci, run: &GithubRun) -> String {
    let raw = log_of(&run.out);
    for secret in [&ci.password, &ci.p12_password] {
        assert!(raw.contains(&format!("::add-mask::{secret}")), "{raw}");
    }
    raw.lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_action_signs_fails_with_reasons_and_keeps_secrets() {
    let ci = ci("github").await;
    ci.fixtures();
    let secrets = |policy: &str, files: &str, wait: &str| {
        BTreeMap::from([
            ("policy", policy.to_owned()),
            ("files", files.to_owned()),
            ("profile", "ci/sigil.toml".to_owned()),
            ("wait", wait.to_owned()),
            (
                "pkcs12-base64",
                base64::engine::general_purpose::STANDARD.encode(std::fs::read(&ci.p12).unwrap()),
            ),
            ("p12-password", ci.p12_password.clone()),
            ("password", ci.password.clone()),
            ("description", TRICKY.to_owned()),
        ])
    };

    let run1 = github(
        &ci,
        secrets(
            "release",
            "dist/*.exe\ndist/app.jar\ndist/notes.txt\n",
            "30m",
        ),
    )
    .await;
    let log = github_log(&ci, &run1);
    assert_eq!(run1.out.status.code(), Some(0), "{log}");
    assert!(log.contains(VERSION), "{log}");
    ci.verify(&ci.workspace.join("dist"));
    assert_eq!(
        run1.outputs["signed-files"], "dist/app.exe\ndist/app.jar\ndist/notes.txt.sig",
        "{:?}",
        run1.outputs
    );
    let ids: Vec<&str> = run1.outputs["request-ids"].split(' ').collect();
    assert_eq!(ids.len(), 3, "{:?}", run1.outputs);
    let request = ci.request(ids[0]).await;
    assert_eq!(
        request["metadata"]["build_url"],
        "https://github.com/example/app/actions/runs/4242"
    );
    assert_eq!(
        request["metadata"]["commit"],
        "89abcdef0123456789abcdef0123456789abcdef"
    );
    assert_eq!(request["metadata"]["description"], TRICKY);
    assert!(!ci.workspace.join("injected").exists());
    assert_eq!(run1.outputs["results"].lines().count(), 3);
    ci.verify_manifest(&run1.outputs["release-id"], &run1.outputs["manifest"], None)
        .await;
    assert_eq!(
        run1.outputs["artifacts"],
        format!(
            "{}\n{}",
            run1.outputs["signed-files"], run1.outputs["manifest"]
        )
    );
    ci.assert_no_secret(&log);

    std::fs::write(ci.workspace.join("dist/notes.txt"), "second notes\n").unwrap();
    let (run2, id) = tokio::join!(
        github(&ci, secrets("release-approved", "dist/notes.txt", "5m")),
        ci.decide_pending("request", false)
    );
    let log = github_log(&ci, &run2);
    assert_eq!(run2.out.status.code(), Some(4), "{log}");
    assert!(
        log.contains(&format!("request {id} is waiting for approval")),
        "{log}"
    );
    assert!(
        log.contains("::error title=Sigil::a signing request was denied (exit 4)"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "::error title=Sigil::dist/notes.txt (request {id}): denied by the approver: {DENIAL}"
        )),
        "{log}"
    );
    assert_eq!(run2.outputs["request-ids"], id);
    ci.assert_no_secret(&log);

    let mut missing = secrets("release", "dist/notes.txt", "0");
    missing.insert("profile", "ci/missing.toml".to_owned());
    let run = github(&ci, missing).await;
    let log = github_log(&ci, &run);
    assert_eq!(run.out.status.code(), Some(2), "{log}");
    assert!(
        log.contains("::error title=Sigil::no client profile ci/missing.toml"),
        "{log}"
    );

    let run3 = github(&ci, secrets("release-approved", "dist/notes.txt", "0")).await;
    let log = github_log(&ci, &run3);
    assert_eq!(run3.out.status.code(), Some(6), "{log}");
    let id = run3.outputs["request-ids"].clone();
    assert!(
        log.contains(&format!("resume with the input request-id: {id}")),
        "{log}"
    );
    ci.assert_no_secret(&log);

    ci.world.server.shutdown().await;
}

// --- GitLab CI ------------------------------------------------------------------------------

/// The shells a GitLab runner uses: bash where the image has it, else POSIX sh (dash here).
#[derive(Clone, Copy)]
enum Shell {
    Bash,
    Sh,
}

/// Runs the template's hidden job as a job extending it: its variables, then the job's, then
/// the project's (masked) CI/CD variables and the CI_* ones, its script lines echoed and run in
/// one shell with `-e` (bash also `-o pipefail`) as the runner does.
async fn gitlab(ci: &Ci, shell: Shell, job: &[(&str, &str)]) -> Output {
    let template = yaml(&repo().join("integrations/gitlab/sigil-sign.gitlab-ci.yml"));
    let hidden = &template[".sigil-sign"];
    assert_eq!(
        hidden["artifacts"]["paths"],
        json!(["$SIGIL_ARTIFACTS_DIR/"])
    );
    assert_eq!(hidden["artifacts"]["reports"]["dotenv"], "sigil-sign.env");
    let (program, mut script) = match shell {
        Shell::Bash => ("bash", String::from("set -eo pipefail\n")),
        Shell::Sh => ("sh", String::from("set -e\n")),
    };
    for line in hidden["script"].as_array().unwrap() {
        let line = line.as_str().unwrap();
        script.push_str(&format!(
            "cat <<'SIGIL_RUNNER_ECHO'\n$ {line}\nSIGIL_RUNNER_ECHO\n{line}\n"
        ));
    }
    let file = ci.world.dir.path().join("gitlab-job.sh");
    std::fs::write(&file, script).unwrap();
    let mut command = ci.command(program);
    command.arg(&file);
    for (key, value) in hidden["variables"].as_object().unwrap() {
        command.env(key, value.as_str().unwrap());
    }
    for (key, value) in job {
        command.env(key, value);
    }
    command
        .env("CI_PROJECT_DIR", &ci.workspace)
        .env("CI_COMMIT_SHA", "fedcba9876543210fedcba9876543210fedcba98")
        .env("CI_JOB_URL", "https://gitlab.example/app/-/jobs/77")
        .env("SIGIL_PROFILE", "ci/sigil.toml")
        .env(
            "SIGIL_PKCS12_BASE64",
            base64::engine::general_purpose::STANDARD.encode(std::fs::read(&ci.p12).unwrap()),
        )
        .env("SIGIL_P12_PASSWORD", &ci.p12_password)
        .env("SIGIL_PASSWORD", &ci.password);
    run(command).await
}

fn dotenv(ci: &Ci) -> BTreeMap<String, String> {
    std::fs::read_to_string(ci.workspace.join("sigil-sign.env"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_template_signs_fails_with_reasons_and_keeps_secrets() {
    let ci = ci("gitlab").await;
    ci.fixtures();

    let out = gitlab(
        &ci,
        Shell::Bash,
        &[
            ("SIGIL_POLICY", "release"),
            ("SIGIL_FILES", "dist/*.exe\ndist/app.jar\ndist/notes.txt"),
        ],
    )
    .await;
    let log = log_of(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains(VERSION), "{log}");
    ci.verify(&ci.workspace.join("dist"));
    // The artifacts: the signed outputs (verified again there) and sigil's results.
    let artifacts = ci.workspace.join("sigil-signed");
    std::fs::copy(
        ci.workspace.join("dist/notes.txt"),
        artifacts.join("dist/notes.txt"),
    )
    .unwrap();
    ci.verify(&artifacts.join("dist"));
    assert_eq!(
        std::fs::read_to_string(artifacts.join("results.jsonl"))
            .unwrap()
            .lines()
            .count(),
        4,
        "three files and the release"
    );
    let env = dotenv(&ci);
    ci.verify_manifest(
        &env["SIGIL_RELEASE_ID"],
        &env["SIGIL_MANIFEST"],
        Some(&artifacts),
    )
    .await;
    let ids = env["SIGIL_REQUEST_IDS"].clone();
    let ids: Vec<&str> = ids.split(' ').collect();
    assert_eq!(ids.len(), 3, "{log}");
    let request = ci.request(ids[0]).await;
    assert_eq!(
        request["metadata"]["build_url"],
        "https://gitlab.example/app/-/jobs/77"
    );
    assert_eq!(
        request["metadata"]["commit"],
        "fedcba9876543210fedcba9876543210fedcba98"
    );
    ci.assert_no_secret(&log);

    std::fs::write(ci.workspace.join("dist/notes.txt"), "second notes\n").unwrap();
    let job = [
        ("SIGIL_POLICY", "release-approved"),
        ("SIGIL_FILES", "dist/notes.txt"),
        ("SIGIL_WAIT", "5m"),
    ];
    let (out, id) = tokio::join!(
        gitlab(&ci, Shell::Bash, &job),
        ci.decide_pending("request", false)
    );
    let log = log_of(&out);
    assert_eq!(out.status.code(), Some(4), "{log}");
    assert!(
        log.contains(&format!("request {id} is waiting for approval")),
        "{log}"
    );
    assert!(
        log.contains("Sigil: a signing request was denied (exit 4)"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "dist/notes.txt (request {id}): denied by the approver: {DENIAL}"
        )),
        "{log}"
    );
    ci.assert_no_secret(&log);

    // (In POSIX sh this time, as on an image without bash.)
    let out = gitlab(
        &ci,
        Shell::Sh,
        &[
            ("SIGIL_POLICY", "release-approved"),
            ("SIGIL_FILES", "dist/notes.txt"),
            ("SIGIL_WAIT", "0"),
        ],
    )
    .await;
    let log = log_of(&out);
    assert_eq!(out.status.code(), Some(6), "{log}");
    let id = dotenv(&ci)["SIGIL_REQUEST_IDS"].clone();
    assert!(
        log.contains(&format!("resume with SIGIL_REQUEST_ID={id}")),
        "{log}"
    );
    ci.assert_no_secret(&log);

    ci.world.server.shutdown().await;
}

//! Operations: the Prometheus scrape (checked by `promtool check metrics`, counters moving
//! after real requests), readiness on both listeners, no password in the logs, and the
//! OpenAPI document (committed, valid, served, and true of the running server).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Stdio};

mod common;
use common::{World, args, p, sigil, text, world_with};

/// `curl` (no proxy, fails on HTTP errors unless `allow_error`), returning the body.
fn curl(world: &World, extra: &[&str], url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--noproxy", "*", "--cacert"])
        .arg(&world.report.root_ca)
        .args(["-w", "\n%{http_code}"])
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("curl must be installed");
    assert!(out.status.success(), "curl {url}: {}", text(&out));
    let body = String::from_utf8(out.stdout).unwrap();
    let (body, code) = body.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

fn scrape(world: &World) -> String {
    let addr = world.server.metrics_addr().expect("metrics configured");
    let (code, body) = curl(world, &[], &format!("http://{addr}/metrics"));
    assert_eq!(code, 200, "{body}");
    body
}

/// The value of the series `series` (name and labels as printed), 0 when absent.
fn value(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

fn promtool_check(scrape: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) must be installed");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), scrape.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "promtool: {}\n{scrape}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_real_requests_and_pass_promtool() {
    let world = world_with(|c| c.metrics = Some("127.0.0.1:0".parse().unwrap())).await;
    let dir = world.dir.path();
    let before = scrape(&world);
    promtool_check(&before);
    // Prometheus itself asks for OpenMetrics, and gets it.
    let addr = world.server.metrics_addr().unwrap();
    let (code, openmetrics) = curl(
        &world,
        &["-H", "accept: application/openmetrics-text; version=1.0.0"],
        &format!("http://{addr}/metrics"),
    );
    assert_eq!(code, 200);
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    assert!(!before.contains("# EOF"), "{before}");

    // A hash signed at once over the Host API.
    std::fs::write(dir.join("hello.txt"), "hello metrics\n").unwrap();
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
    // An HTTPS listing by the approver, and a failed HTTPS login.
    let out = sigil(
        args(&["request", "list", "--profile", p(&world.approver)]),
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let https = world.server.https_addr();
    let (code, _) = curl(
        &world,
        &[
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"identity":"approver","password":"not the password"}"#,
        ],
        &format!("https://{https}/api/v1/login"),
    );
    assert_eq!(code, 401);

    let after = scrape(&world);
    promtool_check(&after);
    let moved = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(
        moved(r#"sigil_signing_requests_total{format="hash",policy="release",outcome="signed"}"#),
        1.0,
        "{after}"
    );
    assert!(
        moved(r#"sigil_host_api_commands_total{command="RKLO",outcome="ok"}"#) >= 1.0,
        "{after}"
    );
    assert!(
        moved(r#"sigil_https_requests_total{method="GET",route="/api/v1/requests",status="200"}"#)
            >= 1.0,
        "{after}"
    );
    assert!(
        moved(r#"sigil_failed_logins_total{interface="https"}"#) >= 1.0,
        "{after}"
    );
    assert!(
        moved("sigil_store_commit_duration_seconds_count") >= 3.0,
        "{after}"
    );
    let head = world.server.state().store.audit_head().await.unwrap().seq;
    assert!(value(&after, "sigil_audit_head_sequence") >= 1.0, "{after}");
    assert!(
        value(&after, "sigil_audit_head_sequence") <= head as f64,
        "{after}"
    );
    assert!(
        after.contains("sigil_host_api_command_duration_seconds_bucket{"),
        "{after}"
    );
    // Both listeners had connections (all closed again by now).
    for listener in ["host-api", "https"] {
        let series = format!(r#"sigil_connections{{listener="{listener}"}} "#);
        assert!(after.contains(&series), "{series}\n{after}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_on_both_listeners_and_not_after_shutdown() {
    let world = world_with(|c| c.metrics = Some("127.0.0.1:0".parse().unwrap())).await;
    let https = world.server.https_addr();
    let (code, body) = curl(&world, &[], &format!("https://{https}/api/v1/ready"));
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "ready", "{body}");
    for check in ["store", "keys", "listeners"] {
        assert_eq!(json[check], "ok", "{body}");
    }
    let metrics = world.server.metrics_addr().unwrap();
    let (code, body) = curl(&world, &[], &format!("http://{metrics}/ready"));
    assert_eq!(code, 200, "{body}");
    let (code, _) = curl(&world, &[], &format!("https://{https}/api/v1/health"));
    assert_eq!(code, 200);

    // Stopped: the listeners are down, and readiness says so.
    let state = world.server.state().clone();
    world.server.shutdown().await;
    let readiness = sigil_server::ready::check(&state).await;
    assert_eq!(readiness.status, "not-ready");
    assert_eq!(readiness.listeners, "failed");
    assert_eq!(readiness.store, "ok");
    assert_eq!(readiness.status_code().as_u16(), 503);
}

fn sigil_sync(args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn init_writes_a_commented_configuration_that_config_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let out = sigil_sync(&["init", "--data", "d"], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let written = std::fs::read_to_string(cwd.join("d/sigil.toml")).unwrap();
    assert!(
        written.contains("# Host API listener (mutual TLS). Default:"),
        "{written}"
    );
    assert!(
        written.contains("# metrics = \"127.0.0.1:9464\""),
        "{written}"
    );
    let out = sigil_sync(&["config", "check", "d/sigil.toml"], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("d/sigil.toml: valid"));

    // The template is the same text with the default addresses, and is valid too.
    let out = sigil_sync(&["config", "template"], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let template = String::from_utf8(out.stdout).unwrap();
    std::fs::write(cwd.join("template.toml"), &template).unwrap();
    let out = sigil_sync(&["config", "check", "template.toml"], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Refused, exit 2, saying what is wrong: an unknown key, a bad value, a bad address.
    for (change, replacement, says) in [
        (
            "lockout_threshold = 5",
            "lockout_treshold = 5",
            "unknown field",
        ),
        (
            "max_connections = 4096",
            "max_connections = 0",
            "max_connections = 0",
        ),
        (
            "https = \"127.0.0.1:8443\"",
            "https = \"localhost\"",
            "not an address",
        ),
    ] {
        assert!(template.contains(change), "{change}");
        std::fs::write(cwd.join("bad.toml"), template.replace(change, replacement)).unwrap();
        let out = sigil_sync(&["config", "check", "bad.toml"], cwd);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(says) && stderr.contains("bad.toml"),
            "{stderr}"
        );
    }
}

/// Completes `words` (the last one being typed) with the bash completion script loaded.
fn bash_complete(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let program = format!(
        "source {script}; COMP_WORDS=({line}); COMP_CWORD={cword}; COMP_LINE='{line}'; \
         COMP_POINT={point}; _sigil sigil '{last}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script = script.display(),
        cword = words.len() - 1,
        point = line.len(),
        last = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &program])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_subcommands_and_the_man_page_renders() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let out = sigil_sync(&["completions", "bash"], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let script = cwd.join("sigil.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    assert_eq!(bash_complete(&script, &["sigil", "con"]), ["config"]);
    let mut actions = bash_complete(&script, &["sigil", "config", ""]);
    actions.retain(|a| !a.starts_with('-'));
    actions.sort();
    assert_eq!(actions, ["check", "help", "template"]);
    for shell in ["zsh", "fish"] {
        let out = sigil_sync(&["completions", shell], cwd);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("quickstart"));
    }

    // `man -l` renders the page; it lists the subcommands.
    let out = sigil_sync(&["man"], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::write(cwd.join("sigil.1"), &out.stdout).unwrap();
    let rendered = Command::new("man")
        .args(["-l", "sigil.1"])
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .current_dir(cwd)
        .output()
        .expect("man (Debian man-db) must be installed");
    assert!(rendered.status.success(), "{}", text(&rendered));
    let page = String::from_utf8_lossy(&rendered.stdout);
    for word in ["SYNOPSIS", "quickstart", "completions", "--log-format"] {
        assert!(page.contains(word), "{word}:\n{page}");
    }
    let out = sigil_sync(&["man", "--dir", "pages"], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(cwd.join("pages/sigil-sign.1").is_file());
}

/// `systemd-analyze verify` of the unit and its components drop-in, with `ExecStart=` naming
/// the built binary and the generated man page on the MANPATH (`Documentation=man:sigil(1)`
/// is checked too); then `systemd-analyze security` rates the hardening.
#[test]
fn the_systemd_unit_and_drop_in_verify() {
    let dir = tempfile::tempdir().unwrap();
    let units = dir.path().join("units");
    let contrib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/systemd");
    let exe = env!("CARGO_BIN_EXE_sigil");
    let install = |from: &str, to: &std::path::Path| {
        let text = std::fs::read_to_string(contrib.join(from)).unwrap();
        assert!(text.contains("/usr/local/bin/sigil "), "{from}");
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(
            to,
            text.replace("/usr/local/bin/sigil ", &format!("{exe} ")),
        )
        .unwrap();
    };
    install("sigil.service", &units.join("sigil.service"));
    install(
        "components.conf",
        &units.join("sigil.service.d/components.conf"),
    );
    let man = dir.path().join("man");
    let out = sigil_sync(
        &["man", "--dir", man.join("man1").to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let out = Command::new("systemd-analyze")
        .args(["verify", "sigil.service"])
        .current_dir(&units)
        .env("MANPATH", &man)
        .env("SYSTEMD_UNIT_PATH", format!("{}:", units.display()))
        .output()
        .expect("systemd-analyze (Debian systemd) must be installed");
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stderr.is_empty(), "warnings: {}", text(&out));

    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(units.join("sigil.service"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let level: f64 = report
        .lines()
        .find_map(|l| l.split("Overall exposure level for sigil.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{}", text(&out)))
        .parse()
        .unwrap();
    assert!(level <= 2.0, "exposure {level}:\n{report}");
}

/// On a terminal (`script` gives `sigil` a pseudo-terminal), one file waiting for approval
/// shows the progress line with its state and elapsed time; without one, no bar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_shows_progress_while_waiting_for_approval() {
    let world = common::world().await;
    let dir = world.dir.path().to_path_buf();
    std::fs::write(dir.join("hello.txt"), "progress\n").unwrap();
    let line = format!(
        "{} sign --profile {} --policy release-approved --wait 2s hello.txt",
        env!("CARGO_BIN_EXE_sigil"),
        p(&world.jenkins)
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("script (util-linux) must be installed")
    })
    .await
    .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    // Exit 6: still pending when --wait ran out.
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(shown.contains("0/1 digesting ("), "{shown}");
    assert!(shown.contains("0/1 1 waiting for approval ("), "{shown}");

    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release-approved",
            "--wait",
            "1s",
            "hello.txt",
        ]),
        world.dir.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("0/1"),
        "{}",
        text(&out)
    );
}

/// The committed document, `docs/openapi.json`.
fn committed_openapi() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const REGENERATE: &str = "docs/openapi.json differs from the document the code generates: \
    regenerate it with `cargo run -q -p sigil -- openapi > docs/openapi.json` and commit it";

/// `sigil openapi` prints the committed document, and `openapi-spec-validator` (PyPI, installed
/// by scripts/test.sh) accepts it as OpenAPI 3.1.
#[test]
fn the_committed_openapi_document_is_generated_and_valid() {
    let dir = tempfile::tempdir().unwrap();
    let out = sigil_sync(&["openapi"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let generated = String::from_utf8(out.stdout).unwrap();
    assert!(generated == committed_openapi(), "{REGENERATE}");

    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &generated).unwrap();
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .args(["--validation-errors", "all"])
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "openapi-spec-validator (pip install openapi-spec-validator==0.9.0, as \
         scripts/test.sh does) refused the document:\n{}",
        text(&out)
    );
    let json: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(json["openapi"], "3.1.0");
    assert_eq!(json["info"]["version"], env!("CARGO_PKG_VERSION"));
}

/// The running server serves the committed document without a session, and the document
/// tells the truth about it: every operation is routed (never the unknown-route 404 or the
/// 405 of a wrong method), every one behind the session refuses a request without a token
/// with `401 NOT_LOGGED_IN`, and the public ones answer one of their documented statuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_the_openapi_document_and_keeps_to_it() {
    let world = common::world().await;
    let https = world.server.https_addr();
    let (code, served) = curl(&world, &[], &format!("https://{https}/api/v1/openapi.json"));
    assert_eq!(code, 200, "{served}");
    assert!(served == committed_openapi(), "{REGENERATE}");
    let (_, content_type) = curl(
        &world,
        &["-o", "/dev/null", "-w", "%{content_type}\n%{http_code}"],
        &format!("https://{https}/api/v1/openapi.json"),
    );
    assert_eq!(content_type, "application/json");

    let document: serde_json::Value = serde_json::from_str(&committed_openapi()).unwrap();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        // Path parameters get a value of the right shape that names nothing.
        let concrete = path
            .replace("{id}", "00000000-0000-4000-8000-000000000000")
            .replace("{listener}", "https")
            .replace("{code}", "RAUO")
            .replace("{serial}", "1f")
            .replace(['{', '}'], "");
        for (method, operation) in item.as_object().unwrap() {
            let (code, body) = curl(
                &world,
                &["-X", &method.to_uppercase()],
                &format!("https://{https}/api/v1{concrete}"),
            );
            let what = format!("{method} {path}: {code} {body}");
            let error: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            assert!(
                !(code == 404
                    && error["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("no such API route"))),
                "not routed: {what}"
            );
            assert_ne!(code, 405, "{what}");
            if operation.get("security").is_none() {
                assert_eq!(code, 401, "{what}");
                assert_eq!(error["error"]["code"], "NOT_LOGGED_IN", "{what}");
            } else {
                assert!(
                    operation["responses"].get(code.to_string()).is_some(),
                    "undocumented status: {what}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 60, "{checked} operations");
}

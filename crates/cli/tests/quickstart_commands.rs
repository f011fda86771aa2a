//! `sigil quickstart` as the README runs it: the binary provisions a data directory, starts
//! the server, and every command it prints is then run exactly as printed (with `sh -c`, in
//! the same directory) — no `sigil` on the PATH needed. The server logs JSON lines, and they
//! hold none of the passwords used, and no rustls warning about an IP address as TLS server
//! name (which `openssl s_client -servername 127.0.0.1` sends here).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use sigil_testkit::world::text;
/// Kills the server when the test ends, passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs one printed line with `sh -c` in `dir`, with no Sigil variables and a PATH
/// without any `sigil`.
fn shell(line: &str, dir: &Path) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(line)
        .current_dir(dir)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env_remove("SIGIL_PASSWORD")
        .env_remove("SIGIL_P12_PASSWORD")
        .env_remove("SIGIL_PROFILE")
        .stdin(Stdio::null());
    command
}

fn run(line: &str, dir: &Path) -> String {
    let out = shell(line, dir).output().unwrap();
    assert!(out.status.success(), "{line}\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_printed_command_works_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let exe = env!("CARGO_BIN_EXE_sigil");
    let https = format!("127.0.0.1:{}", free_port());
    let log = cwd.join("server.log");
    let child = Command::new(exe)
        .args([
            "--log-format",
            "json",
            "quickstart",
            "--host-api",
            &format!("127.0.0.1:{}", free_port()),
            "--https",
            &https,
        ])
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let mut printed = Vec::new();
    let stdout = server.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with("Sigil is running") {
            break;
        }
        printed.push(line);
    }
    assert!(
        printed.iter().any(|l| l.starts_with("Quickstart ready")),
        "the server did not start:\n{}",
        printed.join("\n")
    );
    // Keep reading the server's output so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});

    let commands: Vec<&str> = printed
        .iter()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| {
            l.starts_with(exe)
                || l.starts_with("echo ")
                || l.starts_with("openssl ")
                || l.starts_with("export ")
        })
        .collect();
    let sigil_lines = commands.iter().filter(|l| l.starts_with(exe)).count();
    assert_eq!(sigil_lines, 7, "{commands:#?}");
    assert!(
        printed
            .iter()
            .all(|l| !l.trim_start().starts_with("sigil ")),
        "a command relies on `sigil` being on the PATH:\n{}",
        printed.join("\n")
    );

    let mut waiting = None;
    let mut request_id = String::new();
    for line in &commands {
        if line.starts_with("export ") {
            // The variable holds the secret of the file next to the profile.
            let name = &line["export ".len()..line.find('=').unwrap()];
            let value = run(&format!("{line}; printf %s \"${name}\""), cwd);
            let file = match name {
                "SIGIL_PASSWORD" => "jenkins.api-key",
                "SIGIL_P12_PASSWORD" => "jenkins.p12.password",
                other => panic!("unexpected export {other}"),
            };
            let stored =
                std::fs::read_to_string(cwd.join("sigil-data/clients").join(file)).unwrap();
            assert_eq!(value, stored.trim_end());
        } else if line.contains("--wait") {
            // Waits for the approval given by the commands after it.
            waiting = Some(
                shell(line, cwd)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        } else if line.contains("--state pending") {
            let listed = loop {
                let listed = run(line, cwd);
                if listed.lines().any(|l| l.contains("pending")) {
                    break listed;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            };
            // The next line, `request approve … REQUEST_ID`, gets the listed id.
            request_id = listed
                .lines()
                .find(|l| l.contains("pending"))
                .and_then(|l| l.split_whitespace().next())
                .unwrap()
                .to_owned();
        } else if line.contains("REQUEST_ID") {
            run(&line.replace("REQUEST_ID", &request_id), cwd);
            let out = waiting.take().unwrap().wait_with_output().unwrap();
            assert!(out.status.success(), "{}", text(&out));
        } else {
            let out = run(line, cwd);
            if line.starts_with("openssl dgst") {
                assert!(out.contains("Verified OK"), "{out}");
            }
        }
    }
    assert!(waiting.is_none(), "no approval was given");

    // A wrong password, and a client naming the server by IP address in its TLS hello.
    let wrong = "Wrong-Password-4711";
    let body = format!(r#"{{"identity":"approver","password":"{wrong}"}}"#);
    let root = cwd.join("sigil-data/ca/root.pem");
    let status = Command::new("curl")
        .args([
            "-sS",
            "--noproxy",
            "*",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg("--cacert")
        .arg(&root)
        .args(["-H", "content-type: application/json", "-d", &body])
        .arg(format!("https://{https}/api/v1/login"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout), "401");
    let hello = Command::new("openssl")
        .args(["s_client", "-connect", &https, "-servername", "127.0.0.1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(hello.status.success(), "{}", text(&hello));

    // Stop the server cleanly (SIGTERM), then read its log.
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(server.0.wait().unwrap().success());
    let logged = std::fs::read_to_string(&log).unwrap();
    let mut secrets = vec![wrong.to_owned()];
    for file in [
        "clients/jenkins.password",
        "clients/jenkins.api-key",
        "clients/jenkins.p12.password",
        "clients/approver.password",
        "admin/admin1.password",
        "admin/admin2.password",
    ] {
        let secret = std::fs::read_to_string(cwd.join("sigil-data").join(file)).unwrap();
        secrets.push(secret.trim_end().to_owned());
    }
    for secret in &secrets {
        assert!(!secret.is_empty());
        assert!(
            !logged.contains(secret.as_str()),
            "a password is in the log:\n{logged}"
        );
    }
    assert!(!logged.contains("Illegal SNI"), "{logged}");
    let lines: Vec<serde_json::Value> = logged
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "Sigil server listening"),
        "{logged}"
    );
    drop(server);
}

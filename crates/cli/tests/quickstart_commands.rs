//! `sigil quickstart` as the README runs it: the binary provisions a data directory, starts
//! the server, and every command it prints is then run exactly as printed (with `sh -c`, in
//! the same directory) — no `sigil` on the PATH needed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

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

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn every_printed_command_works_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let exe = env!("CARGO_BIN_EXE_sigil");
    let child = Command::new(exe)
        .args([
            "quickstart",
            "--host-api",
            &format!("127.0.0.1:{}", free_port()),
            "--https",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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
            // The variable holds the password of the file next to the profile.
            let name = &line["export ".len()..line.find('=').unwrap()];
            let value = run(&format!("{line}; printf %s \"${name}\""), cwd);
            let file = match name {
                "SIGIL_PASSWORD" => "jenkins.password",
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
    drop(server);
}

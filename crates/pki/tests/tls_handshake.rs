//! A `tls-server` and a `tls-client` certificate from the same Sigil CA complete a
//! mutually authenticated handshake between `openssl s_server -Verify 1
//! -verify_return_error` and `openssl s_client`; a client certificate from
//! another CA is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{leaf, test_pki, write_cert, write_key};
use sigil_keys::KeyAlgorithm;
use sigil_pki::Profile;

/// Kills the server process when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Files {
    root: String,
    inter: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
    stranger_cert: String,
    stranger_key: String,
}

/// Runs `s_server` for one connection and `s_client` against it; returns
/// (client succeeded, client output, server output).
fn handshake(
    files: &Files,
    client_cert: &str,
    client_key: &str,
    tls12: bool,
) -> (bool, String, String) {
    // A free loopback port: bind port 0, note it, release it for s_server.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let accept = format!("127.0.0.1:{port}");
    let mut server = KillOnDrop(
        Command::new("openssl")
            .args(["s_server", "-naccept", "1", "-accept", &accept])
            .args(["-cert", &files.server_cert, "-key", &files.server_key])
            .args(["-cert_chain", &files.inter, "-CAfile", &files.root])
            .args(["-Verify", "1", "-verify_return_error"])
            // s_server quits at end of input: keep its stdin open until it is killed.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl must be installed"),
    );
    let log = Arc::new(Mutex::new(String::new()));
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut readers = Vec::new();
    for pipe in [
        server
            .0
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        server
            .0
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let log = Arc::clone(&log);
        let ready_tx = ready_tx.clone();
        readers.push(thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if line.contains("ACCEPT") {
                    let _ = ready_tx.send(());
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        }));
    }
    ready_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("s_server did not start listening");

    let mut client = Command::new("openssl");
    client
        .args(["s_client", "-connect", &accept, "-servername", "localhost"])
        .args([
            "-CAfile",
            &files.root,
            "-verify_return_error",
            "-verify_hostname",
            "localhost",
        ])
        .args([
            "-cert",
            client_cert,
            "-key",
            client_key,
            "-cert_chain",
            &files.inter,
        ])
        .stdin(Stdio::null());
    if tls12 {
        client.arg("-tls1_2");
    }
    let output = client.output().expect("openssl must be installed");
    let client_log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Give s_server a moment to log the finished connection, then stop it.
    thread::sleep(Duration::from_millis(200));
    drop(server);
    for reader in readers {
        let _ = reader.join();
    }
    let server_log = log.lock().unwrap().clone();
    (output.status.success(), client_log, server_log)
}

#[test]
fn mutual_tls_between_sigil_certificates() {
    let pki = test_pki(KeyAlgorithm::EcdsaP256);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (server_key, server) = leaf(
        &pki.inter,
        &pki.inter_key,
        Profile::TlsServer,
        KeyAlgorithm::EcdsaP256,
        "sigil-listener",
        &["localhost", "127.0.0.1"],
    );
    let (client_key, client) = leaf(
        &pki.inter,
        &pki.inter_key,
        Profile::TlsClient,
        KeyAlgorithm::Rsa2048,
        "jenkins",
        &[],
    );
    // The same subject under a CA the server does not trust.
    let other = test_pki(KeyAlgorithm::EcdsaP256);
    let (stranger_key, stranger) = leaf(
        &other.root,
        &other.root_key,
        Profile::TlsClient,
        KeyAlgorithm::EcdsaP256,
        "jenkins",
        &[],
    );
    let files = Files {
        root: write_cert(d, "root.pem", pki.root.certificate()),
        inter: write_cert(d, "inter.pem", pki.inter.certificate()),
        server_cert: write_cert(d, "server.pem", &server),
        server_key: write_key(d, "server.key", &server_key),
        client_cert: write_cert(d, "client.pem", &client),
        client_key: write_key(d, "client.key", &client_key),
        stranger_cert: write_cert(d, "stranger.pem", &stranger),
        stranger_key: write_key(d, "stranger.key", &stranger_key),
    };

    let (ok, client_log, server_log) =
        handshake(&files, &files.client_cert, &files.client_key, false);
    assert!(ok, "client:\n{client_log}\nserver:\n{server_log}");
    assert!(
        client_log.contains("Verify return code: 0 (ok)"),
        "{client_log}"
    );
    assert!(
        server_log.contains("CN = jenkins") && server_log.contains("CIPHER is"),
        "the server must have verified the client certificate:\n{server_log}"
    );

    let (ok, client_log, server_log) =
        handshake(&files, &files.stranger_cert, &files.stranger_key, true);
    assert!(
        !ok && server_log.contains("certificate verify failed")
            && !server_log.contains("CIPHER is"),
        "a client certificate from another CA must be refused:\nclient:\n{client_log}\nserver:\n{server_log}"
    );
}

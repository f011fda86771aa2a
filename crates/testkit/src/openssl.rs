//! The `openssl` command line as an independent TLS client and key/CSR maker.

use std::ffi::OsStr;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::tools::{output_text, stdout_ok};

/// Runs `openssl args` (stdin closed); returns whether it succeeded and its stdout and stderr
/// joined. Fails the test only when openssl cannot start: a refusal is an outcome tests
/// assert on.
pub fn openssl<I, S>(args: I) -> (bool, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): run `apt-get install -y openssl`"));
    (out.status.success(), output_text(&out))
}

/// `openssl s_client` against `addr` (server name `localhost`, verifying the server against
/// `ca`, presenting `cert_key` when given), with `extra` arguments, writing `input` then closing
/// stdin. Returns (exit success, stdout, stderr).
pub fn s_client(
    addr: SocketAddr,
    ca: &Path,
    cert_key: Option<(&Path, &Path)>,
    extra: &[&str],
    input: &[u8],
) -> (bool, String, String) {
    let mut args: Vec<String> = vec![
        "s_client".into(),
        "-connect".into(),
        addr.to_string(),
        "-servername".into(),
        "localhost".into(),
        "-CAfile".into(),
        ca.display().to_string(),
        "-verify_return_error".into(),
    ];
    if let Some((cert, key)) = cert_key {
        args.extend([
            "-cert".into(),
            cert.display().to_string(),
            "-key".into(),
            key.display().to_string(),
        ]);
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    let mut child = Command::new("openssl")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): run `apt-get install -y openssl`"));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A client key and CSR made by openssl (EC P-256) with subject `/CN=<cn>` in `dir`; returns
/// the key path and the CSR PEM.
pub fn openssl_csr(dir: &Path, cn: &str) -> (PathBuf, Vec<u8>) {
    let key = dir.join(format!("{cn}.key"));
    let csr = dir.join(format!("{cn}.csr"));
    stdout_ok(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-subj",
            &format!("/CN={cn}"),
            "-out",
            csr.to_str().unwrap(),
        ],
    );
    (key, std::fs::read(&csr).unwrap())
}

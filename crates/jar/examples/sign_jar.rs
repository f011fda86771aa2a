//! Signs a JAR the way the Sigil client does, with the signature block made
//! by `openssl cms` (standing in for the server), and prints how long each
//! client step took.
//!
//! ```text
//! cargo run --release -p sigil-jar --example sign_jar -- IN.jar OUT.jar CERT.pem KEY.pem [CHAIN.pem]
//! ```

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use sigil_jar::{HashAlgorithm, SignOptions, SignatureBlockKind, SignerName};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, cert, key, rest @ ..] = args.as_slice() else {
        return Err("usage: sign_jar IN.jar OUT.jar CERT.pem KEY.pem [CHAIN.pem]".into());
    };
    let options = SignOptions::new(SignerName::new("SIGIL")?, HashAlgorithm::Sha256);

    let t0 = Instant::now();
    let prepared = sigil_jar::prepare(Path::new(input), &options)?;
    let t_prepare = t0.elapsed();

    let dir = tempfile::tempdir()?;
    let sf = dir.path().join("SIGIL.SF");
    let block_path = dir.path().join("block.der");
    std::fs::write(&sf, prepared.signature_file())?;
    let mut cmd = Command::new("openssl");
    cmd.args([
        "cms", "-sign", "-binary", "-outform", "DER", "-md", "sha256",
    ])
    .arg("-in")
    .arg(&sf)
    .arg("-signer")
    .arg(cert)
    .arg("-inkey")
    .arg(key)
    .arg("-out")
    .arg(&block_path);
    if let Some(chain) = rest.first() {
        cmd.arg("-certfile").arg(chain);
    }
    let t1 = Instant::now();
    if !cmd.status()?.success() {
        return Err("openssl cms -sign failed".into());
    }
    let t_block = t1.elapsed();
    let block = std::fs::read(&block_path)?;
    let kind = if std::fs::read_to_string(key)?.contains("EC PRIVATE KEY") {
        SignatureBlockKind::Ec
    } else {
        SignatureBlockKind::Rsa
    };

    let t2 = Instant::now();
    prepared.write_signed(Path::new(input), &block, kind, Path::new(output))?;
    let t_write = t2.elapsed();
    println!(
        "prepare (digests, manifest, .SF): {t_prepare:?}\nsignature block (openssl, stands in for the server): {t_block:?}\nwrite signed JAR: {t_write:?}\nclient total (prepare + write): {:?}",
        t_prepare + t_write
    );
    Ok(())
}

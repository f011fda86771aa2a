//! Prints the Authenticode image digest of a PE file and how fast it was computed.
//!
//! `cargo run --release -p sigil-authenticode --example pe_digest -- FILE [SHA256|SHA384|SHA512]`
//! (compare with `openssl dgst -sha256 FILE` for the machine's hashing speed), then the
//! same for `prepare_image` (the digest and the partial PE checksum in one pass).

use std::path::PathBuf;
use std::time::Instant;

use sigil_keys::HashAlgorithm;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: pe_digest FILE [SHA256|SHA384|SHA512]")?,
    );
    let algorithm: HashAlgorithm = args.next().as_deref().unwrap_or("SHA256").parse()?;
    let start = Instant::now();
    let digest = sigil_authenticode::image_digest_file(&path, algorithm)?;
    let elapsed = start.elapsed();
    let hex: String = digest.digest.iter().map(|b| format!("{b:02x}")).collect();
    println!("{algorithm} {hex}  {}", path.display());
    eprintln!(
        "{} bytes in {:.3} s: {:.0} MB/s",
        digest.layout.file_len,
        elapsed.as_secs_f64(),
        digest.layout.file_len as f64 / elapsed.as_secs_f64() / 1e6
    );
    // What `sigil sign` does instead: the same pass, plus the partial PE checksum.
    let start = Instant::now();
    let prepared = sigil_authenticode::prepare_image(&path, algorithm)?;
    let elapsed = start.elapsed();
    assert_eq!(
        prepared.digest, digest.digest,
        "prepare_image gives the same digest"
    );
    eprintln!(
        "prepare_image (digest + checksum): {:.3} s: {:.0} MB/s",
        elapsed.as_secs_f64(),
        digest.layout.file_len as f64 / elapsed.as_secs_f64() / 1e6
    );
    Ok(())
}

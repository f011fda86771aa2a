//! Authenticode image digest of a ~16 MB PE against a plain SHA-256 of the same bytes, in the
//! same run: the ratio is the cost of parsing the headers and skipping the checksum and
//! certificate-table fields (the target is ≤ 1.3× of plain hashing).
//!
//! The PE is a real MinGW-w64 executable with a 16 MiB initialised `.rdata` array, built in
//! the bench setup with `x86_64-w64-mingw32-gcc`; without the cross compiler the bench falls
//! back to `testdata/pe/tiny64.exe` with 16 MiB of appended data (also a valid, signable PE).
//!
//! `cargo bench -p sigil-authenticode --bench pe_digest`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sigil_keys::{HashAlgorithm, Hasher};

const PAYLOAD: usize = 16 << 20;

/// Builds the PE in `dir` and returns its path.
fn build_pe(dir: &Path) -> PathBuf {
    let source = dir.join("big.c");
    // Non-zero, varied content so the section is stored in the file rather than as .bss.
    std::fs::write(
        &source,
        format!(
            "static const unsigned char payload[{PAYLOAD}] = {{1, 2, 3, 4, 5, 6, 7, 8}};\n\
             int main(int argc, char **argv) {{ (void)argv; return payload[argc * 4096]; }}\n"
        ),
    )
    .unwrap();
    let exe = dir.join("big.exe");
    let built = Command::new("x86_64-w64-mingw32-gcc")
        .args(["-O1", "-s", "-o"])
        .arg(&exe)
        .arg(&source)
        .status()
        .is_ok_and(|s| s.success());
    if built {
        return exe;
    }
    eprintln!("x86_64-w64-mingw32-gcc unavailable: using testdata/pe/tiny64.exe + 16 MiB overlay");
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pe/tiny64.exe");
    let mut bytes = std::fs::read(&tiny).unwrap();
    bytes.extend((0..PAYLOAD).map(|i| (i % 251) as u8));
    std::fs::write(&exe, bytes).unwrap();
    exe
}

fn pe_digest(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let exe = build_pe(dir.path());
    let bytes = std::fs::read(&exe).unwrap();
    assert!(bytes.len() >= PAYLOAD, "PE is only {} bytes", bytes.len());
    // The file must parse and digest, or the benchmark measures an error path.
    let digest = sigil_authenticode::image_digest_file(&exe, HashAlgorithm::Sha256).unwrap();
    assert_eq!(digest.layout.file_len, bytes.len() as u64);

    let mut group = c.benchmark_group("pe_16MiB");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("sha256_plain_baseline", |b| {
        b.iter(|| {
            let mut hasher = Hasher::new(HashAlgorithm::Sha256);
            hasher.update(black_box(&bytes));
            black_box(hasher.finalize())
        })
    });
    group.bench_function("authenticode_digest_memory", |b| {
        b.iter(|| {
            let mut reader = Cursor::new(black_box(&bytes));
            black_box(sigil_authenticode::image_digest(&mut reader, HashAlgorithm::Sha256).unwrap())
        })
    });
    group.bench_function("authenticode_digest_file", |b| {
        b.iter(|| {
            black_box(
                sigil_authenticode::image_digest_file(black_box(&exe), HashAlgorithm::Sha256)
                    .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, pe_digest);
criterion_main!(benches);

//! JAR client-side work for a 3,000-entry archive: open the archive (central directory
//! checks), inflate and digest every entry, write the new `MANIFEST.MF` and compute the `.SF`
//! — everything `sigil sign --format jar` does before it sends the `.SF` digest.
//!
//! The archive is made in the bench setup with Info-ZIP `zip` (deflated entries of 0.5–4 KiB,
//! like compiled classes) and held in memory, so the numbers exclude disk reads.
//!
//! `cargo bench -p sigil-jar --bench manifest`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sigil_jar::{Archive, HashAlgorithm, SignOptions, SignerName, prepare_archive};

const ENTRIES: usize = 3000;

/// Writes `ENTRIES` class-like files under `dir/tree` and zips them into `dir/app.jar`.
fn build_jar(dir: &Path) -> Vec<u8> {
    let tree = dir.join("tree");
    let mut seed = 0x9e37_79b9_u32;
    for i in 0..ENTRIES {
        let package = tree.join(format!("com/example/app/p{:03}", i / 50));
        std::fs::create_dir_all(&package).unwrap();
        let len = 512 + (i * 977) % 3584;
        // Half compressible text, half pseudo-random bytes, so deflate does real work.
        let content: Vec<u8> = (0..len)
            .map(|j| {
                if j % 2 == 0 {
                    b"abcdefghijklmnop"[j % 16]
                } else {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                }
            })
            .collect();
        std::fs::write(package.join(format!("Class{i}.class")), content).unwrap();
    }
    let jar = dir.join("app.jar");
    let status = Command::new("zip")
        .args(["-q", "-r", "-X"])
        .arg(&jar)
        .arg("com")
        .current_dir(&tree)
        .status()
        .expect("the JAR bench needs Info-ZIP `zip` on PATH (apt-get install zip)");
    assert!(status.success(), "zip failed");
    std::fs::read(&jar).unwrap()
}

fn jar_manifest(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let bytes = build_jar(dir.path());
    let options = SignOptions::new(SignerName::new("SIGIL").unwrap(), HashAlgorithm::Sha256);
    // Check the setup once, so the benchmark never measures an error path.
    let archive = Archive::from_source(bytes.clone()).unwrap();
    let file_entries = archive
        .entries()
        .iter()
        .filter(|e| !e.is_directory())
        .count();
    assert_eq!(file_entries, ENTRIES);
    let prepared = prepare_archive(&archive, &options).unwrap();
    assert!(prepared.manifest().len() > ENTRIES * 60);

    let mut group = c.benchmark_group("jar_3000_entries");
    group.sample_size(20);
    group.throughput(Throughput::Elements(ENTRIES as u64));
    group.bench_function("open_archive", |b| {
        b.iter(|| black_box(Archive::from_source(black_box(bytes.clone())).unwrap()))
    });
    group.bench_function("manifest_and_sf", |b| {
        b.iter(|| black_box(prepare_archive(black_box(&archive), &options).unwrap()))
    });
    group.bench_function("open_manifest_and_sf", |b| {
        b.iter(|| {
            let archive = Archive::from_source(black_box(bytes.clone())).unwrap();
            black_box(prepare_archive(&archive, &options).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, jar_manifest);
criterion_main!(benches);

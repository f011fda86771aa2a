//! Job planning: format detection and the client-side digests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use sigil_client::job::file_digest;
use sigil_client::{Format, FormatChoice, Job, PreparedJob, detect_format};
use sigil_proto::HashAlgorithm;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

#[test]
fn pe_images_are_authenticode_by_their_header_not_their_name() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["tiny64.exe", "tiny32.exe"] {
        assert_eq!(
            detect_format(&testdata(&format!("pe/{name}"))).unwrap(),
            Format::Authenticode
        );
    }
    // A PE renamed keeps its format.
    let renamed = dir.path().join("program.bin");
    std::fs::copy(testdata("pe/tiny64.exe"), &renamed).unwrap();
    assert_eq!(detect_format(&renamed).unwrap(), Format::Authenticode);
    // MZ without a PE signature at e_lfanew, under another name, is hashed.
    let mz = dir.path().join("mz.bin");
    std::fs::write(&mz, b"MZ").unwrap();
    assert_eq!(detect_format(&mz).unwrap(), Format::Hash);
}

/// A broken build must not be signed raw by `--format auto` (issue 19).
#[test]
fn files_named_like_pe_or_jar_that_are_not_are_refused_in_auto_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(PathBuf, &str)> = [
        "bad-pe-signature.exe",
        "not-a-pe.exe",
        "pe-offset-out-of-file.exe",
    ]
    .iter()
    .map(|name| (testdata(&format!("pe/{name}")), "not one"))
    .collect();
    for (name, bytes, why) in [
        ("mz.exe", &b"MZ"[..], "not one"),
        ("empty.exe", b"", "empty (0 bytes)"),
        ("driver.SYS", b"text", "not one"),
        ("boot.efi", b"text", "not one"),
        ("app.jar", b"not a zip", "not a ZIP"),
        ("empty.war", b"", "empty (0 bytes)"),
        ("setup.msi", b"\xd0\xcf\x11\xe0", "not one"),
        ("data.cab", b"MSCX", "not one"),
        ("drivers.cat", b"0\x03\x02\x01\x00", "not one"),
        ("setup.exe", b"MSCF\0\0\0\0", "but is a cabinet file"),
        ("tool.ps1", b"bin\0ary", "not text"),
        ("empty.psm1", b"", "empty (0 bytes)"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        cases.push((path, why));
    }
    for (path, why) in cases {
        let err = Job::plan(&path, FormatChoice::Auto)
            .unwrap_err()
            .to_string();
        assert!(err.contains(why), "{}: {err}", path.display());
        assert!(err.contains("--format hash"), "{}: {err}", path.display());
        // Asked for explicitly, a raw signature is still possible.
        let job = Job::plan(&path, FormatChoice::Fixed(Format::Hash)).unwrap();
        assert_eq!(job.format, Format::Hash);
    }
    // An empty file under any other name is hashed.
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(detect_format(&empty).unwrap(), Format::Hash);
}

/// What is not a readable regular file is refused whatever the format, with what it is.
#[test]
fn directories_fifos_and_missing_files_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.exe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let choices = [
        FormatChoice::Auto,
        FormatChoice::Fixed(Format::Hash),
        FormatChoice::Fixed(Format::Authenticode),
        FormatChoice::Fixed(Format::Jar),
    ];
    for choice in choices {
        for (path, why) in [
            (dir.path().to_path_buf(), "is a directory"),
            (fifo.clone(), "is a FIFO (named pipe), not a regular file"),
            (dir.path().join("missing.exe"), "no such file"),
        ] {
            let err = Job::plan(&path, choice).unwrap_err().to_string();
            assert!(err.contains(why), "{choice:?} {}: {err}", path.display());
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(!err.contains("9223372036854775807"), "{err}");
        }
    }
}

#[test]
fn archives_are_jar_by_extension_and_everything_else_hash() {
    let dir = tempfile::tempdir().unwrap();
    for (name, format) in [
        ("app.jar", Format::Jar),
        ("app.WAR", Format::Jar),
        ("app.ear", Format::Jar),
        ("lib.aar", Format::Jar),
        ("app.zip", Format::Hash),
        ("notes.txt", Format::Hash),
        ("noext", Format::Hash),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, b"PK\x03\x04 not really").unwrap();
        assert_eq!(detect_format(&path).unwrap(), format, "{name}");
    }
    let missing = detect_format(&dir.path().join("missing.jar")).unwrap_err();
    assert!(missing.to_string().contains("missing.jar"), "{missing}");
}

#[test]
fn a_fixed_format_overrides_detection() {
    let job = Job::plan(
        &testdata("pe/tiny64.exe"),
        FormatChoice::Fixed(Format::Hash),
    )
    .unwrap();
    assert_eq!(job.format, Format::Hash);
    let job = Job::plan(&testdata("pe/tiny64.exe"), FormatChoice::Auto).unwrap();
    assert_eq!(job.format, Format::Authenticode);
}

#[test]
fn digests_match_openssl_and_the_authenticode_image_digest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("abc.txt");
    std::fs::write(&file, b"abc").unwrap();
    // FIPS 180-4 test vectors for "abc".
    assert_eq!(
        hex::encode(file_digest(&file, HashAlgorithm::Sha256).unwrap()),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex::encode(file_digest(&file, HashAlgorithm::Sha384).unwrap()),
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"
    );
    // Larger than one read buffer.
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![0x5au8; 3 * 1024 * 1024 + 17]).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha512", "-r"])
        .arg(&big)
        .output()
        .expect("openssl must be installed");
    let expected = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        hex::encode(file_digest(&big, HashAlgorithm::Sha512).unwrap()),
        expected
    );

    let pe = testdata("pe/tiny64.exe");
    let job = Job::plan(&pe, FormatChoice::Auto).unwrap();
    let prepared = PreparedJob::prepare(job, HashAlgorithm::Sha256, "release").unwrap();
    let image =
        sigil_authenticode::image_digest_file(&pe, sigil_keys::HashAlgorithm::Sha256).unwrap();
    assert_eq!(prepared.digest, image.digest);
    assert_eq!(prepared.file_size, std::fs::metadata(&pe).unwrap().len());
}

#[test]
fn a_jar_is_prepared_with_a_signer_named_after_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join("c");
    std::fs::create_dir_all(content.join("a")).unwrap();
    std::fs::write(content.join("a/b.txt"), "hello\n").unwrap();
    let jar = dir.path().join("app.jar");
    let out = std::process::Command::new("jar")
        .arg("cf")
        .arg(&jar)
        .arg("-C")
        .arg(&content)
        .arg(".")
        .output()
        .expect("the JDK's jar tool must be installed");
    assert!(out.status.success(), "{out:?}");
    let job = Job::plan(&jar, FormatChoice::Auto).unwrap();
    assert_eq!(job.format, Format::Jar);
    let prepared = PreparedJob::prepare(job, HashAlgorithm::Sha384, "release-approved").unwrap();
    let jar_prepared = prepared.jar.as_ref().unwrap();
    assert_eq!(jar_prepared.signer().as_str(), "RELEASE-");
    assert_eq!(prepared.digest, jar_prepared.signature_file_digest());
    assert_eq!(prepared.digest.len(), 48);

    // An explicit signer name wins; an invalid one is refused before anything is sent.
    let job = Job::plan(&jar, FormatChoice::Auto).unwrap();
    let named =
        PreparedJob::prepare_with(job.clone(), HashAlgorithm::Sha256, "release", Some("acme"))
            .unwrap();
    assert_eq!(named.jar.as_ref().unwrap().signer().as_str(), "ACME");
    let err =
        PreparedJob::prepare_with(job, HashAlgorithm::Sha256, "release", Some("much-too-long"))
            .unwrap_err();
    assert!(err.to_string().contains("8 characters"), "{err}");

    // Not a JAR at all: a clear error naming the file.
    let fake = dir.path().join("fake.jar");
    std::fs::write(&fake, "text").unwrap();
    let job = Job::plan(&fake, FormatChoice::Fixed(Format::Jar)).unwrap();
    let err = PreparedJob::prepare(job, HashAlgorithm::Sha256, "release").unwrap_err();
    assert!(err.to_string().contains("fake.jar"), "{err}");
}

#[test]
fn prepare_jobs_keeps_the_order_stages_pe_copies_and_reports_failures() {
    let dir = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    for i in 0..40 {
        let path = if i % 10 == 3 {
            let pe = dir.path().join(format!("f{i:02}.exe"));
            std::fs::copy(testdata("pe/tiny64.exe"), &pe).unwrap();
            pe
        } else {
            let file = dir.path().join(format!("f{i:02}.txt"));
            std::fs::write(&file, format!("file {i}\n")).unwrap();
            file
        };
        jobs.push(Job::plan(&path, FormatChoice::Auto).unwrap());
    }
    // Fails while being prepared: an Authenticode job for a file that is not a PE.
    let not_pe = dir.path().join("not-pe.exe");
    std::fs::write(&not_pe, "text").unwrap();
    jobs.insert(
        7,
        Job {
            path: not_pe.clone(),
            format: Format::Authenticode,
            subject: None,
        },
    );
    let expected: Vec<PathBuf> = jobs
        .iter()
        .map(|j| j.path.clone())
        .filter(|p| *p != not_pe)
        .collect();

    let options = sigil_client::SignOptions::new("release");
    let (prepared, failed) = sigil_client::prepare_jobs(jobs, &options);
    assert_eq!(
        prepared
            .iter()
            .map(|p| p.job.path.clone())
            .collect::<Vec<_>>(),
        expected,
        "results in the order of the jobs, whatever thread prepared them"
    );
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].path, not_pe);
    for p in &prepared {
        if p.job.format == Format::Hash {
            assert_eq!(
                p.digest,
                file_digest(&p.job.path, HashAlgorithm::Sha256).unwrap()
            );
            assert!(p.staged.is_none());
        } else {
            // A PE is copied next to itself (in-place signing), image only.
            let staged = p.staged.as_ref().unwrap();
            assert_eq!(staged.path().parent(), p.job.path.parent());
            assert_eq!(
                std::fs::metadata(staged.path()).unwrap().len(),
                p.image.as_ref().unwrap().layout.image_end()
            );
        }
    }
    let copies = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".sigil-sign-")
            })
            .count()
    };
    assert_eq!(copies(dir.path()), 4);
    drop(prepared);
    assert_eq!(
        copies(dir.path()),
        0,
        "dropping the jobs removes the copies"
    );
}

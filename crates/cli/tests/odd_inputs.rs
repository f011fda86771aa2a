//! Issue 19: odd files given to `sigil sign` (directories, FIFOs, missing files, files named
//! like a PE or a JAR that are not) and signatures `sigil verify` cannot check (a SHA-1
//! primary Authenticode signature, DSA and Ed25519 JAR blocks made by jarsigner).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

mod common;
use common::{args, chain, p, run_ok, sigil, text, world};

#[tokio::test(flavor = "multi_thread")]
async fn odd_files_get_a_clear_error_per_file_in_every_mode() {
    let world = world().await;
    let dir = world.dir.path();
    std::fs::create_dir(dir.join("adir")).unwrap();
    std::fs::write(dir.join("fake.exe"), "echo not a program\n").unwrap();
    std::fs::write(dir.join("empty.dll"), "").unwrap();
    std::fs::write(dir.join("fake.jar"), "not a zip").unwrap();
    std::fs::write(dir.join("good.txt"), "good\n").unwrap();
    run_ok("mkfifo", &[p(&dir.join("pipe.bin"))]);
    let sign = |extra: &[&str]| {
        let mut a = vec![
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release",
        ];
        a.extend_from_slice(extra);
        args(&a)
    };

    // Text: one line per file saying what is wrong; exit 1 (a local file).
    for (file, why) in [
        ("adir", "adir: is a directory"),
        ("pipe.bin", "pipe.bin: is a FIFO (named pipe)"),
        ("missing.exe", "no such file"),
        ("fake.exe", "is named like a PE image (.exe) but is not one"),
        ("empty.dll", "is empty (0 bytes)"),
        (
            "fake.jar",
            "is named like a Java archive (.jar) but is not a ZIP",
        ),
    ] {
        let out = sigil(sign(&[file]), dir).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{file}: {}", text(&out));
        assert!(stderr.contains(why), "{file}: {}", text(&out));
        if !file.starts_with("adir") && !file.starts_with("pipe") && !file.starts_with("missing") {
            assert!(stderr.contains("--format hash"), "{}", text(&out));
        }
    }
    // A fixed format does not read the directory as bytes.
    let out = sigil(sign(&["--format", "authenticode", "adir"]), dir).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        !text(&out).contains("9223372036854775807"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("is a directory"), "{}", text(&out));
    let out = sigil(sign(&["--format", "hash", "pipe.bin"]), dir).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // Several files (a release): nothing is submitted, each bad file has its line.
    let out = sigil(sign(&["good.txt", "adir", "fake.exe"]), dir).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ERROR adir: is a directory"), "{stderr}");
    assert!(
        stderr.contains("ERROR fake.exe: is named like a PE"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was submitted"), "{stderr}");

    // --json: the object carries the file's own exit code and message.
    let out = sigil(sign(&["--json", "adir"]), dir).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let object: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(object["file"], "adir");
    assert_eq!(object["outcome"], "error");
    assert_eq!(object["exit_code"], 1);
    assert!(
        object["message"]
            .as_str()
            .unwrap()
            .contains("is a directory"),
        "{object}"
    );

    // Asked for explicitly, the raw signature of a fake .exe is made.
    let out = sigil(sign(&["--format", "hash", "fake.exe"]), dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(dir.join("fake.exe.sig").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sha1_primary_signature_is_not_checked_and_the_nested_one_valid() {
    let world = world().await;
    let dir = world.dir.path();
    let pe = dir.join("tiny64.exe");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pe/tiny64.exe");
    std::fs::copy(fixture, &pe).unwrap();
    let (key, cert) = (dir.join("legacy.key"), dir.join("legacy.pem"));
    run_ok(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            p(&key),
            "-out",
            p(&cert),
            "-days",
            "2",
            "-subj",
            "/CN=Legacy SHA-1 signer",
        ],
    );
    let sha1 = dir.join("sha1.exe");
    run_ok(
        "osslsigncode",
        &[
            "sign",
            "-h",
            "sha1",
            "-certs",
            p(&cert),
            "-key",
            p(&key),
            "-in",
            p(&pe),
            "-out",
            p(&sha1),
        ],
    );
    std::fs::rename(&sha1, &pe).unwrap();
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release",
            "--append",
            "tiny64.exe",
        ]),
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // osslsigncode checks both, each against its root.
    let (_, root, _) = chain(&world, "release").await;
    let roots = dir.join("roots.pem");
    let pem = std::fs::read_to_string(&cert).unwrap() + &std::fs::read_to_string(&root).unwrap();
    std::fs::write(&roots, pem).unwrap();
    let checked = run_ok(
        "osslsigncode",
        &["verify", "-CAfile", p(&roots), "-in", p(&pe)],
    );
    assert!(
        checked.contains("Number of verified signatures: 2"),
        "{checked}"
    );
    assert!(checked.contains("Signature verification: ok"), "{checked}");

    let out = sigil(args(&["verify", "tiny64.exe"]), dir).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out));
    assert!(
        stdout.contains("signature 1 (primary): NOT CHECKED"),
        "{stdout}"
    );
    assert!(stdout.contains("signature 2 (nested): valid"), "{stdout}");
    assert!(!stdout.contains("INVALID"), "{stdout}");

    // Changing a byte of the image makes both digests wrong: invalid beats not checked.
    let mut bytes = std::fs::read(&pe).unwrap();
    bytes[0x200] ^= 1;
    std::fs::write(&pe, bytes).unwrap();
    let out = sigil(args(&["verify", "tiny64.exe"]), dir).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("signature 2 (nested): INVALID"),
        "{}",
        text(&out)
    );
}

/// jarsigner-made DSA and Ed25519 JARs that jarsigner accepts: DSA verifies (and a changed DSA
/// signature is invalid); Ed25519, which Sigil does not implement, is "not checked", never
/// "invalid" or "unsigned".
#[tokio::test(flavor = "multi_thread")]
async fn dsa_jars_verify_and_ed25519_jars_are_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::create_dir_all(dir.join("content/com/example")).unwrap();
    std::fs::write(dir.join("content/com/example/readme.txt"), "hello\n").unwrap();
    for alg in ["DSA", "Ed25519"] {
        let store = dir.join(format!("{alg}.p12"));
        run_ok(
            "keytool",
            &[
                "-genkeypair",
                "-keyalg",
                alg,
                "-alias",
                "signer",
                "-dname",
                &format!("CN={alg} signer"),
                "-keystore",
                p(&store),
                "-storetype",
                "PKCS12",
                "-storepass",
                "changeit",
                "-validity",
                "2",
            ],
        );
        let jar = dir.join(format!("{alg}.jar"));
        run_ok("jar", &["cf", p(&jar), "-C", p(&dir.join("content")), "."]);
        run_ok(
            "jarsigner",
            &[
                "-keystore",
                p(&store),
                "-storetype",
                "PKCS12",
                "-storepass",
                "changeit",
                p(&jar),
                "signer",
            ],
        );
        let checked = run_ok("jarsigner", &["-verify", p(&jar)]);
        assert!(checked.contains("jar verified"), "{checked}");

        let out = sigil(args(&["verify", p(&jar)]), dir).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains("UNSIGNED"), "{alg}: {stdout}");
        assert!(!stdout.contains("INVALID"), "{alg}: {stdout}");
        if alg == "Ed25519" {
            assert_eq!(out.status.code(), Some(9), "{alg}: {}", text(&out));
            assert!(stdout.contains("NOT CHECKED"), "{alg}: {stdout}");
            continue;
        }
        assert_eq!(out.status.code(), Some(0), "{alg}: {}", text(&out));
        assert!(stdout.contains("): valid"), "{alg}: {stdout}");

        // The last byte of the block is the signature's: changed, DSA says invalid.
        let block = dir.join("META-INF/SIGNER.DSA");
        std::fs::create_dir_all(block.parent().unwrap()).unwrap();
        let mut bytes = run_bytes("unzip", &["-p", p(&jar), "META-INF/SIGNER.DSA"]);
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&block, bytes).unwrap();
        let status = std::process::Command::new("zip")
            .args([p(&jar), "META-INF/SIGNER.DSA"])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(status.status.success(), "{status:?}");
        let out = sigil(args(&["verify", p(&jar)]), dir).await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("DSA signature does not verify"),
            "{}",
            text(&out)
        );
    }
}

fn run_bytes(program: &str, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    out.stdout
}

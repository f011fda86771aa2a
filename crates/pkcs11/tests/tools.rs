//! The real tools sign through `libsigil_pkcs11.so` against a real server: pkcs11-tool,
//! OpenSSL with the libp11 engine, jarsigner with SunPKCS11 and osslsigncode; every output is
//! checked by an independent verifier (openssl, jarsigner -verify, java, osslsigncode verify).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;

use sigil_testkit::pkcs11 as support;
use support::{World, module_path, ok, output, p, run_ok, text, world};

/// libp11's OpenSSL engine (Debian's libengine-pkcs11-openssl).
const ENGINE: &str = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so";

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Writes the public key of a policy's certificate (read from the token) as PEM.
async fn public_key(world: &World, label: &str) -> std::path::PathBuf {
    let der = world.path(&format!("{label}.der"));
    let mut read = world.tool("pkcs11-tool");
    read.args([
        "--module",
        p(&module_path()),
        "--read-object",
        "--type",
        "cert",
    ])
    .args(["--label", label, "-o", p(&der)]);
    ok(read).await;
    let public = world.path(&format!("{label}.pub"));
    let pem = run_ok(
        "openssl",
        &[
            "x509",
            "-inform",
            "der",
            "-in",
            p(&der),
            "-pubkey",
            "-noout",
        ],
    );
    std::fs::write(&public, pem).unwrap();
    public
}

/// `pkcs11-tool --sign` of `input` with `mechanism` and the key of `label`.
async fn pkcs11_sign(
    world: &World,
    label: &str,
    mechanism: &[&str],
    input: &Path,
    out: &Path,
) -> String {
    let mut sign = world.tool("pkcs11-tool");
    sign.args([
        "--module",
        p(&module_path()),
        "--login",
        "--pin",
        &world.pin,
        "--sign",
    ])
    .args(mechanism)
    .args(["--id", &hex(label), "-i", p(input), "-o", p(out)]);
    ok(sign).await
}

fn verify(public: &Path, signature: &Path, data: &Path, extra: &[&str]) {
    let mut args = vec!["dgst", "-sha256"];
    args.extend(extra);
    args.extend(["-verify", p(public), "-signature", p(signature), p(data)]);
    let verified = run_ok("openssl", &args);
    assert!(verified.contains("Verified OK"), "{verified}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkcs11_tool_openssl_jarsigner_and_osslsigncode_sign_and_independent_verifiers_agree() {
    assert!(
        Path::new(ENGINE).exists(),
        "{ENGINE} is missing: install libengine-pkcs11-openssl"
    );
    let world = world().await;
    let module = module_path();

    // -L: the token; -O: public objects before a login, the private keys after one.
    let mut list = world.tool("pkcs11-tool");
    list.args(["--module", p(&module), "-L"]);
    let slots = ok(list).await;
    assert!(
        slots.contains("token label        : Sigil jenkins"),
        "{slots}"
    );
    let mut objects = world.tool("pkcs11-tool");
    objects.args(["--module", p(&module), "-O"]);
    let public = ok(objects).await;
    for alias in ["release", "release-approved", "ec-release", "pss-release"] {
        assert!(
            public.contains(&format!("label:      {alias}\n")),
            "{public}"
        );
    }
    assert!(
        public.contains("Public Key Object; RSA 3072 bits"),
        "{public}"
    );
    assert!(public.contains("Public Key Object; EC"), "{public}");
    assert!(!public.contains("Private Key Object"), "{public}");
    let mut objects = world.tool("pkcs11-tool");
    objects.args(["--module", p(&module), "--login", "--pin", &world.pin, "-O"]);
    let all = ok(objects).await;
    assert_eq!(all.matches("Private Key Object").count(), 4, "{all}");
    assert!(
        all.contains("Access:     sensitive, always sensitive, never extractable"),
        "{all}"
    );

    // Without any variable: sigil-pkcs11.toml beside the module file.
    let lib = world.path("lib");
    std::fs::create_dir(&lib).unwrap();
    let beside = lib.join("libsigil_pkcs11.so");
    std::fs::hard_link(&module, &beside)
        .or_else(|_| std::fs::copy(&module, &beside).map(|_| ()))
        .unwrap();
    std::fs::write(
        lib.join("sigil-pkcs11.toml"),
        format!("profile = {:?}\n", world.jenkins),
    )
    .unwrap();
    let mut list = world.tool("pkcs11-tool");
    list.env_remove("SIGIL_PKCS11_PROFILE")
        .args(["--module", p(&beside), "-L"]);
    let slots = ok(list).await;
    assert!(
        slots.contains("token label        : Sigil jenkins"),
        "{slots}"
    );
    std::fs::remove_file(lib.join("sigil-pkcs11.toml")).unwrap();
    let mut list = world.tool("pkcs11-tool");
    list.env_remove("SIGIL_PKCS11_PROFILE")
        .args(["--module", p(&beside), "-L"]);
    let out = output(list).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("there is no sigil-pkcs11.toml beside the module"),
        "{}",
        text(&out)
    );

    let data = world.path("hello.txt");
    std::fs::write(&data, "hello through the Sigil PKCS#11 module\n").unwrap();
    let digest = world.path("hello.sha256");
    std::fs::write(
        &digest,
        run_ok_bytes("openssl", &["dgst", "-sha256", "-binary", p(&data)]),
    )
    .unwrap();
    let rsa = public_key(&world, "release").await;
    let ec = public_key(&world, "ec-release").await;

    // RSA PKCS#1 v1.5 (hashed here) and PSS (hashed here, and the caller's digest).
    let sig = world.path("rsa.sig");
    pkcs11_sign(&world, "release", &["-m", "SHA256-RSA-PKCS"], &data, &sig).await;
    verify(&rsa, &sig, &data, &[]);
    let pss = [
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:32",
    ];
    pkcs11_sign(
        &world,
        "pss-release",
        &["-m", "SHA256-RSA-PKCS-PSS"],
        &data,
        &sig,
    )
    .await;
    verify(&rsa, &sig, &data, &pss);
    pkcs11_sign(
        &world,
        "pss-release",
        &[
            "-m",
            "RSA-PKCS-PSS",
            "--hash-algorithm",
            "SHA256",
            "--mgf",
            "MGF1-SHA256",
            "--salt-len",
            "32",
        ],
        &digest,
        &sig,
    )
    .await;
    verify(&rsa, &sig, &data, &pss);
    // PSS asked of a PKCS#1 v1.5 policy: refused, with the reason.
    let mut wrong = world.tool("pkcs11-tool");
    wrong
        .args([
            "--module",
            p(&module),
            "--login",
            "--pin",
            &world.pin,
            "--sign",
            "-m",
            "SHA256-RSA-PKCS-PSS",
        ])
        .args(["--id", &hex("release"), "-i", p(&data), "-o", p(&sig)]);
    let out = output(wrong).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("the policy does not sign with RSASSA-PSS"),
        "{}",
        text(&out)
    );

    // ECDSA: r‖s from the module, as openssl's DER with --signature-format openssl.
    for (mechanism, input) in [("ECDSA-SHA256", &data), ("ECDSA", &digest)] {
        let sig = world.path("ec.sig");
        pkcs11_sign(
            &world,
            "ec-release",
            &["-m", mechanism, "--signature-format", "openssl"],
            input,
            &sig,
        )
        .await;
        verify(&ec, &sig, &data, &[]);
    }

    // OpenSSL through the libp11 engine with a pkcs11: URI (CKM_RSA_PKCS with a DigestInfo,
    // CKM_ECDSA with a digest).
    for (label, public) in [("release", &rsa), ("ec-release", &ec)] {
        let sig = world.path("engine.sig");
        let mut sign = world.tool("openssl");
        sign.env("PKCS11_MODULE_PATH", &module)
            .args([
                "dgst", "-sha256", "-engine", "pkcs11", "-keyform", "engine", "-sign",
            ])
            .arg(format!(
                "pkcs11:object={label};type=private;pin-value={}",
                world.pin
            ))
            .args(["-out", p(&sig), p(&data)]);
        ok(sign).await;
        verify(public, &sig, &data, &[]);
    }

    // jarsigner with SunPKCS11 signs a JDK-built JAR; -verify -strict against the root
    // passes and java runs it.
    let src = world.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("Hello.java"),
        "public class Hello { public static void main(String[] a) { System.out.println(\"signed through PKCS#11\"); } }\n",
    )
    .unwrap();
    let classes = world.path("classes");
    run_ok("javac", &["-d", p(&classes), p(&src.join("Hello.java"))]);
    let jar = world.path("app.jar");
    run_ok(
        "jar",
        &[
            "--create",
            "--file",
            p(&jar),
            "--main-class",
            "Hello",
            "-C",
            p(&classes),
            ".",
        ],
    );
    let cfg = world.path("sigil-pkcs11.cfg");
    std::fs::write(
        &cfg,
        format!("name = Sigil\nlibrary = {}\nslot = 0\n", module.display()),
    )
    .unwrap();
    let signed_jar = world.path("app-signed.jar");
    let mut sign = world.tool("jarsigner");
    sign.args(["-keystore", "NONE", "-storetype", "PKCS11"])
        .args([
            "-providerClass",
            "sun.security.pkcs11.SunPKCS11",
            "-providerArg",
            p(&cfg),
        ])
        .args([
            "-storepass",
            &world.pin,
            "-signedjar",
            p(&signed_jar),
            p(&jar),
            "release",
        ]);
    ok(sign).await;
    let store = world.path("truststore.p12");
    run_ok(
        "keytool",
        &[
            "-importcert",
            "-noprompt",
            "-storetype",
            "PKCS12",
            "-alias",
            "root",
            "-file",
            p(&world.code_signing_root),
            "-keystore",
            p(&store),
            "-storepass",
            "changeit",
        ],
    );
    let checked = run_ok(
        "jarsigner",
        &[
            "-verify",
            "-strict",
            "-keystore",
            p(&store),
            "-storepass",
            "changeit",
            p(&signed_jar),
        ],
    );
    assert!(checked.contains("jar verified."), "{checked}");
    let ran = run_ok("java", &["-jar", p(&signed_jar)]);
    assert_eq!(ran, "signed through PKCS#11\n");

    // osslsigncode signs a MinGW-built PE through the module (its -pkcs11module loads the
    // libp11 engine); osslsigncode verify says ok, for an RSA and an EC policy.
    let c = world.path("hello.c");
    std::fs::write(
        &c,
        "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n",
    )
    .unwrap();
    let exe = world.path("hello.exe");
    run_ok("x86_64-w64-mingw32-gcc", &["-O2", "-o", p(&exe), p(&c)]);
    for label in ["release", "ec-release"] {
        let signed = world.path(&format!("hello-{label}.exe"));
        let mut sign = world.tool("osslsigncode");
        sign.args(["sign", "-pkcs11module", p(&module)])
            .args(["-pkcs11cert", &format!("pkcs11:object={label};type=cert")])
            .args(["-key", &format!("pkcs11:object={label};type=private")])
            .args(["-pass", &world.pin, "-h", "sha256", "-n", "Hello"])
            .args(["-in", p(&exe), "-out", p(&signed)]);
        ok(sign).await;
        let checked = run_ok(
            "osslsigncode",
            &[
                "verify",
                "-CAfile",
                p(&world.code_signing_root),
                "-in",
                p(&signed),
            ],
        );
        assert!(checked.contains("Signature verification: ok"), "{checked}");
    }
    world.server.shutdown().await;
}

async fn output_of(child: std::process::Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

fn run_ok_bytes(program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", text(&out));
    out.stdout
}

/// An approval policy: the tool blocks inside `C_Sign` until an approver (another process:
/// curl on the HTTPS API) approves, then its output verifies; a denial makes it fail with the
/// reason in the configured log file. Nothing reaches the tool's standard output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_sign_waits_for_the_approver_and_a_denial_fails_with_the_reason_in_the_log() {
    let world = world().await;
    let module = module_path();
    let approver = world.login(&["approver"], &world.report.approver_profile.clone());
    let log = world.path("sigil-pkcs11.log");
    let config = world.path("module.toml");
    std::fs::write(
        &config,
        format!(
            "profile = {:?}\ntimeout_secs = 600\ndescription = \"nightly build 42\"\nlog_file = {:?}\n",
            world.jenkins, log
        ),
    )
    .unwrap();
    let data = world.path("release.txt");
    std::fs::write(&data, "approve me\n").unwrap();
    let rsa = public_key(&world, "release-approved").await;

    let start_with = |out: &Path, config: &Path| {
        let mut sign = world.tool("openssl");
        sign.env_remove("SIGIL_PKCS11_PROFILE")
            .env("SIGIL_PKCS11_CONFIG", config)
            .env("PKCS11_MODULE_PATH", &module)
            .args([
                "dgst", "-sha256", "-engine", "pkcs11", "-keyform", "engine", "-sign",
            ])
            .arg(format!(
                "pkcs11:object=release-approved;type=private;pin-value={}",
                world.pin
            ))
            .args(["-out", p(out), p(&data)])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        sign.spawn().unwrap()
    };

    let sig = world.path("approved.sig");
    let start = |out: &Path| start_with(out, &config);
    let mut child = start(&sig);
    let id = world.one_pending(&approver).await;
    let request = world.api(&approver, "GET", &format!("/requests/{id}"), None);
    assert_eq!(
        request["metadata"]["description"], "nightly build 42 (program: openssl)",
        "{request}"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the tool must wait for the approval"
    );
    world.api(
        &approver,
        "POST",
        &format!("/requests/{id}/approve"),
        Some(&serde_json::json!({"comment": "ok"})),
    );
    let out = output_of(child).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    verify(&rsa, &sig, &data, &[]);

    let denied = world.path("denied.sig");
    let child = start(&denied);
    let id = world.one_pending(&approver).await;
    world.api(
        &approver,
        "POST",
        &format!("/requests/{id}/deny"),
        Some(&serde_json::json!({"comment": "not from this branch"})),
    );
    let out = output_of(child).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains(&format!("request {id} was denied: not from this branch")),
        "{logged}"
    );

    // Nobody decides within timeout_secs: the tool fails (the request stays pending).
    let short = world.path("short.toml");
    std::fs::write(
        &short,
        format!(
            "profile = {:?}\ntimeout_secs = 1\nlog_file = {:?}\n",
            world.jenkins, log
        ),
    )
    .unwrap();
    let out = output_of(start_with(&world.path("late.sig"), &short)).await;
    assert!(!out.status.success(), "{}", text(&out));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("was not signed within 1 s"), "{logged}");
    assert_eq!(world.pending(&approver).len(), 1);
    world.server.shutdown().await;
}

/// The server closes a connection idle for `idle_timeout_secs`: a caller that logged in and
/// then waited longer (a big JAR being hashed) still signs, on a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_connection_closed_as_idle_is_replaced_when_signing() {
    let world =
        support::world_with(|config| config.idle_timeout = std::time::Duration::from_secs(1)).await;
    let sig = world.path("after-pause.sig");
    let mut sign = world.tool("python3");
    sign.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sign_after_pause.py"))
        .arg(module_path())
        .arg(&world.report.jenkins_password_file)
        .args(["release", "3", p(&sig)]);
    ok(sign).await;
    let data = world.path("after-pause.txt");
    std::fs::write(&data, "signed after a pause").unwrap();
    let rsa = public_key(&world, "release").await;
    verify(&rsa, &sig, &data, &[]);
    world.server.shutdown().await;
}

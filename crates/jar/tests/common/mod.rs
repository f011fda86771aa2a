//! Fixtures of this crate's integration tests: a temporary PKI made with
//! `openssl` and `keytool`, JARs made with `javac` + `jar`, signature blocks made
//! with `openssl cms`. `jarsigner -verify` is `sigil-testkit`'s.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sigil_jar::{HashAlgorithm, SignOptions, SignatureBlockKind, SignerName};

// Not every test file verifies with jarsigner.
#[allow(unused_imports)]
pub(crate) use sigil_testkit::jarsigner::{
    STOREPASS, assert_jarsigner_accepts, assert_jarsigner_accepts_with, jarsigner_verify,
};
pub(crate) use sigil_testkit::run;

/// Key types for the test code-signing certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyType {
    Rsa2048,
    EcP256,
    EcP384,
}

impl KeyType {
    fn newkey(self) -> &'static [&'static str] {
        match self {
            Self::Rsa2048 => &["-newkey", "rsa:2048"],
            Self::EcP256 => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            Self::EcP384 => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        }
    }

    pub(crate) fn block_kind(self) -> SignatureBlockKind {
        match self {
            Self::Rsa2048 => SignatureBlockKind::Rsa,
            Self::EcP256 | Self::EcP384 => SignatureBlockKind::Ec,
        }
    }
}

/// A root CA and a code-signing certificate issued by it, plus a PKCS#12
/// truststore holding the root (as `keytool -importcert` makes it).
pub(crate) struct Pki {
    pub(crate) dir: PathBuf,
    pub(crate) key_type: KeyType,
    pub(crate) root: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) truststore: PathBuf,
}

impl Pki {
    pub(crate) fn new(dir: &Path, key_type: KeyType) -> Self {
        let dir = dir.join(format!("pki-{key_type:?}"));
        std::fs::create_dir_all(&dir).unwrap();
        let p = |n: &str| dir.join(n);
        std::fs::write(
            p("signer.ext"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        )
        .unwrap();
        run(Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-nodes",
                "-days",
                "3650",
                "-subj",
                "/CN=Sigil Test Root/O=Sigil Tests",
            ])
            .args(key_type.newkey())
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(p("root.key"))
            .arg("-out")
            .arg(p("root.pem")));
        run(Command::new("openssl")
            .args([
                "req",
                "-nodes",
                "-subj",
                "/CN=Sigil Test Code Signing/O=Sigil Tests",
            ])
            .args(key_type.newkey())
            .arg("-keyout")
            .arg(p("signer.key"))
            .arg("-out")
            .arg(p("signer.csr")));
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "3650", "-set_serial", "4242"])
            .arg("-in")
            .arg(p("signer.csr"))
            .arg("-CA")
            .arg(p("root.pem"))
            .arg("-CAkey")
            .arg(p("root.key"))
            .arg("-extfile")
            .arg(p("signer.ext"))
            .arg("-out")
            .arg(p("signer.pem")));
        let pki = Self {
            key_type,
            root: p("root.pem"),
            cert: p("signer.pem"),
            key: p("signer.key"),
            truststore: p("truststore.p12"),
            dir,
        };
        pki.trust(&pki.root.clone(), "root");
        pki
    }

    /// Issues a code-signing certificate from the root for the PEM private key
    /// `key` (made elsewhere, e.g. by `sigil-keys`); returns the certificate path.
    pub(crate) fn issue_for_key(&self, key: &Path, name: &str) -> PathBuf {
        let csr = self.dir.join(format!("{name}.csr"));
        let cert = self.dir.join(format!("{name}.pem"));
        run(Command::new("openssl")
            .args(["req", "-new", "-subj"])
            .arg(format!("/CN={name}/O=Sigil Tests"))
            .arg("-key")
            .arg(key)
            .arg("-out")
            .arg(&csr));
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "3650", "-set_serial", "4243"])
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(&self.root)
            .arg("-CAkey")
            .arg(self.dir.join("root.key"))
            .arg("-extfile")
            .arg(self.dir.join("signer.ext"))
            .arg("-out")
            .arg(&cert));
        cert
    }

    /// Adds a certificate to the truststore.
    pub(crate) fn trust(&self, cert: &Path, alias: &str) {
        run(Command::new("keytool")
            .args([
                "-importcert",
                "-noprompt",
                "-storetype",
                "PKCS12",
                "-alias",
                alias,
            ])
            .arg("-file")
            .arg(cert)
            .arg("-keystore")
            .arg(&self.truststore)
            .args(["-storepass", STOREPASS]));
    }

    /// A detached PKCS#7 signature over `sf`, made by `openssl cms -sign`.
    pub(crate) fn openssl_block(&self, sf: &[u8], md: HashAlgorithm) -> Vec<u8> {
        let sf_path = self.dir.join("NAME.SF");
        let block_path = self.dir.join("block.der");
        std::fs::write(&sf_path, sf).unwrap();
        let md = match md {
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sha384 => "sha384",
            _ => "sha512",
        };
        run(Command::new("openssl")
            .args(["cms", "-sign", "-binary", "-outform", "DER", "-md", md])
            .arg("-in")
            .arg(&sf_path)
            .arg("-signer")
            .arg(&self.cert)
            .arg("-inkey")
            .arg(&self.key)
            // The chain travels in the block, as the server sends it.
            .arg("-certfile")
            .arg(&self.root)
            .arg("-out")
            .arg(&block_path));
        std::fs::read(block_path).unwrap()
    }

    /// Signs `jar` into `out` with sigil-jar, the block coming from openssl.
    pub(crate) fn sign(&self, jar: &Path, out: &Path, signer: &str, md: HashAlgorithm) {
        let options = SignOptions::new(SignerName::new(signer).unwrap(), md);
        let prepared = sigil_jar::prepare(jar, &options).unwrap();
        let block = self.openssl_block(prepared.signature_file(), md);
        prepared
            .write_signed(jar, &block, self.key_type.block_kind(), out)
            .unwrap();
    }
}

/// Compiles a small program and packs it with `jar` (Main-Class set).
pub(crate) fn build_app_jar(dir: &Path) -> PathBuf {
    let src = dir.join("src/hello");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("Main.java"),
        "package hello;\npublic class Main {\n  public static void main(String[] a) {\n    \
         System.out.println(\"hello from a Sigil-signed jar \" + Util.answer());\n  }\n}\n",
    )
    .unwrap();
    std::fs::write(
        src.join("Util.java"),
        "package hello;\nclass Util { static int answer() { return 42; } }\n",
    )
    .unwrap();
    let classes = dir.join("classes");
    run(Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .arg(src.join("Main.java"))
        .arg(src.join("Util.java")));
    std::fs::create_dir_all(classes.join("res")).unwrap();
    std::fs::write(classes.join("res/data.txt"), "some resource\n").unwrap();
    let jar = dir.join("app.jar");
    run(Command::new("jar")
        .args(["--create", "--main-class", "hello.Main"])
        .arg("--file")
        .arg(&jar)
        .arg("-C")
        .arg(&classes)
        .arg("."));
    jar
}

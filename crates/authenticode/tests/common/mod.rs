//! Shared helpers of the integration tests: build PE files with mingw-w64, make
//! a throw-away PKI with openssl, sign with independent tools (openssl cms,
//! osslsigncode) and verify with osslsigncode (the tool wrappers shared with other crates
//! are in `sigil-testkit`).
//!
//! A missing tool fails the test with the package to install; nothing is skipped.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::SignedData;
use der::asn1::{Any, OctetString};
use der::{Decode, DecodePem, Encode, Tag};
use sigil_authenticode::{AuthenticodeContent, Subject, sign_subject_digest};
use sigil_keys::{HashAlgorithm, KeyAlgorithm, RsaPadding, SigningKey, SoftwareKey};
use sigil_pki::cms::CmsSigner;
use x509_cert::Certificate;

// The shared tool wrappers, re-exported so a test file imports its helpers from one place
// (not every test binary uses each one).
#[allow(unused_imports)]
pub use sigil_testkit::{
    OsslVerify, entries, osslsigncode_verify, require, run, unsigned_catalog, wixl_msi,
};

/// The fixtures directory.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pe")
}

/// Which PE file to compile.
#[derive(Clone, Copy, Debug)]
pub enum Build {
    /// PE32+ console program (x86-64).
    Exe64,
    /// PE32 console program (i686).
    Exe32,
    /// PE32+ DLL (x86-64).
    Dll64,
}

/// Every kind of PE the tests sign, in `dir`: a PE32+ and a PE32 program and a PE32+ DLL
/// built with mingw-w64, and a copy of a PE with trailing data whose length is not a multiple
/// of 8 (embedding must pad; the checksum's last word is odd).
pub fn every_kind_of_pe(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = [Build::Exe64, Build::Exe32, Build::Dll64]
        .into_iter()
        .map(|b| build_pe(dir, b))
        .collect();
    let trailing = dir.join("trailing.exe");
    fs::copy(testdata().join("tiny64-trailing.exe"), &trailing).unwrap();
    files.push(trailing);
    files
}

/// Compiles a small C program with mingw-w64 into `dir` and returns its path.
pub fn build_pe(dir: &Path, build: Build) -> PathBuf {
    let (compiler, package, name, extra): (&str, &str, &str, &[&str]) = match build {
        Build::Exe64 => (
            "x86_64-w64-mingw32-gcc",
            "gcc-mingw-w64-x86-64",
            "prog64.exe",
            &[],
        ),
        Build::Exe32 => (
            "i686-w64-mingw32-gcc",
            "gcc-mingw-w64-i686",
            "prog32.exe",
            &[],
        ),
        Build::Dll64 => (
            "x86_64-w64-mingw32-gcc",
            "gcc-mingw-w64-x86-64",
            "lib64.dll",
            &["-shared"],
        ),
    };
    require(compiler, package);
    let source = dir.join(format!("{name}.c"));
    let code = match build {
        Build::Dll64 => {
            "__declspec(dllexport) int sigil_answer(void) { return 42; }\n\
             __declspec(dllexport) const char *sigil_name(void) { return \"Sigil test DLL\"; }\n"
        }
        Build::Exe64 | Build::Exe32 => {
            "#include <stdio.h>\n\
             static const char banner[] = \"Sigil Authenticode test program\";\n\
             int main(int argc, char **argv) { (void)argv; puts(banner); return argc - 1; }\n"
        }
    };
    fs::write(&source, code).unwrap();
    let output = dir.join(name);
    run(Command::new(compiler)
        .args(["-O2", "-o"])
        .arg(&output)
        .arg(&source)
        .args(extra));
    output
}

/// A throw-away PKI: an openssl-made root CA and a code-signing certificate for a Sigil key.
pub struct TestPki {
    /// Root CA certificate (PEM), the trust anchor for `osslsigncode verify -CAfile`.
    pub root_pem: PathBuf,
    /// Code-signing certificate (PEM).
    pub leaf_pem: PathBuf,
    /// Code-signing private key (PEM, PKCS#8).
    pub leaf_key: PathBuf,
    /// The same key, for Sigil.
    pub key: SoftwareKey,
    /// The code-signing certificate, parsed.
    pub certificate: Certificate,
    /// The root certificate, parsed.
    pub root: Certificate,
}

impl TestPki {
    /// Creates the PKI in `dir`. `name` goes into the certificates' common names.
    pub fn new(dir: &Path, name: &str) -> Self {
        require("openssl", "openssl");
        let key = SoftwareKey::generate(KeyAlgorithm::Rsa2048).unwrap();
        let key_der = dir.join(format!("{name}.key.der"));
        fs::write(&key_der, key.to_pkcs8_der().as_slice()).unwrap();
        let leaf_key = dir.join(format!("{name}.key"));
        run(Command::new("openssl")
            .args(["pkey", "-inform", "DER", "-in"])
            .arg(&key_der)
            .arg("-out")
            .arg(&leaf_key));

        let root_key = dir.join(format!("{name}-root.key"));
        let root_pem = dir.join(format!("{name}-root.pem"));
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
            ])
            .args(["-subj", &format!("/CN=Sigil Test Root {name}")])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(&root_key)
            .arg("-out")
            .arg(&root_pem));

        let csr = dir.join(format!("{name}.csr"));
        run(Command::new("openssl")
            .args([
                "req",
                "-new",
                "-subj",
                &format!("/CN=Sigil Test Signer {name}"),
            ])
            .arg("-key")
            .arg(&leaf_key)
            .arg("-out")
            .arg(&csr));
        let ext = dir.join(format!("{name}.ext"));
        fs::write(
            &ext,
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        )
        .unwrap();
        let leaf_pem = dir.join(format!("{name}.pem"));
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "30", "-CAcreateserial"])
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(&root_pem)
            .arg("-CAkey")
            .arg(&root_key)
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(&leaf_pem));

        let certificate = Certificate::from_pem(fs::read(&leaf_pem).unwrap()).unwrap();
        let root = Certificate::from_pem(fs::read(&root_pem).unwrap()).unwrap();
        assert_eq!(
            certificate
                .tbs_certificate()
                .subject_public_key_info()
                .to_der()
                .unwrap(),
            key.public_key_der()
        );
        TestPki {
            root_pem,
            leaf_pem,
            leaf_key,
            key,
            certificate,
            root,
        }
    }

    /// A Sigil CMS signer with this PKI's key.
    /// Signs `digest` of a file of kind `subject` as the server does (no program name or URL).
    pub fn sign(&self, subject: Subject, hash: HashAlgorithm, digest: &[u8]) -> Vec<u8> {
        sign_subject_digest(&self.signer(hash), subject, digest, None, None).unwrap()
    }

    pub fn signer(&self, hash: HashAlgorithm) -> CmsSigner<'_> {
        CmsSigner {
            key: &self.key,
            certificate: &self.certificate,
            chain: std::slice::from_ref(&self.root),
            hash,
            padding: RsaPadding::Pkcs1v15,
        }
    }
}

/// openssl's name for a hash.
pub fn openssl_md(hash: HashAlgorithm) -> &'static str {
    match hash {
        HashAlgorithm::Sha256 => "sha256",
        HashAlgorithm::Sha384 => "sha384",
        HashAlgorithm::Sha512 => "sha512",
    }
}

/// Signs `content` with `openssl cms` (an independent CMS implementation) and
/// turns the result into Authenticode form.
///
/// openssl is given the content octets (the SEQUENCE without tag and length)
/// so its `messageDigest` covers exactly what Authenticode specifies. It writes
/// them as an OCTET STRING eContent and SignedData version 3; Authenticode
/// wants the SEQUENCE itself and version 1. Neither field is covered by the
/// signature, so they are rewritten afterwards (same value octets, new tag).
pub fn openssl_sign(
    dir: &Path,
    pki: &TestPki,
    content: &AuthenticodeContent,
    hash: HashAlgorithm,
) -> Vec<u8> {
    let message = dir.join("openssl-content.bin");
    let signature = dir.join("openssl-signature.der");
    fs::write(&message, content.message_digest_input()).unwrap();
    run(Command::new("openssl")
        .args([
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-nosmimecap",
            "-outform",
            "DER",
        ])
        .args([
            "-econtent_type",
            "1.3.6.1.4.1.311.2.1.4",
            "-md",
            openssl_md(hash),
        ])
        .arg("-signer")
        .arg(&pki.leaf_pem)
        .arg("-inkey")
        .arg(&pki.leaf_key)
        .arg("-certfile")
        .arg(&pki.root_pem)
        .arg("-in")
        .arg(&message)
        .arg("-out")
        .arg(&signature));
    let der = fs::read(&signature).unwrap();

    let mut content_info = ContentInfo::from_der(&der).unwrap();
    let mut signed_data: SignedData = content_info.content.decode_as().unwrap();
    let octets: OctetString = signed_data
        .encap_content_info
        .econtent
        .as_ref()
        .unwrap()
        .decode_as()
        .unwrap();
    assert_eq!(octets.as_bytes(), content.message_digest_input());
    signed_data.version = CmsVersion::V1;
    signed_data.encap_content_info.econtent =
        Some(Any::new(Tag::Sequence, octets.as_bytes()).unwrap());
    content_info.content = Any::encode_from(&signed_data).unwrap();
    content_info.to_der().unwrap()
}

/// Signs `input` into `output` with osslsigncode (optionally nesting into an existing signature).
pub fn osslsigncode_sign(pki: &TestPki, input: &Path, output: &Path, hash: &str, nest: bool) {
    require("osslsigncode", "osslsigncode");
    let mut cmd = Command::new("osslsigncode");
    cmd.arg("sign")
        .arg("-certs")
        .arg(&pki.leaf_pem)
        .arg("-key")
        .arg(&pki.leaf_key)
        .args(["-h", hash]);
    if nest {
        cmd.arg("-nest");
    }
    run(cmd.arg("-in").arg(input).arg("-out").arg(output));
}

/// The `SpcIndirectDataContent` DER osslsigncode would sign for `input` (`extract-data`).
pub fn osslsigncode_content(dir: &Path, input: &Path, hash: &str) -> Vec<u8> {
    require("osslsigncode", "osslsigncode");
    let out = dir.join(format!("extract-data-{hash}.der"));
    let _ = fs::remove_file(&out);
    run(Command::new("osslsigncode")
        .args(["extract-data", "-h", hash, "-in"])
        .arg(input)
        .arg("-out")
        .arg(&out));
    let der = fs::read(&out).unwrap();
    let content_info = ContentInfo::from_der(&der).unwrap();
    let signed_data: SignedData = content_info.content.decode_as().unwrap();
    signed_data
        .encap_content_info
        .econtent
        .unwrap()
        .to_der()
        .unwrap()
}

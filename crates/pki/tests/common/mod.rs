//! Fixtures of this crate's integration tests: a test PKI and its files; the openssl command line
//! is `sigil-testkit`'s.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use sigil_keys::{KeyAlgorithm, SigningKey, SoftwareKey};
use sigil_pki::ca::{CaCertificate, IssueRequest, NewCa, issue};
use sigil_pki::x509_cert::Certificate;
use sigil_pki::{DistinguishedName, Profile, San, ValidityPeriod, pem};

// Not every test file runs openssl.
#[allow(unused_imports)]
pub(crate) use sigil_testkit::openssl::openssl;

pub(crate) fn dn(s: &str) -> DistinguishedName {
    DistinguishedName::parse(s).unwrap()
}

/// A root CA and an intermediate below it.
pub(crate) struct TestPki {
    pub(crate) root_key: SoftwareKey,
    pub(crate) root: CaCertificate,
    pub(crate) inter_key: SoftwareKey,
    pub(crate) inter: CaCertificate,
}

pub(crate) fn test_pki(algorithm: KeyAlgorithm) -> TestPki {
    let root_key = SoftwareKey::generate(algorithm).unwrap();
    let root = CaCertificate::self_signed(
        &NewCa {
            name: "root",
            key_ref: "root-key",
            subject: &dn("CN=Sigil Test Root,O=Sigil Tests,C=DE"),
            validity: ValidityPeriod::days_from_now(3650).unwrap(),
            path_len: Some(1),
        },
        &root_key,
    )
    .unwrap();
    let inter_key = SoftwareKey::generate(algorithm).unwrap();
    let inter = CaCertificate::intermediate(
        &NewCa {
            name: "issuing",
            key_ref: "issuing-key",
            subject: &dn("CN=Sigil Test Issuing CA,O=Sigil Tests,C=DE"),
            validity: ValidityPeriod::days_from_now(1825).unwrap(),
            path_len: Some(0),
        },
        inter_key.public_key_der(),
        &root,
        &root_key,
    )
    .unwrap();
    TestPki {
        root_key,
        root,
        inter_key,
        inter,
    }
}

/// Issues a certificate of `profile` for a fresh key of `algorithm`.
pub(crate) fn leaf(
    ca: &CaCertificate,
    ca_key: &dyn SigningKey,
    profile: Profile,
    algorithm: KeyAlgorithm,
    cn: &str,
    sans: &[&str],
) -> (SoftwareKey, Certificate) {
    let key = SoftwareKey::generate(algorithm).unwrap();
    let sans: Vec<San> = sans.iter().map(|s| San::parse(s).unwrap()).collect();
    let certificate = issue(
        ca,
        ca_key,
        IssueRequest::PublicKey {
            subject: &dn(&format!("CN={cn},O=Sigil Tests")),
            public_key_der: key.public_key_der(),
        },
        profile,
        ValidityPeriod::days_from_now(90).unwrap(),
        &sans,
    )
    .unwrap();
    (key, certificate)
}

/// Writes `contents` to `dir/name` and returns the path as a string (for command lines).
pub(crate) fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_owned()
}

pub(crate) fn write_cert(dir: &Path, name: &str, certificate: &Certificate) -> String {
    write(dir, name, pem::encode_certificate(certificate).unwrap())
}

pub(crate) fn write_certs(dir: &Path, name: &str, certificates: &[Certificate]) -> String {
    write(dir, name, pem::encode_chain(certificates).unwrap())
}

pub(crate) fn write_key(dir: &Path, name: &str, key: &SoftwareKey) -> String {
    write(
        dir,
        name,
        pem::encode(pem::PRIVATE_KEY_LABEL, &key.to_pkcs8_der()).unwrap(),
    )
}

//! CMS `SignedData` build + sign (a detached JAR-style signature over a client digest) against
//! the raw `sign_digest` of the same key, for EC P-256 and RSA-2048 (PKCS#1 v1.5). The ratio
//! `cms / raw` is the CMS overhead on the server's signing path: signed attributes, DER
//! assembly, the certificate copy, and the check of the signature against the certificate
//! that `cms::sign` always does.
//!
//! `cargo bench -p sigil-pki --bench cms_sign`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use const_oid::db::rfc5911;
use criterion::{Criterion, criterion_group, criterion_main};
use der::Decode;
use sigil_keys::{HashAlgorithm, KeyAlgorithm, RsaPadding, SigningKey, SoftwareKey};
use sigil_pki::cms::{self, CmsSigner, SignedContent, SignedDataOptions, VerifyContent};
use sigil_pki::signer::{KeySigner, RawSignature};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder, profile::cabf::Root};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

fn self_signed(key: &dyn SigningKey) -> Certificate {
    let profile = Root::new(
        false,
        Name::from_str("CN=Bench Signer,O=Sigil Bench,C=US").unwrap(),
    )
    .unwrap();
    CertificateBuilder::new(
        profile,
        SerialNumber::from(7u32),
        Validity::from_now(Duration::from_secs(3600)).unwrap(),
        SubjectPublicKeyInfoOwned::from_der(key.public_key_der()).unwrap(),
    )
    .unwrap()
    .build::<_, RawSignature>(&KeySigner::with_default_hash(key))
    .unwrap()
}

fn cms_vs_raw(c: &mut Criterion) {
    let hash = HashAlgorithm::Sha256;
    let signature_file = b"Signature-Version: 1.0\r\nCreated-By: Sigil bench\r\n\r\n";
    let digest = hash.digest(signature_file);
    let mut group = c.benchmark_group("cms_sign");
    for (name, algorithm) in [
        ("ec-p256", KeyAlgorithm::EcdsaP256),
        ("rsa-2048", KeyAlgorithm::Rsa2048),
    ] {
        let key = SoftwareKey::generate(algorithm).unwrap();
        let certificate = self_signed(&key);
        let signer = CmsSigner {
            key: &key,
            certificate: &certificate,
            chain: &[],
            hash,
            padding: RsaPadding::Pkcs1v15,
        };
        let options = SignedDataOptions {
            signing_time: Some(SystemTime::now()),
            ..Default::default()
        };
        let content = SignedContent::Detached {
            content_type: rfc5911::ID_DATA,
            digest: &digest,
        };
        // The output must verify, or the benchmark measures something else than signing.
        let der = cms::sign(&signer, content, &options).unwrap();
        cms::verify(&der, VerifyContent::Detached(signature_file)).unwrap();

        group.bench_function(format!("{name}/raw_sign_digest"), |b| {
            b.iter(|| {
                black_box(
                    key.sign_digest(hash, RsaPadding::Pkcs1v15, black_box(&digest))
                        .unwrap(),
                )
            })
        });
        group.bench_function(format!("{name}/cms_signed_data"), |b| {
            b.iter(|| black_box(cms::sign(&signer, black_box(content), &options).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, cms_vs_raw);
criterion_main!(benches);

//! OpenPGP through the real server (`RAGA`'s `OF`, `RAGK`, `RAUP`/`RAGP`) with RSA and ECDSA
//! policy keys, the client's part done here with `sigil-openpgp`, and GnuPG as the judge; then
//! the refusals: no permission for `RAGK`, a policy without `openpgp`, a signature time far
//! from the server's clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use sigil_testkit::{gpg, output_text as all};

use sigil_domain::{
    Change, HashAlgorithm as DomainHash, Interface, Permission, Role, RoleClass, RoleDraft,
    RoleName, RoleType, RsaScheme, SigningFormat,
};
use sigil_openpgp::{ArmorKind, SignatureTemplate, armor, parse_signature};
use sigil_proto::{ErrorCode, HashAlgorithm, OpenPgpUpload, Request, Response};
use sigil_testkit::hostapi::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openpgp_signatures_from_the_server_verify_with_gpg() {
    let world = world().await;
    let state = world.state();
    let dir = world.dir.path();
    let rsa = code_signing(&state, "PGP RSA signer", sigil_keys::KeyAlgorithm::Rsa3072).await;
    let p384 = code_signing(
        &state,
        "PGP P-384 signer",
        sigil_keys::KeyAlgorithm::EcdsaP384,
    )
    .await;
    use DomainHash::{Sha256, Sha384, Sha512};
    let exporter = Role::new(RoleDraft {
        name: RoleName::new("pgp-builder").unwrap(),
        role_type: RoleType::Application,
        class: RoleClass::Principal,
        logins_required: 1,
        permissions: [Permission::SigningRequest, Permission::SigningOpenPgpKey]
            .into_iter()
            .collect(),
        interfaces: [Interface::HostApi].into_iter().collect(),
    })
    .unwrap();
    commit(
        &state,
        vec![
            Change::CreateRole(exporter),
            Change::CreateIdentity(Box::new(identity("pgp", &["pgp-builder"]))),
            // PSS as the policy's scheme: OpenPGP signs with PKCS#1 v1.5 all the same.
            policy(
                "pgp-rsa",
                &rsa,
                RsaScheme::Pss,
                0,
                &[Sha256, Sha512],
                &[SigningFormat::OpenPgp],
                &["pgp-builder", "application"],
            ),
            policy(
                "pgp-p384",
                &p384,
                RsaScheme::Pkcs1v15,
                0,
                &[Sha256, Sha384],
                &[SigningFormat::OpenPgp, SigningFormat::Hash],
                &["pgp-builder"],
            ),
        ],
    )
    .await;

    // RAGK needs signing:openpgp-key (jenkins has signing:request only).
    let mut jenkins = world.logged_in("jenkins").await;
    let refused = jenkins
        .call(Request::GetOpenPgpKey {
            policy: "pgp-rsa".into(),
        })
        .await;
    assert_code(&refused, ErrorCode::NotPermitted);

    let mut c = world.logged_in("pgp").await;
    let home = dir.join("gnupg");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let data = dir.join("release.tar");
    std::fs::write(&data, b"release contents\n".repeat(3000)).unwrap();
    let bytes = std::fs::read(&data).unwrap();

    for (alias, hash) in [
        ("pgp-rsa", HashAlgorithm::Sha256),
        ("pgp-rsa", HashAlgorithm::Sha512),
        ("pgp-p384", HashAlgorithm::Sha384),
    ] {
        let Response::GetPolicy(info) = c
            .call(Request::GetPolicy {
                policy: alias.into(),
            })
            .await
        else {
            panic!("RAGA {alias}");
        };
        let fingerprint: [u8; 20] = info
            .openpgp_fingerprint
            .clone()
            .unwrap()
            .try_into()
            .unwrap();
        let Response::GetOpenPgpKey(key) = c
            .call(Request::GetOpenPgpKey {
                policy: alias.into(),
            })
            .await
        else {
            panic!("RAGK {alias}");
        };
        assert_eq!(key.fingerprint, fingerprint);
        let key_file = dir.join(format!("{alias}.asc"));
        std::fs::write(&key_file, armor(ArmorKind::PublicKey, &key.key)).unwrap();
        let imported = gpg(&home, &["--import", key_file.to_str().unwrap()]);
        assert!(imported.status.success(), "{}", all(&imported));

        // The client's part: the hashed part with the fingerprint from RAGA, after the file.
        let spki = public_key_der(&info.certificate_chain);
        let algorithm = sigil_keys::inspect_public_key(&spki).unwrap().algorithm;
        let now = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap();
        let template = SignatureTemplate {
            kind: sigil_openpgp::SignatureType::Binary,
            algorithm,
            hash,
            created: u32::try_from(now.unix_timestamp()).unwrap(),
            issuer: fingerprint,
        };
        let mut message = bytes.clone();
        message.extend_from_slice(&template.trailer_bytes());
        let digest = hash.digest(&message);
        let uploaded = c
            .call(Request::UploadOpenPgp(OpenPgpUpload {
                upload: upload(alias, hash, &digest),
                created: now,
            }))
            .await;
        let id = status(&uploaded).id.clone();
        let retrieved = c.call(Request::RetrieveOpenPgp { id }).await;
        let packet = signature(&retrieved);
        let parsed = parse_signature(&packet).unwrap();
        assert_eq!(parsed.hashed_part, template.hashed_part());
        parsed.verify_digest(&spki, &digest).unwrap();

        let sig = dir.join(format!("release-{alias}-{}.sig", hash.as_str()));
        std::fs::write(&sig, &packet).unwrap();
        let verified = gpg(
            &home,
            &["--verify", sig.to_str().unwrap(), data.to_str().unwrap()],
        );
        assert!(verified.status.success(), "{alias}: {}", all(&verified));
        assert!(
            all(&verified).contains(&format!("VALIDSIG {}", hex::encode_upper(fingerprint))),
            "{}",
            all(&verified)
        );
        let other = dir.join("other.tar");
        let mut changed = bytes.clone();
        changed[10] ^= 1;
        std::fs::write(&other, changed).unwrap();
        let refused = gpg(
            &home,
            &["--verify", sig.to_str().unwrap(), other.to_str().unwrap()],
        );
        assert!(!refused.status.success(), "{}", all(&refused));
    }

    // A P-384 key over SHA-256: the request fails with the reason.
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let answer = c
        .call(Request::UploadOpenPgp(OpenPgpUpload {
            upload: upload("pgp-p384", HashAlgorithm::Sha256, &[7; 32]),
            created: now,
        }))
        .await;
    let (code, message) = failure(&answer);
    assert_eq!(code, ErrorCode::SigningFailed, "{message}");
    assert!(message.contains("sha384"), "{message}");

    // A signature time an hour ahead of the server's clock is refused.
    let answer = c
        .call(Request::UploadOpenPgp(OpenPgpUpload {
            upload: upload("pgp-rsa", HashAlgorithm::Sha256, &[7; 32]),
            created: now + time::Duration::hours(1),
        }))
        .await;
    assert_code(&answer, ErrorCode::BadValue);

    // A policy without openpgp: no OF in RAGA, RAGK and RAUP refused.
    let mut jenkins = world.logged_in("jenkins").await;
    let Response::GetPolicy(info) = jenkins
        .call(Request::GetPolicy {
            policy: "ec".into(),
        })
        .await
    else {
        panic!("RAGA ec");
    };
    assert_eq!(info.openpgp_fingerprint, None);
    let answer = jenkins
        .call(Request::UploadOpenPgp(OpenPgpUpload {
            upload: upload("ec", HashAlgorithm::Sha256, &[7; 32]),
            created: now,
        }))
        .await;
    assert_code(&answer, ErrorCode::FormatNotAllowed);
    let answer = c
        .call(Request::GetOpenPgpKey {
            policy: "pgp-unknown".into(),
        })
        .await;
    assert_code(&answer, ErrorCode::PolicyNotFound);

    // The exports are in the audit log.
    let events = state.store.read_audit(1, 10_000).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "policy.openpgp_key")
            .count(),
        3
    );
}

/// The DER SubjectPublicKeyInfo of the first certificate of a concatenated DER chain.
fn public_key_der(chain: &[u8]) -> Vec<u8> {
    use sigil_pki::x509_cert::Certificate;
    use sigil_pki::x509_cert::der::{Decode, Encode};
    let (certificate, _) = Certificate::from_der_partial(chain).unwrap();
    certificate
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap()
}

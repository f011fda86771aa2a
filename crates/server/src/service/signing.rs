//! Producing a signature for an approved request: the policy's key and certificate chain,
//! then raw hash signing, Authenticode, JAR or an OpenPGP packet, on the blocking pool (a raw
//! P-256/Ed25519 signature inline: it costs about what the hand-off does).
//!
//! Nothing is signed under a revoked, expired or not-yet-valid certificate. Raw signatures
//! are verified against the certificate's public key before they are kept (the CMS builder
//! does the same for Authenticode and JAR), so a key that does not match its certificate never
//! yields a bad signature silently: every RSA, Ed25519 and HSM signature, and the first ECDSA
//! signature of a software key under each cached chain (see [`Job::raw_signature`] for why).

use std::sync::Arc;
use std::time::SystemTime;

use sigil_domain::{HashAlgorithm, IssuancePolicy, RsaScheme, SigningFormat, SigningRequest};
use sigil_keys::{KeyAlgorithm, RsaPadding, SigningKey};
use sigil_pki::cms::CmsSigner;
use sigil_pki::x509_cert::Certificate;
use sigil_pki::x509_cert::der::{Decode, Encode};

use super::ServiceError;
use super::cache::CachedChain;
use super::stamping::Signed;
use crate::AppState;
use crate::service::pki::Pki;

/// Why a signature could not be made. The message is safe to show to the requester (no key
/// material); details beyond it go to the log.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SigningError(pub String);

/// The key algorithm of a policy's key, as `RAGA` reports it (e.g. `rsa-3072`).
pub async fn key_algorithm(
    state: &AppState,
    policy: &IssuancePolicy,
) -> Result<KeyAlgorithm, ServiceError> {
    let sealed = state
        .store
        .get_sealed_key(policy.draft().key_id)
        .await?
        .ok_or_else(|| {
            ServiceError::internal(format!(
                "the key of policy {} is missing from the store",
                policy.alias()
            ))
        })?;
    // Custody writes the name of a `KeyAlgorithm`: anything else is a damaged store.
    sealed.algorithm.parse().map_err(|_| {
        ServiceError::internal(format!(
            "the key of policy {} has an unknown algorithm {:?} in the store",
            policy.alias(),
            sealed.algorithm
        ))
    })
}

/// The policy's certificate chain, signer first, up to its root, each link's signature
/// checked (exactly what [`Pki::chain_of_record`] checks). Built once per certificate and kept in
/// the cache (see [`super::cache`]).
pub async fn certificate_chain(
    state: &AppState,
    policy: &IssuancePolicy,
) -> Result<Arc<CachedChain>, ServiceError> {
    let serial = &policy.draft().certificate;
    if let Some(chain) = state.cache.chain(serial) {
        return Ok(chain);
    }
    // One build at a time: the requests that missed together use the first one's chain.
    let _turn = state.cache.chain_build_turn().await;
    if let Some(chain) = state.cache.chain(serial) {
        return Ok(chain);
    }
    let generation = state.cache.generation();
    let record = state.store.get_certificate(serial).await?.ok_or_else(|| {
        ServiceError::internal(format!(
            "the certificate {serial} of policy {} is missing from the store",
            policy.alias()
        ))
    })?;
    let pki = Pki::new(state, "system");
    let der = pki.chain_of_record(&record).await?;
    let signer = der
        .first()
        .ok_or_else(|| ServiceError::internal("the certificate chain is empty".to_owned()))?;
    let signer_spki = Certificate::from_der(signer)
        .and_then(|c| c.tbs_certificate().subject_public_key_info().to_der())
        .map_err(|e| {
            ServiceError::internal(format!(
                "reading the public key of certificate {serial}: {e}"
            ))
        })?;
    let signer_key = sigil_keys::VerifyingKey::from_spki(&signer_spki).map_err(|e| {
        ServiceError::internal(format!(
            "reading the public key of certificate {serial}: {e}"
        ))
    })?;
    let issuer_revocation = revoked_issuer(state, &der).await?;
    let chain = Arc::new(CachedChain {
        issuer_revocation,
        der,
        signer_spki,
        signer_key,
        not_before: record.not_before,
        not_after: record.not_after,
        revocation: record.revocation,
        checked_key: std::sync::Mutex::new(None),
    });
    state.cache.put_chain(serial, generation, chain.clone());
    Ok(chain)
}

/// The first certificate above the signer in `chain` that Sigil recorded as issued and that is
/// revoked (an intermediate CA revoked by its parent). A root or an external CA certificate
/// has no record here, and is not checked.
async fn revoked_issuer(
    state: &AppState,
    chain: &[Vec<u8>],
) -> Result<Option<(sigil_domain::SerialNumber, String, sigil_domain::Revocation)>, ServiceError> {
    for der in chain.iter().skip(1) {
        let certificate = Certificate::from_der(der).map_err(|e| {
            ServiceError::internal(format!("reading a CA certificate of the chain: {e}"))
        })?;
        let Ok(serial) = sigil_domain::SerialNumber::from_bytes(
            certificate.tbs_certificate().serial_number().as_bytes(),
        ) else {
            continue;
        };
        if let Some(record) = state.store.get_certificate(&serial).await?
            && record.der == *der
            && let Some(revocation) = record.revocation
        {
            return Ok(Some((serial, record.subject, revocation)));
        }
    }
    Ok(None)
}

/// Signs `request` (which must be approved) under its policy's current key and certificate.
/// The CPU work runs on the blocking pool, but for a raw P-256/Ed25519 signature (about as
/// cheap as the hand-off).
pub async fn sign(state: &AppState, request: &SigningRequest) -> Result<Signed, SigningError> {
    let policy = state
        .cache
        .cached_policy(request.policy())
        .await
        .map_err(|e| internal("reading the policy", &e))?
        .ok_or_else(|| {
            SigningError(format!(
                "policy {} no longer exists: submit the request under another policy",
                request.policy()
            ))
        })?;
    sign_under(state, &policy, request).await
}

/// [`sign`] with the request's policy already read (`policy` must be the one it names); the
/// signature is time-stamped when the policy requires it.
pub async fn sign_under(
    state: &AppState,
    policy: &IssuancePolicy,
    request: &SigningRequest,
) -> Result<Signed, SigningError> {
    let result = signature(state, policy, request).await?;
    super::stamping::apply(state, policy, request, result).await
}

/// The signature itself.
async fn signature(
    state: &AppState,
    policy: &IssuancePolicy,
    request: &SigningRequest,
) -> Result<Vec<u8>, SigningError> {
    let key = state
        .vault
        .key(state.store.as_ref(), policy.draft().key_id)
        .await
        .map_err(|e| internal("opening the policy's key", &e))?;
    let chain = certificate_chain(state, policy)
        .await
        .map_err(|e| internal("reading the certificate chain", &e))?;
    usable(&chain, &policy.draft().certificate, state.now())?;
    let openpgp = match request.format() {
        SigningFormat::OpenPgp => Some(openpgp_job(state, policy, request).await?),
        _ => None,
    };
    let job = Job {
        openpgp,
        key,
        chain,
        format: request.format(),
        hash: request.hash(),
        padding: match policy.draft().rsa_scheme {
            RsaScheme::Pkcs1v15 => RsaPadding::Pkcs1v15,
            RsaScheme::Pss => RsaPadding::Pss,
        },
        digest: request.digest().to_vec(),
        program_name: request.metadata().program_name.clone(),
        program_url: request.metadata().program_url.clone(),
        subject: authenticode_subject(request.metadata().subject),
    };
    if job.is_quick() {
        // Tens of microseconds: a hand-off to the blocking pool and back costs about as much.
        return job.run();
    }
    // Waits here, not on a thread of its own, for one of the few slots, and gives it back as
    // soon as the signature is made (not once this task runs again) for the next to start.
    let slot = state
        .signing_slots
        .for_key(job.key.as_ref())
        .acquire_owned()
        .await
        .map_err(|e| internal("waiting for a signing slot", &e))?;
    tokio::task::spawn_blocking(move || {
        let signed = job.run();
        drop(slot);
        signed
    })
    .await
    .map_err(|e| internal("the signing task", &e))?
}

/// What an OpenPGP signature needs beyond the digest: the key as OpenPGP writes it and the
/// template the client hashed (rebuilt here from the request's creation time and the key).
async fn openpgp_job(
    state: &AppState,
    policy: &IssuancePolicy,
    request: &SigningRequest,
) -> Result<OpenPgpJob, SigningError> {
    let created = request.metadata().openpgp_created.ok_or_else(|| {
        SigningError("the OpenPGP request has no signature time: upload it again with RAUP".into())
    })?;
    let public = super::openpgp::public_key(state, policy)
        .await
        .map_err(|e| internal("reading the policy's OpenPGP key", &e))?;
    let hash = request.hash();
    sigil_openpgp::check_hash(public.algorithm(), hash).map_err(|e| SigningError(e.to_string()))?;
    Ok(OpenPgpJob {
        template: sigil_openpgp::SignatureTemplate::binary(&public, hash, created),
        public,
    })
}

/// The OpenPGP part of a [`Job`].
struct OpenPgpJob {
    template: sigil_openpgp::SignatureTemplate,
    public: sigil_openpgp::PublicKey,
}

/// Refuses to sign with a certificate that is revoked (or whose issuing intermediate CA is),
/// expired or not valid yet: a security
/// officer who revokes a code-signing certificate (say, after a key compromise) must stop
/// every signature under it at once, and nothing should be signed that verifiers reject.
pub(crate) fn usable(
    chain: &CachedChain,
    serial: &sigil_domain::SerialNumber,
    now: time::OffsetDateTime,
) -> Result<(), SigningError> {
    let fix = "an administrator must attach the policy to a valid certificate";
    if let Some(revocation) = &chain.revocation {
        return Err(SigningError(format!(
            "the policy's certificate {serial} was revoked ({}, {}): {fix}",
            revocation.reason.as_str(),
            rfc3339(revocation.at)
        )));
    }
    if let Some((ca_serial, subject, revocation)) = &chain.issuer_revocation {
        return Err(SigningError(format!(
            "the certificate of the intermediate CA {subject} (serial {ca_serial}) that issued \
             the policy's certificate {serial} was revoked ({}, {}): {fix} under a CA that is \
             not revoked",
            revocation.reason.as_str(),
            rfc3339(revocation.at)
        )));
    }
    if now > chain.not_after {
        return Err(SigningError(format!(
            "the policy's certificate {serial} expired on {}: {fix}",
            rfc3339(chain.not_after)
        )));
    }
    if now < chain.not_before {
        return Err(SigningError(format!(
            "the policy's certificate {serial} is not valid before {}: {fix}",
            rfc3339(chain.not_before)
        )));
    }
    Ok(())
}

/// The Authenticode subject a request names (absent: a PE image).
fn authenticode_subject(
    subject: Option<sigil_domain::AuthenticodeSubject>,
) -> sigil_authenticode::Subject {
    use sigil_authenticode::Subject;
    use sigil_domain::AuthenticodeSubject as Named;
    match subject.unwrap_or(Named::Pe) {
        Named::Pe => Subject::Pe,
        Named::Msi => Subject::Msi,
        Named::Cab => Subject::Cab,
        Named::Script => Subject::Script,
        Named::Catalog => Subject::Catalog,
    }
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// The blocking part of a signature.
struct Job {
    /// For an OpenPGP request: the signature's template.
    openpgp: Option<OpenPgpJob>,
    key: Arc<dyn SigningKey>,
    chain: Arc<CachedChain>,
    format: SigningFormat,
    hash: HashAlgorithm,
    padding: RsaPadding,
    digest: Vec<u8>,
    program_name: Option<String>,
    program_url: Option<String>,
    subject: sigil_authenticode::Subject,
}

impl Job {
    /// Whether the job is cheap enough to run on the async worker: a raw P-256 or Ed25519
    /// signature (P-256 ~20 us on the reference machine, its first check under a chain ~45
    /// us). RSA, P-384 and the CMS formats go to the blocking pool.
    fn is_quick(&self) -> bool {
        self.format == SigningFormat::Hash
            && !self.key.is_remote()
            && matches!(
                self.key.algorithm(),
                KeyAlgorithm::EcdsaP256 | KeyAlgorithm::Ed25519
            )
    }

    fn run(self) -> Result<Vec<u8>, SigningError> {
        match self.format {
            SigningFormat::Hash => self.raw_signature(),
            SigningFormat::Authenticode => {
                let (certificate, rest) = self.certificates()?;
                let signer = self.signer(&certificate, &rest);
                sigil_authenticode::sign_subject_digest(
                    &signer,
                    self.subject,
                    &self.digest,
                    self.program_name.as_deref(),
                    self.program_url.as_deref(),
                )
                .map_err(|e| {
                    SigningError(format!("building the Authenticode signature failed: {e}"))
                })
            }
            SigningFormat::OpenPgp => self.openpgp_signature(),
            SigningFormat::Jar => {
                let (certificate, rest) = self.certificates()?;
                let signer = self.signer(&certificate, &rest);
                sigil_jar::sign_signature_file_digest(&signer, &self.digest, SystemTime::now())
                    .map(|block| block.der)
                    .map_err(|e| {
                        SigningError(format!("building the JAR signature block failed: {e}"))
                    })
            }
        }
    }

    /// A raw signature of the digest, checked against the signer certificate's public key
    /// (parsed once and kept with the cached chain: no key parsing per request).
    ///
    /// Every signature of an HSM key (another device, whose objects can be replaced behind
    /// the server's back, and whose round trip dwarfs the check) and of a key whose faults
    /// leak it unless someone checks ([`SigningKey::signatures_need_checking`]: Ed25519) is
    /// checked. Other software keys are checked with their first signature under each cached
    /// chain (the chain is re-read at least every 2 s): what a check finds there is a key that
    /// does not match its certificate, which the first signature shows. That covers ECDSA,
    /// whose faults do not show in a check (checking every P-256 signature cost three times
    /// the signature, about a third of the server's CPU per request), and RSA, whose every
    /// result aws-lc already checks against the key before returning it.
    fn raw_signature(&self) -> Result<Vec<u8>, SigningError> {
        let once = self.checked_once_per_chain();
        let check = !(once && self.checked_before());
        let signature = self
            .key
            .sign_digest(self.hash, self.padding, &self.digest)
            .map_err(|e| SigningError(format!("signing failed: {e}")))?;
        if check {
            self.chain
                .signer_key
                .verify_digest(self.hash, self.padding, &self.digest, &signature)
                .map_err(|e| {
                    tracing::error!(error = %e, "a signature did not verify against the policy's certificate");
                    SigningError(
                        "the signature did not verify against the policy's certificate: the key and certificate do not match; tell an administrator".to_owned(),
                    )
                })?;
            if once && let Ok(mut checked) = self.chain.checked_key.lock() {
                *checked = Some(Arc::downgrade(&self.key));
            }
        }
        Ok(signature)
    }

    /// Whether the key's signatures under one chain are checked once only (see
    /// [`Job::raw_signature`]).
    fn checked_once_per_chain(&self) -> bool {
        !self.key.is_remote() && !self.key.signatures_need_checking()
    }

    /// Whether a signature of this very key was checked under this chain already.
    fn checked_before(&self) -> bool {
        self.chain.checked_key.lock().is_ok_and(|checked| {
            // The weak handle keeps the allocation, so its address is never another key's.
            checked
                .as_ref()
                .is_some_and(|k| std::ptr::addr_eq(k.as_ptr(), Arc::as_ptr(&self.key)))
        })
    }

    /// An OpenPGP signature packet over the digest (which covers the file and the template's
    /// hashed part), checked against the key before it is kept.
    fn openpgp_signature(&self) -> Result<Vec<u8>, SigningError> {
        let job = self
            .openpgp
            .as_ref()
            .ok_or_else(|| SigningError("the OpenPGP request lost its template".into()))?;
        job.template
            .sign(self.key.as_ref(), &job.public, &self.digest)
            .map_err(|e| match e {
                sigil_openpgp::OpenPgpError::Mismatch(_) => {
                    tracing::error!(error = %e, "an OpenPGP signature did not verify against the policy's certificate");
                    SigningError("the signature did not verify against the policy's certificate: the key and certificate do not match; tell an administrator".to_owned())
                }
                other => SigningError(format!("building the OpenPGP signature failed: {other}")),
            })
    }

    /// The chain parsed: the signer certificate and the rest.
    fn certificates(&self) -> Result<(Certificate, Vec<Certificate>), SigningError> {
        let mut certificates = self
            .chain
            .der
            .iter()
            .map(|der| Certificate::from_der(der))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| internal("reading the certificate chain", &e))?;
        if certificates.is_empty() {
            return Err(SigningError(
                "the policy's certificate chain is empty".to_owned(),
            ));
        }
        let certificate = certificates.remove(0);
        Ok((certificate, certificates))
    }

    fn signer<'a>(
        &'a self,
        certificate: &'a Certificate,
        chain: &'a [Certificate],
    ) -> CmsSigner<'a> {
        CmsSigner {
            key: self.key.as_ref(),
            certificate,
            chain,
            hash: self.hash,
            padding: self.padding,
        }
    }
}

fn internal(what: &str, error: &dyn std::fmt::Display) -> SigningError {
    tracing::error!(error = %error, "{what} failed while signing");
    SigningError(format!(
        "{what} failed on the server: tell an administrator (the server log has the details)"
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use sigil_keys::SoftwareKey;

    use super::*;

    fn key(algorithm: KeyAlgorithm) -> Arc<dyn SigningKey> {
        match SoftwareKey::generate(algorithm) {
            Ok(key) => Arc::new(key),
            Err(e) => panic!("generating a {algorithm:?} key: {e}"),
        }
    }

    /// A chain whose signer certificate holds `certified`'s public key (only what a raw
    /// signature reads is filled in).
    fn chain_for(certified: &dyn SigningKey) -> Arc<CachedChain> {
        let spki = certified.public_key_der().to_vec();
        let signer_key = match sigil_keys::VerifyingKey::from_spki(&spki) {
            Ok(key) => key,
            Err(e) => panic!("parsing the test key: {e}"),
        };
        let now = time::OffsetDateTime::now_utc();
        Arc::new(CachedChain {
            der: Vec::new(),
            signer_spki: spki,
            signer_key,
            not_before: now,
            not_after: now,
            revocation: None,
            issuer_revocation: None,
            checked_key: Mutex::new(None),
        })
    }

    fn sign(key: &Arc<dyn SigningKey>, chain: &Arc<CachedChain>) -> Result<Vec<u8>, SigningError> {
        Job {
            openpgp: None,
            key: key.clone(),
            chain: chain.clone(),
            format: SigningFormat::Hash,
            hash: HashAlgorithm::Sha256,
            padding: RsaPadding::Pkcs1v15,
            digest: vec![7; 32],
            program_name: None,
            program_url: None,
            subject: sigil_authenticode::Subject::Pe,
        }
        .run()
    }

    /// ECDSA and RSA software keys: a key that does not match the certificate is refused on
    /// every attempt; the matching key is checked once, then trusted under this chain; a
    /// different key under the same chain is checked again (and refused).
    #[test]
    fn a_software_key_that_does_not_match_its_certificate_never_signs() {
        for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa2048] {
            let certified = key(algorithm);
            let chain = chain_for(certified.as_ref());
            let other = key(algorithm);
            for _ in 0..2 {
                let refused = sign(&other, &chain).expect_err("a mismatched key must be refused");
                assert!(refused.0.contains("do not match"), "{}", refused.0);
            }
            assert!(chain.checked_key.lock().is_ok_and(|k| k.is_none()));
            assert!(sign(&certified, &chain).is_ok());
            assert!(chain.checked_key.lock().is_ok_and(|k| k.is_some()));
            assert!(sign(&certified, &chain).is_ok());
            assert!(sign(&other, &chain).is_err(), "{algorithm:?}");
            assert!(sign(&certified, &chain).is_ok());
        }
    }
}

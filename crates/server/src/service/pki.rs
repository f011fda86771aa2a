//! The PKI engine behind the PKI use cases: CA containers, certificates, revocation, CRLs,
//! PKCS#12 export, listener chains.
//!
//! The use cases are in [`super::cas`], [`super::certificates`], [`super::keys`] and
//! [`super::listeners`]: each checks its permission and calls the engine here.
//!
//! The work is done by [`Pki`], which needs only a store and a key vault, so that `init`
//! and `quickstart` use the same code before any server runs.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sigil_domain::{
    AuditDraft, CaName, CaRecord, CertProfile, CertificateIssuer, CertificateRecord, Change,
    Interface, KeyId, ListenerChain, Outcome, Revocation, RevocationReason, SOFTWARE_BACKEND,
    SealedKey, SerialNumber, Store, StoreError,
};
use sigil_keys::{KeyAlgorithm, SigningKey};
use sigil_pki::ca::{CaCertificate, IssueRequest, NewCa, build_chain, issue};
use sigil_pki::pkcs12::Pkcs12Error;
use sigil_pki::x509_cert::Certificate;
use sigil_pki::x509_cert::der::{Decode, Encode};
use sigil_pki::{
    CrlContent, Csr, DistinguishedName, PkiError, Profile, San, ValidityPeriod, build_crl,
    build_csr, pem,
};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::ServiceError;
use crate::error::ServerError;
use crate::state::AppState;
use crate::tls::{ClientAuth, ListenerIdentity};
use sigil_custody::{Keystore, KeystoreError};

/// How long a CRL Sigil builds stays current (its `nextUpdate`).
pub const CRL_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// Key algorithm of listener keys Sigil generates.
pub const LISTENER_KEY_ALGORITHM: KeyAlgorithm = KeyAlgorithm::EcdsaP256;
/// Validity of listener certificates issued by `init` (the CA/Browser Forum maximum).
pub const LISTENER_VALIDITY_DAYS: u32 = 397;
/// ALPN protocols the HTTPS listener offers.
pub const HTTPS_ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];
/// Name recorded as the actor of what the server does on its own (CRLs for the listeners).
pub const SYSTEM_ACTOR: &str = "system";

/// Reads a key algorithm name: `rsa-2048`, `rsa-3072`, `rsa-4096`, `ec-p256` (or
/// `ecdsa-p256`), `ec-p384` (or `ecdsa-p384`), `ed25519`.
pub fn parse_key_algorithm(text: &str) -> Result<KeyAlgorithm, ServiceError> {
    let lower = text.trim().to_ascii_lowercase();
    let canonical = match lower.as_str() {
        "ec-p256" | "p256" | "p-256" => "ecdsa-p256",
        "ec-p384" | "p384" | "p-384" => "ecdsa-p384",
        other => other,
    };
    canonical.parse().map_err(|_| {
        ServiceError::Invalid(format!(
            "unknown key algorithm {text:?}: use rsa-2048, rsa-3072, rsa-4096, ec-p256, ec-p384 or ed25519"
        ))
    })
}

/// The JSON/CLI name of a key algorithm (`ec-p256` rather than `ecdsa-p256`).
pub fn key_algorithm_name(algorithm: KeyAlgorithm) -> &'static str {
    match algorithm {
        KeyAlgorithm::EcdsaP256 => "ec-p256",
        KeyAlgorithm::EcdsaP384 => "ec-p384",
        other => other.as_str(),
    }
}

/// A new CA container.
#[derive(Debug, Clone)]
pub struct NewCaArgs {
    /// Container name.
    pub name: CaName,
    /// Key algorithm of the CA key Sigil generates and seals.
    pub key_algorithm: KeyAlgorithm,
    /// Subject DN, e.g. `CN=Jenkins Code Signing CA,O=Example`.
    pub subject: String,
    /// Validity in days.
    pub validity_days: u32,
    /// Issuing CA for an intermediate; `None` for a self-signed root.
    pub parent: Option<CaName>,
    /// `pathLenConstraint` (`None`: no limit).
    pub path_len: Option<u8>,
    /// The backend that generates and holds the CA key: `software` (sealed under the
    /// master key) or an HSM's configured name.
    pub key_backend: String,
}

/// Where the subject key of a new certificate comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A CSR (PEM or DER); its self-signature is verified first.
    Csr(Vec<u8>),
    /// Sigil generates the key and keeps it sealed.
    Generate(KeyAlgorithm),
}

/// A certificate to issue.
#[derive(Debug, Clone)]
pub struct IssueArgs {
    /// Issuing CA container.
    pub issuer: CaName,
    /// Certificate profile.
    pub profile: CertProfile,
    /// Subject DN. Required for a generated key; for a CSR, overrides the CSR's subject.
    pub subject: Option<String>,
    /// Subject alternative names (`DNS:name`, `IP:addr` or bare). For a CSR, empty means
    /// "what the CSR asks for".
    pub sans: Vec<String>,
    /// Validity in days.
    pub validity_days: u32,
    /// Where the key comes from.
    pub key: KeySource,
    /// For a key Sigil generates: the backend that holds it (`software` or an HSM's name).
    pub key_backend: String,
}

/// A certificate with its chain.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// The stored record.
    pub record: CertificateRecord,
    /// DER certificates, leaf first, up to the root.
    pub chain: Vec<Vec<u8>>,
}

impl IssuedCertificate {
    /// The leaf as PEM.
    pub fn pem(&self) -> Result<String, ServiceError> {
        pem::encode("CERTIFICATE", &self.record.der).map_err(pki_error)
    }

    /// The chain as PEM, leaf first.
    pub fn chain_pem(&self) -> Result<String, ServiceError> {
        chain_pem(&self.chain)
    }
}

/// A signed CRL.
#[derive(Debug, Clone)]
pub struct Crl {
    /// The CA.
    pub ca: CaName,
    /// Its `cRLNumber`.
    pub number: u64,
    /// DER.
    pub der: Vec<u8>,
    /// PEM (`X509 CRL`).
    pub pem: String,
}

/// A CSR for a new listener key.
#[derive(Debug, Clone)]
pub struct ListenerCsr {
    /// The sealed key to name when loading the chain.
    pub key_id: KeyId,
    /// The CSR as PEM.
    pub csr_pem: String,
}

/// Rebuilds both listeners' TLS configurations from the store (listener chains, client CAs,
/// CRLs) and swaps them in. Connections already open keep theirs.
pub async fn refresh_tls(state: &AppState) -> Result<(), ServiceError> {
    let (host_api, https) = listener_tls_configs(
        state.store.as_ref(),
        &state.vault,
        state.config.node_id.as_deref(),
    )
    .await?;
    state.host_api_tls.replace(host_api);
    state.https_tls.replace(https);
    Ok(())
}

/// The TLS configurations of the Host API listener (client certificate required) and the
/// HTTPS listener (client certificate optional), from what the store holds: each listener's
/// chain and sealed key (node `node`'s own when it has one, else the deployment's), every CA
/// container as a client CA, and a fresh CRL for every CA that has revoked something.
pub async fn listener_tls_configs(
    store: &dyn Store,
    vault: &Keystore,
    node: Option<&str>,
) -> Result<(Arc<rustls::ServerConfig>, Arc<rustls::ServerConfig>), ServerError> {
    let pki = Pki {
        store,
        vault,
        actor: SYSTEM_ACTOR.into(),
        now: now(),
    };
    let cas = store.list_cas().await?;
    let ca_ders: Vec<Vec<u8>> = cas.iter().map(|ca| ca.certificate_der.clone()).collect();
    let mut crls = Vec::new();
    for ca in &cas {
        let revoked = store.list_certificates(Some(&ca.name)).await?;
        if revoked.iter().any(|c| c.revocation.is_some()) {
            let crl = pki.build_crl(ca).await.map_err(|e| {
                ServerError::State(format!("cannot build the CRL of CA {}: {e}", ca.name))
            })?;
            crls.push(crl.der);
        }
    }
    let host_api = listener_identity(store, vault, node, Interface::HostApi).await?;
    let https = listener_identity(store, vault, node, Interface::Https).await?;
    let host_api = crate::tls::server_config(
        &host_api,
        ClientAuth::Required {
            cas: &ca_ders,
            crls: &crls,
        },
        &[],
    )?;
    let https = crate::tls::server_config(
        &https,
        ClientAuth::Optional {
            cas: &ca_ders,
            crls: &crls,
        },
        HTTPS_ALPN,
    )?;
    Ok((host_api, https))
}

async fn listener_identity(
    store: &dyn Store,
    vault: &Keystore,
    node: Option<&str>,
    interface: Interface,
) -> Result<ListenerIdentity, ServerError> {
    let own = match node {
        Some(node) => store.get_node_listener_chain(node, interface).await?,
        None => None,
    };
    let chain = match own {
        Some(chain) => Some(chain),
        None => store.get_listener_chain(interface).await?,
    };
    let chain = chain.ok_or_else(|| {
        ServerError::State(format!(
            "the {interface} listener has no certificate: this data directory was not initialised \
             completely; initialise a new one with `sigil init`"
        ))
    })?;
    let key = vault.exportable_key(store, chain.key_id).await?;
    Ok(ListenerIdentity {
        chain: chain.certificates,
        key_pkcs8: key.to_pkcs8_der(),
    })
}

/// The current time in whole seconds.
fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// Who acts on the PKI, and from where: every PKI audit event carries the identity, and the
/// source address and interface when the action came over a connection.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// The identity (or [`SYSTEM_ACTOR`]).
    pub name: &'a str,
    /// The peer address.
    pub source: Option<&'a str>,
    /// The interface the action came in on.
    pub interface: Option<sigil_domain::Interface>,
}

impl<'a> From<&'a str> for Actor<'a> {
    /// An actor without a connection (the server itself, `sigil init`, tests).
    fn from(name: &'a str) -> Self {
        Self {
            name,
            source: None,
            interface: None,
        }
    }
}

impl<'a> From<&super::authorize::Caller<'a>> for Actor<'a> {
    fn from(caller: &super::authorize::Caller<'a>) -> Self {
        Self {
            name: super::authorize::actor(caller.session),
            source: caller.source,
            interface: Some(caller.session.interface()),
        }
    }
}

impl Actor<'_> {
    /// `draft` with the actor's identity, source and interface.
    pub fn draft(&self, draft: AuditDraft) -> AuditDraft {
        let mut draft = draft.identity(self.name);
        if let Some(source) = self.source {
            draft = draft.source(source);
        }
        if let Some(interface) = self.interface {
            draft = draft.interface(interface);
        }
        draft
    }
}

/// PKI operations over a store and a key vault, on behalf of `actor`.
pub struct Pki<'a> {
    /// Where records go.
    pub store: &'a dyn Store,
    /// Seals new keys, opens CA keys.
    pub vault: &'a Keystore,
    /// Who acts, from where (for the audit log).
    pub actor: Actor<'a>,
    /// The time of the operation (whole seconds).
    pub now: OffsetDateTime,
}

impl<'a> Pki<'a> {
    /// Operations on the server's store and vault.
    pub fn new(state: &'a AppState, actor: impl Into<Actor<'a>>) -> Self {
        Self {
            store: state.store.as_ref(),
            vault: &state.vault,
            actor: actor.into(),
            now: state.now(),
        }
    }

    pub(crate) fn audit(&self, action: &str, object: &str) -> AuditDraft {
        self.actor
            .draft(AuditDraft::new(self.now, action, Outcome::Success))
            .object(object)
    }

    /// A stored CA record.
    pub async fn ca_record(&self, name: &CaName) -> Result<CaRecord, ServiceError> {
        self.store
            .get_ca(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("CA {name}")))
    }

    /// A stored certificate.
    pub async fn certificate(
        &self,
        serial: &SerialNumber,
    ) -> Result<CertificateRecord, ServiceError> {
        self.store
            .get_certificate(serial)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("certificate {serial}")))
    }

    /// A CA container with its opened key.
    async fn ca_with_key(
        &self,
        record: &CaRecord,
    ) -> Result<(CaCertificate, Arc<dyn SigningKey>), ServiceError> {
        let ca = CaCertificate::load(
            record.name.as_str(),
            &record.key_id.to_string(),
            record.parent.as_ref().map(CaName::as_str),
            &record.certificate_der,
        )
        .map_err(|e| internal(format!("stored CA {} is unreadable: {e}", record.name)))?;
        let key = self.vault.key(self.store, record.key_id).await?;
        Ok((ca, key))
    }

    /// Every CA certificate, for chain building.
    async fn ca_certificates(&self) -> Result<Vec<Certificate>, ServiceError> {
        self.store
            .list_cas()
            .await?
            .iter()
            .map(|ca| {
                Certificate::from_der(&ca.certificate_der)
                    .map_err(|e| internal(format!("stored CA {} is unreadable: {e}", ca.name)))
            })
            .collect()
    }

    /// The chain of a certificate (DER, leaf first, up to its root).
    pub async fn chain_of(&self, der: &[u8]) -> Result<Vec<Vec<u8>>, ServiceError> {
        let leaf = Certificate::from_der(der)
            .map_err(|e| internal(format!("stored certificate is unreadable: {e}")))?;
        let chain = build_chain(&leaf, &self.ca_certificates().await?).map_err(pki_error)?;
        chain
            .iter()
            .map(|c| c.to_der().map_err(|e| pki_error(e.into())))
            .collect()
    }

    /// The chain of a stored certificate (DER, leaf first): up to its root through Sigil's CA
    /// containers, or the chain imported with it for an external CA, its links checked again.
    pub async fn chain_of_record(
        &self,
        record: &CertificateRecord,
    ) -> Result<Vec<Vec<u8>>, ServiceError> {
        let CertificateIssuer::External(external) = &record.issuer else {
            return self.chain_of(&record.der).await;
        };
        let mut chain = vec![record.der.clone()];
        chain.extend(external.chain.iter().cloned());
        let certificates = chain
            .iter()
            .map(|der| Certificate::from_der(der))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                internal(format!(
                    "stored chain of certificate {} is unreadable: {e}",
                    record.serial
                ))
            })?;
        sigil_pki::external::verify_links(&certificates).map_err(|e| {
            internal(format!(
                "stored chain of certificate {} no longer links: {e}",
                record.serial
            ))
        })?;
        Ok(chain)
    }

    /// Creates a CA container: a new sealed key and a self-signed or parent-signed
    /// certificate, stored together in one commit.
    pub async fn create_ca(&self, args: &NewCaArgs) -> Result<CaRecord, ServiceError> {
        if self.store.get_ca(&args.name).await?.is_some() {
            return Err(ServiceError::Conflict(format!(
                "CA {} already exists: choose another name",
                args.name
            )));
        }
        let subject = DistinguishedName::parse(&args.subject).map_err(pki_error)?;
        let validity = ValidityPeriod::days_from_now(args.validity_days).map_err(pki_error)?;
        let parent = match &args.parent {
            Some(name) => Some(self.ca_record(name).await?),
            None => None,
        };
        let (key, sealed) = self.vault.generate(
            &args.key_backend,
            args.key_algorithm,
            CertProfile::Ca,
            self.now,
        )?;
        let key_ref = sealed.id.to_string();
        let new = NewCa {
            name: args.name.as_str(),
            key_ref: &key_ref,
            subject: &subject,
            validity,
            path_len: args.path_len,
        };
        let mut changes = vec![Change::AddSealedKey(Box::new(sealed.clone()))];
        let ca = match &parent {
            None => CaCertificate::self_signed(&new, key.as_ref()).map_err(pki_error)?,
            Some(parent_record) => {
                let (parent_ca, parent_key) = self.ca_with_key(parent_record).await?;
                let ca = CaCertificate::intermediate(
                    &new,
                    key.public_key_der(),
                    &parent_ca,
                    parent_key.as_ref(),
                )
                .map_err(pki_error)?;
                // The parent issued it: recorded so that it can be listed and revoked.
                changes.push(Change::AddCertificate(Box::new(certificate_record(
                    ca.certificate(),
                    &parent_record.name,
                    CertProfile::Ca,
                    Some(sealed.id),
                )?)));
                ca
            }
        };
        let record = CaRecord {
            name: args.name.clone(),
            key_id: sealed.id,
            certificate_der: ca.certificate().to_der().map_err(|e| pki_error(e.into()))?,
            parent: args.parent.clone(),
            next_serial: 1,
            next_crl_number: 1,
        };
        // The CA row comes after its certificate row's key but before anything refers to it.
        changes.insert(1, Change::CreateCa(Box::new(record.clone())));
        let audit = self
            .audit("ca.create", args.name.as_str())
            .detail("subject", &args.subject)
            .detail("key_algorithm", key_algorithm_name(args.key_algorithm))
            .detail("key_backend", &args.key_backend)
            .detail(
                "parent",
                args.parent.as_ref().map_or("(root)", CaName::as_str),
            );
        self.store.commit(changes, audit).await?;
        Ok(record)
    }

    /// Issues a certificate from a verified CSR or for a key Sigil generates and seals.
    pub async fn issue(&self, args: &IssueArgs) -> Result<IssuedCertificate, ServiceError> {
        let profile = pki_profile(args.profile);
        if profile == Profile::Ca {
            return Err(ServiceError::Invalid(
                "a CA certificate is made by creating a CA container (POST /cas with a parent), not issued".into(),
            ));
        }
        let issuer = self.ca_record(&args.issuer).await?;
        let (ca, ca_key) = self.ca_with_key(&issuer).await?;
        let validity = ValidityPeriod::days_from_now(args.validity_days).map_err(pki_error)?;
        let mut sans = args
            .sans
            .iter()
            .map(|s| San::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(pki_error)?;
        let subject = args
            .subject
            .as_deref()
            .map(DistinguishedName::parse)
            .transpose()
            .map_err(pki_error)?;

        let (public_key_der, subject, sealed) = match &args.key {
            KeySource::Csr(bytes) => {
                let verified = Csr::parse(bytes)
                    .and_then(|csr| csr.verify())
                    .map_err(pki_error)?;
                verified.check_profile(profile).map_err(pki_error)?;
                if sans.is_empty() {
                    sans = verified.sans().to_vec();
                }
                let subject = subject.unwrap_or_else(|| verified.subject().clone());
                (verified.public_key_der().to_vec(), subject, None)
            }
            KeySource::Generate(algorithm) => {
                let subject = subject.ok_or_else(|| {
                    ServiceError::Invalid(
                        "a subject is needed when Sigil generates the key, e.g. CN=release-signing"
                            .into(),
                    )
                })?;
                profile.check_key(*algorithm).map_err(pki_error)?;
                let (key, sealed) =
                    self.vault
                        .generate(&args.key_backend, *algorithm, args.profile, self.now)?;
                (key.public_key_der().to_vec(), subject, Some(sealed))
            }
        };
        let request = IssueRequest::PublicKey {
            subject: &subject,
            public_key_der: &public_key_der,
        };
        // Serials are 126 random bits; a clash is drawn again rather than reported.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let certificate = issue(&ca, ca_key.as_ref(), request, profile, validity, &sans)
                .map_err(pki_error)?;
            let record = certificate_record(
                &certificate,
                &issuer.name,
                args.profile,
                sealed.as_ref().map(|s| s.id),
            )?;
            let mut changes = Vec::new();
            if let Some(sealed) = &sealed {
                changes.push(Change::AddSealedKey(Box::new(sealed.clone())));
            }
            changes.push(Change::AddCertificate(Box::new(record.clone())));
            let audit = self
                .audit("certificate.issue", record.serial.as_str())
                .detail("issuer", issuer.name.as_str())
                .detail("profile", args.profile.as_str())
                .detail("subject", &record.subject)
                .detail(
                    "key",
                    if sealed.is_some() {
                        "generated by Sigil"
                    } else {
                        "from CSR"
                    },
                );
            let audit = match &sealed {
                Some(sealed) => audit.detail("key_backend", sealed.location.backend()),
                None => audit,
            };
            match self.store.commit(changes, audit).await {
                Ok(_) => {
                    let chain = self.chain_of(&record.der).await?;
                    return Ok(IssuedCertificate { record, chain });
                }
                Err(StoreError::Conflict { .. }) if attempts < 3 => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Marks a certificate revoked.
    pub async fn revoke(
        &self,
        serial: &SerialNumber,
        reason: RevocationReason,
    ) -> Result<CertificateRecord, ServiceError> {
        let mut record = self.certificate(serial).await?;
        if let Some(revocation) = record.revocation {
            return Err(ServiceError::Conflict(format!(
                "certificate {serial} was already revoked at {} ({})",
                rfc3339(revocation.at),
                revocation.reason
            )));
        }
        let revocation = Revocation {
            at: self.now,
            reason,
        };
        let audit = self
            .audit("certificate.revoke", serial.as_str())
            .detail("issuer", &record.issuer.to_string())
            .detail("reason", reason.as_str());
        self.store
            .commit(
                vec![Change::RevokeCertificate {
                    serial: serial.clone(),
                    revocation,
                }],
                audit,
            )
            .await?;
        record.revocation = Some(revocation);
        Ok(record)
    }

    /// Builds and signs the next CRL of a CA (its number is stored before it is returned).
    pub async fn build_crl(&self, record: &CaRecord) -> Result<Crl, ServiceError> {
        let (ca, key) = self.ca_with_key(record).await?;
        let mut revoked = Vec::new();
        for certificate in self.store.list_certificates(Some(&record.name)).await? {
            if let Some(revocation) = certificate.revocation {
                revoked.push(sigil_pki::Revocation {
                    serial: x509_serial(&certificate.serial)?,
                    revoked_at: SystemTime::from(revocation.at),
                    reason: pki_reason(revocation.reason),
                });
            }
        }
        let number = record.next_crl_number.max(1);
        let this_update = SystemTime::from(self.now);
        let crl = build_crl(
            &ca,
            key.as_ref(),
            &CrlContent {
                number,
                this_update,
                next_update: this_update + CRL_LIFETIME,
                revoked: &revoked,
            },
        )
        .map_err(pki_error)?;
        let der = crl.to_der().map_err(|e| pki_error(e.into()))?;
        let pem = pem::encode(pem::CRL_LABEL, &der).map_err(pki_error)?;
        let audit = self
            .audit("ca.crl", record.name.as_str())
            .detail("number", &number.to_string())
            .detail("revoked", &revoked.len().to_string());
        self.store
            .commit(
                vec![Change::UpdateCaCounters {
                    name: record.name.clone(),
                    next_serial: record.next_serial,
                    next_crl_number: number + 1,
                }],
                audit,
            )
            .await?;
        Ok(Crl {
            ca: record.name.clone(),
            number,
            der,
            pem,
        })
    }

    /// Exports a Sigil-held key with its certificate and chain as PKCS#12.
    pub async fn export_pkcs12(
        &self,
        serial: &SerialNumber,
        password: &str,
    ) -> Result<Zeroizing<Vec<u8>>, ServiceError> {
        let result = self.export_pkcs12_unaudited(serial, password).await;
        if let Err(error) = &result {
            // An attempt to take a private key out is what auditors look for first: a refused
            // one is recorded as well as a successful one.
            let event = self
                .actor
                .draft(AuditDraft::new(
                    self.now,
                    "certificate.export-key",
                    Outcome::Failure,
                ))
                .object(serial.as_str())
                .detail("format", "pkcs12")
                .detail("reason", &error.to_string());
            self.store.commit(vec![], event).await?;
        }
        result
    }

    /// [`Self::export_pkcs12`] without the audit event of a failure.
    async fn export_pkcs12_unaudited(
        &self,
        serial: &SerialNumber,
        password: &str,
    ) -> Result<Zeroizing<Vec<u8>>, ServiceError> {
        let record = self.certificate(serial).await?;
        let key_id = record.key_id.ok_or_else(|| {
            ServiceError::Invalid(format!(
                "Sigil does not hold the private key of certificate {serial} (it was issued from a CSR)"
            ))
        })?;
        let key_record = self
            .store
            .get_sealed_key(key_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("key {key_id}")))?;
        // An HSM key never leaves its token, whatever the export setting says.
        let key = match self.vault.open_exportable(&key_record) {
            Err(e @ KeystoreError::NotExportable { .. }) => {
                return Err(ServiceError::refused(
                    sigil_proto::ErrorCode::NotPermitted,
                    e.to_string(),
                ));
            }
            other => other?,
        };
        let settings = self.store.settings().await?;
        if !settings.allow_export_with_password {
            return Err(ServiceError::Refused {
                code: sigil_proto::ErrorCode::NotPermitted,
                message:
                    "exporting private keys is turned off for this deployment: an administrator \
                          must first enable the setting allow_export_with_password"
                        .into(),
            });
        }
        let chain = self.chain_of_record(&record).await?;
        let certificates = chain
            .iter()
            .map(|der| {
                Certificate::from_der(der)
                    .map_err(|e| internal(format!("stored certificate is unreadable: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let leaf = certificates
            .first()
            .ok_or_else(|| internal("empty certificate chain".into()))?;
        let friendly_name = friendly_name(&record);
        let file = sigil_pki::pkcs12::export(
            &key,
            leaf,
            certificates.get(1..).unwrap_or_default(),
            &friendly_name,
            password,
        )
        .map_err(pkcs12_error)?;
        self.store
            .commit(
                vec![],
                self.audit("certificate.export-key", serial.as_str())
                    .detail("format", "pkcs12"),
            )
            .await?;
        Ok(Zeroizing::new(file))
    }

    /// Generates and seals a listener key and returns a CSR for it.
    pub async fn listener_csr(
        &self,
        interface: Interface,
        subject: Option<&str>,
        sans: &[String],
    ) -> Result<ListenerCsr, ServiceError> {
        let sans = sans
            .iter()
            .map(|s| San::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(pki_error)?;
        let subject = match subject {
            Some(text) => text.to_owned(),
            None => format!(
                "CN={}",
                sans.first()
                    .map_or_else(|| "localhost".to_owned(), san_value)
            ),
        };
        let subject = DistinguishedName::parse(&subject).map_err(pki_error)?;
        let (key, sealed) = self.vault.generate(
            SOFTWARE_BACKEND,
            LISTENER_KEY_ALGORITHM,
            CertProfile::TlsServer,
            self.now,
        )?;
        let csr = build_csr(key.as_ref(), &subject, &sans).map_err(pki_error)?;
        let csr_pem = csr.to_pem().map_err(pki_error)?;
        let audit = self
            .audit("listener.csr", interface.as_str())
            .detail("key_id", &sealed.id.to_string())
            .detail("subject", &subject.to_string());
        let key_id = sealed.id;
        self.store
            .commit(vec![Change::AddSealedKey(Box::new(sealed))], audit)
            .await?;
        Ok(ListenerCsr { key_id, csr_pem })
    }

    /// Checks and stores a listener chain (DER, leaf first) for the sealed key `key_id`: node
    /// `node`'s own, or the deployment's when `node` is `None`.
    pub async fn put_listener_chain(
        &self,
        node: Option<&str>,
        interface: Interface,
        key_id: KeyId,
        chain: Vec<Vec<u8>>,
    ) -> Result<(), ServiceError> {
        if chain.is_empty() || chain.len() > sigil_domain::pki::MAX_CHAIN_LEN {
            return Err(ServiceError::Invalid(format!(
                "a listener chain holds 1 to {} certificates, leaf first",
                sigil_domain::pki::MAX_CHAIN_LEN
            )));
        }
        let sealed: SealedKey = self
            .store
            .get_sealed_key(key_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("key {key_id}")))?;
        let leaf = chain
            .first()
            .map(|der| Certificate::from_der(der))
            .transpose()
            .map_err(|e| ServiceError::Invalid(format!("the first certificate is malformed: {e}")))?
            .ok_or_else(|| ServiceError::Invalid("the chain is empty".into()))?;
        let leaf_key = leaf
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| pki_error(e.into()))?;
        if leaf_key != sealed.public_key_der {
            return Err(ServiceError::Invalid(format!(
                "the first certificate of the chain is not for key {key_id}: put the listener's \
                 certificate first, then its issuers"
            )));
        }
        // Build a configuration once, so that a chain rustls would refuse is never stored.
        let key = self.vault.open_exportable(&sealed)?;
        let identity = ListenerIdentity {
            chain: chain.clone(),
            key_pkcs8: key.to_pkcs8_der(),
        };
        crate::tls::server_config(
            &identity,
            ClientAuth::Optional {
                cas: &[],
                crls: &[],
            },
            &[],
        )
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let mut audit = self
            .audit("listener.chain", interface.as_str())
            .detail("key_id", &key_id.to_string())
            .detail("certificates", &chain.len().to_string());
        let chain = ListenerChain {
            key_id,
            certificates: chain,
        };
        let change = match node {
            Some(node) => {
                audit = audit.detail("node", node);
                Change::PutNodeListenerChain {
                    node: node.to_owned(),
                    interface,
                    chain,
                }
            }
            None => Change::PutListenerChain { interface, chain },
        };
        self.store.commit(vec![change], audit).await?;
        Ok(())
    }
}

/// The record of an issued certificate.
pub(crate) fn certificate_record(
    certificate: &Certificate,
    issuer: &CaName,
    profile: CertProfile,
    key_id: Option<KeyId>,
) -> Result<CertificateRecord, ServiceError> {
    let tbs = certificate.tbs_certificate();
    let serial = SerialNumber::from_bytes(tbs.serial_number().as_bytes())
        .map_err(|e| internal(e.to_string()))?;
    let validity = tbs.validity();
    Ok(CertificateRecord {
        serial,
        issuer: CertificateIssuer::Ca(issuer.clone()),
        profile,
        subject: DistinguishedName::from(tbs.subject().clone()).to_string(),
        der: certificate.to_der().map_err(|e| pki_error(e.into()))?,
        not_before: OffsetDateTime::from(validity.not_before.to_system_time()),
        not_after: OffsetDateTime::from(validity.not_after.to_system_time()),
        key_id,
        revocation: None,
    })
}

/// PEM of DER certificates, in order.
pub fn chain_pem(chain: &[Vec<u8>]) -> Result<String, ServiceError> {
    let mut out = String::new();
    for der in chain {
        out.push_str(&pem::encode("CERTIFICATE", der).map_err(pki_error)?);
    }
    Ok(out)
}

fn friendly_name(record: &CertificateRecord) -> String {
    // keytool's alias: the CN when there is one, else the serial.
    DistinguishedName::parse(&record.subject)
        .ok()
        .and_then(|dn| dn.common_name())
        .filter(|cn| !cn.is_empty() && cn.len() <= 64)
        .unwrap_or_else(|| record.serial.to_string())
}

fn san_value(san: &San) -> String {
    let text = san.to_string();
    text.split_once(':')
        .map_or(text.clone(), |(_, value)| value.to_owned())
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

fn x509_serial(
    serial: &SerialNumber,
) -> Result<sigil_pki::x509_cert::serial_number::SerialNumber, ServiceError> {
    let text = serial.as_str();
    let padded = if text.len() % 2 == 1 {
        format!("0{text}")
    } else {
        text.to_owned()
    };
    let bytes = hex::decode(padded).map_err(|e| internal(e.to_string()))?;
    sigil_pki::x509_cert::serial_number::SerialNumber::new(&bytes)
        .map_err(|e| internal(format!("serial {serial}: {e}")))
}

/// The `sigil-pki` profile of a stored profile.
pub fn pki_profile(profile: CertProfile) -> Profile {
    match profile {
        CertProfile::Ca => Profile::Ca,
        CertProfile::TlsServer => Profile::TlsServer,
        CertProfile::TlsClient => Profile::TlsClient,
        CertProfile::CodeSigning => Profile::CodeSigning,
        CertProfile::Timestamping => Profile::Timestamping,
    }
}

fn pki_reason(reason: RevocationReason) -> sigil_pki::RevocationReason {
    use sigil_pki::RevocationReason as R;
    match reason {
        RevocationReason::Unspecified => R::Unspecified,
        RevocationReason::KeyCompromise => R::KeyCompromise,
        RevocationReason::CaCompromise => R::CaCompromise,
        RevocationReason::AffiliationChanged => R::AffiliationChanged,
        RevocationReason::Superseded => R::Superseded,
        RevocationReason::CessationOfOperation => R::CessationOfOperation,
        RevocationReason::CertificateHold => R::CertificateHold,
        RevocationReason::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
    }
}

fn internal(message: String) -> ServiceError {
    ServiceError::internal(format!("PKI failure: {message}"))
}

/// A PKI error as the caller sees it: bad input is `Invalid`, Sigil's own failures `Internal`.
pub(crate) fn pki_error(error: PkiError) -> ServiceError {
    match error {
        PkiError::Signing(_) | PkiError::Builder(_) | PkiError::Random | PkiError::Encoding(_) => {
            internal(error.to_string())
        }
        PkiError::CaKeyMismatch(_) => internal(error.to_string()),
        other => ServiceError::Invalid(other.to_string()),
    }
}

fn pkcs12_error(error: Pkcs12Error) -> ServiceError {
    match error {
        Pkcs12Error::PasswordTooShort
        | Pkcs12Error::PasswordTooLong
        | Pkcs12Error::InvalidFriendlyName(_) => ServiceError::Invalid(error.to_string()),
        other => internal(other.to_string()),
    }
}

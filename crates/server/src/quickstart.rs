//! `sigil quickstart`: a ready demonstration on top of a deployment.
//!
//! Creates (or, on a second run, finds and reuses) everything a first signature and a first
//! approval need:
//!
//! | what | details |
//! |---|---|
//! | role `jenkins` | application, principal, logins required 1, `signing:request`, Host API only |
//! | identity `jenkins` | application, bound to its client certificate (CN must be `jenkins`), generated password in `clients/jenkins.password` (the PKCS#11 PIN) and an API key in `clients/jenkins.api-key` (what its profile logs in with) |
//! | `clients/jenkins.p12` | `tls-client` certificate CN=jenkins from the System TLS CA Root with its key and chain; the key is made here and never stored by Sigil |
//! | `clients/jenkins.toml` | client profile with `password_file` entries (works without environment variables); the jenkins entry names the API key file |
//! | identity `approver` | person, builtin role `approver` (`signing:approve` over HTTPS), member of group `release-approvers`, `clients/approver.toml` |
//! | CA `jenkins-code-signing-ca` | "Jenkins Code Signing CA", a root with an ECDSA P-384 key |
//! | code-signing certificate | `CN=Jenkins Release Signing`, RSA-3072 key sealed by Sigil |
//! | policies | `release` (0 approvals: signed at once) and `release-approved` (1 approval from `release-approvers`); hashes SHA-256/384/512; formats hash, authenticode, jar, openpgp |
//! | time-stamping | `timestamping` certificate `CN=Sigil Timestamping` from the code-signing CA (one root to trust for signatures and their time-stamps), RSA-3072 key sealed by Sigil, set as the `timestamp_certificate` setting: the TSA answers at `https://HOST:PORT/api/v1/timestamp` |
//!
//! Secrets are written to files of mode 0600 and returned in the report so that the CLI can
//! print the `export SIGIL_PASSWORD=…` (the API key) and `export SIGIL_P12_PASSWORD=…` lines.
//!
//! Why the CI profile logs in with an API key rather than the password: a person's password
//! needs argon2id (about 20 ms of server CPU per login, by design, against guessing), while an
//! API key carries 256 random bits and is checked with one SHA-256. A CI job logs in once per
//! `sigil sign`, so the key halves the fixed cost of each run, and it can be revoked on its
//! own without touching the identity.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sigil_domain::{
    ApprovalGroup, AuditDraft, CaName, CertProfile, Change, GroupName, HashAlgorithm, Identity,
    IdentityKind, IdentityName, Interface, IssuancePolicy, Outcome, PasswordParams, Permission,
    PolicyAlias, PolicyDraft, Role, RoleClass, RoleDraft, RoleName, RoleType, RsaScheme,
    SerialNumber, SigningFormat, Store, api_key_id, generate_api_key, hash_password,
};
use sigil_keys::{KeyAlgorithm, SoftwareKey};
use sigil_pki::x509_cert::Certificate;
use sigil_pki::x509_cert::der::Decode;
use sigil_pki::{DistinguishedName, build_csr};
use zeroize::Zeroizing;

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::init::{InitOptions, InitReport, SYSTEM_CA_NAME, init, is_empty_dir};
use crate::paths::{DataLayout, generate_password, write_private_file};
use crate::profile::{ClientProfile, ProfileIdentity, WriteProfile};
use crate::service::pki::{IssueArgs, KeySource, NewCaArgs, Pki};
use sigil_custody::Keystore;

/// The CI identity and its role.
pub const JENKINS: &str = "jenkins";
/// The approver identity.
pub const APPROVER: &str = "approver";
/// The builtin role the approver holds.
pub const APPROVER_ROLE: &str = "approver";
/// The approval group.
pub const APPROVAL_GROUP: &str = "release-approvers";
/// The code-signing CA container.
pub const CODE_SIGNING_CA: &str = "jenkins-code-signing-ca";
/// Its subject.
pub const CODE_SIGNING_CA_SUBJECT: &str = "CN=Jenkins Code Signing CA,O=Sigil Demo";
/// Subject of the code-signing certificate.
pub const CODE_SIGNING_SUBJECT: &str = "CN=Jenkins Release Signing,O=Sigil Demo";
/// Subject of the time-stamping certificate.
pub const TIMESTAMPING_SUBJECT: &str = "CN=Sigil Timestamping,O=Sigil Demo";
/// Validity of the time-stamping certificate: five years (jarsigner warns about a TSA
/// certificate that expires within one year), cut to the CA's own end.
pub const TIMESTAMPING_VALIDITY_DAYS: u32 = 5 * 365;
/// Policy signed at once.
pub const POLICY_RELEASE: &str = "release";
/// Policy needing one approval.
pub const POLICY_RELEASE_APPROVED: &str = "release-approved";
/// Requests of the demo policies expire after a day.
pub const REQUEST_LIFETIME_SECS: u32 = 24 * 3600;
/// The jenkins API key's file in `DATA/clients`.
pub const JENKINS_API_KEY_FILE: &str = "jenkins.api-key";
/// Its label, shown in the key's audit event.
const JENKINS_API_KEY_LABEL: &str = "quickstart: clients/jenkins.api-key";
/// Length of the generated identity passwords.
const PASSWORD_LEN: usize = 24;
/// Length of the generated PKCS#12 password.
const P12_PASSWORD_LEN: usize = sigil_pki::pkcs12::MIN_GENERATED_PASSWORD_CHARS;
/// Actor recorded in the audit log.
const ACTOR: &str = "sigil-quickstart";

/// Everything the demonstration consists of, with the demo secrets.
#[derive(Debug)]
pub struct QuickstartReport {
    /// The data directory.
    pub data_dir: PathBuf,
    /// What `init` created, when this run initialised the data directory.
    pub init: Option<InitReport>,
    /// Whether this run created anything (false: everything was there already).
    pub created_anything: bool,
    /// `DATA/sigil.toml`.
    pub config_file: PathBuf,
    /// `DATA/ca/root.pem`.
    pub root_ca: PathBuf,
    /// `DATA/admin/admin.toml`.
    pub admin_profile: PathBuf,
    /// Host API address from the configuration.
    pub host_api: SocketAddr,
    /// HTTPS address from the configuration.
    pub https: SocketAddr,
    /// `DATA/clients/jenkins.toml`.
    pub jenkins_profile: PathBuf,
    /// `DATA/clients/jenkins.p12`.
    pub jenkins_p12: PathBuf,
    /// `DATA/clients/jenkins.p12.password`.
    pub jenkins_p12_password_file: PathBuf,
    /// `DATA/clients/jenkins.password`.
    pub jenkins_password_file: PathBuf,
    /// `DATA/clients/jenkins.api-key`.
    pub jenkins_api_key_file: PathBuf,
    /// `DATA/clients/approver.toml`.
    pub approver_profile: PathBuf,
    /// `DATA/clients/approver.password`.
    pub approver_password_file: PathBuf,
    /// The jenkins identity's password (the PKCS#11 PIN, and a login for any client).
    pub jenkins_password: Zeroizing<String>,
    /// The jenkins identity's API key (`SIGIL_PASSWORD` of the CI profile).
    pub jenkins_api_key: Zeroizing<String>,
    /// The PKCS#12 password (`SIGIL_P12_PASSWORD`).
    pub jenkins_p12_password: Zeroizing<String>,
    /// The approver's password.
    pub approver_password: Zeroizing<String>,
    /// Serial of the code-signing certificate the policies use.
    pub code_signing_serial: SerialNumber,
    /// The policies (`release`, `release-approved`).
    pub policies: Vec<String>,
    /// Serial of the time-stamping certificate set as the TSA.
    pub timestamp_serial: SerialNumber,
    /// The RFC 3161 time-stamping URL (`jarsigner -tsa`, `osslsigncode -ts`, `signtool /tr`).
    pub timestamp_url: String,
}

/// Provisions the demonstration in `data_dir` (initialising it first when it is empty or
/// missing). Running it again reuses what exists and creates only what is missing.
pub async fn provision(data_dir: &Path) -> Result<QuickstartReport, ServerError> {
    provision_with(&InitOptions::new(data_dir)).await
}

/// [`provision`] with explicit init options (addresses, password cost); `options.data_dir`
/// is the data directory.
pub async fn provision_with(options: &InitOptions) -> Result<QuickstartReport, ServerError> {
    let layout = DataLayout::new(&options.data_dir);
    let init_report = if layout.config().is_file() {
        None
    } else if is_empty_dir(layout.root())? {
        Some(init(options).await?)
    } else {
        return Err(ServerError::State(format!(
            "{} is neither empty nor a Sigil data directory (no sigil.toml): choose another \
             directory for the quickstart",
            layout.root().display()
        )));
    };
    let mut config = ServerConfig::load(&layout.config())?;
    config.password_params = options.password_params;
    let (store, master) = crate::server::open_with_key_file(&config).await?;
    let vault = Keystore::new(master);
    let mut demo = Demo {
        store: store.as_ref(),
        vault: &vault,
        layout: &layout,
        params: options.password_params,
        now: now(),
        created: false,
    };
    let secrets = demo.run(&config).await?;
    let timestamp_serial = demo.timestamping().await?;
    let clients = layout.clients_dir();
    Ok(QuickstartReport {
        data_dir: layout.root().to_path_buf(),
        init: init_report,
        created_anything: demo.created,
        config_file: layout.config(),
        root_ca: layout.root_ca(),
        admin_profile: layout.admin_profile(),
        host_api: config.host_api,
        https: config.https,
        jenkins_profile: clients.join("jenkins.toml"),
        jenkins_p12: clients.join("jenkins.p12"),
        jenkins_p12_password_file: clients.join("jenkins.p12.password"),
        jenkins_password_file: clients.join("jenkins.password"),
        jenkins_api_key_file: clients.join(JENKINS_API_KEY_FILE),
        approver_profile: clients.join("approver.toml"),
        approver_password_file: clients.join("approver.password"),
        jenkins_password: secrets.jenkins_password,
        jenkins_api_key: secrets.jenkins_api_key,
        jenkins_p12_password: secrets.jenkins_p12_password,
        approver_password: secrets.approver_password,
        code_signing_serial: secrets.code_signing_serial,
        policies: vec![
            POLICY_RELEASE.to_owned(),
            POLICY_RELEASE_APPROVED.to_owned(),
        ],
        timestamp_serial,
        timestamp_url: timestamp_url(config.https),
    })
}

/// The time-stamping URL on the HTTPS listener at `https` (an unspecified address is shown
/// as `localhost`).
pub fn timestamp_url(https: SocketAddr) -> String {
    if https.ip().is_unspecified() {
        format!("https://localhost:{}/api/v1/timestamp", https.port())
    } else {
        format!("https://{https}/api/v1/timestamp")
    }
}

fn now() -> time::OffsetDateTime {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

fn name_error(e: sigil_domain::NameError) -> ServerError {
    ServerError::State(e.to_string())
}

struct Demo<'a> {
    store: &'a dyn Store,
    vault: &'a Keystore,
    layout: &'a DataLayout,
    params: PasswordParams,
    now: time::OffsetDateTime,
    created: bool,
}

/// What [`Demo::run`] hands to the report.
struct Secrets {
    jenkins_password: Zeroizing<String>,
    jenkins_api_key: Zeroizing<String>,
    jenkins_p12_password: Zeroizing<String>,
    approver_password: Zeroizing<String>,
    code_signing_serial: SerialNumber,
}

impl Demo<'_> {
    fn audit(&self, action: &str, object: &str) -> AuditDraft {
        AuditDraft::new(self.now, action, Outcome::Success)
            .identity(ACTOR)
            .object(object)
    }

    fn pki(&self) -> Pki<'_> {
        Pki {
            store: self.store,
            vault: self.vault,
            actor: ACTOR.into(),
            now: self.now,
        }
    }

    async fn run(&mut self, config: &ServerConfig) -> Result<Secrets, ServerError> {
        let clients = self.layout.clients_dir();
        crate::paths::create_private_dir(&clients)?;

        // Roles, identities, group.
        let jenkins_role = self.jenkins_role().await?;
        let jenkins_password = self
            .identity(
                JENKINS,
                IdentityKind::Application,
                &jenkins_role,
                true,
                &clients.join("jenkins.password"),
            )
            .await?;
        let approver_role = RoleName::new(APPROVER_ROLE).map_err(name_error)?;
        if self.store.get_role(&approver_role).await?.is_none() {
            return Err(ServerError::State(format!(
                "the builtin role {APPROVER_ROLE} was deleted: recreate it (signing:approve \
                 over https) or use a new data directory"
            )));
        }
        let approver_password = self
            .identity(
                APPROVER,
                IdentityKind::Person,
                &approver_role,
                false,
                &clients.join("approver.password"),
            )
            .await?;
        self.group().await?;
        let jenkins_api_key = self
            .jenkins_api_key(&clients.join(JENKINS_API_KEY_FILE))
            .await?;

        // The client certificate and profiles.
        let jenkins_p12_password = self.jenkins_p12(&clients).await?;
        self.profiles(config, &clients)?;

        // Code signing: CA, certificate, policies.
        let code_signing_serial = self.code_signing().await?;
        Ok(Secrets {
            jenkins_password,
            jenkins_api_key,
            jenkins_p12_password,
            approver_password,
            code_signing_serial,
        })
    }

    async fn jenkins_role(&mut self) -> Result<RoleName, ServerError> {
        let name = RoleName::new(JENKINS).map_err(name_error)?;
        if self.store.get_role(&name).await?.is_some() {
            return Ok(name);
        }
        let role = Role::new(RoleDraft {
            name: name.clone(),
            role_type: RoleType::Application,
            class: RoleClass::Principal,
            logins_required: 1,
            permissions: BTreeSet::from([
                Permission::SigningRequest,
                Permission::SigningOpenPgpKey,
            ]),
            interfaces: BTreeSet::from([Interface::HostApi]),
        })
        .map_err(|e| ServerError::State(e.to_string()))?;
        self.store
            .commit(
                vec![Change::CreateRole(role)],
                self.audit("role.create", JENKINS)
                    .detail("permissions", "signing:request"),
            )
            .await?;
        self.created = true;
        Ok(name)
    }

    /// The identity `name` with its password file; a missing identity is created, a missing
    /// password file gets a new password.
    async fn identity(
        &mut self,
        name: &str,
        kind: IdentityKind,
        role: &RoleName,
        bind_certificate: bool,
        password_file: &Path,
    ) -> Result<Zeroizing<String>, ServerError> {
        let identity_name = IdentityName::new(name).map_err(name_error)?;
        let existing = self.store.get_identity(&identity_name).await?;
        if existing.is_some() && password_file.is_file() {
            let text = std::fs::read_to_string(password_file)
                .map_err(|e| ServerError::io(password_file, e))?;
            return Ok(Zeroizing::new(text.trim_end().to_owned()));
        }
        let password = generate_password(PASSWORD_LEN);
        let hash = hash_password(password.as_bytes(), &self.params, &mut rand::rng())
            .map_err(|e| ServerError::State(format!("cannot hash a password: {e}")))?;
        let (change, action) = match existing {
            Some(mut identity) => {
                identity.password = Some(hash);
                (
                    Change::UpdateIdentity(Box::new(identity)),
                    "identity.password",
                )
            }
            None => {
                let mut identity = Identity::new(identity_name, kind);
                identity.roles = BTreeSet::from([role.clone()]);
                identity.password = Some(hash);
                identity.require_client_certificate = bind_certificate;
                (
                    Change::CreateIdentity(Box::new(identity)),
                    "identity.create",
                )
            }
        };
        self.store
            .commit(
                vec![change],
                self.audit(action, name).detail("roles", role.as_str()),
            )
            .await?;
        if password_file.exists() {
            std::fs::remove_file(password_file).map_err(|e| ServerError::io(password_file, e))?;
        }
        write_private_file(password_file, password.as_bytes())?;
        self.created = true;
        Ok(password)
    }

    /// The jenkins identity's API key in `file`: reused while the file holds a key that is
    /// still stored for jenkins, else a new key (the old file is replaced).
    async fn jenkins_api_key(&mut self, file: &Path) -> Result<Zeroizing<String>, ServerError> {
        let jenkins = IdentityName::new(JENKINS).map_err(name_error)?;
        if file.is_file() {
            let token = Zeroizing::new(
                std::fs::read_to_string(file)
                    .map_err(|e| ServerError::io(file, e))?
                    .trim_end()
                    .to_owned(),
            );
            if let Ok(id) = api_key_id(&token)
                && let Some(record) = self.store.get_api_key(&id).await?
                && record.identity == jenkins
                && record.matches(&token)
            {
                return Ok(token);
            }
        }
        let key = generate_api_key(jenkins, JENKINS_API_KEY_LABEL, self.now, &mut rand::rng());
        self.store
            .commit(
                vec![Change::AddApiKey(key.record.clone())],
                self.audit("identity.api-key", JENKINS)
                    .detail("key_id", key.record.id.as_str())
                    .detail("label", JENKINS_API_KEY_LABEL),
            )
            .await?;
        if file.exists() {
            std::fs::remove_file(file).map_err(|e| ServerError::io(file, e))?;
        }
        write_private_file(file, key.token.as_bytes())?;
        self.created = true;
        Ok(key.token)
    }

    async fn group(&mut self) -> Result<(), ServerError> {
        let name = GroupName::new(APPROVAL_GROUP).map_err(name_error)?;
        let approver = IdentityName::new(APPROVER).map_err(name_error)?;
        let change = match self.store.get_group(&name).await? {
            Some(group) if group.is_member(&approver) => return Ok(()),
            Some(mut group) => {
                group.members.insert(approver);
                Change::UpdateGroup(group)
            }
            None => Change::CreateGroup(ApprovalGroup {
                name,
                members: BTreeSet::from([approver]),
            }),
        };
        self.store
            .commit(
                vec![change],
                self.audit("group.update", APPROVAL_GROUP)
                    .detail("members", APPROVER),
            )
            .await?;
        self.created = true;
        Ok(())
    }

    /// `clients/jenkins.p12` with its password file: reused when both exist, else a new key
    /// and `tls-client` certificate CN=jenkins.
    async fn jenkins_p12(&mut self, clients: &Path) -> Result<Zeroizing<String>, ServerError> {
        let p12 = clients.join("jenkins.p12");
        let password_file = clients.join("jenkins.p12.password");
        if p12.is_file() && password_file.is_file() {
            let text = std::fs::read_to_string(&password_file)
                .map_err(|e| ServerError::io(&password_file, e))?;
            return Ok(Zeroizing::new(text.trim_end().to_owned()));
        }
        // The key is made here and goes only into the PKCS#12 file: Sigil never holds it.
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256)?;
        let subject = DistinguishedName::parse("CN=jenkins")?;
        let csr = build_csr(&key, &subject, &[])?;
        let issued = self
            .pki()
            .issue(&IssueArgs {
                issuer: CaName::new(SYSTEM_CA_NAME).map_err(name_error)?,
                profile: CertProfile::TlsClient,
                subject: None,
                sans: Vec::new(),
                validity_days: 365,
                key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
                key: KeySource::Csr(csr.to_der()?),
            })
            .await?;
        let chain = issued
            .chain
            .iter()
            .map(|der| Certificate::from_der(der))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ServerError::State(format!("issued certificate unreadable: {e}")))?;
        let (leaf, rest) = chain
            .split_first()
            .ok_or_else(|| ServerError::State("empty certificate chain".into()))?;
        let password = generate_password(P12_PASSWORD_LEN);
        // Random 131-bit password: the cheap iteration count keeps every `sigil sign` run fast.
        let file =
            sigil_pki::pkcs12::export_with_generated_password(&key, leaf, rest, JENKINS, &password)
                .map_err(|e| ServerError::State(format!("cannot write the PKCS#12 file: {e}")))?;
        for path in [&p12, &password_file] {
            if path.exists() {
                std::fs::remove_file(path).map_err(|e| ServerError::io(path, e))?;
            }
        }
        write_private_file(&password_file, password.as_bytes())?;
        write_private_file(&p12, &file)?;
        self.created = true;
        Ok(password)
    }

    fn profiles(&mut self, config: &ServerConfig, clients: &Path) -> Result<(), ServerError> {
        let jenkins = clients.join("jenkins.toml");
        if !jenkins.is_file() {
            let mut profile = ClientProfile::new(config.host_api, config.https, "../ca/root.pem");
            profile.pkcs12 = Some("jenkins.p12".into());
            profile.pkcs12_password_file = Some("jenkins.p12.password".into());
            profile.identity.push(ProfileIdentity {
                name: JENKINS.into(),
                password_env: "SIGIL_PASSWORD".into(),
                password_file: Some(JENKINS_API_KEY_FILE.into()),
            });
            profile.write(&jenkins)?;
            self.created = true;
        }
        let approver = clients.join("approver.toml");
        if !approver.is_file() {
            let mut profile = ClientProfile::new(config.host_api, config.https, "../ca/root.pem");
            profile.identity.push(ProfileIdentity {
                name: APPROVER.into(),
                password_env: "SIGIL_APPROVER_PASSWORD".into(),
                password_file: Some("approver.password".into()),
            });
            profile.write(&approver)?;
            self.created = true;
        }
        Ok(())
    }

    /// The code-signing CA, a valid code-signing certificate with a Sigil-held key, and the
    /// two policies on it.
    async fn code_signing(&mut self) -> Result<SerialNumber, ServerError> {
        let ca_name = CaName::new(CODE_SIGNING_CA).map_err(name_error)?;
        if self.store.get_ca(&ca_name).await?.is_none() {
            self.pki()
                .create_ca(&NewCaArgs {
                    name: ca_name.clone(),
                    key_algorithm: KeyAlgorithm::EcdsaP384,
                    subject: CODE_SIGNING_CA_SUBJECT.into(),
                    validity_days: 3650,
                    key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
                    parent: None,
                    path_len: Some(0),
                })
                .await?;
            self.created = true;
        }

        let alias_release = PolicyAlias::new(POLICY_RELEASE).map_err(name_error)?;
        let alias_approved = PolicyAlias::new(POLICY_RELEASE_APPROVED).map_err(name_error)?;
        // The certificate the existing policies use, else a usable one of the CA, else new.
        let existing_policy = match self.store.get_policy(&alias_release).await? {
            Some(p) => Some(p),
            None => self.store.get_policy(&alias_approved).await?,
        };
        let (serial, key_id) = match existing_policy {
            Some(policy) => (policy.draft().certificate.clone(), policy.draft().key_id),
            None => {
                let usable = self
                    .store
                    .list_certificates(Some(&ca_name))
                    .await?
                    .into_iter()
                    .find(|c| {
                        c.profile == CertProfile::CodeSigning
                            && c.revocation.is_none()
                            && c.key_id.is_some()
                            && c.not_after > self.now
                    });
                match usable {
                    Some(record) => match record.key_id {
                        Some(key_id) => (record.serial, key_id),
                        None => return Err(ServerError::State("certificate without key".into())),
                    },
                    None => {
                        let issued = self
                            .pki()
                            .issue(&IssueArgs {
                                issuer: ca_name.clone(),
                                profile: CertProfile::CodeSigning,
                                subject: Some(CODE_SIGNING_SUBJECT.into()),
                                sans: Vec::new(),
                                validity_days: 365,
                                key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
                                key: KeySource::Generate(KeyAlgorithm::Rsa3072),
                            })
                            .await?;
                        self.created = true;
                        let key_id = issued.record.key_id.ok_or_else(|| {
                            ServerError::State("generated certificate without key".into())
                        })?;
                        (issued.record.serial, key_id)
                    }
                }
            }
        };

        let group = GroupName::new(APPROVAL_GROUP).map_err(name_error)?;
        let jenkins = RoleName::new(JENKINS).map_err(name_error)?;
        for (alias, approvals, group) in
            [(alias_release, 0, None), (alias_approved, 1, Some(group))]
        {
            if self.store.get_policy(&alias).await?.is_some() {
                continue;
            }
            let policy = IssuancePolicy::new(PolicyDraft {
                alias: alias.clone(),
                certificate: serial.clone(),
                key_id,
                rsa_scheme: RsaScheme::Pkcs1v15,
                approvals_required: approvals,
                approval_group: group,
                hashes: BTreeSet::from([
                    HashAlgorithm::Sha256,
                    HashAlgorithm::Sha384,
                    HashAlgorithm::Sha512,
                ]),
                formats: BTreeSet::from([
                    SigningFormat::Hash,
                    SigningFormat::Authenticode,
                    SigningFormat::Jar,
                    SigningFormat::OpenPgp,
                ]),
                request_lifetime_secs: REQUEST_LIFETIME_SECS,
                roles: BTreeSet::from([jenkins.clone()]),
                timestamp_required: false,
            })
            .map_err(|e| ServerError::State(e.to_string()))?;
            self.store
                .commit(
                    vec![Change::CreatePolicy(Box::new(policy))],
                    self.audit("policy.create", alias.as_str())
                        .detail("certificate", serial.as_str())
                        .detail("approvals_required", &approvals.to_string()),
                )
                .await?;
            self.created = true;
        }
        Ok(serial)
    }

    /// Whole days until the CA `name` expires (less one, so that a certificate issued now
    /// ends before it), at least one.
    async fn days_left(&self, name: &CaName) -> Result<u32, ServerError> {
        let ca = self
            .store
            .get_ca(name)
            .await?
            .ok_or_else(|| ServerError::State(format!("the CA {name} disappeared")))?;
        let certificate = Certificate::from_der(&ca.certificate_der).map_err(|e| {
            ServerError::State(format!("the CA {name}'s certificate is unreadable: {e}"))
        })?;
        let end = certificate
            .tbs_certificate()
            .validity()
            .not_after
            .to_unix_duration()
            .as_secs();
        let now = u64::try_from(self.now.unix_timestamp()).unwrap_or(0);
        let days = end.saturating_sub(now) / 86_400;
        Ok(u32::try_from(days.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .max(1))
    }

    /// The TSA: the time-stamping certificate the setting names when it is still usable, else
    /// a usable one of the code-signing CA, else a new one; the setting is pointed at it.
    async fn timestamping(&mut self) -> Result<SerialNumber, ServerError> {
        let mut settings = self.store.settings().await?;
        let ca_name = CaName::new(CODE_SIGNING_CA).map_err(name_error)?;
        let usable = |c: &sigil_domain::CertificateRecord| {
            c.profile == CertProfile::Timestamping
                && c.revocation.is_none()
                && c.key_id.is_some()
                && c.not_before <= self.now
                && c.not_after > self.now
        };
        if let Some(serial) = &settings.timestamp_certificate
            && let Some(record) = self.store.get_certificate(serial).await?
            && usable(&record)
        {
            return Ok(record.serial);
        }
        let existing = self
            .store
            .list_certificates(Some(&ca_name))
            .await?
            .into_iter()
            .find(|c| usable(c));
        let serial = match existing {
            Some(record) => record.serial,
            None => {
                let validity_days = self
                    .days_left(&ca_name)
                    .await?
                    .min(TIMESTAMPING_VALIDITY_DAYS);
                let issued = self
                    .pki()
                    .issue(&IssueArgs {
                        issuer: ca_name,
                        profile: CertProfile::Timestamping,
                        subject: Some(TIMESTAMPING_SUBJECT.into()),
                        sans: Vec::new(),
                        validity_days,
                        key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
                        key: KeySource::Generate(KeyAlgorithm::Rsa3072),
                    })
                    .await?;
                issued.record.serial
            }
        };
        settings.timestamp_certificate = Some(serial.clone());
        self.store
            .commit(
                vec![Change::PutSettings(settings)],
                self.audit("settings.update", "timestamp_certificate")
                    .detail("timestamp_certificate", serial.as_str()),
            )
            .await?;
        self.created = true;
        Ok(serial)
    }
}

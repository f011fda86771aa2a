//! `sigil init`: creates a deployment in a new data directory.
//!
//! Everything is built in a hidden directory beside the target and renamed into place at the
//! end, so a failure leaves nothing half-written. With PostgreSQL the deployment is built the
//! same way in a SQLite file of that directory, then copied into the database in one
//! transaction that also creates the schema: the database holds the whole deployment or is
//! left as it was (`init` refuses a database that already holds a deployment). An existing
//! non-empty data directory is never touched.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use sigil_custody::danger::InsecureDevKeyFile;
use sigil_custody::{CustodyRecord, MasterKey};
use sigil_domain::{
    AuditDraft, CaName, CertProfile, Change, CommandCode, Identity, IdentityKind, IdentityName,
    Interface, Outcome, PasswordParams, RoleName, Settings, Store, builtin_roles, hash_password,
};
use sigil_keys::KeyAlgorithm;
use sigil_pki::San;
use zeroize::Zeroizing;

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::paths::{DataLayout, create_private_dir, generate_password, write_new_file};
use crate::profile::{ClientProfile, ProfileIdentity, WriteProfile};
use crate::service::pki::{IssueArgs, KeySource, LISTENER_VALIDITY_DAYS, NewCaArgs, Pki};
use sigil_custody::Keystore;

/// Name of the CA container that issues the listener and client TLS certificates.
pub const SYSTEM_CA_NAME: &str = "system-tls-root";
/// Subject of that CA's certificate.
pub const SYSTEM_CA_SUBJECT: &str = "CN=System TLS CA Root";
/// Validity of the System TLS CA Root, in days (10 years).
pub const SYSTEM_CA_VALIDITY_DAYS: u32 = 3650;
/// The administrator identities `init` creates.
pub const ADMIN_NAMES: [&str; 2] = ["admin1", "admin2"];
/// Length of generated administrator passwords.
pub const ADMIN_PASSWORD_LEN: usize = 24;
/// Actor name recorded in the audit events of `init`.
const INIT_ACTOR: &str = "sigil-init";
/// The SQLite file in the staging directory where a PostgreSQL deployment is built before it
/// is copied into the database in one transaction.
const PG_STAGING_DB: &str = "init-postgres.db";

/// Where the master key is kept between restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeySource {
    /// Development only: `DATA/master.key` (mode 0600), with a warning at every start.
    DevKeyFile,
    /// Split into `count` key components, any `threshold` of which unseal the server.
    Components {
        /// M.
        threshold: u8,
        /// N.
        count: u8,
    },
}

/// What `init` creates.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The new data directory (must not exist, or be empty).
    pub data_dir: PathBuf,
    /// Extra names and addresses for the listener certificate (besides localhost, 127.0.0.1
    /// and ::1).
    pub hostnames: Vec<String>,
    /// Host API listener address written to `sigil.toml`.
    pub host_api: SocketAddr,
    /// HTTPS listener address written to `sigil.toml`.
    pub https: SocketAddr,
    /// Master key custody.
    pub master_key: MasterKeySource,
    /// Database URL (`sqlite://sigil.db` relative to the data directory, or `postgres://…`).
    pub database: String,
    /// argon2id cost of the administrator password hashes.
    pub password_params: PasswordParams,
    /// Failed logins before an identity is locked.
    pub lockout_threshold: u32,
}

impl InitOptions {
    /// Defaults: development key file, default addresses, SQLite in the data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let defaults = ServerConfig::for_data_dir(".");
        Self {
            data_dir: data_dir.into(),
            hostnames: Vec::new(),
            host_api: defaults.host_api,
            https: defaults.https,
            master_key: MasterKeySource::DevKeyFile,
            database: defaults.database,
            password_params: PasswordParams::RECOMMENDED,
            lockout_threshold: defaults.lockout_threshold,
        }
    }
}

/// One key component for one custodian: print it once, then forget it.
#[derive(Debug)]
pub struct IssuedComponent {
    /// Component number (1 to N).
    pub index: u8,
    /// M.
    pub threshold: u8,
    /// The component's check value.
    pub kcv: String,
    /// The `SKC1-…` text.
    pub text: Zeroizing<String>,
}

/// What `init` created.
#[derive(Debug)]
pub struct InitReport {
    /// The data directory.
    pub data_dir: PathBuf,
    /// `DATA/sigil.toml`.
    pub config_file: PathBuf,
    /// `DATA/admin/admin.toml`.
    pub admin_profile: PathBuf,
    /// `DATA/admin/admin1.password`, `DATA/admin/admin2.password` (mode 0600).
    pub admin_password_files: Vec<PathBuf>,
    /// Names of the administrator identities, in the order of the password files.
    pub admin_names: Vec<String>,
    /// `DATA/ca/root.pem`.
    pub root_ca: PathBuf,
    /// `DATA/master.key` for the development scheme.
    pub master_key_file: Option<PathBuf>,
    /// The master key's id (not secret).
    pub master_key_id: String,
    /// The master key's check value (not secret; write it into the ceremony minutes).
    pub master_kcv: String,
    /// The key components (empty for the development scheme).
    pub key_components: Vec<IssuedComponent>,
    /// Host API address.
    pub host_api: SocketAddr,
    /// HTTPS address.
    pub https: SocketAddr,
}

/// Whether `dir` holds nothing (or does not exist).
pub fn is_empty_dir(dir: &Path) -> Result<bool, ServerError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(ServerError::io(dir, e)),
    }
}

/// Creates a deployment in `options.data_dir`; refuses a directory that is not empty.
pub async fn init(options: &InitOptions) -> Result<InitReport, ServerError> {
    let sans = listener_sans(&options.hostnames)?;
    let staging = stage(&options.data_dir)?;
    let report = build(staging.path(), &options.data_dir, options, &sans).await?;
    staging.commit(&options.data_dir)?;
    Ok(report)
}

/// A staging directory beside `target`, which must be missing or an empty directory.
pub(crate) fn stage(target: &Path) -> Result<StagingDir, ServerError> {
    if target.exists() && !target.is_dir() {
        return Err(ServerError::State(format!(
            "{} exists and is not a directory: choose another data directory",
            target.display()
        )));
    }
    if !is_empty_dir(target)? {
        return Err(ServerError::State(format!(
            "{} is not empty: refusing to overwrite an existing deployment; choose another \
             data directory, or start the server on this one",
            target.display()
        )));
    }
    let name = target
        .file_name()
        .ok_or_else(|| {
            ServerError::Config(format!(
                "{} does not name a directory: give a path like ./sigil-data",
                target.display()
            ))
        })?
        .to_string_lossy()
        .into_owned();
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| ServerError::io(&parent, e))?;
    StagingDir::create(&parent, &name)
}

/// The listener certificate's names: localhost, 127.0.0.1, ::1 and the given hostnames.
fn listener_sans(hostnames: &[String]) -> Result<Vec<String>, ServerError> {
    let mut sans = vec![
        "DNS:localhost".to_owned(),
        "IP:127.0.0.1".to_owned(),
        "IP:::1".to_owned(),
    ];
    for name in hostnames {
        San::parse(name).map_err(|e| {
            ServerError::Config(format!(
                "--hostname {name:?}: {e} (give a DNS name or an IP address)"
            ))
        })?;
        sans.push(name.clone());
    }
    Ok(sans)
}

/// A hidden directory beside the target, removed unless committed.
pub(crate) struct StagingDir {
    path: PathBuf,
    committed: bool,
}

impl StagingDir {
    pub(crate) fn create(parent: &Path, name: &str) -> Result<Self, ServerError> {
        let suffix = generate_password(8);
        let path = parent.join(format!(".{name}.init-{}", suffix.as_str()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| ServerError::io(&path, e))?;
        Ok(Self {
            path,
            committed: false,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the staging directory to `target` (replacing it if it is an empty directory).
    pub(crate) fn commit(mut self, target: &Path) -> Result<(), ServerError> {
        std::fs::rename(&self.path, target).map_err(|e| ServerError::io(target, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Writes the deployment into `staging`; paths in the report point into `target`.
async fn build(
    staging: &Path,
    target: &Path,
    options: &InitOptions,
    sans: &[String],
) -> Result<InitReport, ServerError> {
    let layout = DataLayout::new(staging);
    let mut config = ServerConfig::for_data_dir(staging);
    config.host_api = options.host_api;
    config.https = options.https;
    config.database = options.database.clone();
    config.lockout_threshold = options.lockout_threshold;
    let deployment_id = uuid::Uuid::new_v4().to_string();
    config.deployment_id = Some(deployment_id.clone());
    let url = config.database_url();

    // The master key and its custody record.
    let key = MasterKey::generate()?;
    let master_key_id = key.id().to_string();
    let master_kcv = key.kcv().to_string();
    let mut key_components = Vec::new();
    let (record, master_key_file) = match options.master_key {
        MasterKeySource::DevKeyFile => {
            InsecureDevKeyFile::create(&layout.master_key(), &key)?;
            (CustodyRecord::for_dev_key_file(&key), true)
        }
        MasterKeySource::Components { threshold, count } => {
            let split = key.split(threshold, count)?;
            for component in &split.components {
                key_components.push(IssuedComponent {
                    index: component.index(),
                    threshold: component.threshold(),
                    kcv: component.kcv().to_string(),
                    text: component.to_text(),
                });
            }
            (split.record, false)
        }
    };
    let custody_json = serde_json::to_string(&record)
        .map_err(|e| ServerError::State(format!("cannot encode the custody record: {e}")))?;
    let vault = Keystore::new(key);

    // PostgreSQL: the deployment is built in a SQLite file in the staging directory first,
    // then copied into the database in one transaction (with the schema), so that a failure
    // at any step leaves the database as it was.
    let postgres = !url.starts_with("sqlite://");
    let build_url = if postgres {
        format!("sqlite://{}", staging.join(PG_STAGING_DB).display())
    } else {
        url.clone()
    };
    let store = open_store(&build_url).await?;
    let populated = populate(
        store.as_dyn(),
        &vault,
        &layout,
        options,
        sans,
        custody_json,
        deployment_id,
    )
    .await;
    store.close().await;
    let (admin_names, root_pem) = populated?;
    if postgres {
        let db = staging.join(PG_STAGING_DB);
        let snapshot = sigil_store::SqliteStore::snapshot(&db).await?;
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", db.display()));
            if let Err(e) = std::fs::remove_file(&file)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(ServerError::io(&file, e));
            }
        }
        sigil_store::PgStore::install(&url, &snapshot).await?;
    }

    write_new_file(&layout.root_ca(), root_pem.as_bytes(), 0o644)?;
    write_new_file(&layout.config(), config.to_toml().as_bytes(), 0o600)?;

    let final_layout = DataLayout::new(target);
    Ok(InitReport {
        data_dir: target.to_path_buf(),
        config_file: final_layout.config(),
        admin_profile: final_layout.admin_profile(),
        admin_password_files: admin_names
            .iter()
            .map(|n| final_layout.admin_password(n))
            .collect(),
        admin_names,
        root_ca: final_layout.root_ca(),
        master_key_file: master_key_file.then(|| final_layout.master_key()),
        master_key_id,
        master_kcv,
        key_components,
        host_api: options.host_api,
        https: options.https,
    })
}

/// The store `init` fills, closed explicitly so that SQLite is flushed before the rename.
enum InitStore {
    Sqlite(sigil_store::SqliteStore),
    Postgres(sigil_store::PgStore),
}

impl InitStore {
    fn as_dyn(&self) -> &dyn Store {
        match self {
            Self::Sqlite(s) => s,
            Self::Postgres(s) => s,
        }
    }

    async fn close(self) {
        match self {
            Self::Sqlite(s) => s.close().await,
            Self::Postgres(s) => s.close().await,
        }
    }
}

async fn open_store(url: &str) -> Result<InitStore, ServerError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let store =
            sigil_store::SqliteStore::open(Path::new(path), sigil_store::SqliteOptions::default())
                .await?;
        Ok(InitStore::Sqlite(store))
    } else {
        let store = sigil_store::PgStore::connect(url).await?;
        Ok(InitStore::Postgres(store))
    }
}

/// Fills the store: custody record, roles, commands, settings, the System TLS CA Root, the
/// listener certificate, the administrators. Returns the administrator names and the root PEM.
async fn populate(
    store: &dyn Store,
    vault: &Keystore,
    layout: &DataLayout,
    options: &InitOptions,
    sans: &[String],
    custody_json: String,
    deployment_id: String,
) -> Result<(Vec<String>, String), ServerError> {
    if store.custody_record().await?.is_some()
        || store.deployment_id().await?.is_some()
        || !store.list_identities().await?.is_empty()
    {
        return Err(ServerError::State(
            "the database already holds a Sigil deployment: refusing to overwrite it (to add \
             a node to it, use `sigil init --join`; otherwise give an empty database)"
                .into(),
        ));
    }
    let now = {
        let now = time::OffsetDateTime::now_utc();
        now.replace_nanosecond(0).unwrap_or(now)
    };
    let mut changes = vec![
        Change::SetDeploymentId(deployment_id),
        Change::PutCustodyRecord(custody_json),
    ];
    changes.extend(builtin_roles().into_iter().map(Change::CreateRole));
    for command in sigil_proto::Command::KNOWN {
        let code = CommandCode::new(command.as_str())
            .map_err(|e| ServerError::State(format!("command code: {e}")))?;
        changes.push(Change::SetCommandEnabled {
            code,
            enabled: true,
        });
    }
    let settings = Settings {
        allow_export_with_password: false,
        lockout_threshold: options.lockout_threshold,
        timestamp_certificate: None,
    };
    settings
        .validate()
        .map_err(|e| ServerError::Config(e.to_string()))?;
    changes.push(Change::PutSettings(settings));
    store
        .commit(
            changes,
            AuditDraft::new(now, "deployment.init", Outcome::Success)
                .identity(INIT_ACTOR)
                .detail("custody", scheme_name(options.master_key)),
        )
        .await?;

    // The System TLS CA Root and the listener certificate (CSR → issued → chain).
    let pki = Pki {
        store,
        vault,
        actor: INIT_ACTOR.into(),
        now,
    };
    let root_name = CaName::new(SYSTEM_CA_NAME).map_err(|e| ServerError::State(e.to_string()))?;
    let root = pki
        .create_ca(&NewCaArgs {
            name: root_name.clone(),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            subject: SYSTEM_CA_SUBJECT.to_owned(),
            validity_days: SYSTEM_CA_VALIDITY_DAYS,
            key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
            parent: None,
            path_len: None,
        })
        .await?;
    let csr = pki
        .listener_csr(Interface::HostApi, Some("CN=localhost"), sans)
        .await?;
    let issued = pki
        .issue(&IssueArgs {
            issuer: root_name,
            profile: CertProfile::TlsServer,
            subject: None,
            sans: Vec::new(),
            validity_days: LISTENER_VALIDITY_DAYS,
            key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
            key: KeySource::Csr(csr.csr_pem.into_bytes()),
        })
        .await?;
    for interface in Interface::ALL {
        pki.put_listener_chain(None, *interface, csr.key_id, issued.chain.clone())
            .await?;
    }

    // Two administrators: the administrator role needs two distinct logins.
    create_private_dir(&layout.admin_dir())?;
    let admin_role =
        RoleName::new("administrator").map_err(|e| ServerError::State(e.to_string()))?;
    let mut profile = ClientProfile::new(options.host_api, options.https, "../ca/root.pem");
    let mut names = Vec::new();
    for name in ADMIN_NAMES {
        let password = generate_password(ADMIN_PASSWORD_LEN);
        let hash = hash_password(
            password.as_bytes(),
            &options.password_params,
            &mut rand::rng(),
        )
        .map_err(|e| ServerError::State(format!("cannot hash a password: {e}")))?;
        let mut identity = Identity::new(
            IdentityName::new(name).map_err(|e| ServerError::State(e.to_string()))?,
            IdentityKind::Person,
        );
        identity.roles = BTreeSet::from([admin_role.clone()]);
        identity.password = Some(hash);
        store
            .commit(
                vec![Change::CreateIdentity(Box::new(identity))],
                AuditDraft::new(now, "identity.create", Outcome::Success)
                    .identity(INIT_ACTOR)
                    .object(name)
                    .detail("roles", "administrator"),
            )
            .await?;
        crate::paths::write_private_file(&layout.admin_password(name), password.as_bytes())?;
        profile.identity.push(ProfileIdentity {
            name: name.to_owned(),
            password_env: format!("SIGIL_{}_PASSWORD", name.to_ascii_uppercase()),
            password_file: Some(format!("{name}.password")),
        });
        names.push(name.to_owned());
    }
    profile.write(&layout.admin_profile())?;

    let ca_dir = layout.root().join("ca");
    std::fs::create_dir_all(&ca_dir).map_err(|e| ServerError::io(&ca_dir, e))?;
    let root_pem = sigil_pki::pem::encode("CERTIFICATE", &root.certificate_der)
        .map_err(|e| ServerError::State(e.to_string()))?;
    Ok((names, root_pem))
}

fn scheme_name(source: MasterKeySource) -> &'static str {
    match source {
        MasterKeySource::DevKeyFile => "dev-key-file",
        MasterKeySource::Components { .. } => "components",
    }
}

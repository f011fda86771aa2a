//! `sigil init --join`: adds a node to a deployment whose database is PostgreSQL.
//!
//! The new data directory gets a `sigil.toml` naming the same database and deployment id, the
//! deployment's TLS root certificate (`ca/root.pem`, read from the database), and, for a
//! deployment with a development key file, a copy of that key file (checked against the
//! custody record). A deployment whose master key is split into components needs nothing
//! more: its custodians unseal each node at start, as for the first one. The listener
//! certificates are the deployment's (stored in the database), so every node serves the same
//! chain: give the first `init` every node's and the load balancer's names (`--hostname`), or
//! replace the chain later with `sigil listener`. Like `init`, the directory is built beside
//! the target and renamed into place; the database only gets a `node.join` audit event.

use std::net::SocketAddr;
use std::path::PathBuf;

use sigil_custody::CustodyScheme;
use sigil_custody::danger::InsecureDevKeyFile;
use sigil_domain::{AuditDraft, CaName, Outcome};

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::init::{SYSTEM_CA_NAME, stage};
use crate::paths::{DataLayout, write_new_file};

/// What joining needs.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    /// The new node's data directory (must not exist, or be empty).
    pub data_dir: PathBuf,
    /// The deployment's PostgreSQL URL (the password from `PGPASSWORD` or `~/.pgpass`).
    pub database: String,
    /// Host API listener address of the new node.
    pub host_api: SocketAddr,
    /// HTTPS listener address of the new node.
    pub https: SocketAddr,
    /// The deployment's development key file, when it uses one.
    pub master_key_file: Option<PathBuf>,
}

/// What joining created.
#[derive(Debug)]
pub struct JoinReport {
    /// The deployment joined.
    pub deployment_id: String,
    /// `DATA/sigil.toml`.
    pub config_file: PathBuf,
    /// `DATA/ca/root.pem`.
    pub root_ca: PathBuf,
    /// Whether the node needs key components at start.
    pub needs_components: bool,
}

/// Creates the data directory of a new node of the deployment in `options.database`.
pub async fn join(options: &JoinOptions) -> Result<JoinReport, ServerError> {
    if !(options.database.starts_with("postgres://")
        || options.database.starts_with("postgresql://"))
    {
        return Err(ServerError::Config(
            "--join needs the deployment's PostgreSQL URL (postgres://…): a SQLite database \
             belongs to one node"
                .into(),
        ));
    }
    let staging = stage(&options.data_dir)?;
    let layout = DataLayout::new(staging.path());
    let store = sigil_store::open(&options.database).await?;
    let deployment_id = store.deployment_id().await?.ok_or_else(|| {
        ServerError::State(
            "this database holds no Sigil deployment: create one with `sigil init --database URL` \
             first"
                .into(),
        )
    })?;
    let record = crate::server::custody_record(store.as_ref()).await?;
    let needs_components = match record.scheme() {
        CustodyScheme::DevKeyFile => {
            let file = options.master_key_file.as_ref().ok_or_else(|| {
                ServerError::Config(
                    "this deployment keeps its master key in a development key file: give a copy \
                     of the first node's master.key with --master-key-file"
                        .into(),
                )
            })?;
            let (key, _warning) = InsecureDevKeyFile::load(file, &record)?;
            InsecureDevKeyFile::create(&layout.master_key(), &key)?;
            false
        }
        _ => true,
    };
    let root_name = CaName::new(SYSTEM_CA_NAME).map_err(|e| ServerError::State(e.to_string()))?;
    let root = store.get_ca(&root_name).await?.ok_or_else(|| {
        ServerError::State(format!(
            "the deployment has no {SYSTEM_CA_NAME} CA: its database is incomplete"
        ))
    })?;
    let root_pem = sigil_pki::pem::encode("CERTIFICATE", &root.certificate_der)
        .map_err(|e| ServerError::State(e.to_string()))?;
    let ca_dir = layout.root().join("ca");
    std::fs::create_dir_all(&ca_dir).map_err(|e| ServerError::io(&ca_dir, e))?;
    write_new_file(&layout.root_ca(), root_pem.as_bytes(), 0o644)?;

    let mut config = ServerConfig::for_data_dir(staging.path());
    config.host_api = options.host_api;
    config.https = options.https;
    config.database = options.database.clone();
    config.deployment_id = Some(deployment_id.clone());
    write_new_file(&layout.config(), config.to_toml().as_bytes(), 0o600)?;

    let now = time::OffsetDateTime::now_utc();
    store
        .commit(
            Vec::new(),
            AuditDraft::new(now, "node.join", Outcome::Success)
                .identity("sigil-init")
                .detail("host_api", &options.host_api.to_string())
                .detail("https", &options.https.to_string()),
        )
        .await?;
    staging.commit(&options.data_dir)?;
    let final_layout = DataLayout::new(&options.data_dir);
    Ok(JoinReport {
        deployment_id,
        config_file: final_layout.config(),
        root_ca: final_layout.root_ca(),
        needs_components,
    })
}

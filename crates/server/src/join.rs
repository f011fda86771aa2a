//! `sigil init --join`: adds a node to a deployment whose database is PostgreSQL.
//!
//! The new data directory gets a `sigil.toml` naming the same database and deployment id, the
//! deployment's TLS root certificate (`ca/root.pem`, read from the database), and, for a
//! deployment with a development key file, a copy of that key file (checked against the
//! custody record). A deployment whose master key is split into components needs nothing
//! more: its custodians unseal each node at start, as for the first one.
//!
//! Every node gets a node id (`node_id` in its `sigil.toml`). With `hostnames`, the node also
//! gets its **own listener certificate**, issued here by the deployment's TLS CA for the node's
//! names plus every name of the deployment's certificate (the balancer's), and stored in the
//! database under the node id, its key sealed like every other key: the node's data directory
//! then holds no key, a backup covers it, and the TLS CA's key (which only the master key
//! opens) is needed only now, so a deployment with key components asks for them here.
//! Without `hostnames` the node serves the deployment's chain, as the first node does.
//! Like `init`, the directory is built beside the target and renamed into place.

use std::net::SocketAddr;
use std::path::PathBuf;

use sigil_custody::danger::InsecureDevKeyFile;
use sigil_custody::{CustodyScheme, Keystore, Unsealer};
use sigil_domain::{AuditDraft, CaName, CertProfile, Interface, Outcome, Store};
use sigil_pki::San;
use sigil_pki::x509_cert::Certificate;
use sigil_pki::x509_cert::der::Decode;
use zeroize::Zeroizing;

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::init::{SYSTEM_CA_NAME, stage};
use crate::paths::{DataLayout, write_new_file};
use crate::service::pki::{IssueArgs, KeySource, LISTENER_VALIDITY_DAYS, Pki};

/// Actor name recorded in the audit events of a join.
const JOIN_ACTOR: &str = "sigil-init";

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
    /// The node's own DNS names or IP addresses: when given, the node gets its own listener
    /// certificate for them (plus the deployment certificate's names).
    pub hostnames: Vec<String>,
    /// Key components (`SKC1-…`) of a component-sealed deployment: needed with `hostnames`,
    /// to open the TLS CA's key.
    pub components: Vec<Zeroizing<String>>,
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
    /// The node id written to `sigil.toml`.
    pub node_id: String,
    /// The names of the node's own listener certificate (empty: it serves the deployment's).
    pub names: Vec<String>,
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
    let (master, needs_components) = match record.scheme() {
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
            (Some(key), false)
        }
        _ if options.hostnames.is_empty() => (None, true),
        CustodyScheme::Components {
            threshold, count, ..
        } if options.components.is_empty() => {
            // The node's own certificate is issued by the TLS CA, whose key only the master
            // key opens.
            return Err(ServerError::NeedsComponents {
                threshold: *threshold,
                count: *count,
            });
        }
        _ => {
            let mut unsealer = Unsealer::new(&record)?;
            for component in &options.components {
                unsealer.add_component(component)?;
            }
            (Some(unsealer.finish()?), true)
        }
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

    let node_id = uuid::Uuid::new_v4().to_string();
    let mut config = ServerConfig::for_data_dir(staging.path());
    config.host_api = options.host_api;
    config.https = options.https;
    config.database = options.database.clone();
    config.deployment_id = Some(deployment_id.clone());
    config.node_id = Some(node_id.clone());
    write_new_file(&layout.config(), config.to_toml().as_bytes(), 0o600)?;

    let now = {
        let now = time::OffsetDateTime::now_utc();
        now.replace_nanosecond(0).unwrap_or(now)
    };
    let names = match master {
        Some(master) if !options.hostnames.is_empty() => {
            let pki = Pki {
                store: store.as_ref(),
                vault: &Keystore::new(master),
                actor: JOIN_ACTOR.into(),
                now,
            };
            issue_node_listener(&pki, root_name, &node_id, &options.hostnames).await?
        }
        _ => Vec::new(),
    };
    let mut event = AuditDraft::new(now, "node.join", Outcome::Success)
        .identity(JOIN_ACTOR)
        .object(&node_id)
        .detail("host_api", &options.host_api.to_string())
        .detail("https", &options.https.to_string());
    if !names.is_empty() {
        event = event.detail("names", &names.join(","));
    }
    store.commit(Vec::new(), event).await?;
    staging.commit(&options.data_dir)?;
    let final_layout = DataLayout::new(&options.data_dir);
    Ok(JoinReport {
        deployment_id,
        config_file: final_layout.config(),
        root_ca: final_layout.root_ca(),
        needs_components,
        node_id,
        names,
    })
}

/// Issues node `node_id` its own listener certificate from the deployment's TLS CA, for
/// `hostnames` followed by the names of the deployment's certificate, and stores it as the
/// node's chain for both listeners (one key, as `init` does for the deployment). Audited as
/// `listener.csr`, `certificate.issue` and `listener.chain` (with the node id). Returns the
/// names.
async fn issue_node_listener(
    pki: &Pki<'_>,
    ca: CaName,
    node_id: &str,
    hostnames: &[String],
) -> Result<Vec<String>, ServerError> {
    let mut names: Vec<San> = Vec::new();
    for name in hostnames {
        let san = San::parse(name).map_err(|e| {
            ServerError::Config(format!(
                "--hostname {name:?}: {e} (give a DNS name or an IP address)"
            ))
        })?;
        if !names.contains(&san) {
            names.push(san);
        }
    }
    for san in deployment_names(pki.store).await? {
        if !names.contains(&san) {
            names.push(san);
        }
    }
    let names: Vec<String> = names.iter().map(ToString::to_string).collect();
    let csr = pki.listener_csr(Interface::HostApi, None, &names).await?;
    let issued = pki
        .issue(&IssueArgs {
            issuer: ca,
            profile: CertProfile::TlsServer,
            subject: None,
            sans: Vec::new(),
            validity_days: LISTENER_VALIDITY_DAYS,
            key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
            key: KeySource::Csr(csr.csr_pem.into_bytes()),
        })
        .await?;
    for interface in Interface::ALL {
        pki.put_listener_chain(Some(node_id), *interface, csr.key_id, issued.chain.clone())
            .await?;
    }
    Ok(names)
}

/// The DNS names and IP addresses of the deployment's Host API listener certificate (the
/// balancer's and those `init` was given), so that a node's own certificate keeps them.
async fn deployment_names(store: &dyn Store) -> Result<Vec<San>, ServerError> {
    let chain = store
        .get_listener_chain(Interface::HostApi)
        .await?
        .ok_or_else(|| {
            ServerError::State(
                "the deployment has no Host API listener certificate: its database is incomplete"
                    .into(),
            )
        })?;
    let leaf = chain
        .certificates
        .first()
        .map(|der| Certificate::from_der(der))
        .transpose()
        .map_err(|e| {
            ServerError::State(format!(
                "the deployment's listener certificate cannot be read ({e}): replace it with \
                 `sigil listener`"
            ))
        })?
        .ok_or_else(|| ServerError::State("the deployment's listener chain is empty".into()))?;
    sigil_pki::certificate_sans(&leaf).map_err(|e| {
        ServerError::State(format!(
            "the deployment's listener certificate's names cannot be read ({e}): replace it \
             with `sigil listener`"
        ))
    })
}

//! Server configuration: the `[server]` table of `DATA/sigil.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sigil_custody::pkcs11::HsmConfig;
use sigil_domain::{FailureLimitPolicy, LockoutPolicy, PasswordParams, RefusalAuditPolicy};

use crate::error::ServerError;

/// Name of the configuration file inside a data directory.
pub const CONFIG_FILE: &str = "sigil.toml";
/// Default Host API address.
pub const DEFAULT_HOST_API: &str = "127.0.0.1:9100";
/// Default HTTPS API address.
pub const DEFAULT_HTTPS: &str = "127.0.0.1:8443";
/// Default of `max_connections`, per listener.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default of `timestamp_rate_per_sec`.
pub const DEFAULT_TIMESTAMP_RATE: f64 = 50.0;
/// Default of `idle_timeout_secs`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default of `header_timeout_secs`.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(20);
/// Default of `frame_timeout_secs`.
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of `body_timeout_secs`.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings of a running server, resolved (absolute data directory, parsed addresses).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The data directory (database, key file, certificates).
    pub data_dir: PathBuf,
    /// Host API listener address (mutual TLS).
    pub host_api: SocketAddr,
    /// HTTPS API listener address.
    pub https: SocketAddr,
    /// Database URL: `sqlite://FILE` (relative to the data directory) or `postgres://…`.
    pub database: String,
    /// The deployment this node belongs to (written by `sigil init`): the server refuses to
    /// start on a database that records another one. `None` in files older than issue 16.
    pub deployment_id: Option<String>,
    /// This node's id, written by `sigil init --join`: the node serves the listener chains
    /// stored in the database under this id (`--join --hostname`), else the deployment's.
    pub node_id: Option<String>,
    /// A connection with no request in progress for this long since its last complete
    /// request (or answer) is closed, on both listeners and every HTTP version; bytes that do
    /// not complete a request do not count.
    pub idle_timeout: Duration,
    /// From TCP accept, the TLS handshake (both listeners) and, on HTTPS, the first complete
    /// request header must be done within this; so must every later HTTP/1.1 request header
    /// (counted from when the server waits for it).
    pub header_timeout: Duration,
    /// A Host API frame must be complete within this of its first byte (`[`), however
    /// slowly it trickles in.
    pub frame_timeout: Duration,
    /// An HTTPS request body must be complete within this of its request header.
    pub body_timeout: Duration,
    /// Failed logins in a row before an identity is locked (used when the store has no
    /// setting yet).
    pub lockout_threshold: u32,
    /// How long locks last, the per-address throttle, and whether administrators need their
    /// client certificate for HTTPS logins (`lockout_base_secs`, `lockout_max_secs`,
    /// `address_failure_limit`, `admin_login_requires_certificate`).
    pub lockout: LockoutPolicy,
    /// Refused commands audited one by one per connection and per identity in a window
    /// (`refused_audit_limit`, `refused_audit_window_secs`); past it they are counted.
    pub refusal_audit: RefusalAuditPolicy,
    /// Failed HTTPS calls per source address and per identity, refused Host API commands per
    /// connection and per identity, in a window before they are throttled
    /// (`failure_limit`, `failure_window_secs`).
    pub failure_limit: FailureLimitPolicy,
    /// Most connections each listener serves at once; one more is closed at accept.
    pub max_connections: usize,
    /// Time-stamp tokens issued per second at most (the route needs no login), on average;
    /// bursts up to one second's worth.
    pub timestamp_rate: f64,
    /// argon2id cost of new password hashes (not in the file: tests lower it).
    pub password_params: PasswordParams,
    /// The Prometheus scrape listener (plain HTTP: `/metrics`, `/ready`, `/health`); none
    /// unless configured.
    pub metrics: Option<SocketAddr>,
    /// The HSMs (`[[hsm]]` sections): PKCS#11 tokens that hold keys besides the sealed
    /// software keystore.
    pub hsms: Vec<HsmConfig>,
}

/// `[[hsm]]` sections, for [`ServerConfig::to_toml`].
#[derive(Serialize)]
struct HsmSections {
    hsm: Vec<HsmConfig>,
}

/// The commented `[[hsm]]` example of a configuration without HSMs (docs/hsm.md).
const HSM_EXAMPLE: &str = "
# Keys in a PKCS#11 token (docs/hsm.md): one [[hsm]] section per token. None by default.
# [[hsm]]
# name = \"hsm1\"                              # used by --key-backend; not \"software\"
# module = \"/usr/lib/softhsm/libsofthsm2.so\" # the PKCS#11 library
# token_label = \"sigil\"                      # or: slot = 0
# pin_file = \"hsm1.pin\"                      # or: pin_env = \"SIGIL_HSM1_PIN\", or: pin_sealed = \"<hex>\"
# sessions = 4                               # logged-in sessions at most (default: CPU cores)
";

/// The file's shape (`[server]` table); every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    server: ServerTable,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    hsm: Vec<HsmConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerTable {
    data_dir: Option<PathBuf>,
    host_api: Option<String>,
    https: Option<String>,
    database: Option<String>,
    deployment_id: Option<String>,
    node_id: Option<String>,
    idle_timeout_secs: Option<u64>,
    header_timeout_secs: Option<u64>,
    frame_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    lockout_threshold: Option<u32>,
    lockout_base_secs: Option<u64>,
    lockout_max_secs: Option<u64>,
    address_failure_limit: Option<u32>,
    admin_login_requires_certificate: Option<bool>,
    refused_audit_limit: Option<u32>,
    refused_audit_window_secs: Option<u64>,
    failure_limit: Option<u32>,
    failure_window_secs: Option<u64>,
    max_connections: Option<usize>,
    timestamp_rate_per_sec: Option<f64>,
    metrics: Option<String>,
}

impl ServerConfig {
    /// Defaults for a data directory.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            host_api: SocketAddr::from(([127, 0, 0, 1], 9100)),
            https: SocketAddr::from(([127, 0, 0, 1], 8443)),
            database: "sqlite://sigil.db".to_owned(),
            deployment_id: None,
            node_id: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            frame_timeout: DEFAULT_FRAME_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            lockout_threshold: 5,
            lockout: LockoutPolicy::default(),
            refusal_audit: RefusalAuditPolicy::default(),
            failure_limit: FailureLimitPolicy::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            timestamp_rate: DEFAULT_TIMESTAMP_RATE,
            password_params: PasswordParams::RECOMMENDED,
            metrics: None,
            hsms: Vec::new(),
        }
    }

    /// Reads a configuration file; relative paths in it are relative to its directory.
    pub fn load(path: &Path) -> Result<Self, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|e| ServerError::io(path, e))?;
        let file: FileConfig = toml::from_str(&text)
            .map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let table = file.server;
        let mut hsms = file.hsm;
        // A relative PIN file is relative to the configuration file, like data_dir.
        for hsm in &mut hsms {
            if let Some(pin_file) = hsm.pin_file.as_mut().filter(|p| p.is_relative()) {
                *pin_file = base.join(&*pin_file);
            }
        }
        let mut names = std::collections::HashSet::new();
        for hsm in &hsms {
            hsm.check()
                .map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?;
            if !names.insert(hsm.name.as_str()) {
                return Err(ServerError::Config(format!(
                    "{}: two [[hsm]] sections are named {:?}: give each its own name",
                    path.display(),
                    hsm.name
                )));
            }
        }
        let data_dir = match table.data_dir {
            Some(dir) if dir.is_absolute() => dir,
            Some(dir) => base.join(dir),
            None => base.to_path_buf(),
        };
        let mut config = Self::for_data_dir(data_dir);
        config.hsms = hsms;
        let addr = |key: &str, value: &str| -> Result<SocketAddr, ServerError> {
            value.parse().map_err(|_| {
                ServerError::Config(format!(
                    "{}: [server] {key} = {value:?} is not an address like 127.0.0.1:9100",
                    path.display()
                ))
            })
        };
        if let Some(value) = &table.host_api {
            config.host_api = addr("host_api", value)?;
        }
        if let Some(value) = &table.https {
            config.https = addr("https", value)?;
        }
        if let Some(value) = &table.metrics {
            config.metrics = Some(addr("metrics", value)?);
        }
        if let Some(database) = table.database {
            config.database = database;
        }
        config.deployment_id = table.deployment_id;
        if let Some(node) = table.node_id {
            uuid::Uuid::parse_str(&node).map_err(|_| {
                ServerError::Config(format!(
                    "node_id {node:?} is not a UUID: restore the value `sigil init --join` wrote"
                ))
            })?;
            config.node_id = Some(node);
        }
        if let Some(secs) = table.idle_timeout_secs {
            config.idle_timeout = Duration::from_secs(secs.max(1));
        }
        if let Some(secs) = table.header_timeout_secs {
            config.header_timeout = Duration::from_secs(secs.max(1));
        }
        if let Some(secs) = table.frame_timeout_secs {
            config.frame_timeout = Duration::from_secs(secs.max(1));
        }
        if let Some(secs) = table.body_timeout_secs {
            config.body_timeout = Duration::from_secs(secs.max(1));
        }
        if let Some(threshold) = table.lockout_threshold {
            config.lockout_threshold = threshold;
        }
        if let Some(secs) = table.lockout_base_secs {
            config.lockout.base = Duration::from_secs(secs.max(1));
        }
        if let Some(secs) = table.lockout_max_secs {
            config.lockout.max = Duration::from_secs(secs.max(1));
        }
        if config.lockout.max < config.lockout.base {
            return Err(ServerError::Config(format!(
                "{}: [server] lockout_max_secs is below lockout_base_secs: the longest lock \
                 cannot be shorter than the first",
                path.display()
            )));
        }
        if let Some(limit) = table.address_failure_limit {
            if limit == 0 {
                return Err(ServerError::Config(format!(
                    "{}: [server] address_failure_limit = 0 would refuse every login: set at \
                     least 1 (keep it below lockout_threshold)",
                    path.display()
                )));
            }
            config.lockout.address_limit = limit;
        }
        if let Some(required) = table.admin_login_requires_certificate {
            config.lockout.admin_requires_certificate = required;
        }
        if let Some(limit) = table.refused_audit_limit {
            config.refusal_audit.limit = limit;
        }
        if let Some(secs) = table.refused_audit_window_secs {
            config.refusal_audit.window = Duration::from_secs(secs.max(1));
        }
        if let Some(limit) = table.failure_limit {
            if limit == 0 {
                return Err(ServerError::Config(format!(
                    "{}: [server] failure_limit = 0 would throttle every client at its first \
                     mistake: set at least 1 (default {})",
                    path.display(),
                    FailureLimitPolicy::default().limit
                )));
            }
            config.failure_limit.limit = limit;
        }
        if let Some(secs) = table.failure_window_secs {
            config.failure_limit.window = Duration::from_secs(secs.max(1));
        }
        if let Some(max) = table.max_connections {
            if max == 0 {
                return Err(ServerError::Config(format!(
                    "{}: [server] max_connections = 0 would refuse every client: set at least 1",
                    path.display()
                )));
            }
            config.max_connections = max;
        }
        if let Some(rate) = table.timestamp_rate_per_sec {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(ServerError::Config(format!(
                    "{}: [server] timestamp_rate_per_sec = {rate} must be a positive number of \
                     time-stamps per second (unset the TSA's certificate to turn it off)",
                    path.display()
                )));
            }
            config.timestamp_rate = rate;
        }
        Ok(config)
    }

    /// Writes the configuration as `DATA/sigil.toml` (data_dir = "."): every key, with a
    /// comment saying what it does and its default; optional keys that are unset appear
    /// commented out.
    pub fn to_toml(&self) -> String {
        let d = Self::for_data_dir(".");
        let text = |value: &str| toml::Value::String(value.to_owned()).to_string();
        let float = |value: f64| toml::Value::Float(value).to_string();
        // Written by `sigil init` (docs/nodes.md): the server refuses a database that records
        // another deployment.
        let deployment = match &self.deployment_id {
            Some(id) => format!(
                "# The deployment this node belongs to (a PostgreSQL deployment's nodes share it).\n\
                 deployment_id = {}",
                text(id)
            ),
            None => {
                "# deployment_id: written by `sigil init` for a PostgreSQL deployment".to_owned()
            }
        };
        // Written by `sigil init --join` (docs/nodes.md).
        let node = match &self.node_id {
            Some(id) => format!(
                "# This node's id: it serves the listener certificate stored under it, if any.\n\
                 node_id = {}\n",
                text(id)
            ),
            None => String::new(),
        };
        let metrics = match self.metrics {
            Some(addr) => format!("metrics = {}", text(&addr.to_string())),
            None => "# metrics = \"127.0.0.1:9464\"".to_owned(),
        };
        let mut out = format!(
            "# Sigil server configuration (docs/server.md). Every key is optional; the comment \
             after each\n\
             # gives its default. Check a changed file with `sigil config check FILE`.\n\
             \n\
             [server]\n\
             # The data directory; relative paths are relative to this file. Default: \".\"\n\
             data_dir = \".\"\n\
             # Host API listener (mutual TLS). Default: {host_api}\n\
             host_api = {}\n\
             # HTTPS API and web console listener. Default: {https}\n\
             https = {}\n\
             # sqlite://FILE (relative to data_dir) or postgres://user@host/db. Default: {database}\n\
             database = {}\n\
             {deployment}\n\
             {node}\
             # Close a connection with no request in progress for this long. Default: {idle}\n\
             idle_timeout_secs = {}\n\
             # TLS handshake and first HTTPS request header, from TCP accept. Default: {header}\n\
             header_timeout_secs = {}\n\
             # A Host API frame must be complete this long after its first byte. Default: {frame}\n\
             frame_timeout_secs = {}\n\
             # An HTTPS request body must be complete this long after its header. Default: {body}\n\
             body_timeout_secs = {}\n\
             # Failed logins before an identity is locked (initial setting). Default: {lockout}\n\
             lockout_threshold = {}\n\
             # The first lock (identity or address); each next one is twice as long. Default: {lbase}\n\
             lockout_base_secs = {}\n\
             # The longest lock. Default: {lmax}\n\
             lockout_max_secs = {}\n\
             # Failed logins from one IP address before it is throttled. Default: {alimit}\n\
             address_failure_limit = {}\n\
             # Administrators log in over HTTPS only with their client certificate. Default: {acert}\n\
             admin_login_requires_certificate = {}\n\
             # NOT_PERMITTED refusals audited one by one per connection and identity per window. Default: {rlimit}\n\
             refused_audit_limit = {}\n\
             # The window of that audit budget (past it refusals are counted). Default: {rwindow}\n\
             refused_audit_window_secs = {}\n\
             # Failed HTTPS calls per address and identity, refused Host API commands per\n\
             # connection and identity, per window before they are throttled (429,\n\
             # TOO_MANY_FAILURES). Default: {flimit}\n\
             failure_limit = {}\n\
             # The window of that limit. Default: {fwindow}\n\
             failure_window_secs = {}\n\
             # Connections each listener serves at once. Default: {max}\n\
             max_connections = {}\n\
             # RFC 3161 time-stamp tokens per second at most. Default: {rate}\n\
             timestamp_rate_per_sec = {}\n\
             # Prometheus scrape listener (plain HTTP, no login: keep it on loopback).\n\
             # Default: none (off).\n\
             {metrics}\n",
            text(&self.host_api.to_string()),
            text(&self.https.to_string()),
            text(&self.database),
            self.idle_timeout.as_secs(),
            self.header_timeout.as_secs(),
            self.frame_timeout.as_secs(),
            self.body_timeout.as_secs(),
            self.lockout_threshold,
            self.lockout.base.as_secs(),
            self.lockout.max.as_secs(),
            self.lockout.address_limit,
            self.lockout.admin_requires_certificate,
            self.refusal_audit.limit,
            self.refusal_audit.window.as_secs(),
            self.failure_limit.limit,
            self.failure_limit.window.as_secs(),
            self.max_connections,
            float(self.timestamp_rate),
            host_api = text(&d.host_api.to_string()),
            https = text(&d.https.to_string()),
            database = text(&d.database),
            idle = d.idle_timeout.as_secs(),
            header = d.header_timeout.as_secs(),
            frame = d.frame_timeout.as_secs(),
            body = d.body_timeout.as_secs(),
            lockout = d.lockout_threshold,
            lbase = d.lockout.base.as_secs(),
            lmax = d.lockout.max.as_secs(),
            alimit = d.lockout.address_limit,
            acert = d.lockout.admin_requires_certificate,
            rlimit = d.refusal_audit.limit,
            rwindow = d.refusal_audit.window.as_secs(),
            flimit = d.failure_limit.limit,
            fwindow = d.failure_limit.window.as_secs(),
            max = d.max_connections,
            rate = float(d.timestamp_rate),
        );
        if self.hsms.is_empty() {
            out.push_str(HSM_EXAMPLE);
        } else {
            let sections = HsmSections {
                hsm: self.hsms.clone(),
            };
            out.push('\n');
            out.push_str(&toml::to_string(&sections).unwrap_or_default());
        }
        out
    }

    /// The database URL with a relative SQLite path resolved against the data directory.
    pub fn database_url(&self) -> String {
        match self.database.strip_prefix("sqlite://") {
            Some(file) if !Path::new(file).is_absolute() => {
                format!("sqlite://{}", self.data_dir.join(file).display())
            }
            _ => self.database.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::for_data_dir(dir.path());
        config.host_api = "127.0.0.1:19100".parse().unwrap();
        config.lockout_threshold = 3;
        config.max_connections = 10;
        config.timestamp_rate = 2.5;
        config.header_timeout = Duration::from_secs(7);
        config.frame_timeout = Duration::from_secs(9);
        config.body_timeout = Duration::from_secs(11);
        config.failure_limit = FailureLimitPolicy {
            limit: 7,
            window: Duration::from_secs(13),
        };
        let path = dir.path().join(CONFIG_FILE);
        std::fs::write(&path, config.to_toml()).unwrap();
        assert_eq!(ServerConfig::load(&path).unwrap(), config);
    }

    #[test]
    fn hsm_sections_round_trip_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        let hsm = "[[hsm]]\nname = \"hsm1\"\nmodule = \"/usr/lib/softhsm/libsofthsm2.so\"\n\
                   token_label = \"sigil\"\npin_env = \"SIGIL_HSM1_PIN\"\nsessions = 3\n";
        std::fs::write(&path, hsm).unwrap();
        let config = ServerConfig::load(&path).unwrap();
        assert_eq!(config.hsms.len(), 1);
        assert_eq!(config.hsms[0].name, "hsm1");
        assert_eq!(config.hsms[0].sessions, Some(3));
        std::fs::write(&path, config.to_toml()).unwrap();
        assert_eq!(ServerConfig::load(&path).unwrap(), config);

        std::fs::write(&path, format!("{hsm}{hsm}")).unwrap();
        let err = ServerConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("two [[hsm]] sections"), "{err}");
        std::fs::write(&path, hsm.replace("pin_env", "pin")).unwrap();
        assert!(ServerConfig::load(&path).is_err());
        std::fs::write(&path, hsm.replace("token_label = \"sigil\"\n", "")).unwrap();
        let err = ServerConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("token_label or slot"), "{err}");
    }

    #[test]
    fn the_template_names_every_key_and_uncommented_loads_as_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        let template = ServerConfig::for_data_dir(dir.path()).to_toml();
        for key in [
            "data_dir",
            "host_api",
            "https",
            "database",
            "idle_timeout_secs",
            "header_timeout_secs",
            "frame_timeout_secs",
            "body_timeout_secs",
            "lockout_threshold",
            "max_connections",
            "timestamp_rate_per_sec",
            "metrics",
            "[[hsm]]",
            "name",
            "module",
            "token_label",
            "pin_file",
            "sessions",
        ] {
            assert!(
                template.contains(&format!("\n{key} ")) || template.contains(&format!("# {key}")),
                "{key}:\n{template}"
            );
        }
        // Every commented-out line of the [server] table, uncommented, is a valid key.
        let uncommented = template.replace("# metrics = ", "metrics = ");
        std::fs::write(&path, &uncommented).unwrap();
        let mut expected = ServerConfig::for_data_dir(dir.path());
        expected.metrics = Some("127.0.0.1:9464".parse().unwrap());
        assert_eq!(ServerConfig::load(&path).unwrap(), expected);
        assert_eq!(ServerConfig::load(&path).unwrap().to_toml(), uncommented);
    }

    #[test]
    fn bad_address_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        std::fs::write(&path, "[server]\nhttps = \"nowhere\"\n").unwrap();
        let err = ServerConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("https"), "{err}");
    }

    #[test]
    fn zero_connections_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        std::fs::write(&path, "[server]\nmax_connections = 0\n").unwrap();
        let err = ServerError::to_string(&ServerConfig::load(&path).unwrap_err());
        assert!(err.contains("max_connections"), "{err}");
        std::fs::write(&path, "[server]\nfailure_limit = 0\n").unwrap();
        let err = ServerError::to_string(&ServerConfig::load(&path).unwrap_err());
        assert!(err.contains("failure_limit"), "{err}");
    }
}

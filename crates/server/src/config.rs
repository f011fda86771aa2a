//! Server configuration: the `[server]` table of `DATA/sigil.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sigil_custody::pkcs11::HsmConfig;
use sigil_domain::PasswordParams;

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
    /// Most connections each listener serves at once; one more is closed at accept.
    pub max_connections: usize,
    /// Time-stamp tokens issued per second at most (the route needs no login), on average;
    /// bursts up to one second's worth.
    pub timestamp_rate: f64,
    /// argon2id cost of new password hashes (not in the file: tests lower it).
    pub password_params: PasswordParams,
    /// The HSMs (`[[hsm]]` sections): PKCS#11 tokens that hold keys besides the sealed
    /// software keystore.
    pub hsms: Vec<HsmConfig>,
}

/// The file's shape (`[server]` table); every key optional.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    server: ServerTable,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    hsm: Vec<HsmConfig>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerTable {
    data_dir: Option<PathBuf>,
    host_api: Option<String>,
    https: Option<String>,
    database: Option<String>,
    deployment_id: Option<String>,
    idle_timeout_secs: Option<u64>,
    header_timeout_secs: Option<u64>,
    frame_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    lockout_threshold: Option<u32>,
    max_connections: Option<usize>,
    timestamp_rate_per_sec: Option<f64>,
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
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            frame_timeout: DEFAULT_FRAME_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            lockout_threshold: 5,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            timestamp_rate: DEFAULT_TIMESTAMP_RATE,
            password_params: PasswordParams::RECOMMENDED,
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
        if let Some(database) = table.database {
            config.database = database;
        }
        config.deployment_id = table.deployment_id;
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

    /// Writes the configuration as `DATA/sigil.toml` (data_dir = ".").
    pub fn to_toml(&self) -> String {
        let file = FileConfig {
            server: ServerTable {
                data_dir: Some(PathBuf::from(".")),
                host_api: Some(self.host_api.to_string()),
                https: Some(self.https.to_string()),
                database: Some(self.database.clone()),
                deployment_id: self.deployment_id.clone(),
                idle_timeout_secs: Some(self.idle_timeout.as_secs()),
                header_timeout_secs: Some(self.header_timeout.as_secs()),
                frame_timeout_secs: Some(self.frame_timeout.as_secs()),
                body_timeout_secs: Some(self.body_timeout.as_secs()),
                lockout_threshold: Some(self.lockout_threshold),
                max_connections: Some(self.max_connections),
                timestamp_rate_per_sec: Some(self.timestamp_rate),
            },
            hsm: self.hsms.clone(),
        };
        toml::to_string(&file).unwrap_or_default()
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
    }
}

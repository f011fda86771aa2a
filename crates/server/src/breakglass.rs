//! Break-glass actions on the data directory of a stopped server, for when no administrator
//! can log in (`sigil identity unlock NAME --data DIR`). They need the master key — the key
//! file of a development deployment, or M key components — so that access to the database
//! alone is not enough, and each is an audit event whose interface is `offline`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use sigil_domain::{AuditDraft, Change, Identity, IdentityName, Outcome};
use zeroize::Zeroizing;

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::server::{custody_record, open_with_key_file, unseal_with_components};

/// How long a connection attempt to a listener may take before it counts as "not running".
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Clears the lock and failure counter of identity `name`, with the server stopped.
///
/// `components` are the key components of a component-sealed deployment (empty for a
/// development one, whose key file is read). Refused when a listener of the configuration
/// accepts connections (a server is running: unlock through it, or stop it first).
pub async fn unlock_identity(
    config: &ServerConfig,
    name: &str,
    components: &[Zeroizing<String>],
) -> Result<Identity, ServerError> {
    ensure_stopped(config).await?;
    let name = IdentityName::new(name).map_err(|e| ServerError::State(e.to_string()))?;
    let store = if components.is_empty() {
        // Reads and checks the key file; a component-sealed deployment answers NeedsComponents.
        open_with_key_file(config).await?.0
    } else {
        let master = unseal_with_components(config, components).await?;
        let store = sigil_store::open(&config.database_url()).await?;
        custody_record(store.as_ref()).await?.verify(&master)?;
        store
    };
    let mut identity = store.get_identity(&name).await?.ok_or_else(|| {
        ServerError::NotFound(format!(
            "identity {name}: check the name (`sigil identity list` shows them while the server runs)"
        ))
    })?;
    let was_locked = identity.locked;
    identity.unlock();
    let now = time::OffsetDateTime::now_utc();
    let draft = AuditDraft::new(
        now.replace_nanosecond(0).unwrap_or(now),
        "identity.unlock",
        Outcome::Success,
    )
    .offline()
    .object(name.as_str())
    .detail("authorized_by", "master key")
    .detail("was_locked", if was_locked { "true" } else { "false" });
    store
        .commit(
            vec![Change::UpdateIdentity(Box::new(identity.clone()))],
            draft,
        )
        .await?;
    Ok(identity)
}

/// Refuses when either listener of `config` accepts a TCP connection.
async fn ensure_stopped(config: &ServerConfig) -> Result<(), ServerError> {
    for addr in [config.host_api, config.https] {
        let target = reachable(addr);
        let probe = tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(target));
        if let Ok(Ok(_)) = probe.await {
            return Err(ServerError::State(format!(
                "a server is running on {addr} with this data directory: unlock through it \
                 (`sigil identity unlock NAME` as an administrator), or stop it first"
            )));
        }
    }
    Ok(())
}

/// A listener bound to every address is reached on loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

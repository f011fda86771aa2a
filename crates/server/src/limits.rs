//! Process limits the server needs: enough file descriptors for its connections.
//!
//! Many systems start processes with a soft open-file limit of 1024 while allowing far more
//! (the hard limit). Each connection costs one descriptor, so the server raises its soft limit
//! to the hard limit at start and warns when the configured connection bound still does not
//! fit, instead of failing accepts with `EMFILE` under load.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept for the database, log files, key files and the listeners themselves.
const RESERVED_FDS: u64 = 128;

/// Raises the soft open-file limit to the hard limit and returns the soft limit in effect
/// (`None`: unlimited).
pub fn raise_open_file_limit() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => return limit.maximum,
            Err(e) => tracing::warn!("cannot raise the open-file limit to the hard limit: {e}"),
        }
    }
    limit.current
}

/// Warns when `listeners` listeners serving `max_connections` each may run out of descriptors.
pub(crate) fn check_connection_budget(max_connections: usize, listeners: usize) {
    let Some(available) = raise_open_file_limit() else {
        return;
    };
    let needed = (max_connections as u64)
        .saturating_mul(listeners as u64)
        .saturating_add(RESERVED_FDS);
    if needed > available {
        tracing::warn!(
            "max_connections = {max_connections} per listener needs about {needed} open files \
             but this process may open {available}: raise the limit (`ulimit -n`, LimitNOFILE= \
             in a systemd unit) or lower [server] max_connections in sigil.toml"
        );
    } else {
        tracing::info!(
            "open-file limit {available}, max_connections {max_connections} per listener"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_reaches_the_hard_limit() {
        let hard = getrlimit(Resource::Nofile).maximum;
        assert_eq!(raise_open_file_limit(), hard);
        assert_eq!(getrlimit(Resource::Nofile).current, hard);
    }
}

//! `sigil config check FILE` and `sigil config template`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use sigil_server::ServerConfig;

use crate::exit;

/// `sigil config` options.
#[derive(Args, Debug)]
pub(crate) struct ConfigArgs {
    #[command(subcommand)]
    action: ConfigAction,
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Check a server configuration file (unknown keys and bad values are refused) and print
    /// the settings it resolves to.
    Check {
        /// The file (sigil.toml).
        file: PathBuf,
    },
    /// Print a commented sigil.toml with every key at its default.
    Template,
}

pub(crate) fn config(args: ConfigArgs) -> Result<u8> {
    match args.action {
        ConfigAction::Check { file } => {
            let config = ServerConfig::load(&file).map_err(|e| exit::usage(e.to_string()))?;
            out!("{}: valid", file.display());
            out!("  data directory: {}", config.data_dir.display());
            out!("  Host API {} · HTTPS {}", config.host_api, config.https);
            match config.metrics {
                Some(addr) => out!("  metrics on http://{addr}/metrics"),
                None => out!("  metrics off"),
            }
            // Only the kind: a postgres:// URL may carry a password.
            let kind = config.database.split("://").next().unwrap_or_default();
            out!("  database: {kind}");
            for hsm in &config.hsms {
                out!("  HSM {} ({})", hsm.name, hsm.module.display());
            }
            Ok(exit::OK)
        }
        ConfigAction::Template => {
            out!("{}", ServerConfig::for_data_dir(".").to_toml().trim_end());
            Ok(exit::OK)
        }
    }
}

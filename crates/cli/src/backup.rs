//! `sigil backup` and `sigil restore` (the work is in `sigil_server::backup`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use sigil_custody::danger::InsecureDevKeyFile;
use sigil_custody::{CustodyRecord, CustodyScheme, MasterKey, Unsealer};
use sigil_server::backup::{RestoreOptions, backup, inspect, restore};
use sigil_server::{ServerConfig, ServerError};
use zeroize::Zeroizing;

use crate::exit;
use crate::serve::prompt_components;

/// Largest backup file `restore` reads (it is held in memory while it is checked).
const MAX_BACKUP_LEN: u64 = 8 << 30;

/// `sigil backup` options.
#[derive(Args, Debug)]
pub(crate) struct BackupArgs {
    /// Data directory of the deployment (its sigil.toml names the database).
    #[arg(long, conflicts_with = "config", required_unless_present = "config")]
    data: Option<PathBuf>,
    /// The deployment's configuration file (sigil.toml), instead of --data.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The backup file to write (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// A file holding one key component (SKC1-…); repeat M times. Without it, components are
    /// asked for on the terminal when the master key is split into components.
    #[arg(long = "component-file")]
    component_files: Vec<PathBuf>,
}

/// `sigil restore` options.
#[derive(Args, Debug)]
pub(crate) struct RestoreArgs {
    /// The backup file.
    #[arg(long = "in")]
    input: PathBuf,
    /// The new data directory (must be missing or empty).
    #[arg(long)]
    data: PathBuf,
    /// Database of the restored deployment (must hold no deployment), e.g.
    /// postgres://sigil@db/sigil. Default: the backup's (a SQLite file in --data).
    #[arg(long)]
    database: Option<String>,
    /// The development master key file of the deployment that made the backup.
    #[arg(long, conflicts_with = "component_files")]
    key_file: Option<PathBuf>,
    /// A file holding one key component (SKC1-…); repeat M times. Without it, components are
    /// asked for on the terminal.
    #[arg(long = "component-file")]
    component_files: Vec<PathBuf>,
}

pub(crate) async fn run_backup(args: BackupArgs) -> Result<u8> {
    let config_path = match (&args.config, &args.data) {
        (Some(config), _) => config.clone(),
        (None, Some(data)) => data.join("sigil.toml"),
        (None, None) => return Err(exit::usage("give --data DIR or --config FILE")),
    };
    let config = ServerConfig::load(&config_path).map_err(|e| {
        exit::usage(format!(
            "{}: not the configuration of a Sigil deployment: {e}",
            config_path.display()
        ))
    })?;
    let master = if args.component_files.is_empty() {
        match sigil_server::server::open_with_key_file(&config).await {
            Ok((_, master)) => master,
            Err(e @ ServerError::NeedsComponents { .. }) if std::io::stdin().is_terminal() => {
                eprintln!("{e}");
                unseal(&config, &prompt_components()?).await?
            }
            Err(e @ ServerError::NeedsComponents { .. }) => {
                return Err(exit::usage(format!(
                    "{e}: give each with --component-file FILE, or run on a terminal to type them"
                )));
            }
            Err(e) => return Err(e).context("cannot read the master key"),
        }
    } else {
        unseal(&config, &read_components(&args.component_files)?).await?
    };
    let report = backup(&config, &master, &args.out)
        .await
        .with_context(|| format!("cannot back up into {}", args.out.display()))?;
    out!(
        "Backup written: {} ({} bytes, encrypted under master key {})",
        report.file.display(),
        report.bytes,
        report.master_key_id
    );
    out!(
        "  database: {} rows, {} audit events; files: {}",
        report.rows,
        report.audit_events,
        report.files.join(", ")
    );
    out!("  Keep the master key's components (or key file) apart from it: restore needs them.");
    Ok(exit::OK)
}

pub(crate) async fn run_restore(args: RestoreArgs) -> Result<u8> {
    let file = read_backup(&args.input)?;
    let info = inspect(&file).with_context(|| format!("cannot read {}", args.input.display()))?;
    out!(
        "Backup of {} made {} ({}), master key {} (check value {})",
        args.input.display(),
        info.created,
        info.engine,
        info.master_key_id,
        info.master_kcv
    );
    let master = restore_key(&args, &info.custody)?;
    let options = RestoreOptions {
        data_dir: args.data.clone(),
        database: args.database.clone(),
    };
    let report = restore(&file, &options, &master)
        .await
        .with_context(|| format!("cannot restore into {}", args.data.display()))?;
    out!(
        "Restored into {} (database {}); audit event {} backup.restored continues the chain.",
        report.data_dir.display(),
        report.database,
        report.event.seq
    );
    out!(
        "  Start it with: sigil server --data {}",
        report.data_dir.display()
    );
    Ok(exit::OK)
}

/// The master key for `restore`, checked against the backup's custody record.
fn restore_key(args: &RestoreArgs, record: &CustodyRecord) -> Result<MasterKey> {
    match (record.scheme(), &args.key_file) {
        (CustodyScheme::DevKeyFile, Some(path)) => {
            let (master, _) = InsecureDevKeyFile::load(path, record).with_context(|| {
                format!("{} is not the master key of this backup", path.display())
            })?;
            Ok(master)
        }
        (CustodyScheme::DevKeyFile, None) => Err(exit::usage(
            "the backed-up deployment keeps its master key in a development key file: give it \
             with --key-file FILE (the master.key of the original data directory)",
        )),
        (_, Some(_)) => Err(exit::usage(
            "the backed-up deployment's master key is split into key components: give them \
             with --component-file FILE (or type them), not --key-file",
        )),
        (_, None) => {
            let components = if !args.component_files.is_empty() {
                read_components(&args.component_files)?
            } else if std::io::stdin().is_terminal() {
                prompt_components()?
            } else {
                return Err(exit::usage(
                    "the backed-up deployment's master key is split into key components: give \
                     each with --component-file FILE, or run on a terminal to type them",
                ));
            };
            let mut unsealer = Unsealer::new(record).context("cannot unseal")?;
            for component in &components {
                let progress = unsealer
                    .add_component(component)
                    .context("this key component does not belong to the backup's master key")?;
                eprintln!("{progress}");
            }
            unsealer
                .finish()
                .context("cannot rebuild the backup's master key from these components")
        }
    }
}

async fn unseal(config: &ServerConfig, components: &[Zeroizing<String>]) -> Result<MasterKey> {
    sigil_server::server::unseal_with_components(config, components)
        .await
        .context("cannot unseal the master key with these components")
}

fn read_components(files: &[PathBuf]) -> Result<Vec<Zeroizing<String>>> {
    files
        .iter()
        .map(|f| sigil_client::profile::read_secret_file(f).map_err(Into::into))
        .collect()
}

fn read_backup(path: &Path) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read the backup file {}", path.display()))?
        .len();
    if len > MAX_BACKUP_LEN {
        return Err(exit::usage(format!(
            "{} is {len} bytes, larger than any backup this Sigil writes",
            path.display()
        )));
    }
    std::fs::read(path).with_context(|| format!("cannot read the backup file {}", path.display()))
}

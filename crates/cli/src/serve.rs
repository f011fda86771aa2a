//! `sigil server`, `sigil init` and `sigil quickstart`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use sigil_server::{
    InitOptions, InitReport, JoinOptions, MasterKeySource, ServerConfig, ServerError,
};
use zeroize::Zeroizing;

use crate::exit;

/// Default data directory.
const DEFAULT_DATA: &str = "./sigil-data";

/// `sigil server` options.
#[derive(Args, Debug)]
pub(crate) struct ServerArgs {
    /// Data directory (initialised first when empty or missing).
    #[arg(long, conflicts_with = "config")]
    data: Option<PathBuf>,
    /// Server configuration file (sigil.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// A file holding one key component (SKC1-…); repeat M times for a deployment whose
    /// master key is split into components. Without it, components are asked for on the
    /// terminal when the deployment needs them.
    #[arg(long = "component-file")]
    component_files: Vec<PathBuf>,
}

/// `sigil init` options.
#[derive(Args, Debug)]
pub(crate) struct InitArgs {
    /// The new data directory (must be missing or empty).
    #[arg(long, default_value = DEFAULT_DATA)]
    data: PathBuf,
    /// Extra DNS name or IP for the listener certificates (repeat for several). With --join:
    /// the node's own names, for its own listener certificate (docs/nodes.md).
    #[arg(long = "hostname")]
    hostnames: Vec<String>,
    /// Split the master key into N key components, any M of which unseal the server
    /// (M/N, e.g. 2/3). Without it a development key file is written.
    #[arg(long, value_parser = parse_components)]
    components: Option<(u8, u8)>,
    /// Host API listener address.
    #[arg(long)]
    host_api: Option<SocketAddr>,
    /// HTTPS listener address.
    #[arg(long)]
    https: Option<SocketAddr>,
    /// PostgreSQL URL for a deployment of several nodes (postgres://USER@HOST:PORT/DB): the
    /// database must be empty (or, with --join, hold the deployment). The password is never
    /// taken from the command line: it comes from PGPASSWORD or ~/.pgpass (see docs/nodes.md).
    #[arg(long)]
    database: Option<String>,
    /// Add a node to the existing deployment in --database instead of creating one.
    #[arg(long, requires = "database", conflicts_with = "components")]
    join: bool,
    /// With --join, for a deployment with a development key file: a copy of its master.key.
    #[arg(long, requires = "join")]
    master_key_file: Option<PathBuf>,
    /// With --join --hostname, for a deployment whose master key is split into components: a
    /// file holding one key component (SKC1-…); repeat M times. Without it, components are
    /// asked for on the terminal.
    #[arg(long = "component-file", requires = "join")]
    component_files: Vec<PathBuf>,
}

/// `sigil quickstart` options.
#[derive(Args, Debug)]
pub(crate) struct QuickstartArgs {
    /// Data directory (created when missing; reused when it is a Sigil data directory).
    #[arg(long, default_value = DEFAULT_DATA)]
    data: PathBuf,
    /// Only provision and print the instructions; do not run the server.
    #[arg(long)]
    no_server: bool,
    /// Host API listener address (used when this run initialises the data directory).
    #[arg(long)]
    host_api: Option<SocketAddr>,
    /// HTTPS listener address (used when this run initialises the data directory).
    #[arg(long)]
    https: Option<SocketAddr>,
}

fn parse_components(text: &str) -> Result<(u8, u8), String> {
    let (m, n) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?}: write M/N, e.g. 2/3"))?;
    let m: u8 = m
        .parse()
        .map_err(|_| format!("{text:?}: M is not a number"))?;
    let n: u8 = n
        .parse()
        .map_err(|_| format!("{text:?}: N is not a number"))?;
    if m == 0 || m > n {
        return Err(format!("{text:?}: need 1 ≤ M ≤ N"));
    }
    Ok((m, n))
}

fn print_init_report(report: &InitReport) {
    out!("Initialised {}", report.data_dir.display());
    out!("  configuration:  {}", report.config_file.display());
    out!(
        "  TLS root CA:    {} (clients pin this)",
        report.root_ca.display()
    );
    out!("  admin profile:  {}", report.admin_profile.display());
    for (name, file) in report.admin_names.iter().zip(&report.admin_password_files) {
        out!(
            "  administrator {name}: password in {} (mode 0600)",
            file.display()
        );
    }
    out!(
        "  master key id {} (check value {})",
        report.master_key_id,
        report.master_kcv
    );
    if let Some(file) = &report.master_key_file {
        out!(
            "  WARNING: development master key file {} — for production use --components M/N",
            file.display()
        );
    }
    for c in &report.key_components {
        out!(
            "  key component {} (any {} unseal; check value {}): {}",
            c.index,
            c.threshold,
            c.kcv,
            c.text.as_str()
        );
    }
    if !report.key_components.is_empty() {
        out!("  Give each component to its custodian now: they are not stored anywhere.");
    }
    out!("  Host API {} · HTTPS {}", report.host_api, report.https);
}

/// Refuses a database URL that carries a password: it would be visible to every user of the
/// machine (process list) and written into sigil.toml.
fn check_database_url(url: &str) -> Result<()> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        bail!(
            "--database: give a PostgreSQL URL like postgres://sigil@db.internal:5432/sigil (without --database, init creates SQLite in the data directory)"
        );
    }
    let authority = url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or_default())
        .unwrap_or_default();
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    if authority
        .rsplit_once('@')
        .is_some_and(|(user, _)| user.contains(':'))
        || query
            .split('&')
            .any(|pair| pair.to_ascii_lowercase().starts_with("password="))
    {
        bail!(
            "--database: the URL carries a password, which would be visible in the process list \
             and written into sigil.toml: remove it from the URL and give it in PGPASSWORD or \
             ~/.pgpass (see docs/nodes.md)"
        );
    }
    Ok(())
}

pub(crate) async fn init(args: InitArgs) -> Result<u8> {
    if let Some(url) = &args.database {
        check_database_url(url)?;
    }
    if args.join {
        return join(args).await;
    }
    let mut options = InitOptions::new(&args.data);
    if let Some(url) = &args.database {
        options.database = url.clone();
    }
    options.hostnames = args.hostnames;
    if let Some((threshold, count)) = args.components {
        options.master_key = MasterKeySource::Components { threshold, count };
    }
    if let Some(a) = args.host_api {
        options.host_api = a;
    }
    if let Some(a) = args.https {
        options.https = a;
    }
    let report = sigil_server::init(&options)
        .await
        .with_context(|| format!("cannot initialise {}", args.data.display()))?;
    print_init_report(&report);
    Ok(exit::OK)
}

async fn join(args: InitArgs) -> Result<u8> {
    let defaults = ServerConfig::for_data_dir(".");
    let mut components = Vec::new();
    for file in &args.component_files {
        components.push(sigil_client::profile::read_secret_file(file)?);
    }
    let mut options = JoinOptions {
        data_dir: args.data.clone(),
        database: args.database.unwrap_or_default(),
        host_api: args.host_api.unwrap_or(defaults.host_api),
        https: args.https.unwrap_or(defaults.https),
        master_key_file: args.master_key_file,
        hostnames: args.hostnames,
        components,
    };
    let joined = match sigil_server::join(&options).await {
        Err(ServerError::NeedsComponents { threshold, count })
            if std::io::stdin().is_terminal() =>
        {
            eprintln!(
                "this node's own certificate is issued by the deployment's TLS CA, which the \
                 master key opens: type {threshold} of the {count} key components"
            );
            options.components = prompt_components()?;
            sigil_server::join(&options).await
        }
        Err(e @ ServerError::NeedsComponents { .. }) => {
            return Err(exit::usage(format!(
                "{e}: this node's own certificate is issued by the deployment's TLS CA; give \
                 each component with --component-file FILE, or run this on a terminal to type \
                 them (or join without --hostname to serve the deployment's certificate)"
            )));
        }
        other => other,
    };
    let report = joined.with_context(|| format!("cannot add a node in {}", args.data.display()))?;
    out!(
        "Added a node of deployment {} in {}",
        report.deployment_id,
        args.data.display()
    );
    out!("  configuration:  {}", report.config_file.display());
    out!("  TLS root CA:    {}", report.root_ca.display());
    out!("  node id:        {}", report.node_id);
    if report.names.is_empty() {
        out!("  listener certificate: the deployment's (no --hostname given)");
    } else {
        out!(
            "  listener certificate: this node's own, for {}",
            report.names.join(", ")
        );
    }
    if report.needs_components {
        out!("  The custodians unseal this node at start with their key components.");
    }
    out!(
        "  Start it with: sigil server --data {}",
        args.data.display()
    );
    Ok(exit::OK)
}

pub(crate) async fn server(args: ServerArgs) -> Result<u8> {
    let config_path = match (&args.config, &args.data) {
        (Some(config), _) => config.clone(),
        (None, data) => {
            let data = data.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
            let config = data.join("sigil.toml");
            if !config.is_file() {
                if !sigil_server::init::is_empty_dir(&data)? {
                    return Err(exit::usage(format!(
                        "{} is not empty and has no sigil.toml: give the data directory of a \
                         deployment, or an empty one to initialise",
                        data.display()
                    )));
                }
                let report = sigil_server::init(&InitOptions::new(&data))
                    .await
                    .with_context(|| format!("cannot initialise {}", data.display()))?;
                print_init_report(&report);
            }
            config
        }
    };
    let config = ServerConfig::load(&config_path)
        .map_err(|e| exit::usage(format!("{}: {e}", config_path.display())))?;
    run_server(config, &args.component_files).await
}

async fn run_server(config: ServerConfig, component_files: &[PathBuf]) -> Result<u8> {
    let running = if component_files.is_empty() {
        match sigil_server::start(config.clone()).await {
            Ok(r) => r,
            Err(e @ ServerError::NeedsComponents { .. }) if std::io::stdin().is_terminal() => {
                eprintln!("{e}");
                let components = prompt_components()?;
                start_with_components(config, &components).await?
            }
            Err(e @ ServerError::NeedsComponents { .. }) => {
                return Err(exit::usage(format!(
                    "{e}: give each with --component-file FILE, or start the server on a \
                     terminal to type them"
                )));
            }
            Err(e) => return Err(e).context("cannot start the server"),
        }
    } else {
        let mut components = Vec::new();
        for file in component_files {
            components.push(sigil_client::profile::read_secret_file(file)?);
        }
        start_with_components(config, &components).await?
    };
    // Before the line below: a SIGTERM sent on reading it must stop the server cleanly.
    let signals = sigil_server::StopSignals::install();
    out!(
        "Sigil is running: Host API on {} · HTTPS on {} (Ctrl-C to stop)",
        running.host_api_addr(),
        running.https_addr()
    );
    running.run_until_signal(signals).await;
    out!("Sigil stopped.");
    Ok(exit::OK)
}

async fn start_with_components(
    config: ServerConfig,
    components: &[Zeroizing<String>],
) -> Result<sigil_server::RunningServer> {
    let master = sigil_server::server::unseal_with_components(&config, components)
        .await
        .context("cannot unseal the master key with these components")?;
    sigil_server::server::start_with_master_key(config, master)
        .await
        .context("cannot start the server")
}

/// `sigil identity unlock NAME --data DIR`: break-glass unlock on a stopped server's data
/// directory, authorised by the master key (key file, or components from files or a prompt).
pub(crate) async fn offline_unlock(
    name: &str,
    data: &Path,
    component_files: &[PathBuf],
) -> Result<u8> {
    let config_path = data.join(sigil_server::config::CONFIG_FILE);
    let config = ServerConfig::load(&config_path).map_err(|e| {
        exit::usage(format!(
            "{}: {e}: give the data directory of a deployment",
            config_path.display()
        ))
    })?;
    let mut components = Vec::new();
    for file in component_files {
        components.push(sigil_client::profile::read_secret_file(file)?);
    }
    let unlocked = match sigil_server::breakglass::unlock_identity(&config, name, &components).await
    {
        Err(e @ ServerError::NeedsComponents { .. })
            if components.is_empty() && std::io::stdin().is_terminal() =>
        {
            eprintln!("{e}");
            let components = prompt_components()?;
            sigil_server::breakglass::unlock_identity(&config, name, &components).await
        }
        Err(e @ ServerError::NeedsComponents { .. }) if components.is_empty() => {
            return Err(exit::usage(format!(
                "{e}: give each with --component-file FILE, or run this on a terminal to type them"
            )));
        }
        other => other,
    };
    let identity = unlocked.with_context(|| format!("cannot unlock identity {name}"))?;
    out!(
        "Unlocked identity {} in {} (audit event identity.unlock, interface offline)",
        identity.name,
        data.display()
    );
    Ok(exit::OK)
}

pub(crate) fn prompt_components() -> Result<Vec<Zeroizing<String>>> {
    let mut components = Vec::new();
    loop {
        let text = rpassword::prompt_password(format!(
            "key component {} (empty line when done): ",
            components.len() + 1
        ))
        .context("cannot read a key component")?;
        if text.trim().is_empty() {
            break;
        }
        components.push(Zeroizing::new(text.trim().to_owned()));
    }
    Ok(components)
}

pub(crate) async fn quickstart(args: QuickstartArgs) -> Result<u8> {
    let mut options = InitOptions::new(&args.data);
    if let Some(a) = args.host_api {
        options.host_api = a;
    }
    if let Some(a) = args.https {
        options.https = a;
    }
    let report = sigil_server::quickstart::provision_with(&options)
        .await
        .with_context(|| format!("cannot provision the quickstart in {}", args.data.display()))?;
    if let Some(init) = &report.init {
        print_init_report(init);
    }
    print_quickstart(&report, &args.data);
    if args.no_server {
        return Ok(exit::OK);
    }
    let config = ServerConfig::load(&report.config_file)
        .map_err(|e| exit::usage(format!("{}: {e}", report.config_file.display())))?;
    run_server(config, &[]).await
}

fn print_quickstart(report: &sigil_server::quickstart::QuickstartReport, data: &Path) {
    // The commands name this very binary: after `cargo run -- quickstart` no `sigil` is on
    // the PATH, and every printed command must work when pasted as it is.
    let sigil = std::env::current_exe()
        .map(|exe| quote(&exe))
        .unwrap_or_else(|_| "sigil".to_owned());
    let jenkins = quote(&report.jenkins_profile);
    let approver = quote(&report.approver_profile);
    let admin = quote(&report.admin_profile);
    out!();
    out!("Quickstart ready in {}.", data.display());
    out!("  policies: {}", report.policies.join(", "));
    out!("  CI profile:       {}", report.jenkins_profile.display());
    out!("  approver profile: {}", report.approver_profile.display());
    out!();
    out!("The profiles read their secrets from files next to them (the CI profile an API key,");
    out!("jenkins.api-key); to use the environment instead (as a CI job would), remove");
    out!("password_file / pkcs12_password_file and:");
    out!();
    out!(
        "  export SIGIL_PASSWORD={}",
        quote_str(report.jenkins_api_key.as_str())
    );
    out!(
        "  export SIGIL_P12_PASSWORD={}",
        quote_str(report.jenkins_p12_password.as_str())
    );
    out!();
    out!(
        "In another terminal (same directory), sign a file at once (policy release, no approval):"
    );
    out!();
    out!("  echo hello > hello.txt");
    out!("  {sigil} sign --profile {jenkins} --policy release hello.txt");
    out!("  {sigil} policies --profile {jenkins} show release --chain-out chain.pem");
    out!("  openssl x509 -in chain.pem -pubkey -noout > release.pub");
    out!("  openssl dgst -sha256 -verify release.pub -signature hello.txt.sig hello.txt");
    out!();
    out!("Sign with an approval (policy release-approved): the first command waits;");
    out!("approve from a third terminal:");
    out!();
    out!("  {sigil} sign --profile {jenkins} --policy release-approved --wait 10m hello.txt");
    out!("  {sigil} request list --profile {approver} --state pending");
    out!("  {sigil} request approve --profile {approver} REQUEST_ID --comment 'looks good'");
    out!();
    out!(
        "or in the web console, https://localhost:{}/ (trust {}), as approver",
        report.https.port(),
        report.root_ca.display()
    );
    out!(
        "with the password in {}.",
        report.approver_password_file.display()
    );
    out!();
    out!("Time-stamping authority (RFC 3161, for jarsigner -tsa, osslsigncode -ts, signtool /tr):");
    out!("  {}", report.timestamp_url);
    out!();
    out!("Administration (two administrators log in on one session):");
    out!("  {sigil} identity list --profile {admin}");
    out!("  {sigil} audit verify --data {}", quote(data));
    out!();
    out!("(`cargo install --path crates/cli` puts `sigil` on the PATH for good.)");
    out!();
}

/// `path` as one POSIX shell word.
fn quote(path: &Path) -> String {
    quote_str(&path.to_string_lossy())
}

/// `text` as one POSIX shell word: unchanged when it holds only characters no shell
/// interprets, else in single quotes.
fn quote_str(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::{check_database_url, quote_str};

    #[test]
    fn quoting_keeps_plain_words_and_quotes_the_rest() {
        assert_eq!(quote_str("/usr/bin/sigil"), "/usr/bin/sigil");
        assert_eq!(quote_str("a b"), "'a b'");
        assert_eq!(quote_str("it's"), "'it'\\''s'");
        assert_eq!(quote_str(""), "''");
        assert_eq!(quote_str("$HOME"), "'$HOME'");
    }

    #[test]
    fn database_urls_with_a_password_are_refused() {
        assert!(check_database_url("postgres://sigil@db:5432/sigil").is_ok());
        assert!(check_database_url("postgresql://db/sigil?sslmode=verify-full").is_ok());
        for bad in [
            "postgres://sigil:secret@db/sigil",
            "postgres://db/sigil?sslmode=require&password=secret",
            "sqlite://sigil.db",
        ] {
            let error = check_database_url(bad).unwrap_err().to_string();
            assert!(!error.contains("secret"), "{error}");
        }
    }
}

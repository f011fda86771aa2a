//! `sigil`: the code-signing server and its command-line client.
//!
//! `sigil server|init|quickstart` run and set up a server, `sigil backup|restore` save and
//! restore one; `sigil sign|policies` talk to the
//! Host API with a client profile; `sigil request|identity|role|…|audit` use the HTTPS API
//! with a profile whose identities are logged in on one session (dual control); `sigil
//! verify` checks signatures locally. Exit codes: see [`exit`] and `docs/cli.md`.

/// `println!` that ignores a closed standard output (`sigil … | head` must not panic).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod admin;
mod backup;
mod bench;
mod config;
mod exit;
mod keys;
mod logs;
mod release;
mod serve;
mod shell;
mod sign;
mod timestamp;
mod verify;
mod verify_manifest;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// mimalloc instead of glibc malloc: under load the server allocates on one tokio worker and
/// frees on another, and glibc's per-thread arenas then keep freed memory (measured: a 24 MB
/// peak heap left the process at 450+ MB RSS after a few hundred thousand requests).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long an idle thread of the server's blocking pool lives (see `main`).
const BLOCKING_THREAD_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(2);

/// Sigil: a self-hosted code-signing server and its client.
#[derive(Parser, Debug)]
#[command(name = "sigil", version, about, propagate_version = true)]
struct Cli {
    /// Log lines as text or as JSON objects (one per line); the level comes from RUST_LOG.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        env = "SIGIL_LOG_FORMAT"
    )]
    log_format: logs::LogFormat,
    #[command(subcommand)]
    command: Action,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Run the server (initialises an empty data directory first).
    Server(serve::ServerArgs),
    /// Create a new deployment: database, master key, TLS CA, administrators.
    Init(serve::InitArgs),
    /// Check a server configuration file, or print a commented template.
    Config(config::ConfigArgs),
    /// Create a ready-to-try demonstration (CI identity, approver, policies) and run the server.
    Quickstart(serve::QuickstartArgs),
    /// Sign files through the Host API.
    Sign(sign::SignArgs),
    /// List the signing policies of a profile, or show one and save its certificate chain.
    Policies(sign::PoliciesArgs),
    /// Verify a signed file locally (Authenticode, JAR, or a raw signature).
    Verify(verify::VerifyArgs),
    /// Signing requests: list, show, approve, deny (HTTPS API).
    Request(admin::RequestArgs),
    /// Releases (several files, one decision): list, show, approve, deny (HTTPS API).
    Release(release::ReleaseArgs),
    /// Identities (HTTPS API, administrators).
    Identity(admin::IdentityArgs),
    /// Roles (HTTPS API, administrators).
    Role(admin::ResourceArgs),
    /// Approval groups (HTTPS API, administrators).
    Group(admin::ResourceArgs),
    /// Issuance policies (HTTPS API, administrators).
    Policy(admin::ResourceArgs),
    /// Certificate authorities (HTTPS API, administrators).
    Ca(admin::CaArgs),
    /// Certificates (HTTPS API, administrators).
    Cert(admin::CertArgs),
    /// Keys Sigil holds: create, list, CSR, import from PKCS#12 (HTTPS API, administrators).
    Key(keys::KeyArgs),
    /// Enable or disable Host API commands (HTTPS API, administrators).
    Command(admin::CommandArgs),
    /// Server settings (HTTPS API, administrators).
    Settings(admin::SettingsArgs),
    /// Listener TLS certificates: CSR, then load the signed chain (no restart).
    Listener(admin::ListenerArgs),
    /// The audit log: list, export as JSON lines, verify the hash chain (online or offline).
    Audit(admin::AuditArgs),
    /// Print a shell completion script (bash, zsh, fish): `source <(sigil completions bash)`.
    Completions(shell::CompletionsArgs),
    /// Print the man page sigil(1), or write every page with --dir.
    Man(shell::ManArgs),
    /// Print the OpenAPI 3.1 document of the HTTPS API (as served at /api/v1/openapi.json).
    Openapi,
    /// Write one encrypted backup file of a deployment (database and data directory), while it runs.
    Backup(backup::BackupArgs),
    /// Make a new deployment from a backup file (asks for the master key).
    Restore(backup::RestoreArgs),
    /// Load generator for the Host API (hash signing, pipelined, many connections).
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let server_command = matches!(
        cli.command,
        Action::Server(_) | Action::Init(_) | Action::Quickstart(_)
    );
    logs::init(cli.log_format, if server_command { "info" } else { "warn" });
    // A client command makes one connection at a time: one thread is enough, and starting a
    // worker per core is start-up time every `sigil sign` in a CI job pays.
    let mut builder = if server_command
        || matches!(
            cli.command,
            Action::Bench(_) | Action::Backup(_) | Action::Restore(_)
        ) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    if server_command {
        // Threads of the blocking pool (signatures, password checks, HSM calls) that idle
        // this long end, and their stacks and allocator pages go back to the system: after a
        // burst of RSA or HSM requests the pool held 40 to 160 threads for Tokio's default
        // 10 s.
        builder.thread_keep_alive(BLOCKING_THREAD_KEEP_ALIVE);
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::OTHER);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(exit::code_of(&error))
        }
    }
}

async fn run(command: Action) -> anyhow::Result<u8> {
    match command {
        Action::Server(args) => serve::server(args).await,
        Action::Init(args) => serve::init(args).await,
        Action::Quickstart(args) => serve::quickstart(args).await,
        Action::Config(args) => config::config(args),
        Action::Sign(args) => sign::sign(args).await,
        Action::Policies(args) => sign::policies(args).await,
        Action::Verify(args) => verify::verify(args),
        Action::Request(args) => admin::request(args).await,
        Action::Release(args) => release::release(args).await,
        Action::Identity(args) => admin::identity(args).await,
        Action::Role(args) => admin::resource::<sigil_api::admin::RoleView>("roles", args).await,
        Action::Group(args) => admin::resource::<sigil_api::admin::GroupView>("groups", args).await,
        Action::Policy(args) => {
            admin::resource::<sigil_api::admin::PolicyView>("policies", args).await
        }
        Action::Ca(args) => admin::ca(args).await,
        Action::Cert(args) => admin::cert(args).await,
        Action::Key(args) => keys::key(args).await,
        Action::Command(args) => admin::command(args).await,
        Action::Settings(args) => admin::settings(args).await,
        Action::Listener(args) => admin::listener(args).await,
        Action::Audit(args) => admin::audit(args).await,
        Action::Completions(args) => shell::completions(&args, Cli::command()),
        Action::Man(args) => shell::man(&args, Cli::command()),
        Action::Openapi => shell::openapi(),
        Action::Backup(args) => backup::run_backup(args).await,
        Action::Restore(args) => backup::run_restore(args).await,
        Action::Bench(args) => bench::execute(&args).await.map(|()| exit::OK),
    }
}

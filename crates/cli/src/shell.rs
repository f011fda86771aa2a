//! `sigil completions SHELL` and `sigil man`: generated from the clap definitions, so they
//! never drift from the real flags; `sigil openapi`: the HTTPS API's OpenAPI document,
//! generated from the server's routes and body types.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use clap_complete::Shell;

use crate::exit;

/// `sigil completions` options.
#[derive(Args, Debug)]
pub(crate) struct CompletionsArgs {
    /// The shell: bash, zsh, fish (also elvish, powershell).
    shell: Shell,
}

/// `sigil man` options.
#[derive(Args, Debug)]
pub(crate) struct ManArgs {
    /// Write one page per subcommand (sigil.1, sigil-sign.1, …) into this directory instead
    /// of printing sigil.1.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell`. Load it with e.g.
/// `source <(sigil completions bash)`.
pub(crate) fn completions(args: &CompletionsArgs, mut command: clap::Command) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "sigil", &mut out);
    Ok(exit::OK)
}

/// Prints `sigil.1`, or writes every page into `--dir`.
pub(crate) fn man(args: &ManArgs, command: clap::Command) -> Result<u8> {
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
            out!("man pages written to {}", dir.display());
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .context("cannot render the man page")?;
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`sigil man | head`) is not an error.
            let _ = std::io::Write::write_all(&mut stdout, &page);
        }
    }
    Ok(exit::OK)
}

/// Prints the OpenAPI 3.1 document of the HTTPS API: `docs/openapi.json` is this output, and
/// `sigil openapi > docs/openapi.json` regenerates it after a change of the API.
pub(crate) fn openapi() -> Result<u8> {
    let json = sigil_server::openapi_json().context("cannot write the OpenAPI document")?;
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`sigil openapi | head`) is not an error.
    let _ = std::io::Write::write_all(&mut stdout, json.as_bytes());
    Ok(exit::OK)
}

//! List the Host API commands and whether each is enabled.

use std::collections::BTreeSet;

use sigil_domain::{CommandCode, Permission};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::state::AppState;

/// Needs `admin:commands`.
pub const OPERATION: Operation =
    Operation::new("command.list", Need::AnyOf(&[Permission::AdminCommands]));

/// `known` lists the commands the server implements; enabled codes the server does not know
/// are listed too.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    known: &[CommandCode],
) -> Result<Vec<(CommandCode, bool)>, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    let enabled = state.store.enabled_commands().await?;
    let mut all: BTreeSet<CommandCode> = known.iter().copied().collect();
    all.extend(enabled.iter().copied());
    Ok(all
        .into_iter()
        .map(|code| (code, enabled.contains(&code)))
        .collect())
}

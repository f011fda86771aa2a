//! Enable or disable a Host API command.

use sigil_domain::{Change, CommandCode, Outcome, Permission};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::state::AppState;

/// Needs `admin:commands`.
pub const OPERATION: Operation =
    Operation::new("command.set", Need::AnyOf(&[Permission::AdminCommands]));

/// Enables (`enabled`) or disables `code`.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    code: CommandCode,
    enabled: bool,
) -> Result<(), ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    let draft = audit(state, caller, OPERATION.action, Outcome::Success)
        .object(code.as_str())
        .detail("enabled", &enabled.to_string());
    state
        .store
        .commit(vec![Change::SetCommandEnabled { code, enabled }], draft)
        .await?;
    Ok(())
}

//! Show the settings.

use sigil_domain::{Permission, Settings};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::state::AppState;

/// Needs `admin:settings`.
pub const OPERATION: Operation =
    Operation::new("settings.show", Need::AnyOf(&[Permission::AdminSettings]));

/// The stored settings.
pub async fn run(state: &AppState, caller: &Caller<'_>) -> Result<Settings, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    Ok(state.store.settings().await?)
}

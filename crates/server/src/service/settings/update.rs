//! Change the settings.

use sigil_domain::{Change, Outcome, Permission, Settings};

use super::SettingsUpdate;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::state::AppState;

/// Needs `admin:settings`.
pub const OPERATION: Operation =
    Operation::new("settings.update", Need::AnyOf(&[Permission::AdminSettings]));

/// Applies `update`, validated as a whole.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    update: SettingsUpdate,
) -> Result<Settings, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    let mut settings = state.store.settings().await?;
    if let Some(allow) = update.allow_export_with_password {
        settings.allow_export_with_password = allow;
    }
    if let Some(threshold) = update.lockout_threshold {
        settings.lockout_threshold = threshold;
    }
    if let Some(serial) = update.timestamp_certificate {
        // A certificate that cannot sign time-stamps now is refused here rather than on the
        // first client's request.
        if let Some(serial) = &serial {
            crate::service::timestamp::check_certificate(state, serial).await?;
        }
        settings.timestamp_certificate = serial;
    }
    settings
        .validate()
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
    let mut draft = audit(state, caller, OPERATION.action, Outcome::Success);
    for (key, value) in settings.to_pairs() {
        draft = draft.detail(key, &value);
    }
    state
        .store
        .commit(vec![Change::PutSettings(settings.clone())], draft)
        .await?;
    Ok(settings)
}

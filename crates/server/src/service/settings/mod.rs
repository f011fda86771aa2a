//! The server's settings (`admin:settings`): one module per use case, and the update type.

pub mod show;
pub mod update;

use sigil_domain::SerialNumber;

/// Changes to the settings; `None` keeps a value.
#[derive(Debug, Default, Clone)]
pub struct SettingsUpdate {
    /// Allow exporting private keys as password-protected PKCS#12.
    pub allow_export_with_password: Option<bool>,
    /// Failed logins before lockout.
    pub lockout_threshold: Option<u32>,
    /// The time-stamping certificate: `Some(None)` disables the TSA.
    pub timestamp_certificate: Option<Option<SerialNumber>>,
}

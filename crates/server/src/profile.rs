//! Client profiles (`admin/admin.toml`, `clients/*.toml`): how `sigil` finds the server, which
//! CA to trust and who logs in. The format is shared with `sigil-client`; relative paths are
//! relative to the profile file. The format itself is `sigil_api::profile`.

use std::path::Path;

pub use sigil_api::profile::{ProfileFile as ClientProfile, ProfileIdentity};

use crate::error::ServerError;

/// Writing a profile to a new file (mode 0600: it names secret files).
pub trait WriteProfile {
    /// Writes the profile as TOML to a new file at `path`.
    fn write(&self, path: &Path) -> Result<(), ServerError>;
}

impl WriteProfile for ClientProfile {
    fn write(&self, path: &Path) -> Result<(), ServerError> {
        let text = self
            .to_toml()
            .map_err(|e| ServerError::Config(format!("cannot write a client profile: {e}")))?;
        crate::paths::write_private_file(path, text.as_bytes())
    }
}

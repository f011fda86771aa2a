//! What a client tells approvers about an artifact: the metadata fields and their limits.
//!
//! Its own module so that the upload check ([`crate::policy`]) and the request
//! ([`crate::request`]) both use it without importing each other.

use serde::{Deserialize, Serialize};

use crate::strenum::str_enum;

str_enum! {
    /// The metadata fields a client may send, each with its own length limit.
    pub enum MetadataField ("metadata field") {
        /// File name.
        FileName = "file-name",
        /// Build URL.
        BuildUrl = "build-url",
        /// Source commit.
        Commit = "commit",
        /// Free-form description.
        Description = "description",
        /// Program name (Authenticode `SpcSpOpusInfo`).
        ProgramName = "program-name",
        /// Program URL (Authenticode `SpcSpOpusInfo`).
        ProgramUrl = "program-url",
        /// JAR signer name (the `.SF`/block file base name).
        SignerName = "signer-name",
    }
}

impl MetadataField {
    /// The longest accepted value, in bytes.
    pub const fn limit(self) -> usize {
        match self {
            Self::FileName => 255,
            Self::BuildUrl | Self::ProgramUrl => 2048,
            Self::Commit => 128,
            Self::Description => 1024,
            Self::ProgramName => 256,
            Self::SignerName => 8,
        }
    }
}

str_enum! {
    /// What an Authenticode request signs (absent in the metadata: a PE image).
    pub enum AuthenticodeSubject ("Authenticode subject") {
        /// A PE image.
        Pe = "pe",
        /// A Windows Installer package.
        Msi = "msi",
        /// A cabinet file.
        Cab = "cab",
        /// A PowerShell script.
        Script = "script",
        /// A catalog file.
        Catalog = "catalog",
    }
}

/// A metadata field exceeds its limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metadata field {field} is {actual} bytes: at most {limit} are allowed")]
pub struct MetadataError {
    /// The field.
    pub field: MetadataField,
    /// Its limit.
    pub limit: usize,
    /// What was sent.
    pub actual: usize,
}

/// What a client tells approvers about the artifact. All optional, all bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestMetadata {
    /// File name.
    pub file_name: Option<String>,
    /// File size in bytes.
    pub file_size: Option<u64>,
    /// Build URL.
    pub build_url: Option<String>,
    /// Source commit.
    pub commit: Option<String>,
    /// Free-form description.
    pub description: Option<String>,
    /// Program name.
    pub program_name: Option<String>,
    /// Program URL.
    pub program_url: Option<String>,
    /// Entries in a JAR.
    pub entry_count: Option<u32>,
    /// JAR signer name.
    pub signer_name: Option<String>,
    /// Authenticode: what is signed (absent: a PE image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, pattern = "^(pe|msi|cab|script|catalog)$")
    )]
    pub subject: Option<AuthenticodeSubject>,
    /// OpenPGP: the signature creation time the client hashed (seconds since 1970).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openpgp_created: Option<u32>,
}

impl RequestMetadata {
    fn fields(&self) -> [(MetadataField, Option<&String>); 7] {
        [
            (MetadataField::FileName, self.file_name.as_ref()),
            (MetadataField::BuildUrl, self.build_url.as_ref()),
            (MetadataField::Commit, self.commit.as_ref()),
            (MetadataField::Description, self.description.as_ref()),
            (MetadataField::ProgramName, self.program_name.as_ref()),
            (MetadataField::ProgramUrl, self.program_url.as_ref()),
            (MetadataField::SignerName, self.signer_name.as_ref()),
        ]
    }

    /// Checks every field against its limit.
    pub fn check(&self) -> Result<(), MetadataError> {
        for (field, value) in self.fields() {
            let actual = value.map_or(0, String::len);
            if actual > field.limit() {
                return Err(MetadataError {
                    field,
                    limit: field.limit(),
                    actual,
                });
            }
        }
        Ok(())
    }
}

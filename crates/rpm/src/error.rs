//! Why a file is not an RPM package Sigil can sign.

use thiserror::Error;

/// Why reading or rewriting a package failed. The message says what is wrong with the file.
#[derive(Debug, Error)]
pub enum RpmError {
    /// The file could not be read or written.
    #[error("{operation}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an RPM package, or not one this version can sign.
    #[error("not a signable RPM package: {0}")]
    Malformed(String),
    /// The package is valid but cannot be signed as asked.
    #[error("{0}")]
    Unsupported(String),
}

impl RpmError {
    pub(crate) fn malformed(why: impl Into<String>) -> Self {
        Self::Malformed(why.into())
    }

    /// An error reading a package.
    pub fn io_reading(source: std::io::Error) -> Self {
        Self::Io {
            operation: "reading the package",
            source,
        }
    }

    pub(crate) fn io(operation: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Io { operation, source }
    }
}

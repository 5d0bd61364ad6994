//! The crate's error type. Every failure a user can cause (bad files, bad
//! arguments, a lost device) ends up here with a message that names the
//! problem; nothing user-caused panics.

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model config does not describe a model InCTRL can run.
    #[error("model config: {0}")]
    Config(String),
    /// A weights file (checkpoint or bundle) is unreadable, truncated or does not fit the model.
    #[error("weights: {0}")]
    Weights(String),
    /// An input image could not be decoded.
    #[error("image {name}: {reason}")]
    Image {
        /// The file name or label of the image.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A category has no text prototypes and the bundle has no text tower to make them.
    #[error(
        "category '{0}' is not in this bundle's text table and the bundle has no text tower; {1}"
    )]
    UnknownCategory(String, String),
    /// The caller asked for something impossible (zero prompts, mismatched sizes, ...).
    #[error("{0}")]
    InvalidInput(String),
    /// The compute device failed (lost, out of memory, ...).
    #[error("device: {0}")]
    Device(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating-system error.
        source: std::io::Error,
    },
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_string(),
            source,
        }
    }
}

//! The crate's error type. Every failure a user can cause (bad files, bad
//! arguments, a lost device) ends up here with a message that names the
//! problem; nothing user-caused panics.

use crate::preprocess::PreprocessError;

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
    #[error("image {}{source}", name.as_ref().map(|n| format!("{n}: ")).unwrap_or_default())]
    Image {
        /// The file name or label of the image, when the caller knows one.
        name: Option<String>,
        /// What is wrong with it.
        #[source]
        source: PreprocessError,
    },
    /// A category has no text prototypes and the bundle has no text tower to make them.
    #[error(
        "category '{0}' is not in this bundle's text table and the bundle has no text tower; {1}"
    )]
    UnknownCategory(String, String),
    /// The caller asked for something impossible (zero prompts, mismatched sizes, ...).
    #[error("{0}")]
    InvalidInput(String),
    /// The user interrupted a long run (Ctrl-C); what was done is saved.
    #[error("interrupted; {0}")]
    Interrupted(String),
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

/// An image error without a name ("image: corrupt or truncated JPEG: ...").
impl From<PreprocessError> for Error {
    fn from(source: PreprocessError) -> Self {
        Self::Image { name: None, source }
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The process exit status for this error: 130 for an interruption, as
    /// shells report a process ended by SIGINT; 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Interrupted(_) => 130,
            _ => 1,
        }
    }

    /// An image error naming the image (its file name or label).
    pub fn image(name: impl std::fmt::Display, source: PreprocessError) -> Self {
        Self::Image {
            name: Some(name.to_string()),
            source,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_string(),
            source,
        }
    }
}

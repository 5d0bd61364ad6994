//! The one error type of the preprocessing pipeline.

use std::fmt;

/// Why an image could not be turned into a tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreprocessError {
    /// The input holds no bytes at all.
    Empty,
    /// The bytes start with no signature of a supported format.
    UnsupportedFormat,
    /// The format is recognised but this variant of it is not supported
    /// (e.g. arithmetic-coded or 12-bit JPEG, which Pillow rejects too).
    UnsupportedVariant {
        /// Container format, e.g. "JPEG".
        format: &'static str,
        /// What is not supported.
        detail: String,
    },
    /// The file is damaged or ends early.
    Corrupt {
        /// Container format, e.g. "JPEG".
        format: &'static str,
        /// The decoder's own description of the problem.
        detail: String,
    },
    /// The image has a zero width or height.
    ZeroDimension,
    /// The image (or its resized form) is larger than the decoder accepts.
    TooLarge {
        /// Width in pixels (of the decoded or the resized image).
        width: u64,
        /// Height in pixels.
        height: u64,
        /// What limit was exceeded.
        limit: &'static str,
    },
    /// `preprocess_rgba` got a buffer whose length is not `4 * width * height`.
    BufferSize {
        /// Bytes expected from the given dimensions.
        expected: u64,
        /// Bytes given.
        actual: usize,
    },
    /// The requested output size is zero.
    ZeroOutputSize,
    /// [`Pixels::new`](super::Pixels::new) got a value count other than `3 * size * size`.
    TensorLength {
        /// Values a `[3, size, size]` tensor holds.
        expected: u64,
        /// Values given.
        actual: usize,
    },
    /// A `.npy` array that is no `uint8` image (see [`preprocess_npy`](super::preprocess_npy)).
    Npy(String),
}

impl fmt::Display for PreprocessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "image is empty (0 bytes)"),
            Self::UnsupportedFormat => write!(
                f,
                "unsupported image format (not JPEG, PNG, BMP, GIF, WebP or TIFF)"
            ),
            Self::UnsupportedVariant { format, detail } => {
                write!(f, "unsupported {format} variant: {detail}")
            }
            Self::Corrupt { format, detail } => {
                write!(f, "corrupt or truncated {format}: {detail}")
            }
            Self::ZeroDimension => write!(f, "image has a zero width or height"),
            Self::TooLarge {
                width,
                height,
                limit,
            } => write!(f, "image of {width}x{height} pixels is too large: {limit}"),
            Self::BufferSize { expected, actual } => write!(
                f,
                "RGBA buffer holds {actual} bytes but its dimensions need {expected}"
            ),
            Self::ZeroOutputSize => write!(f, "output size must be at least 1 pixel"),
            Self::TensorLength { expected, actual } => write!(
                f,
                "a preprocessed image holds {actual} values but [3, size, size] needs {expected}"
            ),
            Self::Npy(detail) => write!(f, "{detail}"),
        }
    }
}

impl std::error::Error for PreprocessError {}

//! [`Pixels`]: one preprocessed image, the model's input.

use super::PreprocessError;

/// A preprocessed image: `[3, size, size]` CLIP-normalised floats, channel-major,
/// as the original pipeline's `Normalize(ToTensor(...))` gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct Pixels {
    size: u32,
    values: Vec<f32>,
}

impl Pixels {
    /// Wraps `3 * size * size` values already in the model's layout.
    pub fn new(size: u32, values: Vec<f32>) -> Result<Self, PreprocessError> {
        let expected = 3 * u64::from(size) * u64::from(size);
        if values.len() as u64 != expected {
            return Err(PreprocessError::TensorLength {
                expected,
                actual: values.len(),
            });
        }
        Ok(Self { size, values })
    }

    /// The side of the square image, in pixels.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The `[3, size, size]` values.
    pub fn values(&self) -> &[f32] {
        &self.values
    }
}

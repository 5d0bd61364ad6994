//! [`Pixels`]: one preprocessed image, the model's input.

use super::{CropGeometry, PreprocessError};

/// A preprocessed image: `[3, size, size]` CLIP-normalised floats, channel-major,
/// as the original pipeline's `Normalize(ToTensor(...))` gives them, and where
/// they came from in the original image.
#[derive(Debug, Clone, PartialEq)]
pub struct Pixels {
    size: u32,
    values: Vec<f32>,
    geometry: CropGeometry,
}

impl Pixels {
    /// Wraps `3 * size * size` values already in the model's layout; their
    /// geometry is the identity (the input is taken as the whole image).
    pub fn new(size: u32, values: Vec<f32>) -> Result<Self, PreprocessError> {
        let expected = 3 * u64::from(size) * u64::from(size);
        if values.len() as u64 != expected {
            return Err(PreprocessError::TensorLength {
                expected,
                actual: values.len(),
            });
        }
        Ok(Self {
            size,
            values,
            geometry: CropGeometry::identity(size),
        })
    }

    /// Wraps values cut from an image by `geometry`.
    pub(crate) fn cropped(
        values: Vec<f32>,
        geometry: CropGeometry,
    ) -> Result<Self, PreprocessError> {
        Ok(Self {
            geometry,
            ..Self::new(geometry.crop_size, values)?
        })
    }

    /// Where the input lies in the original image: its size, the resize and
    /// the centre crop (for mapping the patch map back, see [`crate::maps`]).
    pub fn geometry(&self) -> &CropGeometry {
        &self.geometry
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

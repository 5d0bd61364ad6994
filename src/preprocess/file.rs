//! Reading one image from disk: an image file, or a `.npy` array of `uint8`
//! pixels, which the original opens with `np.load`.

use std::path::Path;

use super::{Pixels, preprocess_image, preprocess_npy};
use crate::error::{Error, Result};

/// Preprocesses the image at `path` for a model with `size`-pixel inputs.
pub fn preprocess_file(path: &Path, size: usize) -> Result<Pixels> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
    let is_npy = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let pixels = if is_npy {
        preprocess_npy(&bytes, size as u32)
    } else {
        preprocess_image(&bytes, size as u32)
    };
    pixels.map_err(|e| Error::image(path.display(), e))
}

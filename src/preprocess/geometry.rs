//! [`CropGeometry`]: where the model's square input lies in the original image,
//! so that results on the input (the patch map) can be mapped back onto it.

use super::PreprocessError;
use super::normalize::{center_window, resized_size};

/// The geometry of `Resize(size)` then `CenterCrop(size)` for one image: the
/// original size, the resized size (shorter side to `size`, the longer one
/// truncated as torchvision computes it) and the crop window in the resized
/// image (offsets rounded half to even, as `CenterCrop` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CropGeometry {
    /// Original width in pixels.
    pub width: u32,
    /// Original height in pixels.
    pub height: u32,
    /// Width after the resize.
    pub resized_width: u32,
    /// Height after the resize.
    pub resized_height: u32,
    /// Left edge of the crop in the resized image.
    pub crop_left: u32,
    /// Top edge of the crop in the resized image.
    pub crop_top: u32,
    /// Side of the (square) crop: the model's input size.
    pub crop_size: u32,
}

impl CropGeometry {
    /// The geometry the preprocessing uses for a `width × height` image and a
    /// `size × size` model input (the very functions the pipeline calls).
    pub fn new(width: u32, height: u32, size: u32) -> Result<Self, PreprocessError> {
        if size == 0 {
            return Err(PreprocessError::ZeroOutputSize);
        }
        if width == 0 || height == 0 {
            return Err(PreprocessError::ZeroDimension);
        }
        let (w, h, s) = (width as usize, height as usize, size as usize);
        let (resized_width, resized_height) = resized_size(w, h, s)?;
        let window = center_window(resized_width, resized_height, s);
        Ok(Self {
            width,
            height,
            resized_width: resized_width as u32,
            resized_height: resized_height as u32,
            crop_left: window.left as u32,
            crop_top: window.top as u32,
            crop_size: size,
        })
    }

    /// The geometry of an input that is already `size × size` (nothing resized or cut).
    pub fn identity(size: u32) -> Self {
        Self {
            width: size,
            height: size,
            resized_width: size,
            resized_height: size,
            crop_left: 0,
            crop_top: 0,
            crop_size: size,
        }
    }

    /// Where the centre of column `x` of a `columns`-wide rendering of the
    /// original image lies in the crop, in crop pixels (inside `[0, crop_size)`
    /// when the crop saw it). `columns` is the original width for a map at the
    /// image's resolution, another width for a map at a mask's resolution.
    pub fn crop_x(&self, x: u32, columns: u32) -> f64 {
        to_crop(x, columns, self.resized_width, self.crop_left)
    }

    /// [`crop_x`](Self::crop_x) for rows.
    pub fn crop_y(&self, y: u32, rows: u32) -> f64 {
        to_crop(y, rows, self.resized_height, self.crop_top)
    }
}

/// Pillow's resize maps the centre of output pixel `i` to input coordinate
/// `(i + 0.5) · in / out`; this runs it backwards from a rendering with
/// `count` pixels along the original's extent, then shifts by the crop offset.
fn to_crop(index: u32, count: u32, resized: u32, offset: u32) -> f64 {
    (f64::from(index) + 0.5) * f64::from(resized) / f64::from(count) - f64::from(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_resize_and_crop_rules() {
        let wide = CropGeometry::new(960, 480, 240).unwrap();
        assert_eq!(
            (
                wide.resized_width,
                wide.resized_height,
                wide.crop_left,
                wide.crop_top
            ),
            (480, 240, 120, 0)
        );
        // 240 * 7 / 3 = 560; (560 - 240) / 2 = 160.
        let tall = CropGeometry::new(3, 7, 240).unwrap();
        assert_eq!((tall.resized_height, tall.crop_top), (560, 160));
        let odd = CropGeometry::new(241, 240, 240).unwrap();
        assert_eq!((odd.resized_width, odd.crop_left), (241, 0));
        assert_eq!(
            CropGeometry::new(0, 4, 240),
            Err(PreprocessError::ZeroDimension)
        );
    }

    #[test]
    fn maps_pixel_centres_into_the_crop() {
        let wide = CropGeometry::new(960, 480, 240).unwrap();
        // Column 240's centre: 240.5 / 2 - 120 = 0.25; column 239's falls left of the crop.
        assert_eq!(wide.crop_x(240, 960), 0.25);
        assert_eq!(wide.crop_x(239, 960), -0.25);
        assert_eq!(wide.crop_y(0, 480), 0.25);
        // The same extent rendered at half the resolution.
        assert_eq!(wide.crop_x(120, 480), 0.5);
        let same = CropGeometry::identity(240);
        assert_eq!(same.crop_x(0, 240), 0.5);
    }
}

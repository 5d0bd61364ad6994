//! Anomaly maps at the original image's resolution: InCTRL's patch residual
//! map (one value per patch of the square model input) mapped back through the
//! preprocessing geometry ([`CropGeometry`]) with bilinear interpolation,
//! optionally smoothed with a Gaussian (σ = 4 input pixels, as the anomaly
//! detection literature smooths its maps). Pixels the centre crop cut away were
//! never seen by the model and are NaN.
//!
//! Also here: the map as a `.npy` file ([`npy_f32`]) and as a heat map over
//! the image ([`overlay_rgb`], [`encode_png`]).

mod npy;
mod overlay;
mod smooth;
mod upsample;

pub use npy::npy_f32;
pub use overlay::{encode_png, overlay_rgb};

use crate::error::{Error, Result};
use crate::preprocess::CropGeometry;

/// The smoothing the anomaly detection literature uses: σ = 4 input pixels.
pub const DEFAULT_SIGMA: f32 = 4.0;

/// A float map over an image, row-major; NaN marks pixels the model did not see.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyMap {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// `[height, width]` values.
    pub values: Vec<f32>,
}

/// The patch map over the original image at its own resolution
/// (`geometry.width × geometry.height`). `sigma`, in model-input pixels,
/// smooths it (see [`anomaly_map_sized`]).
///
/// # Shapes
/// - `patch_map`: `[grid · grid]`, row-major over the crop (e.g. 15×15 = 225)
pub fn anomaly_map(
    patch_map: &[f32],
    geometry: &CropGeometry,
    sigma: Option<f32>,
) -> Result<AnomalyMap> {
    anomaly_map_sized(patch_map, geometry, geometry.width, geometry.height, sigma)
}

/// The patch map over the original image's extent rendered at `width ×
/// height` pixels (a ground-truth mask's resolution, say).
///
/// Each rendered pixel's centre is taken back through the resize and the crop
/// ([`CropGeometry::crop_x`]); outside the crop it is NaN. Inside, the patch
/// map is sampled bilinearly with patch centres at `(j + ½) · patch` (as
/// PyTorch's `interpolate(..., mode="bilinear", align_corners=False)` does),
/// clamped at the border patches. `sigma` (model-input pixels; `None` or 0: no
/// smoothing) is scaled to rendered pixels per axis and applied to the seen
/// rectangle alone as `scipy.ndimage.gaussian_filter(mode="reflect",
/// truncate=4)` does.
pub fn anomaly_map_sized(
    patch_map: &[f32],
    geometry: &CropGeometry,
    width: u32,
    height: u32,
    sigma: Option<f32>,
) -> Result<AnomalyMap> {
    let grid = grid_side(patch_map.len())?;
    if width == 0 || height == 0 {
        return Err(Error::InvalidInput(format!(
            "an anomaly map of {width}x{height} pixels is empty"
        )));
    }
    let columns = upsample::Axis::new(width, grid, geometry.crop_size, |x| {
        geometry.crop_x(x, width)
    });
    let rows = upsample::Axis::new(height, grid, geometry.crop_size, |y| {
        geometry.crop_y(y, height)
    });
    let mut values = upsample::bilinear(patch_map, grid, &columns, &rows);
    if let Some(sigma) = sigma.filter(|&s| s > 0.0) {
        let scale =
            |count: u32, resized: u32| f64::from(sigma) * f64::from(count) / f64::from(resized);
        let sigmas = [
            scale(height, geometry.resized_height),
            scale(width, geometry.resized_width),
        ];
        let seen = [rows.seen(), columns.seen()];
        smooth::gaussian_in(&mut values, width as usize, seen, sigmas);
    }
    Ok(AnomalyMap {
        width,
        height,
        values,
    })
}

/// The side of a square grid of `cells` cells.
fn grid_side(cells: usize) -> Result<usize> {
    let side = (cells as f64).sqrt().round() as usize;
    if side == 0 || side * side != cells {
        return Err(Error::InvalidInput(format!(
            "a patch map of {cells} values is not a square grid"
        )));
    }
    Ok(side)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 15×15 map whose cell (i, j) holds 10·i + j: bilinear sampling
    /// reproduces it exactly, so every pixel's value is known in closed form.
    fn affine_patch_map() -> Vec<f32> {
        (0..225).map(|c| (10 * (c / 15) + c % 15) as f32).collect()
    }

    fn at(map: &AnomalyMap, x: u32, y: u32) -> f32 {
        map.values[(y * map.width + x) as usize]
    }

    fn unseen(map: &AnomalyMap) -> usize {
        map.values.iter().filter(|v| v.is_nan()).count()
    }

    #[test]
    fn square_image_maps_known_pixels() {
        // 480×480: resized to 240×240, nothing cut; pixel x sits at u = (x + ½)/32 − ½ cells.
        let geometry = CropGeometry::new(480, 480, 240).unwrap();
        let map = anomaly_map(&affine_patch_map(), &geometry, None).unwrap();
        assert_eq!((map.width, map.height, unseen(&map)), (480, 480, 0));
        assert_eq!(at(&map, 0, 0), 0.0); // clamped to the first cell
        // u = 100.5/32 − ½ = 2.640625, v = 200.5/32 − ½ = 5.765625.
        assert_eq!(at(&map, 100, 200), 57.65625 + 2.640625);
        assert_eq!(at(&map, 479, 479), 154.0); // clamped to the last cell
    }

    #[test]
    fn wide_image_maps_known_pixels_and_marks_the_cut_sides() {
        // 960×480: resized to 480×240, crop from x = 120; columns 240..720 seen.
        let geometry = CropGeometry::new(960, 480, 240).unwrap();
        let map = anomaly_map(&affine_patch_map(), &geometry, None).unwrap();
        assert!(at(&map, 239, 100).is_nan() && at(&map, 720, 100).is_nan());
        assert_eq!(unseen(&map), 480 * 480);
        assert_eq!(at(&map, 240, 0), 0.0);
        // X = 500.5/2 − 120 = 130.25 → u = 7.640625; Y = 50.25 → v = 2.640625.
        assert_eq!(at(&map, 500, 100), 26.40625 + 7.640625);
        assert_eq!(at(&map, 719, 479), 154.0);
    }

    #[test]
    fn tall_image_maps_known_pixels_and_marks_the_cut_ends() {
        // 300×700: resized to 240×560 (scale 0.8), crop from y = 160; rows 200..500 seen.
        let geometry = CropGeometry::new(300, 700, 240).unwrap();
        let map = anomaly_map(&affine_patch_map(), &geometry, None).unwrap();
        assert!(at(&map, 150, 199).is_nan() && at(&map, 150, 500).is_nan());
        assert!(!at(&map, 150, 200).is_nan() && !at(&map, 150, 499).is_nan());
        assert_eq!(unseen(&map), 300 * 400);
        // X = 150.5·0.8 = 120.4 → u = 7.025; Y = 350.5·0.8 − 160 = 120.4 → v = 7.025.
        assert!((at(&map, 150, 350) - 77.275).abs() < 1e-5);
    }

    #[test]
    fn one_hot_cell_spreads_with_bilinear_weights() {
        let mut patch_map = vec![0.0; 225];
        patch_map[7 * 15 + 7] = 1.0;
        let map = anomaly_map(&patch_map, &CropGeometry::identity(240), None).unwrap();
        // Pixel 120: u = 120.5/16 − ½ = 7.03125, weight 0.96875 on cell 7;
        // pixel 112: u = 6.53125, weight 0.53125 on cell 7.
        assert_eq!(at(&map, 120, 120), 0.96875 * 0.96875);
        assert_eq!(at(&map, 112, 120), 0.53125 * 0.96875);
        assert_eq!(at(&map, 120, 112), 0.96875 * 0.53125);
        assert_eq!(at(&map, 100, 120), 0.0);
    }

    #[test]
    fn renders_at_another_resolution_over_the_same_extent() {
        // The wide image's map at half its resolution (a mask of 480×240).
        let geometry = CropGeometry::new(960, 480, 240).unwrap();
        let map = anomaly_map_sized(&affine_patch_map(), &geometry, 480, 240, None).unwrap();
        assert_eq!((map.width, map.height, unseen(&map)), (480, 240, 240 * 240));
        // X = 250.5 − 120 = 130.5 → u = 7.65625; Y = 50.5 → v = 2.65625.
        assert_eq!(at(&map, 250, 50), 26.5625 + 7.65625);
    }

    #[test]
    fn smoothing_keeps_a_flat_map_flat_and_unseen_pixels_unseen() {
        let geometry = CropGeometry::new(960, 480, 240).unwrap();
        let flat = vec![0.3; 225];
        let map = anomaly_map(&flat, &geometry, Some(DEFAULT_SIGMA)).unwrap();
        assert_eq!(unseen(&map), 480 * 480);
        assert!(
            map.values
                .iter()
                .filter(|v| !v.is_nan())
                .all(|v| (v - 0.3).abs() < 1e-6)
        );
        let sharp = anomaly_map(&affine_patch_map(), &geometry, None).unwrap();
        let smooth = anomaly_map(&affine_patch_map(), &geometry, Some(DEFAULT_SIGMA)).unwrap();
        assert_ne!(sharp, smooth);
    }

    #[test]
    fn refuses_a_patch_map_that_is_not_square() {
        let err = anomaly_map(&[0.0; 224], &CropGeometry::identity(240), None).unwrap_err();
        assert!(err.to_string().contains("not a square grid"), "{err}");
    }
}

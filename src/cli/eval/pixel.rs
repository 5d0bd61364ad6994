//! `inctrl eval --pixel`: pixel AUROC and AUPRO of one prompt set over a
//! category's test images, each map rendered at its mask's resolution.
//! Normal test images have no mask: all their pixels are normal, at the
//! image's own resolution.

use inctrl::CropGeometry;
use inctrl::Result;
use inctrl::eval::dataset::TestImage;
use inctrl::eval::masks::{Mask, mask_path, read_mask};
use inctrl::eval::pixel::{PixelMetrics, PixelScores};
use inctrl::maps::anomaly_map_sized;

/// A scored test image's patch map and preprocessing geometry.
pub struct PatchMap {
    /// `[grid · grid]` patch residuals.
    pub values: Vec<f32>,
    /// Where the model input came from in the image.
    pub geometry: CropGeometry,
}

/// The pixel metrics of `images` (anomalous ones need a mask) with their
/// patch maps, smoothed with `sigma` model-input pixels.
pub fn evaluate(images: &[&TestImage], maps: &[PatchMap], sigma: f32) -> Result<PixelScores> {
    let mut metrics = PixelMetrics::new();
    for (image, map) in images.iter().zip(maps) {
        let mask = if image.anomalous {
            read_mask(&mask_path(&image.path)?)?
        } else {
            let (width, height) = (map.geometry.width, map.geometry.height);
            Mask {
                width,
                height,
                pixels: vec![false; width as usize * height as usize],
            }
        };
        let rendered = anomaly_map_sized(
            &map.values,
            &map.geometry,
            mask.width,
            mask.height,
            Some(sigma),
        )?;
        metrics.add(&rendered.values, &mask.pixels, mask.width as usize)?;
    }
    metrics.compute()
}

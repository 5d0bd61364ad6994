//! Pixel-level metrics over a test set's anomaly maps and ground-truth masks:
//!
//! - **pixel AUROC**: `sklearn.metrics.roc_auc_score` over every pixel of every
//!   image (ties form one threshold);
//! - **AUPRO**: the area under the per-region-overlap curve up to a false
//!   positive rate of 0.3, divided by 0.3, exactly as MVTec AD's evaluation
//!   code (`compute_pro` and `trapezoid` in its `pro_curve_util.py` and
//!   `generic_util.py`) computes it: at every distinct threshold, the FPR over
//!   all normal pixels and the PRO, the mean over all 8-connected ground-truth
//!   regions of all images of the share of each region above the threshold;
//!   the curve runs from (0, 0) to (1, 1) and is cut at 0.3 by linear
//!   interpolation.
//!
//! Pixels the model never saw (NaN in the map) count as the lowest score,
//! below every seen one. Each pixel costs 8 bytes until the metrics are computed.

use serde::Serialize;

use super::regions::label_regions;
use crate::error::{Error, Result};

/// The FPR up to which MVTec AD integrates the PRO curve.
pub const PRO_FPR_LIMIT: f64 = 0.3;

/// Maps and masks of a test set, added image by image.
#[derive(Debug, Default)]
pub struct PixelMetrics {
    /// Per pixel: its score's order key (high 32 bits) and its region (low 32
    /// bits; 0 for a normal pixel, else 1 + the region's index in `regions`).
    keys: Vec<u64>,
    /// Every region's size in pixels.
    regions: Vec<u64>,
    unseen: u64,
}

/// What [`PixelMetrics::compute`] gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PixelScores {
    /// Pixel AUROC.
    pub auroc: f64,
    /// Normalised area under the PRO curve up to [`PRO_FPR_LIMIT`].
    pub aupro: f64,
    /// Pixels evaluated.
    pub pixels: u64,
    /// Of those, pixels outside the model's crop (scored lowest).
    pub unseen: u64,
    /// Connected anomalous regions.
    pub regions: usize,
}

impl PixelMetrics {
    /// Nothing added yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One image: its map and its mask (`true` = anomalous), both row-major
    /// with `width` columns.
    pub fn add(&mut self, map: &[f32], mask: &[bool], width: usize) -> Result<()> {
        if map.len() != mask.len() || width == 0 || !map.len().is_multiple_of(width) {
            return Err(Error::InvalidInput(format!(
                "a map of {} values and a mask of {} pixels do not make one image {width} wide",
                map.len(),
                mask.len()
            )));
        }
        let regions = label_regions(mask, width);
        let first = self.regions.len() as u64;
        self.regions.extend(&regions.sizes);
        self.unseen += map.iter().filter(|v| v.is_nan()).count() as u64;
        self.keys
            .extend(map.iter().zip(&regions.labels).map(|(&v, &label)| {
                let region = if label == 0 {
                    0
                } else {
                    first + u64::from(label)
                };
                (u64::from(order_key(v)) << 32) | region
            }));
        Ok(())
    }

    /// Both metrics, by the definitions of the [module documentation](self).
    pub fn compute(mut self) -> Result<PixelScores> {
        let ok_pixels = self.keys.iter().filter(|k| region_of(**k) == 0).count() as u64;
        let anomalous = self.keys.len() as u64 - ok_pixels;
        if ok_pixels == 0 || anomalous == 0 {
            return Err(Error::InvalidInput(format!(
                "pixel metrics need both normal and anomalous pixels, got {ok_pixels} normal and {anomalous} anomalous"
            )));
        }
        self.keys.sort_unstable();
        let curve = self.curve(ok_pixels, anomalous);
        Ok(PixelScores {
            auroc: auroc(&curve),
            aupro: aupro(&curve, PRO_FPR_LIMIT),
            pixels: self.keys.len() as u64,
            unseen: self.unseen,
            regions: self.regions.len(),
        })
    }

    /// `(fpr, tpr, pro)` after each distinct score, highest first.
    fn curve(&self, ok_pixels: u64, anomalous: u64) -> Vec<[f64; 3]> {
        let region_count = self.regions.len() as f64;
        let (mut fp, mut tp, mut pro) = (0u64, 0u64, 0.0f64);
        let mut points = Vec::new();
        for group in self.keys.chunk_by(|a, b| a >> 32 == b >> 32).rev() {
            for &key in group {
                match region_of(key) {
                    0 => fp += 1,
                    region => {
                        tp += 1;
                        pro += 1.0 / self.regions[region as usize - 1] as f64;
                    }
                }
            }
            points.push([
                fp as f64 / ok_pixels as f64,
                tp as f64 / anomalous as f64,
                pro / region_count,
            ]);
        }
        points
    }
}

fn region_of(key: u64) -> u64 {
    key & 0xFFFF_FFFF
}

/// A `u32` that sorts as the score does: NaN as −∞, −0 as +0.
fn order_key(value: f32) -> u32 {
    let value = if value.is_nan() {
        f32::NEG_INFINITY
    } else {
        value + 0.0
    };
    let bits = value.to_bits();
    if bits & 0x8000_0000 != 0 {
        !bits
    } else {
        bits | 0x8000_0000
    }
}

/// The trapezoid area under (fpr, tpr) from (0, 0).
fn auroc(curve: &[[f64; 3]]) -> f64 {
    let mut area = 0.0;
    let (mut x, mut y) = (0.0, 0.0);
    for &[fpr, tpr, _] in curve {
        area += (fpr - x) * (tpr + y) / 2.0;
        (x, y) = (fpr, tpr);
    }
    area
}

/// MVTec AD's AUPRO: the (fpr, pro) curve clipped to 1, from (0, 0) to
/// (1, 1), integrated up to `limit` and divided by it.
fn aupro(curve: &[[f64; 3]], limit: f64) -> f64 {
    let mut x = vec![0.0];
    let mut y = vec![0.0];
    for &[fpr, _, pro] in curve {
        x.push(fpr.min(1.0));
        y.push(pro.min(1.0));
    }
    x.push(1.0);
    y.push(1.0);
    trapezoid_to(&x, &y, limit) / limit
}

/// `generic_util.trapezoid(x, y, x_max)`: the area up to `x_max`, the last
/// piece interpolated linearly when `x_max` is not a point of the curve.
fn trapezoid_to(x: &[f64], y: &[f64], x_max: f64) -> f64 {
    let mut correction = 0.0;
    if !x.contains(&x_max) {
        let insert = x.partition_point(|&v| v <= x_max);
        let (x0, x1, y0, y1) = (x[insert - 1], x[insert], y[insert - 1], y[insert]);
        let y_at = y0 + (y1 - y0) * (x_max - x0) / (x1 - x0);
        correction = 0.5 * (y_at + y0) * (x_max - x0);
    }
    let kept = x.iter().take_while(|&&v| v <= x_max).count();
    let area: f64 = (1..kept)
        .map(|i| 0.5 * (y[i] + y[i - 1]) * (x[i] - x[i - 1]))
        .sum();
    area + correction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_keys_sort_like_the_scores() {
        let values = [
            f32::NAN,
            f32::NEG_INFINITY,
            -2.5,
            -0.0,
            0.0,
            1e-30,
            0.5,
            3.0,
        ];
        let keys: Vec<u32> = values.iter().map(|&v| order_key(v)).collect();
        assert_eq!(keys[0], keys[1], "NaN counts as -inf");
        assert_eq!(keys[3], keys[4], "-0 and +0 tie");
        assert!(keys.windows(2).skip(1).all(|w| w[0] <= w[1]));
        assert!(keys[4] < keys[5]);
    }

    #[test]
    fn a_perfect_map_scores_one_and_an_inverted_map_zero() {
        // One image, 4×2: the left column pair anomalous.
        let mask = [true, false, false, false, true, false, false, false];
        let perfect = [0.9, 0.1, 0.2, 0.3, 0.8, 0.1, 0.2, 0.3];
        let mut metrics = PixelMetrics::new();
        metrics.add(&perfect, &mask, 4).unwrap();
        let scores = metrics.compute().unwrap();
        assert_eq!((scores.auroc, scores.aupro, scores.regions), (1.0, 1.0, 1));
        let inverted: Vec<f32> = perfect.iter().map(|v| -v).collect();
        let mut metrics = PixelMetrics::new();
        metrics.add(&inverted, &mask, 4).unwrap();
        let scores = metrics.compute().unwrap();
        assert_eq!((scores.auroc, scores.aupro), (0.0, 0.0));
    }

    #[test]
    fn interpolates_the_cut_at_the_limit() {
        // (0,0) (0.2,0.5) (0.4,1): at 0.3 the curve is at 0.75.
        let area = trapezoid_to(&[0.0, 0.2, 0.4, 1.0], &[0.0, 0.5, 1.0, 1.0], 0.3);
        assert!((area - (0.05 + 0.0625)).abs() < 1e-15);
        let exact = trapezoid_to(&[0.0, 0.3, 1.0], &[0.0, 1.0, 1.0], 0.3);
        assert!((exact - 0.15).abs() < 1e-15);
    }

    #[test]
    fn needs_both_kinds_of_pixels() {
        let mut metrics = PixelMetrics::new();
        metrics.add(&[0.1, 0.2], &[false, false], 2).unwrap();
        assert!(metrics.compute().is_err());
        assert!(PixelMetrics::new().add(&[0.1], &[false, true], 2).is_err());
    }
}

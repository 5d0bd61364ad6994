//! Bilinear sampling of a square patch grid at the rendered pixels, separably:
//! each axis is planned once (which two cells, which weight) and the plan of
//! the columns and the rows combine per pixel.

use std::ops::Range;

/// Where each rendered pixel along one axis samples the grid.
pub(super) struct Axis {
    /// Per pixel: the lower cell, the upper cell and the upper cell's weight;
    /// `None` where the crop did not see the pixel.
    taps: Vec<Option<(usize, usize, f64)>>,
}

impl Axis {
    /// The plan for `count` pixels whose centres lie at `to_crop(i)` in a
    /// crop of `crop_size` pixels cut into `grid` cells.
    pub(super) fn new(
        count: u32,
        grid: usize,
        crop_size: u32,
        to_crop: impl Fn(u32) -> f64,
    ) -> Self {
        let cell = f64::from(crop_size) / grid as f64;
        let last = (grid - 1) as f64;
        let taps = (0..count)
            .map(|i| {
                let at = to_crop(i);
                if !(0.0..f64::from(crop_size)).contains(&at) {
                    return None;
                }
                let u = (at / cell - 0.5).clamp(0.0, last);
                let low = u.floor() as usize;
                Some((low, (low + 1).min(grid - 1), u - low as f64))
            })
            .collect();
        Self { taps }
    }

    /// The pixels the crop saw: one contiguous range (empty if none).
    pub(super) fn seen(&self) -> Range<usize> {
        let start = self.taps.iter().position(Option::is_some);
        let end = self.taps.iter().rposition(Option::is_some);
        match (start, end) {
            (Some(start), Some(end)) => start..end + 1,
            _ => 0..0,
        }
    }
}

/// The grid sampled at every (row, column) pair of the plans; NaN where
/// either axis is unseen.
///
/// # Shapes
/// - `grid_values`: `[grid, grid]` row-major
/// - output: `[rows, columns]` row-major
pub(super) fn bilinear(grid_values: &[f32], grid: usize, columns: &Axis, rows: &Axis) -> Vec<f32> {
    let at = |r: usize, c: usize| f64::from(grid_values[r * grid + c]);
    let mut out = Vec::with_capacity(columns.taps.len() * rows.taps.len());
    for row in &rows.taps {
        for column in &columns.taps {
            let value = match (row, column) {
                (Some((r0, r1, ty)), Some((c0, c1, tx))) => {
                    let top = at(*r0, *c0) * (1.0 - tx) + at(*r0, *c1) * tx;
                    let bottom = at(*r1, *c0) * (1.0 - tx) + at(*r1, *c1) * tx;
                    (top * (1.0 - ty) + bottom * ty) as f32
                }
                _ => f32::NAN,
            };
            out.push(value);
        }
    }
    out
}

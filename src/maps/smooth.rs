//! Gaussian smoothing as `scipy.ndimage.gaussian_filter` computes it: one
//! separable pass per axis with the kernel `exp(-x² / 2σ²)` for |x| ≤
//! `int(4σ + 0.5)`, normalised to sum 1, and `mode="reflect"` borders
//! (`d c b a | a b c d | d c b a`).

use std::ops::Range;

/// Smooths the rectangle `rows × columns` of a row-major map `width` columns
/// wide in place, as if it were the whole image (pixels outside it neither
/// contribute nor change). `sigmas` is `[along rows, along columns]`.
pub(super) fn gaussian_in(
    values: &mut [f32],
    width: usize,
    seen: [Range<usize>; 2],
    sigmas: [f64; 2],
) {
    let [rows, columns] = seen;
    if rows.is_empty() || columns.is_empty() {
        return;
    }
    let (h, w) = (rows.len(), columns.len());
    let mut block: Vec<f64> = rows
        .clone()
        .flat_map(|r| {
            values[r * width + columns.start..r * width + columns.end]
                .iter()
                .map(|&v| f64::from(v))
        })
        .collect();
    block = pass(&block, h, w, &kernel(sigmas[1]), true);
    block = pass(&block, h, w, &kernel(sigmas[0]), false);
    for (r, row) in rows.zip(block.chunks_exact(w)) {
        for (out, &v) in values[r * width + columns.start..r * width + columns.end]
            .iter_mut()
            .zip(row)
        {
            *out = v as f32;
        }
    }
}

/// scipy's `_gaussian_kernel1d(sigma, 0, radius)` with `radius = int(4σ + 0.5)`.
fn kernel(sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as i64;
    let weights: Vec<f64> = (-radius..=radius)
        .map(|x| (-0.5 / (sigma * sigma) * (x * x) as f64).exp())
        .collect();
    let sum: f64 = weights.iter().sum();
    weights.iter().map(|w| w / sum).collect()
}

/// Index `i` of a line of `n` samples extended by half-sample symmetry.
fn reflect(i: i64, n: i64) -> usize {
    let period = 2 * n;
    let i = i.rem_euclid(period);
    (if i >= n { period - 1 - i } else { i }) as usize
}

/// One 1-D correlation along rows (`horizontal`) or columns of an `h × w` block.
fn pass(block: &[f64], h: usize, w: usize, kernel: &[f64], horizontal: bool) -> Vec<f64> {
    let radius = (kernel.len() / 2) as i64;
    let (lines, length) = if horizontal { (h, w) } else { (w, h) };
    let index = |line: usize, at: usize| {
        if horizontal {
            line * w + at
        } else {
            at * w + line
        }
    };
    let mut out = vec![0.0; block.len()];
    for line in 0..lines {
        for at in 0..length {
            out[index(line, at)] = kernel
                .iter()
                .enumerate()
                .map(|(k, weight)| {
                    let source = reflect(at as i64 + k as i64 - radius, length as i64);
                    weight * block[index(line, source)]
                })
                .sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflects_with_half_sample_symmetry() {
        let got: Vec<usize> = (-5..9).map(|i| reflect(i, 4)).collect();
        assert_eq!(got, [3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0]);
    }

    #[test]
    fn kernel_is_scipys() {
        // numpy: w = exp(-0.5 * x**2) for x in -4..=4; w / w.sum()
        let k = kernel(1.0);
        let expected = [
            0.00013383062461474175,
            0.0044318616200312655,
            0.05399112742070441,
            0.24197144565660073,
            0.39894346935609776,
            0.24197144565660073,
            0.05399112742070441,
            0.0044318616200312655,
            0.00013383062461474175,
        ];
        assert_eq!(k.len(), expected.len());
        for (a, b) in k.iter().zip(expected) {
            assert!((a - b).abs() < 1e-15, "{a} vs {b}");
        }
    }

    #[test]
    fn leaves_a_constant_alone_and_the_outside_untouched() {
        let mut values = vec![f32::NAN; 5 * 6];
        for r in 1..4 {
            for c in 2..5 {
                values[r * 6 + c] = 0.25;
            }
        }
        gaussian_in(&mut values, 6, [1..4, 2..5], [4.0, 2.5]);
        for (i, v) in values.iter().enumerate() {
            let (r, c) = (i / 6, i % 6);
            if (1..4).contains(&r) && (2..5).contains(&c) {
                assert!((v - 0.25).abs() < 1e-7, "{r},{c}: {v}");
            } else {
                assert!(v.is_nan());
            }
        }
    }
}

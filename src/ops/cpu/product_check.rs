//! What the matrix kernels' tests share: deterministic inputs, and a check of
//! a product over awkward shapes with W in both layouts against f64.

use super::linear::Weight;

/// `count` values in [-0.5, 0.5), different for each seed.
pub fn values(count: usize, seed: u32) -> Vec<f32> {
    (0..count)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32
                / (1u32 << 24) as f32
                - 0.5
        })
        .collect()
}

/// Runs `product` (x `[rows, k]` times W `[k, n]`, row-major out) for every
/// `(rows, k, n)` with W stored row by row and column by column, and asserts
/// every output within 1e-4 of the f64 product.
pub fn check_product(
    shapes: &[(usize, usize, usize)],
    product: impl Fn(&[f32], Weight) -> Vec<f32>,
) {
    for &(rows, k, n) in shapes {
        let (x, w) = (values(rows * k, 1), values(k * n, 2));
        let w_t: Vec<f32> = (0..n)
            .flat_map(|c| (0..k).map(move |i| (i, c)))
            .map(|(i, c)| w[i * n + c])
            .collect();
        let layouts = [
            Weight {
                values: &w,
                row_stride: n as isize,
                col_stride: 1,
                dims: [k, n],
            },
            Weight {
                values: &w_t,
                row_stride: 1,
                col_stride: k as isize,
                dims: [k, n],
            },
        ];
        for weight in layouts {
            let out = product(&x, weight);
            for r in 0..rows {
                for c in 0..n {
                    let want: f64 = (0..k)
                        .map(|i| x[r * k + i] as f64 * w[i * n + c] as f64)
                        .sum();
                    let got = out[r * n + c] as f64;
                    assert!(
                        (got - want).abs() < 1e-4,
                        "{rows}×{k}×{n} ({r}, {c}): {got} vs {want}"
                    );
                }
            }
        }
    }
}

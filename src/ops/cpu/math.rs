//! Elementwise math of the CPU kernels (e^x, erf, GELU, QuickGELU, softmax),
//! written as plain `f32` arithmetic without fused multiply-adds, so that the
//! compiler turns loops over them into SIMD code (see `vectorized!`) and every
//! target rounds alike. All are `#[inline(always)]` so that they are compiled
//! into each vectorised copy of their callers.

use std::f32::consts::{FRAC_1_SQRT_2, LOG2_E};

/// Inputs of [`exp`] are clamped to this range: no overflow, no subnormal results.
const EXP_MIN: f32 = -87.0;
const EXP_MAX: f32 = 88.0;

/// e^x within 2 ulp on `[-87, 88]` (Cephes `expf`): e^x = 2^n · e^r with
/// n = round(x·log₂e) and |r| ≤ ln2/2, e^r by a degree-7 polynomial. Outside the
/// range the result is e^-87 ≈ 1.6e-38 or e^88: callers only need e^x for x ≤ 0
/// or where such values saturate anyway.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Adding 1.5·2^23 rounds to an integer, which then sits in the low mantissa bits.
    const ROUNDER: f32 = 12_582_912.0;
    // ln 2 split so that n·LN2_HI is exact (Cody–Waite).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(EXP_MIN, EXP_MAX);
    let shifted = x * LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e_r = p * r * r + r + 1.0;
    let n_bits = shifted.to_bits().wrapping_sub(ROUNDER.to_bits());
    e_r * f32::from_bits(n_bits.wrapping_add(127) << 23)
}

/// erf(x) by Abramowitz & Stegun 7.1.26 (absolute error below 5e-7 in f32), the
/// formula of PyTorch's vectorised CPU `erf`, which the original's GELU runs.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152,
        1.061_405_4,
    ];
    let t = 1.0 / (P * x.abs() + 1.0);
    let r = (((A[4] * t + A[3]) * t + A[2]) * t + A[1]) * t + A[0];
    (1.0 - exp(-(x * x)) * t * r).copysign(x)
}

/// GELU with erf, as PyTorch computes it: `x · ½ · (1 + erf(x/√2))`.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    x * 0.5 * (1.0 + erf(x * FRAC_1_SQRT_2))
}

/// QuickGELU, `x · σ(1.702x)`.
#[inline(always)]
pub fn quick_gelu(x: f32) -> f32 {
    x / (1.0 + exp(-1.702 * x))
}

/// Softmax of one row in place: `e^(x − max) / Σ e^(x − max)`.
#[inline(always)]
pub fn softmax(row: &mut [f32]) {
    let max = reduce(row, f32::NEG_INFINITY, f32::max);
    row.iter_mut().for_each(|x| *x = exp(*x - max));
    let inverse = 1.0 / reduce(row, 0.0, |a, b| a + b);
    row.iter_mut().for_each(|x| *x *= inverse);
}

/// Folds `values` with `op` in 16 interleaved lanes, which compilers keep in
/// SIMD registers (a single running value would serialise a float sum).
#[inline(always)]
fn reduce(values: &[f32], identity: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [identity; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane = op(*lane, x);
        }
    }
    let tail = chunks.remainder().iter().fold(identity, |a, &x| op(a, x));
    lanes.into_iter().fold(tail, op)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Evenly spaced test points over `[from, to]`.
    fn grid(from: f32, to: f32, points: usize) -> impl Iterator<Item = f32> {
        (0..=points).map(move |i| from + (to - from) * i as f32 / points as f32)
    }

    #[test]
    fn exp_is_within_two_ulp_where_it_is_used() {
        for x in grid(-87.0, 88.0, 200_000) {
            let exact = (x as f64).exp();
            let ulp = (exact as f32).abs() * f32::EPSILON;
            let error = (exp(x) as f64 - exact).abs();
            assert!(
                error <= 2.0 * ulp as f64,
                "exp({x}) = {} vs {exact}",
                exp(x)
            );
        }
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn exp_saturates_instead_of_overflowing_or_going_subnormal() {
        assert!(exp(-1000.0) > 0.0 && exp(-1000.0).is_normal());
        assert!(exp(f32::NEG_INFINITY).is_normal());
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn gelu_is_within_5e_7_of_the_exact_gelu() {
        let exact = |x: f64| 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
        let worst = grid(-12.0, 12.0, 240_000)
            .map(|x| (gelu(x) as f64 - exact(x as f64)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 5e-7, "largest GELU error {worst}");
        assert_eq!(gelu(0.0), 0.0);
        assert_eq!(gelu(-20.0), 0.0);
        assert_eq!(gelu(20.0), 20.0);
    }

    #[test]
    fn erf_is_odd_and_within_5e_7() {
        let mut worst = 0.0f64;
        for x in grid(-6.0, 6.0, 60_000) {
            assert_eq!(erf(-x), -erf(x));
            worst = worst.max((erf(x) as f64 - libm::erf(x as f64)).abs());
        }
        // 1.5e-7 from the formula, the rest from evaluating it in float32 (as
        // PyTorch does): 4.7e-7 at x ≈ ±0.97.
        assert!(worst < 5e-7, "largest erf error {worst}");
    }

    #[test]
    fn quick_gelu_matches_its_definition() {
        for x in grid(-30.0, 30.0, 6_000) {
            let exact = x as f64 / (1.0 + (-1.702 * x as f64).exp());
            assert!((quick_gelu(x) as f64 - exact).abs() <= 1e-6 * exact.abs().max(1.0));
        }
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut row = vec![1.0, 3.0, -2.0, 3.0, 80.0, -80.0];
        softmax(&mut row);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(row[4] > 0.99 && row[1] == row[3] && row[1] > row[0] && row[0] > row[2]);
    }
}

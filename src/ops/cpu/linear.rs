//! A linear layer as one matrix product plus one pass over its output that adds
//! the bias and applies the activation or the residual connection.

use super::math::{gelu, quick_gelu};
#[cfg(target_arch = "x86_64")]
use super::packed_gemm::PackedWeight;
use super::parallel::for_each_row_block;
use crate::ops::Activation;

/// What happens to `x·W + b` before it is stored.
#[derive(Clone, Copy)]
pub enum Epilogue<'a> {
    /// `act(x·W + b)`.
    Activation(Activation),
    /// `residual + (x·W + b)`, with `residual` shaped like the output.
    Residual(&'a [f32]),
}

/// A weight matrix `[k, n]` in memory: values and strides in elements.
#[derive(Clone, Copy)]
pub struct Weight<'a> {
    /// The buffer the matrix lives in, from its first element on.
    pub values: &'a [f32],
    /// Distance between consecutive rows (along `k`).
    pub row_stride: isize,
    /// Distance between consecutive columns (along `n`).
    pub col_stride: isize,
    /// `[k, n]`.
    pub dims: [usize; 2],
}

/// W as the product takes it.
#[derive(Clone, Copy)]
pub enum Operand<'a> {
    /// As stored.
    Strided(Weight<'a>),
    /// Packed beforehand for the native kernel (CPUs with AVX2 and FMA).
    #[cfg(target_arch = "x86_64")]
    Packed(&'a PackedWeight),
}

impl Operand<'_> {
    /// `[k, n]`.
    fn dims(&self) -> [usize; 2] {
        match self {
            Operand::Strided(weight) => weight.dims,
            #[cfg(target_arch = "x86_64")]
            Operand::Packed(packed) => packed.dims(),
        }
    }
}

/// `x·W + b` followed by `epilogue`.
///
/// # Shapes
/// - `x`: `[rows, k]` row-major; `weight`: `[k, n]`; `bias`: `[n]`
/// - output: `[rows, n]` row-major
pub fn linear(x: &[f32], weight: Operand, bias: Option<&[f32]>, epilogue: Epilogue) -> Vec<f32> {
    let [k, n] = weight.dims();
    let rows = x.len() / k;
    assert_eq!(rows * k, x.len(), "input rows must be {k} wide");
    let mut out = product(x, weight, rows);
    for_each_row_block(&mut out, n, |first_row, block| {
        finish_rows(block, n, first_row, bias, epilogue)
    });
    out
}

/// `x·W` as a row-major `[rows, n]` buffer: the browser modules' panel kernel.
#[cfg(target_arch = "wasm32")]
fn product(x: &[f32], weight: Operand, rows: usize) -> Vec<f32> {
    let Operand::Strided(weight) = weight;
    let mut out = vec![0.0; rows * weight.dims[1]];
    super::panel_gemm::product(x, weight, &mut out);
    out
}

/// `x·W` as a row-major `[rows, n]` buffer: the packed kernel where W was
/// packed, else the `gemm` crate's kernels.
#[cfg(not(target_arch = "wasm32"))]
fn product(x: &[f32], weight: Operand, rows: usize) -> Vec<f32> {
    match weight {
        Operand::Strided(weight) => gemm_product(x, weight, rows),
        #[cfg(target_arch = "x86_64")]
        Operand::Packed(packed) => super::packed_gemm::product(x, packed),
    }
}

/// `x·W` as a row-major `[rows, n]` buffer through the `gemm` crate.
#[cfg(not(target_arch = "wasm32"))]
fn gemm_product(x: &[f32], weight: Weight, rows: usize) -> Vec<f32> {
    let [k, n] = weight.dims;
    let mut out = Vec::with_capacity(rows * n);
    // SAFETY: `gemm` writes every element of the `rows × n` row-major output
    // (read_dst is false) before the length is set; the inputs are in bounds:
    // `x` holds rows·k values and `weight` covers its [k, n] strides.
    unsafe {
        gemm::gemm(
            rows,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            x.as_ptr(),
            1,
            k as isize,
            weight.values.as_ptr(),
            weight.col_stride,
            weight.row_stride,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        );
        out.set_len(rows * n);
    }
    out
}

vectorized! {
    /// Adds the bias to the output rows `first_row..` in `block` (each `n` wide)
    /// and applies the epilogue.
    fn finish_rows(block: &mut [f32], n: usize, first_row: usize, bias: Option<&[f32]>, epilogue: Epilogue) {
        for (i, row) in block.chunks_exact_mut(n).enumerate() {
            finish_row(row, first_row + i, bias, epilogue);
        }
    }
}

/// Adds the bias to one output row and applies the epilogue.
#[inline(always)]
fn finish_row(row: &mut [f32], index: usize, bias: Option<&[f32]>, epilogue: Epilogue) {
    if let Some(bias) = bias {
        row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
    }
    match epilogue {
        Epilogue::Activation(Activation::None) => {}
        Epilogue::Activation(Activation::Gelu) => row.iter_mut().for_each(|v| *v = gelu(*v)),
        Epilogue::Activation(Activation::QuickGelu) => {
            row.iter_mut().for_each(|v| *v = quick_gelu(*v))
        }
        Epilogue::Residual(residual) => {
            let residual = &residual[index * row.len()..(index + 1) * row.len()];
            row.iter_mut().zip(residual).for_each(|(v, r)| *v += r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::cpu::product_check::values;

    /// `x·W + b` in f64, row-major W `[k, n]`.
    fn reference(x: &[f32], w: &[f32], b: &[f32], k: usize, n: usize) -> Vec<f64> {
        let rows = x.len() / k;
        let mut out = vec![0.0; rows * n];
        for r in 0..rows {
            for c in 0..n {
                let dot: f64 = (0..k)
                    .map(|i| x[r * k + i] as f64 * w[i * n + c] as f64)
                    .sum();
                out[r * n + c] = dot + b[c] as f64;
            }
        }
        out
    }

    fn row_major(w: &[f32], k: usize, n: usize) -> Operand<'_> {
        Operand::Strided(Weight {
            values: w,
            row_stride: n as isize,
            col_stride: 1,
            dims: [k, n],
        })
    }

    #[test]
    fn every_epilogue_matches_its_definition() {
        let (rows, k, n) = (37, 70, 45);
        let (x, w, b, residual) = (
            values(rows * k, 1),
            values(k * n, 2),
            values(n, 3),
            values(rows * n, 4),
        );
        let exact = reference(&x, &w, &b, k, n);
        let close = |got: &[f32], want: &dyn Fn(f64, usize) -> f64| {
            for (i, (&g, &e)) in got.iter().zip(&exact).enumerate() {
                let want = want(e, i);
                assert!((g as f64 - want).abs() < 1e-5, "element {i}: {g} vs {want}");
            }
        };
        let weight = row_major(&w, k, n);
        close(
            &linear(&x, weight, Some(&b), Epilogue::Activation(Activation::None)),
            &|e, _| e,
        );
        let gelu_exact = |e: f64| 0.5 * e * (1.0 + libm::erf(e / std::f64::consts::SQRT_2));
        close(
            &linear(&x, weight, Some(&b), Epilogue::Activation(Activation::Gelu)),
            &|e, _| gelu_exact(e),
        );
        let quick = |e: f64| e / (1.0 + (-1.702 * e).exp());
        close(
            &linear(
                &x,
                weight,
                Some(&b),
                Epilogue::Activation(Activation::QuickGelu),
            ),
            &|e, _| quick(e),
        );
        close(
            &linear(&x, weight, Some(&b), Epilogue::Residual(&residual)),
            &|e, i| e + residual[i] as f64,
        );
    }

    #[test]
    fn a_transposed_weight_and_no_bias_work() {
        let (rows, k, n) = (5, 8, 3);
        let (x, w) = (values(rows * k, 5), values(k * n, 6));
        // The same matrix stored column by column.
        let w_t: Vec<f32> = (0..n)
            .flat_map(|c| (0..k).map(move |i| (i, c)))
            .map(|(i, c)| w[i * n + c])
            .collect();
        let weight = Weight {
            values: &w_t,
            row_stride: 1,
            col_stride: k as isize,
            dims: [k, n],
        };
        let got = linear(
            &x,
            Operand::Strided(weight),
            None,
            Epilogue::Activation(Activation::None),
        );
        let want = reference(&x, &w, &vec![0.0; n], k, n);
        for (g, e) in got.iter().zip(&want) {
            assert!((*g as f64 - e).abs() < 1e-5);
        }
    }
}

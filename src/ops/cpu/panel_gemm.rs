//! The matrix product of the browser's linear layers: `x·W` with W packed in
//! panels of eight columns, each 4×8 output tile kept in eight 4-lane
//! registers for a whole block of `k`. The threaded module is built with
//! relaxed SIMD and fuses each multiply-add (one FMA instruction in V8); the
//! plain module multiplies and adds. Four rows, not six: V8 allocates fifteen
//! SIMD registers on x86-64, which 6×8 fills (twelve accumulators, two W
//! vectors, one broadcast x); 4×8 ran 1.3× faster than 6×8 on the MLP's
//! [226×896]·[896×3584] in a kernel benchmark under Node.
//!
//! Natively the `gemm` crate's AVX kernels are faster; this file compiles for
//! WebAssembly, and for the tests with a plain-array stand-in for the lanes.

use super::linear::Weight;
use super::parallel::{for_each_task, threads};

/// Rows of one output tile.
const MR: usize = 4;
const _: () = assert!(
    MR == 4,
    "product_columns dispatches tile heights 1, 2, 3 and MR"
);
/// Columns of one output tile and of one packed panel of W.
const NR: usize = 8;
/// Depth of one packed block of W: a 4×256 slice of x stays in L1 while it
/// meets every panel of the block.
const KC: usize = 256;
/// Widest column range one task packs (512 KiB of W per block).
const MAX_TASK_COLUMNS: usize = 512;

/// Writes `x·W` into `out`.
///
/// # Shapes
/// - `x`: `[rows, k]` row-major; `weight`: `[k, n]`
/// - `out`: `[rows, n]` row-major, every element overwritten
pub fn product(x: &[f32], weight: Weight, out: &mut [f32]) {
    let [k, n] = weight.dims;
    let rows = x.len() / k;
    assert_eq!(out.len(), rows * n, "the output must be {rows}×{n}");
    let task_columns = (n.div_ceil(4 * threads()).div_ceil(NR) * NR).clamp(NR, MAX_TASK_COLUMNS);
    let tasks = n.div_ceil(task_columns);
    let out = SharedOutput(out.as_mut_ptr());
    for_each_task(tasks, |task| {
        let columns = task * task_columns..((task + 1) * task_columns).min(n);
        // SAFETY: tasks write disjoint column ranges of the rows × n output.
        unsafe { product_columns(x, rows, weight, columns, &out) }
    });
}

/// The output's buffer, shared by tasks that write disjoint columns.
struct SharedOutput(*mut f32);
// SAFETY: every task writes only its own columns (see `product`).
unsafe impl Sync for SharedOutput {}

/// Computes the output columns `columns`, one packed block of W at a time.
///
/// # Safety
/// `out` points at a `rows × n` row-major buffer whose `columns` no other
/// thread touches meanwhile.
#[cfg_attr(relaxed_simd, target_feature(enable = "relaxed-simd"))]
unsafe fn product_columns(
    x: &[f32],
    rows: usize,
    weight: Weight,
    columns: std::ops::Range<usize>,
    out: &SharedOutput,
) {
    unsafe {
        let [k, n] = weight.dims;
        let panels = columns.len().div_ceil(NR);
        let mut packed = vec![0.0f32; panels * KC.min(k) * NR];
        for depth_start in (0..k).step_by(KC) {
            let depth = KC.min(k - depth_start);
            pack_block(
                weight,
                depth_start..depth_start + depth,
                columns.clone(),
                &mut packed,
            );
            for row in (0..rows).step_by(MR) {
                let x_tile = x.as_ptr().add(row * k + depth_start);
                for panel in 0..panels {
                    let column = columns.start + panel * NR;
                    let tile = Tile {
                        x: x_tile,
                        x_stride: k,
                        panel: packed.as_ptr().add(panel * depth * NR),
                        depth,
                        out: out.0.add(row * n + column),
                        out_stride: n,
                        columns: NR.min(columns.end - column),
                        accumulate: depth_start > 0,
                    };
                    // Heights 1..MR, one copy each (see the assertion on MR).
                    match rows - row {
                        1 => tile.run::<1>(),
                        2 => tile.run::<2>(),
                        3 => tile.run::<3>(),
                        _ => tile.run::<MR>(),
                    }
                }
            }
        }
    }
}

/// Copies W's `depth` rows × `columns` into panels of NR columns, each panel
/// row after row (NR values per row of W); columns past the end are zeros.
fn pack_block(
    weight: Weight,
    depth: std::ops::Range<usize>,
    columns: std::ops::Range<usize>,
    packed: &mut [f32],
) {
    let (row_stride, col_stride) = (weight.row_stride, weight.col_stride);
    let rows = depth.len();
    for (panel, start) in columns.clone().step_by(NR).enumerate() {
        let width = NR.min(columns.end - start);
        let panel_values = &mut packed[panel * rows * NR..(panel + 1) * rows * NR];
        for (i, dst) in panel_values.chunks_exact_mut(NR).enumerate() {
            let row_offset = (depth.start + i) as isize * row_stride;
            for (j, value) in dst.iter_mut().enumerate() {
                *value = if j < width {
                    weight.values[(row_offset + (start + j) as isize * col_stride) as usize]
                } else {
                    0.0
                };
            }
        }
    }
}

/// One output tile of up to MR rows and NR columns over one block of depth.
struct Tile {
    /// x at (first row, first depth of the block).
    x: *const f32,
    x_stride: usize,
    /// The packed panel: `depth` rows of NR values.
    panel: *const f32,
    depth: usize,
    /// out at (first row, first column).
    out: *mut f32,
    out_stride: usize,
    /// Columns of the tile that exist (the last panel may be narrower).
    columns: usize,
    /// Add to `out` (later blocks) instead of overwriting it (the first).
    accumulate: bool,
}

impl Tile {
    /// # Safety
    /// The pointers cover `R` rows of x over `depth`, the panel, and `R` rows
    /// of `columns` outputs.
    #[inline(always)]
    unsafe fn run<const R: usize>(&self) {
        unsafe {
            let mut acc = [[lanes::zero(); 2]; R];
            for d in 0..self.depth {
                let w = self.panel.add(d * NR);
                let (w0, w1) = (lanes::load(w), lanes::load(w.add(4)));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let xv = lanes::splat(*self.x.add(r * self.x_stride + d));
                    acc[0] = lanes::madd(xv, w0, acc[0]);
                    acc[1] = lanes::madd(xv, w1, acc[1]);
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                self.store(r, acc);
            }
        }
    }

    /// Writes (or adds) one row of the tile.
    #[inline(always)]
    unsafe fn store(&self, row: usize, acc: &[lanes::F32x4; 2]) {
        unsafe {
            let out = self.out.add(row * self.out_stride);
            if self.columns == NR {
                for (half, &value) in acc.iter().enumerate() {
                    let at = out.add(4 * half);
                    let value = if self.accumulate {
                        lanes::add(lanes::load(at), value)
                    } else {
                        value
                    };
                    lanes::store(at, value);
                }
            } else {
                let mut values = [0.0f32; NR];
                lanes::store(values.as_mut_ptr(), acc[0]);
                lanes::store(values.as_mut_ptr().add(4), acc[1]);
                for (j, &value) in values.iter().take(self.columns).enumerate() {
                    let at = out.add(j);
                    *at = if self.accumulate { *at + value } else { value };
                }
            }
        }
    }
}

/// Four f32 lanes: WebAssembly SIMD in the browser modules.
#[cfg(target_arch = "wasm32")]
mod lanes {
    use core::arch::wasm32::*;

    pub type F32x4 = v128;

    #[inline(always)]
    pub fn zero() -> F32x4 {
        f32x4_splat(0.0)
    }

    #[inline(always)]
    pub fn splat(value: f32) -> F32x4 {
        f32x4_splat(value)
    }

    /// # Safety
    /// `at` points at four readable f32 (any alignment).
    #[inline(always)]
    pub unsafe fn load(at: *const f32) -> F32x4 {
        unsafe { v128_load(at as *const v128) }
    }

    /// # Safety
    /// `at` points at four writable f32 (any alignment).
    #[inline(always)]
    pub unsafe fn store(at: *mut f32, value: F32x4) {
        unsafe { v128_store(at as *mut v128, value) }
    }

    #[inline(always)]
    pub fn add(a: F32x4, b: F32x4) -> F32x4 {
        f32x4_add(a, b)
    }

    /// `a·b + c`: one fused instruction with relaxed SIMD (rounded once or
    /// twice, as the CPU does it), else a multiply and an add. Inlined into
    /// `product_columns`, which enables relaxed SIMD in the threaded module.
    #[inline(always)]
    pub fn madd(a: F32x4, b: F32x4, c: F32x4) -> F32x4 {
        #[cfg(relaxed_simd)]
        return f32x4_relaxed_madd(a, b, c);
        #[cfg(not(relaxed_simd))]
        return f32x4_add(f32x4_mul(a, b), c);
    }
}

/// The same lanes as plain arrays, for the native tests of the blocking.
#[cfg(not(target_arch = "wasm32"))]
mod lanes {
    pub type F32x4 = [f32; 4];

    pub fn zero() -> F32x4 {
        [0.0; 4]
    }

    pub fn splat(value: f32) -> F32x4 {
        [value; 4]
    }

    pub unsafe fn load(at: *const f32) -> F32x4 {
        unsafe { std::ptr::read_unaligned(at as *const F32x4) }
    }

    pub unsafe fn store(at: *mut f32, value: F32x4) {
        unsafe { std::ptr::write_unaligned(at as *mut F32x4, value) }
    }

    pub fn add(a: F32x4, b: F32x4) -> F32x4 {
        std::array::from_fn(|i| a[i] + b[i])
    }

    pub fn madd(a: F32x4, b: F32x4, c: F32x4) -> F32x4 {
        std::array::from_fn(|i| a[i].mul_add(b[i], c[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::cpu::product_check::check_product;

    /// Every tile height, a narrow last panel, several depth blocks, and both
    /// weight layouts, against an f64 product.
    #[test]
    fn matches_the_definition_at_every_edge() {
        let shapes = [(13, 600, 21), (6, 256, 8), (1, 3, 1), (227, 70, 1040)];
        check_product(&shapes, |x, weight| {
            let mut out = vec![f32::NAN; x.len() / weight.dims[0] * weight.dims[1]];
            product(x, weight, &mut out);
            out
        });
    }
}

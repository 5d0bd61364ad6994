//! The native (x86-64) matrix product of the linear layers: `x·W` with W packed
//! once, on first use, into panels of sixteen columns (see `weight_cache.rs`),
//! x packed on each call into tiles of six rows, and each 6×16 output tile
//! kept in twelve AVX registers for a whole block of `k` (the classic AVX2
//! shape: twelve accumulators, two W vectors and one broadcast x fill the
//! sixteen registers). Packing W once is what beats the `gemm` crate, which
//! packs it again on every call: in a kernel benchmark on the model's shapes
//! (2 threads, median of 25, alternating) this ran 4–20 % faster.
//!
//! Used where the CPU has AVX2 and FMA but not AVX-512 (see [`preferred`]);
//! elsewhere `linear.rs` keeps `gemm`.

use std::arch::x86_64::*;

use super::linear::Weight;
use super::parallel::{for_each_task, threads};

/// Rows of one output tile.
const MR: usize = 6;
/// Columns of one output tile and of one packed panel: two AVX vectors.
const NR: usize = 16;
/// Depth of one packed block: one 256 × 16 panel (16 KiB) stays in L1 while
/// the rows of x pass it.
const KC: usize = 256;
/// Rows of x one pass over the panels covers: 144 × 256 values (144 KiB) stay
/// in L2. These are BLIS's blocking for AMD Zen; in A/B runs of `inctrl bench`
/// on the 2-core AVX2 machine they ran a K = 2 prompt set about 15 % faster
/// than 512 × 480, whose x block (up to 960 KiB) left L2.
const MC: usize = 144;

const _: () = assert!(MC % MR == 0, "row blocks must start on packed row tiles");

/// Whether this CPU can run the kernel.
pub fn supported() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// Whether the linear layers should use it: CPUs with AVX2 and FMA but
/// without AVX-512, where `gemm`'s kernels are as wide as ours and repack W
/// on every call. With AVX-512 `gemm` computes sixteen lanes at a time to our
/// eight, so it keeps those CPUs.
pub fn preferred() -> bool {
    supported() && !is_x86_feature_detected!("avx512f")
}

/// W `[k, n]` as blocks of KC rows, each block as panels of NR columns stored
/// row after row; columns past `n` are zeros.
pub struct PackedWeight {
    values: Vec<f32>,
    /// `[k, n]`.
    dims: [usize; 2],
}

impl PackedWeight {
    /// Packs `weight` (any strides).
    pub fn new(weight: Weight) -> Self {
        let [k, n] = weight.dims;
        let panels = n.div_ceil(NR);
        let mut values = Vec::with_capacity(k * panels * NR);
        for block in (0..k).step_by(KC) {
            for panel in 0..panels {
                for depth in block..(block + KC).min(k) {
                    let row = depth as isize * weight.row_stride;
                    values.extend((panel * NR..(panel + 1) * NR).map(|column| {
                        if column < n {
                            weight.values[(row + column as isize * weight.col_stride) as usize]
                        } else {
                            0.0
                        }
                    }));
                }
            }
        }
        Self {
            values,
            dims: [k, n],
        }
    }

    /// `[k, n]`.
    pub fn dims(&self) -> [usize; 2] {
        self.dims
    }

    /// The panel `panel` of the block that starts at depth `block`.
    fn panel(&self, block: usize, panel: usize) -> *const f32 {
        let [k, n] = self.dims;
        let depth = KC.min(k - block);
        let padded_n = n.div_ceil(NR) * NR;
        self.values[block * padded_n + panel * depth * NR..].as_ptr()
    }
}

/// `x·W`. Call only where [`supported`] holds.
///
/// # Shapes
/// - `x`: `[rows, k]` row-major; `weight`: `[k, n]`
/// - output: `[rows, n]` row-major
pub fn product(x: &[f32], weight: &PackedWeight) -> Vec<f32> {
    let [k, n] = weight.dims;
    let rows = x.len() / k;
    assert_eq!(rows * k, x.len(), "input rows must be {k} wide");
    assert!(supported(), "the packed product needs AVX2 and FMA");
    let x = pack_rows(x, k);
    let panels = n.div_ceil(NR);
    let panels_per_task = panels.div_ceil(4 * threads()).max(1);
    let mut out = Vec::with_capacity(rows * n);
    let shared = SharedOutput(out.as_mut_ptr());
    for_each_task(panels.div_ceil(panels_per_task), |task| {
        let task_panels = task * panels_per_task..((task + 1) * panels_per_task).min(panels);
        // SAFETY: the CPU has AVX2 and FMA (asserted above); tasks write
        // disjoint column ranges of the rows × n buffer.
        unsafe { product_panels(&x, rows, weight, task_panels, &shared) }
    });
    // SAFETY: the first block of depth stored every row of every panel, so
    // all rows × n values are written.
    unsafe { out.set_len(rows * n) };
    out
}

/// x `[rows, k]` as tiles of MR rows, each tile depth after depth (MR values
/// per depth, rows past the end zero), so that a tile's inner loop reads one
/// stream at fixed offsets. Tasks pack disjoint tiles: for a K = 8 prompt set
/// the MLP's input is 26 MB, too much for one thread to copy while the other
/// waits.
fn pack_rows(x: &[f32], k: usize) -> Vec<f32> {
    let tiles = (x.len() / k).div_ceil(MR);
    let tiles_per_task = tiles.div_ceil(4 * threads()).max(1);
    let mut packed = Vec::with_capacity(tiles * MR * k);
    let shared = SharedOutput(packed.as_mut_ptr());
    for_each_task(tiles.div_ceil(tiles_per_task), |task| {
        for tile in task * tiles_per_task..((task + 1) * tiles_per_task).min(tiles) {
            let rows = &x[tile * MR * k..((tile + 1) * MR * k).min(x.len())];
            // SAFETY: tile < tiles, so its MR·k values lie inside the buffer's
            // capacity; no other task writes this tile.
            unsafe { pack_tile(rows, k, shared.at(tile * MR * k)) }
        }
    });
    // SAFETY: the tasks wrote all MR·k values of every tile.
    unsafe { packed.set_len(tiles * MR * k) };
    packed
}

/// Writes up to MR rows of x (`rows`, each k long) as one packed tile.
///
/// # Safety
/// `tile` is valid for MR·k writes.
unsafe fn pack_tile(rows: &[f32], k: usize, tile: *mut f32) {
    let present = rows.len() / k;
    for depth in 0..k {
        for row in 0..MR {
            let value = if row < present {
                rows[row * k + depth]
            } else {
                0.0
            };
            // SAFETY: depth·MR + row < MR·k.
            unsafe { tile.add(depth * MR + row).write(value) };
        }
    }
}

/// A buffer shared by tasks that write disjoint parts of it: the output's
/// columns (see `product`) or x's packed tiles (see `pack_rows`).
struct SharedOutput(*mut f32);
// SAFETY: every task writes only its own part.
unsafe impl Sync for SharedOutput {}

impl SharedOutput {
    /// The element at `offset` (a method, so that closures capture the whole
    /// `Sync` wrapper rather than its raw pointer).
    fn at(&self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// Computes the output columns of `panels`, one block of depth at a time:
/// the first block stores, later ones add.
///
/// # Safety
/// The CPU has AVX2 and FMA; `x` is `pack_rows` of a `[rows, k]` input; `out`
/// points at a `rows × n` row-major buffer whose columns in `panels` no other
/// thread touches meanwhile.
#[target_feature(enable = "avx2,fma")]
unsafe fn product_panels(
    x: &[f32],
    rows: usize,
    weight: &PackedWeight,
    panels: std::ops::Range<usize>,
    out: &SharedOutput,
) {
    let [k, n] = weight.dims;
    for block in (0..k).step_by(KC) {
        let depth = KC.min(k - block);
        for first_row in (0..rows).step_by(MC) {
            let last_row = (first_row + MC).min(rows);
            for panel in panels.clone() {
                let column = panel * NR;
                for row in (first_row..last_row).step_by(MR) {
                    let tile = Tile {
                        x: x[row * k + block * MR..].as_ptr(),
                        panel: weight.panel(block, panel),
                        depth,
                        // SAFETY: row < rows and column < n stay inside out.
                        out: unsafe { out.0.add(row * n + column) },
                        out_stride: n,
                        rows: MR.min(last_row - row),
                        columns: NR.min(n - column),
                        accumulate: block > 0,
                    };
                    // SAFETY: the tile's pointers cover its rows and columns.
                    unsafe { tile.run() }
                }
            }
        }
    }
}

/// One output tile of up to MR rows and NR columns over one block of depth.
struct Tile {
    /// The packed rows of x at the first depth of the block: `depth` × MR values.
    x: *const f32,
    /// The packed panel: `depth` rows of NR values.
    panel: *const f32,
    depth: usize,
    /// out at (first row, first column).
    out: *mut f32,
    out_stride: usize,
    /// Rows of the tile that exist (the last tile may be lower); the packed
    /// rows past them are zeros, computed and not stored.
    rows: usize,
    /// Columns of the tile that exist (the last panel may be narrower).
    columns: usize,
    /// Add to `out` (later blocks) instead of overwriting it (the first).
    accumulate: bool,
}

impl Tile {
    /// # Safety
    /// AVX2 and FMA; the pointers cover `depth` × MR values of x, the panel,
    /// and `rows` rows of `columns` outputs.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn run(&self) {
        unsafe {
            if self.accumulate {
                self.prefetch_output();
            }
            let mut acc = [[_mm256_setzero_ps(); 2]; MR];
            let (x, w) = (self.x, self.panel);
            // Four steps per iteration: in A/B runs of the model's shapes this
            // ran 5–10 % faster than one step per iteration.
            let unrolled = self.depth / 4 * 4;
            for depth in (0..unrolled).step_by(4) {
                for step in depth..depth + 4 {
                    multiply_add(&mut acc, x.add(step * MR), w.add(step * NR));
                }
            }
            for step in unrolled..self.depth {
                multiply_add(&mut acc, x.add(step * MR), w.add(step * NR));
            }
            for (r, acc) in acc.iter().take(self.rows).enumerate() {
                self.store(r, acc);
            }
        }
    }

    /// Asks for the tile's output rows ahead of the loop that adds to them:
    /// with k = 3584 each tile is revisited fourteen times, and its rows have
    /// by then left L1 and L2, so loading them only after the loop stalled it.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn prefetch_output(&self) {
        for row in 0..self.rows {
            let first = self.out.wrapping_add(row * self.out_stride);
            _mm_prefetch::<_MM_HINT_T0>(first.cast());
            _mm_prefetch::<_MM_HINT_T0>(first.wrapping_add(NR - 1).cast());
        }
    }

    /// Writes (or adds) one row of the tile.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store(&self, row: usize, acc: &[__m256; 2]) {
        unsafe {
            let out = self.out.add(row * self.out_stride);
            if self.columns == NR {
                for (half, &value) in acc.iter().enumerate() {
                    let at = out.add(8 * half);
                    let value = if self.accumulate {
                        _mm256_add_ps(_mm256_loadu_ps(at), value)
                    } else {
                        value
                    };
                    _mm256_storeu_ps(at, value);
                }
            } else {
                let mut values = [0.0f32; NR];
                _mm256_storeu_ps(values.as_mut_ptr(), acc[0]);
                _mm256_storeu_ps(values.as_mut_ptr().add(8), acc[1]);
                for (j, &value) in values.iter().take(self.columns).enumerate() {
                    let at = out.add(j);
                    *at = if self.accumulate { *at + value } else { value };
                }
            }
        }
    }
}

/// One step of depth: the tile's rows of x (broadcast) times the panel's row.
///
/// # Safety
/// AVX2 and FMA; `x` covers MR values and `w` NR values.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn multiply_add(acc: &mut [[__m256; 2]; MR], x: *const f32, w: *const f32) {
    unsafe {
        let (w0, w1) = (_mm256_loadu_ps(w), _mm256_loadu_ps(w.add(8)));
        for (r, acc) in acc.iter_mut().enumerate() {
            let xv = _mm256_broadcast_ss(&*x.add(r));
            acc[0] = _mm256_fmadd_ps(xv, w0, acc[0]);
            acc[1] = _mm256_fmadd_ps(xv, w1, acc[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::cpu::product_check::check_product;

    /// Every tile height, a narrow last panel, several depth and row blocks,
    /// depth blocks that end between the unrolled steps, and both weight
    /// layouts, against an f64 product.
    #[test]
    fn matches_the_definition_at_every_edge() {
        if !supported() {
            eprintln!("skipped: this CPU lacks AVX2 or FMA, so the kernel never runs here");
            return;
        }
        let shapes = [(13, 1101, 21), (6, 512, 16), (1, 3, 1), (487, 70, 1040)];
        check_product(&shapes, |x, weight| product(x, &PackedWeight::new(weight)));
    }
}

//! Multi-head self-attention straight from the fused Q/K/V projection: each
//! (image, head) is one task that reads its Q, K and V columns in place, keeps
//! its `tokens × tokens` scores in a private buffer, and writes its context
//! columns into the output, so no head is ever copied out or transposed.

use super::math::softmax;
use super::parallel::for_each_task;

/// The output buffer the tasks share; each writes only its own head's columns.
struct SharedOutput(*mut f32);

// SAFETY: tasks write disjoint (image, head) column blocks of the buffer.
unsafe impl Sync for SharedOutput {}

/// Shape of one attention call.
#[derive(Clone, Copy, Debug)]
pub struct AttentionShape {
    /// Images in the batch.
    pub batch: usize,
    /// Tokens per image.
    pub tokens: usize,
    /// Residual width, `heads · head_width`.
    pub width: usize,
    /// Number of heads.
    pub heads: usize,
}

/// `softmax(Q_h K_hᵀ / √d) V_h` for every head `h`, heads side by side.
/// `causal` lets a token attend only to itself and earlier tokens.
///
/// # Shapes
/// - `qkv`: `[batch, tokens, 3·width]` row-major, Q then K then V
/// - output: `[batch, tokens, width]` row-major
pub fn self_attention(qkv: &[f32], shape: AttentionShape, causal: bool) -> Vec<f32> {
    let AttentionShape {
        batch,
        tokens,
        width,
        heads,
    } = shape;
    assert_eq!(
        qkv.len(),
        batch * tokens * 3 * width,
        "qkv must be [batch, tokens, 3·width]"
    );
    assert_eq!(width % heads, 0, "heads must divide the width");
    let head_width = width / heads;
    let scale = 1.0 / (head_width as f32).sqrt();
    let mut out = Vec::with_capacity(batch * tokens * width);
    let shared = SharedOutput(out.as_mut_ptr());
    let shared = &shared;
    for_each_task(batch * heads, |task| {
        let (image, head) = (task / heads, task % heads);
        let q = &qkv[image * tokens * 3 * width + head * head_width..];
        let (k, v) = (&q[width..], &q[2 * width..]);
        let mut scores = vec![0.0f32; tokens * tokens];
        let row_stride = 3 * width as isize;
        // SAFETY: every operand stays inside `qkv` (tokens rows of 3·width from
        // this head's offset) or `scores`; see `SharedOutput` for the output.
        unsafe {
            // scores = scale · Q·Kᵀ: Kᵀ is K read with its strides swapped.
            gemm_raw(
                tokens,
                tokens,
                head_width,
                scores.as_mut_ptr(),
                tokens as isize,
                q.as_ptr(),
                row_stride,
                1,
                k.as_ptr(),
                1,
                row_stride,
                scale,
            );
        }
        softmax_rows(&mut scores, tokens, causal);
        let context = shared
            .0
            .wrapping_add(image * tokens * width + head * head_width);
        // SAFETY: as above; this task's output block is tokens rows of
        // head_width values at this head's offset, written by no other task.
        unsafe {
            gemm_raw(
                tokens,
                head_width,
                tokens,
                context,
                width as isize,
                scores.as_ptr(),
                tokens as isize,
                1,
                v.as_ptr(),
                row_stride,
                1,
                1.0,
            );
        }
    });
    // SAFETY: the tasks above wrote every (image, token, head) block.
    unsafe { out.set_len(batch * tokens * width) };
    out
}

vectorized! {
    /// Softmax of every `tokens`-wide row of `scores`; with `causal`, row `i`
    /// over its first `i + 1` entries, the rest set to 0.
    fn softmax_rows(scores: &mut [f32], tokens: usize, causal: bool) {
        for (i, row) in scores.chunks_exact_mut(tokens).enumerate() {
            let visible = if causal { i + 1 } else { tokens };
            softmax(&mut row[..visible]);
            row[visible..].fill(0.0);
        }
    }
}

/// `dst = scale · lhs · rhs` on one thread (the tasks already share the pool),
/// `dst` row-major with unit column stride.
///
/// # Safety
/// Every pointer must cover its matrix at the given strides.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_row_stride: isize,
    lhs: *const f32,
    lhs_row_stride: isize,
    lhs_col_stride: isize,
    rhs: *const f32,
    rhs_row_stride: isize,
    rhs_col_stride: isize,
    scale: f32,
) {
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row_stride,
            false,
            lhs,
            lhs_col_stride,
            lhs_row_stride,
            rhs,
            rhs_col_stride,
            rhs_row_stride,
            0.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attention in f64 with explicit loops.
    fn reference(qkv: &[f32], shape: AttentionShape, causal: bool) -> Vec<f64> {
        let AttentionShape {
            batch,
            tokens,
            width,
            heads,
        } = shape;
        let d = width / heads;
        let at = |b: usize, t: usize, part: usize, h: usize, i: usize| {
            qkv[(b * tokens + t) * 3 * width + part * width + h * d + i] as f64
        };
        let mut out = vec![0.0; batch * tokens * width];
        for b in 0..batch {
            for h in 0..heads {
                for t in 0..tokens {
                    let visible = if causal { t + 1 } else { tokens };
                    let scores: Vec<f64> = (0..visible)
                        .map(|s| {
                            (0..d)
                                .map(|i| at(b, t, 0, h, i) * at(b, s, 1, h, i))
                                .sum::<f64>()
                                / (d as f64).sqrt()
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                    let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let sum: f64 = weights.iter().sum();
                    for i in 0..d {
                        out[(b * tokens + t) * width + h * d + i] = (0..visible)
                            .map(|s| weights[s] / sum * at(b, s, 2, h, i))
                            .sum();
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_with_and_without_the_causal_mask() {
        let shape = AttentionShape {
            batch: 2,
            tokens: 19,
            width: 24,
            heads: 3,
        };
        let qkv: Vec<f32> = (0..2 * 19 * 72)
            .map(|i| ((i as u32).wrapping_mul(2654435761) >> 8) as f32 / (1 << 22) as f32 - 2.0)
            .collect();
        for causal in [false, true] {
            let got = self_attention(&qkv, shape, causal);
            for (g, e) in got.iter().zip(reference(&qkv, shape, causal)) {
                assert!((*g as f64 - e).abs() < 1e-5, "causal {causal}: {g} vs {e}");
            }
        }
    }
}

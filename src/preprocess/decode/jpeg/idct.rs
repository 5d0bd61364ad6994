//! libjpeg-turbo's accurate integer inverse DCT (`jpeg_idct_islow` in
//! `jidctint.c`), the method Pillow gets by default. Its SIMD versions give
//! the same bytes, so this scalar form reproduces Pillow's output.

const CONST_BITS: u32 = 13;
const PASS1_BITS: u32 = 2;

const FIX_0_298631336: i64 = 2446;
const FIX_0_390180644: i64 = 3196;
const FIX_0_541196100: i64 = 4433;
const FIX_0_765366865: i64 = 6270;
const FIX_0_899976223: i64 = 7373;
const FIX_1_175875602: i64 = 9633;
const FIX_1_501321110: i64 = 12299;
const FIX_1_847759065: i64 = 15137;
const FIX_1_961570560: i64 = 16069;
const FIX_2_053119869: i64 = 16819;
const FIX_2_562915447: i64 = 20995;
const FIX_3_072711026: i64 = 25172;

/// `DESCALE`: shift right by `n` with rounding (arithmetic shift).
fn descale(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// The post-IDCT `range_limit[x & RANGE_MASK]` lookup: adds the +128 level
/// shift and clamps, with the same wrap-around for wild values.
fn range_limit(x: i64) -> u8 {
    let i = (x & 1023) as i32;
    match i {
        0..=127 => (i + 128) as u8,
        128..=511 => 255,
        512..=895 => 0,
        _ => (i - 896) as u8,
    }
}

/// The even/odd butterflies shared by both passes: returns the four
/// (even + odd, even - odd) output pairs for inputs `v[0..8]`, not yet
/// descaled, with `v[0]`/`v[4]` pre-shifted by `CONST_BITS`.
fn butterfly(v: [i64; 8]) -> [(i64, i64); 4] {
    let z1 = (v[2] + v[6]) * FIX_0_541196100;
    let tmp2 = z1 + v[6] * -FIX_1_847759065;
    let tmp3 = z1 + v[2] * FIX_0_765366865;
    let tmp0 = (v[0] + v[4]) << CONST_BITS;
    let tmp1 = (v[0] - v[4]) << CONST_BITS;
    let (tmp10, tmp13) = (tmp0 + tmp3, tmp0 - tmp3);
    let (tmp11, tmp12) = (tmp1 + tmp2, tmp1 - tmp2);

    let (t0, t1, t2, t3) = (v[7], v[5], v[3], v[1]);
    let (z1, z2, z3, z4) = (t0 + t3, t1 + t2, t0 + t2, t1 + t3);
    let z5 = (z3 + z4) * FIX_1_175875602;
    let t0 = t0 * FIX_0_298631336;
    let t1 = t1 * FIX_2_053119869;
    let t2 = t2 * FIX_3_072711026;
    let t3 = t3 * FIX_1_501321110;
    let z1 = z1 * -FIX_0_899976223;
    let z2 = z2 * -FIX_2_562915447;
    let z3 = z3 * -FIX_1_961570560 + z5;
    let z4 = z4 * -FIX_0_390180644 + z5;
    let t0 = t0 + z1 + z3;
    let t1 = t1 + z2 + z4;
    let t2 = t2 + z2 + z3;
    let t3 = t3 + z1 + z4;
    [
        (tmp10 + t3, tmp10 - t3),
        (tmp11 + t2, tmp11 - t2),
        (tmp12 + t1, tmp12 - t1),
        (tmp13 + t0, tmp13 - t0),
    ]
}

/// Scatters butterfly pairs to positions (0,7), (1,6), (2,5), (3,4).
fn unpair(pairs: [(i64, i64); 4], mut f: impl FnMut(usize, i64)) {
    for (i, (a, b)) in pairs.into_iter().enumerate() {
        f(i, a);
        f(7 - i, b);
    }
}

/// Dequantises and inverse-transforms one block (coefficients in natural
/// order) into 8x8 samples written at `out[row * stride + col]`.
pub(super) fn idct_islow(coefs: &[i16; 64], quant: &[u16; 64], out: &mut [u8], stride: usize) {
    let mut ws = [0i32; 64];
    for col in 0..8 {
        let v: [i64; 8] = std::array::from_fn(|r| {
            i64::from(i32::from(coefs[r * 8 + col]) * i32::from(quant[r * 8 + col]))
        });
        unpair(butterfly(v), |r, x| {
            ws[r * 8 + col] = descale(x, CONST_BITS - PASS1_BITS) as i32;
        });
    }
    for row in 0..8 {
        let v: [i64; 8] = std::array::from_fn(|c| i64::from(ws[row * 8 + c]));
        let line = &mut out[row * stride..row * stride + 8];
        unpair(butterfly(v), |c, x| {
            line[c] = range_limit(descale(x, CONST_BITS + PASS1_BITS + 3));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dc_only_block_is_flat() {
        let mut coefs = [0i16; 64];
        coefs[0] = -50;
        let quant = [2u16; 64];
        let mut out = [0u8; 64];
        idct_islow(&coefs, &quant, &mut out, 8);
        // DC -100 -> (-100 * 4 + 16) >> 5 = -12 -> 116
        assert!(out.iter().all(|&v| v == 116));
    }

    #[test]
    fn range_limit_clamps_and_wraps() {
        assert_eq!(range_limit(-128), 0);
        assert_eq!(range_limit(0), 128);
        assert_eq!(range_limit(127), 255);
        assert_eq!(range_limit(300), 255);
        assert_eq!(range_limit(-300), 0);
    }
}

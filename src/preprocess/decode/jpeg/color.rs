//! Chroma upsampling (`jdsample.c`, with libjpeg-turbo's default "fancy"
//! upsampling) and colour conversion (`jdcolor.c`).

/// One component's decoded samples: `width` x `height` real samples at the
/// top left of a `stride`-wide buffer of whole blocks.
pub(super) struct Plane {
    pub data: Vec<u8>,
    pub stride: usize,
    pub width: usize,
    pub height: usize,
}

impl Plane {
    /// The sample at (`x`, `y`) with coordinates clamped to the real area:
    /// libjpeg's context rows and edge cases replicate the edge samples.
    fn at(&self, x: isize, y: isize) -> i32 {
        let x = x.clamp(0, self.width as isize - 1) as usize;
        let y = y.clamp(0, self.height as isize - 1) as usize;
        i32::from(self.data[y * self.stride + x])
    }
}

/// Scales `plane` up by `hx` x `vy` to `out_w` x `out_h`, choosing the method
/// as `jinit_upsampler` does: fancy (triangle) filters for 2x1, 1x2 and 2x2
/// (2x1 and 2x2 only when the component is more than 2 samples wide), and
/// plain replication for every other integral ratio.
pub(super) fn upsample(plane: &Plane, hx: usize, vy: usize, out_w: usize, out_h: usize) -> Vec<u8> {
    let wide = plane.width > 2;
    let sample: &dyn Fn(usize, usize) -> u8 = match (hx, vy) {
        (2, 1) if wide => &|x, y| h2v1_fancy(plane, x, y),
        (1, 2) => &|x, y| h1v2_fancy(plane, x, y),
        (2, 2) if wide => &|x, y| h2v2_fancy(plane, x, y),
        _ => &|x, y| plane.at((x / hx) as isize, (y / vy) as isize) as u8,
    };
    let mut out = Vec::with_capacity(out_w * out_h);
    for y in 0..out_h {
        out.extend((0..out_w).map(|x| sample(x, y)));
    }
    out
}

/// `h2v1_fancy_upsample`: 3/4 of the nearer sample plus 1/4 of the other
/// neighbour, with rounding biases 1 (left output) and 2 (right output).
fn h2v1_fancy(p: &Plane, x: usize, y: usize) -> u8 {
    let (c, y) = ((x / 2) as isize, y as isize);
    let (other, bias) = if x.is_multiple_of(2) {
        (c - 1, 1)
    } else {
        (c + 1, 2)
    };
    ((3 * p.at(c, y) + p.at(other, y) + bias) >> 2) as u8
}

/// `h1v2_fancy_upsample`: the vertical counterpart of [`h2v1_fancy`].
fn h1v2_fancy(p: &Plane, x: usize, y: usize) -> u8 {
    let (x, r) = (x as isize, (y / 2) as isize);
    let (other, bias) = if y.is_multiple_of(2) {
        (r - 1, 1)
    } else {
        (r + 1, 2)
    };
    ((3 * p.at(x, r) + p.at(x, other) + bias) >> 2) as u8
}

/// `h2v2_fancy_upsample`: a triangle filter in both directions on column
/// sums `3 * nearer row + farther row`, rounding biases 8 (left) and 7 (right).
fn h2v2_fancy(p: &Plane, x: usize, y: usize) -> u8 {
    let (c, r) = ((x / 2) as isize, (y / 2) as isize);
    let other_row = if y.is_multiple_of(2) { r - 1 } else { r + 1 };
    let colsum = |col: isize| 3 * p.at(col, r) + p.at(col, other_row);
    let (other, bias) = if x.is_multiple_of(2) {
        (c - 1, 8)
    } else {
        (c + 1, 7)
    };
    ((3 * colsum(c) + colsum(other) + bias) >> 4) as u8
}

/// How the decoded components map to output samples (`jinit_color_deconverter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transform {
    /// Samples pass through (gray, RGB, CMYK).
    None,
    /// YCbCr to RGB.
    YCbCr,
    /// YCCK to CMYK: the YCbCr part to RGB, inverted; K passes through.
    Ycck,
}

/// `build_ycc_rgb_table` entries for one chroma value.
struct YccTables {
    cr_r: [i32; 256],
    cb_b: [i32; 256],
    cr_g: [i64; 256],
    cb_g: [i64; 256],
}

const SCALEBITS: u32 = 16;
const ONE_HALF: i64 = 1 << (SCALEBITS - 1);

/// `FIX(x)`: `x` in 16.16 fixed point, rounded.
fn fix(x: f64) -> i64 {
    (x * f64::from(1u32 << SCALEBITS) + 0.5) as i64
}

impl YccTables {
    fn new() -> Self {
        let mut t = Self {
            cr_r: [0; 256],
            cb_b: [0; 256],
            cr_g: [0; 256],
            cb_g: [0; 256],
        };
        for i in 0..256 {
            let x = i as i64 - 128;
            t.cr_r[i] = ((fix(1.40200) * x + ONE_HALF) >> SCALEBITS) as i32;
            t.cb_b[i] = ((fix(1.77200) * x + ONE_HALF) >> SCALEBITS) as i32;
            t.cr_g[i] = -fix(0.71414) * x;
            t.cb_g[i] = -fix(0.34414) * x + ONE_HALF;
        }
        t
    }

    /// `ycc_rgb_convert` for one pixel.
    fn rgb(&self, y: u8, cb: u8, cr: u8) -> [u8; 3] {
        let (y, cb, cr) = (i32::from(y), usize::from(cb), usize::from(cr));
        let g = ((self.cb_g[cb] + self.cr_g[cr]) >> SCALEBITS) as i32;
        [
            clamp(y + self.cr_r[cr]),
            clamp(y + g),
            clamp(y + self.cb_b[cb]),
        ]
    }
}

/// `range_limit[]` of the colour converter: a clamp to 0..=255.
fn clamp(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// Interleaves full-size component planes into pixels, converting colour.
pub(super) fn convert(planes: &[Vec<u8>], transform: Transform) -> Vec<u8> {
    let n = planes.len();
    let pixels = planes.first().map_or(0, Vec::len);
    let mut out = Vec::with_capacity(pixels * n);
    let tables = (transform != Transform::None).then(YccTables::new);
    for i in 0..pixels {
        match &tables {
            None => out.extend(planes.iter().map(|p| p[i])),
            Some(t) => {
                let rgb = t.rgb(planes[0][i], planes[1][i], planes[2][i]);
                if transform == Transform::Ycck {
                    out.extend(rgb.map(|v| 255 - v));
                    out.push(planes[3][i]);
                } else {
                    out.extend(rgb);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ycc_matches_libjpeg_tables() {
        let t = YccTables::new();
        assert_eq!(t.rgb(128, 128, 128), [128, 128, 128]);
        // Pure red JPEG sample values from libjpeg-turbo: Y=76 Cb=85 Cr=255.
        assert_eq!(t.rgb(76, 85, 255), [254, 0, 0]);
    }

    #[test]
    fn fancy_h2v1_matches_jdsample() {
        let plane = Plane {
            data: vec![10, 20, 40],
            stride: 3,
            width: 3,
            height: 1,
        };
        // 10, (30+20+2)>>2=13, (60+10+1)>>2=17, (60+40+2)>>2=25, (120+20+1)>>2=35, 40
        assert_eq!(upsample(&plane, 2, 1, 6, 1), vec![10, 13, 17, 25, 35, 40]);
    }
}

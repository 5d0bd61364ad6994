//! Pillow's `Image.resize(size, BICUBIC)`, computed only inside the crop window.
//!
//! Every output pixel of Pillow's separable resampler depends only on its own
//! filter coefficients, so producing just the centre-crop window gives the same
//! bytes as resizing the whole image and cropping afterwards, while keeping
//! memory bounded for extreme aspect ratios (a 1x5000 image resizes to
//! 240x1200000).

use std::ops::Range;

use super::convert;
use super::image::{Mode, PilImage, Samples};

/// Fixed-point precision of Pillow's 8-bit resampler (`PRECISION_BITS` in
/// `libImaging/Resample.c`).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Support of Pillow's bicubic filter before scaling.
const BICUBIC_SUPPORT: f64 = 2.0;

/// A rectangle of the resized image, in resized-image coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub left: usize,
    pub top: usize,
    pub width: usize,
    pub height: usize,
}

impl Window {
    fn columns(&self) -> Range<usize> {
        self.left..self.left + self.width
    }

    fn rows(&self) -> Range<usize> {
        self.top..self.top + self.height
    }
}

/// How `Image.resize` treats a mode.
#[derive(Clone, Copy)]
enum Method {
    /// Same size: `Image.resize` returns a copy.
    Copy,
    /// Modes `1` and `P`: Pillow forces `NEAREST`.
    Nearest,
    /// Everything else: the separable bicubic resampler.
    Bicubic,
}

/// Input and output sizes of one resize.
#[derive(Clone, Copy)]
struct Geometry {
    in_w: usize,
    in_h: usize,
    out_w: usize,
    out_h: usize,
    channels: usize,
    win: Window,
}

/// Resizes `img` to `out_w` x `out_h` the way Pillow's `Image.resize` does with
/// `BICUBIC`, returning only the pixels inside `win`.
///
/// Mirrors `Image.resize`: an unchanged size is a plain copy; modes `1` and `P`
/// are forced to NEAREST; `LA`/`RGBA` are resized premultiplied (`La`/`RGBa`)
/// and converted back.
pub(crate) fn resize_window(img: &PilImage, out_w: usize, out_h: usize, win: Window) -> PilImage {
    let method = if (out_w, out_h) == (img.width, img.height) {
        Method::Copy
    } else {
        match img.mode {
            Mode::P | Mode::Bilevel => Method::Nearest,
            Mode::La | Mode::Rgba => {
                let resized = resize_window(&convert::premultiply(img), out_w, out_h, win);
                return convert::unpremultiply(&resized);
            }
            _ => Method::Bicubic,
        }
    };
    let geometry = Geometry {
        in_w: img.width,
        in_h: img.height,
        out_w,
        out_h,
        channels: img.mode.channels(),
        win,
    };
    let samples = match &img.samples {
        Samples::U8(data) => Samples::U8(geometry.apply(method, data)),
        Samples::U16(data) => Samples::U16(geometry.apply(method, data)),
    };
    PilImage {
        mode: img.mode,
        width: win.width,
        height: win.height,
        samples,
        palette: img.palette.clone(),
    }
}

impl Geometry {
    fn apply<T: Sample>(&self, method: Method, data: &[T]) -> Vec<T> {
        match method {
            Method::Copy => self.crop(data, self.win.columns(), self.win.rows()).data,
            Method::Nearest => self.nearest(data),
            Method::Bicubic => self.bicubic(data),
        }
    }

    /// The source sub-rectangle `cols` x `rows`.
    fn crop<T: Sample>(&self, data: &[T], cols: Range<usize>, rows: Range<usize>) -> Plane<T> {
        let ch = self.channels;
        let mut out = Vec::with_capacity(cols.len() * rows.len() * ch);
        for y in rows.clone() {
            let row = y * self.in_w;
            out.extend_from_slice(&data[(row + cols.start) * ch..(row + cols.end) * ch]);
        }
        Plane {
            width: cols.len(),
            height: rows.len(),
            channels: ch,
            data: out,
        }
    }

    /// `ImagingResampleInner`: which passes run, and in which order.
    ///
    /// Pillow runs the vertical pass first only when the height shrinks by
    /// more than twice as many pixels as the width; since each pass rounds to
    /// the sample type, the order changes the result.
    fn bicubic<T: Sample>(&self, data: &[T]) -> Vec<T> {
        let need_h = self.out_w != self.in_w;
        let need_v = self.out_h != self.in_h;
        let kh = need_h.then(|| kernels(self.in_w, self.out_w, self.win.columns()));
        let kv = need_v.then(|| kernels(self.in_h, self.out_h, self.win.rows()));
        let cols = kh.as_deref().map_or(self.win.columns(), span);
        let rows = kv.as_deref().map_or(self.win.rows(), span);
        let plane = self.crop(data, cols.clone(), rows.clone());
        let run_h = |p: Plane<T>| match &kh {
            Some(k) => p.horizontal(k, cols.start),
            None => p,
        };
        let run_v = |p: Plane<T>| match &kv {
            Some(k) => p.vertical(k, rows.start),
            None => p,
        };
        let dy = self.in_h as i64 - self.out_h as i64;
        let dx = self.in_w as i64 - self.out_w as i64;
        let horizontal_first = !(dy > 0 && dy > dx * 2);
        let plane = if horizontal_first {
            run_v(run_h(plane))
        } else {
            run_h(run_v(plane))
        };
        plane.data
    }

    /// `ImagingScaleAffine` as called by `Image.resize` with `NEAREST`: source
    /// positions accumulate in `f64` from the first pixel on, exactly like the C
    /// loop, so rounding drift is reproduced.
    fn nearest<T: Sample>(&self, src: &[T]) -> Vec<T> {
        let xs = nearest_positions(self.in_w, self.out_w, self.win.columns());
        let ys = nearest_positions(self.in_h, self.out_h, self.win.rows());
        let ch = self.channels;
        let mut out = Vec::with_capacity(xs.len() * ys.len() * ch);
        for y in &ys {
            for x in &xs {
                match (y, x) {
                    (Some(y), Some(x)) => {
                        let at = (y * self.in_w + x) * ch;
                        out.extend_from_slice(&src[at..at + ch]);
                    }
                    // Pillow fills positions outside the source with zeros.
                    _ => out.extend(std::iter::repeat_n(T::default(), ch)),
                }
            }
        }
        out
    }
}

/// The source index Pillow's NEAREST picks for each output index in `range`
/// (`None` where it falls outside the source).
fn nearest_positions(in_size: usize, out_size: usize, range: Range<usize>) -> Vec<Option<usize>> {
    // `a[0] = (double)(box[2] - box[0]) / xsize` with `box` held as floats.
    let step = f64::from(in_size as f32) / out_size as f64;
    let mut pos = step * 0.5;
    let mut out = Vec::with_capacity(range.len());
    for i in 0..range.end {
        if i >= range.start {
            // `COORD(v)`: negative positions are invalid, others truncate.
            let index = if pos < 0.0 { None } else { Some(pos as usize) };
            out.push(index.filter(|&x| x < in_size));
        }
        pos += step;
    }
    out
}

/// Pillow's `bicubic_filter` (Keys' cubic with a = -0.5), written in the same
/// operation order so the `f64` results are identical.
fn bicubic_filter(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// The filter taps of one output sample: the first source index, the
/// normalised `f64` weights (used by the 16-bit resampler) and their
/// fixed-point form (used by the 8-bit one).
#[derive(Debug, Clone, PartialEq)]
struct Kernel {
    start: usize,
    weights: Vec<f64>,
    fixed: Vec<i32>,
}

/// `precompute_coeffs` for the outputs in `range` only; each output's
/// coefficients depend on nothing but its own index.
fn kernels(in_size: usize, out_size: usize, range: Range<usize>) -> Vec<Kernel> {
    let scale = f64::from(in_size as f32) / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = BICUBIC_SUPPORT * filterscale;
    let inv_filterscale = 1.0 / filterscale;
    range
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            // C casts to int, truncating toward zero, then clamps.
            let xmin = ((center - support + 0.5) as i64).max(0);
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64);
            let mut weights: Vec<f64> = (xmin..xmax)
                .map(|x| bicubic_filter((x as f64 - center + 0.5) * inv_filterscale))
                .collect();
            let total: f64 = weights.iter().sum();
            if total != 0.0 {
                weights.iter_mut().for_each(|w| *w /= total);
            }
            let fixed = weights.iter().map(|&w| to_fixed(w)).collect();
            Kernel {
                start: xmin as usize,
                weights,
                fixed,
            }
        })
        .collect()
}

/// `normalize_coeffs_8bpc`: round half away from zero into fixed point.
fn to_fixed(w: f64) -> i32 {
    let scaled = w * f64::from(1u32 << PRECISION_BITS);
    if w < 0.0 {
        (-0.5 + scaled) as i32
    } else {
        (0.5 + scaled) as i32
    }
}

/// The source range all `kernels` read from.
fn span(kernels: &[Kernel]) -> Range<usize> {
    let start = kernels.iter().map(|k| k.start).min().unwrap_or(0);
    let end = kernels
        .iter()
        .map(|k| k.start + k.weights.len())
        .max()
        .unwrap_or(0);
    start..end
}

/// A sample type with Pillow's accumulate-and-round rule for it.
trait Sample: Copy + Default {
    type Acc: Copy;
    /// The accumulator's start value.
    fn acc_start() -> Self::Acc;
    /// Adds `self * kernel[i]`.
    fn mac(self, acc: Self::Acc, kernel: &Kernel, i: usize) -> Self::Acc;
    /// Rounds and clips the accumulator to a sample.
    fn finish(acc: Self::Acc) -> Self;
}

/// `_ImagingResample*_8bpc`: fixed-point sums starting at one half, clipped by
/// `clip8` (an arithmetic shift, then a clamp to 0..=255).
impl Sample for u8 {
    type Acc = i32;

    fn acc_start() -> i32 {
        1 << (PRECISION_BITS - 1)
    }

    fn mac(self, acc: i32, kernel: &Kernel, i: usize) -> i32 {
        acc.wrapping_add(i32::from(self).wrapping_mul(kernel.fixed[i]))
    }

    fn finish(acc: i32) -> u8 {
        (acc >> PRECISION_BITS).clamp(0, 255) as u8
    }
}

/// `_ImagingResample*_16bpc` (mode `I;16`): `f64` sums, `ROUND_UP` then
/// `CLIP16`.
impl Sample for u16 {
    type Acc = f64;

    fn acc_start() -> f64 {
        0.0
    }

    fn mac(self, acc: f64, kernel: &Kernel, i: usize) -> f64 {
        acc + f64::from(self) * kernel.weights[i]
    }

    fn finish(acc: f64) -> u16 {
        // `ROUND_UP` adds a float 0.5 and truncates toward zero.
        let rounded = if acc >= 0.0 { acc + 0.5 } else { acc - 0.5 } as i64;
        rounded.clamp(0, 65535) as u16
    }
}

/// Interleaved samples of a rectangle.
#[derive(Debug)]
struct Plane<T> {
    width: usize,
    height: usize,
    channels: usize,
    data: Vec<T>,
}

impl<T: Sample> Plane<T> {
    /// One output column per kernel; kernel starts are relative to `origin`.
    fn horizontal(&self, kernels: &[Kernel], origin: usize) -> Plane<T> {
        let ch = self.channels;
        let mut data = Vec::with_capacity(kernels.len() * self.height * ch);
        for row in self.data.chunks_exact(self.width * ch) {
            for k in kernels {
                let base = (k.start - origin) * ch;
                for c in 0..ch {
                    let acc = (0..k.weights.len()).fold(T::acc_start(), |acc, i| {
                        row[base + i * ch + c].mac(acc, k, i)
                    });
                    data.push(T::finish(acc));
                }
            }
        }
        Plane {
            width: kernels.len(),
            height: self.height,
            channels: ch,
            data,
        }
    }

    /// One output row per kernel; kernel starts are relative to `origin`.
    /// Rows are accumulated in source order, as the C loop does per pixel.
    fn vertical(&self, kernels: &[Kernel], origin: usize) -> Plane<T> {
        let stride = self.width * self.channels;
        let mut data = Vec::with_capacity(kernels.len() * stride);
        let mut acc = vec![T::acc_start(); stride];
        for k in kernels {
            acc.fill(T::acc_start());
            for i in 0..k.weights.len() {
                let y = k.start - origin + i;
                let row = &self.data[y * stride..(y + 1) * stride];
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a = v.mac(*a, k, i);
                }
            }
            data.extend(acc.iter().map(|&a| T::finish(a)));
        }
        Plane {
            width: self.width,
            height: kernels.len(),
            channels: self.channels,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::image::palette_from_rgb;
    use super::*;

    /// Resizes the whole image (window = full output).
    fn resize(img: &PilImage, w: usize, h: usize) -> Samples {
        let win = Window {
            left: 0,
            top: 0,
            width: w,
            height: h,
        };
        resize_window(img, w, h, win).samples
    }

    fn gray(w: usize, h: usize, data: Vec<u8>) -> PilImage {
        PilImage::new_u8(Mode::L, w, h, data)
    }

    // Expected values below come from Pillow 13:
    // Image.frombytes(mode, size, data).resize(new_size, Image.BICUBIC).

    #[test]
    fn bicubic_downscale_matches_pillow() {
        let img = gray(
            5,
            3,
            vec![
                0, 50, 100, 150, 200, 255, 0, 255, 0, 255, 10, 20, 30, 40, 250,
            ],
        );
        assert_eq!(
            resize(&img, 3, 2),
            Samples::U8(vec![69, 114, 170, 66, 61, 157])
        );
    }

    #[test]
    fn bicubic_upscale_matches_pillow() {
        let img = gray(
            5,
            3,
            vec![
                0, 50, 100, 150, 200, 255, 0, 255, 0, 255, 10, 20, 30, 40, 250,
            ],
        );
        let expected = vec![
            0, 21, 65, 92, 140, 179, 200, 177, 74, 58, 213, 85, 122, 236, 181, 70, 40, 182, 35,
            104, 255, 0, 11, 22, 18, 22, 135, 255,
        ];
        assert_eq!(resize(&img, 7, 4), Samples::U8(expected));
        let tall = vec![
            33, 158, 53, 156, 107, 151, 142, 142, 91, 127, 25, 114, 0, 108,
        ];
        assert_eq!(resize(&img, 2, 7), Samples::U8(tall));
    }

    #[test]
    fn vertical_pass_first_when_height_shrinks_most() {
        let img = gray(3, 9, (0..27).map(|i| (i * 37 % 256) as u8).collect());
        assert_eq!(
            resize(&img, 2, 3),
            Samples::U8(vec![94, 96, 134, 109, 93, 147])
        );
    }

    #[test]
    fn window_equals_crop_of_full_resize() {
        let img = gray(
            5,
            3,
            vec![
                0, 50, 100, 150, 200, 255, 0, 255, 0, 255, 10, 20, 30, 40, 250,
            ],
        );
        let Samples::U8(full) = resize(&img, 7, 4) else {
            unreachable!()
        };
        let win = Window {
            left: 2,
            top: 1,
            width: 3,
            height: 2,
        };
        let part = resize_window(&img, 7, 4, win).samples;
        assert_eq!(
            part,
            Samples::U8(vec![
                full[9], full[10], full[11], full[16], full[17], full[18]
            ])
        );
    }

    #[test]
    fn sixteen_bit_matches_pillow() {
        let img = PilImage {
            mode: Mode::I16,
            width: 4,
            height: 2,
            samples: Samples::U16(vec![0, 300, 65535, 1000, 5, 60000, 7, 256]),
            palette: None,
        };
        let expected = vec![0, 35403, 22042, 9132, 33654, 10341, 19466, 31904, 0];
        assert_eq!(resize(&img, 3, 3), Samples::U16(expected));
    }

    #[test]
    fn palette_images_use_nearest() {
        let img = PilImage::new_paletted(Mode::P, 5, 1, vec![0, 1, 2, 3, 4], palette_from_rgb(&[]));
        assert_eq!(resize(&img, 3, 1), Samples::U8(vec![0, 2, 4]));
        let up = vec![0, 0, 1, 2, 2, 3, 4, 4, 0, 0, 1, 2, 2, 3, 4, 4];
        assert_eq!(resize(&img, 8, 2), Samples::U8(up));
    }

    #[test]
    fn rgba_is_resized_premultiplied() {
        let img = PilImage::new_u8(
            Mode::Rgba,
            3,
            1,
            vec![255, 0, 0, 255, 0, 255, 0, 0, 0, 0, 255, 128],
        );
        assert_eq!(
            resize(&img, 2, 1),
            Samples::U8(vec![255, 0, 0, 161, 0, 0, 255, 73])
        );
    }

    #[test]
    fn bicubic_filter_matches_keys_cubic() {
        assert_eq!(bicubic_filter(0.0), 1.0);
        assert_eq!(bicubic_filter(1.0), 0.0);
        assert_eq!(bicubic_filter(0.5), 0.5625);
        assert_eq!(bicubic_filter(-1.5), -0.0625);
        assert_eq!(bicubic_filter(2.0), 0.0);
    }
}

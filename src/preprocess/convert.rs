//! Pillow's mode conversions (`libImaging/Convert.c`) that the pipeline needs.

use super::image::{Mode, PilImage, Samples};

/// `MULDIV255`: `a * b / 255` rounded, with Pillow's shift trick.
fn muldiv255(a: u32, b: u32) -> u32 {
    let t = a * b + 128;
    ((t >> 8) + t) >> 8
}

/// Pillow's `CLIP8`.
fn clip8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// `RGBA -> RGBa` (`rgbA2rgba`) and `LA -> La` (`lA2la`): colour samples times
/// alpha / 255. Alpha is the last channel.
pub(crate) fn premultiply(img: &PilImage) -> PilImage {
    let mode = match img.mode {
        Mode::La => Mode::LaPremultiplied,
        _ => Mode::RgbaPremultiplied,
    };
    map_alpha_pixels(img, mode, |color, alpha| {
        muldiv255(color.into(), alpha.into()) as u8
    })
}

/// `RGBa -> RGBA` (`rgba2rgbA`) and `La -> LA` (`la2lA`): undo the
/// premultiplication, keeping samples whose alpha is 0 or 255.
pub(crate) fn unpremultiply(img: &PilImage) -> PilImage {
    let mode = match img.mode {
        Mode::LaPremultiplied => Mode::La,
        _ => Mode::Rgba,
    };
    map_alpha_pixels(img, mode, |color, alpha| match alpha {
        0 | 255 => color,
        a => clip8(255 * i32::from(color) / i32::from(a)),
    })
}

/// Rewrites every colour sample of an image with alpha as `f(color, alpha)`,
/// giving an image of `mode`.
fn map_alpha_pixels(img: &PilImage, mode: Mode, f: impl Fn(u8, u8) -> u8) -> PilImage {
    let Samples::U8(data) = &img.samples else {
        unreachable!("alpha modes are 8-bit")
    };
    let ch = img.mode.channels();
    let mut out = data.clone();
    for px in out.chunks_exact_mut(ch) {
        let alpha = px[ch - 1];
        for c in &mut px[..ch - 1] {
            *c = f(*c, alpha);
        }
    }
    PilImage::new_u8(mode, img.width, img.height, out)
}

/// `Image.convert("RGB")`: interleaved RGB bytes.
///
/// `1`/`L`/`LA` replicate the gray value, `P` looks the index up in the
/// palette, `RGBA` drops alpha, `CMYK` uses `cmyk2rgb`, and
/// `I;16` clips to 255 (`I16_RGB`: any value above 255 becomes white).
pub(crate) fn to_rgb(img: &PilImage) -> Vec<u8> {
    match &img.samples {
        Samples::U16(data) => data
            .iter()
            .flat_map(|&v| [u8::try_from(v).unwrap_or(255); 3])
            .collect(),
        Samples::U8(data) => {
            let ch = img.mode.channels();
            let mut out = Vec::with_capacity(img.width * img.height * 3);
            for px in data.chunks_exact(ch) {
                out.extend_from_slice(&pixel_to_rgb(img, px));
            }
            out
        }
    }
}

/// One 8-bit pixel to RGB.
fn pixel_to_rgb(img: &PilImage, px: &[u8]) -> [u8; 3] {
    match img.mode {
        Mode::Bilevel | Mode::L | Mode::La | Mode::LaPremultiplied => [px[0]; 3],
        Mode::P => img
            .palette
            .as_ref()
            .map_or([px[0]; 3], |p| p[usize::from(px[0])]),
        Mode::Rgb | Mode::Rgba | Mode::RgbaPremultiplied => [px[0], px[1], px[2]],
        Mode::Cmyk => cmyk_to_rgb(px),
        Mode::I16 => unreachable!("I;16 holds 16-bit samples"),
    }
}

/// `cmyk2rgb`: `nk - c * nk / 255` with `nk = 255 - k`.
fn cmyk_to_rgb(px: &[u8]) -> [u8; 3] {
    let nk = 255 - u32::from(px[3]);
    let channel = |c: u8| clip8(nk as i32 - muldiv255(c.into(), nk) as i32);
    [channel(px[0]), channel(px[1]), channel(px[2])]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn premultiply_round_trip_matches_pillow() {
        // Values from Pillow 13: Image.frombytes("RGBA", (4, 1), ...).convert("RGBa")
        // and back.
        let img = PilImage::new_u8(
            Mode::Rgba,
            4,
            1,
            vec![
                200, 100, 7, 128, 255, 255, 255, 1, 13, 250, 99, 0, 10, 20, 30, 255,
            ],
        );
        let pre = premultiply(&img);
        assert_eq!(
            pre.samples,
            Samples::U8(vec![
                100, 50, 4, 128, 1, 1, 1, 1, 0, 0, 0, 0, 10, 20, 30, 255
            ])
        );
        let back = unpremultiply(&pre);
        assert_eq!(
            back.samples,
            Samples::U8(vec![
                199, 99, 7, 128, 255, 255, 255, 1, 0, 0, 0, 0, 10, 20, 30, 255
            ])
        );
    }

    #[test]
    fn cmyk_matches_pillow() {
        // Image.frombytes("CMYK", (1, 1), bytes([10, 200, 255, 30])).convert("RGB")
        assert_eq!(cmyk_to_rgb(&[10, 200, 255, 30]), [216, 49, 0]);
    }

    #[test]
    fn i16_clips_to_white() {
        let img = PilImage {
            mode: Mode::I16,
            width: 3,
            height: 1,
            samples: Samples::U16(vec![7, 255, 256]),
            palette: None,
        };
        assert_eq!(to_rgb(&img), vec![7, 7, 7, 255, 255, 255, 255, 255, 255]);
    }
}

//! BMP through the `image` crate, mapped onto `BmpImagePlugin`'s modes.

use std::collections::HashMap;
use std::io::Cursor;

use ::image::ImageDecoder;
use ::image::codecs::bmp::BmpDecoder;

use super::super::error::PreprocessError;
use super::super::image::{Mode, PilImage, palette_from_rgb};
use super::{check_dimensions, corrupt};

const FORMAT: &str = "BMP";

/// Header fields that decide Pillow's mode.
struct Header {
    bits: u16,
    /// Palette entries Pillow reads: `biClrUsed`, or `1 << bits`.
    colors: usize,
    /// Green mask of a 16-bit file: `0x7E0` means 5-6-5.
    green_mask: u32,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl Header {
    fn parse(b: &[u8]) -> Option<Self> {
        let size = u32_at(b, 14)?;
        let bits = if size == 12 {
            u16_at(b, 24)?
        } else {
            u16_at(b, 28)?
        };
        let used = if size >= 40 { u32_at(b, 46)? } else { 0 };
        let compression = if size >= 40 { u32_at(b, 30)? } else { 0 };
        let green_mask = if compression == 3 {
            u32_at(b, 58)?
        } else {
            0x3E0
        };
        let colors = if used > 0 {
            used as usize
        } else {
            1usize << bits.min(16)
        };
        Some(Self {
            bits,
            colors,
            green_mask,
        })
    }
}

/// Decodes a BMP like Pillow: palettes of exactly black and white become mode
/// `1`, gray ramps (`entry i == (i, i, i)`) mode `L`, other palettes stay `P`;
/// 16-bit pixels are scaled by `v * 255 / 31` (or `/ 63`) as Pillow's
/// `BGR;15`/`BGR;16` unpackers do; 32-bit files are `RGBA` only with an alpha
/// bitfield.
pub(super) fn decode(bytes: &[u8]) -> Result<PilImage, PreprocessError> {
    let header = Header::parse(bytes).ok_or_else(|| corrupt(FORMAT, "truncated header"))?;
    let decoder = BmpDecoder::new(Cursor::new(bytes)).map_err(|e| corrupt(FORMAT, e))?;
    let (w, h) = decoder.dimensions();
    check_dimensions(w.into(), h.into())?;
    let (w, h) = (w as usize, h as usize);
    let palette = decoder.get_palette().map(<[[u8; 3]]>::to_vec);
    let alpha = decoder.color_type().has_alpha();
    let mut data = vec![0; decoder.total_bytes() as usize];
    decoder
        .read_image(&mut data)
        .map_err(|e| corrupt(FORMAT, e))?;
    if header.bits <= 8 {
        let palette = palette.ok_or_else(|| corrupt(FORMAT, "palette image without palette"))?;
        return Ok(paletted_image(w, h, &data, &palette, header.colors));
    }
    if header.bits == 16 {
        rescale_16bit(&mut data, header.green_mask == 0x7E0);
    }
    let mode = if alpha { Mode::Rgba } else { Mode::Rgb };
    Ok(PilImage::new_u8(mode, w, h, data))
}

/// Pillow's gray-palette check, then the image in the chosen mode. The
/// `image` crate expands palettes (its indexed output panics on 1-bit files),
/// so `P` indices are recovered by looking colours up in the palette: any
/// index of the same colour gives the same pixels after NEAREST + lookup.
fn paletted_image(w: usize, h: usize, rgb: &[u8], palette: &[[u8; 3]], colors: usize) -> PilImage {
    let colors = colors.min(palette.len());
    let expected = |i: usize| {
        if colors == 2 {
            [255 * i as u8; 3]
        } else {
            [i as u8; 3]
        }
    };
    let gray = (0..colors).all(|i| palette[i] == expected(i));
    let first_channel = || rgb.iter().step_by(3).copied().collect();
    match (gray, colors <= 2) {
        (true, true) => PilImage::new_u8(Mode::Bilevel, w, h, first_channel()),
        (true, false) => PilImage::new_u8(Mode::L, w, h, first_channel()),
        (false, _) => {
            let mut lookup = HashMap::new();
            for (i, entry) in palette.iter().enumerate().take(colors).rev() {
                lookup.insert(*entry, i as u8);
            }
            // Indices past the palette are black in Pillow's zero-filled palette.
            let black = colors.min(255) as u8;
            let indices = rgb
                .chunks_exact(3)
                .map(|c| lookup.get(&[c[0], c[1], c[2]]).copied().unwrap_or(black))
                .collect();
            let entries: Vec<u8> = palette.iter().take(colors).flatten().copied().collect();
            PilImage::new_paletted(Mode::P, w, h, indices, palette_from_rgb(&entries))
        }
    }
}

/// Turns the `image` crate's rounded 5/6-bit expansion back into the field
/// value and applies Pillow's truncating `v * 255 / max`.
fn rescale_16bit(rgb: &mut [u8], green_6bit: bool) {
    for px in rgb.chunks_exact_mut(3) {
        for (c, v) in px.iter_mut().enumerate() {
            let max = if c == 1 && green_6bit { 63 } else { 31 };
            let field = (u32::from(*v) * max + 127) / 255;
            *v = (field * 255 / max) as u8;
        }
    }
}

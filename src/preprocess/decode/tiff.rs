//! TIFF at the raw level (the `tiff` crate), mapped onto `TiffImagePlugin`'s
//! modes.

use std::io::Cursor;

use ::tiff::ColorType;
use ::tiff::decoder::{Decoder, DecodingResult, Limits};
use ::tiff::tags::{PhotometricInterpretation, Tag};

use super::super::error::PreprocessError;
use super::super::image::{Mode, PilImage, Samples, palette_from_rgb};
use super::{MAX_ALLOC, check_dimensions, corrupt, unpack_row};

const FORMAT: &str = "TIFF";

fn unsupported(detail: impl Into<String>) -> PreprocessError {
    PreprocessError::UnsupportedVariant {
        format: FORMAT,
        detail: detail.into(),
    }
}

/// Decodes the first page: 1-bit gray is mode `1`, 8-bit gray `L`, 16-bit
/// gray `I;16`, palettes `P` (16-bit colour map entries divided by 256), RGB,
/// RGBA and CMYK keep their mode; 16-bit colour samples keep their high byte
/// (Pillow's `RGB;16L`-style unpackers). `WhiteIsZero` gray is inverted.
pub(super) fn decode(bytes: &[u8]) -> Result<PilImage, PreprocessError> {
    let err = |e: ::tiff::TiffError| match e {
        ::tiff::TiffError::UnsupportedError(u) => unsupported(u.to_string()),
        e => corrupt(FORMAT, e),
    };
    let mut limits = Limits::default();
    limits.decoding_buffer_size = MAX_ALLOC as usize;
    limits.intermediate_buffer_size = MAX_ALLOC as usize;
    let mut decoder = Decoder::new(Cursor::new(bytes))
        .map_err(err)?
        .with_limits(limits);
    let (w, h) = decoder.dimensions().map_err(err)?;
    check_dimensions(w.into(), h.into())?;
    let (w, h) = (w as usize, h as usize);
    let color = decoder.colortype().map_err(err)?;
    let photometric = decoder
        .find_tag_unsigned::<u16>(Tag::PhotometricInterpretation)
        .map_err(err)?;
    let white_is_zero = photometric == Some(PhotometricInterpretation::WhiteIsZero.to_u16());
    let colormap = match color {
        ColorType::Palette(_) => decoder
            .find_tag_unsigned_vec::<u16>(Tag::ColorMap)
            .map_err(err)?,
        _ => None,
    };
    let image = decoder.read_image().map_err(err)?;
    let invert = |v: u8| if white_is_zero { !v } else { v };
    let img = match (color, image) {
        (ColorType::Gray(16), DecodingResult::U16(data)) => PilImage {
            mode: Mode::I16,
            width: w,
            height: h,
            samples: Samples::U16(data),
            palette: None,
        },
        (ColorType::Gray(1), DecodingResult::U8(data)) => {
            let rows = data.chunks_exact(w.div_ceil(8));
            let px = rows
                .flat_map(|r| unpack_row(r, 1, w))
                .map(|v| invert(v * 255))
                .collect();
            PilImage::new_u8(Mode::Bilevel, w, h, px)
        }
        (ColorType::Gray(8), DecodingResult::U8(data)) => {
            PilImage::new_u8(Mode::L, w, h, data.into_iter().map(invert).collect())
        }
        (ColorType::Palette(8), DecodingResult::U8(data)) => {
            let map =
                colormap.ok_or_else(|| corrupt(FORMAT, "palette image without colour map"))?;
            let n = map.len() / 3;
            let rgb: Vec<u8> = (0..n)
                .flat_map(|i| [map[i], map[n + i], map[2 * n + i]].map(|v| (v / 256) as u8))
                .collect();
            PilImage::new_paletted(Mode::P, w, h, data, palette_from_rgb(&rgb))
        }
        (
            ColorType::GrayA(8)
            | ColorType::Multiband {
                bit_depth: 8,
                num_samples: 2,
            },
            DecodingResult::U8(data),
        ) => PilImage::new_u8(Mode::La, w, h, data),
        (ColorType::RGB(8), DecodingResult::U8(data)) => PilImage::new_u8(Mode::Rgb, w, h, data),
        (ColorType::RGBA(8), DecodingResult::U8(data)) => PilImage::new_u8(Mode::Rgba, w, h, data),
        (ColorType::CMYK(8), DecodingResult::U8(data)) => PilImage::new_u8(Mode::Cmyk, w, h, data),
        (ColorType::RGB(16), DecodingResult::U16(data)) => {
            PilImage::new_u8(Mode::Rgb, w, h, high_bytes(&data))
        }
        (ColorType::RGBA(16), DecodingResult::U16(data)) => {
            PilImage::new_u8(Mode::Rgba, w, h, high_bytes(&data))
        }
        (color, _) => return Err(unsupported(format!("{color:?} samples"))),
    };
    Ok(img)
}

fn high_bytes(data: &[u16]) -> Vec<u8> {
    data.iter().map(|v| (v >> 8) as u8).collect()
}

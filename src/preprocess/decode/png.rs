//! PNG at the raw level, mapped onto `PngImagePlugin`'s modes.

use std::io::Cursor;

use ::png::{BitDepth, ColorType, Decoder, Limits, Transformations};

use super::super::error::PreprocessError;
use super::super::image::{Mode, PilImage, Samples, palette_from_rgb};
use super::{MAX_ALLOC, check_dimensions, corrupt, unpack_row};

const FORMAT: &str = "PNG";

/// Decodes a PNG the way Pillow loads it (`_MODES` in `PngImagePlugin.py`):
/// 1-bit gray is mode `1`; 2/4-bit gray is scaled to `L` (x85, x17); 16-bit
/// gray stays 16-bit (`I;16`); other 16-bit files keep the high byte of each
/// sample (16-bit gray+alpha becomes `RGBA`); palettes stay `P`. `tRNS` is
/// ignored, as it only lands in `info` for Pillow.
pub(super) fn decode(bytes: &[u8]) -> Result<PilImage, PreprocessError> {
    let limits = Limits {
        bytes: MAX_ALLOC as usize,
    };
    let mut decoder = Decoder::new_with_limits(Cursor::new(bytes), limits);
    decoder.set_transformations(Transformations::IDENTITY);
    let mut reader = decoder.read_info().map_err(|e| corrupt(FORMAT, e))?;
    let info = reader.info();
    check_dimensions(info.width.into(), info.height.into())?;
    let palette = info.palette.as_deref().map(palette_from_rgb);
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| corrupt(FORMAT, "image too large to buffer"))?;
    let mut buf = vec![0; size];
    let out = reader
        .next_frame(&mut buf)
        .map_err(|e| corrupt(FORMAT, e))?;
    let (w, h) = (out.width as usize, out.height as usize);
    let rows = buf.chunks_exact(out.line_size).take(h);
    let depth = out.bit_depth as u8;
    let img = match (out.color_type, out.bit_depth) {
        (ColorType::Grayscale, BitDepth::Sixteen) => PilImage {
            mode: Mode::I16,
            width: w,
            height: h,
            samples: Samples::U16(
                rows.flat_map(|r| r[..2 * w].chunks_exact(2))
                    .map(|s| u16::from_be_bytes([s[0], s[1]]))
                    .collect(),
            ),
            palette: None,
        },
        (ColorType::Grayscale, _) => {
            let (mode, scale) = match depth {
                1 => (Mode::Bilevel, 255),
                2 => (Mode::L, 85),
                4 => (Mode::L, 17),
                _ => (Mode::L, 1),
            };
            let data = rows
                .flat_map(|r| unpack_row(r, depth, w))
                .map(|v| v * scale)
                .collect();
            PilImage::new_u8(mode, w, h, data)
        }
        (ColorType::Indexed, _) => {
            let data = rows.flat_map(|r| unpack_row(r, depth, w)).collect();
            let palette = palette.ok_or_else(|| corrupt(FORMAT, "palette image without PLTE"))?;
            PilImage::new_paletted(Mode::P, w, h, data, palette)
        }
        (ColorType::GrayscaleAlpha, BitDepth::Sixteen) => {
            let data = rows
                .flat_map(|r| r[..4 * w].chunks_exact(4))
                .flat_map(|s| [s[0], s[0], s[0], s[2]])
                .collect();
            PilImage::new_u8(Mode::Rgba, w, h, data)
        }
        (color, bits) => {
            let mode = match color {
                ColorType::Rgb => Mode::Rgb,
                ColorType::Rgba => Mode::Rgba,
                _ => Mode::La,
            };
            let row_len = w * mode.channels() * if bits == BitDepth::Sixteen { 2 } else { 1 };
            let data = rows.flat_map(|r| &r[..row_len]);
            let data = if bits == BitDepth::Sixteen {
                data.step_by(2).copied().collect()
            } else {
                data.copied().collect()
            };
            PilImage::new_u8(mode, w, h, data)
        }
    };
    Ok(img)
}

//! The first frame of a GIF as `GifImagePlugin` loads it.

use std::io::Cursor;
use std::num::NonZeroU64;

use ::gif::{ColorOutput, DecodeOptions, MemoryLimit};

use super::super::error::PreprocessError;
use super::super::image::{Mode, PilImage, palette_from_rgb};
use super::{MAX_ALLOC, check_dimensions, corrupt};

const FORMAT: &str = "GIF";

/// Decodes frame 0 to mode `P`, or to `L` when its palette is missing or is
/// the identity gray ramp (`_is_palette_needed`). The canvas is the logical
/// screen (grown to hold the frame), filled with the transparent index if the
/// frame has one, else 0, as `load_prepare` does.
pub(super) fn decode(bytes: &[u8]) -> Result<PilImage, PreprocessError> {
    let mut options = DecodeOptions::new();
    options.set_color_output(ColorOutput::Indexed);
    options.set_memory_limit(MemoryLimit::Bytes(
        NonZeroU64::new(MAX_ALLOC).expect("nonzero"),
    ));
    let mut decoder = options
        .read_info(Cursor::new(bytes))
        .map_err(|e| corrupt(FORMAT, e))?;
    let (screen_w, screen_h) = (usize::from(decoder.width()), usize::from(decoder.height()));
    let global = decoder
        .global_palette()
        .filter(|p| palette_needed(p))
        .map(<[u8]>::to_vec);
    let frame = decoder
        .read_next_frame()
        .map_err(|e| corrupt(FORMAT, e))?
        .ok_or_else(|| corrupt(FORMAT, "no image frame"))?;
    let (left, top) = (usize::from(frame.left), usize::from(frame.top));
    let (fw, fh) = (usize::from(frame.width), usize::from(frame.height));
    let (w, h) = (screen_w.max(left + fw), screen_h.max(top + fh));
    check_dimensions(w as u64, h as u64)?;
    let mut data = vec![frame.transparent.unwrap_or(0); w * h];
    for (y, row) in frame.buffer.chunks_exact(fw.max(1)).take(fh).enumerate() {
        let start = (top + y) * w + left;
        data[start..start + fw].copy_from_slice(row);
    }
    let palette = match &frame.palette {
        Some(local) => palette_needed(local).then(|| local.clone()),
        None => global,
    };
    Ok(match palette {
        Some(p) => PilImage::new_paletted(Mode::P, w, h, data, palette_from_rgb(&p)),
        None => PilImage::new_u8(Mode::L, w, h, data),
    })
}

/// `_is_palette_needed`: false when entry `i` is `(i, i, i)` throughout.
fn palette_needed(palette: &[u8]) -> bool {
    palette
        .chunks_exact(3)
        .enumerate()
        .any(|(i, c)| c.iter().any(|&v| usize::from(v) != i))
}

//! WebP through the `image` crate.

use std::io::Cursor;

use ::image::{DynamicImage, ImageFormat, ImageReader, Limits};

use super::super::error::PreprocessError;
use super::super::image::{Mode, PilImage};
use super::{MAX_ALLOC, check_dimensions, corrupt};

const FORMAT: &str = "WebP";

/// Decodes a WebP to `RGB`, or `RGBA` when the file has alpha, as Pillow's
/// `WebPImagePlugin` does (first frame of an animation).
pub(super) fn decode(bytes: &[u8]) -> Result<PilImage, PreprocessError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), ImageFormat::WebP);
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let (w, h) = reader.into_dimensions().map_err(|e| corrupt(FORMAT, e))?;
    check_dimensions(w.into(), h.into())?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), ImageFormat::WebP);
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| corrupt(FORMAT, e))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    Ok(match img {
        DynamicImage::ImageRgb8(rgb) => PilImage::new_u8(Mode::Rgb, w, h, rgb.into_raw()),
        other => PilImage::new_u8(Mode::Rgba, w, h, other.into_rgba8().into_raw()),
    })
}

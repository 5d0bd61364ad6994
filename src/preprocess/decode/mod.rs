//! File bytes to the image `PIL.Image.open(...).load()` holds: same pixels,
//! same mode (the mode decides how the image is resized later).
//!
//! PNG, GIF and TIFF are read with their own crates at the raw level (palette
//! indices, 16-bit samples) so Pillow's mode can be rebuilt exactly; JPEG has
//! a dedicated libjpeg-turbo-exact decoder; TIFF is read with the `tiff`
//! crate; BMP and WebP go through the `image` crate, with header facts
//! deciding the Pillow mode.

mod bmp;
mod gif;
mod jpeg;
mod png;
mod tiff;
mod webp;

use super::error::PreprocessError;
use super::image::PilImage;

/// Pillow refuses images above twice `Image.MAX_IMAGE_PIXELS`
/// (`DecompressionBombError`); so do we.
pub(crate) const MAX_PIXELS: u64 = 2 * 89_478_485;

/// Allocation cap handed to the format crates (bytes).
const MAX_ALLOC: u64 = 2 << 30;

/// The container formats the pipeline reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jpeg,
    Png,
    Gif,
    Bmp,
    WebP,
    Tiff,
}

/// Decodes `bytes` into Pillow's view of the file.
pub(crate) fn decode(bytes: &[u8]) -> Result<PilImage, PreprocessError> {
    if bytes.is_empty() {
        return Err(PreprocessError::Empty);
    }
    match sniff(bytes).ok_or(PreprocessError::UnsupportedFormat)? {
        Format::Jpeg => jpeg::decode(bytes, MAX_PIXELS),
        Format::Png => png::decode(bytes),
        Format::Gif => gif::decode(bytes),
        Format::Bmp => bmp::decode(bytes),
        Format::WebP => webp::decode(bytes),
        Format::Tiff => tiff::decode(bytes),
    }
}

/// Recognises a format by its signature, as Pillow's plugins do.
fn sniff(bytes: &[u8]) -> Option<Format> {
    let starts = |sig: &[u8]| bytes.starts_with(sig);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some(Format::Gif)
    } else if starts(b"BM") {
        Some(Format::Bmp)
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some(Format::WebP)
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Some(Format::Tiff)
    } else {
        None
    }
}

/// Rejects empty and oversized images before any pixel buffer is allocated.
pub(crate) fn check_dimensions(width: u64, height: u64) -> Result<(), PreprocessError> {
    if width == 0 || height == 0 {
        return Err(PreprocessError::ZeroDimension);
    }
    if width.saturating_mul(height) > MAX_PIXELS {
        return Err(PreprocessError::TooLarge {
            width,
            height,
            limit: "more pixels than Pillow's decompression-bomb limit",
        });
    }
    Ok(())
}

/// An error of a format decoder, labelled with the format.
fn corrupt(format: &'static str, detail: impl std::fmt::Display) -> PreprocessError {
    PreprocessError::Corrupt {
        format,
        detail: detail.to_string(),
    }
}

/// Unpacks `count` samples of `depth` bits (1, 2, 4 or 8), most significant
/// bits first, from one row.
fn unpack_row(row: &[u8], depth: u8, count: usize) -> impl Iterator<Item = u8> + '_ {
    let per_byte = usize::from(8 / depth);
    let mask = ((1u16 << depth) - 1) as u8;
    (0..count).map(move |i| {
        let shift = 8 - depth * (1 + (i % per_byte) as u8);
        (row[i / per_byte] >> shift) & mask
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(decode(&[]), Err(PreprocessError::Empty));
        assert_eq!(
            decode(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            Err(PreprocessError::UnsupportedFormat)
        );
        assert_eq!(
            decode(b"%PDF-1.4\n"),
            Err(PreprocessError::UnsupportedFormat)
        );
        assert_eq!(decode(&[0x13; 64]), Err(PreprocessError::UnsupportedFormat));
    }

    #[test]
    fn unpacks_sub_byte_samples() {
        let v: Vec<u8> = unpack_row(&[0b1011_0001], 2, 4).collect();
        assert_eq!(v, vec![2, 3, 0, 1]);
        let v: Vec<u8> = unpack_row(&[0b1000_0001, 0b1000_0000], 1, 9).collect();
        assert_eq!(v, vec![1, 0, 0, 0, 0, 0, 0, 1, 1]);
    }
}

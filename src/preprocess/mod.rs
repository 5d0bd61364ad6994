//! Image bytes to the CHW `float32` tensor of the original Python pipeline:
//!
//! ```python
//! img = PIL.Image.open(path)
//! img = Resize(size, interpolation=BICUBIC)(img)
//! img = CenterCrop(size)(img)
//! t = Normalize(mean, std)(ToTensor()(img.convert("RGB")))
//! ```
//!
//! Every step reproduces Pillow 13 / torchvision bit for bit: decoding to
//! Pillow's mode, resampling in that mode, the centre crop, the conversion to
//! RGB and the `float32` normalisation.

mod convert;
mod decode;
mod error;
#[cfg(not(target_family = "wasm"))]
mod file;
mod geometry;
mod image;
mod normalize;
mod npy;
mod pixels;
mod resample;

pub use error::PreprocessError;
#[cfg(not(target_family = "wasm"))]
pub use file::preprocess_file;
pub use geometry::CropGeometry;
pub use npy::preprocess_npy;
pub use pixels::Pixels;

use image::{Mode, PilImage};

/// The model input for an image file, exactly as the original pipeline makes it.
pub fn preprocess_image(bytes: &[u8], size: u32) -> Result<Pixels, PreprocessError> {
    let img = decode::decode(bytes)?;
    pipeline(&img, size)
}

/// The same for an already decoded 8-bit RGBA buffer (what a browser's
/// `ImageData`/`ImageBitmap` gives), treated as Pillow mode RGBA.
pub fn preprocess_rgba(
    width: u32,
    height: u32,
    rgba: &[u8],
    size: u32,
) -> Result<Pixels, PreprocessError> {
    preprocess_pixels(width, height, 4, rgba, size)
}

/// The same for interleaved 8-bit pixels with 1 (L), 3 (RGB) or 4 (RGBA)
/// channels, as `PIL.Image.fromarray` would make them from a `uint8` array.
pub fn preprocess_pixels(
    width: u32,
    height: u32,
    channels: usize,
    data: &[u8],
    size: u32,
) -> Result<Pixels, PreprocessError> {
    let mode = match channels {
        1 => Mode::L,
        3 => Mode::Rgb,
        4 => Mode::Rgba,
        _ => {
            return Err(PreprocessError::UnsupportedVariant {
                format: "array",
                detail: format!("{channels} channels (expected 1, 3 or 4)"),
            });
        }
    };
    let expected = channels as u64 * u64::from(width) * u64::from(height);
    if expected != data.len() as u64 {
        return Err(PreprocessError::BufferSize {
            expected,
            actual: data.len(),
        });
    }
    decode::check_dimensions(u64::from(width), u64::from(height))?;
    let img = PilImage::new_u8(mode, width as usize, height as usize, data.to_vec());
    pipeline(&img, size)
}

/// Decodes an image file to interleaved 8-bit RGB, as Pillow's
/// `Image.open(f).convert("RGB")` (and OpenCV's `imread`, in BGR order) give it.
/// Returns `(width, height, rgb)`.
pub fn decode_rgb8(bytes: &[u8]) -> Result<(u32, u32, Vec<u8>), PreprocessError> {
    let img = decode::decode(bytes)?;
    Ok((img.width as u32, img.height as u32, convert::to_rgb(&img)))
}

/// Resize, centre crop, RGB conversion and normalisation of a decoded image.
fn pipeline(img: &PilImage, size: u32) -> Result<Pixels, PreprocessError> {
    let geometry = CropGeometry::new(img.width as u32, img.height as u32, size)?;
    let (out_w, out_h) = (
        geometry.resized_width as usize,
        geometry.resized_height as usize,
    );
    let window = normalize::center_window(out_w, out_h, size as usize);
    let cropped = resample::resize_window(img, out_w, out_h, window);
    let rgb = convert::to_rgb(&cropped);
    let values = normalize::to_tensor(&rgb, window.width * window.height);
    Ok(Pixels::cropped(values, geometry).expect("the crop is size x size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// An 8x8 gray JPEG (Pillow, quality 50, optimized Huffman tables).
    const TINY_JPEG: &str = "ffd8ffe000104a46494600010100000100010000ffdb004300100b0c0e0c0a100e0d0e1211101318281a181616183123251d283a333d3c3933383740485c4e404457453738506d51575f626768673e4d71797064785c656763ffc0000b080008000801011100ffc40014000100000000000000000000000000000001ffc40018100002030000000000000000000000000000030663a1ffda0008010100003f00110eaf0fffd9";
    /// An 8x8 gray PNG.
    const TINY_PNG: &str = "89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000001749444154789c636460810046052883851406e303280300475802989b2588920000000049454e44ae426082";
    /// A PNG whose IHDR claims 100000 x 100000 pixels (Pillow raises
    /// `DecompressionBombError`).
    const HUGE_PNG: &str = "89504e470d0a1a0a0000000d49484452000186a0000186a008000000008d3954140000000c49444154789c6360a03d00000064000186643c350000000049454e44ae426082";

    fn is_corrupt(result: Result<Pixels, PreprocessError>, format: &str) -> bool {
        matches!(result, Err(PreprocessError::Corrupt { format: f, .. }) if f == format)
    }

    #[test]
    fn decodes_tiny_files() {
        for file in [TINY_JPEG, TINY_PNG] {
            let t = preprocess_image(&hex(file), 240).unwrap();
            assert_eq!((t.size(), t.values().len()), (240, 3 * 240 * 240));
        }
    }

    #[test]
    fn empty_input_is_an_error() {
        let err = preprocess_image(&[], 240).unwrap_err();
        assert_eq!(err, PreprocessError::Empty);
        assert_eq!(err.to_string(), "image is empty (0 bytes)");
    }

    #[test]
    fn unsupported_formats_are_errors() {
        for bytes in [
            &b"<svg xmlns='http://www.w3.org/2000/svg'></svg>"[..],
            b"%PDF-1.7\n%\xe2\xe3",
            b"\x00\x01garbage",
        ] {
            assert_eq!(
                preprocess_image(bytes, 240),
                Err(PreprocessError::UnsupportedFormat)
            );
        }
        assert_eq!(
            PreprocessError::UnsupportedFormat.to_string(),
            "unsupported image format (not JPEG, PNG, BMP, GIF, WebP or TIFF)"
        );
    }

    #[test]
    fn truncated_files_are_errors() {
        let jpeg = hex(TINY_JPEG);
        for cut in [3, 20, jpeg.len() / 2, jpeg.len() - 2] {
            assert!(
                is_corrupt(preprocess_image(&jpeg[..cut], 240), "JPEG"),
                "cut {cut}"
            );
        }
        let png = hex(TINY_PNG);
        for cut in [20, png.len() / 2, png.len() - 12] {
            assert!(
                is_corrupt(preprocess_image(&png[..cut], 240), "PNG"),
                "cut {cut}"
            );
        }
        let err = preprocess_image(&jpeg[..jpeg.len() / 2], 240).unwrap_err();
        assert!(err.to_string().starts_with("corrupt or truncated JPEG: "));
    }

    #[test]
    fn garbage_after_a_signature_is_an_error() {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF];
        jpeg.extend((0..200u32).map(|i| (i * 7919 % 251) as u8));
        assert!(preprocess_image(&jpeg, 240).is_err());
        let mut gif = b"GIF89a".to_vec();
        gif.extend([0xFF; 40]);
        assert!(is_corrupt(preprocess_image(&gif, 240), "GIF"));
    }

    #[test]
    fn absurd_dimensions_are_refused() {
        let err = preprocess_image(&hex(HUGE_PNG), 240).unwrap_err();
        assert!(matches!(
            err,
            PreprocessError::TooLarge {
                width: 100_000,
                height: 100_000,
                ..
            }
        ));
        // A JPEG frame header claiming 65535 x 65535.
        let mut jpeg = hex(&TINY_JPEG[..TINY_JPEG.find("ffc0").unwrap()]);
        jpeg.extend(hex("ffc0000b08ffffffff01011100"));
        let err = preprocess_image(&jpeg, 240).unwrap_err();
        assert!(matches!(err, PreprocessError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn rgba_buffer_is_checked() {
        let err = preprocess_rgba(2, 2, &[0; 15], 240).unwrap_err();
        assert_eq!(
            err,
            PreprocessError::BufferSize {
                expected: 16,
                actual: 15
            }
        );
        assert_eq!(
            preprocess_rgba(0, 5, &[], 240),
            Err(PreprocessError::ZeroDimension)
        );
        assert_eq!(
            preprocess_rgba(1, 1, &[0; 4], 0),
            Err(PreprocessError::ZeroOutputSize)
        );
    }

    #[test]
    fn tiny_and_extreme_shapes_work() {
        for (w, h) in [(1, 1), (1, 5000), (5000, 1), (3, 2), (239, 241)] {
            let rgba: Vec<u8> = (0..w * h * 4).map(|i| (i * 31 % 256) as u8).collect();
            let t = preprocess_rgba(w as u32, h as u32, &rgba, 240).unwrap();
            assert_eq!(t.values().len(), 3 * 240 * 240, "{w}x{h}");
            assert!(t.values().iter().all(|v| v.is_finite()));
        }
    }
}

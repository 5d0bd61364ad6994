//! torchvision's `Resize(size)` size rule, `CenterCrop(size)` offsets and
//! `ToTensor()` + `Normalize(mean, std)`.

use super::error::PreprocessError;
use super::resample::Window;

/// CLIP's normalisation constants, as the `float32` tensors torchvision makes
/// (literals copied verbatim from the Python source).
#[allow(clippy::excessive_precision)]
const MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
#[allow(clippy::excessive_precision)]
const STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// Largest side Pillow's C resize accepts (`int` sizes).
const MAX_SIDE: u64 = i32::MAX as u64;

/// torchvision's `_compute_resized_output_size` for an int `size`: the shorter
/// side becomes `size`, the longer `int(size * long / short)` (a float division
/// truncated, exactly as Python computes it).
pub(crate) fn resized_size(
    width: usize,
    height: usize,
    size: usize,
) -> Result<(usize, usize), PreprocessError> {
    let (short, long) = if width <= height {
        (width, height)
    } else {
        (height, width)
    };
    let new_long = ((size * long) as f64 / short as f64) as u64;
    if new_long > MAX_SIDE {
        return Err(PreprocessError::TooLarge {
            width: width as u64,
            height: height as u64,
            limit: "its resized long side exceeds 2^31-1 pixels",
        });
    }
    let new_long = new_long as usize;
    Ok(if width <= height {
        (size, new_long)
    } else {
        (new_long, size)
    })
}

/// torchvision's `center_crop` offsets: `int(round((side - size) / 2.0))`,
/// where Python's `round` sends halves to the even neighbour.
pub(crate) fn center_window(width: usize, height: usize, size: usize) -> Window {
    let offset = |side: usize| (side.saturating_sub(size) as f64 / 2.0).round_ties_even() as usize;
    Window {
        left: offset(width),
        top: offset(height),
        width: size.min(width),
        height: size.min(height),
    }
}

/// `ToTensor()` then `Normalize(MEAN, STD)` on interleaved RGB bytes: CHW
/// `float32`, `(v / 255 - mean) / std` evaluated in `float32` like torch.
pub(crate) fn to_tensor(rgb: &[u8], pixels: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(pixels * 3);
    for c in 0..3 {
        out.extend(
            rgb.chunks_exact(3)
                .map(|px| (f32::from(px[c]) / 255.0 - MEAN[c]) / STD[c]),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resized_size_truncates_like_python() {
        assert_eq!(resized_size(250, 250, 240), Ok((240, 240)));
        assert_eq!(resized_size(320, 200, 240), Ok((384, 240)));
        assert_eq!(resized_size(180, 260, 240), Ok((240, 346)));
        assert_eq!(resized_size(50, 400, 240), Ok((240, 1920)));
        assert_eq!(resized_size(1, 5000, 240), Ok((240, 1_200_000)));
        // int(240 * 7 / 3) = int(559.99999...) in Python
        assert_eq!(resized_size(3, 7, 240), Ok((240, 560)));
    }

    #[test]
    fn center_window_rounds_half_to_even() {
        // (241 - 240) / 2 = 0.5 -> 0; (243 - 240) / 2 = 1.5 -> 2; (245 - 240) / 2 = 2.5 -> 2.
        assert_eq!(center_window(241, 240, 240).left, 0);
        assert_eq!(center_window(243, 240, 240).left, 2);
        assert_eq!(center_window(240, 245, 240).top, 2);
        assert_eq!(center_window(384, 240, 240).left, 72);
        assert_eq!(center_window(240, 346, 240).top, 53);
    }

    #[test]
    fn tensor_is_planar_and_normalised() {
        let t = to_tensor(&[0, 128, 255, 255, 0, 0], 2);
        assert_eq!(t.len(), 6);
        assert_eq!(t[0], (0.0 - MEAN[0]) / STD[0]);
        assert_eq!(t[1], (1.0 - MEAN[0]) / STD[0]);
        assert_eq!(t[2], (128.0 / 255.0 - MEAN[1]) / STD[1]);
    }
}

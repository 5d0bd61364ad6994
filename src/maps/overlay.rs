//! The map as a heat map over the image: a blue → cyan → green → yellow → red
//! ramp blended half and half with the image; pixels the model did not see
//! keep the image, darkened.

use crate::error::{Error, Result};

use super::AnomalyMap;

/// Colour stops of the ramp, evenly spaced from low to high.
const RAMP: [[f32; 3]; 5] = [
    [0.0, 0.0, 255.0],
    [0.0, 255.0, 255.0],
    [0.0, 255.0, 0.0],
    [255.0, 255.0, 0.0],
    [255.0, 0.0, 0.0],
];

/// Share of the heat colour in a seen pixel.
const HEAT_ALPHA: f32 = 0.5;

/// Brightness left to an unseen pixel.
const UNSEEN_DIM: f32 = 0.35;

/// `rgb` (interleaved, the map's size) with `map` drawn over it; `range` is
/// the value shown blue and the value shown red (values beyond are clamped).
///
/// # Shapes
/// - `rgb`: `[height, width, 3]`; output: the same
pub fn overlay_rgb(rgb: &[u8], map: &AnomalyMap, range: (f32, f32)) -> Result<Vec<u8>> {
    if rgb.len() != 3 * map.values.len() {
        return Err(Error::InvalidInput(format!(
            "an overlay needs an RGB image of the map's {}x{} pixels, got {} bytes",
            map.width,
            map.height,
            rgb.len()
        )));
    }
    let (low, high) = range;
    let span = if high > low { high - low } else { 1.0 };
    let mut out = Vec::with_capacity(rgb.len());
    for (pixel, &value) in rgb.chunks_exact(3).zip(&map.values) {
        if value.is_nan() {
            out.extend(
                pixel
                    .iter()
                    .map(|&c| (f32::from(c) * UNSEEN_DIM).round() as u8),
            );
            continue;
        }
        let heat = ramp(((value - low) / span).clamp(0.0, 1.0));
        out.extend(
            pixel
                .iter()
                .zip(heat)
                .map(|(&c, h)| (f32::from(c) * (1.0 - HEAT_ALPHA) + h * HEAT_ALPHA).round() as u8),
        );
    }
    Ok(out)
}

/// The ramp's colour at `t` in `[0, 1]`.
fn ramp(t: f32) -> [f32; 3] {
    let position = t * (RAMP.len() - 1) as f32;
    let low = (position.floor() as usize).min(RAMP.len() - 2);
    let f = position - low as f32;
    std::array::from_fn(|c| RAMP[low][c] * (1.0 - f) + RAMP[low + 1][c] * f)
}

/// An 8-bit RGB PNG file of `width × height` interleaved pixels.
pub fn encode_png(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(rgb))
        .map_err(|e| Error::InvalidInput(format!("encoding a PNG: {e}")))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_seen_pixels_and_dims_unseen_ones() {
        let map = AnomalyMap {
            width: 3,
            height: 1,
            values: vec![0.0, 1.0, f32::NAN],
        };
        let rgb = [100, 100, 100, 0, 0, 0, 200, 100, 20];
        let out = overlay_rgb(&rgb, &map, (0.0, 1.0)).unwrap();
        // Low is blue, high is red, half and half with the image; unseen is dimmed.
        assert_eq!(out, [50, 50, 178, 128, 0, 0, 70, 35, 7]);
        assert_eq!(ramp(0.5), [0.0, 255.0, 0.0]);
        assert!(overlay_rgb(&rgb[..6], &map, (0.0, 1.0)).is_err());
    }

    #[test]
    fn encodes_a_readable_png() {
        let bytes = encode_png(2, 1, &[1, 2, 3, 4, 5, 6]).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buffer).unwrap();
        assert_eq!(buffer, [1, 2, 3, 4, 5, 6]);
    }
}

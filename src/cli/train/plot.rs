//! `loss.png`: the loss per step and its running mean per epoch, drawn
//! without a plotting library (a white canvas, axes and two polylines).

use std::path::Path;

use inctrl::{Error, Result};

const WIDTH: usize = 800;
const HEIGHT: usize = 400;
const MARGIN: usize = 40;
const AXIS: [u8; 3] = [60, 60, 60];
const STEP_LINE: [u8; 3] = [150, 180, 230];
const EPOCH_LINE: [u8; 3] = [200, 40, 40];

/// Draws `losses` (one per step, in light blue) and each epoch's mean (red,
/// at the epoch's last step) with the y axis from 0 to the largest loss.
pub fn write_loss_curve(path: &Path, losses: &[f32], steps_per_epoch: usize) -> Result<()> {
    let mut canvas = Canvas::new();
    canvas.line((MARGIN, MARGIN), (MARGIN, HEIGHT - MARGIN), AXIS);
    canvas.line(
        (MARGIN, HEIGHT - MARGIN),
        (WIDTH - MARGIN, HEIGHT - MARGIN),
        AXIS,
    );
    let top = losses.iter().copied().fold(0.0f32, f32::max).max(1e-6);
    let point = |step: usize, loss: f32| {
        let x = MARGIN + step * (WIDTH - 2 * MARGIN) / losses.len().max(2).saturating_sub(1);
        let y = (HEIGHT - MARGIN) as f32 - loss / top * (HEIGHT - 2 * MARGIN) as f32;
        (x, y.round().max(0.0) as usize)
    };
    canvas.polyline(
        losses.iter().enumerate().map(|(s, &l)| point(s, l)),
        STEP_LINE,
    );
    let epoch_means = losses
        .chunks(steps_per_epoch)
        .enumerate()
        .map(|(epoch, chunk)| {
            let mean = chunk.iter().sum::<f32>() / chunk.len() as f32;
            point(epoch * steps_per_epoch + chunk.len() - 1, mean)
        });
    canvas.polyline(epoch_means, EPOCH_LINE);
    canvas.write(path)
}

struct Canvas {
    pixels: Vec<u8>,
}

impl Canvas {
    fn new() -> Self {
        Self {
            pixels: vec![255; WIDTH * HEIGHT * 3],
        }
    }

    fn set(&mut self, x: usize, y: usize, colour: [u8; 3]) {
        if x < WIDTH && y < HEIGHT {
            let at = (y * WIDTH + x) * 3;
            self.pixels[at..at + 3].copy_from_slice(&colour);
        }
    }

    /// A straight line, sampled densely enough to leave no gaps.
    fn line(&mut self, from: (usize, usize), to: (usize, usize), colour: [u8; 3]) {
        let (dx, dy) = (to.0 as f32 - from.0 as f32, to.1 as f32 - from.1 as f32);
        let steps = dx.abs().max(dy.abs()).max(1.0) as usize;
        for i in 0..=steps {
            let t = i as f32 / steps as f32;
            let x = (from.0 as f32 + dx * t).round() as usize;
            let y = (from.1 as f32 + dy * t).round() as usize;
            self.set(x, y, colour);
        }
    }

    fn polyline(&mut self, points: impl Iterator<Item = (usize, usize)>, colour: [u8; 3]) {
        let mut previous = None;
        for point in points {
            self.line(previous.unwrap_or(point), point, colour);
            previous = Some(point);
        }
    }

    fn write(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path.display(), e))?;
        let mut encoder =
            png::Encoder::new(std::io::BufWriter::new(file), WIDTH as u32, HEIGHT as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let failed = |e: png::EncodingError| Error::io(path.display(), std::io::Error::other(e));
        let mut writer = encoder.write_header().map_err(failed)?;
        writer.write_image_data(&self.pixels).map_err(failed)?;
        writer.finish().map_err(failed)
    }
}

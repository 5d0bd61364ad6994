//! File and image helpers shared by the converters.

use std::path::{Path, PathBuf};

use inctrl::preprocess::decode_rgb8;
use inctrl::{Error, Result};

/// An 8-bit RGB image, as OpenCV's `imread` reads it (channel order aside).
#[derive(Clone)]
pub(super) struct Image {
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) rgb: Vec<u8>,
}

impl Image {
    pub(super) fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
        let (width, height, rgb) =
            decode_rgb8(&bytes).map_err(|e| Error::image(path.display(), e))?;
        Ok(Self {
            width: width as usize,
            height: height as usize,
            rgb,
        })
    }

    /// The part at `(x, y)` of up to `width × height`, clipped like a numpy slice.
    pub(super) fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> Self {
        let (x_end, y_end) = ((x + width).min(self.width), (y + height).min(self.height));
        let (x, y) = (x.min(x_end), y.min(y_end));
        let mut rgb = Vec::with_capacity((x_end - x) * (y_end - y) * 3);
        for row in y..y_end {
            rgb.extend_from_slice(
                &self.rgb[(row * self.width + x) * 3..(row * self.width + x_end) * 3],
            );
        }
        Self {
            width: x_end - x,
            height: y_end - y,
            rgb,
        }
    }

    pub(super) fn has_marks(&self) -> bool {
        self.rgb.iter().any(|&v| v != 0)
    }

    pub(super) fn binarised(mut self) -> Self {
        self.rgb
            .iter_mut()
            .filter(|v| **v != 0)
            .for_each(|v| *v = 255);
        self
    }

    pub(super) fn write_png(&self, path: &Path) -> Result<()> {
        let folder = path.parent().expect("output paths have a folder");
        std::fs::create_dir_all(folder).map_err(|e| Error::io(folder.display(), e))?;
        let file = std::fs::File::create(path).map_err(|e| Error::io(path.display(), e))?;
        let mut encoder = png::Encoder::new(
            std::io::BufWriter::new(file),
            self.width as u32,
            self.height as u32,
        );
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()
            .and_then(|mut writer| writer.write_image_data(&self.rgb))
            .map_err(|e| Error::InvalidInput(format!("writing {}: {e}", path.display())))
    }
}

pub(super) fn copy_into(path: &Path, folder: &Path) -> Result<()> {
    std::fs::create_dir_all(folder).map_err(|e| Error::io(folder.display(), e))?;
    std::fs::copy(path, folder.join(file_name(path))).map_err(|e| Error::io(path.display(), e))?;
    Ok(())
}

pub(super) fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))
}

pub(super) fn sorted(dir: &Path, keep: fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir.display(), e))?;
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir.display(), e)))
        .collect::<Result<_>>()?;
    paths.retain(|p| keep(p));
    paths.sort();
    Ok(paths)
}

pub(super) fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    sorted(dir, |p| p.is_file())
}

pub(super) fn folders(dir: &Path) -> Result<Vec<PathBuf>> {
    sorted(dir, |p| p.is_dir())
}

pub(super) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The name up to its first dot, as the scripts' `name.split('.')[0]`.
pub(super) fn stem(path: &Path) -> String {
    file_name(path)
        .split('.')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::prepare::aitex::TILE;

    fn image(width: usize, height: usize) -> Image {
        Image {
            width,
            height,
            rgb: (0..width * height * 3).map(|i| (i % 251) as u8).collect(),
        }
    }

    #[test]
    fn crops_like_numpy_slices() {
        let img = image(600, 2);
        let last = img.crop(2 * TILE, 0, TILE, 2);
        assert_eq!((last.width, last.height), (600 - 2 * TILE, 2));
        assert_eq!(&last.rgb[..3], &img.rgb[2 * TILE * 3..2 * TILE * 3 + 3]);
        assert_eq!(img.crop(3 * TILE, 0, TILE, 2).width, 0);
    }
}

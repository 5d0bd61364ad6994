//! An in-memory image in one of Pillow's modes.

/// The Pillow modes the pipeline meets; the resize runs in the image's own mode,
/// so the mode decides the resampling arithmetic (see `Image.resize` in Pillow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// "1": bilevel, stored as 0 or 255 per pixel like Pillow does.
    Bilevel,
    /// "L": 8-bit gray.
    L,
    /// "LA": gray with straight alpha.
    La,
    /// "La": gray premultiplied by alpha, only used while resizing `LA`.
    LaPremultiplied,
    /// "P": palette indices.
    P,
    /// "RGB".
    Rgb,
    /// "RGBA" with straight alpha.
    Rgba,
    /// "RGBa": premultiplied alpha, only used while resizing `RGBA`.
    RgbaPremultiplied,
    /// "CMYK" (Adobe polarity already undone, as Pillow's "CMYK;I" unpacker does).
    Cmyk,
    /// "I;16": 16-bit gray.
    I16,
}

impl Mode {
    /// Samples per pixel.
    pub(crate) fn channels(self) -> usize {
        match self {
            Self::Bilevel | Self::L | Self::P | Self::I16 => 1,
            Self::La | Self::LaPremultiplied => 2,
            Self::Rgb => 3,
            Self::Rgba | Self::RgbaPremultiplied | Self::Cmyk => 4,
        }
    }
}

/// Interleaved samples: 8-bit for every mode but `I16`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Samples {
    U8(Vec<u8>),
    U16(Vec<u16>),
}

/// A decoded image as Pillow holds it after `Image.open(...).load()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PilImage {
    pub mode: Mode,
    pub width: usize,
    pub height: usize,
    pub samples: Samples,
    /// 256 RGB entries for `P`; entries a file leaves out are black, as
    /// in the zero-filled palette of Pillow's `ImagingPaletteNew`.
    pub palette: Option<Box<[[u8; 3]; 256]>>,
}

impl PilImage {
    /// An 8-bit image; `data` holds `width * height * mode.channels()` bytes.
    pub(crate) fn new_u8(mode: Mode, width: usize, height: usize, data: Vec<u8>) -> Self {
        debug_assert_eq!(data.len(), width * height * mode.channels());
        Self {
            mode,
            width,
            height,
            samples: Samples::U8(data),
            palette: None,
        }
    }

    /// A paletted image (mode `P`).
    pub(crate) fn new_paletted(
        mode: Mode,
        width: usize,
        height: usize,
        data: Vec<u8>,
        palette: Box<[[u8; 3]; 256]>,
    ) -> Self {
        Self {
            palette: Some(palette),
            ..Self::new_u8(mode, width, height, data)
        }
    }
}

/// A 256-entry palette from packed RGB triplets; missing entries are black.
pub(crate) fn palette_from_rgb(rgb: &[u8]) -> Box<[[u8; 3]; 256]> {
    let mut palette = Box::new([[0u8; 3]; 256]);
    let entries = rgb.chunks_exact(3).map(|c| [c[0], c[1], c[2]]);
    for (slot, rgb) in palette.iter_mut().zip(entries) {
        *slot = rgb;
    }
    palette
}

//! TIFF at the raw level (the `tiff` crate), mapped onto `TiffImagePlugin`'s
//! modes.

use std::io::Cursor;

use ::tiff::ColorType;
use ::tiff::decoder::{Decoder, DecodingResult, Limits};
use ::tiff::tags::{ByteOrder, PhotometricInterpretation, Tag};

use super::super::error::PreprocessError;
use super::super::image::{Mode, PilImage, Samples, palette_from_rgb};
use super::{MAX_ALLOC, check_dimensions, corrupt, unpack_row};

const FORMAT: &str = "TIFF";

fn unsupported(detail: impl Into<String>) -> PreprocessError {
    PreprocessError::UnsupportedVariant {
        format: FORMAT,
        detail: detail.into(),
    }
}

fn tiff_error(e: ::tiff::TiffError) -> PreprocessError {
    match e {
        ::tiff::TiffError::UnsupportedError(u) => unsupported(u.to_string()),
        e => corrupt(FORMAT, e),
    }
}

fn open(bytes: &[u8]) -> Result<Decoder<Cursor<&[u8]>>, PreprocessError> {
    let mut limits = Limits::default();
    limits.decoding_buffer_size = MAX_ALLOC as usize;
    limits.intermediate_buffer_size = MAX_ALLOC as usize;
    Ok(Decoder::new(Cursor::new(bytes))
        .map_err(tiff_error)?
        .with_limits(limits))
}

/// Decodes the first page: 1-bit gray is mode `1`, 8-bit gray `L`, 16-bit
/// gray `I;16`, palettes (1, 2, 4 or 8 bits) `P`, RGB, RGBA and CMYK keep
/// their mode; 16-bit colour samples keep their high byte (Pillow's
/// `RGB;16L`-style unpackers). `WhiteIsZero` gray is inverted.
pub(super) fn decode(bytes: &[u8]) -> Result<PilImage, PreprocessError> {
    let mut decoder = open(bytes)?;
    let (w, h) = decoder.dimensions().map_err(tiff_error)?;
    check_dimensions(w.into(), h.into())?;
    let (w, h) = (w as usize, h as usize);
    // Pillow's `;R` rawmodes reverse the bits of every byte; the `tiff` crate
    // does not, so refuse rather than decode other pixels.
    if decoder
        .find_tag_unsigned::<u16>(Tag::FillOrder)
        .map_err(tiff_error)?
        .is_some_and(|order| order != 1)
    {
        return Err(unsupported("FillOrder 2 (bits stored in reverse order)"));
    }
    let photometric = decoder
        .find_tag_unsigned::<u16>(Tag::PhotometricInterpretation)
        .map_err(tiff_error)?;
    if photometric == Some(PhotometricInterpretation::RGBPalette.to_u16()) {
        return decode_palette(bytes, &mut decoder, w, h);
    }
    let white_is_zero = photometric == Some(PhotometricInterpretation::WhiteIsZero.to_u16());
    let color = decoder.colortype().map_err(tiff_error)?;
    let image = decoder.read_image().map_err(tiff_error)?;
    let invert = |v: u8| if white_is_zero { !v } else { v };
    let img = match (color, image) {
        (ColorType::Gray(16), DecodingResult::U16(data)) => PilImage {
            mode: Mode::I16,
            width: w,
            height: h,
            samples: Samples::U16(data),
            palette: None,
        },
        (ColorType::Gray(1), DecodingResult::U8(data)) => {
            let px = unpack_rows(&data, 1, w, h)?
                .into_iter()
                .map(|v| invert(v * 255))
                .collect();
            PilImage::new_u8(Mode::Bilevel, w, h, px)
        }
        (ColorType::Gray(8), DecodingResult::U8(data)) => {
            PilImage::new_u8(Mode::L, w, h, data.into_iter().map(invert).collect())
        }
        (
            ColorType::GrayA(8)
            | ColorType::Multiband {
                bit_depth: 8,
                num_samples: 2,
            },
            DecodingResult::U8(data),
        ) => PilImage::new_u8(Mode::La, w, h, data),
        (ColorType::RGB(8), DecodingResult::U8(data)) => PilImage::new_u8(Mode::Rgb, w, h, data),
        (ColorType::RGBA(8), DecodingResult::U8(data)) => PilImage::new_u8(Mode::Rgba, w, h, data),
        (ColorType::CMYK(8), DecodingResult::U8(data)) => PilImage::new_u8(Mode::Cmyk, w, h, data),
        (ColorType::RGB(16), DecodingResult::U16(data)) => {
            PilImage::new_u8(Mode::Rgb, w, h, high_bytes(&data))
        }
        (ColorType::RGBA(16), DecodingResult::U16(data)) => {
            PilImage::new_u8(Mode::Rgba, w, h, high_bytes(&data))
        }
        (color, _) => return Err(unsupported(format!("{color:?} samples"))),
    };
    Ok(img)
}

/// `PhotometricInterpretation` RGBPalette: mode `P` as `TiffImagePlugin`
/// makes it (rawmodes `P;1`, `P;2`, `P;4`, `P`). The palette is the `ColorMap`
/// tag, all reds, then all greens, then all blues, each 16-bit entry divided
/// by 256 (`b // 256`, read as `RGB;L`).
///
/// The `tiff` crate refuses palette images outright, though their samples
/// are stored exactly as one-sample gray is; so the indices are read from a
/// copy of the file whose first IFD says `BlackIsZero` instead.
fn decode_palette(
    bytes: &[u8],
    decoder: &mut Decoder<Cursor<&[u8]>>,
    w: usize,
    h: usize,
) -> Result<PilImage, PreprocessError> {
    let samples = decoder
        .find_tag_unsigned::<u16>(Tag::SamplesPerPixel)
        .map_err(tiff_error)?
        .unwrap_or(1);
    let bits = decoder
        .find_tag_unsigned_vec::<u16>(Tag::BitsPerSample)
        .map_err(tiff_error)?
        .unwrap_or_else(|| vec![1]);
    let depth = match (samples, bits.as_slice()) {
        (1, &[d]) if matches!(d, 1 | 2 | 4 | 8) => d as u8,
        _ => {
            return Err(unsupported(format!(
                "palette image with {samples} samples of {bits:?} bits"
            )));
        }
    };
    let map = decoder
        .find_tag_unsigned_vec::<u16>(Tag::ColorMap)
        .map_err(tiff_error)?
        .ok_or_else(|| corrupt(FORMAT, "palette image without ColorMap"))?;
    let n = map.len() / 3;
    if n == 0 || n > 256 || map.len() % 3 != 0 {
        return Err(corrupt(FORMAT, format!("ColorMap of {} values", map.len())));
    }
    let rgb: Vec<u8> = (0..n)
        .flat_map(|i| [map[i], map[n + i], map[2 * n + i]].map(|v| (v >> 8) as u8))
        .collect();
    let ifd = decoder
        .ifd_pointer()
        .ok_or_else(|| corrupt(FORMAT, "no image directory"))?;
    let gray = as_black_is_zero(bytes, ifd.0, decoder.byte_order())?;
    let mut decoder = open(&gray)?;
    let indices = match (decoder.colortype(), decoder.read_image()) {
        (Ok(ColorType::Gray(8)), Ok(DecodingResult::U8(data))) => data,
        (Ok(ColorType::Gray(d)), Ok(DecodingResult::U8(data))) if d == depth => {
            unpack_rows(&data, depth, w, h)?
        }
        (Err(e), _) | (_, Err(e)) => return Err(tiff_error(e)),
        (Ok(color), _) => return Err(unsupported(format!("palette with {color:?} samples"))),
    };
    if indices.len() != w * h {
        return Err(corrupt(FORMAT, "palette image data of the wrong size"));
    }
    Ok(PilImage::new_paletted(
        Mode::P,
        w,
        h,
        indices,
        palette_from_rgb(&rgb),
    ))
}

/// A copy of the file whose IFD at `ifd` has PhotometricInterpretation
/// BlackIsZero (1); classic TIFF and BigTIFF.
fn as_black_is_zero(bytes: &[u8], ifd: u64, order: ByteOrder) -> Result<Vec<u8>, PreprocessError> {
    let read = |at: usize, len: usize| -> Result<u64, PreprocessError> {
        let b = bytes
            .get(at..at + len)
            .ok_or_else(|| corrupt(FORMAT, "image directory past the end of the file"))?;
        let fold = |acc: u64, &x: &u8| (acc << 8) | u64::from(x);
        Ok(match order {
            ByteOrder::BigEndian => b.iter().fold(0, fold),
            ByteOrder::LittleEndian => b.iter().rev().fold(0, fold),
        })
    };
    let big = read(2, 2)? == 43;
    let (count_len, entry_len, value_at) = if big { (8, 20, 12) } else { (2, 12, 8) };
    let ifd = usize::try_from(ifd).map_err(|_| corrupt(FORMAT, "image directory offset"))?;
    let count = read(ifd, count_len)?;
    for i in 0..count as usize {
        let entry = ifd + count_len + i * entry_len;
        if read(entry, 2)? != u64::from(Tag::PhotometricInterpretation.to_u16()) {
            continue;
        }
        let width = match read(entry + 2, 2)? {
            3 => 2, // SHORT, as the specification says
            4 => 4, // LONG
            t => {
                return Err(corrupt(
                    FORMAT,
                    format!("PhotometricInterpretation of field type {t}"),
                ));
            }
        };
        let at = entry + value_at;
        let mut copy = bytes.to_vec();
        let value = &mut copy[at..at + width];
        value.fill(0);
        match order {
            ByteOrder::BigEndian => value[width - 1] = 1,
            ByteOrder::LittleEndian => value[0] = 1,
        }
        return Ok(copy);
    }
    Err(corrupt(FORMAT, "PhotometricInterpretation not found"))
}

/// Samples of `depth` bits (1, 2 or 4), each row starting on a byte.
fn unpack_rows(data: &[u8], depth: u8, w: usize, h: usize) -> Result<Vec<u8>, PreprocessError> {
    let stride = (w * usize::from(depth)).div_ceil(8);
    if data.len() < stride * h {
        return Err(corrupt(FORMAT, "image data too short"));
    }
    Ok(data
        .chunks_exact(stride)
        .take(h)
        .flat_map(|r| unpack_row(r, depth, w))
        .collect())
}

fn high_bytes(data: &[u16]) -> Vec<u8> {
    data.iter().map(|v| (v >> 8) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An uncompressed one-strip palette TIFF; `extra` entries are appended
    /// to the IFD (tag, value), `samples` values per pixel.
    fn palette_tiff(
        big_endian: bool,
        depth: u16,
        samples: u16,
        data: &[u8],
        extra: &[(u16, u16)],
    ) -> Vec<u8> {
        let (w, h) = (3u16, 2u16);
        let colors = 1usize << depth;
        let cmap: Vec<u16> = (0..3 * colors)
            .map(|k| ((k % 256) << 8 | 0xFF) as u16)
            .collect();
        let short = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let long = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut entries: Vec<(u16, u16, u32, u32)> = vec![
            (256, 3, 1, w.into()),
            (257, 3, 1, h.into()),
            (258, 3, 1, depth.into()),
            (259, 3, 1, 1),
            (262, 3, 1, 3),
            (273, 4, 1, 0),
            (277, 3, 1, samples.into()),
            (278, 3, 1, h.into()),
            (279, 4, 1, data.len() as u32),
            (320, 3, cmap.len() as u32, 0),
        ];
        entries.extend(extra.iter().map(|&(tag, v)| (tag, 3, 1, u32::from(v))));
        entries.sort();
        let ifd_len = 2 + 12 * entries.len() + 4;
        let cmap_at = 8 + ifd_len as u32;
        let data_at = cmap_at + 2 * cmap.len() as u32;
        let mut out = if big_endian {
            b"MM\0*".to_vec()
        } else {
            b"II*\0".to_vec()
        };
        out.extend(long(8));
        out.extend(short(entries.len() as u16));
        for (tag, typ, count, value) in entries {
            let value = match tag {
                273 => data_at,
                320 => cmap_at,
                _ => value,
            };
            out.extend(short(tag));
            out.extend(short(typ));
            out.extend(long(count));
            if typ == 3 && count == 1 {
                out.extend(short(value as u16));
                out.extend([0, 0]);
            } else {
                out.extend(long(value));
            }
        }
        out.extend(long(0));
        out.extend(cmap.iter().flat_map(|&v| short(v)));
        out.extend(data);
        out
    }

    #[test]
    fn palettes_map_the_colour_map_high_bytes() {
        // 4-bit indices 1 2 3 / 15 0 7, rows padded to a byte.
        for big_endian in [false, true] {
            let file = palette_tiff(big_endian, 4, 1, &[0x12, 0x30, 0xF0, 0x70], &[]);
            let img = decode(&file).unwrap();
            assert_eq!(img.mode, Mode::P);
            assert_eq!(img.samples, Samples::U8(vec![1, 2, 3, 15, 0, 7]));
            let palette = img.palette.unwrap();
            // Value k of the map is k * 256 + 255: the high byte, no rounding.
            assert_eq!(palette[1], [1, 17, 33]);
            assert_eq!(palette[15], [15, 31, 47]);
            assert_eq!(palette[16], [0, 0, 0]);
        }
        let file = palette_tiff(false, 8, 1, &[9, 8, 7, 6, 5, 255], &[]);
        let img = decode(&file).unwrap();
        assert_eq!(img.samples, Samples::U8(vec![9, 8, 7, 6, 5, 255]));
        assert_eq!(img.palette.unwrap()[255], [255, 255, 255]);
    }

    #[test]
    fn unsupported_palette_layouts_are_named() {
        let pa = palette_tiff(false, 8, 2, &[0; 12], &[(338, 2)]);
        let err = decode(&pa).unwrap_err();
        assert!(
            matches!(&err, PreprocessError::UnsupportedVariant { detail, .. } if detail.contains("palette image with 2 samples")),
            "{err}"
        );
        let reversed = palette_tiff(false, 8, 1, &[0; 6], &[(266, 2)]);
        let err = decode(&reversed).unwrap_err();
        assert!(err.to_string().contains("FillOrder 2"), "{err}");
    }
}

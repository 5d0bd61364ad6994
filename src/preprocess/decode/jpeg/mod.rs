//! A baseline and progressive Huffman JPEG decoder that reproduces the bytes
//! Pillow 13 gets from libjpeg-turbo: accurate integer IDCT (`JDCT_ISLOW`),
//! fancy upsampling, libjpeg's colour-space guess, and Pillow's `CMYK;I`
//! inversion of 4-component files.
//!
//! zune-jpeg (behind the `image` crate) uses a different IDCT and colour
//! converter and differs by ±1 on about 1% of samples, which is why this
//! module exists.

mod color;
mod huffman;
mod idct;
mod scan;

use super::super::error::PreprocessError;
use super::super::image::{Mode, PilImage};
use color::{Plane, Transform};
use huffman::{BitReader, HuffTable};
use scan::{NATURAL_ORDER, ScanKind, ScanState, ScanTables};

const FORMAT: &str = "JPEG";

fn corrupt(detail: impl Into<String>) -> PreprocessError {
    PreprocessError::Corrupt {
        format: FORMAT,
        detail: detail.into(),
    }
}

fn unsupported(detail: impl Into<String>) -> PreprocessError {
    PreprocessError::UnsupportedVariant {
        format: FORMAT,
        detail: detail.into(),
    }
}

fn truncated() -> PreprocessError {
    corrupt("file ends before the image data is complete")
}

/// One frame component and its coefficients.
struct Component {
    id: u8,
    h: usize,
    v: usize,
    quant_index: usize,
    /// The table in force at the component's first scan (libjpeg latches it).
    quant: Option<[u16; 64]>,
    /// Blocks actually covering the image.
    width_in_blocks: usize,
    height_in_blocks: usize,
    /// Blocks allocated: whole MCUs.
    blocks_w: usize,
    blocks_h: usize,
    /// Real samples of the downsampled component.
    width: usize,
    height: usize,
    coefs: Vec<[i16; 64]>,
}

/// The SOF header and what follows from it.
struct Frame {
    width: usize,
    height: usize,
    progressive: bool,
    components: Vec<Component>,
    max_h: usize,
    max_v: usize,
    mcus_x: usize,
    mcus_y: usize,
}

/// Marker-level decoder state.
struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    max_pixels: u64,
    quant: [Option<[u16; 64]>; 4],
    dc_tables: [Option<HuffTable>; 4],
    ac_tables: [Option<HuffTable>; 4],
    restart_interval: usize,
    frame: Option<Frame>,
    saw_jfif: bool,
    adobe_transform: Option<u8>,
}

/// Decodes a JPEG file into the image Pillow's `Image.open` would load: mode
/// `L`, `RGB` or `CMYK`. Images above `max_pixels` pixels are refused.
pub(crate) fn decode(data: &[u8], max_pixels: u64) -> Result<PilImage, PreprocessError> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return Err(corrupt("missing start-of-image marker"));
    }
    let mut decoder = Decoder {
        data,
        pos: 2,
        max_pixels,
        quant: [None; 4],
        dc_tables: Default::default(),
        ac_tables: Default::default(),
        restart_interval: 0,
        frame: None,
        saw_jfif: false,
        adobe_transform: None,
    };
    decoder.read_markers()?;
    decoder.finish()
}

impl<'a> Decoder<'a> {
    /// Handles markers until EOI (`read_markers` in `jdmarker.c`).
    fn read_markers(&mut self) -> Result<(), PreprocessError> {
        loop {
            let marker = self.next_marker()?;
            match marker {
                0xD9 => return Ok(()),
                0xC0..=0xC2 => {
                    let segment = self.segment()?;
                    self.read_sof(segment, marker == 0xC2)?;
                }
                0xC3 | 0xC5..=0xC7 | 0xCB | 0xCD..=0xCF => {
                    return Err(unsupported("lossless or hierarchical JPEG"));
                }
                0xC9 | 0xCA => return Err(unsupported("arithmetic-coded JPEG")),
                0xC4 => {
                    let segment = self.segment()?;
                    self.read_dht(segment)?;
                }
                0xDB => {
                    let segment = self.segment()?;
                    self.read_dqt(segment)?;
                }
                0xDD => {
                    let segment = self.segment()?;
                    let interval = segment
                        .get(..2)
                        .ok_or_else(|| corrupt("short DRI segment"))?;
                    self.restart_interval =
                        usize::from(u16::from_be_bytes([interval[0], interval[1]]));
                }
                0xDA => {
                    let segment = self.segment()?;
                    self.read_sos(segment)?;
                }
                0xD8 => return Err(corrupt("two start-of-image markers")),
                0x01 | 0xD0..=0xD7 => {}
                0xE0 => {
                    let segment = self.segment()?;
                    // `examine_app0`: a JFIF header needs 14 bytes.
                    self.saw_jfif |= segment.len() >= 14 && segment.starts_with(b"JFIF\0");
                }
                0xEE => {
                    let segment = self.segment()?;
                    // `examine_app14`: an Adobe header needs 12 bytes.
                    if segment.len() >= 12 && segment.starts_with(b"Adobe") {
                        self.adobe_transform = Some(segment[11]);
                    }
                }
                _ => {
                    self.segment()?;
                }
            }
        }
    }

    /// `next_marker`: skips anything up to the next `FF xx` marker.
    fn next_marker(&mut self) -> Result<u8, PreprocessError> {
        loop {
            let rest = self.data.get(self.pos..).unwrap_or_default();
            let ff = rest.iter().position(|&b| b == 0xFF).ok_or_else(truncated)?;
            let mut at = self.pos + ff;
            while self.data.get(at + 1) == Some(&0xFF) {
                at += 1;
            }
            match self.data.get(at + 1) {
                None => return Err(truncated()),
                Some(0) => self.pos = at + 2,
                Some(&marker) => {
                    self.pos = at + 2;
                    return Ok(marker);
                }
            }
        }
    }

    /// The payload of a marker segment (after its length field).
    fn segment(&mut self) -> Result<&'a [u8], PreprocessError> {
        let len = self
            .data
            .get(self.pos..self.pos + 2)
            .ok_or_else(truncated)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < 2 {
            return Err(corrupt("marker segment length below 2"));
        }
        let segment = self
            .data
            .get(self.pos + 2..self.pos + len)
            .ok_or_else(truncated)?;
        self.pos += len;
        Ok(segment)
    }

    fn read_dqt(&mut self, mut s: &[u8]) -> Result<(), PreprocessError> {
        while let [pq_tq, rest @ ..] = s {
            let (precision, index) = (pq_tq >> 4, usize::from(pq_tq & 15));
            let size = if precision == 0 { 64 } else { 128 };
            let values = rest
                .get(..size)
                .ok_or_else(|| corrupt("short DQT segment"))?;
            if index > 3 {
                return Err(corrupt("bad quantization table index"));
            }
            let mut table = [0u16; 64];
            for (k, &pos) in NATURAL_ORDER[..64].iter().enumerate() {
                table[pos] = if precision == 0 {
                    u16::from(values[k])
                } else {
                    u16::from_be_bytes([values[2 * k], values[2 * k + 1]])
                };
            }
            self.quant[index] = Some(table);
            s = &rest[size..];
        }
        Ok(())
    }

    fn read_dht(&mut self, mut s: &[u8]) -> Result<(), PreprocessError> {
        while s.len() >= 17 {
            let (class, index) = (s[0] >> 4, usize::from(s[0] & 15));
            let bits: [u8; 16] = s[1..17].try_into().expect("16 bytes");
            let count: usize = bits.iter().map(|&b| usize::from(b)).sum();
            let values = s
                .get(17..17 + count)
                .ok_or_else(|| corrupt("short DHT segment"))?;
            // `jpeg_make_d_derived_tbl` rejects DC symbols above 15.
            if index > 3 || count > 256 || (class == 0 && values.iter().any(|&v| v > 15)) {
                return Err(corrupt("bad Huffman table"));
            }
            let table = HuffTable::new(&bits, values.to_vec()).map_err(corrupt)?;
            let slot = if class == 0 {
                &mut self.dc_tables
            } else {
                &mut self.ac_tables
            };
            slot[index] = Some(table);
            s = &s[17 + count..];
        }
        Ok(())
    }

    fn read_sof(&mut self, s: &[u8], progressive: bool) -> Result<(), PreprocessError> {
        if self.frame.is_some() {
            return Err(corrupt("more than one frame header"));
        }
        let header = s.get(..6).ok_or_else(|| corrupt("short SOF segment"))?;
        if header[0] != 8 {
            return Err(unsupported(format!("{}-bit samples", header[0])));
        }
        let height = usize::from(u16::from_be_bytes([header[1], header[2]]));
        let width = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let count = usize::from(header[5]);
        if width == 0 || height == 0 {
            return Err(PreprocessError::ZeroDimension);
        }
        if (width * height) as u64 > self.max_pixels {
            return Err(PreprocessError::TooLarge {
                width: width as u64,
                height: height as u64,
                limit: "more pixels than Pillow's decompression-bomb limit",
            });
        }
        if ![1, 3, 4].contains(&count) {
            return Err(unsupported(format!("{count} components")));
        }
        let specs = s
            .get(6..6 + 3 * count)
            .ok_or_else(|| corrupt("short SOF segment"))?;
        let mut components = Vec::with_capacity(count);
        for spec in specs.chunks_exact(3) {
            let (h, v) = (usize::from(spec[1] >> 4), usize::from(spec[1] & 15));
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) || spec[2] > 3 {
                return Err(corrupt("bogus sampling factors or table index"));
            }
            components.push((spec[0], h, v, usize::from(spec[2])));
        }
        self.frame = Some(Frame::new(width, height, progressive, &components)?);
        Ok(())
    }

    fn read_sos(&mut self, s: &[u8]) -> Result<(), PreprocessError> {
        let frame = self
            .frame
            .as_mut()
            .ok_or_else(|| corrupt("scan before frame header"))?;
        let count = usize::from(*s.first().ok_or_else(|| corrupt("short SOS segment"))?);
        let tail = s
            .get(1 + 2 * count..4 + 2 * count)
            .ok_or_else(|| corrupt("short SOS segment"))?;
        if count == 0 || count > 4 {
            return Err(corrupt("bad number of scan components"));
        }
        let mut members = Vec::with_capacity(count);
        for spec in s[1..1 + 2 * count].chunks_exact(2) {
            let index = frame
                .components
                .iter()
                .position(|c| c.id == spec[0])
                .ok_or_else(|| corrupt("scan names an unknown component"))?;
            members.push((index, usize::from(spec[1] >> 4), usize::from(spec[1] & 15)));
        }
        let kind = scan_kind(frame.progressive, tail, count)?;
        for &(index, ..) in &members {
            let comp = &mut frame.components[index];
            if comp.quant.is_none() {
                let table = self.quant[comp.quant_index];
                comp.quant = Some(table.ok_or_else(|| corrupt("quantization table not defined"))?);
            }
        }
        let tables: Vec<ScanTables> = members
            .iter()
            .map(|&(_, td, ta)| ScanTables {
                dc: self.dc_tables.get(td).and_then(Option::as_ref),
                ac: self.ac_tables.get(ta).and_then(Option::as_ref),
            })
            .collect();
        let indices: Vec<usize> = members.iter().map(|m| m.0).collect();
        let mut reader = BitReader::new(self.data, self.pos);
        frame.decode_scan(&mut reader, kind, &indices, &tables, self.restart_interval)?;
        self.pos = reader.position();
        Ok(())
    }

    /// IDCT, upsampling and colour conversion once all scans are in.
    fn finish(mut self) -> Result<PilImage, PreprocessError> {
        let frame = self
            .frame
            .take()
            .ok_or_else(|| corrupt("no frame header before end of image"))?;
        let transform = match frame.components.len() {
            1 => Transform::None,
            3 => self.rgb_transform(&frame),
            _ => match self.adobe_transform {
                None | Some(0) => Transform::None,
                Some(_) => Transform::Ycck,
            },
        };
        let planes: Vec<Vec<u8>> = frame
            .components
            .iter()
            .map(|c| {
                let plane = c.samples();
                color::upsample(
                    &plane,
                    frame.max_h / c.h,
                    frame.max_v / c.v,
                    frame.width,
                    frame.height,
                )
            })
            .collect();
        let mut pixels = color::convert(&planes, transform);
        let mode = match planes.len() {
            1 => Mode::L,
            3 => Mode::Rgb,
            _ => {
                // Pillow reads 4-component JPEGs with the inverting "CMYK;I" unpacker.
                pixels.iter_mut().for_each(|v| *v = !*v);
                Mode::Cmyk
            }
        };
        Ok(PilImage::new_u8(mode, frame.width, frame.height, pixels))
    }

    /// libjpeg's `default_decompress_parms` guess for 3-component files.
    fn rgb_transform(&self, frame: &Frame) -> Transform {
        if self.saw_jfif {
            return Transform::YCbCr;
        }
        if let Some(t) = self.adobe_transform {
            return if t == 0 {
                Transform::None
            } else {
                Transform::YCbCr
            };
        }
        let ids: Vec<u8> = frame.components.iter().map(|c| c.id).collect();
        if ids == b"RGB" {
            Transform::None
        } else {
            Transform::YCbCr
        }
    }
}

/// Validates the SOS spectral-selection fields as `start_pass_phuff_decoder`
/// does; sequential scans ignore them (libjpeg only warns).
fn scan_kind(progressive: bool, tail: &[u8], count: usize) -> Result<ScanKind, PreprocessError> {
    if !progressive {
        return Ok(ScanKind::Sequential);
    }
    let (ss, se) = (usize::from(tail[0]), usize::from(tail[1]));
    let (ah, al) = (u32::from(tail[2] >> 4), u32::from(tail[2] & 15));
    let dc = ss == 0;
    let bad = (dc && se != 0)
        || (!dc && (ss > se || se > 63 || count != 1))
        || (ah != 0 && al + 1 != ah)
        || al > 13;
    if bad {
        return Err(corrupt("invalid progressive scan parameters"));
    }
    Ok(match (dc, ah == 0) {
        (true, true) => ScanKind::DcFirst { al },
        (true, false) => ScanKind::DcRefine { al },
        (false, true) => ScanKind::AcFirst { ss, se, al },
        (false, false) => ScanKind::AcRefine { ss, se, al },
    })
}

impl Frame {
    /// Component geometry as `initial_setup` in `jdinput.c` computes it.
    fn new(
        width: usize,
        height: usize,
        progressive: bool,
        specs: &[(u8, usize, usize, usize)],
    ) -> Result<Self, PreprocessError> {
        let max_h = specs.iter().map(|s| s.1).max().unwrap_or(1);
        let max_v = specs.iter().map(|s| s.2).max().unwrap_or(1);
        if specs.iter().any(|s| max_h % s.1 != 0 || max_v % s.2 != 0) {
            return Err(unsupported("fractional chroma sampling"));
        }
        let (mcus_x, mcus_y) = (width.div_ceil(max_h * 8), height.div_ceil(max_v * 8));
        let components = specs
            .iter()
            .map(|&(id, h, v, quant_index)| {
                let (blocks_w, blocks_h) = (mcus_x * h, mcus_y * v);
                Component {
                    id,
                    h,
                    v,
                    quant_index,
                    quant: None,
                    width_in_blocks: (width * h).div_ceil(max_h * 8),
                    height_in_blocks: (height * v).div_ceil(max_v * 8),
                    blocks_w,
                    blocks_h,
                    width: (width * h).div_ceil(max_h),
                    height: (height * v).div_ceil(max_v),
                    coefs: vec![[0i16; 64]; blocks_w * blocks_h],
                }
            })
            .collect();
        Ok(Self {
            width,
            height,
            progressive,
            components,
            max_h,
            max_v,
            mcus_x,
            mcus_y,
        })
    }

    /// Decodes the MCUs of one scan. A one-component scan walks that
    /// component's own blocks; an interleaved scan walks whole MCUs.
    fn decode_scan(
        &mut self,
        r: &mut BitReader,
        kind: ScanKind,
        members: &[usize],
        tables: &[ScanTables],
        restart_interval: usize,
    ) -> Result<(), PreprocessError> {
        let single = members.len() == 1;
        if !single
            && members
                .iter()
                .map(|&i| self.components[i].h * self.components[i].v)
                .sum::<usize>()
                > 10
        {
            return Err(corrupt(
                "sampling factors too large for an interleaved scan",
            ));
        }
        let (mcus_x, mcus_y) = if single {
            let c = &self.components[members[0]];
            (c.width_in_blocks, c.height_in_blocks)
        } else {
            (self.mcus_x, self.mcus_y)
        };
        let mut state = ScanState::default();
        for mcu in 0..mcus_x * mcus_y {
            if restart_interval > 0 && mcu > 0 && mcu % restart_interval == 0 {
                restart(r);
                state = ScanState::default();
            }
            let (mx, my) = (mcu % mcus_x, mcu / mcus_x);
            for (slot, &index) in members.iter().enumerate() {
                let comp = &mut self.components[index];
                let (bw, bh) = if single { (1, 1) } else { (comp.h, comp.v) };
                for by in 0..bh {
                    for bx in 0..bw {
                        let at = (my * bh + by) * comp.blocks_w + mx * bw + bx;
                        scan::decode_block(
                            r,
                            kind,
                            &tables[slot],
                            &mut state,
                            slot,
                            &mut comp.coefs[at],
                        )
                        .map_err(corrupt)?;
                    }
                }
            }
            if r.ran_past_end() {
                return Err(truncated());
            }
        }
        Ok(())
    }
}

/// `process_restart`: drop buffered bits and step over the next marker if it
/// is RSTn. Another marker is left in place, so the rest of the scan reads
/// zeros.
fn restart(r: &mut BitReader) {
    let data = r.data();
    let mut pos = r.position();
    while pos + 1 < data.len() && (data[pos] != 0xFF || matches!(data[pos + 1], 0 | 0xFF)) {
        pos += 1;
    }
    let is_rst = pos + 1 < data.len() && (0xD0..=0xD7).contains(&data[pos + 1]);
    r.reset(if is_rst { pos + 2 } else { pos });
}

impl Component {
    /// Runs the IDCT over every block.
    fn samples(&self) -> Plane {
        let stride = self.blocks_w * 8;
        let mut data = vec![0u8; stride * self.blocks_h * 8];
        let quant = self.quant.unwrap_or([0; 64]);
        for (i, block) in self.coefs.iter().enumerate() {
            let (bx, by) = (i % self.blocks_w, i / self.blocks_w);
            let start = by * 8 * stride + bx * 8;
            idct::idct_islow(block, &quant, &mut data[start..], stride);
        }
        Plane {
            data,
            stride,
            width: self.width,
            height: self.height,
        }
    }
}

//! Entropy decoding of one scan into the coefficient buffers: sequential
//! Huffman (`jdhuff.c`) and progressive Huffman (`jdphuff.c`).

use super::huffman::{BitReader, HuffTable};

/// Zigzag position to natural (row-major) position, with 16 extra entries so
/// corrupt run lengths land on the last coefficient, as in libjpeg's
/// `jpeg_natural_order`.
pub(super) const NATURAL_ORDER: [usize; 80] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
    63, 63, 63, 63, 63, 63,
];

/// What one scan carries (from its SOS header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScanKind {
    /// A sequential scan: whole blocks.
    Sequential,
    /// Progressive DC, first pass, point transform `al`.
    DcFirst { al: u32 },
    /// Progressive DC refinement of bit `al`.
    DcRefine { al: u32 },
    /// Progressive AC band `ss..=se`, first pass.
    AcFirst { ss: usize, se: usize, al: u32 },
    /// Progressive AC band `ss..=se`, refinement of bit `al`.
    AcRefine { ss: usize, se: usize, al: u32 },
}

/// The tables one scan component uses.
pub(super) struct ScanTables<'t> {
    pub dc: Option<&'t HuffTable>,
    pub ac: Option<&'t HuffTable>,
}

/// Per-scan decoder state that restart markers reset.
#[derive(Default)]
pub(super) struct ScanState {
    /// DC predictors, one per scan component (`last_dc_val`).
    pub dc_pred: [i32; 4],
    /// Remaining blocks of an end-of-band run (`EOBRUN`).
    pub eobrun: u32,
}

/// Decodes one block of the scan into `block` (natural order).
pub(super) fn decode_block(
    r: &mut BitReader,
    kind: ScanKind,
    tables: &ScanTables,
    state: &mut ScanState,
    comp: usize,
    block: &mut [i16; 64],
) -> Result<(), String> {
    match kind {
        ScanKind::Sequential => {
            let (dc, ac) = (need(tables.dc)?, need(tables.ac)?);
            block[0] = decode_dc(r, dc, &mut state.dc_pred[comp]) as i16;
            decode_ac_first(r, ac, block, 1, 63, 0, &mut state.eobrun, false);
        }
        ScanKind::DcFirst { al } => {
            let dc = decode_dc(r, need(tables.dc)?, &mut state.dc_pred[comp]);
            block[0] = (dc << al) as i16;
        }
        ScanKind::DcRefine { al } => {
            if r.bits(1) != 0 {
                block[0] |= 1 << al;
            }
        }
        ScanKind::AcFirst { ss, se, al } => {
            decode_ac_first(
                r,
                need(tables.ac)?,
                block,
                ss,
                se,
                al,
                &mut state.eobrun,
                true,
            );
        }
        ScanKind::AcRefine { ss, se, al } => {
            decode_ac_refine(r, need(tables.ac)?, block, ss, se, al, &mut state.eobrun);
        }
    }
    Ok(())
}

fn need(table: Option<&HuffTable>) -> Result<&HuffTable, String> {
    table.ok_or_else(|| "Huffman table used by a scan was not defined".to_string())
}

/// A DC difference added to the predictor (wrapping, as the C `int` does in
/// practice on malformed files).
fn decode_dc(r: &mut BitReader, table: &HuffTable, pred: &mut i32) -> i32 {
    let s = u32::from(r.decode(table));
    let diff = r.receive_extend(s);
    *pred = pred.wrapping_add(diff);
    *pred
}

/// AC coefficients `ss..=se` of a sequential block (`progressive == false`,
/// no end-of-band runs) or of a progressive first pass (`decode_mcu_AC_first`).
#[allow(clippy::too_many_arguments)]
fn decode_ac_first(
    r: &mut BitReader,
    table: &HuffTable,
    block: &mut [i16; 64],
    ss: usize,
    se: usize,
    al: u32,
    eobrun: &mut u32,
    progressive: bool,
) {
    if *eobrun > 0 {
        *eobrun -= 1;
        return;
    }
    let mut k = ss;
    while k <= se {
        let rs = r.decode(table);
        let (run, size) = (usize::from(rs >> 4), u32::from(rs & 15));
        if size != 0 {
            k += run;
            let v = r.receive_extend(size);
            block[NATURAL_ORDER[k.min(79)]] = (v << al) as i16;
        } else if run == 15 {
            k += 15;
        } else {
            if progressive {
                *eobrun = (1 << run) + r.bits(run as u32) as u32 - 1;
            }
            break;
        }
        k += 1;
    }
}

/// `decode_mcu_AC_refine`: one more bit of precision for band `ss..=se`.
fn decode_ac_refine(
    r: &mut BitReader,
    table: &HuffTable,
    block: &mut [i16; 64],
    ss: usize,
    se: usize,
    al: u32,
    eobrun: &mut u32,
) {
    let p1: i16 = 1 << al;
    let m1: i16 = -1 << al;
    let mut k = ss;
    if *eobrun == 0 {
        while k <= se {
            let rs = r.decode(table);
            let mut run = i32::from(rs >> 4);
            let size = rs & 15;
            let mut value = 0i16;
            if size != 0 {
                value = if r.bits(1) != 0 { p1 } else { m1 };
            } else if run != 15 {
                *eobrun = (1 << run) + r.bits(run as u32) as u32;
                break;
            }
            // Skip `run` zero coefficients, refining the nonzero ones passed.
            loop {
                let pos = NATURAL_ORDER[k.min(79)];
                if block[pos] != 0 {
                    refine(r, &mut block[pos], p1, m1);
                } else {
                    run -= 1;
                    if run < 0 {
                        break;
                    }
                }
                k += 1;
                if k > se {
                    break;
                }
            }
            if value != 0 {
                block[NATURAL_ORDER[k.min(79)]] = value;
            }
            k += 1;
        }
    }
    if *eobrun > 0 {
        while k <= se {
            let pos = NATURAL_ORDER[k];
            if block[pos] != 0 {
                refine(r, &mut block[pos], p1, m1);
            }
            k += 1;
        }
        *eobrun -= 1;
    }
}

/// Appends a correction bit to an already nonzero coefficient.
fn refine(r: &mut BitReader, coef: &mut i16, p1: i16, m1: i16) {
    if r.bits(1) != 0 && (*coef & p1) == 0 {
        *coef = coef.wrapping_add(if *coef >= 0 { p1 } else { m1 });
    }
}

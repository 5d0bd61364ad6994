//! Huffman tables and the entropy-coded bit stream, as libjpeg-turbo's
//! `jdhuff.c` reads them.

/// A decoding table built like libjpeg's `jpeg_make_d_derived_tbl`.
#[derive(Debug, Clone)]
pub(super) struct HuffTable {
    /// For codes of at most 8 bits: `(length << 8) | symbol`; 0 = longer code.
    lookup: [u16; 256],
    /// Largest code of each length, -1 if none; index 17 is a sentinel.
    maxcode: [i32; 18],
    /// Symbol index = code + `valoffset[length]`.
    valoffset: [i32; 17],
    values: Vec<u8>,
}

impl HuffTable {
    /// Builds a table from the DHT counts per length (`bits[0]` is length 1)
    /// and symbols. Fails on an over-subscribed table, as libjpeg does.
    pub(super) fn new(bits: &[u8; 16], values: Vec<u8>) -> Result<Self, String> {
        let mut lookup = [0u16; 256];
        let mut maxcode = [-1i32; 18];
        let mut valoffset = [0i32; 17];
        let mut code: i32 = 0;
        let mut p: i32 = 0;
        for len in 1..=16usize {
            let count = i32::from(bits[len - 1]);
            if count > 0 {
                valoffset[len] = p - code;
                for _ in 0..count {
                    if len <= 8 {
                        let symbol = values.get(p as usize).copied().unwrap_or(0);
                        let first = (code as usize) << (8 - len);
                        let entry = ((len as u16) << 8) | u16::from(symbol);
                        lookup[first..first + (1 << (8 - len))].fill(entry);
                    }
                    code += 1;
                    p += 1;
                }
                maxcode[len] = code - 1;
            }
            if code >= 1 << len {
                return Err("bad Huffman table".into());
            }
            code <<= 1;
        }
        maxcode[17] = 0xFFFFF;
        Ok(Self {
            lookup,
            maxcode,
            valoffset,
            values,
        })
    }
}

/// Reads bits from an entropy-coded segment, undoing `FF 00` byte stuffing.
///
/// Like libjpeg's `fill_bit_buffer`, it stops in front of a marker and feeds
/// zero bits from then on. Running off the end of the file also feeds zeros,
/// but counts them: consuming any of those means the file is truncated
/// (Pillow then raises "image file is truncated").
pub(super) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    nbits: u32,
    at_marker: bool,
    fake_bits: u32,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            buf: 0,
            nbits: 0,
            at_marker: false,
            fake_bits: 0,
        }
    }

    /// The whole file.
    pub(super) fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Position of the first byte not yet taken into the bit buffer.
    pub(super) fn position(&self) -> usize {
        self.pos
    }

    /// Whether zero bits that stand for missing file bytes were consumed.
    pub(super) fn ran_past_end(&self) -> bool {
        self.fake_bits > self.nbits
    }

    /// Drops the buffered bits (libjpeg's `process_restart`), allowing
    /// reads again when the reader was stopped in front of a marker.
    pub(super) fn reset(&mut self, pos: usize) {
        *self = Self::new(self.data, pos);
    }

    fn next_byte(&mut self) -> u8 {
        if self.at_marker {
            return 0;
        }
        let Some(&byte) = self.data.get(self.pos) else {
            self.fake_bits += 8;
            return 0;
        };
        if byte != 0xFF {
            self.pos += 1;
            return byte;
        }
        // Skip fill FFs; FF..FF 00 is one FF data byte, anything else a marker.
        let mut next = self.pos + 1;
        while self.data.get(next) == Some(&0xFF) {
            next += 1;
        }
        match self.data.get(next) {
            Some(0) => {
                self.pos = next + 1;
                0xFF
            }
            Some(_) => {
                self.at_marker = true;
                self.pos = next - 1;
                0
            }
            None => {
                self.pos = self.data.len();
                self.fake_bits += 8;
                0
            }
        }
    }

    fn fill(&mut self) {
        while self.nbits <= 56 {
            let byte = self.next_byte();
            self.buf |= u64::from(byte) << (56 - self.nbits);
            self.nbits += 8;
        }
    }

    fn peek(&mut self, n: u32) -> u32 {
        if self.nbits < n {
            self.fill();
        }
        (self.buf >> (64 - n)) as u32
    }

    fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.nbits -= n;
    }

    /// `GET_BITS(n)` for n in 0..=16.
    pub(super) fn bits(&mut self, n: u32) -> i32 {
        if n == 0 {
            return 0;
        }
        let v = self.peek(n);
        self.consume(n);
        v as i32
    }

    /// `HUFF_EXTEND(GET_BITS(s), s)`: the signed value of an s-bit magnitude.
    pub(super) fn receive_extend(&mut self, s: u32) -> i32 {
        let v = self.bits(s);
        if s > 0 && v < 1 << (s - 1) {
            v - (1 << s) + 1
        } else {
            v
        }
    }

    /// `HUFF_DECODE`: one symbol. A code longer than 16 bits decodes as 0, as
    /// `jpeg_huff_decode` does after its "bad Huffman code" warning.
    pub(super) fn decode(&mut self, table: &HuffTable) -> u8 {
        let entry = table.lookup[self.peek(8) as usize];
        if entry != 0 {
            self.consume(u32::from(entry >> 8));
            return entry as u8;
        }
        let mut len = 9usize;
        let mut code = self.peek(9) as i32;
        while len <= 16 && code > table.maxcode[len] {
            len += 1;
            code = self.peek(len as u32) as i32;
        }
        if len > 16 {
            self.consume(16);
            return 0;
        }
        self.consume(len as u32);
        let index = code + table.valoffset[len];
        table.values.get(index as usize).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_stuffed_bytes_and_stops_at_markers() {
        let data = [0b1010_0000, 0xFF, 0x00, 0xFF, 0xD9];
        let mut r = BitReader::new(&data, 0);
        assert_eq!(r.bits(4), 0b1010);
        assert_eq!(r.bits(4), 0);
        assert_eq!(r.bits(8), 0xFF);
        assert_eq!(r.bits(16), 0);
        assert!(!r.ran_past_end());
        assert_eq!(r.position(), 3);
    }

    #[test]
    fn counts_bits_past_the_end() {
        let mut r = BitReader::new(&[0x80], 0);
        assert_eq!(r.bits(8), 0x80);
        assert!(!r.ran_past_end());
        r.bits(1);
        assert!(r.ran_past_end());
    }

    #[test]
    fn decodes_short_and_long_codes() {
        // Two 1-bit codes would fill the space; use one 1-bit and two 9-bit.
        let mut bits = [0u8; 16];
        bits[0] = 1;
        bits[8] = 2;
        let table = HuffTable::new(&bits, vec![5, 6, 7]).unwrap();
        // "0" -> 5; "100000000" -> 6; "100000001" -> 7
        let data = [0b0100_0000, 0b0010_0000, 0b0010_0000];
        let mut r = BitReader::new(&data, 0);
        assert_eq!(r.decode(&table), 5);
        assert_eq!(r.decode(&table), 6);
        assert_eq!(r.decode(&table), 7);
    }
}

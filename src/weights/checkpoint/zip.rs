//! The subset of the ZIP format that `torch.save` writes: stored (uncompressed)
//! entries, found through the central directory, with ZIP64 records when needed.

use std::collections::HashMap;

use super::source::{ReadAt, read_vec};
use crate::error::{Error, Result};

const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
const ZIP64_END_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY: u32 = 0x0606_4b50;
const CENTRAL_FILE_HEADER: u32 = 0x0201_4b50;
const LOCAL_FILE_HEADER: u32 = 0x0403_4b50;
const ZIP64_EXTRA_FIELD: u16 = 0x0001;
const STORED: u16 = 0;

/// Where an entry's bytes lie in the archive.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Offset of the first data byte.
    pub offset: u64,
    /// Length of the data.
    pub len: u64,
}

/// The entries of an archive, by name.
#[derive(Debug)]
pub struct ZipIndex {
    entries: HashMap<String, Entry>,
}

impl ZipIndex {
    /// Reads the central directory of `source`.
    pub fn read(source: &dyn ReadAt) -> Result<Self> {
        let (directory_offset, directory_len, count) = find_central_directory(source)?;
        let len =
            usize::try_from(directory_len).map_err(|_| corrupt("central directory too large"))?;
        let directory = read_vec(source, directory_offset, len, "the zip central directory")?;
        let mut entries = HashMap::with_capacity(count as usize);
        let mut cursor = Cursor::new(&directory);
        for _ in 0..count {
            let (name, entry) = read_central_entry(&mut cursor, source)?;
            entries.insert(name, entry);
        }
        Ok(Self { entries })
    }

    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Option<Entry> {
        self.entries.get(name).copied()
    }

    /// Every entry name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

fn corrupt(what: &str) -> Error {
    Error::Weights(format!("not a readable PyTorch zip archive: {what}"))
}

/// Finds (offset, length, entry count) of the central directory from the end records.
fn find_central_directory(source: &dyn ReadAt) -> Result<(u64, u64, u64)> {
    // The end record is 22 bytes plus a comment of at most 64 KiB.
    let tail_len = source.len().min(22 + 65_535) as usize;
    let tail_start = source.len() - tail_len as u64;
    let tail = read_vec(source, tail_start, tail_len, "the zip end record")?;
    let end = (0..tail_len.saturating_sub(21))
        .rev()
        .find(|&i| u32_at(&tail, i) == Some(END_OF_CENTRAL_DIRECTORY))
        .ok_or_else(|| corrupt("no end-of-central-directory record (truncated file?)"))?;
    let record = Cursor::new(&tail[end..]);
    let count = u64::from(record.u16_at(10)?);
    let size = u64::from(record.u32_at(12)?);
    let offset = u64::from(record.u32_at(16)?);
    if count != 0xFFFF && size != 0xFFFF_FFFF && offset != 0xFFFF_FFFF {
        return Ok((offset, size, count));
    }
    // ZIP64: a locator sits right before the end record and points at the ZIP64 end record.
    let locator_at = (tail_start + end as u64)
        .checked_sub(20)
        .ok_or_else(|| corrupt("missing ZIP64 locator"))?;
    let locator = read_vec(source, locator_at, 20, "the ZIP64 locator")?;
    let locator = Cursor::new(&locator);
    if locator.u32_at(0)? != ZIP64_END_LOCATOR {
        return Err(corrupt("missing ZIP64 locator"));
    }
    let record = read_vec(source, locator.u64_at(8)?, 56, "the ZIP64 end record")?;
    let record = Cursor::new(&record);
    if record.u32_at(0)? != ZIP64_END_OF_CENTRAL_DIRECTORY {
        return Err(corrupt("bad ZIP64 end record"));
    }
    Ok((record.u64_at(48)?, record.u64_at(40)?, record.u64_at(32)?))
}

fn read_central_entry(cursor: &mut Cursor, source: &dyn ReadAt) -> Result<(String, Entry)> {
    let header = cursor.take(46)?;
    if header.u32_at(0)? != CENTRAL_FILE_HEADER {
        return Err(corrupt("bad central directory entry"));
    }
    let method = header.u16_at(10)?;
    let mut len = u64::from(header.u32_at(24)?);
    let mut local_offset = u64::from(header.u32_at(42)?);
    let name_len = usize::from(header.u16_at(28)?);
    let extra_len = usize::from(header.u16_at(30)?);
    let comment_len = usize::from(header.u16_at(32)?);
    let name = String::from_utf8_lossy(cursor.take(name_len)?.bytes).into_owned();
    let extra = cursor.take(extra_len)?;
    cursor.take(comment_len)?;
    if method != STORED {
        return Err(corrupt(&format!(
            "entry '{name}' is compressed (method {method})"
        )));
    }
    if len == 0xFFFF_FFFF || local_offset == 0xFFFF_FFFF {
        (len, local_offset) = zip64_sizes(extra, len, local_offset)?;
    }
    let local = read_vec(source, local_offset, 30, "a zip local header")?;
    let local = Cursor::new(&local);
    if local.u32_at(0)? != LOCAL_FILE_HEADER {
        return Err(corrupt(&format!("bad local header for '{name}'")));
    }
    let offset = local_offset + 30 + u64::from(local.u16_at(26)?) + u64::from(local.u16_at(28)?);
    Ok((name, Entry { offset, len }))
}

/// Reads the 64-bit size and offset that replace saturated 32-bit fields.
/// The ZIP64 extra field lists uncompressed size, compressed size, then offset,
/// each present only if its 32-bit field is saturated.
fn zip64_sizes(extra: Cursor, len: u64, offset: u64) -> Result<(u64, u64)> {
    let mut at = 0;
    while at + 4 <= extra.bytes.len() {
        let id = extra.u16_at(at)?;
        let size = usize::from(extra.u16_at(at + 2)?);
        if id == ZIP64_EXTRA_FIELD {
            let mut field = at + 4;
            let mut next = |saturated: bool, value: u64| -> Result<u64> {
                if !saturated {
                    return Ok(value);
                }
                let v = extra.u64_at(field)?;
                field += 8;
                Ok(v)
            };
            let uncompressed = next(len == 0xFFFF_FFFF, len)?;
            next(len == 0xFFFF_FFFF, len)?; // compressed size equals it for stored entries
            let offset = next(offset == 0xFFFF_FFFF, offset)?;
            return Ok((uncompressed, offset));
        }
        at += 4 + size;
    }
    Err(corrupt("missing ZIP64 extra field"))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Little-endian reads over a byte slice that fail instead of panicking.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn take(&mut self, len: usize) -> Result<Cursor<'a>> {
        if len > self.bytes.len() {
            return Err(corrupt("central directory runs past its end"));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(Cursor::new(head))
    }

    fn array<const N: usize>(&self, at: usize) -> Result<[u8; N]> {
        self.bytes
            .get(at..at + N)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupt("record is cut short"))
    }

    fn u16_at(&self, at: usize) -> Result<u16> {
        self.array(at).map(u16::from_le_bytes)
    }

    fn u32_at(&self, at: usize) -> Result<u32> {
        self.array(at).map(u32::from_le_bytes)
    }

    fn u64_at(&self, at: usize) -> Result<u64> {
        self.array(at).map(u64::from_le_bytes)
    }
}

//! Random access to the bytes of a weights file, so that an 835 MB checkpoint
//! is read one tensor at a time instead of all at once.

use std::sync::Arc;

use crate::error::{Error, Result};

/// Bytes that can be read at any offset.
pub trait ReadAt: Send + Sync {
    /// Total length in bytes.
    fn len(&self) -> u64;

    /// Fills `buf` with the bytes at `offset`; fails if they run past the end.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;

    /// Whether the source holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A shared handle on a byte source.
pub type Source = Arc<dyn ReadAt>;

/// Reads `len` bytes at `offset`, failing with a "truncated" error that names `what`.
pub fn read_vec(source: &dyn ReadAt, offset: u64, len: usize, what: &str) -> Result<Vec<u8>> {
    let end = offset.checked_add(len as u64);
    if end.is_none_or(|end| end > source.len()) {
        return Err(Error::Weights(format!(
            "file is truncated: {what} needs bytes {offset}..{} but the file has {}",
            offset.saturating_add(len as u64),
            source.len()
        )));
    }
    let mut buf = vec![0; len];
    source.read_exact_at(offset, &mut buf)?;
    Ok(buf)
}

impl ReadAt for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let start = usize::try_from(offset).ok();
        let bytes = start
            .and_then(|s| self.get(s..s.checked_add(buf.len())?))
            .ok_or_else(|| {
                Error::Weights(format!(
                    "read past the end of a {}-byte buffer",
                    self.as_slice().len()
                ))
            })?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

/// A file on disk (native only).
#[cfg(not(target_family = "wasm"))]
pub struct FileSource {
    file: std::sync::Mutex<std::fs::File>,
    len: u64,
    path: String,
}

#[cfg(not(target_family = "wasm"))]
impl FileSource {
    /// Opens `path` for reading.
    pub fn open(path: &std::path::Path) -> Result<Self> {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| Error::io(&shown, e))?;
        let len = file.metadata().map_err(|e| Error::io(&shown, e))?.len();
        Ok(Self {
            file: std::sync::Mutex::new(file),
            len,
            path: shown,
        })
    }
}

#[cfg(not(target_family = "wasm"))]
impl ReadAt for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(buf))
            .map_err(|e| Error::io(&self.path, e))
    }
}

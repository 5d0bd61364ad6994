//! The safetensors layout: an 8-byte little-endian header length, a JSON header
//! `{name: {dtype, shape, data_offsets}}`, then the data.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::source::{ReadAt, read_vec};
use super::{StoredDType, StoredTensor, contiguous_strides};
use crate::error::{Error, Result};

/// Largest header accepted; real headers are a few hundred kilobytes.
const MAX_HEADER: u64 = 100 << 20;

#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (u64, u64),
}

/// Lists the tensors of a safetensors file.
pub fn read_tensors(source: &dyn ReadAt) -> Result<Vec<StoredTensor>> {
    let len_bytes = read_vec(source, 0, 8, "the safetensors header length")?;
    let header_len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
    if header_len > MAX_HEADER || header_len + 8 > source.len() {
        return Err(super::unrecognised());
    }
    let header = read_vec(source, 8, header_len as usize, "the safetensors header")?;
    let mut entries: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|_| super::unrecognised())?;
    entries.remove("__metadata__");
    let data_start = 8 + header_len;
    let mut tensors = entries
        .into_iter()
        .map(|(name, entry)| to_tensor(name, entry, data_start, source.len()))
        .collect::<Result<Vec<_>>>()?;
    tensors.sort_by_key(|t| t.offset);
    Ok(tensors)
}

fn to_tensor(
    name: String,
    entry: serde_json::Value,
    data_start: u64,
    file_len: u64,
) -> Result<StoredTensor> {
    let entry: Entry = serde_json::from_value(entry)
        .map_err(|e| Error::Weights(format!("safetensors entry '{name}' is malformed: {e}")))?;
    let dtype = match entry.dtype.as_str() {
        "F32" => StoredDType::F32,
        "F16" => StoredDType::F16,
        "BF16" => StoredDType::BF16,
        "F64" => StoredDType::F64,
        "I64" => StoredDType::I64,
        "I32" => StoredDType::Other("int32"),
        "BOOL" => StoredDType::Other("bool"),
        _ => StoredDType::Other("unsupported"),
    };
    let (begin, end) = entry.data_offsets;
    if begin > end || data_start + end > file_len {
        return Err(Error::Weights(format!(
            "file is truncated: safetensors tensor '{name}' needs bytes up to {} but the file has {file_len}",
            data_start + end
        )));
    }
    Ok(StoredTensor {
        strides: contiguous_strides(&entry.shape),
        shape: entry.shape,
        name,
        dtype,
        offset: data_start + begin,
        available: end - begin,
    })
}

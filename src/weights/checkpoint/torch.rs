//! Interprets the pickle of a `torch.save` zip archive as a state dict: which
//! storage, offset, shape and strides each tensor has.

use super::pickle::{self, Value};
use super::source::{ReadAt, read_vec};
use super::zip::ZipIndex;
use super::{StoredDType, StoredTensor};
use crate::error::{Error, Result};

/// Largest `data.pkl` accepted; a state dict's pickle is well under a megabyte.
const MAX_PICKLE: u64 = 64 << 20;
/// Keys under which training scripts nest the state dict.
const WRAPPER_KEYS: [&str; 2] = ["model_state", "state_dict"];

/// Lists the tensors of a `torch.save`d state dict.
pub fn read_tensors(source: &dyn ReadAt) -> Result<Vec<StoredTensor>> {
    let index = ZipIndex::read(source)?;
    let pickle_name = index
        .names()
        .find(|n| *n == "data.pkl" || n.ends_with("/data.pkl"))
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::Weights("zip archive has no data.pkl: not a torch.save file".into())
        })?;
    let prefix = pickle_name.trim_end_matches("data.pkl").to_owned();
    check_byte_order(source, &index, &prefix)?;
    let entry = index.get(&pickle_name).expect("name came from the index");
    if entry.len > MAX_PICKLE {
        return Err(Error::Weights("data.pkl is implausibly large".into()));
    }
    let root = pickle::parse(&read_vec(
        source,
        entry.offset,
        entry.len as usize,
        "data.pkl",
    )?)?;
    state_dict_items(root)?
        .into_iter()
        .map(|(key, value)| to_tensor(key, value, &index, &prefix))
        .collect()
}

fn check_byte_order(source: &dyn ReadAt, index: &ZipIndex, prefix: &str) -> Result<()> {
    let Some(entry) = index.get(&format!("{prefix}byteorder")) else {
        return Ok(()); // older files are always little-endian
    };
    let order = read_vec(
        source,
        entry.offset,
        entry.len.min(16) as usize,
        "byteorder",
    )?;
    if order != b"little" {
        return Err(Error::Weights(
            "checkpoint was saved big-endian; only little-endian is supported".into(),
        ));
    }
    Ok(())
}

/// The `(key, value)` pairs of the state dict, unwrapping `{"model_state": ...}`.
/// A saved list or tuple of tensors (InCTRL's few-shot `.pt` files) is keyed
/// by position: "0", "1", ...
fn state_dict_items(root: Value) -> Result<Vec<(Value, Value)>> {
    let items = match root {
        Value::Dict(items) => items,
        Value::List(values) | Value::Tuple(values) => {
            let keys = (0..values.len()).map(|i| Value::Str(i.to_string()));
            return Ok(keys.zip(values).collect());
        }
        _ => {
            return Err(Error::Weights(
                "the pickle holds neither a state dict nor a list of tensors".into(),
            ));
        }
    };
    let wrapped = items.iter().position(|(k, v)| {
        matches!((k, v), (Value::Str(k), Value::Dict(_)) if WRAPPER_KEYS.contains(&k.as_str()))
    });
    match wrapped {
        Some(i) => state_dict_items(items.into_iter().nth(i).expect("index found").1),
        None => Ok(items),
    }
}

fn to_tensor(key: Value, value: Value, index: &ZipIndex, prefix: &str) -> Result<StoredTensor> {
    let Value::Str(name) = key else {
        return Err(Error::Weights(format!(
            "state dict has a non-string key {key:?}"
        )));
    };
    let not_tensor = || Error::Weights(format!("'{name}' is not a tensor"));
    let args = rebuild_args(value).ok_or_else(not_tensor)?;
    let [
        storage,
        Value::Int(offset),
        Value::Tuple(shape),
        Value::Tuple(strides),
        ..,
    ] = args.as_slice()
    else {
        return Err(not_tensor());
    };
    let (dtype, storage_key) = storage_info(storage).ok_or_else(not_tensor)?;
    let entry = index
        .get(&format!("{prefix}data/{storage_key}"))
        .ok_or_else(|| {
            Error::Weights(format!(
                "storage '{storage_key}' of '{name}' is missing from the archive"
            ))
        })?;
    let shape = ints(shape).ok_or_else(not_tensor)?;
    let strides = ints(strides).ok_or_else(not_tensor)?;
    let element = dtype_size(dtype);
    let skip = (*offset as u64).saturating_mul(element);
    Ok(StoredTensor {
        name,
        dtype,
        shape,
        strides,
        offset: entry.offset + skip,
        available: entry.len.saturating_sub(skip),
    })
}

/// The arguments of `_rebuild_tensor_v2(storage, offset, size, stride, ...)`,
/// looking through `_rebuild_parameter(tensor, ...)`.
fn rebuild_args(value: Value) -> Option<Vec<Value>> {
    let Value::Call { callable, args } = value else {
        return None;
    };
    let (Value::Global(module, function), Value::Tuple(args)) = (*callable, *args) else {
        return None;
    };
    match (module.as_str(), function.as_str()) {
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => Some(args),
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            rebuild_args(args.into_iter().next()?)
        }
        _ => None,
    }
}

/// `('storage', torch.FloatStorage, key, location, numel)` → (dtype, key).
fn storage_info(storage: &Value) -> Option<(StoredDType, String)> {
    let Value::Persistent(id) = storage else {
        return None;
    };
    let Value::Tuple(fields) = id.as_ref() else {
        return None;
    };
    match fields.as_slice() {
        [
            Value::Str(kind),
            Value::Global(_, class),
            Value::Str(key),
            ..,
        ] if kind == "storage" => Some((storage_dtype(class), key.clone())),
        _ => None,
    }
}

fn storage_dtype(class: &str) -> StoredDType {
    match class {
        "FloatStorage" => StoredDType::F32,
        "HalfStorage" => StoredDType::F16,
        "BFloat16Storage" => StoredDType::BF16,
        "DoubleStorage" => StoredDType::F64,
        "LongStorage" => StoredDType::I64,
        "IntStorage" => StoredDType::Other("int32"),
        "ShortStorage" => StoredDType::Other("int16"),
        "CharStorage" => StoredDType::Other("int8"),
        "ByteStorage" => StoredDType::Other("uint8"),
        "BoolStorage" => StoredDType::Other("bool"),
        _ => StoredDType::Other("unknown storage"),
    }
}

fn dtype_size(dtype: StoredDType) -> u64 {
    match dtype {
        StoredDType::Other("int32") => 4,
        StoredDType::Other("int16") => 2,
        StoredDType::Other(_) => 1,
        known => known.size().expect("known size") as u64,
    }
}

fn ints(values: &[Value]) -> Option<Vec<usize>> {
    values
        .iter()
        .map(|v| match v {
            Value::Int(i) => usize::try_from(*i).ok(),
            _ => None,
        })
        .collect()
}

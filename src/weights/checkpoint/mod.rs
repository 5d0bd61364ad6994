//! Reading weights files: PyTorch `torch.save` zip archives (`.pyth`, `.pt`,
//! `.pth`) and safetensors. Both give a [`Checkpoint`]: a list of named tensors
//! whose data is read, converted to `f32` and made contiguous only when asked for.

mod pickle;
mod safetensors;
pub mod source;
mod torch;
mod zip;

use half::{bf16, f16};

pub use source::{ReadAt, Source};

use super::format::{SNIFF_LEN, WeightsFormat, unrecognised};
use crate::error::{Error, Result};

/// Element types found in checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredDType {
    /// 32-bit float.
    F32,
    /// 16-bit IEEE float.
    F16,
    /// bfloat16.
    BF16,
    /// 64-bit float.
    F64,
    /// 64-bit integer (BatchNorm's `num_batches_tracked`).
    I64,
    /// Any other integer or boolean type, which InCTRL never needs.
    Other(&'static str),
}

impl StoredDType {
    /// Bytes per element, when known.
    fn size(self) -> Option<usize> {
        match self {
            Self::F32 => Some(4),
            Self::F16 | Self::BF16 => Some(2),
            Self::F64 | Self::I64 => Some(8),
            Self::Other(_) => None,
        }
    }
}

/// One named tensor of a checkpoint, described but not read.
#[derive(Debug, Clone)]
pub struct StoredTensor {
    /// The state-dict key.
    pub name: String,
    /// Element type.
    pub dtype: StoredDType,
    /// Shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// Byte offset of element 0 in the source.
    offset: u64,
    /// Bytes available from `offset` to the end of the tensor's storage.
    available: u64,
    /// Element strides (row-major contiguous for safetensors).
    strides: Vec<usize>,
}

impl StoredTensor {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The tensors of a weights file.
pub struct Checkpoint {
    source: Source,
    tensors: Vec<StoredTensor>,
}

impl Checkpoint {
    /// Opens a checkpoint, recognising its format from its first bytes.
    pub fn open(source: Source) -> Result<Self> {
        let head = source::read_vec(
            source.as_ref(),
            0,
            source.len().min(SNIFF_LEN as u64) as usize,
            "the file header",
        )?;
        let tensors = match WeightsFormat::sniff(&head)? {
            WeightsFormat::TorchZip => torch::read_tensors(source.as_ref())?,
            WeightsFormat::Safetensors => safetensors::read_tensors(source.as_ref())?,
            WeightsFormat::Bundle => {
                return Err(Error::Weights(
                    "this is an inctrl .bpk bundle, not a checkpoint".into(),
                ));
            }
        };
        Ok(Self { source, tensors })
    }

    /// Every tensor, in file order.
    pub fn tensors(&self) -> &[StoredTensor] {
        &self.tensors
    }

    /// Reads a floating-point tensor as contiguous row-major `f32`.
    pub fn read_f32(&self, tensor: &StoredTensor) -> Result<Vec<f32>> {
        let element = tensor
            .dtype
            .size()
            .filter(|_| tensor.dtype != StoredDType::I64);
        let element = element.ok_or_else(|| {
            Error::Weights(format!(
                "'{}' has type {:?}, not a float type",
                tensor.name, tensor.dtype
            ))
        })?;
        let span = strided_span(&tensor.shape, &tensor.strides);
        let bytes_needed = span
            .checked_mul(element)
            .filter(|&b| b as u64 <= tensor.available);
        let bytes_needed = bytes_needed.ok_or_else(|| {
            Error::Weights(format!(
                "'{}' points past the end of its storage",
                tensor.name
            ))
        })?;
        let raw = source::read_vec(
            self.source.as_ref(),
            tensor.offset,
            bytes_needed,
            &format!("tensor '{}'", tensor.name),
        )?;
        let values = decode_floats(&raw, tensor.dtype);
        Ok(gather(&values, &tensor.shape, &tensor.strides))
    }
}

/// Number of elements from the first to one past the last element a view touches.
fn strided_span(shape: &[usize], strides: &[usize]) -> usize {
    if shape.contains(&0) {
        return 0;
    }
    1 + shape
        .iter()
        .zip(strides)
        .map(|(&n, &s)| (n - 1) * s)
        .sum::<usize>()
}

fn decode_floats(raw: &[u8], dtype: StoredDType) -> Vec<f32> {
    match dtype {
        StoredDType::F32 => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        StoredDType::F16 => raw
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        StoredDType::BF16 => raw
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        StoredDType::F64 => raw
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
            .collect(),
        StoredDType::I64 | StoredDType::Other(_) => unreachable!("checked by the caller"),
    }
}

/// Copies a strided view into a contiguous row-major vector.
fn gather(values: &[f32], shape: &[usize], strides: &[usize]) -> Vec<f32> {
    let numel: usize = shape.iter().product();
    if is_contiguous(shape, strides) {
        return values[..numel].to_vec();
    }
    let mut out = Vec::with_capacity(numel);
    let mut index = vec![0; shape.len()];
    for _ in 0..numel {
        out.push(values[index.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>()]);
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

fn is_contiguous(shape: &[usize], strides: &[usize]) -> bool {
    let mut expected = 1;
    for (&n, &s) in shape.iter().zip(strides).rev() {
        if n != 1 && s != expected {
            return false;
        }
        expected *= n;
    }
    true
}

/// Row-major strides for `shape`.
fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for axis in (0..shape.len().saturating_sub(1)).rev() {
        strides[axis] = strides[axis + 1] * shape[axis + 1];
    }
    strides
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_a_transposed_view() {
        // A 2x3 matrix [[0,1,2],[3,4,5]] viewed as its 3x2 transpose.
        let values = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(
            gather(&values, &[3, 2], &[1, 3]),
            vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
        );
        assert_eq!(strided_span(&[3, 2], &[1, 3]), 6);
        assert_eq!(contiguous_strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert!(is_contiguous(&[2, 3], &[3, 1]));
    }

    #[test]
    fn empty_and_garbage_files_are_named() {
        let empty = Checkpoint::open(std::sync::Arc::new(Vec::new()))
            .err()
            .unwrap()
            .to_string();
        assert!(empty.contains("empty"), "{empty}");
        let garbage = Checkpoint::open(std::sync::Arc::new(b"hello".to_vec()))
            .err()
            .unwrap()
            .to_string();
        assert!(garbage.contains("unrecognised"), "{garbage}");
    }
}

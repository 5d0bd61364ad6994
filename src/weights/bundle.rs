//! The `.bpk` bundle: one self-describing burnpack file with the open_clip
//! config, the model weights (float32 or float16), the category text table and,
//! optionally, the text tower. Compute is always float32; float16 only halves
//! the download.

use burn::tensor::{Bytes, DType, Device};
use burn_store::ModuleSnapshot;
use burn_store::burn_pack::{Reader, Tensor as PackTensor, Writer};
use half::f16;

use crate::config::ClipConfig;
use crate::error::{Error, Result};
use crate::model::{Inctrl, InctrlConfig};
use crate::text::TextTable;
use crate::weights::keys::apply_all;

const FORMAT_KEY: &str = "inctrl.format";
const FORMAT_VERSION: &str = "1";
const CONFIG_KEY: &str = "inctrl.config";
const CATEGORIES_KEY: &str = "inctrl.categories";
const PRECISION_KEY: &str = "inctrl.precision";
const TEXT_TOWER_KEY: &str = "inctrl.text_tower";
const TEXT_TABLE_TENSOR: &str = "inctrl.text_prototypes";
/// Parameters under these prefixes are the big CLIP towers, stored as float16 by `--half`.
const TOWER_PREFIXES: [&str; 2] = ["visual.", "text."];

/// How the tower weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats, bit-exact.
    F32,
    /// 16-bit floats for the CLIP towers (heads and prototypes stay 32-bit).
    F16,
}

impl Precision {
    /// `f32` or `f16`, as bundles record it and the JS API reports it.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
        }
    }
}

/// A loaded bundle.
#[derive(Debug)]
pub struct Bundle {
    /// The open_clip config the model was built from.
    pub config: ClipConfig,
    /// The model, on the device it was loaded to.
    pub model: Inctrl,
    /// Precomputed category prototypes.
    pub text_table: TextTable,
    /// How the towers were stored.
    pub precision: Precision,
}

/// Serialises a model and its text table into a bundle. The text tower is
/// included only if `with_text` and the model has one.
pub fn write_bundle(
    model: &Inctrl,
    config: &ClipConfig,
    text_table: &TextTable,
    precision: Precision,
    with_text: bool,
) -> Writer {
    let has_text = with_text && model.text.is_some();
    pack(
        model.collect(None, None, false),
        config,
        text_table,
        precision,
        has_text,
    )
}

/// A bundle from model tensors named by their parameter paths (Burn layout,
/// float32), dropping the text tower's unless `with_text`.
pub fn pack(
    tensors: Vec<PackTensor>,
    config: &ClipConfig,
    text_table: &TextTable,
    precision: Precision,
    with_text: bool,
) -> Writer {
    let mut tensors: Vec<PackTensor> = tensors
        .into_iter()
        .filter(|t| with_text || !t.name.starts_with("text."))
        .map(|t| match precision {
            Precision::F16 if TOWER_PREFIXES.iter().any(|p| t.name.starts_with(p)) => to_f16(t),
            _ => t,
        })
        .collect();
    let names: Vec<&str> = text_table.names().collect();
    tensors.push(PackTensor::new(
        TEXT_TABLE_TENSOR.to_owned(),
        DType::F32,
        vec![names.len(), 2, config.embed_dim],
        None,
        Bytes::from_elems(text_table.flat_values()),
    ));
    Writer::new(tensors)
        .with_metadata(FORMAT_KEY, FORMAT_VERSION)
        .with_metadata(CONFIG_KEY, &config.to_json())
        .with_metadata(
            CATEGORIES_KEY,
            &serde_json::to_string(&names).expect("strings serialise"),
        )
        .with_metadata(PRECISION_KEY, precision.name())
        .with_metadata(TEXT_TOWER_KEY, if with_text { "true" } else { "false" })
}

/// Loads a bundle onto `device`.
pub fn read_bundle(bytes: Bytes, device: &Device) -> Result<Bundle> {
    let reader = Reader::from_bytes(bytes)
        .map_err(|e| Error::Weights(format!("not a readable .bpk bundle: {e}")))?;
    let metadata = reader.metadata();
    if metadata.get(FORMAT_KEY).map(String::as_str) != Some(FORMAT_VERSION) {
        return Err(Error::Weights(
            "this burnpack file is not an inctrl bundle (make one with `inctrl convert`)".into(),
        ));
    }
    let field = |key: &str| {
        metadata
            .get(key)
            .cloned()
            .ok_or_else(|| Error::Weights(format!("bundle metadata lacks '{key}'")))
    };
    let config = ClipConfig::from_json(&field(CONFIG_KEY)?)?;
    let categories: Vec<String> = serde_json::from_str(&field(CATEGORIES_KEY)?)
        .map_err(|e| Error::Weights(format!("bundle category list is malformed: {e}")))?;
    let precision = match field(PRECISION_KEY)?.as_str() {
        "f16" => Precision::F16,
        _ => Precision::F32,
    };
    let has_text = field(TEXT_TOWER_KEY)? == "true";

    let mut tensors = reader
        .into_tensors()
        .map_err(|e| Error::Weights(format!("bundle tensors are unreadable: {e}")))?;
    let table_index = tensors
        .iter()
        .position(|t| t.name == TEXT_TABLE_TENSOR)
        .ok_or_else(|| Error::Weights("bundle has no text table".into()))?;
    let text_table = read_text_table(
        tensors.swap_remove(table_index),
        &categories,
        config.embed_dim,
    )?;

    let mut model = InctrlConfig::from_clip(&config, has_text).init(device);
    apply_all(&mut model, tensors.into_iter().map(to_f32).collect())?;
    Ok(Bundle {
        config,
        model,
        text_table,
        precision,
    })
}

fn read_text_table(
    tensor: PackTensor,
    categories: &[String],
    embed_dim: usize,
) -> Result<TextTable> {
    let expected = [categories.len(), 2, embed_dim];
    let malformed = || Error::Weights("bundle text table does not match its category list".into());
    if tensor.dtype != DType::F32 || tensor.shape.to_vec() != expected {
        return Err(malformed());
    }
    let bytes = tensor.into_bytes().map_err(|_| malformed())?;
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    TextTable::from_flat(categories, &values).ok_or_else(malformed)
}

/// The same tensor stored as float16, converted when written.
fn to_f16(tensor: PackTensor) -> PackTensor {
    let (name, shape) = (tensor.name.clone(), tensor.shape.clone());
    let byte_len = tensor.byte_len() / 2;
    PackTensor::deferred(name, DType::F16, shape, None, byte_len, move || {
        let bytes = tensor.to_bytes()?;
        let halves: Vec<f16> = bytes
            .chunks_exact(4)
            .map(|b| f16::from_f32(f32::from_le_bytes(b.try_into().expect("4 bytes"))))
            .collect();
        Ok(Bytes::from_elems(halves))
    })
}

/// The same tensor as float32 (float16 bundles are widened on load).
fn to_f32(tensor: PackTensor) -> PackTensor {
    if tensor.dtype != DType::F16 {
        return tensor;
    }
    let (name, shape) = (tensor.name.clone(), tensor.shape.clone());
    let byte_len = tensor.byte_len() * 2;
    PackTensor::deferred(name, DType::F32, shape, None, byte_len, move || {
        let bytes = tensor.to_bytes()?;
        let floats: Vec<f32> = bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        Ok(Bytes::from_elems(floats))
    })
}

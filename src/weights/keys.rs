//! Loading official InCTRL checkpoints into [`Inctrl`].
//!
//! The model's fields are named after the checkpoint keys, so the mapping is
//! short and reversible:
//! - Burn `Linear` stores `[in, out]`, PyTorch `[out, in]`: Linear weights are transposed;
//! - `attn.in_proj.{weight,bias}` ↔ `attn.in_proj_{weight,bias}` (fused Q/K/V);
//! - LayerNorm `gamma`/`beta` ↔ `weight`/`bias`;
//! - `adapter.fc1` / `adapter.fc2` ↔ `adapter.fc.0` / `adapter.fc.2` (a `Sequential`);
//! - the text tower's `text.` prefix ↔ top-level keys.
//!
//! Every checkpoint key must be consumed and every shape must match; the only
//! keys skipped are BatchNorm's `num_batches_tracked` counters and the
//! `bn1` the original creates but never uses.

use std::collections::HashMap;
use std::sync::Arc;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Bytes, DType, Tensor};
use burn_store::ModuleSnapshot;
use burn_store::burn_pack::Tensor as PackTensor;

use crate::error::{Error, Result};
use crate::model::Inctrl;
use crate::weights::checkpoint::{Checkpoint, StoredTensor};

/// Submodules that are `Linear` layers, whose weights PyTorch stores transposed.
const LINEAR_LAYERS: [&str; 9] = [
    "in_proj",
    "out_proj",
    "c_fc",
    "c_proj",
    "fc1",
    "fc2",
    "projection1",
    "projection2",
    "projection3",
];
/// Model paths that live in the checkpoint's top level rather than under a prefix.
const TEXT_PREFIX: &str = "text.";
/// How many names an error lists before summarising the rest.
const NAMES_SHOWN: usize = 8;

/// Where one model parameter comes from in a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyMapping {
    /// The checkpoint key.
    pub key: String,
    /// Whether the checkpoint stores the matrix transposed.
    pub transposed: bool,
}

/// The checkpoint key of the model parameter at `path`.
pub fn checkpoint_key(path: &str) -> KeyMapping {
    let path = path.strip_prefix(TEXT_PREFIX).unwrap_or(path);
    let (parent, leaf) = path.rsplit_once('.').unwrap_or(("", path));
    let layer = parent.rsplit('.').next().unwrap_or("");
    let transposed = leaf == "weight" && LINEAR_LAYERS.contains(&layer);
    let key = match (parent, leaf) {
        ("adapter.fc1", _) => format!("adapter.fc.0.{leaf}"),
        ("adapter.fc2", _) => format!("adapter.fc.2.{leaf}"),
        (p, l) if p.ends_with(".in_proj") => format!("{}_{l}", p),
        (p, "gamma") => format!("{p}.weight"),
        (p, "beta") => format!("{p}.bias"),
        _ => path.to_owned(),
    };
    KeyMapping { key, transposed }
}

/// Checkpoint keys the original never reads.
pub fn is_unused_key(key: &str) -> bool {
    key.ends_with(".num_batches_tracked")
        || key.starts_with("diff_head.bn1.")
        || key.starts_with("diff_head_ref.bn1.")
}

/// Loads every parameter of `model` from `checkpoint`, or fails naming each
/// missing, unexpected or misshaped key.
pub fn load_checkpoint(model: &mut Inctrl, checkpoint: Arc<Checkpoint>) -> Result<()> {
    let tensors = checkpoint_tensors(model, checkpoint)?;
    apply_all(model, tensors)
}

/// The checkpoint's tensors under `model`'s parameter paths, Burn layout, read
/// lazily. Fails naming every missing, unexpected or misshaped key. `model`'s
/// own (lazily initialised) parameters are never materialised.
pub fn checkpoint_tensors(model: &Inctrl, checkpoint: Arc<Checkpoint>) -> Result<Vec<PackTensor>> {
    let stored: HashMap<&str, &StoredTensor> = checkpoint
        .tensors()
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let params = param_shapes(model);
    let mut problems = Problems::default();
    let mut tensors = Vec::with_capacity(params.len());
    for (path, shape) in &params {
        let mapping = checkpoint_key(path);
        let Some(&source) = stored.get(mapping.key.as_str()) else {
            problems.missing.push(mapping.key);
            continue;
        };
        let expected = checkpoint_shape(shape, mapping.transposed);
        if source.shape != expected {
            problems.misshaped.push(format!(
                "'{}' has shape {:?}, expected {:?}",
                mapping.key, source.shape, expected
            ));
            continue;
        }
        tensors.push(deferred_tensor(
            path.clone(),
            shape.clone(),
            source.clone(),
            mapping.transposed,
            &checkpoint,
        ));
    }
    let consumed: Vec<String> = params.iter().map(|(p, _)| checkpoint_key(p).key).collect();
    problems.unexpected = stored
        .keys()
        .filter(|k| !is_unused_key(k) && !consumed.iter().any(|c| c == *k))
        .map(|k| k.to_string())
        .collect();
    problems.unexpected.sort();
    problems.into_result()?;
    Ok(tensors)
}

/// Every float parameter's path and shape, without initialising any of them.
pub fn param_shapes(model: &Inctrl) -> Vec<(String, Vec<usize>)> {
    let mut visitor = ParamShapes::default();
    model.visit(&mut visitor);
    visitor.params
}

/// Records parameter paths and lazy shapes, as `ModuleSnapshot::collect` names them.
#[derive(Default)]
struct ParamShapes {
    path: Vec<String>,
    params: Vec<(String, Vec<usize>)>,
}

impl ModuleVisitor for ParamShapes {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.params
            .push((self.path.join("."), param.lazy_shape().to_vec()));
    }
}

/// Applies named tensors to `model`, failing on anything left unapplied.
pub fn apply_all(model: &mut Inctrl, tensors: Vec<PackTensor>) -> Result<()> {
    let result = model.apply(tensors, None, None, false);
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        let errors: Vec<String> = result.errors.iter().map(ToString::to_string).collect();
        let missing: Vec<String> = result
            .missing
            .iter()
            .map(|(path, _)| path.clone())
            .collect();
        return Err(Error::Weights(format!(
            "weights do not fit the model: errors [{}], missing [{}], unused [{}]",
            list(&errors),
            list(&missing),
            list(&result.unused)
        )));
    }
    Ok(())
}

fn checkpoint_shape(shape: &[usize], transposed: bool) -> Vec<usize> {
    let mut shape = shape.to_vec();
    if transposed {
        shape.reverse();
    }
    shape
}

/// A tensor whose data is read from the checkpoint only when Burn applies it,
/// so loading never holds more than one checkpoint tensor in memory at once.
fn deferred_tensor(
    path: String,
    shape: Vec<usize>,
    source: StoredTensor,
    transposed: bool,
    checkpoint: &Arc<Checkpoint>,
) -> PackTensor {
    let checkpoint = Arc::clone(checkpoint);
    let byte_len = shape.iter().product::<usize>() * 4;
    PackTensor::deferred(path, DType::F32, shape, None, byte_len, move || {
        let values = checkpoint
            .read_f32(&source)
            .map_err(|e| burn_store::burn_pack::Error::IoError(e.to_string()))?;
        let values = if transposed {
            transpose(&values, source.shape[0], source.shape[1])
        } else {
            values
        };
        Ok(Bytes::from_elems(values))
    })
}

/// `[rows, cols]` row-major → `[cols, rows]` row-major.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for (r, row) in values.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            out[c * rows + r] = v;
        }
    }
    out
}

/// What is wrong with a checkpoint, collected so that one error names it all.
#[derive(Default)]
struct Problems {
    missing: Vec<String>,
    unexpected: Vec<String>,
    misshaped: Vec<String>,
}

impl Problems {
    fn into_result(self) -> Result<()> {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!("missing keys {}", list(&self.missing)));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!("unexpected keys {}", list(&self.unexpected)));
        }
        if !self.misshaped.is_empty() {
            parts.push(format!("wrong shapes: {}", list(&self.misshaped)));
        }
        if parts.is_empty() {
            return Ok(());
        }
        Err(Error::Weights(format!(
            "checkpoint does not match the model config: {}",
            parts.join("; ")
        )))
    }
}

fn list(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(NAMES_SHOWN).map(String::as_str).collect();
    let more = names.len().saturating_sub(NAMES_SHOWN);
    if more > 0 {
        format!("{} (and {more} more)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(path: &str) -> (String, bool) {
        let m = checkpoint_key(path);
        (m.key, m.transposed)
    }

    #[test]
    fn maps_paths_to_checkpoint_keys() {
        assert_eq!(
            mapped("visual.transformer.resblocks.3.attn.in_proj.weight"),
            (
                "visual.transformer.resblocks.3.attn.in_proj_weight".into(),
                true
            )
        );
        assert_eq!(
            mapped("text.transformer.resblocks.0.attn.in_proj.bias"),
            ("transformer.resblocks.0.attn.in_proj_bias".into(), false)
        );
        assert_eq!(
            mapped("visual.ln_post.gamma"),
            ("visual.ln_post.weight".into(), false)
        );
        assert_eq!(
            mapped("text.ln_final.beta"),
            ("ln_final.bias".into(), false)
        );
        assert_eq!(
            mapped("adapter.fc2.weight"),
            ("adapter.fc.2.weight".into(), true)
        );
        assert_eq!(
            mapped("diff_head.bn2.running_var"),
            ("diff_head.bn2.running_var".into(), false)
        );
        assert_eq!(
            mapped("diff_head_ref.projection1.weight"),
            ("diff_head_ref.projection1.weight".into(), true)
        );
        assert_eq!(mapped("visual.proj"), ("visual.proj".into(), false));
        assert_eq!(
            mapped("text.token_embedding.weight"),
            ("token_embedding.weight".into(), false)
        );
        assert_eq!(
            mapped("visual.conv1.weight"),
            ("visual.conv1.weight".into(), false)
        );
    }

    #[test]
    fn skips_only_the_unused_keys() {
        assert!(is_unused_key("diff_head.bn1.running_mean"));
        assert!(is_unused_key("diff_head_ref.bn3.num_batches_tracked"));
        assert!(!is_unused_key("diff_head.bn2.weight"));
    }

    #[test]
    fn lazy_shapes_name_params_as_collect_does() {
        use crate::config::ClipConfig;
        use crate::model::InctrlConfig;
        use burn_store::ModuleSnapshot;
        let config = ClipConfig::from_json(
            r#"{"embed_dim": 640, "vision_cfg": {"image_size": 240, "layers": 11, "width": 32, "head_width": 16},
                "text_cfg": {"width": 32, "heads": 2, "layers": 1, "vocab_size": 50}}"#,
        )
        .unwrap();
        let model = InctrlConfig::from_clip(&config, true).init(&burn::tensor::Device::flex());
        let lazy = param_shapes(&model);
        let collected: Vec<(String, Vec<usize>)> = model
            .collect(None, None, false)
            .into_iter()
            .map(|t| (t.name, t.shape.to_vec()))
            .collect();
        assert_eq!(lazy, collected);
    }

    #[test]
    fn transposes_row_major() {
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}

//! Checkpoint → bundle conversion: precompute the text prototypes of a list of
//! categories with the text tower, then write one `.bpk`.

use std::sync::Arc;

use burn::tensor::Device;
use burn_store::burn_pack::Writer;

use crate::config::ClipConfig;
use crate::detector::Detector;
use crate::error::{Error, Result};
use crate::model::InctrlConfig;
use crate::text::{TextTable, built_in_categories};
use crate::weights::bundle::{Precision, pack, write_bundle};
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keys::checkpoint_tensors;

/// The built-in category list followed by `extra` names not already in it.
pub fn bundle_categories(extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = built_in_categories().map(str::to_owned).collect();
    for name in extra {
        let name = name.trim();
        if !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

/// Computes the prototypes of `categories`, calling `progress(done, total)` after each.
pub async fn build_text_table(
    detector: &mut Detector,
    categories: &[String],
    mut progress: impl FnMut(usize, usize),
) -> Result<TextTable> {
    let mut table = TextTable::default();
    for (done, name) in categories.iter().enumerate() {
        let category = detector.category(name)?;
        table.insert(name, detector.prototype_values(&category).await?);
        progress(done + 1, categories.len());
    }
    Ok(table)
}

/// A bundle writer for a detector loaded from a checkpoint.
pub fn bundle_writer(
    detector: &Detector,
    table: &TextTable,
    precision: Precision,
    with_text: bool,
) -> Result<Writer> {
    if with_text && !detector.has_text_tower() {
        return Err(Error::InvalidInput(
            "--with-text needs a model with its text tower".into(),
        ));
    }
    Ok(write_bundle(
        detector.model(),
        detector.config(),
        table,
        precision,
        with_text,
    ))
}

/// A bundle straight from a checkpoint, tensor by tensor, without building the
/// model: memory stays at one tensor plus the output. The text tower is kept
/// (there are no precomputed prototypes), so any category name works.
pub fn stream_bundle(
    checkpoint: Arc<Checkpoint>,
    config: &ClipConfig,
    precision: Precision,
) -> Result<Writer> {
    // Parameters are initialised lazily, so this model only describes names and shapes.
    let layout = InctrlConfig::from_clip(config, true).init(&Device::flex());
    let tensors = checkpoint_tensors(&layout, checkpoint)?;
    Ok(pack(
        tensors,
        config,
        &TextTable::default(),
        precision,
        true,
    ))
}

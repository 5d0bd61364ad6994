//! `--val`: the evaluation protocol on cached features after each epoch, through
//! the inference code path (eval-mode BatchNorm), to keep the best epoch.

use burn::tensor::{Device, Tensor, TensorData};

use super::cache::FeatureCache;
use crate::detector::read_all;
use crate::error::Result;
use crate::eval::metrics::auroc;
use crate::model::Inctrl;

/// Queries scored per forward pass.
const BATCH: usize = 16;

/// One validation category, by index into its feature cache.
#[derive(Debug, Clone)]
pub struct ValidationCategory {
    /// The category name.
    pub name: String,
    /// Its normal prompts, drawn once so that epochs are compared on the same prompts.
    pub prompts: Vec<usize>,
    /// Its test images and whether each is anomalous.
    pub test: Vec<(usize, bool)>,
    /// Its text prototypes, `[2, embed_dim]` values (normal then anomaly).
    pub prototypes: Vec<f32>,
}

/// The image AUROC of every category under `model`.
pub fn validate(
    model: &Inctrl,
    cache: &FeatureCache,
    categories: &[ValidationCategory],
    device: &Device,
) -> Result<Vec<f64>> {
    categories
        .iter()
        .map(|category| {
            let prompts = model.prompt_features(cache.vision_output(&category.prompts, device));
            let width = category.prototypes.len() / 2;
            let prototypes = Tensor::from_data(
                TensorData::new(category.prototypes.clone(), [2, width]),
                device,
            );
            let mut scores = Vec::with_capacity(category.test.len());
            for chunk in category.test.chunks(BATCH) {
                let indices: Vec<usize> = chunk.iter().map(|&(i, _)| i).collect();
                let output = model.forward_vision(
                    cache.vision_output(&indices, device),
                    &prompts,
                    prototypes.clone(),
                );
                let [values] = pollster::block_on(read_all([output.final_score.unsqueeze_dim(0)]))?;
                scores.extend(values);
            }
            let labels: Vec<bool> = category.test.iter().map(|&(_, a)| a).collect();
            auroc(&labels, &scores)
        })
        .collect()
}

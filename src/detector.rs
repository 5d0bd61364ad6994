//! The scoring API: a loaded model plus its category text table, prompt sets
//! encoded once, and queries scored against them.

use std::collections::HashMap;
use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData, Transaction};

use crate::config::{ClipConfig, PATCH_GRID_CELLS};
use crate::error::{Error, Result};
use crate::model::{Inctrl, InctrlConfig, InctrlOutput, PromptFeatures};
use crate::precision::to_device_precision;
use crate::preprocess::Pixels;
use crate::text::tokenizer::ClipTokenizer;
use crate::text::{TextTable, category_prototypes, table::category_key};
use crate::transfers::{self, upload};
use crate::weights::bundle::{Bundle, read_bundle};
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keys::load_checkpoint;
use crate::weights::{SNIFF_LEN, WeightsFormat};

/// InCTRL's outputs for one query.
/// The browser API names fields in JavaScript's camelCase (`patchMax`), the
/// CLI's JSON in snake_case (`patch_max`): one type, named per target.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(target_family = "wasm", serde(rename_all = "camelCase"))]
pub struct Score {
    /// The anomaly score: (holistic + patch max) / 2. Higher is more anomalous.
    pub score: f32,
    /// Largest patch-level residual.
    pub patch_max: f32,
    /// Text prior: how much closer the query is to "anomalous" than to "normal" prompts.
    pub text_score: f32,
    /// Image-level residual score.
    pub image_score: f32,
    /// Holistic head score.
    pub holistic_score: f32,
    /// Patch residual map, 15×15 row-major.
    pub patch_map: Vec<f32>,
}

/// A category's normal and anomaly text prototypes, on the detector's device.
#[derive(Debug, Clone)]
pub struct Category {
    /// The name it was asked for.
    pub name: String,
    /// `[2, embed_dim]`: normal prototype, anomaly prototype.
    pub prototypes: Tensor<2>,
}

/// An encoded set of normal prompt images.
#[derive(Debug, Clone)]
pub struct PromptSet {
    features: PromptFeatures,
    count: usize,
}

impl PromptSet {
    /// Number of prompt images (K).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always false: a prompt set has at least one image.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded features.
    pub fn features(&self) -> &PromptFeatures {
        &self.features
    }
}

/// A model ready to score images.
pub struct Detector {
    model: Inctrl,
    config: ClipConfig,
    device: Device,
    text_table: TextTable,
    computed_categories: HashMap<String, Tensor<2>>,
    tokenizer: Option<ClipTokenizer>,
}

impl Detector {
    /// Wraps a loaded model, converting its parameters to the precision
    /// `device` computes in (see [`ComputePrecision`](crate::ComputePrecision)).
    pub fn new(model: Inctrl, config: ClipConfig, text_table: TextTable, device: Device) -> Self {
        Self {
            model: to_device_precision(model, &device),
            config,
            device,
            text_table,
            computed_categories: HashMap::new(),
            tokenizer: None,
        }
    }

    /// Loads weights from memory: a `.bpk` bundle, or an official checkpoint
    /// (`.pyth`/`.pt` zip or `.safetensors`) described by `config` (default: the
    /// ViT-B/16+ 240 px of the paper). A bundle carries its own config, so
    /// `config` only applies to checkpoints.
    pub fn from_bytes(bytes: Vec<u8>, config: Option<ClipConfig>, device: &Device) -> Result<Self> {
        match WeightsFormat::sniff(&bytes[..bytes.len().min(SNIFF_LEN)])? {
            WeightsFormat::Bundle => Self::from_bundle_bytes(bytes, device),
            _ => {
                let checkpoint = Checkpoint::open(Arc::new(bytes))?;
                Self::from_checkpoint(checkpoint, config.unwrap_or_default(), device)
            }
        }
    }

    /// Loads a weights file, as [`Detector::from_bytes`] does. A checkpoint is
    /// read tensor by tensor rather than into memory at once.
    #[cfg(not(target_family = "wasm"))]
    pub fn open(
        path: &std::path::Path,
        config: Option<ClipConfig>,
        device: &Device,
    ) -> Result<Self> {
        use crate::weights::checkpoint::{ReadAt, source::FileSource};
        let file = FileSource::open(path)?;
        let mut head = vec![0; file.len().min(SNIFF_LEN as u64) as usize];
        file.read_exact_at(0, &mut head)?;
        match WeightsFormat::sniff(&head)? {
            WeightsFormat::Bundle => {
                let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
                Self::from_bundle_bytes(bytes, device)
            }
            _ => {
                let checkpoint = Checkpoint::open(Arc::new(file))?;
                Self::from_checkpoint(checkpoint, config.unwrap_or_default(), device)
            }
        }
    }

    /// Loads a `.bpk` bundle.
    pub fn from_bundle_bytes(bytes: Vec<u8>, device: &Device) -> Result<Self> {
        let Bundle {
            config,
            model,
            text_table,
            ..
        } = read_bundle(burn::tensor::Bytes::from_bytes_vec(bytes), device)?;
        Ok(Self::new(model, config, text_table, device.clone()))
    }

    /// Loads an official checkpoint (`.pyth`/`.pt` state dict or `.safetensors`),
    /// text tower included, so any category name works.
    pub fn from_checkpoint(
        checkpoint: Checkpoint,
        config: ClipConfig,
        device: &Device,
    ) -> Result<Self> {
        let mut model = InctrlConfig::from_clip(&config, true).init(device);
        load_checkpoint(&mut model, Arc::new(checkpoint))?;
        Ok(Self::new(
            model,
            config,
            TextTable::default(),
            device.clone(),
        ))
    }

    /// The open_clip config of the model.
    pub fn config(&self) -> &ClipConfig {
        &self.config
    }

    /// The model.
    pub fn model(&self) -> &Inctrl {
        &self.model
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The precomputed category table.
    pub fn text_table(&self) -> &TextTable {
        &self.text_table
    }

    /// Whether any category name can be used (the text tower is loaded).
    pub fn has_text_tower(&self) -> bool {
        self.model.text.is_some()
    }

    /// The text prototypes of `name`: from the table, or computed with the text
    /// tower and cached.
    pub fn category(&mut self, name: &str) -> Result<Category> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::InvalidInput("category name is empty".into()));
        }
        let prototypes = match self.text_table.get(name) {
            Some(values) => {
                let data = TensorData::new(values.to_vec(), [2, self.config.embed_dim]);
                upload(data, &self.device)
            }
            None => self.computed_prototypes(name)?,
        };
        Ok(Category {
            name: name.to_owned(),
            prototypes,
        })
    }

    fn computed_prototypes(&mut self, name: &str) -> Result<Tensor<2>> {
        let key = category_key(name);
        if let Some(prototypes) = self.computed_categories.get(&key) {
            return Ok(prototypes.clone());
        }
        if self.model.text.is_none() {
            let known: Vec<&str> = self.text_table.names().collect();
            let hint = format!(
                "known categories: {}; convert the checkpoint with --with-text or --categories {name}",
                known.join(", ")
            );
            return Err(Error::UnknownCategory(name.to_owned(), hint));
        }
        let tokenizer = self.tokenizer.get_or_insert_with(ClipTokenizer::new);
        let context = self.config.text_cfg.context_length;
        let prototypes = category_prototypes(&self.model, tokenizer, context, name, &self.device)
            .expect("checked that the text tower is loaded");
        self.computed_categories.insert(key, prototypes.clone());
        Ok(prototypes)
    }

    /// Encodes normal prompt images once for any number of queries.
    pub fn encode_prompts(&self, images: &[Pixels]) -> Result<PromptSet> {
        if images.is_empty() {
            return Err(Error::InvalidInput(
                "no prompt images: InCTRL needs at least one normal image of the category".into(),
            ));
        }
        let pixels = self.stack_images(images, "prompt")?;
        Ok(PromptSet {
            features: self.model.encode_prompts(pixels),
            count: images.len(),
        })
    }

    /// Every intermediate tensor for a batch of queries, left on the device.
    pub fn forward(
        &self,
        category: &Category,
        prompts: &PromptSet,
        images: &[Pixels],
    ) -> Result<InctrlOutput> {
        if images.is_empty() {
            return Err(Error::InvalidInput("no query images to score".into()));
        }
        let pixels = self.stack_images(images, "query")?;
        Ok(self
            .model
            .forward(pixels, &prompts.features, category.prototypes.clone()))
    }

    /// Scores query images; each query's result is independent of the others.
    pub async fn score(
        &self,
        category: &Category,
        prompts: &PromptSet,
        images: &[Pixels],
    ) -> Result<Vec<Score>> {
        let output = self.forward(category, prompts, images)?;
        read_scores(output, images.len()).await
    }

    /// [`Detector::score`] for native callers: blocks until the scores are read back.
    #[cfg(not(target_family = "wasm"))]
    pub fn score_blocking(
        &self,
        category: &Category,
        prompts: &PromptSet,
        images: &[Pixels],
    ) -> Result<Vec<Score>> {
        pollster::block_on(self.score(category, prompts, images))
    }

    /// Reads a category's prototypes back from the device, `[normal ‖ anomaly]`.
    pub async fn prototype_values(&self, category: &Category) -> Result<Vec<f32>> {
        let [values] = read_all([category.prototypes.clone()]).await?;
        Ok(values)
    }

    pub(crate) fn stack_images(&self, images: &[Pixels], role: &str) -> Result<Tensor<4>> {
        let size = self.config.vision_cfg.image_size;
        if let Some((index, image)) = images
            .iter()
            .enumerate()
            .find(|(_, im)| im.size() as usize != size)
        {
            let got = image.size();
            return Err(Error::InvalidInput(format!(
                "{role} image {index} was preprocessed to {got}x{got} pixels but this model takes {size}x{size}"
            )));
        }
        let flat: Vec<f32> = images.iter().flat_map(|im| im.values()).copied().collect();
        Ok(upload(
            TensorData::new(flat, [images.len(), 3, size, size]),
            &self.device,
        ))
    }
}

/// Reads a forward pass's scores back, one [`Score`] per image of its batch of `count`.
pub(crate) async fn read_scores(output: InctrlOutput, count: usize) -> Result<Vec<Score>> {
    let [
        final_score,
        patch_max,
        text_score,
        image_score,
        holistic_score,
        patch_map,
    ] = read_all([
        output.final_score.unsqueeze_dim(1),
        output.patch_max.unsqueeze_dim(1),
        output.text_score.unsqueeze_dim(1),
        output.image_score.unsqueeze_dim(1),
        output.holistic_score.unsqueeze_dim(1),
        output.patch_map,
    ])
    .await?;
    Ok((0..count)
        .map(|i| Score {
            score: final_score[i],
            patch_max: patch_max[i],
            text_score: text_score[i],
            image_score: image_score[i],
            holistic_score: holistic_score[i],
            patch_map: patch_map[i * PATCH_GRID_CELLS..(i + 1) * PATCH_GRID_CELLS].to_vec(),
        })
        .collect())
}

/// Names a lost GPU device plainly (Burn reports it as a poisoned device), so
/// that callers know to re-create the detector rather than retry.
fn readback_error(detail: &str) -> Error {
    if !detail.to_lowercase().contains("poisoned") {
        return Error::Device(format!("reading results back failed: {detail}"));
    }
    let cause = detail
        .rsplit("Caused by:")
        .next()
        .and_then(|c| c.split("Backtrace").next())
        .map(str::trim)
        .unwrap_or(detail);
    Error::Device(format!(
        "the GPU device was lost ({cause}); re-create the detector, on the CPU if need be"
    ))
}

/// Reads several tensors back in one transaction (asynchronously, as browsers require).
pub(crate) async fn read_all<const N: usize>(tensors: [Tensor<2>; N]) -> Result<[Vec<f32>; N]> {
    transfers::count_readback();
    let transaction = tensors
        .into_iter()
        .fold(Transaction::default(), |t, x| t.register(x));
    let data = transaction
        .execute_async()
        .await
        .map_err(|e| readback_error(&format!("{e:?}")))?;
    let values: Vec<Vec<f32>> = data
        .into_iter()
        .map(|d| d.convert::<f32>().try_into_vec::<f32>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Device(format!("unexpected result type: {e:?}")))?;
    values
        .try_into()
        .map_err(|_| Error::Device("a readback returned the wrong number of tensors".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_device_is_reported_as_lost() {
        let detail = "The device is poisoned\nCaused by:\n  The device is poisoned\nCaused by:\n  Destroyed: Device was destroyed.\nBacktrace:\nNo backtrace available";
        let message = readback_error(detail).to_string();
        assert_eq!(
            message,
            "device: the GPU device was lost (Destroyed: Device was destroyed.); re-create the detector, on the CPU if need be"
        );
        assert!(
            readback_error("Timeout")
                .to_string()
                .contains("reading results back failed: Timeout")
        );
    }
}

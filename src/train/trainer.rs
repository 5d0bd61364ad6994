//! The optimisation loop's state: the heads being trained, AdamW, and the
//! batches they learn from.

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use burn_store::{BurnpackStore, ModuleSnapshot};

use super::cache::FeatureCache;
use super::heads::{TrainBatch, TrainableHeads};
use super::sampler::Sample;
use crate::error::{Error, Result};
use crate::model::Inctrl;
use crate::model::inctrl::{patch_residual_map, prompt_patch_tokens};

/// The original's training settings (`engine_IC.py`, `main.py`, spec §4).
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// Queries per batch, half normal and half anomalous.
    #[config(default = 16)]
    pub batch_size: usize,
    /// Normal prompts drawn per query (K).
    #[config(default = 2)]
    pub shot: usize,
    /// AdamW learning rate (constant: no schedule, no warm-up).
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// AdamW first-moment decay.
    #[config(default = 0.9)]
    pub beta_1: f32,
    /// AdamW second-moment decay.
    #[config(default = 0.999)]
    pub beta_2: f32,
    /// AdamW epsilon (PyTorch's default).
    #[config(default = 1e-8)]
    pub epsilon: f32,
    /// AdamW decoupled weight decay (PyTorch's default).
    #[config(default = 0.01)]
    pub weight_decay: f32,
    /// Steps per epoch.
    #[config(default = 100)]
    pub steps_per_epoch: usize,
    /// Epochs.
    #[config(default = 10)]
    pub epochs: usize,
    /// Seed of the batch and prompt draws.
    #[config(default = 10)]
    pub seed: u32,
}

impl TrainConfig {
    /// Checks what the loop cannot work with.
    pub fn check(&self) -> Result<()> {
        if self.batch_size < 2 {
            return Err(Error::InvalidInput(
                "the batch size must be at least 2: BatchNorm in training mode needs two queries, and a batch holds both classes".into(),
            ));
        }
        if self.shot == 0 || self.steps_per_epoch == 0 || self.epochs == 0 {
            return Err(Error::InvalidInput(
                "--shot, --steps-per-epoch and --epochs must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// The losses of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLosses {
    /// The optimised total.
    pub loss: f32,
    /// Focal loss of the final score.
    pub final_score: f32,
    /// Focal loss of the image score.
    pub image_score: f32,
}

/// The heads being trained and their optimiser, on the CPU with autodiff.
pub struct Trainer {
    heads: TrainableHeads,
    optimizer: ModuleOptimizer,
    learning_rate: f64,
}

impl Trainer {
    /// Starts from `model`'s adapter and heads.
    pub fn new(model: &Inctrl, config: &TrainConfig) -> Self {
        let heads = TrainableHeads::of(model)
            .to_device(&training_device())
            .train();
        let optimizer = AdamWConfig::new()
            .with_beta_1(config.beta_1)
            .with_beta_2(config.beta_2)
            .with_epsilon(config.epsilon)
            .with_weight_decay(config.weight_decay)
            .init();
        Self {
            heads,
            optimizer,
            learning_rate: config.learning_rate,
        }
    }

    /// The heads as trained so far.
    pub fn heads(&self) -> &TrainableHeads {
        &self.heads
    }

    /// Replaces the heads through `change`, keeping AdamW's state: it is keyed
    /// by parameter id, which [`Param::map`](burn::module::Param::map) keeps.
    pub fn map_heads(&mut self, change: impl FnOnce(TrainableHeads) -> TrainableHeads) {
        self.heads = change(self.heads.clone());
    }

    /// One forward pass, backward pass and AdamW update.
    pub fn step(&mut self, batch: &TrainBatch) -> Result<StepLosses> {
        let (output, heads) = self.heads.forward_train(batch);
        let gradients = GradientsParams::from_grads(output.loss.backward(), &heads);
        self.heads = self.optimizer.step(self.learning_rate, heads, gradients);
        let losses = Tensor::cat(vec![output.loss, output.loss_final, output.loss_image], 0);
        let values = read(losses)?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "the loss is not finite ({values:?}): training diverged"
            )));
        }
        Ok(StepLosses {
            loss: values[0],
            final_score: values[1],
            image_score: values[2],
        })
    }

    /// Saves the heads (with their parameter ids) and AdamW's moments into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut store = BurnpackStore::from_file(dir.join("heads.bpk"))
            .overwrite(true)
            .auto_extension(false);
        self.heads
            .save_into(&mut store)
            .map_err(|e| Error::Weights(format!("saving the training state: {e}")))?;
        self.optimizer
            .save(dir.join("optimizer.bpk"))
            .map_err(|e| Error::Weights(format!("saving the optimiser state: {e:?}")))
    }

    /// Continues from what [`Trainer::save`] wrote into `dir`.
    pub fn resume(mut self, dir: &Path) -> Result<Self> {
        let mut store = BurnpackStore::from_file(dir.join("heads.bpk")).auto_extension(false);
        let result = self.heads.load_from(&mut store).map_err(|e| {
            Error::Weights(format!(
                "reading the training state in {}: {e}",
                dir.display()
            ))
        })?;
        if !result.errors.is_empty() || !result.missing.is_empty() {
            return Err(Error::Weights(format!(
                "the training state in {} does not fit this model",
                dir.display()
            )));
        }
        self.optimizer = self
            .optimizer
            .load(dir.join("optimizer.bpk"))
            .map_err(|e| Error::Weights(format!("reading the optimiser state: {e:?}")))?;
        Ok(self)
    }
}

/// Where the heads train: the CPU backend, with autodiff.
fn training_device() -> Device {
    Device::flex().autodiff()
}

/// A training batch from cached features: each query against its own prompts.
pub fn assemble_batch(cache: &FeatureCache, samples: &[Sample]) -> TrainBatch {
    let device = Device::flex();
    let queries: Vec<usize> = samples.iter().map(|s| s.query).collect();
    let prompts: Vec<usize> = samples.iter().flat_map(|s| s.prompts.clone()).collect();
    let shot = samples[0].prompts.len();
    let prompt_embeddings = cache.embeddings(&prompts, &device);
    let width = prompt_embeddings.dims()[1];
    let patch_maps = samples
        .iter()
        .map(|sample| {
            let prompt_tokens = prompt_patch_tokens(cache.layer_tokens(&sample.prompts, &device));
            patch_residual_map(
                &cache.layer_tokens(&[sample.query], &device),
                &prompt_tokens,
            )
        })
        .collect();
    let labels: Vec<f32> = samples
        .iter()
        .map(|s| f32::from(u8::from(s.anomalous)))
        .collect();
    TrainBatch {
        query_embedding: cache.embeddings(&queries, &device),
        prompt_embeddings: prompt_embeddings.reshape([samples.len(), shot, width]),
        text_score: Tensor::from_data(
            TensorData::new(cache.text_scores(&queries), [samples.len()]),
            &device,
        ),
        patch_map: Tensor::cat(patch_maps, 0),
        labels: Tensor::from_data(TensorData::new(labels, [samples.len()]), &device),
    }
}

fn read<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Device(format!("reading the loss back: {e:?}")))
}

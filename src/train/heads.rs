//! The trainable part of InCTRL and its training-mode forward pass.

use burn::module::Module;
use burn::tensor::Tensor;

use super::loss::binary_focal_loss;
use crate::model::Inctrl;
use crate::model::heads::{Adapter, ScoringHead};

/// What training updates (spec §4): the adapter and both heads. The CLIP
/// towers are frozen. Field names are the checkpoint's.
#[derive(Module, Debug)]
pub struct TrainableHeads {
    /// Image-level adapter.
    pub adapter: Adapter,
    /// Holistic head over the 225-cell map.
    pub diff_head: ScoringHead,
    /// Head over the image-level residual.
    pub diff_head_ref: ScoringHead,
}

/// One training batch, made from frozen-tower features: nothing here needs a gradient.
#[derive(Debug, Clone)]
pub struct TrainBatch {
    /// g(query), `[batch, embed_dim]`.
    pub query_embedding: Tensor<2>,
    /// g(prompt) of each query's own K prompts, `[batch, K, embed_dim]`.
    pub prompt_embeddings: Tensor<3>,
    /// Text prior s_t, `[batch]`.
    pub text_score: Tensor<1>,
    /// Patch residual map M_p against each query's own prompts, `[batch, patches]`.
    pub patch_map: Tensor<2>,
    /// 1 for an anomalous query, 0 for a normal one, `[batch]`.
    pub labels: Tensor<1>,
}

/// The loss and scores of a training forward pass.
#[derive(Debug, Clone)]
pub struct TrainOutput {
    /// Focal loss of the final score plus focal loss of the image score, `[1]`.
    pub loss: Tensor<1>,
    /// Focal loss of the final score, `[1]`.
    pub loss_final: Tensor<1>,
    /// Focal loss of the image score, `[1]`.
    pub loss_image: Tensor<1>,
    /// Final score (s_h + max M_p) / 2, `[batch]`.
    pub final_score: Tensor<1>,
    /// Image residual score s_i, `[batch]`.
    pub image_score: Tensor<1>,
    /// Holistic score s_h, `[batch]`.
    pub holistic_score: Tensor<1>,
}

impl TrainableHeads {
    /// A copy of a model's adapter and heads.
    pub fn of(model: &Inctrl) -> Self {
        Self {
            adapter: model.adapter.clone(),
            diff_head: model.diff_head.clone(),
            diff_head_ref: model.diff_head_ref.clone(),
        }
    }

    /// `model` with these heads in place of its own, on the model's device, for inference.
    pub fn install(&self, model: Inctrl) -> Inctrl {
        let heads = self.valid();
        let device = model.visual.devices()[0].clone();
        let heads = heads.to_device(&device);
        Inctrl {
            adapter: heads.adapter,
            diff_head: heads.diff_head,
            diff_head_ref: heads.diff_head_ref,
            ..model
        }
    }

    /// The original's forward in training mode with per-sample semantics (each
    /// query with its own K prompts, spec §4.1), and its loss. The BatchNorms use
    /// batch statistics; returns the heads with their running statistics updated.
    pub fn forward_train(&self, batch: &TrainBatch) -> (TrainOutput, Self) {
        let [queries, shot, width] = batch.prompt_embeddings.dims();
        let adapted_prompts = self
            .adapter
            .forward(
                batch
                    .prompt_embeddings
                    .clone()
                    .reshape([queries * shot, width]),
            )
            .reshape([queries, shot, width])
            .mean_dim(1)
            .reshape([queries, width]);
        let residual = adapted_prompts - self.adapter.forward(batch.query_embedding.clone());
        let (image_score, diff_head_ref) = self.diff_head_ref.forward_train(residual);

        // The original adds `text_score + img_ref_score + patch_ref_map`, left to right.
        let holistic_map = (batch.text_score.clone() + image_score.clone()).unsqueeze_dim(1)
            + batch.patch_map.clone();
        let (holistic_score, diff_head) = self.diff_head.forward_train(holistic_map);
        let patch_max = batch.patch_map.clone().max_dim(1).squeeze_dim(1);
        let final_score = (holistic_score.clone() + patch_max).div_scalar(2.0);

        let loss_final = binary_focal_loss(final_score.clone(), batch.labels.clone());
        let loss_image = binary_focal_loss(image_score.clone(), batch.labels.clone());
        let output = TrainOutput {
            loss: loss_final.clone() + loss_image.clone(),
            loss_final,
            loss_image,
            final_score,
            image_score,
            holistic_score,
        };
        let updated = Self {
            adapter: self.adapter.clone(),
            diff_head,
            diff_head_ref,
        };
        (output, updated)
    }
}

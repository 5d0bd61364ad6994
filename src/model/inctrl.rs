//! The InCTRL model (`open_clip/model.py`, class `InCTRL`): a frozen CLIP image
//! tower, an optional text tower, the adapter and the two scoring heads, and
//! the in-context residual scoring that combines them.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor};

use super::heads::{Adapter, AdapterConfig, ScoringHead, ScoringHeadConfig};
use super::text::{TextTransformer, TextTransformerConfig};
use super::vision::{VisionOutput, VisionTransformer, VisionTransformerConfig};
use crate::config::{ClipConfig, PATCH_GRID_CELLS};

/// The fixed softmax temperature of the text score (not CLIP's `logit_scale`).
const TEXT_TEMPERATURE: f32 = 100.0;

/// Configuration for [`Inctrl`].
#[derive(Config, Debug)]
pub struct InctrlConfig {
    /// The image tower.
    pub vision: VisionTransformerConfig,
    /// The text tower; `None` for a bundle that only carries precomputed prototypes.
    pub text: Option<TextTransformerConfig>,
    /// Joint embedding width.
    pub embed_dim: usize,
}

impl InctrlConfig {
    /// The model for an open_clip config, with or without its text tower.
    pub fn from_clip(clip: &ClipConfig, with_text: bool) -> Self {
        Self::new(VisionTransformerConfig::from_clip(clip), clip.embed_dim)
            .with_text(with_text.then(|| TextTransformerConfig::from_clip(clip)))
    }

    /// A randomly initialised model.
    pub fn init(&self, device: &Device) -> Inctrl {
        Inctrl {
            visual: self.vision.init(device),
            text: self.text.as_ref().map(|t| t.init(device)),
            adapter: AdapterConfig::new(self.embed_dim).init(device),
            diff_head: ScoringHeadConfig::new(PATCH_GRID_CELLS).init(device),
            diff_head_ref: ScoringHeadConfig::new(self.embed_dim).init(device),
        }
    }
}

/// InCTRL. Field names follow the checkpoint (the text tower's keys are top-level there).
#[derive(Module, Debug)]
pub struct Inctrl {
    /// CLIP image tower, checkpoint `visual.*`.
    pub visual: VisionTransformer,
    /// CLIP text tower, checkpoint `token_embedding`, `transformer.*`, ... when present.
    pub text: Option<TextTransformer>,
    /// Image-level adapter.
    pub adapter: Adapter,
    /// Holistic head over the 225-cell map.
    pub diff_head: ScoringHead,
    /// Head over the image-level residual.
    pub diff_head_ref: ScoringHead,
}

/// What a prompt set contributes to every query, computed once.
#[derive(Debug, Clone)]
pub struct PromptFeatures {
    /// Unit-norm patch tokens of all prompts per tapped layer, transposed for the
    /// cosine product: `[layers, width, prompts * patches]`.
    pub patch_tokens: Tensor<3>,
    /// `mean_k adapter(g(prompt_k))`, `[embed_dim]`.
    pub adapted_mean: Tensor<1>,
}

/// Every intermediate InCTRL computes for a batch of queries.
#[derive(Debug, Clone)]
pub struct InctrlOutput {
    /// `g(query)`, `[batch, embed_dim]`.
    pub embedding: Tensor<2>,
    /// Residual stream after blocks 7, 9, 11, each `[batch, 1 + patches, width]`.
    pub layer_tokens: Vec<Tensor<3>>,
    /// Patch residual map M_p, `[batch, patches]`.
    pub patch_map: Tensor<2>,
    /// max M_p, `[batch]`.
    pub patch_max: Tensor<1>,
    /// Cosine of the normalised embedding with the normal and anomaly prototypes, `[batch, 2]`.
    pub text_cosines: Tensor<2>,
    /// Text prior s_t, `[batch]`.
    pub text_score: Tensor<1>,
    /// Image-level residual F_r = mean adapter(prompts) − adapter(query), `[batch, embed_dim]`.
    pub residual: Tensor<2>,
    /// Image residual score s_i, `[batch]`.
    pub image_score: Tensor<1>,
    /// Holistic map M = (s_t + s_i) + M_p, `[batch, patches]`.
    pub holistic_map: Tensor<2>,
    /// Holistic score s_h, `[batch]`.
    pub holistic_score: Tensor<1>,
    /// Final anomaly score (s_h + max M_p) / 2, `[batch]`.
    pub final_score: Tensor<1>,
}

impl Inctrl {
    /// Encodes a prompt set once, for any number of later queries.
    ///
    /// # Shapes
    /// - `pixels`: `[prompts, 3, size, size]`
    pub fn encode_prompts(&self, pixels: Tensor<4>) -> PromptFeatures {
        self.prompt_features(self.visual.forward(pixels))
    }

    /// A prompt set's features from its images' tower outputs.
    pub fn prompt_features(&self, vision: VisionOutput) -> PromptFeatures {
        let adapted_mean = self
            .adapter
            .forward(vision.embedding)
            .mean_dim(0)
            .squeeze_dim(0);
        PromptFeatures {
            patch_tokens: prompt_patch_tokens(vision.layer_tokens),
            adapted_mean,
        }
    }

    /// Scores a batch of queries against a prompt set and a category's text prototypes.
    /// Each query is scored independently of the others in the batch.
    ///
    /// # Shapes
    /// - `pixels`: `[batch, 3, size, size]`
    /// - `text_prototypes`: `[2, embed_dim]`, unit-norm normal then anomaly prototype
    pub fn forward(
        &self,
        pixels: Tensor<4>,
        prompts: &PromptFeatures,
        text_prototypes: Tensor<2>,
    ) -> InctrlOutput {
        self.forward_vision(self.visual.forward(pixels), prompts, text_prototypes)
    }

    /// [`Inctrl::forward`] from the queries' tower outputs.
    pub fn forward_vision(
        &self,
        vision: VisionOutput,
        prompts: &PromptFeatures,
        text_prototypes: Tensor<2>,
    ) -> InctrlOutput {
        let patch_map = patch_residual_map(&vision.layer_tokens, &prompts.patch_tokens);
        // The heads run image by image: a batched [batch, width] product may take a
        // different kernel path (and rounding) for different batch sizes.
        let per_image: Vec<ImageScores> = (0..patch_map.dims()[0])
            .map(|i| {
                self.score_image(
                    vision.embedding.clone().narrow(0, i, 1),
                    patch_map.clone().narrow(0, i, 1),
                    prompts,
                    text_prototypes.clone(),
                )
            })
            .collect();
        let cat1 = |f: fn(&ImageScores) -> &Tensor<1>| {
            Tensor::cat(per_image.iter().map(|s| f(s).clone()).collect(), 0)
        };
        let cat2 = |f: fn(&ImageScores) -> &Tensor<2>| {
            Tensor::cat(per_image.iter().map(|s| f(s).clone()).collect(), 0)
        };
        InctrlOutput {
            patch_max: cat1(|s| &s.patch_max),
            text_cosines: cat2(|s| &s.text_cosines),
            text_score: cat1(|s| &s.text_score),
            residual: cat2(|s| &s.residual),
            image_score: cat1(|s| &s.image_score),
            holistic_map: cat2(|s| &s.holistic_map),
            holistic_score: cat1(|s| &s.holistic_score),
            final_score: cat1(|s| &s.final_score),
            embedding: vision.embedding,
            layer_tokens: vision.layer_tokens,
            patch_map,
        }
    }

    /// Everything after the image tower for one image.
    ///
    /// # Shapes
    /// - `embedding`: `[1, embed_dim]`, `patch_map`: `[1, patches]`
    fn score_image(
        &self,
        embedding: Tensor<2>,
        patch_map: Tensor<2>,
        prompts: &PromptFeatures,
        text_prototypes: Tensor<2>,
    ) -> ImageScores {
        let patch_max = patch_map.clone().max_dim(1).squeeze_dim(1);

        let (text_cosines, text_score) = text_prior(embedding.clone(), text_prototypes);

        let residual = prompts.adapted_mean.clone().unsqueeze() - self.adapter.forward(embedding);
        let image_score = self.diff_head_ref.forward(residual.clone());

        // The original adds `text_score + img_ref_score + patch_ref_map`, left to right.
        let holistic_map = (text_score.clone() + image_score.clone()).unsqueeze_dim(1) + patch_map;
        let holistic_score = self.diff_head.forward(holistic_map.clone());
        let final_score = (holistic_score.clone() + patch_max.clone()).div_scalar(2.0);
        ImageScores {
            patch_max,
            text_cosines,
            text_score,
            residual,
            image_score,
            holistic_map,
            holistic_score,
            final_score,
        }
    }

    /// The normalised mean of the normalised text embeddings of a prompt list
    /// (`None` without a text tower).
    ///
    /// # Shapes
    /// - `tokens`: `[prompts, length]`, `eot_positions`: `[prompts]`
    /// - output: `[embed_dim]`
    pub fn text_prototype(
        &self,
        tokens: Tensor<2, Int>,
        eot_positions: Tensor<1, Int>,
    ) -> Option<Tensor<1>> {
        let embeddings = self.text.as_ref()?.forward(tokens, eot_positions);
        let unit = embeddings.clone() / l2_norm(embeddings);
        let mean = unit.mean_dim(0);
        Some((mean.clone() / l2_norm(mean)).squeeze_dim(0))
    }
}

/// The per-image part of [`InctrlOutput`], each with a leading axis of 1.
struct ImageScores {
    patch_max: Tensor<1>,
    text_cosines: Tensor<2>,
    text_score: Tensor<1>,
    residual: Tensor<2>,
    image_score: Tensor<1>,
    holistic_map: Tensor<2>,
    holistic_score: Tensor<1>,
    final_score: Tensor<1>,
}

/// The text prior: the cosines of the normalised embeddings with the normal and
/// anomaly prototypes, `[batch, 2]`, and s_t, the softmax weight of the anomaly
/// prototype at temperature 100, `[batch]`.
///
/// # Shapes
/// - `embedding`: `[batch, embed_dim]`, `text_prototypes`: `[2, embed_dim]`
pub fn text_prior(embedding: Tensor<2>, text_prototypes: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
    let unit_embedding = embedding.clone() / l2_norm(embedding);
    let text_cosines = unit_embedding.matmul(text_prototypes.transpose());
    let text_score = softmax(text_cosines.clone().mul_scalar(TEXT_TEMPERATURE), 1)
        .narrow(1, 1, 1)
        .squeeze_dim(1);
    (text_cosines, text_score)
}

/// A prompt set's unit-norm patch tokens per tapped layer, transposed for the
/// cosine product: each `[prompts, 1 + patches, width]` → `[layers, width, prompts * patches]`.
pub fn prompt_patch_tokens(layer_tokens: Vec<Tensor<3>>) -> Tensor<3> {
    let per_layer = layer_tokens
        .into_iter()
        .map(|tokens| {
            let [prompts, _, width] = tokens.dims();
            let patches = unit_patches(tokens);
            let patch_count = patches.dims()[1];
            patches.reshape([prompts * patch_count, width]).transpose()
        })
        .collect();
    Tensor::stack(per_layer, 0)
}

/// `t / ‖t‖` over the last axis keeps its width; this is `‖t‖`, `[rows, 1]`.
fn l2_norm(t: Tensor<2>) -> Tensor<2> {
    t.clone().mul(t).sum_dim(1).sqrt()
}

/// Patch tokens (CLS dropped) scaled to unit length: `[batch, tokens, width]` → `[batch, patches, width]`.
fn unit_patches(tokens: Tensor<3>) -> Tensor<3> {
    let patch_count = tokens.dims()[1] - 1;
    let patches = tokens.narrow(1, 1, patch_count);
    let norm = patches.clone().mul(patches.clone()).sum_dim(2).sqrt();
    patches / norm
}

/// M_p: per query patch, the smallest `½(1 − cos)` to any prompt patch of the
/// same layer, averaged over the tapped layers.
///
/// # Shapes
/// - `layer_tokens`: each `[batch, 1 + patches, width]`
/// - `prompt_tokens`: `[layers, width, prompts * patches]`
/// - output: `[batch, patches]`
pub fn patch_residual_map(layer_tokens: &[Tensor<3>], prompt_tokens: &Tensor<3>) -> Tensor<2> {
    let per_layer: Vec<Tensor<2>> = layer_tokens
        .iter()
        .enumerate()
        .map(|(layer, tokens)| {
            let prompts = prompt_tokens.clone().narrow(0, layer, 1); // [1, width, K·P]
            let best_cosine = unit_patches(tokens.clone()).matmul(prompts).max_dim(2); // [batch, patches, 1]
            // min ½(1 − cos) = ½(1 − max cos); the map is monotone, so this is exact.
            best_cosine
                .neg()
                .add_scalar(1.0)
                .mul_scalar(0.5)
                .squeeze_dim(2)
        })
        .collect();
    Tensor::stack::<3>(per_layer, 0).mean_dim(0).squeeze_dim(0)
}

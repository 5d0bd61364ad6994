//! OpenCLIP's `VisionTransformer` as InCTRL's `VisionTransformer_Mul` runs it:
//! besides the pooled embedding it returns the raw residual stream after
//! blocks 7, 9 and 11. The unused CUDA-only attention-map side output of the
//! original is dropped.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Tensor};

use super::block::ResidualAttentionBlockConfig;
use super::transformer::{Transformer, TransformerConfig};
use crate::config::{ClipConfig, PATCH_LAYERS, mlp_width};

/// Configuration for [`VisionTransformer`].
#[derive(Config, Debug)]
pub struct VisionTransformerConfig {
    /// Square input side in pixels.
    pub image_size: usize,
    /// Square patch side in pixels.
    pub patch_size: usize,
    /// The block stack.
    pub transformer: TransformerConfig,
    /// Width of the projected embedding.
    pub output_dim: usize,
}

impl VisionTransformerConfig {
    /// The image tower of an open_clip config.
    pub fn from_clip(clip: &ClipConfig) -> Self {
        let v = &clip.vision_cfg;
        let block = ResidualAttentionBlockConfig::new(
            v.width,
            clip.vision_heads(),
            mlp_width(v.width, v.mlp_ratio),
        )
        .with_quick_gelu(clip.quick_gelu);
        Self::new(
            v.image_size,
            v.patch_size,
            TransformerConfig::new(block, v.layers),
            clip.embed_dim,
        )
    }

    /// A randomly initialised image tower.
    pub fn init(&self, device: &Device) -> VisionTransformer {
        let width = self.transformer.block.width;
        let tokens = (self.image_size / self.patch_size).pow(2) + 1;
        let init = Initializer::Normal {
            mean: 0.0,
            std: (width as f64).powf(-0.5),
        };
        VisionTransformer {
            conv1: Conv2dConfig::new([3, width], [self.patch_size, self.patch_size])
                .with_stride([self.patch_size, self.patch_size])
                .with_bias(false)
                .init(device),
            class_embedding: init.init([width], device),
            positional_embedding: init.init([tokens, width], device),
            ln_pre: LayerNormConfig::new(width).init(device),
            transformer: self.transformer.init(device),
            ln_post: LayerNormConfig::new(width).init(device),
            proj: init.init([width, self.output_dim], device),
        }
    }
}

/// What the image tower returns for a batch of images.
#[derive(Debug, Clone)]
pub struct VisionOutput {
    /// `g = ln_post(CLS) @ proj`, `[batch, embed_dim]`, not normalised.
    pub embedding: Tensor<2>,
    /// The residual stream after blocks 7, 9 and 11 (1-based), each
    /// `[batch, 1 + patches, width]`, CLS first.
    pub layer_tokens: Vec<Tensor<3>>,
}

impl VisionOutput {
    /// The outputs of the images at `indices`, in that order (as if only
    /// they had been encoded: each image's outputs never depend on its batch).
    pub fn images(&self, indices: &[usize]) -> Self {
        Self {
            embedding: rows(&self.embedding, indices),
            layer_tokens: self.layer_tokens.iter().map(|t| rows(t, indices)).collect(),
        }
    }
}

/// The rows `indices` of `t` along its first axis.
fn rows<const D: usize>(t: &Tensor<D>, indices: &[usize]) -> Tensor<D> {
    Tensor::cat(
        indices.iter().map(|&i| t.clone().narrow(0, i, 1)).collect(),
        0,
    )
}

/// The CLIP image tower. Field names are the checkpoint's (`visual.*`).
#[derive(Module, Debug)]
pub struct VisionTransformer {
    /// Patch embedding, `[width, 3, patch, patch]`, no bias.
    pub conv1: Conv2d,
    /// CLS token, `[width]`.
    pub class_embedding: Param<Tensor<1>>,
    /// Position embedding, `[1 + patches, width]`, row 0 for CLS.
    pub positional_embedding: Param<Tensor<2>>,
    /// LayerNorm after adding position embeddings.
    pub ln_pre: LayerNorm,
    /// The residual blocks.
    pub transformer: Transformer,
    /// LayerNorm applied to the final CLS token only.
    pub ln_post: LayerNorm,
    /// Projection into the joint space, `[width, embed_dim]`, used as `x @ proj`.
    pub proj: Param<Tensor<2>>,
}

impl VisionTransformer {
    /// # Shapes
    /// - `pixels`: `[batch, 3, image_size, image_size]`, normalised
    /// - output: see [`VisionOutput`]
    pub fn forward(&self, pixels: Tensor<4>) -> VisionOutput {
        let [batch, _, _, _] = pixels.dims();
        let patches = self.conv1.forward(pixels); // [batch, width, grid, grid]
        let [_, width, grid_h, grid_w] = patches.dims();
        let patches = patches
            .reshape([batch, width, grid_h * grid_w])
            .swap_dims(1, 2);
        let cls = self
            .class_embedding
            .val()
            .reshape([1, 1, width])
            .expand([batch, 1, width]);
        let x = Tensor::cat(vec![cls, patches], 1) + self.positional_embedding.val().unsqueeze();
        let x = self.ln_pre.forward(x);

        let (x, layer_tokens) = self.transformer.forward_with_taps(x, &PATCH_LAYERS);
        // [batch, 1, width] @ [1, width, embed]: one 1-row product per image, so an
        // image's embedding never depends on the batch it came in.
        let embedding = self
            .ln_post
            .forward(x.narrow(1, 0, 1))
            .matmul(self.proj.val().unsqueeze())
            .squeeze_dim(1);
        VisionOutput {
            embedding,
            layer_tokens,
        }
    }
}

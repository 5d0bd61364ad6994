//! The pre-LayerNorm residual block shared by OpenCLIP's image and text towers.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::attention::{MultiheadAttention, MultiheadAttentionConfig};
use crate::ops::{self, Activation, PackedWeightCache};

/// Configuration for [`ResidualAttentionBlock`].
#[derive(Config, Debug)]
pub struct ResidualAttentionBlockConfig {
    /// Residual stream width.
    pub width: usize,
    /// Attention heads.
    pub heads: usize,
    /// MLP hidden width.
    pub mlp_width: usize,
    /// QuickGELU instead of exact GELU.
    #[config(default = false)]
    pub quick_gelu: bool,
    /// Keep the linear weights packed for the native CPU kernel after their
    /// first use (a second copy of them): worth it for the image tower, which
    /// runs on every image, not for the text tower, which runs once per
    /// new category.
    #[config(default = true)]
    pub pack_weights: bool,
}

impl ResidualAttentionBlockConfig {
    /// A randomly initialised block.
    pub fn init(&self, device: &Device) -> ResidualAttentionBlock {
        ResidualAttentionBlock {
            ln_1: LayerNormConfig::new(self.width).init(device),
            attn: MultiheadAttentionConfig::new(self.width, self.heads)
                .with_pack_weights(self.pack_weights)
                .init(device),
            ln_2: LayerNormConfig::new(self.width).init(device),
            mlp: Mlp {
                c_fc: LinearConfig::new(self.width, self.mlp_width).init(device),
                c_proj: LinearConfig::new(self.mlp_width, self.width).init(device),
                quick_gelu: self.quick_gelu,
                c_fc_packed: PackedWeightCache::new(self.pack_weights),
                c_proj_packed: PackedWeightCache::new(self.pack_weights),
            },
        }
    }
}

/// `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`. Field names are the checkpoint's.
#[derive(Module, Debug)]
pub struct ResidualAttentionBlock {
    /// LayerNorm before attention.
    pub ln_1: LayerNorm,
    /// Self-attention.
    pub attn: MultiheadAttention,
    /// LayerNorm before the MLP.
    pub ln_2: LayerNorm,
    /// Two-layer MLP.
    pub mlp: Mlp,
}

impl ResidualAttentionBlock {
    /// # Shapes
    /// - `x`: `[batch, tokens, width]`, `causal`: hide later tokens
    /// - output: `[batch, tokens, width]`
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let x = self
            .attn
            .forward_residual(self.ln_1.forward(x.clone()), x, causal);
        self.mlp.forward_residual(self.ln_2.forward(x.clone()), x)
    }
}

/// `c_proj(act(c_fc(x)))`, with open_clip's `mlp.c_fc` / `mlp.c_proj` names.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Expansion `width -> mlp_width`.
    pub c_fc: Linear,
    /// Projection back `mlp_width -> width`.
    pub c_proj: Linear,
    quick_gelu: bool,
    /// `c_fc`'s weight packed for the CPU kernel, on first use.
    #[module(skip)]
    c_fc_packed: PackedWeightCache,
    /// `c_proj`'s weight packed for the CPU kernel, on first use.
    #[module(skip)]
    c_proj_packed: PackedWeightCache,
}

impl Mlp {
    /// `residual + c_proj(act(c_fc(x)))`.
    ///
    /// # Shapes
    /// - `x`, `residual`, output: `[batch, tokens, width]`
    pub fn forward_residual(&self, x: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        let activation = if self.quick_gelu {
            Activation::QuickGelu
        } else {
            Activation::Gelu
        };
        let hidden = ops::linear(&self.c_fc, &self.c_fc_packed, x, activation);
        ops::linear_residual(&self.c_proj, &self.c_proj_packed, hidden, residual)
    }
}

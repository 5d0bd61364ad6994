//! Multi-head self-attention in PyTorch's `nn.MultiheadAttention` layout.
//!
//! PyTorch keeps Q, K and V in one fused `in_proj_weight` `[3W, W]`; here it is
//! one `in_proj` Linear `W -> 3W` (stored transposed, as Burn does), so the
//! checkpoint maps one-to-one after a transpose instead of a three-way split.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::ops::{self, Activation, PackedWeightCache};

/// Configuration for [`MultiheadAttention`].
#[derive(Config, Debug)]
pub struct MultiheadAttentionConfig {
    /// Residual stream width `W`.
    pub width: usize,
    /// Number of heads; must divide `width`.
    pub heads: usize,
    /// Keep the projections' weights packed for the native CPU kernel (see
    /// `ResidualAttentionBlockConfig::pack_weights`).
    #[config(default = true)]
    pub pack_weights: bool,
}

impl MultiheadAttentionConfig {
    /// A randomly initialised attention layer.
    pub fn init(&self, device: &Device) -> MultiheadAttention {
        MultiheadAttention {
            in_proj: LinearConfig::new(self.width, 3 * self.width).init(device),
            out_proj: LinearConfig::new(self.width, self.width).init(device),
            heads: self.heads,
            in_proj_packed: PackedWeightCache::new(self.pack_weights),
            out_proj_packed: PackedWeightCache::new(self.pack_weights),
        }
    }
}

/// Self-attention without dropout; `in_proj` holds Q, K, V in that order.
#[derive(Module, Debug)]
pub struct MultiheadAttention {
    /// Fused Q/K/V projection, checkpoint `attn.in_proj_weight` / `attn.in_proj_bias`.
    pub in_proj: Linear,
    /// Output projection, checkpoint `attn.out_proj.*`.
    pub out_proj: Linear,
    heads: usize,
    /// `in_proj`'s weight packed for the CPU kernel, on first use.
    #[module(skip)]
    in_proj_packed: PackedWeightCache,
    /// `out_proj`'s weight packed for the CPU kernel, on first use.
    #[module(skip)]
    out_proj_packed: PackedWeightCache,
}

impl MultiheadAttention {
    /// `residual + attention(x)`: scaled dot-product self-attention whose output
    /// projection also adds the residual stream.
    ///
    /// # Shapes
    /// - `x`, `residual`: `[batch, tokens, width]`; `causal` hides later tokens (text tower)
    /// - output: `[batch, tokens, width]`
    pub fn forward_residual(&self, x: Tensor<3>, residual: Tensor<3>, causal: bool) -> Tensor<3> {
        let qkv = ops::linear(&self.in_proj, &self.in_proj_packed, x, Activation::None);
        let context = ops::self_attention(qkv, self.heads, causal);
        ops::linear_residual(&self.out_proj, &self.out_proj_packed, context, residual)
    }
}

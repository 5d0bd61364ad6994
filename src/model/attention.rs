//! Multi-head self-attention in PyTorch's `nn.MultiheadAttention` layout.
//!
//! PyTorch keeps Q, K and V in one fused `in_proj_weight` `[3W, W]`; here it is
//! one `in_proj` Linear `W -> 3W` (stored transposed, as Burn does), so the
//! checkpoint maps one-to-one after a transpose instead of a three-way split.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor};

/// Configuration for [`MultiheadAttention`].
#[derive(Config, Debug)]
pub struct MultiheadAttentionConfig {
    /// Residual stream width `W`.
    pub width: usize,
    /// Number of heads; must divide `width`.
    pub heads: usize,
}

impl MultiheadAttentionConfig {
    /// A randomly initialised attention layer.
    pub fn init(&self, device: &Device) -> MultiheadAttention {
        MultiheadAttention {
            in_proj: LinearConfig::new(self.width, 3 * self.width).init(device),
            out_proj: LinearConfig::new(self.width, self.width).init(device),
            heads: self.heads,
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
}

impl MultiheadAttention {
    /// Scaled dot-product self-attention through Burn's fused kernel.
    ///
    /// # Shapes
    /// - `x`: `[batch, tokens, width]`; `causal` hides later tokens (text tower)
    /// - output: `[batch, tokens, width]`
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let [batch, tokens, width] = x.dims();
        let head_width = width / self.heads;
        let split_heads = |t: Tensor<3>| {
            t.reshape([batch, tokens, self.heads, head_width])
                .swap_dims(1, 2)
        };
        let mut qkv = self.in_proj.forward(x).chunk(3, 2);
        let v = split_heads(qkv.pop().expect("three chunks"));
        let k = split_heads(qkv.pop().expect("three chunks"));
        let q = split_heads(qkv.pop().expect("three chunks"));
        let options = AttentionModuleOptions {
            scale: Some((1.0 / head_width as f64).sqrt()),
            softcap: None,
            is_causal: causal,
        };
        let context = attention(q, k, v, None, None, options)
            .swap_dims(1, 2)
            .reshape([batch, tokens, width]);
        self.out_proj.forward(context)
    }
}

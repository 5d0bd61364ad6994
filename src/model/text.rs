//! OpenCLIP's text tower as `InCTRL.encode_text` runs it: causal transformer,
//! `ln_final` on every token, the end-of-text token's features projected by
//! `text_projection`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Int, Tensor};

use super::block::ResidualAttentionBlockConfig;
use super::transformer::{Transformer, TransformerConfig};
use crate::config::{ClipConfig, mlp_width};

/// Configuration for [`TextTransformer`].
#[derive(Config, Debug)]
pub struct TextTransformerConfig {
    /// Token vocabulary size.
    pub vocab_size: usize,
    /// Maximum sequence length.
    pub context_length: usize,
    /// The block stack.
    pub transformer: TransformerConfig,
    /// Width of the projected embedding.
    pub output_dim: usize,
}

impl TextTransformerConfig {
    /// The text tower of an open_clip config.
    pub fn from_clip(clip: &ClipConfig) -> Self {
        let t = &clip.text_cfg;
        let block =
            ResidualAttentionBlockConfig::new(t.width, t.heads, mlp_width(t.width, t.mlp_ratio))
                .with_quick_gelu(clip.quick_gelu)
                .with_pack_weights(false);
        Self::new(
            t.vocab_size,
            t.context_length,
            TransformerConfig::new(block, t.layers),
            clip.embed_dim,
        )
    }

    /// A randomly initialised text tower.
    pub fn init(&self, device: &Device) -> TextTransformer {
        let width = self.transformer.block.width;
        let init = Initializer::Normal {
            mean: 0.0,
            std: (width as f64).powf(-0.5),
        };
        TextTransformer {
            token_embedding: EmbeddingConfig::new(self.vocab_size, width).init(device),
            positional_embedding: init.init([self.context_length, width], device),
            transformer: self.transformer.init(device),
            ln_final: LayerNormConfig::new(width).init(device),
            text_projection: init.init([width, self.output_dim], device),
        }
    }
}

/// The CLIP text tower. Field names are the checkpoint's (top-level keys).
#[derive(Module, Debug)]
pub struct TextTransformer {
    /// Token embedding table, `[vocab_size, width]`.
    pub token_embedding: Embedding,
    /// Position embedding, `[context_length, width]`.
    pub positional_embedding: Param<Tensor<2>>,
    /// The causal residual blocks.
    pub transformer: Transformer,
    /// LayerNorm over every token.
    pub ln_final: LayerNorm,
    /// Projection into the joint space, `[width, embed_dim]`, used as `x @ text_projection`.
    pub text_projection: Param<Tensor<2>>,
}

impl TextTransformer {
    /// Embeds token sequences. Because attention is causal, sequences may be cut
    /// right after their longest end-of-text token without changing the result.
    ///
    /// # Shapes
    /// - `tokens`: `[batch, length]` with `length <= context_length`
    /// - `eot_positions`: `[batch]`, the index of each row's end-of-text token
    /// - output: `[batch, embed_dim]`, not normalised
    pub fn forward(&self, tokens: Tensor<2, Int>, eot_positions: Tensor<1, Int>) -> Tensor<2> {
        let [batch, length] = tokens.dims();
        let device = tokens.device();
        let x = self.token_embedding.forward(tokens)
            + self
                .positional_embedding
                .val()
                .narrow(0, 0, length)
                .unsqueeze();
        let x = self.ln_final.forward(self.transformer.forward(x, true));
        let [_, _, width] = x.dims();
        // Row b of the flattened [batch * length, width] stream at b * length + eot[b].
        let row_starts =
            Tensor::<1, Int>::arange(0..batch as i64, &device).mul_scalar(length as i64);
        let eot_rows = x
            .reshape([batch * length, width])
            .select(0, row_starts + eot_positions);
        eot_rows.matmul(self.text_projection.val())
    }
}

//! A stack of residual attention blocks (`transformer.resblocks.N` in the checkpoint).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::block::{ResidualAttentionBlock, ResidualAttentionBlockConfig};

/// Configuration for [`Transformer`].
#[derive(Config, Debug)]
pub struct TransformerConfig {
    /// The block every layer is built from.
    pub block: ResidualAttentionBlockConfig,
    /// Number of blocks.
    pub layers: usize,
}

impl TransformerConfig {
    /// A randomly initialised stack.
    pub fn init(&self, device: &Device) -> Transformer {
        Transformer {
            resblocks: (0..self.layers).map(|_| self.block.init(device)).collect(),
        }
    }
}

/// The residual blocks, applied in order.
#[derive(Module, Debug)]
pub struct Transformer {
    /// The blocks; index `i` is checkpoint `resblocks.i`.
    pub resblocks: Vec<ResidualAttentionBlock>,
}

impl Transformer {
    /// Runs every block.
    ///
    /// # Shapes
    /// - `x`, output: `[batch, tokens, width]`; `causal` hides later tokens
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        self.resblocks
            .iter()
            .fold(x, |x, block| block.forward(x, causal))
    }

    /// Runs every block and also returns the residual stream after each block
    /// listed in `taps` (1-based, ascending), as InCTRL's `Transformer_Mul` does.
    ///
    /// # Shapes
    /// - `x`, output and every tap: `[batch, tokens, width]`
    pub fn forward_with_taps(&self, x: Tensor<3>, taps: &[usize]) -> (Tensor<3>, Vec<Tensor<3>>) {
        let mut tapped = Vec::with_capacity(taps.len());
        let mut x = x;
        for (index, block) in self.resblocks.iter().enumerate() {
            x = block.forward(x, false);
            if taps.contains(&(index + 1)) {
                tapped.push(x.clone());
            }
        }
        (x, tapped)
    }
}

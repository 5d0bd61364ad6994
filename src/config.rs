//! The open_clip model config (`model_configs/<name>.json`) and the checks that
//! decide whether InCTRL can run on it.
//!
//! Only the fields that change the architecture of a plain OpenCLIP ViT +
//! text transformer are accepted. A key that would select a different
//! architecture (timm or Hugging Face towers, attentional pooling, LayerScale,
//! ...) is rejected by name instead of being silently ignored, because a port
//! that ignores it would load the weights and produce wrong scores.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The number of patches InCTRL's holistic head is trained on (a 15×15 grid).
pub const PATCH_GRID_CELLS: usize = 225;
/// The joint embedding width InCTRL's adapter and image head are trained on.
pub const EMBED_DIM: usize = 640;
/// The 1-based ViT blocks whose outputs feed the patch-level residual map.
pub const PATCH_LAYERS: [usize; 3] = [7, 9, 11];

/// open_clip's `ViT-B-16-plus-240.json`, the backbone of every official InCTRL checkpoint.
pub const VIT_B_16_PLUS_240: &str = r#"{
  "embed_dim": 640,
  "vision_cfg": { "image_size": 240, "layers": 12, "width": 896, "patch_size": 16 },
  "text_cfg": { "context_length": 77, "vocab_size": 49408, "width": 640, "heads": 10, "layers": 12 }
}"#;

/// An open_clip model config, with open_clip's defaults for absent fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipConfig {
    /// Width of the joint image/text embedding space.
    pub embed_dim: usize,
    /// The image tower.
    pub vision_cfg: VisionCfg,
    /// The text tower.
    pub text_cfg: TextCfg,
    /// `x * sigmoid(1.702 x)` instead of exact GELU (OpenAI-trained weights).
    #[serde(default)]
    pub quick_gelu: bool,
    /// Accepted for compatibility with open_clip configs; it changes nothing at inference.
    #[serde(default, skip_serializing)]
    pub custom_text: bool,
}

/// open_clip's `CLIPVisionCfg`, restricted to the plain ViT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionCfg {
    /// Number of transformer blocks.
    #[serde(default = "default_layers")]
    pub layers: usize,
    /// Residual stream width.
    #[serde(default = "default_vision_width")]
    pub width: usize,
    /// Width of one attention head; the head count is `width / head_width`.
    #[serde(default = "default_head_width")]
    pub head_width: usize,
    /// MLP hidden width as a multiple of `width`.
    #[serde(default = "default_mlp_ratio")]
    pub mlp_ratio: f64,
    /// Side of a square patch in pixels.
    #[serde(default = "default_patch_size")]
    pub patch_size: usize,
    /// Side of the square input image in pixels.
    #[serde(default = "default_image_size")]
    pub image_size: usize,
}

/// open_clip's `CLIPTextCfg`, restricted to the plain causal transformer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextCfg {
    /// Maximum number of tokens, including start and end markers.
    #[serde(default = "default_context_length")]
    pub context_length: usize,
    /// Size of the token vocabulary.
    #[serde(default = "default_vocab_size")]
    pub vocab_size: usize,
    /// Residual stream width.
    #[serde(default = "default_text_width")]
    pub width: usize,
    /// Number of attention heads.
    #[serde(default = "default_text_heads")]
    pub heads: usize,
    /// Number of transformer blocks.
    #[serde(default = "default_layers")]
    pub layers: usize,
    /// MLP hidden width as a multiple of `width`.
    #[serde(default = "default_mlp_ratio")]
    pub mlp_ratio: f64,
}

fn default_layers() -> usize {
    12
}
fn default_vision_width() -> usize {
    768
}
fn default_head_width() -> usize {
    64
}
fn default_mlp_ratio() -> f64 {
    4.0
}
fn default_patch_size() -> usize {
    16
}
fn default_image_size() -> usize {
    224
}
fn default_context_length() -> usize {
    77
}
fn default_vocab_size() -> usize {
    49408
}
fn default_text_width() -> usize {
    512
}
fn default_text_heads() -> usize {
    8
}

/// The paper's model: ViT-B/16+ at 240 px, the config of the official checkpoints.
impl Default for ClipConfig {
    fn default() -> Self {
        Self::vit_b_16_plus_240()
    }
}

impl ClipConfig {
    /// The config of the official InCTRL checkpoints.
    pub fn vit_b_16_plus_240() -> Self {
        Self::from_json(VIT_B_16_PLUS_240).expect("the built-in config is valid")
    }

    /// Parses and validates an open_clip JSON config.
    pub fn from_json(json: &str) -> Result<Self> {
        let config: Self = serde_json::from_str(json)
            .map_err(|e| Error::Config(format!("not a usable open_clip model config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// The config as JSON, as stored in a bundle.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a config always serialises")
    }

    /// Number of patches along one side of the image.
    pub fn grid_side(&self) -> usize {
        self.vision_cfg.image_size / self.vision_cfg.patch_size
    }

    /// Vision attention heads.
    pub fn vision_heads(&self) -> usize {
        self.vision_cfg.width / self.vision_cfg.head_width
    }

    fn validate(&self) -> Result<()> {
        let v = &self.vision_cfg;
        let t = &self.text_cfg;
        let misfit = |what: String| Err(Error::Config(what));
        if self.embed_dim != EMBED_DIM {
            return misfit(format!(
                "embed_dim is {} but InCTRL's heads need {EMBED_DIM}",
                self.embed_dim
            ));
        }
        if v.patch_size == 0 || !v.image_size.is_multiple_of(v.patch_size) {
            return misfit(format!(
                "vision_cfg.image_size {} is not a multiple of patch_size {}",
                v.image_size, v.patch_size
            ));
        }
        if self.grid_side() * self.grid_side() != PATCH_GRID_CELLS {
            return misfit(format!(
                "the patch grid is {0}x{0} but InCTRL's holistic head needs 15x15 \
                 (image_size / patch_size = 15)",
                self.grid_side()
            ));
        }
        if v.head_width == 0 || !v.width.is_multiple_of(v.head_width) {
            return misfit(format!(
                "vision_cfg.width {} is not a multiple of head_width {}",
                v.width, v.head_width
            ));
        }
        if v.layers < PATCH_LAYERS[2] {
            return misfit(format!(
                "vision_cfg.layers is {} but InCTRL reads blocks 7, 9 and 11",
                v.layers
            ));
        }
        if t.heads == 0 || !t.width.is_multiple_of(t.heads) {
            return misfit(format!(
                "text_cfg.width {} is not a multiple of heads {}",
                t.width, t.heads
            ));
        }
        if t.context_length < 3 || t.layers == 0 || t.vocab_size == 0 {
            return misfit("text_cfg needs context_length >= 3, layers > 0, vocab_size > 0".into());
        }
        Ok(())
    }
}

/// MLP hidden width for a tower, rounded as open_clip does (`int(width * mlp_ratio)`).
pub fn mlp_width(width: usize, mlp_ratio: f64) -> usize {
    (width as f64 * mlp_ratio) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_config_has_official_sizes() {
        let c = ClipConfig::vit_b_16_plus_240();
        assert_eq!(c.vision_cfg.width, 896);
        assert_eq!(c.vision_heads(), 14);
        assert_eq!(mlp_width(c.vision_cfg.width, c.vision_cfg.mlp_ratio), 3584);
        assert_eq!(c.text_cfg.heads, 10);
        assert_eq!(c.grid_side(), 15);
    }

    #[test]
    fn round_trips_through_json() {
        let c = ClipConfig::vit_b_16_plus_240();
        assert_eq!(ClipConfig::from_json(&c.to_json()).unwrap(), c);
    }

    #[test]
    fn rejects_configs_that_do_not_fit() {
        let wrong_grid = VIT_B_16_PLUS_240.replace("\"image_size\": 240", "\"image_size\": 224");
        let err = ClipConfig::from_json(&wrong_grid).unwrap_err().to_string();
        assert!(err.contains("14x14"), "{err}");

        let wrong_embed = VIT_B_16_PLUS_240.replace("\"embed_dim\": 640", "\"embed_dim\": 512");
        let err = ClipConfig::from_json(&wrong_embed).unwrap_err().to_string();
        assert!(err.contains("embed_dim is 512"), "{err}");

        let timm = VIT_B_16_PLUS_240.replace(
            "\"patch_size\": 16",
            "\"patch_size\": 16, \"timm_model_name\": \"vit\"",
        );
        let err = ClipConfig::from_json(&timm).unwrap_err().to_string();
        assert!(err.contains("timm_model_name"), "{err}");

        let err = ClipConfig::from_json("{\"embed_dim\": ")
            .unwrap_err()
            .to_string();
        assert!(err.contains("open_clip model config"), "{err}");
    }
}

//! # inctrl
//!
//! InCTRL (Zhu & Pang, CVPR 2024, "Toward Generalist Anomaly Detection via
//! In-context Residual Learning with Few-shot Sample Prompts") in Rust with Burn.
//! A frozen CLIP ViT-B/16+ encodes a few normal prompt images and a query; the
//! anomaly score combines patch-level residuals, an image-level residual and a
//! text prior for the category name.
//!
//! ```no_run
//! use inctrl::{Detector, preprocess_image};
//! # fn main() -> inctrl::Result<()> {
//! let device = burn::tensor::Device::flex();
//! // A `.bpk` bundle, or an official `checkpoint.pyth` (ViT-B/16+ 240 px by default).
//! let mut detector = Detector::open("checkpoint.pyth".as_ref(), None, &device)?;
//! let size = detector.config().vision_cfg.image_size as u32;
//! let read = |path: &str| -> inctrl::Result<_> {
//!     let bytes = std::fs::read(path).map_err(|e| inctrl::Error::io(path, e))?;
//!     preprocess_image(&bytes, size).map_err(|e| inctrl::Error::image(path, e))
//! };
//! let prompts = detector.encode_prompts(&[read("good_1.png")?, read("good_2.png")?])?;
//! let category = detector.category("metal_nut")?;
//! let scores = detector.score_blocking(&category, &prompts, &[read("query.png")?])?;
//! println!("anomaly score {}", scores[0].score);
//! # Ok(())
//! # }
//! ```
//!
//! The modules hold the parts for other front ends: [`weights`] (checkpoints,
//! bundles, conversion), [`preprocess`] (the Pillow-exact image pipeline),
//! [`text`] (tokenizer, prompt templates, prototype tables), [`model`] (the
//! network) and [`eval`] (the paper's evaluation protocol); [`calibrate`]
//! (thresholds from normal images alone) and [`maps`] (anomaly maps at image
//! resolution) turn scores into decisions and locations.

pub mod calibrate;
pub mod config;
mod cpu_kernel;
mod detector;
mod error;
pub mod eval;
pub mod maps;
pub mod model;
pub(crate) mod ops;
mod precision;
pub mod preprocess;
pub mod text;
#[cfg(not(target_family = "wasm"))]
pub mod train;
mod transfers;
#[cfg(target_family = "wasm")]
mod web;
pub mod weights;

pub use config::ClipConfig;
pub use cpu_kernel::cpu_matrix_kernel;
pub use detector::{Category, Detector, PromptSet, Score};
pub use error::{Error, Result};
pub use precision::ComputePrecision;
pub use preprocess::{CropGeometry, Pixels, PreprocessError, preprocess_image};
pub use transfers::Transfers;
pub use weights::{Precision, WeightsFormat};

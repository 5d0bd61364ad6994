//! # inctrl
//!
//! InCTRL (Zhu & Pang, CVPR 2024, "Toward Generalist Anomaly Detection via
//! In-context Residual Learning with Few-shot Sample Prompts") in Rust with Burn.
//! A frozen CLIP ViT-B/16+ encodes a few normal prompt images and a query; the
//! anomaly score combines patch-level residuals, an image-level residual and a
//! text prior for the category name.

pub mod bundle;
pub mod checkpoint;
pub mod config;
pub mod convert;
pub mod detector;
pub mod error;
pub mod eval;
pub mod model;
pub mod ops;
pub mod preprocess;
pub mod text;
#[cfg(target_family = "wasm")]
pub mod web;
pub mod weights;

pub use error::{Error, Result};

//! Weights I/O: recognising a file ([`WeightsFormat`]), reading official
//! checkpoints ([`checkpoint`]), mapping their keys onto the model,
//! and inctrl's own `.bpk` bundles ([`bundle`], written by [`convert`]).

pub mod bundle;
pub mod checkpoint;
pub mod convert;
mod format;
pub(crate) mod keys;

pub use bundle::Precision;
pub use checkpoint::Checkpoint;
pub use format::{SNIFF_LEN, WeightsFormat};

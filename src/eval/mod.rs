//! The paper's evaluation protocol, for any front end: reading a dataset
//! ([`dataset`]), drawing prompts reproducibly ([`split`]), a resumable scores
//! file ([`journal`]), scikit-learn's metrics ([`metrics`]) and the report
//! over seeds and categories ([`report`]); for pixel-level evaluation, the
//! ground-truth masks ([`masks`]), their connected regions ([`regions`]) and
//! pixel AUROC / AUPRO ([`pixel`]). `inctrl eval` is one user of it.

#[cfg(not(target_family = "wasm"))]
pub mod dataset;
#[cfg(not(target_family = "wasm"))]
pub mod journal;
#[cfg(not(target_family = "wasm"))]
pub mod masks;
pub mod metrics;
pub mod pixel;
pub mod regions;
#[cfg(not(target_family = "wasm"))]
pub mod report;
pub mod split;

//! The paper's evaluation protocol, for any front end: reading a dataset
//! ([`dataset`]), drawing prompts reproducibly ([`split`]), a resumable scores
//! file ([`journal`]), scikit-learn's metrics ([`metrics`]) and the report
//! over seeds and categories ([`report`]). `inctrl eval` is one user of it.

#[cfg(not(target_family = "wasm"))]
pub mod dataset;
#[cfg(not(target_family = "wasm"))]
pub mod journal;
pub mod metrics;
pub mod report;
pub mod split;

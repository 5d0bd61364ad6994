//! Evaluation building blocks shared by `inctrl eval` and `inctrl prepare`:
//! scikit-learn's metrics and numpy's reproducible splits.

pub mod metrics;
pub mod split;

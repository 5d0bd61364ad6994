//! Training InCTRL's adapter and heads on auxiliary data, as the original's
//! `main.py` does (spec §4), with per-sample batches instead of its b > 1
//! mixing (§4.1). The CLIP towers are frozen, so their outputs are computed
//! once ([`cache`]); each step then runs the patch comparison, the adapter
//! and the heads ([`heads`]) under Burn's autodiff, with the original's loss
//! ([`loss`]), batches ([`sampler`]) and AdamW ([`trainer`]). `inctrl train`
//! drives it. Native only.

pub mod cache;
pub mod heads;
pub mod loss;
pub mod sampler;
pub mod trainer;
pub mod validate;

pub use cache::{CacheEntry, CachePrecision, FeatureCache};
pub use heads::{TrainBatch, TrainOutput, TrainableHeads};
pub use sampler::{BalancedSampler, Sample, TrainImage};
pub use trainer::{StepLosses, TrainConfig, Trainer, assemble_batch};
pub use validate::{ValidationCategory, validate};

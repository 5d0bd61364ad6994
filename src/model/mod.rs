//! The networks: CLIP towers, InCTRL heads and the InCTRL model that ties them.

pub mod attention;
pub mod block;
pub mod heads;
pub mod inctrl;
pub mod text;
pub mod transformer;
pub mod vision;

pub use inctrl::{Inctrl, InctrlConfig, InctrlOutput, PromptFeatures};

//! The text side of InCTRL: prompt texts for a category, their tokens, and the
//! table of normal/anomaly prototypes the text tower makes from them.

pub mod prompts;
pub mod table;
pub mod tokenizer;

pub use table::{BUILT_IN_CATEGORIES, TextTable};

//! The text side of InCTRL: prompt texts for a category, their tokens, the
//! prototypes the text tower makes from them, and the table of precomputed ones.

pub mod prompts;
mod prototypes;
pub mod table;
pub mod tokenizer;

pub(crate) use prototypes::category_prototypes;
pub use table::{TextTable, built_in_categories};

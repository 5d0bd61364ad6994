//! Category text prototypes, looked up by name.
//!
//! Two names share prototypes exactly when the original would build identical
//! token sequences for them: underscores become spaces, and (except for the
//! case-sensitive one-prompt names) the tokenizer lowercases and collapses
//! whitespace. So `metal_nut`, `metal nut` and `Metal_Nut` are one entry.

use super::prompts::{ONE_PROMPT_NAMES, is_one_prompt, object_name};

/// The dataset categories of the original code: MVTec AD, VisA, ELPV, SDD,
/// AITEX, BrainMRI, HeadCT.
const DATASET_CATEGORIES: [&str; 32] = [
    "bottle",
    "cable",
    "capsule",
    "carpet",
    "grid",
    "hazelnut",
    "leather",
    "metal_nut",
    "pill",
    "screw",
    "tile",
    "toothbrush",
    "transistor",
    "wood",
    "zipper", // MVTec AD
    "candle",
    "capsules",
    "cashew",
    "chewinggum",
    "fryum",
    "macaroni1",
    "macaroni2",
    "pcb1",
    "pcb2",
    "pcb3",
    "pcb4",
    "pipe_fryum", // VisA
    "elpv",
    "SDD",
    "AITEX",
    "brainmri",
    "headct", // other industrial and medical sets
];

/// The categories whose prototypes every bundle carries: the names the original
/// code uses for its datasets, the CIFAR-10 classes and their `animal` (the
/// one-prompt names), plus `object` for anything else.
pub fn built_in_categories() -> impl Iterator<Item = &'static str> {
    DATASET_CATEGORIES
        .into_iter()
        .chain(ONE_PROMPT_NAMES)
        .chain(["object"])
}

/// The lookup key of a category name (see the module docs). One-prompt names
/// are marked so that `cat` (one prompt) and `Cat` (all templates) stay apart.
pub fn category_key(name: &str) -> String {
    let object = object_name(name);
    if is_one_prompt(name) {
        format!("one-prompt:{object}")
    } else {
        object
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }
}

/// Normal and anomaly prototypes for a set of categories.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextTable {
    /// `(name as given, key, [normal ‖ anomaly])`, in insertion order.
    entries: Vec<(String, String, Vec<f32>)>,
}

impl TextTable {
    /// The prototypes of `name` (`2 × embed_dim` values, normal first), if present.
    pub fn get(&self, name: &str) -> Option<&[f32]> {
        let key = category_key(name);
        self.entries
            .iter()
            .find(|(_, k, _)| *k == key)
            .map(|(_, _, p)| p.as_slice())
    }

    /// Adds or replaces the prototypes of `name`.
    pub fn insert(&mut self, name: &str, prototypes: Vec<f32>) {
        let key = category_key(name);
        self.entries.retain(|(_, k, _)| *k != key);
        self.entries.push((name.to_owned(), key, prototypes));
    }

    /// Category names, in insertion order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _, _)| name.as_str())
    }

    /// Number of categories.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All prototypes back to back, `[categories, 2, embed_dim]` row-major.
    pub fn flat_values(&self) -> Vec<f32> {
        self.entries
            .iter()
            .flat_map(|(_, _, p)| p.iter().copied())
            .collect()
    }

    /// Rebuilds a table from names and back-to-back prototypes.
    pub fn from_flat(names: &[String], values: &[f32]) -> Option<Self> {
        if names.is_empty() || !values.len().is_multiple_of(names.len()) {
            return (names.is_empty() && values.is_empty()).then(Self::default);
        }
        let width = values.len() / names.len();
        let mut table = Self::default();
        for (name, prototypes) in names.iter().zip(values.chunks_exact(width)) {
            table.insert(name, prototypes.to_vec());
        }
        Some(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_names_share_an_entry() {
        let mut table = TextTable::default();
        table.insert("metal_nut", vec![1.0, 2.0]);
        assert_eq!(table.get("metal nut"), Some(&[1.0, 2.0][..]));
        assert_eq!(table.get("Metal_Nut"), Some(&[1.0, 2.0][..]));
        table.insert("cat", vec![3.0, 4.0]);
        assert_eq!(
            table.get("Cat"),
            None,
            "one-prompt names are case-sensitive"
        );
        assert_eq!(table.names().collect::<Vec<_>>(), ["metal_nut", "cat"]);
    }

    #[test]
    fn round_trips_through_flat_values() {
        let mut table = TextTable::default();
        table.insert("SDD", vec![1.0, 2.0, 3.0, 4.0]);
        table.insert("pcb1", vec![5.0, 6.0, 7.0, 8.0]);
        let names: Vec<String> = table.names().map(str::to_owned).collect();
        assert_eq!(
            TextTable::from_flat(&names, &table.flat_values()),
            Some(table)
        );
        assert_eq!(TextTable::from_flat(&names, &[1.0, 2.0, 3.0]), None);
    }
}

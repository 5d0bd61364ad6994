//! The text prompts InCTRL builds for a category name (`open_clip/model.py`,
//! L104-156 of the original).

/// Category names that get the one-prompt form instead of the 7+4 states × 22 templates.
pub(crate) const ONE_PROMPT_NAMES: [&str; 11] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
    "animal",
];

const NORMAL_STATES: [&str; 7] = [
    "{}",
    "flawless {}",
    "perfect {}",
    "unblemished {}",
    "{} without flaw",
    "{} without defect",
    "{} without damage",
];

const ANOMALY_STATES: [&str; 4] = [
    "damaged {}",
    "{} with flaw",
    "{} with defect",
    "{} with damage",
];

const TEMPLATES: [&str; 22] = [
    "a cropped photo of the {}.",
    "a cropped photo of a {}.",
    "a close-up photo of a {}.",
    "a close-up photo of the {}.",
    "a bright photo of a {}.",
    "a bright photo of the {}.",
    "a dark photo of a {}.",
    "a dark photo of the {}.",
    "a jpeg corrupted photo of a {}.",
    "a jpeg corrupted photo of the {}.",
    "a blurry photo of the {}.",
    "a blurry photo of a {}.",
    "a photo of the {}.",
    "a photo of a {}.",
    "a photo of a small {}.",
    "a photo of the small {}.",
    "a photo of a large {}.",
    "a photo of the large {}.",
    "a photo of a {} for visual inspection.",
    "a photo of the {} for visual inspection.",
    "a photo of a {} for anomaly detection.",
    "a photo of the {} for anomaly detection.",
];

/// The normal and anomalous prompt texts for one category.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryPrompts {
    /// Prompts describing a normal object (154, or 1 for the one-prompt names).
    pub normal: Vec<String>,
    /// Prompts describing an anomalous object (88, or 1).
    pub anomaly: Vec<String>,
}

/// The object name as the original puts it into prompts: underscores become spaces.
pub fn object_name(category: &str) -> String {
    category.replace('_', " ")
}

/// Whether `category` gets the one-prompt form (CIFAR-10 class names and `animal`).
pub fn is_one_prompt(category: &str) -> bool {
    ONE_PROMPT_NAMES.contains(&object_name(category).as_str())
}

/// Builds the prompts for `category`, states outer and templates inner, as the original does.
pub fn category_prompts(category: &str) -> CategoryPrompts {
    let object = object_name(category);
    if is_one_prompt(category) {
        return CategoryPrompts {
            normal: vec![format!("a photo of {object} for anomaly detection.")],
            anomaly: vec![format!("a photo without {object} for anomaly detection.")],
        };
    }
    let expand = |states: &[&str]| {
        states
            .iter()
            .flat_map(|state| {
                let described = state.replace("{}", &object);
                TEMPLATES.iter().map(move |t| t.replace("{}", &described))
            })
            .collect()
    };
    CategoryPrompts {
        normal: expand(&NORMAL_STATES),
        anomaly: expand(&ANOMALY_STATES),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn general_categories_get_all_templates() {
        let p = category_prompts("metal_nut");
        assert_eq!((p.normal.len(), p.anomaly.len()), (154, 88));
        assert_eq!(p.normal[0], "a cropped photo of the metal nut.");
        assert_eq!(p.anomaly[1], "a cropped photo of a damaged metal nut.");
        assert_eq!(
            p.normal[153],
            "a photo of the metal nut without damage for anomaly detection."
        );
    }

    #[test]
    fn cifar_names_get_one_prompt() {
        let p = category_prompts("cat");
        assert_eq!(p.normal, ["a photo of cat for anomaly detection."]);
        assert_eq!(p.anomaly, ["a photo without cat for anomaly detection."]);
        assert!(
            !is_one_prompt("Cat"),
            "the original compares names case-sensitively"
        );
    }
}

//! The tokenizer and prompt builder against the ids the original produced.

mod common;

use std::collections::BTreeMap;

use inctrl::text::prompts::category_prompts;
use inctrl::text::tokenizer::ClipTokenizer;
use serde::Deserialize;

#[derive(Deserialize)]
struct PromptIds {
    texts: Vec<String>,
    ids: Vec<Vec<u32>>,
}

#[test]
fn prompts_and_token_ids_match_the_original_exactly() {
    let path = common::fixture("tokens.json");
    let expected: BTreeMap<String, BTreeMap<String, PromptIds>> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let tokenizer = ClipTokenizer::new();
    let mut checked = 0;
    for (category, kinds) in &expected {
        let prompts = category_prompts(category);
        for (kind, reference) in kinds {
            let texts = match kind.as_str() {
                "normal" => &prompts.normal,
                "anomaly" => &prompts.anomaly,
                other => panic!("unknown prompt kind {other}"),
            };
            assert_eq!(texts, &reference.texts, "{category}/{kind} prompt texts");
            for (text, ids) in texts.iter().zip(&reference.ids) {
                assert_eq!(
                    &tokenizer.tokenize(text, ids.len()).ids,
                    ids,
                    "token ids of '{text}'"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(
        checked,
        2 * (154 + 88) + 2,
        "every prompt of candle, metal_nut and cat"
    );
}

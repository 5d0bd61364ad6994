//! A category's text prototypes computed with the text tower: the normalised
//! mean embedding of its "normal" prompts and of its "anomalous" prompts.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::prompts::category_prompts;
use super::tokenizer::ClipTokenizer;
use crate::model::Inctrl;
use crate::transfers::upload;

/// `[2, embed_dim]`: the normal prototype, then the anomaly prototype of
/// `category`; `None` when `model` has no text tower.
pub(crate) fn category_prototypes(
    model: &Inctrl,
    tokenizer: &ClipTokenizer,
    context: usize,
    category: &str,
    device: &Device,
) -> Option<Tensor<2>> {
    let prompts = category_prompts(category);
    let normal = prompt_prototype(model, tokenizer, context, &prompts.normal, device)?;
    let anomaly = prompt_prototype(model, tokenizer, context, &prompts.anomaly, device)?;
    Some(Tensor::stack(vec![normal, anomaly], 0))
}

/// The normalised mean text embedding of `texts`, `[embed_dim]`.
fn prompt_prototype(
    model: &Inctrl,
    tokenizer: &ClipTokenizer,
    context: usize,
    texts: &[String],
    device: &Device,
) -> Option<Tensor<1>> {
    let tokenized: Vec<_> = texts
        .iter()
        .map(|t| tokenizer.tokenize(t, context))
        .collect();
    // The causal mask makes everything after the last end-of-text token irrelevant.
    let length = tokenized.iter().map(|t| t.eot + 1).max().unwrap_or(1);
    let ids: Vec<i64> = tokenized
        .iter()
        .flat_map(|t| t.ids[..length].iter().map(|&id| i64::from(id)))
        .collect();
    let eots: Vec<i64> = tokenized.iter().map(|t| t.eot as i64).collect();
    let tokens = upload::<2, Int>(TensorData::new(ids, [texts.len(), length]), device);
    let eots = upload::<1, Int>(TensorData::new(eots, [texts.len()]), device);
    model.text_prototype(tokens, eots)
}

//! End-to-end parity with the original implementation: every tensor of
//! `expected.safetensors`, from image files through preprocessing, the towers,
//! the text prototypes and every score, for the checkpoint and for bundles.
//!
//! Tolerances (float32): 1e-6 absolute on scores and maps, 1e-4 relative on
//! embeddings, 0 on pixels.

mod common;

use std::collections::BTreeSet;

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use common::*;
use inctrl::Detector;
use inctrl::text::prompts::category_prompts;
use inctrl::text::tokenizer::ClipTokenizer;
use inctrl::weights::bundle::Precision;
use inctrl::weights::convert::{build_text_table, bundle_categories, bundle_writer};
use inctrl::{Pixels, preprocess_image};

const SCORE_TOLERANCE: f32 = 1e-6;
const EMBEDDING_TOLERANCE: f32 = 1e-4;

/// Compares computed tensors with the reference and remembers which were checked.
struct Checker {
    expected: Expected,
    checked: BTreeSet<String>,
    worst_score: f32,
    worst_embedding: f32,
}

impl Checker {
    fn new() -> Self {
        Self {
            expected: Expected::load(),
            checked: BTreeSet::new(),
            worst_score: 0.0,
            worst_embedding: 0.0,
        }
    }

    fn score(&mut self, key: &str, actual: &[f32]) {
        let diff = max_abs_diff(actual, &self.expected.get(key));
        assert!(
            diff <= SCORE_TOLERANCE,
            "{key}: max abs difference {diff:e}"
        );
        self.worst_score = self.worst_score.max(diff);
        self.checked.insert(key.to_owned());
    }

    fn embedding(&mut self, key: &str, actual: &[f32]) {
        let diff = max_rel_diff(actual, &self.expected.get(key));
        assert!(
            diff <= EMBEDDING_TOLERANCE,
            "{key}: max relative difference {diff:e}"
        );
        self.worst_embedding = self.worst_embedding.max(diff);
        self.checked.insert(key.to_owned());
    }

    fn exact(&mut self, key: &str, actual: &[f32]) {
        assert_eq!(max_abs_diff(actual, &self.expected.get(key)), 0.0, "{key}");
        self.checked.insert(key.to_owned());
    }

    /// Asserts that every reference tensor was compared, except those named in `skipped`.
    fn assert_complete(&self, skipped: impl Fn(&str) -> bool) {
        let unchecked: Vec<String> = self
            .expected
            .keys()
            .into_iter()
            .filter(|k| !self.checked.contains(k) && !skipped(k))
            .collect();
        assert!(
            unchecked.is_empty(),
            "reference tensors never compared: {unchecked:?}"
        );
        println!(
            "{} tensors: worst score diff {:e}, worst embedding rel diff {:e}",
            self.checked.len(),
            self.worst_score,
            self.worst_embedding
        );
    }
}

fn pixels(image: &str) -> Pixels {
    let size = tiny_config().vision_cfg.image_size as u32;
    preprocess_image(&std::fs::read(image_path(image)).unwrap(), size).unwrap()
}

/// The unnormalised text embedding of one prompt, through the text tower alone.
fn text_embedding(detector: &Detector, text: &str) -> Vec<f32> {
    let context = detector.config().text_cfg.context_length;
    let tokens = ClipTokenizer::new().tokenize(text, context);
    let device = detector.device();
    let ids: Vec<i64> = tokens.ids.iter().map(|&i| i64::from(i)).collect();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, context]), device);
    let eot = Tensor::<1, Int>::from_data(TensorData::new(vec![tokens.eot as i64], [1]), device);
    let embedding = detector.model().text.as_ref().unwrap().forward(ids, eot);
    values(embedding)
}

/// Runs every case through `detector` and compares every intermediate.
fn check_every_tensor(detector: &mut Detector, checker: &mut Checker) {
    let cases = cases();
    for image in &cases.images {
        checker.exact(&format!("pixels/{image}"), pixels(image).values());
    }
    for (index, case) in cases.cases.iter().enumerate() {
        let category = detector.category(&case.category).unwrap();
        let prototypes = pollster::block_on(detector.prototype_values(&category)).unwrap();
        let (normal, anomaly) = prototypes.split_at(prototypes.len() / 2);
        checker.embedding(&format!("text/{}/normal", case.category), normal);
        checker.embedding(&format!("text/{}/anomaly", case.category), anomaly);
        if detector.has_text_tower() {
            let first = &category_prompts(&case.category).normal[0];
            checker.embedding(
                &format!("text/{}/normal_first", case.category),
                &text_embedding(detector, first),
            );
        }

        let prompt_pixels: Vec<_> = case.prompts.iter().map(|p| pixels(p)).collect();
        let prompts = detector.encode_prompts(&prompt_pixels).unwrap();
        let adapted_mean = values(prompts.features().adapted_mean.clone());
        checker.embedding(&format!("case{index}/prompt_adapted_mean"), &adapted_mean);

        let queries: Vec<_> = case.queries.iter().map(|q| pixels(&q.image)).collect();
        let out = detector.forward(&category, &prompts, &queries).unwrap();
        let tokens = out
            .layer_tokens
            .iter()
            .map(|t| t.clone().narrow(0, 0, 1).flatten::<2>(0, 1));
        let [t7, t9, t11] = tokens.collect::<Vec<_>>().try_into().unwrap();
        let column = |t: Tensor<1>| t.unsqueeze_dim::<2>(1);
        let [
            embedding,
            patch_map,
            patch_max,
            cosines,
            text_score,
            residual,
            image_score,
            holistic_map,
            holistic_score,
            final_score,
            t7,
            t9,
            t11,
        ] = [
            out.embedding,
            out.patch_map,
            column(out.patch_max),
            out.text_cosines,
            column(out.text_score),
            out.residual,
            column(out.image_score),
            out.holistic_map,
            column(out.holistic_score),
            column(out.final_score),
            t7,
            t9,
            t11,
        ]
        .map(values);
        let row = |values: &[f32], i: usize| {
            let width = values.len() / queries.len();
            values[i * width..(i + 1) * width].to_vec()
        };
        for (i, query) in case.queries.iter().enumerate() {
            let key = &query.key;
            checker.embedding(&format!("{key}/embedding"), &row(&embedding, i));
            checker.embedding(&format!("{key}/residual"), &row(&residual, i));
            checker.score(&format!("{key}/patch_map"), &row(&patch_map, i));
            checker.score(&format!("{key}/patch_max"), &row(&patch_max, i));
            checker.score(&format!("{key}/cos_normal"), &row(&cosines, i)[..1]);
            checker.score(&format!("{key}/cos_anomaly"), &row(&cosines, i)[1..]);
            checker.score(&format!("{key}/text_score"), &row(&text_score, i));
            checker.score(&format!("{key}/image_score"), &row(&image_score, i));
            checker.score(&format!("{key}/holistic_map"), &row(&holistic_map, i));
            checker.score(&format!("{key}/holistic_score"), &row(&holistic_score, i));
            checker.score(&format!("{key}/final"), &row(&final_score, i));
        }
        let first = &case.queries[0].key;
        checker.embedding(&format!("{first}/tokens_layer7"), &t7);
        checker.embedding(&format!("{first}/tokens_layer9"), &t9);
        checker.embedding(&format!("{first}/tokens_layer11"), &t11);
    }
}

fn checkpoint_detector(file: &str) -> Detector {
    Detector::from_checkpoint(open_checkpoint(file), tiny_config(), &Device::flex()).unwrap()
}

/// Converts `model.pyth` into bundle bytes, as `inctrl convert` does.
fn bundle_bytes(precision: Precision, with_text: bool) -> Vec<u8> {
    let mut detector = checkpoint_detector("model.pyth");
    let table = pollster::block_on(build_text_table(
        &mut detector,
        &bundle_categories(&[]),
        |_, _| (),
    ))
    .unwrap();
    let writer = bundle_writer(&detector, &table, precision, with_text).unwrap();
    writer.into_bytes().unwrap().to_vec()
}

#[test]
fn pyth_checkpoint_matches_every_reference_tensor() {
    let mut checker = Checker::new();
    check_every_tensor(&mut checkpoint_detector("model.pyth"), &mut checker);
    checker.assert_complete(|_| false);
}

#[test]
fn safetensors_checkpoint_matches_every_reference_tensor() {
    let mut checker = Checker::new();
    check_every_tensor(&mut checkpoint_detector("model.safetensors"), &mut checker);
    checker.assert_complete(|_| false);
}

#[test]
fn f32_bundle_with_text_tower_matches_every_reference_tensor() {
    let mut detector =
        Detector::from_bundle_bytes(bundle_bytes(Precision::F32, true), &Device::flex()).unwrap();
    let mut checker = Checker::new();
    check_every_tensor(&mut detector, &mut checker);
    checker.assert_complete(|_| false);
}

#[test]
fn f32_bundle_without_text_tower_matches_from_its_table() {
    let mut detector =
        Detector::from_bundle_bytes(bundle_bytes(Precision::F32, false), &Device::flex()).unwrap();
    assert!(!detector.has_text_tower());
    let mut checker = Checker::new();
    check_every_tensor(&mut detector, &mut checker);
    checker.assert_complete(|key| key.ends_with("/normal_first"));

    let err = detector.category("hot_dog").unwrap_err().to_string();
    assert!(
        err.contains("'hot_dog'") && err.contains("--with-text"),
        "{err}"
    );
}

#[test]
fn half_bundle_final_scores_are_within_1e_3_of_f32() {
    let full = bundle_bytes(Precision::F32, false);
    let half = bundle_bytes(Precision::F16, false);
    let reader = burn_store::burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(
        half.clone(),
    ))
    .unwrap();
    let tensors = reader.into_tensors().unwrap();
    for tensor in &tensors {
        let expected = if tensor.name.starts_with("visual.") {
            DType::F16
        } else {
            DType::F32
        };
        assert_eq!(tensor.dtype, expected, "{} storage type", tensor.name);
    }
    assert!(
        half.len() < full.len(),
        "f16 bundle is {} bytes vs {}",
        half.len(),
        full.len()
    );
    let mut detector = Detector::from_bundle_bytes(half, &Device::flex()).unwrap();
    let expected = Expected::load();
    let mut worst = 0.0f32;
    for case in cases().cases {
        let category = detector.category(&case.category).unwrap();
        let prompt_pixels: Vec<_> = case.prompts.iter().map(|p| pixels(p)).collect();
        let prompts = detector.encode_prompts(&prompt_pixels).unwrap();
        let queries: Vec<_> = case.queries.iter().map(|q| pixels(&q.image)).collect();
        let scores = pollster::block_on(detector.score(&category, &prompts, &queries)).unwrap();
        for (query, score) in case.queries.iter().zip(scores) {
            let diff = (score.score - expected.get(&format!("{}/final", query.key))[0]).abs();
            assert!(diff <= 1e-3, "{}: f16 final score off by {diff}", query.key);
            worst = worst.max(diff);
        }
    }
    println!("f16 bundle: worst final-score difference {worst:e}");
}

#[test]
fn streamed_bundle_matches_every_reference_tensor() {
    let checkpoint = std::sync::Arc::new(open_checkpoint("model.pyth"));
    let writer =
        inctrl::weights::convert::stream_bundle(checkpoint, &tiny_config(), Precision::F32)
            .unwrap();
    let bytes = writer.into_bytes().unwrap().to_vec();
    let mut detector = Detector::from_bundle_bytes(bytes, &Device::flex()).unwrap();
    assert!(detector.has_text_tower() && detector.text_table().is_empty());
    let mut checker = Checker::new();
    check_every_tensor(&mut detector, &mut checker);
    checker.assert_complete(|_| false);
}

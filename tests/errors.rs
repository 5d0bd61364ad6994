//! Bad input gets a clear error that names the problem, never a panic.

mod common;

use std::sync::Arc;

use burn::tensor::Device;
use common::*;
use inctrl::Error;
use inctrl::config::ClipConfig;
use inctrl::weights::checkpoint::Checkpoint;
use inctrl::{Detector, Pixels};

fn open_bytes(bytes: Vec<u8>) -> Result<Checkpoint, Error> {
    Checkpoint::open(Arc::new(bytes))
}

/// Loads checkpoint bytes with the tiny config and returns the error message.
fn load_error(bytes: Vec<u8>) -> String {
    load_error_with(bytes, tiny_config())
}

fn load_error_with(bytes: Vec<u8>, config: ClipConfig) -> String {
    let result =
        open_bytes(bytes).and_then(|c| Detector::from_checkpoint(c, config, &Device::flex()));
    match result {
        Ok(_) => panic!("loading should have failed"),
        Err(e) => e.to_string(),
    }
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn replace_once(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let hits: Vec<usize> = bytes
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "{} occurs {} times",
        String::from_utf8_lossy(from),
        hits.len()
    );
    bytes[hits[0]..hits[0] + to.len()].copy_from_slice(to);
}

/// Rewrites the JSON header of a safetensors file.
fn edit_safetensors(edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> Vec<u8> {
    let bytes = fixture_bytes("model.safetensors");
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    edit(&mut header);
    let header = serde_json::to_vec(&header).unwrap();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&bytes[8 + header_len..]);
    out
}

#[test]
fn empty_garbage_and_truncated_checkpoints_are_named() {
    assert!(load_error(Vec::new()).contains("empty (0 bytes)"));
    assert!(load_error(b"definitely not weights".to_vec()).contains("unrecognised weights file"));
    assert!(load_error(b"PK\x03\x04 but no archive".to_vec()).contains("zip"));

    let pyth = fixture_bytes("model.pyth");
    let err = load_error(pyth[..pyth.len() / 2].to_vec());
    assert!(err.contains("truncated"), "{err}");

    let safetensors = fixture_bytes("model.safetensors");
    let err = load_error(safetensors[..safetensors.len() - 1000].to_vec());
    assert!(
        err.contains("truncated") && err.contains("safetensors"),
        "{err}"
    );
}

#[test]
fn renamed_key_is_reported_as_missing_and_unexpected() {
    let mut pyth = fixture_bytes("model.pyth");
    replace_once(
        &mut pyth,
        b"visual.ln_post.weight",
        b"visual.ln_post.wXight",
    );
    let err = load_error(pyth);
    assert!(err.contains("missing keys visual.ln_post.weight"), "{err}");
    assert!(
        err.contains("unexpected keys visual.ln_post.wXight"),
        "{err}"
    );
}

#[test]
fn changed_shape_is_reported_with_both_shapes() {
    let edited = edit_safetensors(|header| {
        header["visual.proj"]["shape"] = serde_json::json!([640, 64]);
    });
    let err = load_error(edited);
    assert!(
        err.contains("'visual.proj' has shape [640, 64], expected [64, 640]"),
        "{err}"
    );
}

#[test]
fn extra_key_is_unexpected_but_bn1_and_counters_are_skipped() {
    let edited = edit_safetensors(|header| {
        let entry = header["visual.proj"].clone();
        header.insert("logit_scale".into(), entry);
        // A BatchNorm counter as torch saves it: an int64 scalar (its 8 bytes
        // alias the start of the data, which the reader allows).
        let counter = serde_json::json!({"dtype": "I64", "shape": [], "data_offsets": [0, 8]});
        header.insert("diff_head.bn1.num_batches_tracked".into(), counter);
    });
    let err = load_error(edited);
    assert!(err.contains("unexpected keys logit_scale"), "{err}");
    assert!(
        !err.contains("bn1") && !err.contains("num_batches_tracked"),
        "{err}"
    );
}

#[test]
fn config_that_does_not_fit_the_checkpoint_names_the_shapes() {
    let err = load_error_with(fixture_bytes("model.pyth"), ClipConfig::vit_b_16_plus_240());
    assert!(err.contains("wrong shapes"), "{err}");
    assert!(
        err.contains("'visual.class_embedding' has shape [64], expected [896]"),
        "{err}"
    );
}

#[test]
fn bad_bundles_are_named() {
    let device = Device::flex();
    let message = |bytes: Vec<u8>| {
        Detector::from_bundle_bytes(bytes, &device)
            .err()
            .unwrap()
            .to_string()
    };
    assert!(message(b"garbage".to_vec()).contains("not a readable .bpk bundle"));

    let foreign =
        burn_store::burn_pack::Writer::new(Vec::new()).with_metadata("producer", "someone else");
    let err = message(foreign.into_bytes().unwrap().to_vec());
    assert!(err.contains("not an inctrl bundle"), "{err}");

    let mut detector =
        Detector::from_checkpoint(open_checkpoint("model.pyth"), tiny_config(), &device).unwrap();
    let table = pollster::block_on(inctrl::weights::convert::build_text_table(
        &mut detector,
        &["candle".into()],
        |_, _| (),
    ))
    .unwrap();
    let writer = inctrl::weights::convert::bundle_writer(
        &detector,
        &table,
        inctrl::weights::bundle::Precision::F32,
        false,
    )
    .unwrap();
    let bundle = writer.into_bytes().unwrap().to_vec();
    let err = message(bundle[..bundle.len() / 2].to_vec());
    assert!(err.contains("bundle"), "{err}");
    assert!(Detector::from_bundle_bytes(bundle, &device).is_ok());
}

#[test]
fn zero_prompts_empty_queries_and_wrong_sizes_are_refused() {
    let mut detector = Detector::from_checkpoint(
        open_checkpoint("model.pyth"),
        tiny_config(),
        &Device::flex(),
    )
    .unwrap();
    let err = detector.encode_prompts(&[]).unwrap_err().to_string();
    assert!(err.contains("no prompt images"), "{err}");
    let small = Pixels::new(224, vec![0.0; 3 * 224 * 224]).unwrap();
    let err = detector
        .encode_prompts(std::slice::from_ref(&small))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("prompt image 0 was preprocessed to 224x224") && err.contains("240x240"),
        "{err}"
    );
    let err = Pixels::new(240, vec![0.0; 100]).unwrap_err().to_string();
    assert!(err.contains("holds 100 values"), "{err}");

    let good = Pixels::new(240, vec![0.0; 3 * 240 * 240]).unwrap();
    let prompts = detector
        .encode_prompts(std::slice::from_ref(&good))
        .unwrap();
    let category = detector.category("candle").unwrap();
    let err = detector
        .forward(&category, &prompts, &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no query images"), "{err}");
    let err = detector
        .forward(&category, &prompts, &[good, small])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("query image 1 was preprocessed to 224x224"),
        "{err}"
    );
    assert!(
        detector
            .category("  ")
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
}

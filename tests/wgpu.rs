//! The same model on Burn's wgpu backend (Mesa lavapipe in CI): GPU kernels
//! must agree with the reference within float32 accumulation-order noise.
#![cfg(feature = "wgpu")]

mod common;

use burn::tensor::Device;
use common::*;
use inctrl::detector::Detector;
use inctrl::preprocess::preprocess_image;

/// GPU reductions sum in a different order than the CPU; scores stay within this.
const GPU_TOLERANCE: f32 = 1e-4;

#[test]
fn wgpu_scores_match_the_reference() {
    let device = Device::wgpu_options()
        .init()
        .expect("a wgpu adapter (install mesa-vulkan-drivers for lavapipe)");
    let mut detector =
        Detector::from_checkpoint(open_checkpoint("model.pyth"), tiny_config(), &device).unwrap();
    let expected = Expected::load();
    let load =
        |name: &str| preprocess_image(&std::fs::read(image_path(name)).unwrap(), 240).unwrap();
    let mut worst = 0.0f32;
    // One case (metal_nut, K = 2, seven queries) keeps lavapipe's run short.
    for case in cases().cases.into_iter().skip(1).take(1) {
        let category = detector.category(&case.category).unwrap();
        let prompts: Vec<_> = case.prompts.iter().map(|p| load(p)).collect();
        let prompts = detector.encode_prompts(&prompts).unwrap();
        let queries: Vec<_> = case.queries.iter().map(|q| load(&q.image)).collect();
        let scores = pollster::block_on(detector.score(&category, &prompts, &queries)).unwrap();
        for (query, score) in case.queries.iter().zip(scores) {
            let key = &query.key;
            let diff = (score.score - expected.get(&format!("{key}/final"))[0]).abs();
            let map_diff =
                max_abs_diff(&score.patch_map, &expected.get(&format!("{key}/patch_map")));
            assert!(
                diff <= GPU_TOLERANCE && map_diff <= GPU_TOLERANCE,
                "{key}: final {diff:e}, map {map_diff:e}"
            );
            worst = worst.max(diff).max(map_diff);
        }
    }
    println!("wgpu: worst difference {worst:e}");
}

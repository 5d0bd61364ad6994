//! The same model on Burn's wgpu backend (Mesa lavapipe in CI): GPU kernels
//! must agree with the reference within float32 accumulation-order noise, and
//! a warm query must cross the bus once each way.
#![cfg(feature = "wgpu")]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use burn::cubecl::logging::{LaunchObservation, LaunchObserver};
use burn::tensor::Device;
use common::*;
use inctrl::{Detector, Transfers};
use inctrl::{Pixels, preprocess_image};

/// Transfers and launches are counted process-wide: one GPU test at a time.
static GPU: Mutex<()> = Mutex::new(());

/// The process's one wgpu device (it can be initialised only once).
fn gpu_device() -> &'static Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE.get_or_init(|| {
        Device::wgpu_options()
            .init()
            .expect("a wgpu adapter (install mesa-vulkan-drivers for lavapipe)")
    })
}

fn gpu_detector() -> Detector {
    Detector::from_checkpoint(open_checkpoint("model.pyth"), tiny_config(), gpu_device()).unwrap()
}

fn load(name: &str) -> Pixels {
    preprocess_image(&std::fs::read(image_path(name)).unwrap(), 240).unwrap()
}

/// GPU reductions sum in a different order than the CPU; scores stay within this.
const GPU_TOLERANCE: f32 = 1e-4;

#[test]
fn wgpu_scores_match_the_reference() {
    let _gpu = GPU.lock().unwrap_or_else(|e| e.into_inner());
    let mut detector = gpu_detector();
    let expected = Expected::load();
    let mut worst = 0.0f32;
    // One case (metal_nut, K = 2, seven queries) keeps lavapipe's run short.
    for case in cases().cases.into_iter().skip(1).take(1) {
        let category = detector.category(&case.category).unwrap();
        let prompts: Vec<_> = case.prompts.iter().map(|p| load(p)).collect();
        let prompts = detector.encode_prompts(&prompts).unwrap();
        let queries: Vec<_> = case.queries.iter().map(|q| load(&q.image)).collect();
        let scores = detector
            .score_blocking(&category, &prompts, &queries)
            .unwrap();
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

/// Counts kernel launches while installed.
#[derive(Default)]
struct Launches(AtomicU64);

impl LaunchObserver for Launches {
    fn launched(&self, _kernel: &'static str) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn a_warm_query_uploads_its_image_once_and_reads_back_once() {
    let _gpu = GPU.lock().unwrap_or_else(|e| e.into_inner());
    let mut detector = gpu_detector();
    let category = detector.category("metal_nut").unwrap();
    let prompts = detector
        .encode_prompts(&[load("nominal_a.jpg"), load("nominal_b.jpg")])
        .unwrap();
    let query = [load("local_defect.jpg")];
    let score = || {
        detector
            .score_blocking(&category, &prompts, &query)
            .unwrap()
    };
    let cold = score();

    let before = Transfers::now();
    let launches = Arc::new(Launches::default());
    let observation = LaunchObservation::new(launches.clone());
    let warm = score();
    drop(observation);

    assert_eq!(
        Transfers::since(before),
        Transfers {
            uploads: 1,
            readbacks: 1
        },
        "a warm query uploads its pixels and reads its six results back in one transaction"
    );
    let launches = launches.0.load(Ordering::Relaxed);
    assert!(launches > 0, "the query ran on the GPU");
    println!("warm query on wgpu: {launches} kernel launches");
    assert_eq!(cold, warm, "a warm query repeats the cold one exactly");
}

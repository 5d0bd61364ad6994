//! Shared helpers for the integration tests: fixture paths and expected tensors.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::sync::Arc;

use inctrl::config::ClipConfig;
use inctrl::weights::checkpoint::Checkpoint;
use inctrl::weights::checkpoint::source::FileSource;

/// `../shared/fixtures/tiny`, made by running the original implementation.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/tiny")
}

pub fn fixture(name: &str) -> PathBuf {
    fixture_dir().join(name)
}

pub fn image_path(name: &str) -> PathBuf {
    fixture_dir().join("images").join(name)
}

pub fn tiny_config() -> ClipConfig {
    ClipConfig::from_json(&std::fs::read_to_string(fixture("config.json")).unwrap()).unwrap()
}

pub fn open_checkpoint(name: &str) -> Checkpoint {
    Checkpoint::open(Arc::new(FileSource::open(&fixture(name)).unwrap())).unwrap()
}

/// The reference tensors of `expected.safetensors`.
pub struct Expected(Checkpoint);

impl Expected {
    pub fn load() -> Self {
        Self(open_checkpoint("expected.safetensors"))
    }

    /// Reference tensors from another safetensors file.
    pub fn open(path: &std::path::Path) -> Self {
        Self(Checkpoint::open(Arc::new(FileSource::open(path).unwrap())).unwrap())
    }

    pub fn get(&self, key: &str) -> Vec<f32> {
        let tensor = self.0.tensors().iter().find(|t| t.name == key);
        let tensor = tensor.unwrap_or_else(|| panic!("no expected tensor {key}"));
        self.0.read_f32(tensor).unwrap()
    }

    pub fn keys(&self) -> Vec<String> {
        self.0.tensors().iter().map(|t| t.name.clone()).collect()
    }
}

/// The scoring cases of `cases.json`.
#[derive(serde::Deserialize)]
pub struct Cases {
    pub cases: Vec<Case>,
    pub images: Vec<String>,
}

#[derive(serde::Deserialize)]
pub struct Case {
    pub category: String,
    pub prompts: Vec<String>,
    pub queries: Vec<Query>,
}

#[derive(serde::Deserialize)]
pub struct Query {
    pub image: String,
    pub key: String,
}

pub fn cases() -> Cases {
    serde_json::from_str(&std::fs::read_to_string(fixture("cases.json")).unwrap()).unwrap()
}

/// Largest absolute difference.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Largest difference relative to the reference's largest magnitude.
pub fn max_rel_diff(actual: &[f32], expected: &[f32]) -> f32 {
    let scale = expected
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(1e-12);
    max_abs_diff(actual, expected) / scale
}

/// A tensor's values, read back from its device.
pub fn values<const D: usize>(tensor: burn::tensor::Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_to_vec().unwrap()
}

/// A command for the `inctrl` binary built for these tests.
pub fn inctrl() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_inctrl"))
}

/// Runs the `inctrl` binary built for these tests.
pub fn run_inctrl(args: &[&str]) -> std::process::Output {
    inctrl().args(args).output().unwrap()
}

/// Runs a command that must succeed.
pub fn run(command: &mut std::process::Command) -> std::process::Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `inctrl` with `args`, which must succeed, and returns its stdout.
pub fn inctrl_stdout(args: &[&str]) -> String {
    String::from_utf8(run(inctrl().args(args)).stdout).unwrap()
}

/// A path as a command-line argument.
pub fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// The fixture checkpoint on the CPU.
pub fn cpu_detector() -> inctrl::Detector {
    inctrl::Detector::from_checkpoint(
        open_checkpoint("model.pyth"),
        tiny_config(),
        &burn::tensor::Device::flex(),
    )
    .unwrap()
}

/// A fixture image preprocessed for the tiny model (240 px).
pub fn load_image(name: &str) -> inctrl::Pixels {
    inctrl::preprocess_image(&std::fs::read(image_path(name)).unwrap(), 240).unwrap()
}

/// The folder of an installed Python package (`test.sh` installs the data
/// packages the tests read: `elpv_dataset`, `conformal_clip_data`).
pub fn python_package_dir(module: &str, pip_name: &str) -> PathBuf {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            &format!("import {module}, os; print(os.path.dirname({module}.__file__))"),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the {pip_name} package is missing: `python3 -m pip install {pip_name}` (test.sh does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Data rows of a CSV file written so far (a line cut off by a kill does not count).
pub fn rows_written(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .map(|text| text.matches('\n').count().saturating_sub(1))
        .unwrap_or(0)
}

//! Subcommands of the `inctrl` binary and what they share: device choice,
//! weights loading and image reading.

mod bench;
mod calibrate;
mod convert;
mod eval;
mod inputs;
mod maps;
mod prepare;
mod progress;
mod score;
mod train;

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use clap::{Args, Parser, Subcommand, ValueEnum};
use inctrl::config::ClipConfig;
use inctrl::preprocess::preprocess_image;
use inctrl::{ComputePrecision, Detector, Pixels};
use inctrl::{Error, Result};

pub use progress::Progress;

/// InCTRL generalist anomaly detection: score images against a few normal examples.
#[derive(Parser)]
#[command(version, about)]
pub struct Command {
    #[command(subcommand)]
    command: Subcommands,
}

#[derive(Subcommand)]
enum Subcommands {
    Convert(convert::ConvertArgs),
    Score(score::ScoreArgs),
    Calibrate(calibrate::CalibrateArgs),
    Eval(eval::EvalArgs),
    Prepare(prepare::PrepareArgs),
    Bench(bench::BenchArgs),
    RandomBundle(convert::RandomBundleArgs),
    Train(train::TrainArgs),
}

impl Command {
    /// Runs the chosen subcommand.
    pub fn run(self) -> Result<()> {
        match self.command {
            Subcommands::Convert(args) => convert::run(args),
            Subcommands::Score(args) => score::run(args),
            Subcommands::Calibrate(args) => calibrate::run(args),
            Subcommands::Eval(args) => eval::run(args),
            Subcommands::Prepare(args) => prepare::run(args),
            Subcommands::Bench(args) => bench::run(args),
            Subcommands::RandomBundle(args) => convert::run_random(args),
            Subcommands::Train(args) => train::run(args),
        }
    }
}

/// Where the model runs.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum DeviceChoice {
    /// The CPU (Burn's flex backend).
    #[default]
    Cpu,
    /// A GPU through wgpu (Vulkan, Metal or DX12).
    Wgpu,
}

impl DeviceChoice {
    /// Initialises the device to compute in `precision`.
    pub fn init(self, precision: ComputePrecision) -> Result<Device> {
        let mut device = match self {
            Self::Cpu => Device::flex(),
            Self::Wgpu => init_wgpu()?,
        };
        precision.configure(&mut device)?;
        Ok(device)
    }
}

/// The adapter `init_wgpu` opened, e.g. "llvmpipe (LLVM 15.0.6, 256 bits), Vulkan".
static WGPU_ADAPTER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

impl DeviceChoice {
    /// The device as benchmarks print it: the backend, and the GPU adapter once opened.
    pub fn label(self) -> String {
        match (self, WGPU_ADAPTER.get()) {
            (Self::Wgpu, Some(adapter)) => format!("Wgpu ({adapter})"),
            _ => format!("{self:?}"),
        }
    }
}

#[cfg(feature = "wgpu")]
fn init_wgpu() -> Result<Device> {
    let (device, setup) = Device::wgpu_options()
        .init_with_setup()
        .map_err(|e| Error::Device(format!("no usable wgpu adapter: {e:?}")))?;
    let info = setup.adapter.get_info();
    let _ = WGPU_ADAPTER.set(format!("{}, {:?}", info.name, info.backend));
    Ok(device)
}

#[cfg(not(feature = "wgpu"))]
fn init_wgpu() -> Result<Device> {
    Err(Error::Device(
        "this build has no wgpu support (build with --features wgpu)".into(),
    ))
}

/// Reads an open_clip config file, or the built-in ViT-B-16-plus-240 one.
pub fn read_config(path: Option<&Path>) -> Result<ClipConfig> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
            ClipConfig::from_json(&text)
        }
        None => Ok(ClipConfig::vit_b_16_plus_240()),
    }
}

/// The model to load and where it runs: the options `score` and `eval` share.
#[derive(Args)]
pub struct ModelArgs {
    /// A `.bpk` bundle, or an official `.pyth`/`.safetensors` checkpoint.
    #[arg(long)]
    pub weights: PathBuf,
    /// open_clip model config JSON for a checkpoint (default: ViT-B-16-plus-240).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceChoice,
    /// What it computes in: f32 matches the original; f16 (GPUs with shader-f16) is faster
    /// and deviates slightly.
    #[arg(long, default_value_t)]
    pub precision: ComputePrecision,
}

/// The category and its normal prompt images: what `score` and `calibrate` share.
#[derive(Args)]
pub struct PromptArgs {
    /// Category name, e.g. `candle` or `metal_nut`.
    #[arg(long)]
    pub category: String,
    /// A normal image of the category, a folder of them or a glob pattern
    /// (repeat for K prompts).
    #[arg(long = "prompt", required = true)]
    pub prompts: Vec<PathBuf>,
}

impl ModelArgs {
    /// Opens the device and loads the weights on it.
    pub fn load(&self) -> Result<Detector> {
        let device = self.device.init(self.precision)?;
        let config = self
            .config
            .as_deref()
            .map(|path| read_config(Some(path)))
            .transpose()?;
        Detector::open(&self.weights, config, &device)
    }
}

/// Reads a tensor back to the host, waiting for everything it depends on.
pub fn read_back<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    let data = tensor
        .try_into_data()
        .map_err(|e| Error::Device(format!("reading a result back failed: {e:?}")))?;
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Device(format!("unexpected result type: {e:?}")))
}

/// Reads and preprocesses image files, failing on the first unreadable one.
pub fn read_images(paths: &[PathBuf], size: usize) -> Result<Vec<Pixels>> {
    paths
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
            preprocess_image(&bytes, size as u32).map_err(|e| Error::image(path.display(), e))
        })
        .collect()
}

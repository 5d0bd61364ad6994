//! `inctrl bench`: prompt-set and per-query latency with random weights, next
//! to a matrix product of the model's own shape measured in the same run.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::tensor::{Device, Distribution, Tensor};
use clap::Args;
use inctrl::Result;
use inctrl::config::{ClipConfig, mlp_width};
use inctrl::detector::{Detector, read_all};
use inctrl::model::InctrlConfig;
use inctrl::text::TextTable;

use super::{DeviceChoice, read_config};

/// Measure prompt-set encoding and warm per-query scoring at full size (random weights).
#[derive(Args)]
pub struct BenchArgs {
    /// open_clip model config JSON (default: the built-in ViT-B-16-plus-240).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t)]
    device: DeviceChoice,
    /// Timed runs per measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Prompt-set sizes to time.
    #[arg(long, value_delimiter = ',', default_values_t = [2, 4, 8])]
    k: Vec<usize>,
}

/// Runs `inctrl bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let device = args.device.init()?;
    let config = read_config(args.config.as_deref())?;
    let runs = args.runs.max(1);
    let mut table = TextTable::default();
    table.insert(
        "object",
        vec![1.0 / (config.embed_dim as f32).sqrt(); 2 * config.embed_dim],
    );
    let model = InctrlConfig::from_clip(&config, false).init(&device);
    let mut detector = Detector::new(model, config.clone(), table, device.clone());
    let category = detector.category("object")?;
    let image = || random_image(&config, &device);

    let matmul = matmul_gflops(&config, &device, runs)?;
    println!("device: {:?}, {runs} runs each, medians", args.device);
    println!(
        "reference matmul [{}x{}]·[{}x{}]: {matmul:.1} GFLOP/s",
        226,
        config.vision_cfg.width,
        config.vision_cfg.width,
        mlp_width(config.vision_cfg.width, config.vision_cfg.mlp_ratio)
    );
    println!("| measurement | median | GFLOP/s | vs matmul |");
    println!("|---|---|---|---|");
    for &k in &args.k {
        let images: Vec<_> = (0..k).map(|_| image()).collect();
        let time = median(runs, || {
            let prompts = detector.encode_prompts(&images)?;
            pollster::block_on(read_all([prompts
                .features()
                .adapted_mean
                .clone()
                .unsqueeze::<2>()]))?;
            Ok(())
        })?;
        report(
            &format!("prompt set K={k}"),
            time,
            k as f64 * vit_gflop(&config),
            matmul,
        );
    }
    let prompts = detector.encode_prompts(&[image(), image(), image(), image()])?;
    let query = vec![image()];
    let time = median(runs, || {
        pollster::block_on(detector.score(&category, &prompts, &query)).map(drop)
    })?;
    report("query (K=4, warm)", time, vit_gflop(&config), matmul);
    Ok(())
}

fn report(what: &str, time: Duration, gflop: f64, matmul: f64) {
    let rate = gflop / time.as_secs_f64();
    println!(
        "| {what} | {:.1} ms | {rate:.1} | {:.2} |",
        time.as_secs_f64() * 1e3,
        rate / matmul
    );
}

/// Median wall time of `runs` calls after one warm-up call.
fn median(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<Duration> {
    f()?;
    let mut times = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f().map(|_| start.elapsed())
        })
        .collect::<Result<Vec<_>>>()?;
    times.sort();
    Ok(times[times.len() / 2])
}

fn random_image(config: &ClipConfig, device: &Device) -> Vec<f32> {
    let size = config.vision_cfg.image_size;
    let t = Tensor::<1>::random([3 * size * size], Distribution::Uniform(-1.8, 2.2), device);
    pollster::block_on(read_all([t.unsqueeze()])).expect("random image readback")[0].clone()
}

/// GFLOP/s of the ViT's MLP-expansion matrix product on `device`.
fn matmul_gflops(config: &ClipConfig, device: &Device, runs: usize) -> Result<f64> {
    let (t, w) = (config.grid_side().pow(2) + 1, config.vision_cfg.width);
    let m = mlp_width(w, config.vision_cfg.mlp_ratio);
    // Distinct inputs for every run (so no backend can reuse a result), made before timing.
    let mut inputs: Vec<_> = (0..=runs)
        .map(|_| {
            let a = Tensor::<2>::random([t, w], Distribution::Default, device);
            let b = Tensor::<2>::random([w, m], Distribution::Default, device);
            pollster::block_on(read_all([
                a.clone().sum().unsqueeze(),
                b.clone().sum().unsqueeze(),
            ]))
            .map(|_| (a, b))
        })
        .collect::<Result<_>>()?;
    let time = median(runs, || {
        let (a, b) = inputs.pop().expect("one input pair per run");
        pollster::block_on(read_all([a.matmul(b).sum().unsqueeze()])).map(drop)
    })?;
    Ok(2.0 * (t * w * m) as f64 / time.as_secs_f64() / 1e9)
}

/// Forward FLOPs of one image through the image tower (the bulk of a query).
pub fn vit_gflop(config: &ClipConfig) -> f64 {
    let v = &config.vision_cfg;
    let (t, w) = ((config.grid_side().pow(2) + 1) as f64, v.width as f64);
    let m = mlp_width(v.width, v.mlp_ratio) as f64;
    let patch = 2.0 * (t - 1.0) * (3 * v.patch_size * v.patch_size) as f64 * w;
    let block = 2.0 * t * w * 3.0 * w + 4.0 * t * t * w + 2.0 * t * w * w + 4.0 * t * w * m;
    (patch + v.layers as f64 * block) / 1e9
}

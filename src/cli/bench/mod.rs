//! `inctrl bench`: prompt-set and per-query latency with random weights, next
//! to a matrix product of the model's own shape measured in the same run, and
//! optionally next to PyTorch doing the same work (`tools/bench-torch.sh`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::tensor::{Device, Distribution, Tensor};
use clap::Args;
use inctrl::config::{ClipConfig, mlp_width};
use inctrl::model::InctrlConfig;
use inctrl::text::TextTable;
use inctrl::{Category, ComputePrecision, Detector, Pixels, PromptSet};
use inctrl::{Error, Result};

use super::{DeviceChoice, read_back, read_config};

mod counts;
mod torch;

use torch::TorchPeer;

/// Measure prompt-set encoding and warm per-query scoring at full size (random weights).
#[derive(Args)]
pub struct BenchArgs {
    /// open_clip model config JSON (default: the built-in ViT-B-16-plus-240).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t)]
    device: DeviceChoice,
    /// What it computes in (f16: GPUs with shader-f16, or the CPU).
    #[arg(long, default_value_t)]
    precision: ComputePrecision,
    /// Timed runs per measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Prompt-set sizes to time.
    #[arg(long, value_delimiter = ',', default_values_t = [2, 4, 8])]
    k: Vec<usize>,
    /// Also time PyTorch on the CPU doing the same work the same way (the
    /// built-in model only), alternating with ours measurement by measurement,
    /// and print ours / PyTorch.
    #[arg(long)]
    against_torch: bool,
    /// Rounds with --against-torch; in each, every measurement runs once for
    /// ours and once for PyTorch, back to back. The table shows the median of
    /// the rounds' medians and of the rounds' ratios, which evens out a noisy
    /// machine.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The PyTorch benchmark (installs a pinned PyTorch into target/ on first use).
    #[arg(long, default_value = "tools/bench-torch.sh")]
    torch_script: PathBuf,
    /// Instead of timing, count what a warm query and a prompt set make the
    /// device do: kernel launches, host↔device transfers, new device memory.
    #[arg(long, conflicts_with = "against_torch")]
    counts: bool,
}

/// One thing the benchmark times.
#[derive(Clone, Copy, Debug)]
pub enum Measurement {
    /// The reference matrix product (GFLOP/s).
    Matmul,
    /// Encoding a prompt set of K images (ms).
    PromptSet(usize),
    /// Scoring one query against a K = 4 prompt set encoded beforehand (ms).
    Query,
}

/// Everything the benchmark times, in order.
fn plan(ks: &[usize]) -> Vec<Measurement> {
    let prompt_sets = ks.iter().map(|&k| Measurement::PromptSet(k));
    std::iter::once(Measurement::Matmul)
        .chain(prompt_sets)
        .chain(std::iter::once(Measurement::Query))
        .collect()
}

/// Median milliseconds per measurement of one benchmark run.
#[derive(Debug, Default)]
struct Timings {
    matmul_gflops: f64,
    prompt_set_ms: BTreeMap<usize, f64>,
    query_ms: f64,
}

impl Timings {
    fn record(&mut self, measurement: Measurement, value: f64) {
        match measurement {
            Measurement::Matmul => self.matmul_gflops = value,
            Measurement::PromptSet(k) => _ = self.prompt_set_ms.insert(k, value),
            Measurement::Query => self.query_ms = value,
        }
    }
}

/// Runs `inctrl bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let device = args.device.init(args.precision)?;
    let config = read_config(args.config.as_deref())?;
    if args.against_torch && args.precision != ComputePrecision::F32 {
        return Err(Error::InvalidInput(
            "--against-torch compares f32 with PyTorch's f32; drop --precision".into(),
        ));
    }
    if args.against_torch && args.config.is_some() {
        return Err(Error::InvalidInput(
            "--against-torch times the built-in ViT-B-16-plus-240 only; drop --config".into(),
        ));
    }
    let runs = args.runs.max(1);
    let mut detector = random_detector(&config, &device)?;
    let category = detector.category("object")?;
    if args.counts {
        println!(
            "device: {}{}, {}",
            args.device.label(),
            threads(args.device),
            args.precision
        );
        let images: Vec<_> = (0..3).map(|_| random_image(&config, &device)).collect();
        return counts::print_counts(&detector, &category, &images);
    }
    println!(
        "device: {}{}, {}, {runs} runs each, medians",
        args.device.label(),
        threads(args.device),
        args.precision
    );
    if matches!(args.device, DeviceChoice::Cpu) {
        println!("matrix kernel: {}", inctrl::cpu_matrix_kernel());
    }
    let ours = OurBench::new(&detector, &category, &config, runs)?;
    let plan = plan(&args.k);
    if !args.against_torch {
        let mut timings = Timings::default();
        for &measurement in &plan {
            timings.record(measurement, ours.time(measurement)?);
        }
        print_alone(&timings, &config);
        return Ok(());
    }
    let mut peer = TorchPeer::start(&args.torch_script, runs)?;
    println!("PyTorch: {}", peer.label);
    let (our_rounds, torch_rounds) = alternate(&ours, &mut peer, &plan, args.rounds.max(1))?;
    print_against(&our_rounds, &torch_rounds, &config);
    Ok(())
}

/// Ours' and PyTorch's timings of every round: within a round each
/// measurement runs for both back to back, and who goes first alternates from
/// round to round, so that neither always follows the other.
fn alternate(
    ours: &OurBench,
    peer: &mut TorchPeer,
    plan: &[Measurement],
    rounds: usize,
) -> Result<(Vec<Timings>, Vec<Timings>)> {
    let (mut our_rounds, mut torch_rounds) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        eprintln!("round {round} of {rounds}");
        let (mut mine, mut theirs) = (Timings::default(), Timings::default());
        for &measurement in plan {
            if round % 2 == 1 {
                mine.record(measurement, ours.time(measurement)?);
                theirs.record(measurement, peer.time(measurement)?);
            } else {
                theirs.record(measurement, peer.time(measurement)?);
                mine.record(measurement, ours.time(measurement)?);
            }
        }
        our_rounds.push(mine);
        torch_rounds.push(theirs);
    }
    Ok((our_rounds, torch_rounds))
}

fn threads(device: DeviceChoice) -> String {
    match device {
        DeviceChoice::Cpu => format!(" ({} threads)", rayon::current_num_threads()),
        DeviceChoice::Wgpu => String::new(),
    }
}

/// A full-size model with random weights and one category.
fn random_detector(config: &ClipConfig, device: &Device) -> Result<Detector> {
    let mut table = TextTable::default();
    table.insert(
        "object",
        vec![1.0 / (config.embed_dim as f32).sqrt(); 2 * config.embed_dim],
    );
    let model = InctrlConfig::from_clip(config, false).init(device);
    Ok(Detector::new(model, config.clone(), table, device.clone()))
}

/// Our side of the benchmark: the detector and the inputs that stay fixed.
struct OurBench<'a> {
    detector: &'a Detector,
    category: &'a Category,
    config: &'a ClipConfig,
    runs: usize,
    /// The K = 4 prompt set the timed queries are scored against.
    query_prompts: PromptSet,
}

impl<'a> OurBench<'a> {
    fn new(
        detector: &'a Detector,
        category: &'a Category,
        config: &'a ClipConfig,
        runs: usize,
    ) -> Result<Self> {
        let images: Vec<_> = (0..4)
            .map(|_| random_image(config, detector.device()))
            .collect();
        Ok(Self {
            query_prompts: detector.encode_prompts(&images)?,
            detector,
            category,
            config,
            runs,
        })
    }

    /// Times `measurement` (the median of `runs` after a warm-up): milliseconds,
    /// or GFLOP/s for the matrix product.
    fn time(&self, measurement: Measurement) -> Result<f64> {
        let image = || random_image(self.config, self.detector.device());
        let time = match measurement {
            Measurement::Matmul => {
                return matmul_gflops(self.config, self.detector.device(), self.runs);
            }
            Measurement::PromptSet(k) => {
                let images: Vec<_> = (0..k).map(|_| image()).collect();
                median(self.runs, || {
                    let prompts = self.detector.encode_prompts(&images)?;
                    read_back(prompts.features().adapted_mean.clone())?;
                    Ok(())
                })?
            }
            Measurement::Query => {
                let query = vec![image()];
                median(self.runs, || {
                    self.detector
                        .score_blocking(self.category, &self.query_prompts, &query)
                        .map(drop)
                })?
            }
        };
        Ok(milliseconds(time))
    }
}

/// Per measurement, the median over rounds.
fn median_timings(rounds: &[Timings]) -> Timings {
    let middle = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    Timings {
        matmul_gflops: middle(rounds.iter().map(|t| t.matmul_gflops).collect()),
        prompt_set_ms: rounds[0]
            .prompt_set_ms
            .keys()
            .map(|&k| {
                (
                    k,
                    middle(rounds.iter().map(|t| t.prompt_set_ms[&k]).collect()),
                )
            })
            .collect(),
        query_ms: middle(rounds.iter().map(|t| t.query_ms).collect()),
    }
}

/// Each measurement's name and FLOPs, in print order.
fn measurements(timings: &Timings, config: &ClipConfig) -> Vec<(String, f64)> {
    let vit = vit_gflop(config);
    let mut rows: Vec<_> = timings
        .prompt_set_ms
        .keys()
        .map(|&k| (format!("prompt set K={k}"), k as f64 * vit))
        .collect();
    rows.push(("query (K=4, warm)".into(), vit));
    rows
}

fn ms_of(timings: &Timings, what: &str) -> f64 {
    match what.strip_prefix("prompt set K=") {
        Some(k) => timings.prompt_set_ms[&k.parse::<usize>().expect("our own label")],
        None => timings.query_ms,
    }
}

fn print_alone(timings: &Timings, config: &ClipConfig) {
    println!(
        "reference matmul {}: {:.1} GFLOP/s",
        matmul_shape(config),
        timings.matmul_gflops
    );
    println!("| measurement | median | GFLOP/s | vs matmul |");
    println!("|---|---|---|---|");
    for (what, gflop) in measurements(timings, config) {
        let ms = ms_of(timings, &what);
        let rate = gflop / (ms / 1e3);
        println!(
            "| {what} | {ms:.1} ms | {rate:.1} | {:.2} |",
            rate / timings.matmul_gflops
        );
    }
}

/// The medians over rounds side by side, and the ratio within each round:
/// within a round the two halves of a measurement run back to back, so its
/// ratio is less exposed to the machine's drift than the ratio of the medians.
fn print_against(ours: &[Timings], torch: &[Timings], config: &ClipConfig) {
    let (ours_median, torch_median) = (median_timings(ours), median_timings(torch));
    println!(
        "reference matmul {}: inctrl {:.1} GFLOP/s, PyTorch {:.1} GFLOP/s",
        matmul_shape(config),
        ours_median.matmul_gflops,
        torch_median.matmul_gflops
    );
    println!(
        "| measurement | inctrl | PyTorch CPU | inctrl / PyTorch | per round: median (range) |"
    );
    println!("|---|---|---|---|---|");
    for (what, _) in measurements(&ours_median, config) {
        let (mine, theirs) = (ms_of(&ours_median, &what), ms_of(&torch_median, &what));
        let mut ratios: Vec<f64> = ours
            .iter()
            .zip(torch)
            .map(|(o, t)| ms_of(o, &what) / ms_of(t, &what))
            .collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "| {what} | {mine:.1} ms | {theirs:.1} ms | {:.2} | {:.2} ({:.2}–{:.2}) |",
            mine / theirs,
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        );
    }
}

fn matmul_shape(config: &ClipConfig) -> String {
    let (t, w) = (config.grid_side().pow(2) + 1, config.vision_cfg.width);
    let m = mlp_width(w, config.vision_cfg.mlp_ratio);
    format!("[{t}x{w}]·[{w}x{m}]")
}

fn milliseconds(time: Duration) -> f64 {
    time.as_secs_f64() * 1e3
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

fn random_image(config: &ClipConfig, device: &Device) -> Pixels {
    let size = config.vision_cfg.image_size;
    let t = Tensor::<1>::random([3 * size * size], Distribution::Uniform(-1.8, 2.2), device);
    let values = read_back(t).expect("random image readback");
    Pixels::new(size as u32, values).expect("3 x size x size values")
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
            read_back(a.clone().sum() + b.clone().sum()).map(|_| (a, b))
        })
        .collect::<Result<_>>()?;
    let time = median(runs, || {
        let (a, b) = inputs.pop().expect("one input pair per run");
        read_back(a.matmul(b).sum()).map(drop)
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

//! `inctrl eval`: the paper's protocol on a dataset. For each category, K and
//! seed a prompt set is drawn (or read from the official few-shot files) and
//! encoded once; every test image is scored against it; AUROC and AUPRC follow
//! scikit-learn exactly; with `--pixel`, pixel AUROC and AUPRO follow them.

mod pixel;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use inctrl::eval::split::sample;
use inctrl::preprocess::preprocess_file;
use inctrl::weights::checkpoint::Checkpoint;
use inctrl::weights::checkpoint::source::FileSource;
use inctrl::{Category, Detector, Pixels, PromptSet};
use inctrl::{Error, Result};
use serde_json::json;

use super::{ModelArgs, Progress};
use inctrl::eval::dataset::{self, CategoryData, TestImage};
use inctrl::eval::journal::{Journal, Row};
use inctrl::eval::report::{PixelRun, PromptDraw, Report};
use inctrl::maps::DEFAULT_SIGMA;
use pixel::PatchMap;

/// Queries scored per forward pass (results do not depend on it).
const BATCH: usize = 8;

/// Evaluate on a dataset as the paper does: AUROC and AUPRC per category and K.
#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// A dataset folder in MVTec AD layout, or a JSON list of test images (repeatable).
    #[arg(long, required = true)]
    data: Vec<PathBuf>,
    /// JSON lists of normal images to draw prompts from, for JSON test data (repeatable).
    #[arg(long)]
    train_json: Vec<PathBuf>,
    /// Evaluate only these categories (repeatable; default: all found).
    #[arg(long)]
    category: Vec<String>,
    /// Prompt-set sizes.
    #[arg(long, value_delimiter = ',', default_values_t = [2, 4, 8])]
    k: Vec<usize>,
    /// Prompt draws per K (seeds `--seed`, `--seed`+1, ...).
    #[arg(long, default_value_t = 3)]
    seeds: u32,
    /// First draw seed.
    #[arg(long, default_value_t = 10)]
    seed: u32,
    /// The official few-shot files instead of drawn prompts: `<dir>/<category>.pt` or
    /// `<dir>/<K>/<category>.pt`, lists of preprocessed [3, 240, 240] tensors.
    #[arg(long)]
    prompts_dir: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write every image's score here (default: next to --out, or inctrl-eval.scores.csv).
    #[arg(long)]
    scores: Option<PathBuf>,
    /// Continue an interrupted run from its scores file.
    #[arg(long)]
    resume: bool,
    /// Also pixel AUROC and AUPRO from the ground-truth masks
    /// (`<category>/ground_truth/<defect>/<name>_mask.png`), computed at each
    /// mask's resolution. Cannot be resumed: the maps are not saved.
    #[arg(long)]
    pixel: bool,
    /// Gaussian smoothing of the maps for --pixel, in model-input pixels (0: none).
    #[arg(long, default_value_t = DEFAULT_SIGMA)]
    sigma: f32,
}

/// Runs `inctrl eval`.
pub fn run(args: EvalArgs) -> Result<()> {
    check_args(&args)?;
    let categories = dataset::load(&args.data, &args.train_json, &args.category)?;
    let seeds: Vec<u32> = (0..args.seeds).map(|s| args.seed + s).collect();
    let settings = settings(&args, &seeds);
    let scores_path = scores_path(&args);
    let mut journal = Journal::open(&scores_path, &settings.to_string(), args.resume)?;
    let mut detector = args.model.load()?;

    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    // A second Ctrl-C while results are being written still ends the process.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });

    let mut run = Run {
        detector: &mut detector,
        journal: &mut journal,
        args: &args,
        draws: Vec::new(),
        pixel: Vec::new(),
        progress: Progress::new(
            "scoring",
            pending_work(&categories, &args.k, &seeds),
            "images",
        ),
        interrupted: &interrupted,
    };
    let outcome = run.all(&categories, &seeds);
    let Run {
        draws,
        pixel,
        progress,
        ..
    } = run;
    progress.finish();
    let runs_per_category = args.k.len() * seeds.len();
    let report = Report::build(
        report_settings(settings, &args, journal.path()),
        &categories,
        runs_per_category,
        &draws,
        journal.rows(),
        &pixel,
    )?;
    write_report(&report, args.out.as_deref())?;
    outcome?;
    if interrupted.load(Ordering::SeqCst) {
        return Err(Error::Interrupted(format!(
            "{} scores are saved in {}: rerun with --resume to continue",
            journal.rows().len(),
            journal.path().display()
        )));
    }
    println!("{}", report.markdown());
    eprintln!("scores: {}", journal.path().display());
    Ok(())
}

fn check_args(args: &EvalArgs) -> Result<()> {
    if args.k.is_empty() || args.k.contains(&0) {
        return Err(Error::InvalidInput(
            "--k needs prompt-set sizes of at least 1".into(),
        ));
    }
    if args.pixel && args.resume {
        return Err(Error::InvalidInput(
            "--pixel runs cannot be resumed (the maps are not saved): start a new run".into(),
        ));
    }
    if args.seeds == 0 {
        return Err(Error::InvalidInput("--seeds must be at least 1".into()));
    }
    if args.prompts_dir.is_some() && args.seeds != 1 {
        return Err(Error::InvalidInput(
            "--prompts-dir fixes one prompt set per category and K: use --seeds 1".into(),
        ));
    }
    Ok(())
}

/// What must match for `--resume` to continue a run.
fn settings(args: &EvalArgs, seeds: &[u32]) -> serde_json::Value {
    let paths = |p: &[PathBuf]| {
        p.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
    };
    json!({
        "weights": args.model.weights.display().to_string(),
        "config": args.model.config.as_ref().map(|p| p.display().to_string()),
        "data": paths(&args.data),
        "train_json": paths(&args.train_json),
        "categories": args.category,
        "k": args.k,
        "seeds": seeds,
        "prompts_dir": args.prompts_dir.as_ref().map(|p| p.display().to_string()),
    })
}

/// The resume settings plus what may differ between the parts of a resumed run.
fn report_settings(
    mut settings: serde_json::Value,
    args: &EvalArgs,
    scores: &Path,
) -> serde_json::Value {
    settings["device"] = json!(format!("{:?}", args.model.device).to_lowercase());
    settings["scores"] = json!(scores.display().to_string());
    settings["inctrl_version"] = json!(env!("CARGO_PKG_VERSION"));
    if args.pixel {
        settings["pixel_sigma"] = json!(args.sigma);
    }
    settings
}

fn scores_path(args: &EvalArgs) -> PathBuf {
    match (&args.scores, &args.out) {
        (Some(path), _) => path.clone(),
        (None, Some(out)) => out.with_extension("scores.csv"),
        (None, None) => PathBuf::from("inctrl-eval.scores.csv"),
    }
}

fn pending_work(categories: &[CategoryData], ks: &[usize], seeds: &[u32]) -> usize {
    categories.iter().map(|c| c.test.len()).sum::<usize>() * ks.len() * seeds.len()
}

fn write_report(report: &Report, out: Option<&Path>) -> Result<()> {
    let Some(out) = out else { return Ok(()) };
    let json = serde_json::to_string_pretty(report).expect("the report serialises");
    std::fs::write(out, json).map_err(|e| Error::io(out.display(), e))
}

/// The state of one evaluation.
struct Run<'a> {
    detector: &'a mut Detector,
    journal: &'a mut Journal,
    args: &'a EvalArgs,
    draws: Vec<PromptDraw>,
    pixel: Vec<PixelRun>,
    progress: Progress,
    interrupted: &'a AtomicBool,
}

impl Run<'_> {
    fn all(&mut self, categories: &[CategoryData], seeds: &[u32]) -> Result<()> {
        for category in categories {
            let text = self.detector.category(&category.name)?;
            for &k in &self.args.k {
                for &seed in seeds {
                    self.prompt_set(category, &text, k, seed)?;
                    if self.interrupted.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// Scores every test image not yet scored against one prompt set.
    fn prompt_set(
        &mut self,
        category: &CategoryData,
        text: &Category,
        k: usize,
        seed: u32,
    ) -> Result<()> {
        let (names, pixels) = self.prompts(category, k, seed)?;
        self.draws.push(PromptDraw {
            category: category.name.clone(),
            k,
            seed,
            prompts: names,
        });
        let key = |image: &TestImage| (category.name.clone(), k, seed, image.name.clone());
        let todo: Vec<&TestImage> = category
            .test
            .iter()
            .filter(|t| !self.journal.contains(&key(t)))
            .collect();
        self.progress.advance(category.test.len() - todo.len());
        if todo.is_empty() {
            return Ok(());
        }
        let prompts = self.detector.encode_prompts(&pixels)?;
        let mut maps = Vec::with_capacity(todo.len());
        for batch in todo.chunks(BATCH) {
            if self.interrupted.load(Ordering::SeqCst) {
                return Ok(());
            }
            let batch_maps = self.score_batch(category, k, seed, text, &prompts, batch)?;
            if self.args.pixel {
                maps.extend(batch_maps);
            }
        }
        if self.args.pixel {
            // Never resumed, so `todo` is the whole test set.
            self.pixel.push(PixelRun {
                category: category.name.clone(),
                k,
                seed,
                scores: pixel::evaluate(&todo, &maps, self.args.sigma)?,
            });
        }
        Ok(())
    }

    fn score_batch(
        &mut self,
        category: &CategoryData,
        k: usize,
        seed: u32,
        text: &Category,
        prompts: &PromptSet,
        batch: &[&TestImage],
    ) -> Result<Vec<PatchMap>> {
        let size = self.detector.config().vision_cfg.image_size;
        let pixels = batch
            .iter()
            .map(|t| preprocess_file(&t.path, size))
            .collect::<Result<Vec<_>>>()?;
        let scores = self.detector.score_blocking(text, prompts, &pixels)?;
        let mut maps = Vec::with_capacity(batch.len());
        for ((image, score), input) in batch.iter().zip(scores).zip(&pixels) {
            self.journal.append(Row {
                category: category.name.clone(),
                k,
                seed,
                image: image.name.clone(),
                label: u8::from(image.anomalous),
                score: score.score,
            })?;
            maps.push(PatchMap {
                values: score.patch_map,
                geometry: *input.geometry(),
            });
        }
        self.progress.advance(batch.len());
        Ok(maps)
    }

    /// The prompt images' names and pixels: drawn with `seed`, or the official file.
    fn prompts(
        &self,
        category: &CategoryData,
        k: usize,
        seed: u32,
    ) -> Result<(Vec<String>, Vec<Pixels>)> {
        if let Some(dir) = &self.args.prompts_dir {
            return official_prompts(dir, &category.name, k);
        }
        if category.train_normals.len() < k {
            return Err(Error::InvalidInput(format!(
                "category '{}' has {} normal training images, fewer than K = {k}",
                category.name,
                category.train_normals.len()
            )));
        }
        let size = self.detector.config().vision_cfg.image_size;
        let drawn = sample(&category.train_normals, k, seed);
        let pixels = drawn
            .iter()
            .map(|t| preprocess_file(&t.path, size))
            .collect::<Result<_>>()?;
        Ok((drawn.into_iter().map(|t| t.name).collect(), pixels))
    }
}

/// `<dir>/<K>/<category>.pt` or `<dir>/<category>.pt`: a pickled list of K
/// already preprocessed `[3, 240, 240]` tensors, used as they are.
fn official_prompts(dir: &Path, category: &str, k: usize) -> Result<(Vec<String>, Vec<Pixels>)> {
    let file = [
        dir.join(k.to_string()).join(format!("{category}.pt")),
        dir.join(format!("{category}.pt")),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .ok_or_else(|| {
        Error::InvalidInput(format!(
            "no {category}.pt in {} or its {k}/ folder",
            dir.display()
        ))
    })?;
    let checkpoint = Checkpoint::open(Arc::new(FileSource::open(&file)?))?;
    let tensors = checkpoint.tensors();
    if tensors.len() != k {
        return Err(Error::InvalidInput(format!(
            "{} holds {} prompt images, not K = {k}",
            file.display(),
            tensors.len()
        )));
    }
    let pixels = tensors
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let side = t.shape.last().copied().unwrap_or(0) as u32;
            let values = checkpoint.read_f32(t)?;
            Pixels::new(side, values)
                .map_err(|e| Error::image(format!("{}#{i}", file.display()), e))
        })
        .collect::<Result<Vec<_>>>()?;
    let names = (0..k).map(|i| format!("{}#{i}", file.display())).collect();
    Ok((names, pixels))
}

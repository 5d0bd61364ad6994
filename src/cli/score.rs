//! `inctrl score`: score query images against a few normal prompt images.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use inctrl::maps::DEFAULT_SIGMA;
use inctrl::{Category, CropGeometry, Detector, PromptSet, Result, Score};
use serde::Serialize;

use super::inputs::expand;
use super::{ModelArgs, Progress, PromptArgs, maps, read_images};

/// Queries scored per forward pass.
const BATCH: usize = 4;

/// Score images for anomalies, given a few normal images of the same category.
#[derive(Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    prompt: PromptArgs,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Anomaly threshold (e.g. from `inctrl calibrate`): each result says
    /// whether its score is above it (`anomalous`).
    #[arg(long)]
    threshold: Option<f32>,
    /// Write each query's anomaly map into this folder: `<name>.png` (a heat map
    /// over the image) and `<name>.npy` (float32 at the image's resolution, NaN
    /// where the centre crop cut the image).
    #[arg(long)]
    maps: Option<PathBuf>,
    /// Gaussian smoothing of the maps, in model-input pixels (0: none).
    #[arg(long, default_value_t = DEFAULT_SIGMA)]
    sigma: f32,
    /// Images to score: files, folders (the images inside, sorted) or glob patterns.
    #[arg(required = true)]
    queries: Vec<PathBuf>,
}

/// Output formats.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
enum Format {
    /// One JSON document.
    #[default]
    Json,
    /// An aligned text table.
    Table,
    /// Plain CSV: image, score, anomalous and the component scores, one row per image.
    Csv,
}

#[derive(Serialize)]
struct Report<'a> {
    category: &'a str,
    k: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold: Option<f32>,
    results: Vec<ImageResult>,
}

#[derive(Serialize)]
struct ImageResult {
    image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    anomalous: Option<bool>,
    #[serde(flatten)]
    score: Score,
}

/// A scored image and where its model input came from.
pub struct Scored {
    /// InCTRL's outputs.
    pub score: Score,
    /// The preprocessing geometry, for its anomaly map.
    pub geometry: CropGeometry,
}

/// Runs `inctrl score`.
pub fn run(args: ScoreArgs) -> Result<()> {
    let prompt_paths = expand(&args.prompt.prompts)?;
    let query_paths = expand(&args.queries)?;
    let mut detector = args.model.load()?;
    let size = detector.config().vision_cfg.image_size;
    let category = detector.category(&args.prompt.category)?;
    let prompts = detector.encode_prompts(&read_images(&prompt_paths, size)?)?;
    let scored = score_files(&detector, &category, &prompts, &query_paths)?;
    if let Some(dir) = &args.maps {
        maps::write_all(dir, &query_paths, &scored, args.sigma)?;
    }

    let results = query_paths
        .iter()
        .zip(scored)
        .map(|(path, scored)| ImageResult {
            image: path.display().to_string(),
            anomalous: args.threshold.map(|t| scored.score.score > t),
            score: scored.score,
        })
        .collect();
    let report = Report {
        category: &category.name,
        k: prompts.len(),
        threshold: args.threshold,
        results,
    };
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(&report).expect("report serialises")
        ),
        Format::Table => print_table(&report),
        Format::Csv => print_csv(&report)?,
    }
    Ok(())
}

/// Scores image files in batches against a prompt set, with progress on stderr.
pub fn score_files(
    detector: &Detector,
    category: &Category,
    prompts: &PromptSet,
    paths: &[PathBuf],
) -> Result<Vec<Scored>> {
    let size = detector.config().vision_cfg.image_size;
    let mut progress = Progress::new("scoring", paths.len(), "images");
    let mut scored = Vec::with_capacity(paths.len());
    for batch in paths.chunks(BATCH) {
        let pixels = read_images(batch, size)?;
        let scores = detector.score_blocking(category, prompts, &pixels)?;
        scored.extend(scores.into_iter().zip(&pixels).map(|(score, p)| Scored {
            score,
            geometry: *p.geometry(),
        }));
        progress.advance(batch.len());
    }
    progress.finish();
    Ok(scored)
}

fn print_table(report: &Report) {
    println!("category {}, K = {}", report.category, report.k);
    let width = report
        .results
        .iter()
        .map(|r| r.image.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let flag = |r: &ImageResult| match r.anomalous {
        Some(true) => "  anomalous",
        Some(false) => "  normal",
        None => "",
    };
    println!(
        "{:width$}  {:>8}  {:>9}  {:>8}  {:>8}  {:>9}{}",
        "image",
        "score",
        "patch_max",
        "text",
        "image",
        "holistic",
        if report.threshold.is_some() {
            "  decision"
        } else {
            ""
        }
    );
    for r in &report.results {
        let s = &r.score;
        println!(
            "{:width$}  {:>8.5}  {:>9.5}  {:>8.5}  {:>8.5}  {:>9.5}{}",
            r.image,
            s.score,
            s.patch_max,
            s.text_score,
            s.image_score,
            s.holistic_score,
            flag(r)
        );
    }
}

/// `image,score,anomalous,patch_max,text_score,image_score,holistic_score`;
/// `anomalous` is `true`/`false` with `--threshold`, empty without.
fn print_csv(report: &Report) -> Result<()> {
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    let fail = |e: csv::Error| inctrl::Error::InvalidInput(format!("writing CSV to stdout: {e}"));
    out.write_record([
        "image",
        "score",
        "anomalous",
        "patch_max",
        "text_score",
        "image_score",
        "holistic_score",
    ])
    .map_err(fail)?;
    for r in &report.results {
        let s = &r.score;
        out.write_record([
            r.image.clone(),
            s.score.to_string(),
            r.anomalous.map(|a| a.to_string()).unwrap_or_default(),
            s.patch_max.to_string(),
            s.text_score.to_string(),
            s.image_score.to_string(),
            s.holistic_score.to_string(),
        ])
        .map_err(fail)?;
    }
    out.flush().map_err(|e| inctrl::Error::io("stdout", e))
}

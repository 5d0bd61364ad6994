//! `inctrl score`: score query images against a few normal prompt images.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use inctrl::Result;
use inctrl::Score;
use serde::Serialize;

use super::{ModelArgs, Progress, read_images};

/// Queries scored per forward pass.
const BATCH: usize = 4;

/// Score images for anomalies, given a few normal images of the same category.
#[derive(Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Category name, e.g. `candle` or `metal_nut`.
    #[arg(long)]
    category: String,
    /// A normal image of the category (repeat for K prompts).
    #[arg(long = "prompt", required = true)]
    prompts: Vec<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Images to score.
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
}

#[derive(Serialize)]
struct Report<'a> {
    category: &'a str,
    k: usize,
    results: Vec<ImageResult>,
}

#[derive(Serialize)]
struct ImageResult {
    image: String,
    #[serde(flatten)]
    score: Score,
}

/// Runs `inctrl score`.
pub fn run(args: ScoreArgs) -> Result<()> {
    let mut detector = args.model.load()?;
    let size = detector.config().vision_cfg.image_size;
    let prompt_pixels = read_images(&args.prompts, size)?;
    let query_pixels = read_images(&args.queries, size)?;
    let category = detector.category(&args.category)?;
    let prompts = detector.encode_prompts(&prompt_pixels)?;

    let mut progress = Progress::new("scoring", query_pixels.len(), "images");
    let mut scores = Vec::with_capacity(query_pixels.len());
    for batch in query_pixels.chunks(BATCH) {
        scores.extend(detector.score_blocking(&category, &prompts, batch)?);
        progress.advance(batch.len());
    }
    progress.finish();

    let results = args
        .queries
        .iter()
        .zip(scores)
        .map(|(path, score)| ImageResult {
            image: path.display().to_string(),
            score,
        })
        .collect();
    let report = Report {
        category: &category.name,
        k: prompts.len(),
        results,
    };
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(&report).expect("report serialises")
        ),
        Format::Table => print_table(&report),
    }
    Ok(())
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
    println!(
        "{:width$}  {:>8}  {:>9}  {:>8}  {:>8}  {:>9}",
        "image", "score", "patch_max", "text", "image", "holistic"
    );
    for r in &report.results {
        let s = &r.score;
        println!(
            "{:width$}  {:>8.5}  {:>9.5}  {:>8.5}  {:>8.5}  {:>9.5}",
            r.image, s.score, s.patch_max, s.text_score, s.image_score, s.holistic_score
        );
    }
}

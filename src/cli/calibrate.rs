//! `inctrl calibrate`: an anomaly threshold from normal images alone, at a
//! chosen false-alarm rate (the rule is in `inctrl::calibrate`). Extra normal
//! images are scored against the prompts; without any, each prompt is scored
//! against the other K − 1 (leave-one-out).

use std::collections::HashSet;
use std::path::PathBuf;

use clap::Args;
use inctrl::calibrate::{Calibration, DEFAULT_FALSE_ALARM, calibrate};
use inctrl::{Error, Result};
use serde::Serialize;

use super::inputs::expand;
use super::score::score_files;
use super::{ModelArgs, PromptArgs, read_images};

/// Set an anomaly threshold from normal images alone, at a chosen false-alarm rate.
#[derive(Args)]
pub struct CalibrateArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    prompt: PromptArgs,
    /// The share of normal images allowed above the threshold.
    #[arg(long, default_value_t = DEFAULT_FALSE_ALARM)]
    false_alarm: f64,
    /// Other normal images to set it from (files, folders, glob patterns); prompt
    /// images among them are left out. None: the prompts, leave-one-out.
    normals: Vec<PathBuf>,
}

#[derive(Serialize)]
struct Output<'a> {
    #[serde(flatten)]
    calibration: &'a Calibration,
    /// `normals` or `leave_one_out`.
    method: &'static str,
    category: &'a str,
    k: usize,
}

/// Runs `inctrl calibrate`.
pub fn run(args: CalibrateArgs) -> Result<()> {
    let prompt_paths = expand(&args.prompt.prompts)?;
    let normal_paths = other_normals(&expand(&args.normals)?, &prompt_paths)?;
    if !args.normals.is_empty() && normal_paths.is_empty() {
        return Err(Error::InvalidInput(
            "every normal image given is also a prompt image: give other normal images".into(),
        ));
    }
    let mut detector = args.model.load()?;
    let size = detector.config().vision_cfg.image_size;
    let category = detector.category(&args.prompt.category)?;
    let prompt_pixels = read_images(&prompt_paths, size)?;
    let (scores, method) = if normal_paths.is_empty() {
        let scores = detector.score_leave_one_out_blocking(&category, &prompt_pixels)?;
        (scores, "leave_one_out")
    } else {
        let prompts = detector.encode_prompts(&prompt_pixels)?;
        let scored = score_files(&detector, &category, &prompts, &normal_paths)?;
        (scored.into_iter().map(|s| s.score).collect(), "normals")
    };
    let values: Vec<f32> = scores.iter().map(|s| s.score).collect();
    let calibration = calibrate(&values, args.false_alarm)?;
    if let Some(warning) = &calibration.warning {
        eprintln!("warning: {warning}");
    }
    let output = Output {
        calibration: &calibration,
        method,
        category: &category.name,
        k: prompt_paths.len(),
    };
    println!(
        "{}",
        serde_json::to_string(&output).expect("the calibration serialises")
    );
    Ok(())
}

/// The normal images that are not prompt images: scored against a prompt set
/// holding itself, an image would look more normal than it is.
fn other_normals(normals: &[PathBuf], prompts: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let canonical = |p: &PathBuf| std::fs::canonicalize(p).map_err(|e| Error::io(p.display(), e));
    let prompts: HashSet<PathBuf> = prompts.iter().map(canonical).collect::<Result<_>>()?;
    let mut kept = Vec::with_capacity(normals.len());
    for path in normals {
        if !prompts.contains(&canonical(path)?) {
            kept.push(path.clone());
        }
    }
    Ok(kept)
}

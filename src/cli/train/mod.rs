//! `inctrl train`: the original's training protocol on auxiliary data (spec §4)
//! with per-sample batches, writing a bundle that `score`, `eval` and the web
//! page load. Files in `--out`: `model.bpk` (last epoch), `best.bpk` (best
//! `--val` AUROC), `train.csv` (loss per step), `epochs.csv`, `loss.png`, and
//! `state/` for `--resume`; the frozen-tower features are cached in `cache/`.

mod log;
mod plot;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::{Args, ValueEnum};
use inctrl::eval::dataset::{self, CategoryData};
use inctrl::eval::split::sample;
use inctrl::train::{
    BalancedSampler, CacheEntry, CachePrecision, FeatureCache, TrainConfig, TrainImage, Trainer,
    ValidationCategory, assemble_batch, validate,
};
use inctrl::weights::Precision;
use inctrl::weights::bundle::write_bundle;
use inctrl::{ComputePrecision, Detector, Error, Result};
use serde::{Deserialize, Serialize};

use super::convert::write_file;
use super::{ModelArgs, Progress};
use log::{EpochRow, StepRow, TrainLog};
use plot::write_loss_curve;

/// Train the adapter and heads on auxiliary data (the CLIP towers stay frozen).
#[derive(Args)]
pub struct TrainArgs {
    /// The starting model (the towers are taken as they are; the heads continue from it).
    #[command(flatten)]
    model: ModelArgs,
    /// Training data: a folder in MVTec AD layout (normal = train/good + test/good,
    /// anomalous = the test defects, as the original's gen_train_json.py) or the
    /// original's JSON lists (`*_normal.json`, `*_outlier.json`). Repeatable.
    #[arg(long, required = true)]
    data: Vec<PathBuf>,
    /// Train only on these categories (repeatable; default: all found).
    #[arg(long)]
    category: Vec<String>,
    /// Validation data, evaluated after each epoch to keep the best: MVTec layout or JSON test lists.
    #[arg(long)]
    val: Vec<PathBuf>,
    /// JSON lists of normal images to draw the validation prompts from, for JSON validation data.
    #[arg(long)]
    val_train_json: Vec<PathBuf>,
    /// Where to write the model, logs and training state.
    #[arg(long)]
    out: PathBuf,
    /// Continue an interrupted run in --out.
    #[arg(long)]
    resume: bool,
    /// Normal prompts per query (K); the original trains one model per K.
    #[arg(long, default_value_t = 2)]
    shot: usize,
    /// Queries per batch (half normal, half anomalous).
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Steps per epoch.
    #[arg(long, default_value_t = 100)]
    steps_per_epoch: usize,
    /// Epochs.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Seed of the batch, prompt and validation-prompt draws.
    #[arg(long, default_value_t = 10)]
    seed: u32,
    /// How the cached layer tokens are stored: f16 halves the cache.
    #[arg(long, value_enum, default_value_t = CacheChoice::F32)]
    cache_precision: CacheChoice,
}

/// `--cache-precision`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum CacheChoice {
    F32,
    F16,
}

/// What `state/progress.json` records, for `--resume`.
#[derive(Serialize, Deserialize)]
struct Checkpointed {
    settings: serde_json::Value,
    steps_done: usize,
    best_auroc: Option<f64>,
}

/// Runs `inctrl train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let config = train_config(&args);
    config.check()?;
    if args.model.precision != ComputePrecision::F32 {
        return Err(Error::InvalidInput(
            "training computes in f32: drop --precision".into(),
        ));
    }
    std::fs::create_dir_all(args.out.join("state"))
        .map_err(|e| Error::io(args.out.display(), e))?;
    let settings = settings(&args);
    let resumed = resumed_progress(&args, &settings)?;

    let mut detector = args.model.load()?;
    let training = dataset::load(&args.data, &[], &args.category)?;
    // Before minutes of encoding: every category needs text prototypes.
    for category in &training {
        detector.category(&category.name)?;
    }
    let (entries, images) = training_images(&training);
    let sampler = BalancedSampler::new(&images, config.shot, config.seed)?;
    let precision = match args.cache_precision {
        CacheChoice::F32 => CachePrecision::F32,
        CacheChoice::F16 => CachePrecision::F16,
    };
    let cache = build_cache(&args, &mut detector, "train", &entries, precision)?;
    let validation = validation_set(&args, &mut detector, precision)?;

    let mut run = Run {
        trainer: Trainer::new(detector.model(), &config),
        sampler,
        log: TrainLog::open(&args.out, resumed.as_ref().map_or(0, |r| r.steps_done))?,
        best_auroc: resumed.as_ref().and_then(|r| r.best_auroc),
        steps_done: 0,
        config,
        settings,
    };
    if let Some(resumed) = &resumed {
        run.trainer = run.trainer.resume(&args.out.join("state"))?;
        run.skip(resumed.steps_done);
        eprintln!("resuming after step {}", resumed.steps_done);
    }
    run.all(&args, &detector, &cache, validation.as_ref())
}

fn train_config(args: &TrainArgs) -> TrainConfig {
    TrainConfig::new()
        .with_batch_size(args.batch_size)
        .with_shot(args.shot)
        .with_learning_rate(args.lr)
        .with_steps_per_epoch(args.steps_per_epoch)
        .with_epochs(args.epochs)
        .with_seed(args.seed)
}

/// What must match for `--resume` to continue a run.
fn settings(args: &TrainArgs) -> serde_json::Value {
    let paths = |p: &[PathBuf]| {
        p.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
    };
    serde_json::json!({
        "weights": args.model.weights.display().to_string(),
        "data": paths(&args.data),
        "categories": args.category,
        "val": paths(&args.val),
        "val_train_json": paths(&args.val_train_json),
        "shot": args.shot,
        "batch_size": args.batch_size,
        "steps_per_epoch": args.steps_per_epoch,
        "epochs": args.epochs,
        "lr": args.lr,
        "seed": args.seed,
    })
}

fn progress_path(out: &Path) -> PathBuf {
    out.join("state").join("progress.json")
}

fn resumed_progress(
    args: &TrainArgs,
    settings: &serde_json::Value,
) -> Result<Option<Checkpointed>> {
    let path = progress_path(&args.out);
    if !args.resume {
        if path.exists() {
            return Err(Error::InvalidInput(format!(
                "{} holds a training run: pass --resume to continue it, or choose another --out",
                args.out.display()
            )));
        }
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(path.display(), e))?;
    let saved: Checkpointed = serde_json::from_str(&text)
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))?;
    if &saved.settings != settings {
        return Err(Error::InvalidInput(format!(
            "--resume needs the settings of the interrupted run: {}",
            saved.settings
        )));
    }
    Ok(Some(saved))
}

/// Every normal and anomalous image of the training categories, for the cache and the sampler.
fn training_images(categories: &[CategoryData]) -> (Vec<CacheEntry>, Vec<TrainImage>) {
    categories
        .iter()
        .flat_map(|category| {
            let normals = category.train_normals.iter();
            normals.chain(&category.test).map(|image| {
                (
                    CacheEntry {
                        path: image.path.clone(),
                        category: category.name.clone(),
                    },
                    TrainImage {
                        category: category.name.clone(),
                        anomalous: image.anomalous,
                    },
                )
            })
        })
        .unzip()
}

fn build_cache(
    args: &TrainArgs,
    detector: &mut Detector,
    name: &str,
    entries: &[CacheEntry],
    precision: CachePrecision,
) -> Result<FeatureCache> {
    let dir = args.out.join("cache");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display(), e))?;
    let mut progress = Progress::new(format!("encoding {name} images"), entries.len(), "images");
    let cache = FeatureCache::open_or_build(
        &dir.join(format!("{name}.bin")),
        detector,
        &weights_id(&args.model.weights)?,
        entries,
        precision,
        |done, _| progress.set(done),
    )?;
    progress.finish();
    Ok(cache)
}

/// The weights file by path, size and modification time: a changed file rebuilds the caches.
fn weights_id(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path.display(), e))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let path = std::fs::canonicalize(path).map_err(|e| Error::io(path.display(), e))?;
    Ok(format!("{} {} {modified}", path.display(), meta.len()))
}

/// The `--val` categories with their prompts drawn once, and their cached features.
fn validation_set(
    args: &TrainArgs,
    detector: &mut Detector,
    precision: CachePrecision,
) -> Result<Option<(FeatureCache, Vec<ValidationCategory>)>> {
    if args.val.is_empty() {
        return Ok(None);
    }
    let mut entries = Vec::new();
    let mut categories = Vec::new();
    for category in dataset::load(&args.val, &args.val_train_json, &[])? {
        let prompts = sample(&category.train_normals, args.shot, args.seed);
        if prompts.len() < args.shot {
            return Err(Error::InvalidInput(format!(
                "validation category '{}' has {} normal training images, fewer than --shot {}",
                category.name,
                category.train_normals.len(),
                args.shot
            )));
        }
        let mut add = |path: &Path| {
            entries.push(CacheEntry {
                path: path.to_owned(),
                category: category.name.clone(),
            });
            entries.len() - 1
        };
        let prompts = prompts.iter().map(|p| add(&p.path)).collect();
        let test = category
            .test
            .iter()
            .map(|t| (add(&t.path), t.anomalous))
            .collect();
        let text = detector.category(&category.name)?;
        categories.push(ValidationCategory {
            prototypes: pollster::block_on(detector.prototype_values(&text))?,
            name: category.name,
            prompts,
            test,
        });
    }
    let cache = build_cache(args, detector, "val", &entries, precision)?;
    Ok(Some((cache, categories)))
}

/// The state of one training run.
struct Run {
    trainer: Trainer,
    sampler: BalancedSampler,
    log: TrainLog,
    best_auroc: Option<f64>,
    steps_done: usize,
    config: TrainConfig,
    settings: serde_json::Value,
}

impl Run {
    /// Replays the batch draws of the steps already done, so a resumed run sees the same batches.
    fn skip(&mut self, steps: usize) {
        for _ in 0..steps {
            self.sampler.next_batch(self.config.batch_size);
        }
        self.steps_done = steps;
    }

    fn all(
        &mut self,
        args: &TrainArgs,
        detector: &Detector,
        cache: &FeatureCache,
        validation: Option<&(FeatureCache, Vec<ValidationCategory>)>,
    ) -> Result<()> {
        let interrupted = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&interrupted);
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
        let total = self.config.epochs * self.config.steps_per_epoch;
        let mut progress = Progress::new("training", total, "steps");
        progress.set(self.steps_done);
        let started = Instant::now();
        while self.steps_done < total {
            let samples = self.sampler.next_batch(self.config.batch_size);
            let losses = self.trainer.step(&assemble_batch(cache, &samples))?;
            self.steps_done += 1;
            let epoch = (self.steps_done - 1) / self.config.steps_per_epoch + 1;
            self.log.step(StepRow {
                step: self.steps_done,
                epoch,
                loss: losses.loss,
                loss_final: losses.final_score,
                loss_image: losses.image_score,
                seconds: started.elapsed().as_secs_f64(),
            })?;
            progress.set_note(format!(" loss {:.4}", losses.loss));
            progress.set(self.steps_done);
            if self.steps_done.is_multiple_of(self.config.steps_per_epoch) {
                self.end_epoch(args, detector, validation, epoch)?;
            }
            if interrupted.load(Ordering::SeqCst) {
                progress.finish();
                self.save_state(&args.out)?;
                return Err(Error::Interrupted(format!(
                    "stopped after step {}: rerun with --resume to continue",
                    self.steps_done
                )));
            }
        }
        progress.finish();
        self.save_state(&args.out)?;
        eprintln!("model: {}", args.out.join("model.bpk").display());
        Ok(())
    }

    /// Writes the epoch's bundle, validates it, keeps the best, and saves the state.
    fn end_epoch(
        &mut self,
        args: &TrainArgs,
        detector: &Detector,
        validation: Option<&(FeatureCache, Vec<ValidationCategory>)>,
        epoch: usize,
    ) -> Result<()> {
        let model = self.trainer.heads().install(detector.model().clone());
        let auroc = match validation {
            Some((cache, categories)) => {
                let per_category = validate(&model, cache, categories, detector.device())?;
                Some(per_category.iter().sum::<f64>() / per_category.len() as f64)
            }
            None => None,
        };
        let last = args.out.join("model.bpk");
        let writer = write_bundle(
            &model,
            detector.config(),
            detector.text_table(),
            Precision::F32,
            model.text.is_some(),
        );
        write_file(writer, &last)?;
        if let Some(value) = auroc
            && self.best_auroc.is_none_or(|best| value > best)
        {
            self.best_auroc = Some(value);
            // The same bytes: no second serialisation.
            let best = args.out.join("best.bpk");
            std::fs::copy(&last, &best).map_err(|e| Error::io(best.display(), e))?;
        }
        let mean_loss = self.log.mean_loss_of(epoch);
        self.log.epoch(EpochRow {
            epoch,
            mean_loss,
            val_auroc: auroc,
        })?;
        eprintln!(
            "epoch {epoch}: mean loss {mean_loss:.4}{}",
            auroc.map_or(String::new(), |a| format!(", validation AUROC {a:.4}"))
        );
        write_loss_curve(
            &args.out.join("loss.png"),
            &self.log.losses(),
            self.config.steps_per_epoch,
        )?;
        self.save_state(&args.out)
    }

    fn save_state(&self, out: &Path) -> Result<()> {
        let state = out.join("state");
        self.trainer.save(&state)?;
        let saved = Checkpointed {
            settings: self.settings.clone(),
            steps_done: self.steps_done,
            best_auroc: self.best_auroc,
        };
        let path = progress_path(out);
        let text = serde_json::to_string_pretty(&saved).expect("progress serialises");
        std::fs::write(&path, text).map_err(|e| Error::io(path.display(), e))
    }
}

//! `inctrl convert` (checkpoint → bundle) and `inctrl random-bundle`.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Distribution, Tensor};
use clap::Args;
use inctrl::Detector;
use inctrl::model::InctrlConfig;
use inctrl::text::TextTable;
use inctrl::weights::bundle::{Precision, write_bundle};
use inctrl::weights::convert::{build_text_table, bundle_categories, bundle_writer};
use inctrl::{Error, Result};

use super::{Progress, read_back, read_config};

/// Convert an official InCTRL checkpoint (or re-pack a bundle) into one self-describing `.bpk` bundle.
#[derive(Args)]
pub struct ConvertArgs {
    /// The checkpoint: `checkpoint.pyth` (torch.save state dict, optionally wrapped
    /// in `model_state`) or its `.safetensors` form; or a `.bpk` bundle, e.g. from
    /// `inctrl train`, to store it as float16 or with other categories.
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    bundle: BundleArgs,
    /// Also store the text tower, so that any category name works later.
    #[arg(long)]
    with_text: bool,
    /// Extra category names to precompute, comma separated.
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
}

/// Write a bundle with random weights, for benchmarks (not for scoring real images).
#[derive(Args)]
pub struct RandomBundleArgs {
    #[command(flatten)]
    bundle: BundleArgs,
}

/// The bundle to write: what `convert` and `random-bundle` share.
#[derive(Args)]
struct BundleArgs {
    /// open_clip model config JSON (default: the built-in ViT-B-16-plus-240).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output bundle path.
    #[arg(long)]
    out: PathBuf,
    /// Store the CLIP towers as float16 (half the size; the model still computes
    /// in f32 unless `--precision f16` is chosen when scoring).
    #[arg(long)]
    half: bool,
}

fn precision(half: bool) -> Precision {
    if half { Precision::F16 } else { Precision::F32 }
}

/// Runs `inctrl convert`.
pub fn run(args: ConvertArgs) -> Result<()> {
    let device = Device::flex();
    let config = read_config(args.bundle.config.as_deref())?;
    let mut detector = Detector::open(&args.checkpoint, Some(config), &device)?;
    eprintln!("loaded {}", args.checkpoint.display());

    let categories = bundle_categories(&args.categories);
    let mut progress = Progress::new("text prototypes", categories.len(), "categories");
    let table = pollster::block_on(build_text_table(&mut detector, &categories, |done, _| {
        progress.set(done)
    }))?;
    progress.finish();

    let writer = bundle_writer(
        &detector,
        &table,
        precision(args.bundle.half),
        args.with_text,
    )?;
    write_file(writer, &args.bundle.out)?;
    eprintln!(
        "wrote {} ({} categories)",
        args.bundle.out.display(),
        table.len()
    );
    Ok(())
}

/// Runs `inctrl random-bundle`.
pub fn run_random(args: RandomBundleArgs) -> Result<()> {
    let device = Device::flex();
    let config = read_config(args.bundle.config.as_deref())?;
    let model = InctrlConfig::from_clip(&config, false).init(&device);
    let mut table = TextTable::default();
    for name in bundle_categories(&[]) {
        let random = Tensor::<2>::random(
            [2, config.embed_dim],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let unit = random.clone() / random.clone().mul(random).sum_dim(1).sqrt();
        let values = read_back(unit)?;
        table.insert(&name, values);
    }
    write_file(
        write_bundle(&model, &config, &table, precision(args.bundle.half), false),
        &args.bundle.out,
    )?;
    eprintln!(
        "wrote {} (random weights: for benchmarks only)",
        args.bundle.out.display()
    );
    Ok(())
}

/// Writes a bundle, replacing any file at `path` only once the new one is complete.
pub(super) fn write_file(writer: burn_store::burn_pack::Writer, path: &Path) -> Result<()> {
    writer
        .overwrite(true)
        .auto_extension(false)
        .write_to_file(path)
        .map_err(|e| Error::Weights(format!("writing {}: {e}", path.display())))
}

//! `inctrl prepare`: turns a dataset as distributed into the MVTec AD layout
//! (`<category>/train/good`, `test/good`, `test/<defect>/`) the way InCTRL's
//! `datasets/preprocess/convert_*.py` scripts do: normal images split 75/25
//! into train/test with scikit-learn's `train_test_split(random_state=42)`,
//! every anomaly in test. Where a script lists a folder with `os.listdir`
//! (whose order depends on the file system) we sort, so runs are reproducible.

mod aitex;
mod brainmri;
mod elpv;
mod headct;
mod io;
mod sdd;
#[cfg(test)]
mod test_support;
mod visa;

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use inctrl::Result;
use inctrl::eval::split::train_test_split;

use aitex::aitex;
use brainmri::brainmri;
use elpv::elpv;
use headct::headct;
use io::{Image, copy_into};
use sdd::sdd;
use visa::visa;

/// The split seed of the original scripts.
const SPLIT_SEED: u32 = 42;

/// Convert a published dataset into the MVTec AD layout used by `inctrl eval`.
#[derive(Args)]
pub struct PrepareArgs {
    /// Which dataset SRC holds.
    #[arg(value_enum)]
    dataset: Dataset,
    /// The dataset as downloaded (see the README for where each is published).
    src: PathBuf,
    /// Output folder; the category folder is created inside it.
    dst: PathBuf,
}

/// The datasets of the paper that need converting.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Dataset {
    /// ELPV solar cells: `labels.csv` and `images/` (also the `elpv-dataset` PyPI package's `data/`).
    Elpv,
    /// KolektorSDD: `kosNN/PartN.jpg` with `PartN_label.bmp`.
    Sdd,
    /// AITEX fabric: `NODefect_images/`, `Defect_images/Defect_images/`, `Mask_images/Mask_images/`.
    Aitex,
    /// Brain MRI (Kaggle): `no/` and `yes/`.
    Brainmri,
    /// Head CT (Kaggle): `labels.csv` and `head_ct/head_ct/NNN.png`.
    Headct,
    /// VisA: `split_csv/1cls.csv` and the images it lists.
    Visa,
}

/// Runs `inctrl prepare`.
pub fn run(args: PrepareArgs) -> Result<()> {
    let written = match args.dataset {
        Dataset::Elpv => elpv(&args.src, &args.dst.join("elpv"))?,
        Dataset::Sdd => sdd(&args.src, &args.dst.join("SDD"))?,
        Dataset::Aitex => aitex(&args.src, &args.dst.join("AITEX"))?,
        Dataset::Brainmri => brainmri(&args.src, &args.dst.join("brainmri"))?,
        Dataset::Headct => headct(&args.src, &args.dst.join("headct"))?,
        Dataset::Visa => visa(&args.src, &args.dst)?,
    };
    eprintln!("wrote {written} images under {}", args.dst.display());
    Ok(())
}

/// Splits the normal files 75/25 and copies them to `train/good` and `test/good`.
fn copy_split(normal: &[PathBuf], out: &Path) -> Result<usize> {
    let (train, test) = train_test_split(normal, SPLIT_SEED);
    for path in &train {
        copy_into(path, &out.join("train/good"))?;
    }
    for path in &test {
        copy_into(path, &out.join("test/good"))?;
    }
    Ok(normal.len())
}

/// Writes split normal tiles `(name, tile)` and anomalous tiles `(class, name,
/// tile, mask)` as PNG, masks unchanged (not binarised) as `<name>_mask.png`.
fn write_tiles(
    out: &Path,
    normal: Vec<(String, Image)>,
    anomalous: Vec<(String, String, Image, Image)>,
) -> Result<usize> {
    let (train, test) = train_test_split(&normal, SPLIT_SEED);
    for (folder, tiles) in [("train/good", &train), ("test/good", &test)] {
        for (name, tile) in tiles {
            tile.write_png(&out.join(folder).join(format!("{name}.png")))?;
        }
    }
    for (class, name, tile, mask) in &anomalous {
        tile.write_png(&out.join("test").join(class).join(format!("{name}.png")))?;
        mask.write_png(
            &out.join("ground_truth")
                .join(class)
                .join(format!("{name}_mask.png")),
        )?;
    }
    Ok(normal.len() + anomalous.len())
}

//! `train.csv` (one row per step) and `epochs.csv` (one row per epoch). A
//! resumed run keeps the rows of the steps it continues from and drops any
//! written after its last saved state.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use inctrl::{Error, Result};

const STEP_HEADER: &str = "step,epoch,loss,loss_final,loss_image,seconds";
const EPOCH_HEADER: &str = "epoch,mean_loss,val_auroc";

/// One step's row.
pub struct StepRow {
    pub step: usize,
    pub epoch: usize,
    pub loss: f32,
    pub loss_final: f32,
    pub loss_image: f32,
    /// Seconds since this process started training.
    pub seconds: f64,
}

/// One epoch's row.
pub struct EpochRow {
    pub epoch: usize,
    pub mean_loss: f32,
    pub val_auroc: Option<f64>,
}

/// The two CSV logs, open for appending, and the losses so far.
pub struct TrainLog {
    steps: File,
    steps_path: PathBuf,
    epochs: File,
    epochs_path: PathBuf,
    losses: Vec<(usize, f32)>,
}

impl TrainLog {
    /// Opens the logs in `out`, keeping the rows of the first `steps_done` steps.
    pub fn open(out: &Path, steps_done: usize) -> Result<Self> {
        let steps_path = out.join("train.csv");
        let epochs_path = out.join("epochs.csv");
        let step_rows = kept_rows(&steps_path, steps_done)?;
        let losses = step_rows
            .iter()
            .map(|row| parse_loss(row, &steps_path))
            .collect::<Result<Vec<_>>>()?;
        // Epoch rows are written when an epoch ends, so a step count past the
        // end of an epoch keeps exactly the finished epochs' rows.
        let epochs_done = losses.last().map_or(0, |&(epoch, _)| epoch);
        let epoch_rows = kept_rows(&epochs_path, epochs_done)?;
        Ok(Self {
            steps: rewrite(&steps_path, STEP_HEADER, &step_rows)?,
            steps_path,
            epochs: rewrite(&epochs_path, EPOCH_HEADER, &epoch_rows)?,
            epochs_path,
            losses,
        })
    }

    /// Appends a step.
    pub fn step(&mut self, row: StepRow) -> Result<()> {
        self.losses.push((row.epoch, row.loss));
        writeln!(
            self.steps,
            "{},{},{},{},{},{:.3}",
            row.step, row.epoch, row.loss, row.loss_final, row.loss_image, row.seconds
        )
        .map_err(|e| Error::io(self.steps_path.display(), e))
    }

    /// Appends an epoch.
    pub fn epoch(&mut self, row: EpochRow) -> Result<()> {
        let auroc = row.val_auroc.map_or(String::new(), |a| a.to_string());
        writeln!(self.epochs, "{},{},{auroc}", row.epoch, row.mean_loss)
            .map_err(|e| Error::io(self.epochs_path.display(), e))
    }

    /// Every step's loss so far.
    pub fn losses(&self) -> Vec<f32> {
        self.losses.iter().map(|&(_, l)| l).collect()
    }

    /// The mean loss of `epoch`'s steps.
    pub fn mean_loss_of(&self, epoch: usize) -> f32 {
        let of_epoch: Vec<f32> = self
            .losses
            .iter()
            .filter(|&&(e, _)| e == epoch)
            .map(|&(_, l)| l)
            .collect();
        of_epoch.iter().sum::<f32>() / of_epoch.len().max(1) as f32
    }
}

/// The first `count` data rows of `path` (none if it does not exist).
fn kept_rows(path: &Path, count: usize) -> Result<Vec<String>> {
    let Ok(file) = File::open(path) else {
        return Ok(Vec::new());
    };
    BufReader::new(file)
        .lines()
        .skip(1)
        .take(count)
        .map(|line| line.map_err(|e| Error::io(path.display(), e)))
        .collect()
}

fn rewrite(path: &Path, header: &str, rows: &[String]) -> Result<File> {
    let mut file = File::create(path).map_err(|e| Error::io(path.display(), e))?;
    let mut text = format!("{header}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    file.write_all(text.as_bytes())
        .map_err(|e| Error::io(path.display(), e))?;
    Ok(file)
}

/// `(epoch, loss)` of a `train.csv` row.
fn parse_loss(row: &str, path: &Path) -> Result<(usize, f32)> {
    let fields: Vec<&str> = row.split(',').collect();
    let epoch = fields.get(1).and_then(|f| f.parse().ok());
    let loss = fields.get(2).and_then(|f| f.parse().ok());
    epoch
        .zip(loss)
        .ok_or_else(|| Error::InvalidInput(format!("{}: unreadable row '{row}'", path.display())))
}

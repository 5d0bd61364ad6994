//! The scores CSV, written as images are scored: one row per (category, K,
//! seed, image), flushed at once, so an interrupted run loses nothing and
//! `--resume` continues where it stopped. The CSV is plain (a header, then
//! rows) so that any CSV reader takes it as it is; the run's settings sit
//! beside it in `<scores>.settings.json`, so that a resume cannot mix runs.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

const COLUMNS: &str = "category,k,seed,image,label,score";

/// One scored image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Category name.
    pub category: String,
    /// Prompt-set size.
    pub k: usize,
    /// Prompt draw seed.
    pub seed: u32,
    /// Image name as in the report.
    pub image: String,
    /// 1 for anomalous, 0 for normal.
    pub label: u8,
    /// Final anomaly score.
    pub score: f32,
}

/// Identifies a row: one score per image per prompt set.
pub type Key = (String, usize, u32, String);

/// The open scores file and every row in it.
pub struct Journal {
    file: File,
    path: PathBuf,
    rows: Vec<Row>,
    index: HashMap<Key, usize>,
}

impl Journal {
    /// Starts a new file, or continues one written with the same `settings`.
    pub fn open(path: &Path, settings: &str, resume: bool) -> Result<Self> {
        let shown = path.display().to_string();
        let rows = match (path.exists(), resume) {
            (true, false) => {
                return Err(Error::InvalidInput(format!(
                    "{shown} already exists: pass --resume to continue that run, or remove it"
                )));
            }
            (true, true) => {
                check_settings(path, settings)?;
                read_rows(path)?
            }
            (false, _) => {
                let sidecar = settings_path(path);
                std::fs::write(&sidecar, format!("{settings}\n"))
                    .map_err(|e| Error::io(sidecar.display(), e))?;
                std::fs::write(path, format!("{COLUMNS}\n")).map_err(|e| Error::io(&shown, e))?;
                Vec::new()
            }
        };
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(&shown, e))?;
        let index = rows.iter().enumerate().map(|(i, r)| (key(r), i)).collect();
        Ok(Self {
            file,
            path: path.to_owned(),
            rows,
            index,
        })
    }

    /// Whether this image was already scored with this prompt set.
    pub fn contains(&self, key: &Key) -> bool {
        self.index.contains_key(key)
    }

    /// Appends and flushes one row.
    pub fn append(&mut self, row: Row) -> Result<()> {
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        writer
            .serialize(&row)
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let line = writer
            .into_inner()
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let shown = self.path.display().to_string();
        self.file
            .write_all(&line)
            .and_then(|_| self.file.flush())
            .map_err(|e| Error::io(&shown, e))?;
        self.index.insert(key(&row), self.rows.len());
        self.rows.push(row);
        Ok(())
    }

    /// Every row so far, in the order written.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn key(row: &Row) -> Key {
    (row.category.clone(), row.k, row.seed, row.image.clone())
}

/// Where the settings of the run that writes `scores` are kept.
fn settings_path(scores: &Path) -> PathBuf {
    let mut name = scores.as_os_str().to_owned();
    name.push(".settings.json");
    PathBuf::from(name)
}

/// Refuses to resume a run whose settings differ from `settings`.
fn check_settings(scores: &Path, settings: &str) -> Result<()> {
    let sidecar = settings_path(scores);
    let written = std::fs::read_to_string(&sidecar).map_err(|e| {
        Error::InvalidInput(format!(
            "cannot resume {}: its settings file {} is unreadable ({e})",
            scores.display(),
            sidecar.display()
        ))
    })?;
    if written.trim_end() != settings {
        return Err(Error::InvalidInput(format!(
            "{} was written by a run with other settings (see {}); use a new --scores file",
            scores.display(),
            sidecar.display()
        )));
    }
    Ok(())
}

/// Reads an earlier run's rows, dropping a last line cut off by the interruption.
fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let shown = path.display().to_string();
    let text = std::fs::read(path).map_err(|e| Error::io(&shown, e))?;
    let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if complete < text.len() {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(&shown, e))?;
        file.set_len(complete as u64)
            .map_err(|e| Error::io(&shown, e))?;
    }
    csv::Reader::from_reader(&text[..complete])
        .deserialize()
        .collect::<std::result::Result<Vec<Row>, _>>()
        .map_err(|e| Error::InvalidInput(format!("{shown} is not a scores file: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(image: &str, score: f32) -> Row {
        Row {
            category: "elpv".into(),
            k: 2,
            seed: 10,
            image: image.into(),
            label: 1,
            score,
        }
    }

    #[test]
    fn resumes_and_survives_a_cut_off_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.csv");
        let mut journal = Journal::open(&path, "{\"k\":[2]}", false).unwrap();
        journal.append(row("a, with comma.png", 0.25)).unwrap();
        journal.append(row("b.png", 0.123_456_79)).unwrap();
        drop(journal);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"elpv,2,10,c.pn");
        std::fs::write(&path, bytes).unwrap();

        assert!(
            Journal::open(&path, "{\"k\":[2]}", false).is_err(),
            "refuses to overwrite"
        );
        assert!(
            Journal::open(&path, "{\"k\":[4]}", true).is_err(),
            "refuses other settings"
        );
        let mut journal = Journal::open(&path, "{\"k\":[2]}", true).unwrap();
        assert_eq!(
            journal.rows(),
            [row("a, with comma.png", 0.25), row("b.png", 0.123_456_79)]
        );
        assert!(journal.contains(&key(&row("b.png", 0.0))));
        journal.append(row("c.png", 0.5)).unwrap();
        let again = Journal::open(&path, "{\"k\":[2]}", true).unwrap();
        assert_eq!(again.rows().len(), 3);

        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("category,k,seed,image,label,score\n"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 4, "a header and three rows: {text}");
        std::fs::remove_file(settings_path(&path)).unwrap();
        let err = Journal::open(&path, "{\"k\":[2]}", true).err().unwrap();
        assert!(
            err.to_string().contains("scores.csv.settings.json"),
            "{err}"
        );
    }
}

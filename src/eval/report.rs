//! Metrics per prompt set, mean ± std over seeds, mean over categories, and
//! how they are shown: a markdown table on stdout and a JSON report.

use std::collections::BTreeMap;

use super::metrics::{auroc, average_precision};
use crate::error::Result;
use serde::Serialize;

use super::dataset::CategoryData;
use super::journal::Row;

/// A prompt set: which images were drawn for one (category, K, seed).
#[derive(Debug, Clone)]
pub struct PromptDraw {
    /// Category name.
    pub category: String,
    /// Prompt-set size.
    pub k: usize,
    /// Draw seed.
    pub seed: u32,
    /// The prompt images, by name.
    pub prompts: Vec<String>,
}

/// Everything `--out` writes.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The settings of the run.
    pub settings: serde_json::Value,
    /// False when the run was interrupted: some prompt sets lack metrics.
    pub complete: bool,
    /// Per category.
    pub categories: Vec<CategoryReport>,
    /// Mean over categories per K (multi-category datasets, complete runs only).
    pub mean_over_categories: BTreeMap<usize, Summary>,
}

/// One category's results.
#[derive(Debug, Serialize)]
pub struct CategoryReport {
    name: String,
    test_images: usize,
    anomalous: usize,
    train_normals: usize,
    runs: Vec<RunReport>,
    /// Per K: mean ± std over the seeds.
    summary: BTreeMap<usize, Summary>,
}

/// One prompt set's results.
#[derive(Debug, Serialize)]
pub struct RunReport {
    k: usize,
    seed: u32,
    prompts: Vec<String>,
    scored: usize,
    auroc: Option<f64>,
    auprc: Option<f64>,
}

/// Mean and (population) standard deviation over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    auroc_mean: f64,
    auroc_std: f64,
    auprc_mean: f64,
    auprc_std: f64,
    seeds: usize,
}

impl Report {
    /// Computes every metric from the scored rows.
    /// `runs_per_category` is K values × seeds: fewer draws means an interrupted run.
    pub fn build(
        settings: serde_json::Value,
        categories: &[CategoryData],
        runs_per_category: usize,
        draws: &[PromptDraw],
        rows: &[Row],
    ) -> Result<Self> {
        let categories = categories
            .iter()
            .map(|c| category_report(c, draws, rows))
            .collect::<Result<Vec<_>>>()?;
        let complete = categories
            .iter()
            .all(|c| c.runs.len() == runs_per_category && c.runs.iter().all(|r| r.auroc.is_some()));
        let mean_over_categories = if complete && categories.len() > 1 {
            mean_over(&categories)
        } else {
            BTreeMap::new()
        };
        Ok(Self {
            settings,
            complete,
            categories,
            mean_over_categories,
        })
    }

    /// One row per category, AUROC and AUPRC columns per K.
    pub fn markdown(&self) -> String {
        let ks: Vec<usize> = self.categories[0].summary.keys().copied().collect();
        let mut out = String::from("| category |");
        for k in &ks {
            out += &format!(" K={k} AUROC | K={k} AUPRC |");
        }
        out += &format!("\n|---|{}\n", "---|---|".repeat(ks.len()));
        let mut row = |name: &str, summaries: &BTreeMap<usize, Summary>| {
            out += &format!("| {name} |");
            for k in &ks {
                match summaries.get(k) {
                    Some(s) => {
                        out += &format!(
                            " {} | {} |",
                            cell(s.auroc_mean, s.auroc_std),
                            cell(s.auprc_mean, s.auprc_std)
                        )
                    }
                    None => out += " – | – |",
                }
            }
            out += "\n";
        };
        for category in &self.categories {
            row(&category.name, &category.summary);
        }
        if !self.mean_over_categories.is_empty() {
            row("**mean**", &self.mean_over_categories);
        }
        out
    }
}

fn cell(mean: f64, std: f64) -> String {
    format!("{mean:.4} ± {std:.4}")
}

fn category_report(
    category: &CategoryData,
    draws: &[PromptDraw],
    rows: &[Row],
) -> Result<CategoryReport> {
    let runs = draws
        .iter()
        .filter(|d| d.category == category.name)
        .map(|draw| run_report(category, draw, rows))
        .collect::<Result<Vec<_>>>()?;
    let mut summary = BTreeMap::new();
    // Runs come in (K, seed) order: one summary per K.
    let mut ks: Vec<usize> = runs.iter().map(|r| r.k).collect();
    ks.dedup();
    for k in ks {
        let done: Vec<&RunReport> = runs
            .iter()
            .filter(|r| r.k == k && r.auroc.is_some())
            .collect();
        if !done.is_empty() && done.len() == runs.iter().filter(|r| r.k == k).count() {
            let aurocs: Vec<f64> = done.iter().filter_map(|r| r.auroc).collect();
            let auprcs: Vec<f64> = done.iter().filter_map(|r| r.auprc).collect();
            summary.insert(k, summarise(&aurocs, &auprcs));
        }
    }
    Ok(CategoryReport {
        name: category.name.clone(),
        test_images: category.test.len(),
        anomalous: category.test.iter().filter(|t| t.anomalous).count(),
        train_normals: category.train_normals.len(),
        runs,
        summary,
    })
}

fn run_report(category: &CategoryData, draw: &PromptDraw, rows: &[Row]) -> Result<RunReport> {
    let scored: Vec<&Row> = rows
        .iter()
        .filter(|r| r.category == draw.category && r.k == draw.k && r.seed == draw.seed)
        .collect();
    let (auroc, auprc) = if scored.len() == category.test.len() {
        let labels: Vec<bool> = scored.iter().map(|r| r.label == 1).collect();
        let scores: Vec<f32> = scored.iter().map(|r| r.score).collect();
        (
            Some(auroc(&labels, &scores)?),
            Some(average_precision(&labels, &scores)?),
        )
    } else {
        (None, None)
    };
    Ok(RunReport {
        k: draw.k,
        seed: draw.seed,
        prompts: draw.prompts.clone(),
        scored: scored.len(),
        auroc,
        auprc,
    })
}

fn summarise(aurocs: &[f64], auprcs: &[f64]) -> Summary {
    let (auroc_mean, auroc_std) = mean_std(aurocs);
    let (auprc_mean, auprc_std) = mean_std(auprcs);
    Summary {
        auroc_mean,
        auroc_std,
        auprc_mean,
        auprc_std,
        seeds: aurocs.len(),
    }
}

/// Mean and population standard deviation (numpy's `std` default).
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, variance.sqrt())
}

fn mean_over(categories: &[CategoryReport]) -> BTreeMap<usize, Summary> {
    let mut out = BTreeMap::new();
    for &k in categories[0].summary.keys() {
        let per_category: Vec<&Summary> = categories
            .iter()
            .filter_map(|c| c.summary.get(&k))
            .collect();
        let aurocs: Vec<f64> = per_category.iter().map(|s| s.auroc_mean).collect();
        let auprcs: Vec<f64> = per_category.iter().map(|s| s.auprc_mean).collect();
        let mut summary = summarise(&aurocs, &auprcs);
        summary.seeds = per_category.first().map_or(0, |s| s.seeds);
        out.insert(k, summary);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_population_std() {
        let (mean, std) = mean_std(&[0.8, 0.9, 1.0]);
        assert!((mean - 0.9).abs() < 1e-12);
        assert!((std - (0.02f64 / 3.0).sqrt()).abs() < 1e-12);
    }
}

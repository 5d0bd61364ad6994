//! Metrics per prompt set, mean ± std over seeds, mean over categories, and
//! how they are shown: a markdown table on stdout and a JSON report. Pixel
//! metrics ([`super::pixel`]) join the image metrics when a run computed them.

use std::collections::BTreeMap;

use super::metrics::{auroc, average_precision};
use super::pixel::PixelScores;
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

/// A prompt set's pixel metrics.
#[derive(Debug, Clone)]
pub struct PixelRun {
    /// Category name.
    pub category: String,
    /// Prompt-set size.
    pub k: usize,
    /// Draw seed.
    pub seed: u32,
    /// The metrics over the category's test set.
    pub scores: PixelScores,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pixel: Option<PixelScores>,
}

/// Mean and (population) standard deviation over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    auroc_mean: f64,
    auroc_std: f64,
    auprc_mean: f64,
    auprc_std: f64,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pixel: Option<PixelSummary>,
    seeds: usize,
}

/// Mean and (population) standard deviation of the pixel metrics over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct PixelSummary {
    pixel_auroc_mean: f64,
    pixel_auroc_std: f64,
    aupro_mean: f64,
    aupro_std: f64,
}

impl Report {
    /// Computes every metric from the scored rows.
    /// `runs_per_category` is K values × seeds: fewer draws means an interrupted run.
    /// `pixel` holds the pixel metrics of the prompt sets that have them.
    pub fn build(
        settings: serde_json::Value,
        categories: &[CategoryData],
        runs_per_category: usize,
        draws: &[PromptDraw],
        rows: &[Row],
        pixel: &[PixelRun],
    ) -> Result<Self> {
        let categories = categories
            .iter()
            .map(|c| category_report(c, draws, rows, pixel))
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

    /// One row per category, AUROC and AUPRC columns per K (and pixel AUROC
    /// and AUPRO when the run computed them).
    pub fn markdown(&self) -> String {
        let ks: Vec<usize> = self.categories[0].summary.keys().copied().collect();
        let pixel = self
            .categories
            .iter()
            .any(|c| c.summary.values().any(|s| s.pixel.is_some()));
        let columns = if pixel { 4 } else { 2 };
        let mut out = String::from("| category |");
        for k in &ks {
            out += &format!(" K={k} AUROC | K={k} AUPRC |");
            if pixel {
                out += &format!(" K={k} pixel AUROC | K={k} AUPRO |");
            }
        }
        out += &format!("\n|---|{}\n", "---|".repeat(columns * ks.len()));
        let mut row = |name: &str, summaries: &BTreeMap<usize, Summary>| {
            out += &format!("| {name} |");
            for k in &ks {
                let Some(s) = summaries.get(k) else {
                    out += &" – |".repeat(columns);
                    continue;
                };
                out += &format!(
                    " {} | {} |",
                    cell(s.auroc_mean, s.auroc_std),
                    cell(s.auprc_mean, s.auprc_std)
                );
                match (&s.pixel, pixel) {
                    (Some(p), _) => {
                        out += &format!(
                            " {} | {} |",
                            cell(p.pixel_auroc_mean, p.pixel_auroc_std),
                            cell(p.aupro_mean, p.aupro_std)
                        )
                    }
                    (None, true) => out += " – | – |",
                    (None, false) => {}
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
    pixel: &[PixelRun],
) -> Result<CategoryReport> {
    let runs = draws
        .iter()
        .filter(|d| d.category == category.name)
        .map(|draw| run_report(category, draw, rows, pixel))
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
            let pixel: Option<Vec<&PixelScores>> = done.iter().map(|r| r.pixel.as_ref()).collect();
            let mut s = summarise(&aurocs, &auprcs);
            s.pixel = pixel.map(|p| {
                let of = |f: fn(&PixelScores) -> f64| p.iter().map(|s| f(s)).collect::<Vec<_>>();
                summarise_pixel(&of(|s| s.auroc), &of(|s| s.aupro))
            });
            summary.insert(k, s);
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

fn run_report(
    category: &CategoryData,
    draw: &PromptDraw,
    rows: &[Row],
    pixel: &[PixelRun],
) -> Result<RunReport> {
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
        pixel: pixel
            .iter()
            .find(|p| p.category == draw.category && p.k == draw.k && p.seed == draw.seed)
            .map(|p| p.scores.clone()),
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
        pixel: None,
        seeds: aurocs.len(),
    }
}

fn summarise_pixel(aurocs: &[f64], aupros: &[f64]) -> PixelSummary {
    let (pixel_auroc_mean, pixel_auroc_std) = mean_std(aurocs);
    let (aupro_mean, aupro_std) = mean_std(aupros);
    PixelSummary {
        pixel_auroc_mean,
        pixel_auroc_std,
        aupro_mean,
        aupro_std,
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
        let pixel: Option<Vec<&PixelSummary>> =
            per_category.iter().map(|s| s.pixel.as_ref()).collect();
        summary.pixel = pixel.map(|p| {
            let aurocs: Vec<f64> = p.iter().map(|s| s.pixel_auroc_mean).collect();
            let aupros: Vec<f64> = p.iter().map(|s| s.aupro_mean).collect();
            summarise_pixel(&aurocs, &aupros)
        });
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

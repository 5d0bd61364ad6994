//! AUROC and average precision exactly as scikit-learn's `roc_auc_score` and
//! `average_precision_score` compute them for binary labels: tied scores form
//! one threshold; the ROC area is the trapezoid over distinct thresholds; AP is
//! the step sum Σ (Rₙ − Rₙ₋₁)·Pₙ without interpolation.

use crate::error::{Error, Result};

/// Cumulative true and false positives at each distinct score, highest first
/// (sklearn's `_binary_clf_curve`).
fn binary_curve(labels: &[bool], scores: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // Stable sort, descending, like sklearn's `argsort(kind="mergesort")[::-1]`
    // (the tie order cannot matter: ties are cut only where the score changes).
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tps, mut fps) = (Vec::new(), Vec::new());
    let (mut tp, mut fp) = (0.0, 0.0);
    for (position, &index) in order.iter().enumerate() {
        if labels[index] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_tie = order
            .get(position + 1)
            .is_none_or(|&next| scores[next] != scores[index]);
        if last_of_tie {
            tps.push(tp);
            fps.push(fp);
        }
    }
    (tps, fps)
}

fn check(labels: &[bool], scores: &[f32]) -> Result<()> {
    if labels.len() != scores.len() {
        return Err(Error::InvalidInput(format!(
            "{} labels for {} scores",
            labels.len(),
            scores.len()
        )));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(Error::InvalidInput(format!(
            "score {i} is not finite ({})",
            scores[i]
        )));
    }
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 || positives == labels.len() {
        let present = if positives == 0 {
            "normal"
        } else {
            "anomalous"
        };
        return Err(Error::InvalidInput(format!(
            "AUROC and AUPRC need both normal and anomalous images, but all {} are {present}",
            labels.len()
        )));
    }
    Ok(())
}

/// Area under the ROC curve (`sklearn.metrics.roc_auc_score`).
pub fn auroc(labels: &[bool], scores: &[f32]) -> Result<f64> {
    check(labels, scores)?;
    let (tps, fps) = binary_curve(labels, scores);
    let (tp_total, fp_total) = (tps[tps.len() - 1], fps[fps.len() - 1]);
    let mut area = 0.0;
    let (mut x, mut y) = (0.0, 0.0);
    for (tp, fp) in tps.iter().zip(&fps) {
        let (next_x, next_y) = (fp / fp_total, tp / tp_total);
        area += (next_x - x) * (next_y + y) / 2.0;
        (x, y) = (next_x, next_y);
    }
    Ok(area)
}

/// Average precision (`sklearn.metrics.average_precision_score`).
pub fn average_precision(labels: &[bool], scores: &[f32]) -> Result<f64> {
    check(labels, scores)?;
    let (tps, fps) = binary_curve(labels, scores);
    let tp_total = tps[tps.len() - 1];
    let mut sum = 0.0;
    let mut previous_recall = 0.0;
    for (tp, fp) in tps.iter().zip(&fps) {
        let recall = tp / tp_total;
        sum += (recall - previous_recall) * (tp / (tp + fp));
        previous_recall = recall;
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Name, labels, scores, AUROC, average precision.
    type Case = (&'static str, &'static [u8], &'static [f32], f64, f64);

    /// Values printed by scikit-learn 1.9.1 for these arrays.
    const CASES: [Case; 6] = [
        (
            "ties across classes",
            &[0, 0, 1, 1, 0, 1, 0, 1],
            &[0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.9, 0.35],
            0.4375,
            0.5107142857142857,
        ),
        (
            "perfect",
            &[0, 0, 0, 1, 1],
            &[0.1, 0.2, 0.3, 0.8, 0.9],
            1.0,
            1.0,
        ),
        (
            "inverted",
            &[1, 1, 0, 0],
            &[0.1, 0.2, 0.3, 0.4],
            0.0,
            0.41666666666666663,
        ),
        (
            "all scores equal",
            &[0, 1, 0, 1, 1],
            &[0.5, 0.5, 0.5, 0.5, 0.5],
            0.5,
            0.6,
        ),
        (
            "many ties",
            &[0, 1, 1, 0, 1, 0, 0, 1, 1, 0],
            &[0.3, 0.3, 0.7, 0.7, 0.7, 0.1, 0.9, 0.9, 0.2, 0.2],
            0.6200000000000001,
            0.5653968253968253,
        ),
        (
            "mixed",
            &[1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1],
            &[
                0.91, 0.12, 0.55, 0.55, 0.55, 0.33, 0.78, 0.02, 0.33, 0.64, 0.64, 0.12,
            ],
            0.7285714285714286,
            0.7830859616573902,
        ),
    ];

    #[test]
    fn matches_scikit_learn() {
        for (name, labels, scores, auc, ap) in CASES {
            let labels: Vec<bool> = labels.iter().map(|&l| l == 1).collect();
            let got_auc = auroc(&labels, scores).unwrap();
            let got_ap = average_precision(&labels, scores).unwrap();
            assert!(
                (got_auc - auc).abs() < 1e-12,
                "{name}: AUROC {got_auc} vs {auc}"
            );
            assert!((got_ap - ap).abs() < 1e-12, "{name}: AP {got_ap} vs {ap}");
        }
    }

    #[test]
    fn one_class_is_a_clear_error() {
        let err = auroc(&[true, true, true], &[0.1, 0.2, 0.3])
            .unwrap_err()
            .to_string();
        assert!(err.contains("all 3 are anomalous"), "{err}");
        let err = average_precision(&[false, false], &[0.1, 0.2])
            .unwrap_err()
            .to_string();
        assert!(err.contains("all 2 are normal"), "{err}");
        let err = auroc(&[true, false], &[0.1, f32::NAN])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not finite"), "{err}");
    }
}

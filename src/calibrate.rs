//! Decisions from normal images alone: a threshold on the anomaly score, set
//! at a chosen false-alarm rate from the scores of normal images; and, when no
//! other normal images are at hand, leave-one-out scores of the prompt images
//! (each scored against the other K − 1) to set it from.
//!
//! **The rule.** Given the scores of `n` normal images and a false-alarm rate
//! `α`, let `k = ⌊α·(n + 1)⌋`. The threshold `T` is the `k`-th largest normal
//! score, and an image is anomalous when its score is **strictly greater**
//! than `T`. So at most `k − 1` of the `n` normals exceed `T`, and a new
//! normal image that is exchangeable with them (drawn alike) exceeds it with
//! probability `k/(n + 1) ≤ α` (split-conformal quantile; less with ties).
//! With `n + 1 < 1/α` no normal score can promise `α`: `k` is raised to 1 (the
//! largest score, whose rate is `1/(n + 1)`) and a warning says so.
//!
//! Leave-one-out scores are a last resort: K of them are too few for rates
//! below `1/(K + 1)`, they come from prompt sets of K − 1 images, and they
//! only tell how alike the prompts are, not how far other normal images
//! stray (on ELPV the false-alarm rate of such thresholds ranged from 0 to 66 %
//! over prompt draws at K = 2–8, where one from 1129 other normals gave
//! 1.1 % for the 1 % asked).

use serde::Serialize;

use crate::Category;
use crate::detector::{Detector, Score, read_scores};
use crate::error::{Error, Result};
use crate::preprocess::Pixels;

/// The false-alarm rate asked for when none is given: 1 %.
pub const DEFAULT_FALSE_ALARM: f64 = 0.01;

/// A threshold and what it rests on. Serialised as the CLI prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// Scores strictly above it are anomalous.
    pub threshold: f32,
    /// The false-alarm rate asked for.
    pub false_alarm: f64,
    /// How many normal scores set it.
    pub normals: usize,
    /// `k/(n + 1)`: the expected share of new normal images above the threshold.
    pub expected_false_alarm: f64,
    /// Set when the normals are too few for the rate asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl Calibration {
    /// Whether `score` is above the threshold.
    pub fn is_anomalous(&self, score: f32) -> bool {
        score > self.threshold
    }
}

/// The threshold for `false_alarm` (in `(0, 1)`) from the scores of normal
/// images, by the rule of the [module documentation](self).
pub fn calibrate(normal_scores: &[f32], false_alarm: f64) -> Result<Calibration> {
    if !(false_alarm > 0.0 && false_alarm < 1.0) {
        return Err(Error::InvalidInput(format!(
            "the false-alarm rate must lie between 0 and 1 (exclusive), got {false_alarm}"
        )));
    }
    if normal_scores.is_empty() {
        return Err(Error::InvalidInput(
            "calibration needs the scores of at least one normal image".into(),
        ));
    }
    if let Some(bad) = normal_scores.iter().find(|s| !s.is_finite()) {
        return Err(Error::InvalidInput(format!(
            "a normal image's score is not finite ({bad})"
        )));
    }
    let n = normal_scores.len();
    // The small slack keeps e.g. 0.29 · 100 = 28.999999999999996 at 29.
    let rank = (false_alarm * (n + 1) as f64 + 1e-9).floor() as usize;
    let warning = (rank == 0).then(|| too_few(n, false_alarm));
    let rank = rank.max(1);
    let mut sorted = normal_scores.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    Ok(Calibration {
        threshold: sorted[rank - 1],
        false_alarm,
        normals: n,
        expected_false_alarm: rank as f64 / (n + 1) as f64,
        warning,
    })
}

fn too_few(n: usize, false_alarm: f64) -> String {
    let floor = 1.0 / (n + 1) as f64;
    let needed = (1.0 / false_alarm - 1e-9).ceil() as usize - 1;
    format!(
        "{n} normal images cannot set a {}% false-alarm rate: the threshold is their largest score, \
         which about {}% of normal images exceed; give at least {needed} normal images",
        percent(false_alarm),
        percent(floor)
    )
}

/// `0.05` as `5`, `1/3` as `33.333`.
fn percent(rate: f64) -> String {
    let text = format!("{:.3}", 100.0 * rate);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

impl Detector {
    /// Each prompt image scored against the other K − 1 (K ≥ 2), in order:
    /// exactly what [`Detector::encode_prompts`] of the others followed by
    /// [`Detector::score`] of the one left out gives, with one pass of the
    /// image tower over the K images instead of K².
    pub async fn score_leave_one_out(
        &self,
        category: &Category,
        prompts: &[Pixels],
    ) -> Result<Vec<Score>> {
        if prompts.len() < 2 {
            return Err(Error::InvalidInput(format!(
                "leave-one-out scoring needs at least 2 prompt images, got {}",
                prompts.len()
            )));
        }
        let model = self.model();
        let vision = model.visual.forward(self.stack_images(prompts, "prompt")?);
        let mut scores = Vec::with_capacity(prompts.len());
        for held_out in 0..prompts.len() {
            let others: Vec<usize> = (0..prompts.len()).filter(|&i| i != held_out).collect();
            let features = model.prompt_features(vision.images(&others));
            let output = model.forward_vision(
                vision.images(&[held_out]),
                &features,
                category.prototypes.clone(),
            );
            scores.extend(read_scores(output, 1).await?);
        }
        Ok(scores)
    }

    /// [`Detector::score_leave_one_out`] for native callers.
    #[cfg(not(target_family = "wasm"))]
    pub fn score_leave_one_out_blocking(
        &self,
        category: &Category,
        prompts: &[Pixels],
    ) -> Result<Vec<Score>> {
        pollster::block_on(self.score_leave_one_out(category, prompts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nine hand-made scores; sorted from the top: 0.9, 0.8, 0.7, ...
    const SCORES: [f32; 9] = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6];

    fn exceeding(c: &Calibration, scores: &[f32]) -> usize {
        scores.iter().filter(|&&s| c.is_anomalous(s)).count()
    }

    #[test]
    fn threshold_is_the_kth_largest_with_k_from_n_plus_one() {
        // (rate, k = ⌊rate · 10⌋, threshold)
        for (rate, k, threshold) in [
            (0.1, 1, 0.9),
            (0.2, 2, 0.8),
            (0.25, 2, 0.8),
            (0.3, 3, 0.7),
            (0.29 + 0.01, 3, 0.7),
            (0.5, 5, 0.5),
            (0.99, 9, 0.1),
        ] {
            let c = calibrate(&SCORES, rate).unwrap();
            assert_eq!(c.threshold, threshold, "rate {rate}");
            assert_eq!(exceeding(&c, &SCORES), k - 1, "rate {rate}");
            assert_eq!(c.expected_false_alarm, k as f64 / 10.0);
            assert_eq!((c.normals, c.warning.as_deref()), (9, None));
        }
        // 0.29 · 100 = 28.999999999999996 in floats: still k = 29.
        let hundred: Vec<f32> = (0..99).map(|i| i as f32).collect();
        assert_eq!(calibrate(&hundred, 0.29).unwrap().threshold, 70.0);
    }

    #[test]
    fn too_few_normals_use_the_largest_score_and_warn() {
        let c = calibrate(&SCORES, 0.05).unwrap();
        assert_eq!((c.threshold, c.expected_false_alarm), (0.9, 0.1));
        let warning = c.warning.unwrap();
        assert!(
            warning.contains("9 normal images cannot set a 5% false-alarm rate"),
            "{warning}"
        );
        assert!(warning.contains("about 10% of normal"), "{warning}");
        assert!(warning.contains("at least 19 normal images"), "{warning}");
        let c = calibrate(&[0.3, 0.2], DEFAULT_FALSE_ALARM).unwrap();
        assert_eq!(c.threshold, 0.3);
        assert!(c.warning.unwrap().contains("at least 99 normal images"));
        assert!(
            calibrate(&vec![0.5; 99], DEFAULT_FALSE_ALARM)
                .unwrap()
                .warning
                .is_none()
        );
    }

    #[test]
    fn ties_at_the_threshold_are_not_anomalous() {
        let scores = [1.0, 1.0, 1.0, 0.5];
        let c = calibrate(&scores, 0.5).unwrap();
        assert_eq!((c.threshold, exceeding(&c, &scores)), (1.0, 0));
    }

    #[test]
    fn new_normals_exceed_it_at_the_expected_rate() {
        // Uniform scores: a threshold T lets 1 − T of new normals through, and
        // E[1 − k-th largest of n] = k/(n + 1). 99 normals at 5 %: k = 5.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut uniform = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        let trials = 4000;
        let mean: f64 = (0..trials)
            .map(|_| {
                let scores: Vec<f32> = (0..99).map(|_| uniform()).collect();
                1.0 - f64::from(calibrate(&scores, 0.05).unwrap().threshold)
            })
            .sum::<f64>()
            / f64::from(trials);
        assert!((mean - 0.05).abs() < 0.002, "mean false-alarm rate {mean}");
    }

    #[test]
    fn refuses_nonsense() {
        assert!(calibrate(&SCORES, 0.0).is_err());
        assert!(calibrate(&SCORES, 1.0).is_err());
        assert!(calibrate(&SCORES, f64::NAN).is_err());
        assert!(calibrate(&[], 0.1).is_err());
        assert!(calibrate(&[0.1, f32::NAN], 0.1).is_err());
    }
}

//! The training loss of the original (`binary_focal_loss.py`, `engine_IC.py`).

use burn::tensor::Tensor;

/// `BinaryFocalLoss()` with its defaults (alpha 1, gamma 2, `logits=True`, mean),
/// as the original applies it: the scores it receives are already sigmoid
/// outputs, yet they go through `binary_cross_entropy_with_logits`, which
/// applies a second sigmoid (spec §4). We keep that quirk: the published
/// checkpoints were trained with it.
///
/// # Shapes
/// - `scores`: `[batch]`, in (0, 1); `labels`: `[batch]`, 0 normal or 1 anomalous
/// - output: `[1]`
pub fn binary_focal_loss(scores: Tensor<1>, labels: Tensor<1>) -> Tensor<1> {
    let bce = bce_with_logits(scores, labels);
    let pt = bce.clone().neg().exp();
    let focal = pt.neg().add_scalar(1.0).square() * bce;
    focal.mean()
}

/// PyTorch's stable form: `(1 − y)·x + max(−x, 0) + log(e^{−max(−x, 0)} + e^{−x − max(−x, 0)})`.
fn bce_with_logits(x: Tensor<1>, y: Tensor<1>) -> Tensor<1> {
    let max_value = x.clone().neg().clamp_min(0.0);
    let log_term =
        (max_value.clone().neg().exp() + (x.clone().neg() - max_value.clone()).exp()).log();
    y.neg().add_scalar(1.0) * x + max_value + log_term
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    /// The loss of one score, computed in f64 from the definition.
    fn reference(score: f64, label: f64) -> f64 {
        let p = 1.0 / (1.0 + (-score).exp());
        let bce = -(label * p.ln() + (1.0 - label) * (1.0 - p).ln());
        (1.0 - (-bce).exp()).powi(2) * bce
    }

    #[test]
    fn matches_the_definition_with_the_second_sigmoid() {
        let device = Device::flex();
        let scores = [0.03f32, 0.5, 0.97, 0.2];
        let labels = [0.0f32, 1.0, 1.0, 0.0];
        let loss = binary_focal_loss(
            Tensor::from_floats(scores, &device),
            Tensor::from_floats(labels, &device),
        )
        .into_scalar::<f32>();
        let expected = scores
            .iter()
            .zip(labels)
            .map(|(&s, l)| reference(s.into(), l.into()))
            .sum::<f64>()
            / 4.0;
        assert!(
            (f64::from(loss) - expected).abs() < 1e-7,
            "{loss} vs {expected}"
        );
    }
}

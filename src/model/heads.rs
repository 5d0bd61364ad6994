//! InCTRL's trainable heads: the adapter and the two `TransformerBasicHead`s.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor};

/// PyTorch's BatchNorm default epsilon.
const BATCH_NORM_EPS: f64 = 1e-5;
/// PyTorch's BatchNorm default momentum for the running statistics.
const BATCH_NORM_MOMENTUM: f64 = 0.1;

/// Configuration for [`Adapter`].
#[derive(Config, Debug)]
pub struct AdapterConfig {
    /// Input and output width.
    pub width: usize,
    /// Bottleneck reduction factor (InCTRL uses 4).
    #[config(default = 4)]
    pub reduction: usize,
}

impl AdapterConfig {
    /// A randomly initialised adapter.
    pub fn init(&self, device: &Device) -> Adapter {
        let hidden = self.width / self.reduction;
        Adapter {
            fc1: LinearConfig::new(self.width, hidden)
                .with_bias(false)
                .init(device),
            fc2: LinearConfig::new(hidden, self.width)
                .with_bias(false)
                .init(device),
        }
    }
}

/// `relu(fc2(relu(fc1(v))))`, no biases, no skip connection. The checkpoint
/// calls the layers `adapter.fc.0` and `adapter.fc.2` (a `Sequential`).
#[derive(Module, Debug)]
pub struct Adapter {
    /// Down projection, checkpoint `adapter.fc.0.weight`.
    pub fc1: Linear,
    /// Up projection, checkpoint `adapter.fc.2.weight`.
    pub fc2: Linear,
}

impl Adapter {
    /// # Shapes
    /// - `v`, output: `[batch, width]`
    pub fn forward(&self, v: Tensor<2>) -> Tensor<2> {
        relu(self.fc2.forward(relu(self.fc1.forward(v))))
    }
}

/// Configuration for [`ScoringHead`].
#[derive(Config, Debug)]
pub struct ScoringHeadConfig {
    /// Input width (225 for `diff_head`, 640 for `diff_head_ref`).
    pub input: usize,
}

impl ScoringHeadConfig {
    /// A randomly initialised head.
    pub fn init(&self, device: &Device) -> ScoringHead {
        ScoringHead {
            projection1: LinearConfig::new(self.input, 128).init(device),
            bn2: BatchNorm1dConfig::new(128).init(device),
            projection2: LinearConfig::new(128, 64).init(device),
            bn3: BatchNorm1dConfig::new(64).init(device),
            projection3: LinearConfig::new(64, 1).init(device),
        }
    }
}

/// InCTRL's `TransformerBasicHead`:
/// `proj1 → ReLU → bn2 → proj2 → ReLU → bn3 → proj3 → sigmoid`.
/// The checkpoint's `bn1` is never used by the original forward and is not loaded.
#[derive(Module, Debug)]
pub struct ScoringHead {
    /// `input -> 128`.
    pub projection1: Linear,
    /// BatchNorm after the first ReLU.
    pub bn2: BatchNorm1d,
    /// `128 -> 64`.
    pub projection2: Linear,
    /// BatchNorm after the second ReLU.
    pub bn3: BatchNorm1d,
    /// `64 -> 1`.
    pub projection3: Linear,
}

impl ScoringHead {
    /// # Shapes
    /// - `x`: `[batch, input]`
    /// - output: `[batch]`, in (0, 1)
    pub fn forward(&self, x: Tensor<2>) -> Tensor<1> {
        let x = self.bn2.forward(relu(self.projection1.forward(x)));
        let x = self.bn3.forward(relu(self.projection2.forward(x)));
        sigmoid(self.projection3.forward(x)).squeeze_dim(1)
    }

    /// [`ScoringHead::forward`] in training mode: the BatchNorms use the batch's
    /// statistics. Returns the scores and the head with its running statistics updated.
    ///
    /// # Shapes
    /// - `x`: `[batch, input]`, batch ≥ 2
    /// - output: `[batch]`, in (0, 1)
    pub fn forward_train(&self, x: Tensor<2>) -> (Tensor<1>, Self) {
        let (x, bn2) = self.bn2.forward_train(relu(self.projection1.forward(x)));
        let (x, bn3) = self.bn3.forward_train(relu(self.projection2.forward(x)));
        let scores = sigmoid(self.projection3.forward(x)).squeeze_dim(1);
        let updated = Self {
            bn2,
            bn3,
            ..self.clone()
        };
        (scores, updated)
    }
}

/// Configuration for [`BatchNorm1d`].
#[derive(Config, Debug)]
pub struct BatchNorm1dConfig {
    /// Number of features.
    pub features: usize,
}

impl BatchNorm1dConfig {
    /// Identity statistics (mean 0, variance 1, weight 1, bias 0).
    pub fn init(&self, device: &Device) -> BatchNorm1d {
        let constant = |value| Initializer::Constant { value }.init([self.features], device);
        BatchNorm1d {
            weight: constant(1.0),
            bias: constant(0.0),
            running_mean: constant(0.0),
            running_var: constant(1.0),
        }
    }
}

/// PyTorch's `BatchNorm1d`: [`forward`](Self::forward) is eval mode (running
/// statistics), [`forward_train`](Self::forward_train) train mode. Field names
/// are the checkpoint's.
#[derive(Module, Debug)]
pub struct BatchNorm1d {
    /// Scale, `[features]`.
    pub weight: Param<Tensor<1>>,
    /// Shift, `[features]`.
    pub bias: Param<Tensor<1>>,
    /// Running mean, `[features]`.
    pub running_mean: Param<Tensor<1>>,
    /// Running (unbiased) variance, `[features]`.
    pub running_var: Param<Tensor<1>>,
}

impl BatchNorm1d {
    /// `(x − mean) / sqrt(var + eps) · weight + bias`.
    ///
    /// # Shapes
    /// - `x`, output: `[batch, features]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let scale = self
            .running_var
            .val()
            .add_scalar(BATCH_NORM_EPS)
            .sqrt()
            .recip()
            * self.weight.val();
        (x - self.running_mean.val().unsqueeze()) * scale.unsqueeze() + self.bias.val().unsqueeze()
    }

    /// Train mode, as PyTorch computes it: normalises with the batch mean and
    /// biased variance, and returns the layer with its running statistics moved
    /// towards the batch's by the momentum 0.1 (the variance unbiased), outside
    /// the autodiff graph.
    ///
    /// # Shapes
    /// - `x`, output: `[batch, features]`, batch ≥ 2
    pub fn forward_train(&self, x: Tensor<2>) -> (Tensor<2>, Self) {
        let batch = x.dims()[0];
        let mean = x.clone().mean_dim(0);
        let centred = x - mean.clone();
        let variance = centred.clone().square().mean_dim(0);
        let inverse_std = variance.clone().add_scalar(BATCH_NORM_EPS).sqrt().recip();
        let output =
            centred * inverse_std * self.weight.val().unsqueeze() + self.bias.val().unsqueeze();

        let unbiased = variance
            .detach()
            .mul_scalar(batch as f64 / (batch - 1) as f64);
        let blend = |running: Tensor<1>, batch_value: Tensor<2>| {
            (running.mul_scalar(1.0 - BATCH_NORM_MOMENTUM)
                + batch_value.squeeze_dim(0).mul_scalar(BATCH_NORM_MOMENTUM))
            .detach()
        };
        let mean = mean.detach();
        let updated = Self {
            running_mean: self.running_mean.clone().map(|r| blend(r, mean)),
            running_var: self.running_var.clone().map(|r| blend(r, unbiased)),
            ..self.clone()
        };
        (output, updated)
    }
}

//! The precision the model computes in: f32 (the default, parity-exact) or,
//! opt-in, f16 on devices that have it (GPUs with `shader-f16`).

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, DeviceError, FloatDType, Tensor};

use crate::error::{Error, Result};
use crate::model::Inctrl;

/// The float type tensors are computed in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ComputePrecision {
    /// 32-bit floats: matches the original implementation.
    #[default]
    F32,
    /// 16-bit floats: about half the memory traffic, at a measured cost in
    /// accuracy (README, "f16 compute").
    F16,
}

impl ComputePrecision {
    /// `f32` or `f16`.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
        }
    }

    /// Makes `device` compute in this precision. Must come before any tensor
    /// is created on the device; f32 needs no setting.
    pub fn configure(self, device: &mut Device) -> Result<()> {
        if self == Self::F32 {
            return Ok(());
        }
        device
            .configure(FloatDType::F16)
            .map_err(|error| match error {
                DeviceError::UnsupportedDType { device, .. } => Error::Device(format!(
                    "{device} cannot compute in f16 (a GPU adapter needs the shader-f16 \
                     feature); use f32"
                )),
                DeviceError::AlreadyInitialized { .. } => Error::Device(
                    "the precision must be chosen before the device computes anything".into(),
                ),
            })
    }

    /// The precision `device` was configured for.
    pub fn of(device: &Device) -> Self {
        match device.settings().float_dtype {
            FloatDType::F16 => Self::F16,
            _ => Self::F32,
        }
    }
}

/// `f32` or `f16`, as the CLI's `--precision` and the JS `precision` option take them.
impl std::str::FromStr for ComputePrecision {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            other => Err(Error::InvalidInput(format!(
                "unknown precision '{other}' (expected f32 or f16)"
            ))),
        }
    }
}

impl std::fmt::Display for ComputePrecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Converts every float parameter of `model` to the precision `device`
/// computes in: checkpoints and bundles load as f32 whatever the device's default.
pub(crate) fn to_device_precision(model: Inctrl, device: &Device) -> Inctrl {
    match ComputePrecision::of(device) {
        ComputePrecision::F32 => model,
        ComputePrecision::F16 => model.map(&mut CastFloats(FloatDType::F16)),
    }
}

/// Casts float parameters to one dtype.
struct CastFloats(FloatDType);

impl ModuleMapper for CastFloats {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|tensor| tensor.cast(dtype))
    }
}

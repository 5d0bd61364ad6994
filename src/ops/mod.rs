//! The model's hot operations, each with one entry point for every backend: on
//! the CPU (Burn's flex backend, f32) a fused kernel from [`cpu`]; elsewhere
//! (wgpu) the same math composed from Burn's tensor ops. Both compute the same
//! function; only rounding differs.

pub mod cpu;

use burn::nn::Linear;
use burn::tensor::activation::{gelu, sigmoid};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{DType, Tensor};

use cpu::attention::AttentionShape;
use cpu::linear::{Epilogue, Operand, Weight};
pub use cpu::weight_cache::PackedWeightCache;

/// The activation applied after a linear layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// None.
    None,
    /// GELU with erf (`nn.GELU()`).
    Gelu,
    /// QuickGELU, `x · σ(1.702x)`.
    QuickGelu,
}

/// `activation(layer(x))`. `packed` is the layer's own cache (see
/// [`PackedWeightCache`]).
///
/// # Shapes
/// - `x`: `[..., d_input]`; output: `[..., d_output]`
pub fn linear<const D: usize>(
    layer: &Linear,
    packed: &PackedWeightCache,
    x: Tensor<D>,
    activation: Activation,
) -> Tensor<D> {
    if let Some(out) = linear_on_cpu(layer, packed, &x, Epilogue::Activation(activation)) {
        return out;
    }
    let y = layer.forward(x);
    match activation {
        Activation::None => y,
        Activation::Gelu => gelu(y),
        Activation::QuickGelu => y.clone() * sigmoid(y.mul_scalar(1.702)),
    }
}

/// `residual + layer(x)`: a linear layer that ends a residual branch.
///
/// # Shapes
/// - `x`: `[..., d_input]`; `residual` and output: `[..., d_output]`
pub fn linear_residual<const D: usize>(
    layer: &Linear,
    packed: &PackedWeightCache,
    x: Tensor<D>,
    residual: Tensor<D>,
) -> Tensor<D> {
    if let Some(stream) = cpu::flex_f32(&residual)
        && let Some(out) =
            linear_on_cpu(layer, packed, &x, Epilogue::Residual(cpu::values(&stream)))
    {
        return out;
    }
    residual + layer.forward(x)
}

/// The fused CPU linear layer, when `x` and the layer's parameters are f32 on flex.
fn linear_on_cpu<const D: usize>(
    layer: &Linear,
    packed: &PackedWeightCache,
    x: &Tensor<D>,
    epilogue: Epilogue,
) -> Option<Tensor<D>> {
    let input = cpu::flex_f32(x)?;
    let weight = layer.weight.val();
    if weight.dtype() != DType::F32 {
        return None;
    }
    let weight = weight.try_into_primitive::<burn::backend::Flex>().ok()?;
    let bias = match &layer.bias {
        Some(bias) => Some(cpu::flex_f32(&bias.val())?),
        None => None,
    };
    let strides = weight.layout().strides();
    let stored = Weight {
        values: &weight.storage::<f32>()[weight.layout().start_offset()..],
        row_stride: strides[0],
        col_stride: strides[1],
        dims: layer.weight.dims(),
    };
    #[cfg(target_arch = "x86_64")]
    let packed = cpu::packed_gemm::preferred()
        .then(|| packed.get(&weight, stored))
        .flatten();
    #[cfg(target_arch = "x86_64")]
    let operand = match &packed {
        Some(packed) => Operand::Packed(packed),
        None => Operand::Strided(stored),
    };
    #[cfg(not(target_arch = "x86_64"))]
    let operand = {
        let _ = packed;
        Operand::Strided(stored)
    };
    let values = cpu::linear::linear(
        cpu::values(&input),
        operand,
        bias.as_ref().map(cpu::values),
        epilogue,
    );
    let mut dims = x.dims();
    dims[D - 1] = stored.dims[1];
    Some(cpu::tensor(values, dims))
}

/// Multi-head self-attention from the fused Q/K/V projection.
///
/// # Shapes
/// - `qkv`: `[batch, tokens, 3·width]`, Q then K then V, each `heads` blocks wide
/// - output: `[batch, tokens, width]`
pub fn self_attention(qkv: Tensor<3>, heads: usize, causal: bool) -> Tensor<3> {
    let [batch, tokens, width3] = qkv.dims();
    let width = width3 / 3;
    if let Some(input) = cpu::flex_f32(&qkv) {
        let shape = AttentionShape {
            batch,
            tokens,
            width,
            heads,
        };
        let values = cpu::attention::self_attention(cpu::values(&input), shape, causal);
        return cpu::tensor(values, [batch, tokens, width]);
    }
    let head_width = width / heads;
    let split_heads = |t: Tensor<3>| {
        t.reshape([batch, tokens, heads, head_width])
            .swap_dims(1, 2)
    };
    let mut parts = qkv.chunk(3, 2);
    let v = split_heads(parts.pop().expect("three chunks"));
    let k = split_heads(parts.pop().expect("three chunks"));
    let q = split_heads(parts.pop().expect("three chunks"));
    // The default scale is 1/√head_width, the one open_clip uses. Naming it
    // explicitly would pin burn-cubecl to its unfused fallback (nine kernels per
    // call); left default, native autotune may pick its flash kernel.
    let options = AttentionModuleOptions {
        scale: None,
        softcap: None,
        is_causal: causal,
    };
    flash_attention(&q, &k, &v, options)
        .unwrap_or_else(|| attention(q, k, v, None, None, options))
        .swap_dims(1, 2)
        .reshape([batch, tokens, width])
}

/// Burn's unit flash attention: one kernel per call, without subgroups or
/// cooperative matrices, so it runs on WebGPU. Without autotune (the browser
/// build) Burn would run its fallback instead: ten kernels, and q, kᵀ and v
/// copied twice each because the matmul first tries a cooperative-matrix
/// kernel. `None` where the tensors are not on the wgpu backend or the kernel
/// refuses them; the caller then takes Burn's default.
///
/// # Shapes
/// - q, k, v: `[batch, heads, tokens, head_width]`; output: the same
#[cfg(all(feature = "wgpu", not(feature = "autotune")))]
fn flash_attention(
    q: &Tensor<4>,
    k: &Tensor<4>,
    v: &Tensor<4>,
    options: AttentionModuleOptions,
) -> Option<Tensor<4>> {
    use burn::backend::Wgpu;
    use burn_cubecl::kernel::attention::{AttentionStrategy, attention};
    let [q, k, v] = [q, k, v].map(|t| t.clone().try_into_primitive::<Wgpu>().ok());
    let output = attention(
        q?,
        k?,
        v?,
        None,
        None,
        options,
        AttentionStrategy::FlashUnit,
    )
    .ok()?;
    Some(Tensor::from_primitive::<Wgpu>(output))
}

/// Native builds with autotune, whose default already races the flash kernels,
/// and builds without wgpu (the threaded CPU module): Burn's default.
#[cfg(not(all(feature = "wgpu", not(feature = "autotune"))))]
fn flash_attention(
    _q: &Tensor<4>,
    _k: &Tensor<4>,
    _v: &Tensor<4>,
    _options: AttentionModuleOptions,
) -> Option<Tensor<4>> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution};

    fn uniform<const D: usize>(dims: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(dims, Distribution::Uniform(-1.0, 1.0), device)
    }

    fn largest_difference<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let (a, b) = (
            a.into_data().try_to_vec::<f32>(),
            b.into_data().try_to_vec::<f32>(),
        );
        let (a, b) = (a.expect("f32"), b.expect("f32"));
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// The fused CPU layer computes Burn's `Linear::forward`, also after the
    /// layer's weight was replaced once its old weight had been packed.
    #[test]
    fn a_replaced_weight_is_packed_again() {
        let device = Device::flex();
        let mut layer = LinearConfig::new(40, 24).init(&device);
        let packed = PackedWeightCache::new(true);
        let x = uniform([7, 40], &device);
        let difference = |layer: &Linear| {
            let fused = linear(layer, &packed, x.clone(), Activation::None);
            largest_difference(fused, layer.forward(x.clone()))
        };
        assert!(difference(&layer) < 1e-5);
        layer.weight = Param::from_tensor(uniform([40, 24], &device));
        assert!(difference(&layer) < 1e-5);
    }
}

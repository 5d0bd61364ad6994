//! Fused kernels over the f32 buffers of Burn's flex (CPU) backend. Flex runs
//! every tensor op as its own pass with its own output; these kernels do a
//! whole linear layer (product, bias, activation, residual) or a whole
//! attention in one go, on every thread, with vectorised transcendental math.

#[macro_use]
mod simd;
pub mod attention;
pub mod linear;
pub mod math;
#[cfg(target_arch = "x86_64")]
pub mod packed_gemm;
#[cfg(any(target_arch = "wasm32", test))]
mod panel_gemm;
mod parallel;
#[cfg(test)]
mod product_check;
pub mod weight_cache;

/// The pool size the browser module reports as `detector.threads`.
#[cfg(target_family = "wasm")]
pub use parallel::threads;

use burn::backend::DispatchDevice;
use burn::backend::Flex;
use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::{Bytes, DType, Shape, Tensor};

/// The flex buffer of a float tensor that lives on the CPU in f32, else `None`
/// (a GPU tensor, or another precision), for the caller to take Burn's own ops.
pub fn flex_f32<const D: usize>(tensor: &Tensor<D>) -> Option<FlexTensor> {
    let on_flex = matches!(tensor.device().as_dispatch(), DispatchDevice::Flex(_));
    if !on_flex || tensor.dtype() != DType::F32 {
        return None;
    }
    let flex = tensor.clone().try_into_primitive::<Flex>().ok()?;
    Some(flex.to_contiguous())
}

/// The row-major values of a contiguous f32 flex tensor.
pub fn values(tensor: &FlexTensor) -> &[f32] {
    tensor
        .as_slice::<f32>()
        .expect("flex_f32 returns contiguous f32 tensors")
}

/// Wraps row-major f32 values as a flex tensor of `dims`.
pub fn tensor<const D: usize>(values: Vec<f32>, dims: [usize; D]) -> Tensor<D> {
    debug_assert_eq!(values.len(), dims.iter().product::<usize>());
    let layout = Layout::contiguous(Shape::from(dims.to_vec()));
    Tensor::from_primitive::<Flex>(FlexTensor::new(
        Bytes::from_elems(values),
        layout,
        DType::F32,
    ))
}

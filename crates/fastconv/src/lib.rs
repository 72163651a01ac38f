//! A fast convolution for the seed CNN (issue 7; CubeCL kernels: issue 15):
//! `relu(conv2d(x, w) + b)` with a k×k kernel, stride 1 and no padding — optionally followed by
//! a 2×2 max-pool — as burn backend-extension operations whose Flex implementation is
//! im2col/col2im plus three packed GEMMs (image by image, or over the whole batch for small
//! outputs) on rayon's threads, whose CubeCL implementation (wgpu, vulkan) is direct
//! convolution kernels, and whose backward passes are written by hand.
//!
//! - [`kernels`]: the arithmetic on slices (forward, backward), generic over f32/f64.
//! - [`cube`]: the CubeCL kernels (forward in one launch, backward in three or four).
//! - [`infer`]: inference without autodiff — a packed, channels-last forward of a chain of
//!   convolution blocks and dense layers on host slices (mnist-cnn's `Predictor`).
//! - [`adam`]: burn's Adam as one in-place pass per parameter on flex (the fast path's
//!   optimizer; bit-equal to burn's).
//! - [`gemm`]: the safe wrapper around the `gemm` crate (with [`memory`], the only `unsafe` in
//!   the workspace).
//! - [`ext`]: the `#[backend_extension]` trait and its Flex, CubeBackend (with the fusion
//!   wrapper the macro makes), NdArray (stock ops) and Autodiff implementations.
//! - [`memory`]: keep freed memory for reuse (glibc's malloc thresholds) — a process-wide
//!   setting the binaries apply at start-up.
//!
//! Use [`conv_relu`] / [`conv_relu_pool`] on tensors of a backend for which [`is_supported`] is
//! true (the kernels are fast where [`is_fast`] is); anywhere else, the stock
//! `relu(Conv2d::forward(x))` (then `MaxPool2d::forward`) is the same function.

pub mod adam;
pub mod cube;
pub mod ext;
pub mod gemm;
pub mod infer;
pub mod kernels;
pub mod memory;

use burn::backend::{Dispatch, DispatchDevice};
use burn::tensor::{Device, Tensor};

pub use ext::ConvReluBackend;

/// Whether `device` has the fast CPU kernels (flex, with or without autodiff).
pub fn is_fast(device: &Device) -> bool {
    matches!(device.clone().inner().as_dispatch(), DispatchDevice::Flex(_))
}

/// Whether `device` runs the CubeCL kernels ([`cube`]: wgpu, vulkan and burn's other CubeCL
/// runtimes, with or without autodiff).
pub fn is_cube(device: &Device) -> bool {
    matches!(device.clone().inner().as_dispatch(), DispatchDevice::Cube(_))
}

/// Whether [`conv_relu`] runs on `device` at all (flex: fast CPU kernels; wgpu/vulkan: the
/// CubeCL kernels; ndarray, where built (feature `ndarray`): burn's stock operations behind the
/// same interface). Not on remote devices.
pub fn is_supported(device: &Device) -> bool {
    match device.clone().inner().as_dispatch() {
        DispatchDevice::Flex(_) | DispatchDevice::Cube(_) => true,
        #[cfg(feature = "ndarray")]
        DispatchDevice::NdArray(_) => true,
        _ => false,
    }
}

/// `max_pool2d(relu(conv2d(x, weight) + bias))`: stride 1, no padding; pool 2×2, stride 2.
///
/// # Shapes
/// - `x`: `[n, c, h, w]`, `weight`: `[o, c, k, k]`, `bias`: `[o]`
/// - returns: `[n, o, (h − k + 1)/2, (w − k + 1)/2]`
///
/// # Panics
/// On a device for which [`is_supported`] is false.
pub fn conv_relu_pool(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    let (output, _switches) =
        <Dispatch as ConvReluBackend>::conv_relu_pool(x.into_dispatch(), weight.into_dispatch(), bias.into_dispatch());
    Tensor::from_dispatch(output)
}

/// `relu(conv2d(x, weight) + bias)`, stride 1, no padding.
///
/// # Shapes
/// - `x`: `[n, c, h, w]`, `weight`: `[o, c, k, k]`, `bias`: `[o]`
/// - returns: `[n, o, h − k + 1, w − k + 1]`
///
/// # Panics
/// On a device for which [`is_supported`] is false (callers fall back to the stock layers).
pub fn conv_relu(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as ConvReluBackend>::conv_relu(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// Runs `f` on one of rayon's worker threads, and returns what it returns: for a whole training
/// step on flex (`mnist-cnn train`, the bench's `mnist-cnn-fast` rows).
///
/// A step's kernels start ~40 parallel sections (im2col, GEMMs, epilogues, the per-image
/// backward). From a thread outside rayon's pool each one is handed to the pool while the
/// calling thread sleeps on a lock and is woken at the end: two futex round trips per section,
/// which on the 2-core dev VM cost ~0.3 ms of a 2.5 ms batch-32 step. From inside the pool a
/// section runs on the calling worker, the other half stolen by the idle one. The arithmetic is
/// the same either way (the kernels' sums do not depend on which thread runs them).
pub fn on_worker<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

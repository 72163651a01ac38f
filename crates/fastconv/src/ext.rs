//! The convolution blocks as a burn backend extension (`#[backend_extension]`, burn's
//! `extension` feature): one trait, [`ConvReluBackend`], with two operations — `conv_relu`
//! (`relu(conv2d(x, w) + b)`) and `conv_relu_pool` (the same, then a 2×2 stride-2 max-pool) —
//! and their backward passes, with
//!
//! - default bodies that compose burn's stock operations (`conv2d` + `relu` (+ `max_pool2d`)
//!   forward; `max_pool2d` backward, `relu_backward`, `conv2d_x_backward`,
//!   `conv2d_weight_backward`, a sum for the bias) — what NdArray runs, and the reference the
//!   tests compare the fast kernels with;
//! - a Flex implementation on [`crate::kernels`] (f32 and f64; other float types take the
//!   default bodies);
//! - a CubeBackend implementation on [`crate::cube`] (wgpu, vulkan: every float type), which the
//!   macro's `Fusion` selector wraps for burn's fusion layer (what wgpu's tensors run under):
//!   each operation's `#[fusion(...)]` attribute gives its outputs' shapes and dtypes before it
//!   runs, and the backward returns a [`ConvGrads`] enum because the fusion wrapper takes
//!   tensors, tuples and extension types, not an `Option`;
//! - an Autodiff implementation with a hand-written backward: the forward keeps `x`, the weight
//!   and the output, and the backward calls [`ConvReluBackend::conv_relu_backward`] once for all
//!   three gradients (skipping `dx` when the input is not tracked). The pooled forward also
//!   returns each window's switch (which input won) as an int tensor that only the backward
//!   reads: a `u8` per output on flex, an `i32` on CubeCL, burn's `max_pool2d` indices on the
//!   stock path.
//!
//! Architecture Invariant: the operations are `relu(conv2d(x, w) + b)` with stride 1, no
//! padding, no dilation, one group, and that followed by `max_pool2d` (kernel 2, stride 2, no
//! padding) — exactly the seed CNN's `relu(Conv2d::forward(x))` and `MaxPool2d::forward(·)`.

// burn-ndarray is deprecated upstream but still one of gradlab's CPU backends (opt-in feature).
#![cfg_attr(feature = "ndarray", allow(deprecated))]

#[cfg(feature = "ndarray")]
use burn::backend::NdArray;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, ExtensionType, Flex, TensorMetadata, backend_extension};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, IntDType, Shape, TensorData};
use burn_cubecl::CubeBackend;
use burn_flex::FlexTensor;

use burn_cubecl::tensor::CubeTensor;

use crate::cube;
use crate::kernels::{self, Geometry, Real};

fn options() -> ConvOptions<2> {
    ConvOptions::new([1, 1], [0, 0], [1, 1], 1)
}

/// The forward pass in burn's stock operations.
fn stock_forward<B: Backend>(x: FloatTensor<B>, weight: FloatTensor<B>, bias: FloatTensor<B>) -> FloatTensor<B> {
    B::relu(B::conv2d(x, weight, Some(bias), options()))
}

const POOL: ([usize; 2], [usize; 2], [usize; 2], [usize; 2]) = ([2, 2], [2, 2], [0, 0], [1, 1]);

/// The pooled forward pass in burn's stock operations: (output, max_pool2d's indices).
fn stock_forward_pooled<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
) -> (FloatTensor<B>, IntTensor<B>) {
    let (kernel, stride, padding, dilation) = POOL;
    let pooled = B::max_pool2d_with_indices(
        stock_forward::<B>(x, weight, bias),
        kernel,
        stride,
        padding,
        dilation,
        false,
        IntDType::I64,
    );
    (pooled.output, pooled.indices)
}

/// The pooled backward pass in burn's stock operations (recomputes the unpooled output, which
/// `max_pool2d`'s backward takes).
fn stock_backward_pooled<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    indices: IntTensor<B>,
    output_grad: FloatTensor<B>,
    input_grad: bool,
) -> ConvGrads<B> {
    let (kernel, stride, padding, dilation) = POOL;
    let unpooled = stock_forward::<B>(x.clone(), weight.clone(), bias);
    let grad = B::max_pool2d_with_indices_backward(
        unpooled.clone(),
        kernel,
        stride,
        padding,
        dilation,
        false,
        output_grad,
        indices,
    )
    .x_grad;
    stock_backward::<B>(x, weight, unpooled, grad, input_grad)
}

/// The backward pass in burn's stock operations.
fn stock_backward<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    output: FloatTensor<B>,
    output_grad: FloatTensor<B>,
    input_grad: bool,
) -> ConvGrads<B> {
    let dz = B::relu_backward(output, output_grad);
    let dx = input_grad.then(|| B::conv2d_x_backward(x.clone(), weight.clone(), dz.clone(), options()));
    let dweight = B::conv2d_weight_backward(x, weight, dz.clone(), options());
    let channels = dz.shape()[1];
    let dbias = B::float_reshape(B::float_sum_dims(dz, &[0, 2, 3]), Shape::new([channels]));
    ConvGrads::new(dx, dweight, dbias)
}

/// The gradients of a block's backward pass: `dx` only when the input needs one (not for a
/// network's first layer).
#[derive(ExtensionType)]
#[extension_type(fusion)]
pub enum ConvGrads<B: Backend> {
    /// The input's, the weight's and the bias's gradients.
    All {
        dx: FloatTensor<B>,
        dweight: FloatTensor<B>,
        dbias: FloatTensor<B>,
    },
    /// The weight's and the bias's (the input is not tracked).
    Params {
        dweight: FloatTensor<B>,
        dbias: FloatTensor<B>,
    },
}

impl<B: Backend> ConvGrads<B> {
    /// From `(dx, dweight, dbias)`.
    pub fn new(dx: Option<FloatTensor<B>>, dweight: FloatTensor<B>, dbias: FloatTensor<B>) -> Self {
        match dx {
            Some(dx) => ConvGrads::All { dx, dweight, dbias },
            None => ConvGrads::Params { dweight, dbias },
        }
    }

    /// `(dx, dweight, dbias)`.
    #[allow(clippy::type_complexity)]
    pub fn into_parts(self) -> (Option<FloatTensor<B>>, FloatTensor<B>, FloatTensor<B>) {
        match self {
            ConvGrads::All { dx, dweight, dbias } => (Some(dx), dweight, dbias),
            ConvGrads::Params { dweight, dbias } => (None, dweight, dbias),
        }
    }
}

// What the Fusion implementation (the lazy one wrapping CubeBackend on wgpu/vulkan) must know
// of each operation's outputs before it runs: shapes and dtypes, as the backend will return them.

/// `[n, o, h − k + 1, w − k + 1]` for `x` `[n, c, h, w]` and a weight `[o, c, k, k]`.
fn conv_shape(x: &Shape, weight: &Shape) -> Shape {
    // Saturating: a kernel larger than the input is refused when the operation runs.
    Shape::new([
        x[0],
        weight[0],
        (x[2] + 1).saturating_sub(weight[2]),
        (x[3] + 1).saturating_sub(weight[3]),
    ])
}

fn pooled_meta(x: &TensorSpec, weight: &TensorSpec, _bias: &TensorSpec) -> (TensorSpec, TensorSpec) {
    let conv = conv_shape(&x.shape, &weight.shape);
    let pooled = Shape::new([conv[0], conv[1], conv[2] / 2, conv[3] / 2]);
    (
        TensorSpec::new(pooled.clone(), x.dtype),
        // The CubeCL kernels' switches (crate::cube).
        TensorSpec::new(pooled, DType::I32),
    )
}

fn grads_meta(x: &TensorSpec, weight: &TensorSpec, input_grad: bool) -> ConvGradsMetadata {
    // The kernels compute in x's dtype (and refuse a weight of another).
    let dweight = TensorSpec::new(weight.shape.clone(), x.dtype);
    let dbias = TensorSpec::new(Shape::new([weight.shape[0]]), x.dtype);
    match input_grad {
        true => ConvGradsMetadata::All {
            dx: x.clone(),
            dweight,
            dbias,
        },
        false => ConvGradsMetadata::Params { dweight, dbias },
    }
}

/// `relu(conv2d(x, w) + b)` and its backward, as a backend operation.
#[backend_extension(Flex, NdArray: cfg(feature = "ndarray"), Cube, Fusion, Autodiff)]
pub trait ConvReluBackend: Backend {
    /// `relu(conv2d(x, weight) + bias)`.
    ///
    /// # Shapes
    /// - `x`: `[n, c, h, w]`, `weight`: `[o, c, k, k]`, `bias`: `[o]`
    /// - returns: `[n, o, h − k + 1, w − k + 1]`
    #[fusion(dtype = x, shape = conv_shape(x, weight))]
    fn conv_relu(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        stock_forward::<Self>(x, weight, bias)
    }

    /// The gradients `(dx, dweight, dbias)` of a loss, given [`conv_relu`](Self::conv_relu)'s
    /// inputs, its `output` and the loss gradient `output_grad` with respect to that output.
    /// `dx` is left out unless `input_grad`.
    #[fusion(meta = |x, weight, _output, _output_grad, input_grad| grads_meta(x, weight, *input_grad))]
    fn conv_relu_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        input_grad: bool,
    ) -> ConvGrads<Self> {
        stock_backward::<Self>(x, weight, output, output_grad, input_grad)
    }

    /// `max_pool2d(relu(conv2d(x, weight) + bias))`, 2×2 window, stride 2, and the switches the
    /// backward needs (backend-specific; only [`conv_relu_pool_backward`](Self::conv_relu_pool_backward)
    /// reads them).
    ///
    /// # Shapes
    /// - `x`: `[n, c, h, w]`, `weight`: `[o, c, k, k]`, `bias`: `[o]`
    /// - returns: `[n, o, (h − k + 1)/2, (w − k + 1)/2]` (and switches)
    #[fusion(meta = pooled_meta)]
    fn conv_relu_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, IntTensor<Self>) {
        stock_forward_pooled::<Self>(x, weight, bias)
    }

    /// The gradients `(dx, dweight, dbias)` of a loss through
    /// [`conv_relu_pool`](Self::conv_relu_pool), given its inputs, output and switches and the
    /// loss gradient with respect to the output. `dx` is left out unless `input_grad`.
    #[allow(clippy::too_many_arguments)]
    #[fusion(meta = |x, weight, _bias, _output, _switches, _output_grad, input_grad| grads_meta(x, weight, *input_grad))]
    fn conv_relu_pool_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        output: FloatTensor<Self>,
        switches: IntTensor<Self>,
        output_grad: FloatTensor<Self>,
        input_grad: bool,
    ) -> ConvGrads<Self> {
        let _ = output;
        stock_backward_pooled::<Self>(x, weight, bias, switches, output_grad, input_grad)
    }
}

#[cfg(feature = "ndarray")]
impl ConvReluBackend for NdArray {}

/// A contiguous typed view of a flex tensor (copied only if it is strided).
fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.is_contiguous() { t } else { t.to_contiguous() }
}

fn flex_from<T: Real + burn::tensor::Element>(data: Vec<T>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape))
}

fn flex_forward<T: Real + burn::tensor::Element + bytemuck::Pod>(
    x: FlexTensor,
    weight: FlexTensor,
    bias: FlexTensor,
) -> FlexTensor {
    let g = Geometry::new(dims(&x), dims(&weight));
    let (x, weight, bias) = (contiguous(x), contiguous(weight), contiguous(bias));
    let y = kernels::forward::<T>(&g, slice(&x), slice(&weight), slice(&bias));
    flex_from(y, g.output_shape(false))
}

fn flex_forward_pooled<T: Real + burn::tensor::Element + bytemuck::Pod>(
    x: FlexTensor,
    weight: FlexTensor,
    bias: FlexTensor,
) -> (FlexTensor, FlexTensor) {
    let g = Geometry::new(dims(&x), dims(&weight));
    let (x, weight, bias) = (contiguous(x), contiguous(weight), contiguous(bias));
    let (y, switches) = kernels::forward_pooled::<T>(&g, slice(&x), slice(&weight), slice(&bias));
    let shape = g.output_shape(true);
    (
        flex_from(y, shape),
        FlexTensor::from_data(TensorData::new(switches, shape)),
    )
}

fn flex_backward<T: Real + burn::tensor::Element + bytemuck::Pod>(
    x: FlexTensor,
    weight: FlexTensor,
    output: FlexTensor,
    switches: Option<FlexTensor>,
    output_grad: FlexTensor,
    input_grad: bool,
) -> ConvGrads<Flex> {
    let g = Geometry::new(dims(&x), dims(&weight));
    let [o, c, k, _] = dims(&weight);
    let (x, weight) = (contiguous(x), contiguous(weight));
    let (output, output_grad) = (contiguous(output), contiguous(output_grad));
    let switches = switches.map(contiguous);
    let switches = switches
        .as_ref()
        .map(|s| s.as_slice::<u8>().expect("switches written by conv_relu_pool"));
    let (dx, dw, db) = kernels::backward::<T>(
        &g,
        slice(&x),
        slice(&weight),
        slice(&output),
        switches,
        slice(&output_grad),
        input_grad,
    );
    ConvGrads::new(
        dx.map(|dx| flex_from(dx, [g.n, g.c, g.h, g.w])),
        flex_from(dw, [o, c, k, k]),
        FlexTensor::from_data(TensorData::new(db, [o])),
    )
}

fn dims(t: &FlexTensor) -> [usize; 4] {
    let shape = t.layout().shape();
    assert_eq!(shape.num_dims(), 4, "conv: expected a 4-d tensor, got shape {shape:?}");
    [shape[0], shape[1], shape[2], shape[3]]
}

fn slice<T: Real + burn::tensor::Element + bytemuck::Pod>(t: &FlexTensor) -> &[T] {
    t.as_slice::<T>().expect("contiguous tensor of the kernel's float type")
}

/// The float type the kernels run in, when all of `tensors` share it (f32 or f64); other
/// float types (f16, bf16) take burn's stock operations.
#[derive(Clone, Copy)]
enum Kernel {
    F32,
    F64,
}

fn kernel_for(tensors: &[&FlexTensor]) -> Option<Kernel> {
    let dtype = tensors.first()?.dtype();
    if !tensors.iter().all(|t| t.dtype() == dtype) {
        return None;
    }
    match dtype {
        DType::F32 => Some(Kernel::F32),
        DType::F64 => Some(Kernel::F64),
        _ => None,
    }
}

impl ConvReluBackend for Flex {
    fn conv_relu(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        match kernel_for(&[&x, &weight, &bias]) {
            Some(Kernel::F32) => flex_forward::<f32>(x, weight, bias),
            Some(Kernel::F64) => flex_forward::<f64>(x, weight, bias),
            None => stock_forward::<Self>(x, weight, bias),
        }
    }

    fn conv_relu_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output: FlexTensor,
        output_grad: FlexTensor,
        input_grad: bool,
    ) -> ConvGrads<Self> {
        match kernel_for(&[&x, &weight, &output, &output_grad]) {
            Some(Kernel::F32) => flex_backward::<f32>(x, weight, output, None, output_grad, input_grad),
            Some(Kernel::F64) => flex_backward::<f64>(x, weight, output, None, output_grad, input_grad),
            None => stock_backward::<Self>(x, weight, output, output_grad, input_grad),
        }
    }

    fn conv_relu_pool(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> (FlexTensor, FlexTensor) {
        match kernel_for(&[&x, &weight, &bias]) {
            Some(Kernel::F32) => flex_forward_pooled::<f32>(x, weight, bias),
            Some(Kernel::F64) => flex_forward_pooled::<f64>(x, weight, bias),
            None => stock_forward_pooled::<Self>(x, weight, bias),
        }
    }

    fn conv_relu_pool_backward(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        output: FlexTensor,
        switches: FlexTensor,
        output_grad: FlexTensor,
        input_grad: bool,
    ) -> ConvGrads<Self> {
        // u8 switches come from the kernels' forward; anything else from the stock one.
        let kernel = kernel_for(&[&x, &weight, &output, &output_grad]).filter(|_| switches.dtype() == DType::U8);
        match kernel {
            Some(Kernel::F32) => flex_backward::<f32>(x, weight, output, Some(switches), output_grad, input_grad),
            Some(Kernel::F64) => flex_backward::<f64>(x, weight, output, Some(switches), output_grad, input_grad),
            None => stock_backward_pooled::<Self>(x, weight, bias, switches, output_grad, input_grad),
        }
    }
}

/// wgpu/vulkan (and any CubeCL runtime): the kernels of [`crate::cube`], for every float type.
impl ConvReluBackend for CubeBackend {
    fn conv_relu(x: CubeTensor, weight: CubeTensor, bias: CubeTensor) -> CubeTensor {
        cube::conv_relu(x, weight, bias)
    }

    fn conv_relu_backward(
        x: CubeTensor,
        weight: CubeTensor,
        output: CubeTensor,
        output_grad: CubeTensor,
        input_grad: bool,
    ) -> ConvGrads<Self> {
        let (dx, dweight, dbias) = cube::backward(x, weight, output, None, output_grad, input_grad);
        ConvGrads::new(dx, dweight, dbias)
    }

    fn conv_relu_pool(x: CubeTensor, weight: CubeTensor, bias: CubeTensor) -> (CubeTensor, CubeTensor) {
        cube::conv_relu_pool(x, weight, bias)
    }

    fn conv_relu_pool_backward(
        x: CubeTensor,
        weight: CubeTensor,
        _bias: CubeTensor,
        output: CubeTensor,
        switches: CubeTensor,
        output_grad: CubeTensor,
        input_grad: bool,
    ) -> ConvGrads<Self> {
        let (dx, dweight, dbias) = cube::backward(x, weight, output, Some(switches), output_grad, input_grad);
        ConvGrads::new(dx, dweight, dbias)
    }
}

/// The backward step recorded by the forward pass.
#[derive(Debug)]
struct ConvReluStep;

impl<B: Backend + ConvReluBackend> Backward<B, 3> for ConvReluStep {
    /// `x`, the weight and the output, as the inner backend's tensors.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let output_grad = grads.consume::<B>(&ops.node);
        let (x, weight, output) = ops.state;
        let (dx, dweight, dbias) = B::conv_relu_backward(x, weight, output, output_grad, node_x.is_some()).into_parts();
        register::<B>(
            grads,
            [node_x, node_weight, node_bias].map(|n| n.map(|n| n.id)),
            [dx, Some(dweight), Some(dbias)],
        );
    }
}

impl<B: Backend + ConvReluBackend, C: CheckpointStrategy> ConvReluBackend for Autodiff<B, C> {
    fn conv_relu(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        match ConvReluStep
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight, bias) = (x.into_primitive(), weight.into_primitive(), bias.into_primitive());
                let output = B::conv_relu(x.clone(), weight.clone(), bias);
                prep.finish((x, weight, output.clone()), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv_relu(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            )),
        }
    }

    fn conv_relu_backward(
        _x: FloatTensor<Self>,
        _weight: FloatTensor<Self>,
        _output: FloatTensor<Self>,
        _output_grad: FloatTensor<Self>,
        _input_grad: bool,
    ) -> ConvGrads<Self> {
        panic!("conv_relu_backward is not differentiable (no second derivatives of the fast convolution)")
    }

    fn conv_relu_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, IntTensor<Self>) {
        match ConvReluPoolStep
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight, bias) = (x.into_primitive(), weight.into_primitive(), bias.into_primitive());
                let (output, switches) = B::conv_relu_pool(x.clone(), weight.clone(), bias.clone());
                let out = prep.finish((x, weight, bias, output.clone(), switches.clone()), output);
                (out, switches)
            }
            OpsKind::UnTracked(prep) => {
                let (output, switches) =
                    B::conv_relu_pool(x.into_primitive(), weight.into_primitive(), bias.into_primitive());
                (prep.finish(output), switches)
            }
        }
    }

    fn conv_relu_pool_backward(
        _x: FloatTensor<Self>,
        _weight: FloatTensor<Self>,
        _bias: FloatTensor<Self>,
        _output: FloatTensor<Self>,
        _switches: IntTensor<Self>,
        _output_grad: FloatTensor<Self>,
        _input_grad: bool,
    ) -> ConvGrads<Self> {
        panic!("conv_relu_pool_backward is not differentiable (no second derivatives of the fast convolution)")
    }
}

/// The backward step recorded by the pooled forward pass.
#[derive(Debug)]
struct ConvReluPoolStep;

impl<B: Backend + ConvReluBackend> Backward<B, 3> for ConvReluPoolStep {
    /// `x`, the weight, the bias, the output and the switches, as the inner backend's tensors.
    type State = (
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        IntTensor<B>,
    );

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let output_grad = grads.consume::<B>(&ops.node);
        let (x, weight, bias, output, switches) = ops.state;
        let (dx, dweight, dbias) =
            B::conv_relu_pool_backward(x, weight, bias, output, switches, output_grad, node_x.is_some()).into_parts();
        register::<B>(
            grads,
            [node_x, node_weight, node_bias].map(|n| n.map(|n| n.id)),
            [dx, Some(dweight), Some(dbias)],
        );
    }
}

/// Hand each gradient to its parent node, where the parent is tracked.
fn register<B: Backend>(grads: &mut Gradients, nodes: [Option<NodeId>; 3], values: [Option<FloatTensor<B>>; 3]) {
    for (node, value) in nodes.into_iter().zip(values) {
        if let (Some(node), Some(value)) = (node, value) {
            grads.register::<B>(node, value);
        }
    }
}

//! The convolution blocks as CubeCL kernels, for burn's CubeCL backend (wgpu, vulkan — the
//! runtimes this workspace builds and tests; CUDA, ROCm and Metal take the same kernels, untested
//! here): direct convolutions with the bias, the ReLU and the
//! 2×2 max-pool folded in — one launch forward — and a hand-written backward of three or four
//! launches (one fewer for a first layer, whose input needs no gradient).
//!
//! ```text
//! forward     y[n,o,i,j] = relu(b[o] + Σ_{c,u,v} w[o,c,u,v]·x[n,c,i+u,j+v])
//!               one thread per position and 4 output channels
//!             pooled: y[n,o,p,q] = relu(b[o] + the largest of the four sums at (2p+a, 2q+e)),
//!               switch[n,o,p,q] = 2a+e of the (first) largest; one thread per pooled
//!               position and 2 output channels
//! backward    dz = dy where y > 0 (pooled: only at the position the switch names), inside a
//!               border of zeros when dx follows; one thread per value
//!             dW[o,c,u,v] = Σ_{n,i,j} dz[n,o,i,j]·x[n,c,i+u,j+v], db[o] = Σ dz[n,o,·,·]
//!               one thread per input channel, 2 output channels and chunk of the batch (as
//!               many chunks as give ~4,096 threads), k×k taps in registers; then, if there
//!               are several chunks, one thread per value of dW and db adds them up
//!             dx[n,c,s,t] = Σ_{o,u,v} dz[n,o,s−u,t−v]·w[o,c,u,v]   (only if x needs one)
//!               one thread per 4 neighbouring positions and 4 input channels; the border of
//!               zeros around dz stands for the taps that fall outside the output
//! ```
//!
//! Stock burn runs each block as a convolution, a ReLU and a pool forward and their three
//! backward passes: 61 kernel launches for the seed CNN's three blocks in one training step at
//! batch 32 on wgpu (`tests/launches.rs` in the workspace), against 3 + 8 of these.
//!
//! Blocking (channels and positions per thread) is chosen where it divides the counts, else one
//! per thread; the kernel size and blocking are compile-time constants, so the loops unroll.
//! Every input is read through its own strides (strided inputs need no copy); outputs are new
//! contiguous tensors (CubeCL's pitched layout would make the next operations copy them). The
//! switches are an `i32` tensor (what [`ConvReluBackend::conv_relu_pool`](crate::ConvReluBackend)
//! returns on this backend; only the backward reads them).

use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::{DType, Shape};
use burn_cubecl::tensor::CubeTensor;

use crate::kernels::Geometry;
use cubecl::{calculate_cube_count_elemwise, prelude::*};

/// The flat offset of `[a, b, c, d]` in a 4-d tensor, through its strides.
#[cube]
fn at<T: CubePrimitive>(t: &Tensor<T>, a: usize, b: usize, c: usize, d: usize) -> usize {
    a * t.stride(0) + b * t.stride(1) + c * t.stride(2) + d * t.stride(3)
}

/// [`at`] for a tensor the kernel writes.
#[cube]
fn at_mut<T: CubePrimitive>(t: &mut Tensor<T>, a: usize, b: usize, c: usize, d: usize) -> usize {
    a * t.stride(0) + b * t.stride(1) + c * t.stride(2) + d * t.stride(3)
}

/// Where thread `pos` of a grid over `[batch, groups, rows, cols]` works:
/// `(batch, group, row, col)`, the last dimension fastest.
#[cube]
fn position(pos: usize, groups: usize, rows: usize, cols: usize) -> (usize, usize, usize, usize) {
    let col = pos % cols;
    let row = (pos / cols) % rows;
    let group = (pos / (cols * rows)) % groups;
    (pos / (cols * rows * groups), group, row, col)
}

/// The forward pass, one thread per `ob` output channels at one output position (each input
/// value read once for all of them); `k`, the kernel's size, `ob` and `pooled` are known when the
/// kernel compiles (its loops unroll).
///
/// - plain: `y = relu(conv(x, w) + b)`; `switches` is not touched;
/// - pooled: `y = relu(max over each 2×2 window of conv(x, w) + b)` and in `switches` which of
///   the four won (the first largest, in the order (0,0), (0,1), (1,0), (1,1)): the window's
///   4·ob sums share each input and weight load.
#[cube(launch)]
fn forward_kernel<F: Float>(
    x: &Tensor<F>,
    w: &Tensor<F>,
    b: &Tensor<F>,
    y: &mut Tensor<F>,
    switches: &mut Tensor<i32>,
    #[comptime] k: usize,
    #[comptime] ob: usize,
    #[comptime] pooled: bool,
    #[define(F)] _dtype: ElemType,
) {
    let (out_h, out_w, groups) = (y.shape(2), y.shape(3), y.shape(1) / ob);
    if ABSOLUTE_POS >= y.shape(0) * groups * out_h * out_w {
        terminate!();
    }
    let (n, group, p, q) = position(ABSOLUTE_POS, groups, out_h, out_w);
    let o0 = group * ob;
    // The window each output covers: 2×2 pooled, 1×1 plain.
    let win = comptime!(if pooled { 2usize } else { 1usize });
    let (xs1, xs2, xs3) = (x.stride(1), x.stride(2), x.stride(3));
    let (ws0, ws1, ws2, ws3) = (w.stride(0), w.stride(1), w.stride(2), w.stride(3));
    let mut xc = n * x.stride(0) + win * p * xs2 + win * q * xs3;
    let mut wc = o0 * ws0;
    // sums[(m·win + a)·win + e]: output channel o0 + m at window position (a, e).
    let mut sums = Array::<F>::new(comptime!(ob * win * win));
    let mut inputs = Array::<F>::new(comptime!(win * win));
    for _c in 0..w.shape(1) {
        #[unroll]
        for u in 0..k {
            #[unroll]
            for v in 0..k {
                let corner = xc + u * xs2 + v * xs3;
                #[unroll]
                for a in 0..win {
                    #[unroll]
                    for e in 0..win {
                        inputs[a * win + e] = x[corner + a * xs2 + e * xs3];
                    }
                }
                #[unroll]
                for m in 0..ob {
                    let weight = w[wc + m * ws0 + u * ws2 + v * ws3];
                    #[unroll]
                    for t in 0..comptime!(win * win) {
                        sums[m * win * win + t] += weight * inputs[t];
                    }
                }
            }
        }
        xc += xs1;
        wc += ws1;
    }
    #[unroll]
    for m in 0..ob {
        let bias = b[(o0 + m) * b.stride(0)];
        let out = at_mut(y, n, o0 + m, p, q);
        if pooled {
            let mut best = sums[4 * m];
            let mut which = 0i32;
            if sums[4 * m + 1] > best {
                best = sums[4 * m + 1];
                which = 1i32;
            }
            if sums[4 * m + 2] > best {
                best = sums[4 * m + 2];
                which = 2i32;
            }
            if sums[4 * m + 3] > best {
                best = sums[4 * m + 3];
                which = 3i32;
            }
            y[out] = F::max(best + bias, F::new(0.0));
            let at_switch = at_mut(switches, n, o0 + m, p, q);
            switches[at_switch] = which;
        } else {
            y[out] = F::max(sums[m] + bias, F::new(0.0));
        }
    }
}

/// The loss gradient with respect to the pre-activations `z = conv(x, w) + b` (before the ReLU
/// and the pool), one thread per value of `dz`: `dy` where the ReLU was open (`y > 0`) and —
/// pooled — only at the position the window's switch names (a row or column the pool drops gets
/// none). `dz` is the `out_h × out_w` gradient inside a border of zeros, `pad` wide on the
/// left, top and bottom and wider on the right (none when no dx follows): the border spares the
/// input-gradient kernel every bounds branch of its own.
#[cube(launch)]
fn pre_activation_grad_kernel<F: Float>(
    y: &Tensor<F>,
    dy: &Tensor<F>,
    switches: &Tensor<i32>,
    dz: &mut Tensor<F>,
    pad: usize,
    out_h: usize,
    out_w: usize,
    #[comptime] pooled: bool,
    #[define(F)] _dtype: ElemType,
) {
    let (padded_h, padded_w, out_c) = (dz.shape(2), dz.shape(3), dz.shape(1));
    if ABSOLUTE_POS >= dz.shape(0) * out_c * padded_h * padded_w {
        terminate!();
    }
    let (n, o, ip, jp) = position(ABSOLUTE_POS, out_c, padded_h, padded_w);
    let mut g = F::new(0.0);
    if ip >= pad && jp >= pad && ip < pad + out_h && jp < pad + out_w {
        let (i, j) = (ip - pad, jp - pad);
        if pooled {
            let (p, q) = (i / 2, j / 2);
            if p < y.shape(2) && q < y.shape(3) {
                let won = switches[at(switches, n, o, p, q)] == i32::cast_from(2 * (i % 2) + j % 2);
                if won && y[at(y, n, o, p, q)] > F::new(0.0) {
                    g = dy[at(dy, n, o, p, q)];
                }
            }
        } else if y[at(y, n, o, i, j)] > F::new(0.0) {
            g = dy[at(dy, n, o, i, j)];
        }
    }
    let out = at_mut(dz, n, o, ip, jp);
    dz[out] = g;
}

/// `dW[o,c,u,v] = Σ_{n,i,j} dz[n,o,i,j]·x[n,c,i+u,j+v]` and `db[o] = Σ_{n,i,j} dz[n,o,i,j]` over
/// one chunk of `per_chunk` images, one thread per chunk, input channel and `ob` output
/// channels, holding their k×k taps in registers (each value of x and dz read once for all of
/// them); the threads of input channel 0 write `db`. Chunk `h` writes rows `h·o ..` of `dw`
/// (`[chunks·o, c, k, k]`) and of `db` (`[chunks·o]`); [`sum_chunks_kernel`] adds the chunks up
/// when there is more than one. `dz` as written by [`pre_activation_grad_kernel`], with its
/// border of `pad` zeros.
#[cube(launch)]
fn weight_grad_kernel<F: Float>(
    x: &Tensor<F>,
    dz: &Tensor<F>,
    dw: &mut Tensor<F>,
    db: &mut Tensor<F>,
    pad: usize,
    out_h: usize,
    out_w: usize,
    per_chunk: usize,
    #[comptime] k: usize,
    #[comptime] ob: usize,
    #[define(F)] _dtype: ElemType,
) {
    let (out_c, channels) = (dz.shape(1), dw.shape(1));
    let (groups, chunks) = (out_c / ob, dw.shape(0) / out_c);
    if ABSOLUTE_POS >= chunks * groups * channels {
        terminate!();
    }
    let (_, chunk, group, c) = position(ABSOLUTE_POS, chunks, groups, channels);
    let o0 = group * ob;
    let first = chunk * per_chunk;
    let last = clamp_max(first + per_chunk, dz.shape(0));
    let (xs2, xs3) = (x.stride(2), x.stride(3));
    let (gs1, gs2, gs3) = (dz.stride(1), dz.stride(2), dz.stride(3));
    // taps[(m·k + u)·k + v]: dW[o0 + m, c, u, v].
    let mut taps = Array::<F>::new(comptime!(ob * k * k));
    let mut bias = Array::<F>::new(ob);
    for n in first..last {
        let xn = n * x.stride(0) + c * x.stride(1);
        let gn = n * dz.stride(0) + o0 * gs1 + pad * gs2 + pad * gs3;
        for i in 0..out_h {
            for j in 0..out_w {
                let a = xn + i * xs2 + j * xs3;
                let g = gn + i * gs2 + j * gs3;
                #[unroll]
                for u in 0..k {
                    #[unroll]
                    for v in 0..k {
                        let value = x[a + u * xs2 + v * xs3];
                        #[unroll]
                        for m in 0..ob {
                            taps[(m * k + u) * k + v] += dz[g + m * gs1] * value;
                        }
                    }
                }
                #[unroll]
                for m in 0..ob {
                    bias[m] += dz[g + m * gs1];
                }
            }
        }
    }
    let row = chunk * out_c + o0;
    #[unroll]
    for m in 0..ob {
        #[unroll]
        for u in 0..k {
            #[unroll]
            for v in 0..k {
                let out = at_mut(dw, row + m, c, u, v);
                dw[out] = taps[(m * k + u) * k + v];
            }
        }
        if c == 0 {
            let out = (row + m) * db.stride(0);
            db[out] = bias[m];
        }
    }
}

/// The sums over chunks of the weight-gradient kernel's partial sums: `dw[t] = Σ_h
/// dw_parts[h·len + t]` for the `len` values of `dw`, and the same for `db` (threads past `dw`'s
/// length do `db`'s). All four tensors are contiguous.
#[cube(launch)]
fn sum_chunks_kernel<F: Float>(
    dw_parts: &Tensor<F>,
    db_parts: &Tensor<F>,
    dw: &mut Tensor<F>,
    db: &mut Tensor<F>,
    chunks: usize,
    #[define(F)] _dtype: ElemType,
) {
    let (len_w, len_b) = (dw.len(), db.len());
    if ABSOLUTE_POS < len_w {
        let mut sum = F::new(0.0);
        for h in 0..chunks {
            sum += dw_parts[h * len_w + ABSOLUTE_POS];
        }
        dw[ABSOLUTE_POS] = sum;
    } else if ABSOLUTE_POS < len_w + len_b {
        let t = ABSOLUTE_POS - len_w;
        let mut sum = F::new(0.0);
        for h in 0..chunks {
            sum += db_parts[h * len_b + t];
        }
        db[t] = sum;
    }
}

/// `dx[n,c,s,t] = Σ_{o,u,v} dz[n,o,s−u,t−v]·w[o,c,u,v]`, one thread per `cb` input channels at
/// `tb` neighbouring positions of a row (each dz value read once for all of them, each weight
/// once for the `tb` positions); `dz` has a border of k − 1 zeros (and `tb` − 1 more on the
/// right), so every tap reads inside it and contributes zero where it falls outside the
/// convolution's output.
#[cube(launch)]
fn input_grad_kernel<F: Float>(
    w: &Tensor<F>,
    dz: &Tensor<F>,
    dx: &mut Tensor<F>,
    #[comptime] k: usize,
    #[comptime] cb: usize,
    #[comptime] tb: usize,
    #[define(F)] _dtype: ElemType,
) {
    let (groups, in_h, in_w) = (dx.shape(1) / cb, dx.shape(2), dx.shape(3));
    let segments = in_w.div_ceil(tb);
    if ABSOLUTE_POS >= dx.shape(0) * groups * in_h * segments {
        terminate!();
    }
    let (n, group, s, segment) = position(ABSOLUTE_POS, groups, in_h, segments);
    let (c0, t0) = (group * cb, segment * tb);
    let (gs1, gs2, gs3) = (dz.stride(1), dz.stride(2), dz.stride(3));
    let (ws0, ws1, ws2, ws3) = (w.stride(0), w.stride(1), w.stride(2), w.stride(3));
    // dz's padded row s + (k − 1) − u, column t + (k − 1) − v is the output's (s − u, t − v).
    let mut gc = n * dz.stride(0) + s * gs2 + t0 * gs3;
    let mut wc = c0 * ws1;
    // sums[m·tb + p]: input channel c0 + m at column t0 + p.
    let mut sums = Array::<F>::new(comptime!(cb * tb));
    let mut row = Array::<F>::new(comptime!(tb + k - 1));
    for _o in 0..w.shape(0) {
        #[unroll]
        for u in 0..k {
            let r = gc + comptime!(k - 1 - u) * gs2;
            #[unroll]
            for q in 0..comptime!(tb + k - 1) {
                row[q] = dz[r + q * gs3];
            }
            #[unroll]
            for v in 0..k {
                #[unroll]
                for m in 0..cb {
                    let weight = w[wc + m * ws1 + u * ws2 + v * ws3];
                    #[unroll]
                    for p in 0..tb {
                        sums[m * tb + p] += row[p + comptime!(k - 1 - v)] * weight;
                    }
                }
            }
        }
        gc += gs1;
        wc += ws0;
    }
    #[unroll]
    for p in 0..tb {
        if t0 + p < in_w {
            #[unroll]
            for m in 0..cb {
                let out = at_mut(dx, n, c0 + m, s, t0 + p);
                dx[out] = sums[m * tb + p];
            }
        }
    }
}

/// The checked geometry of a block ([`Geometry::new`]'s shape checks) whose weight has `x`'s
/// dtype.
fn geometry(x: &CubeTensor, weight: &CubeTensor) -> Geometry {
    let g = Geometry::new(dims(x, "x"), dims(weight, "weight"));
    expect(weight, "weight", &[g.o, g.c, g.k, g.k], x.dtype);
    g
}

/// Panics unless `t` (called `name`) has shape `dims` and dtype `dtype`: the operations'
/// contract, checked before any kernel reads it.
fn expect(t: &CubeTensor, name: &str, dims: &[usize], dtype: DType) {
    let shape = t.meta.shape();
    assert!(
        shape.iter().eq(dims.iter()) && t.dtype == dtype,
        "fastconv: {name} is {shape:?} {:?}, expected {dims:?} {dtype:?}",
        t.dtype
    );
}

fn dims(t: &CubeTensor, name: &str) -> [usize; 4] {
    let shape = t.meta.shape();
    assert_eq!(shape.num_dims(), 4, "fastconv: {name} must be 4-d, got {shape:?}");
    [shape[0], shape[1], shape[2], shape[3]]
}

/// A new contiguous (row-major, unpitched) tensor on `like`'s device: what the next operations,
/// reshapes included, take without a copy.
fn empty(like: &CubeTensor, shape: impl Into<Shape>, dtype: DType) -> CubeTensor {
    let shape = shape.into();
    let handle = like.client.empty(shape.num_elements() * dtype.size());
    CubeTensor::new_contiguous(like.client.clone(), like.device.clone(), shape, handle, dtype)
}

/// About how many threads the weight-gradient kernel should have: it splits the batch into
/// chunks until it does.
const WEIGHT_GRAD_THREADS: usize = 4096;

/// How many neighbouring positions of a row one input-gradient thread computes.
const TB: usize = 4;

/// How many channels one thread computes: `want` where it divides `channels`, else 1.
fn channels_per_thread(channels: usize, want: usize) -> usize {
    if channels.is_multiple_of(want) { want } else { 1 }
}

/// The launch grid for `units` threads.
fn grid(like: &CubeTensor, units: usize) -> (CubeCount, CubeDim) {
    let cube_dim = CubeDim::new(&like.client, units);
    (calculate_cube_count_elemwise(&like.client, units, cube_dim), cube_dim)
}

/// `relu(conv2d(x, weight) + bias)`.
pub fn conv_relu(x: CubeTensor, weight: CubeTensor, bias: CubeTensor) -> CubeTensor {
    let block = geometry(&x, &weight);
    expect(&bias, "bias", &[block.o], x.dtype);
    // The kernel takes a switches tensor either way; unpooled, it never writes it.
    let unused = empty(&x, [1, 1, 1, 1], DType::I32);
    forward(x, weight, bias, block.output_shape(false), unused, false)
}

/// `max_pool2d(relu(conv2d(x, weight) + bias))` (2×2, stride 2) and the switches.
pub fn conv_relu_pool(x: CubeTensor, weight: CubeTensor, bias: CubeTensor) -> (CubeTensor, CubeTensor) {
    let block = geometry(&x, &weight);
    expect(&bias, "bias", &[block.o], x.dtype);
    let shape = block.output_shape(true);
    let switches = empty(&x, shape, DType::I32);
    (forward(x, weight, bias, shape, switches.clone(), true), switches)
}

/// Launches [`forward_kernel`] for an output of `shape`: 4 output channels a thread plain, 2
/// pooled (4 sums each), where they divide the channel count.
fn forward(
    x: CubeTensor,
    weight: CubeTensor,
    bias: CubeTensor,
    shape: [usize; 4],
    switches: CubeTensor,
    pooled: bool,
) -> CubeTensor {
    let k = weight.meta.shape()[2];
    let dtype = x.dtype;
    let y = empty(&x, shape, dtype);
    let ob = channels_per_thread(shape[1], if pooled { 2 } else { 4 });
    let (count, dim) = grid(&x, shape.iter().product::<usize>() / ob);
    forward_kernel::launch(
        &x.client.clone(),
        count,
        dim,
        x.into_tensor_arg(),
        weight.into_tensor_arg(),
        bias.into_tensor_arg(),
        y.clone().into_tensor_arg(),
        switches.into_tensor_arg(),
        k,
        ob,
        pooled,
        dtype_to_storage_type(dtype),
    );
    y
}

/// `(dx, dweight, dbias)` of a block, from its input, weight, output (pooled or not), switches
/// (pooled only) and the loss gradient with respect to its output; `dx` only if `input_grad`.
pub fn backward(
    x: CubeTensor,
    weight: CubeTensor,
    output: CubeTensor,
    switches: Option<CubeTensor>,
    output_grad: CubeTensor,
    input_grad: bool,
) -> (Option<CubeTensor>, CubeTensor, CubeTensor) {
    let block = geometry(&x, &weight);
    let out_shape = match switches {
        Some(_) => block.output_shape(true),
        None => block.output_shape(false),
    };
    expect(&output, "output", &out_shape, x.dtype);
    expect(&output_grad, "output_grad", &out_shape, x.dtype);
    if let Some(switches) = &switches {
        expect(switches, "switches", &out_shape, DType::I32);
    }
    // dz with a border of k − 1 zeros (and TB − 1 more on the right) when dx is wanted: its
    // kernel then needs no bounds branches.
    let pad = if input_grad { block.k - 1 } else { 0 };
    let dz = pre_activation_grad(&block, output, switches, output_grad, pad, input_grad);
    let (dw, db) = weight_grad(&block, x, &dz, pad);
    let dx = input_grad.then(|| input_grad_of(&block, weight, dz));
    (dx, dw, db)
}

/// Launches [`pre_activation_grad_kernel`]: dz inside a border of `pad` zeros (and TB − 1 more
/// on the right when `wide`).
fn pre_activation_grad(
    block: &Geometry,
    output: CubeTensor,
    switches: Option<CubeTensor>,
    output_grad: CubeTensor,
    pad: usize,
    wide: bool,
) -> CubeTensor {
    let [n, o, out_h, out_w] = block.output_shape(false);
    let dtype = output.dtype;
    let pooled = switches.is_some();
    // The kernel takes a switches tensor either way; unpooled, it never reads it.
    let switches = switches.unwrap_or_else(|| empty(&output, [1, 1, 1, 1], DType::I32));
    let extra = if wide { TB - 1 } else { 0 };
    let padded = [n, o, out_h + 2 * pad, out_w + 2 * pad + extra];
    let dz = empty(&output, padded, dtype);
    let (count, dim) = grid(&output, padded.iter().product());
    pre_activation_grad_kernel::launch(
        &output.client.clone(),
        count,
        dim,
        output.into_tensor_arg(),
        output_grad.into_tensor_arg(),
        switches.into_tensor_arg(),
        dz.clone().into_tensor_arg(),
        pad,
        out_h,
        out_w,
        pooled,
        dtype_to_storage_type(dtype),
    );
    dz
}

/// dW and db: [`weight_grad_kernel`] over the batch split into enough chunks for about
/// WEIGHT_GRAD_THREADS threads (conv1 has only 16 (output pair, input channel) threads), then
/// [`sum_chunks_kernel`] adding the chunks up where there are several.
fn weight_grad(block: &Geometry, x: CubeTensor, dz: &CubeTensor, pad: usize) -> (CubeTensor, CubeTensor) {
    let (n, c) = (block.n, block.c);
    let [_, o, out_h, out_w] = block.output_shape(false);
    let (k, dtype, client) = (block.k, dz.dtype, dz.client.clone());
    let ob = channels_per_thread(o, 2);
    let per_thread = o / ob * c;
    let per_chunk = n.div_ceil(WEIGHT_GRAD_THREADS.div_ceil(per_thread).clamp(1, n));
    let chunks = n.div_ceil(per_chunk);
    let (dw_parts, db_parts) = (empty(dz, [chunks * o, c, k, k], dtype), empty(dz, [chunks * o], dtype));
    let (count, dim) = grid(dz, chunks * per_thread);
    weight_grad_kernel::launch(
        &client,
        count,
        dim,
        x.into_tensor_arg(),
        dz.clone().into_tensor_arg(),
        dw_parts.clone().into_tensor_arg(),
        db_parts.clone().into_tensor_arg(),
        pad,
        out_h,
        out_w,
        per_chunk,
        k,
        ob,
        dtype_to_storage_type(dtype),
    );
    if chunks == 1 {
        return (dw_parts, db_parts);
    }
    let (dw, db) = (empty(dz, [o, c, k, k], dtype), empty(dz, [o], dtype));
    let (count, dim) = grid(dz, o * c * k * k + o);
    sum_chunks_kernel::launch(
        &client,
        count,
        dim,
        dw_parts.into_tensor_arg(),
        db_parts.into_tensor_arg(),
        dw.clone().into_tensor_arg(),
        db.clone().into_tensor_arg(),
        chunks,
        dtype_to_storage_type(dtype),
    );
    (dw, db)
}

/// dx: [`input_grad_kernel`] on dz with its border of k − 1 zeros (TB − 1 more on the right).
fn input_grad_of(block: &Geometry, weight: CubeTensor, dz: CubeTensor) -> CubeTensor {
    let [n, c, h, w] = [block.n, block.c, block.h, block.w];
    let dtype = dz.dtype;
    let dx = empty(&dz, [n, c, h, w], dtype);
    let cb = channels_per_thread(c, 4);
    let (count, dim) = grid(&dz, n * c / cb * h * w.div_ceil(TB));
    input_grad_kernel::launch(
        &dz.client.clone(),
        count,
        dim,
        weight.into_tensor_arg(),
        dz.into_tensor_arg(),
        dx.clone().into_tensor_arg(),
        block.k,
        cb,
        TB,
        dtype_to_storage_type(dtype),
    );
    dx
}

//! Inference without autodiff, tensors or intermediate allocations: a chain of convolution
//! blocks (`relu(conv(x) + b)`, k×k, stride 1, no padding, optionally 2×2 max-pooled) and dense
//! layers, its weights packed once ([`Network::new`]) into the layouts its GEMMs read, run on
//! plain `f32` slices ([`Network::forward`]).
//!
//! How it differs from the training path ([`crate::kernels`]), and why it is faster:
//!
//! - **Channels last** (NHWC) between layers, so a convolution's im2col row is `k` contiguous
//!   runs of `k·c` values (`k` copies instead of `k²·c` gathers), and the last block's output is
//!   already the dense layer's row (the dense weights' rows are permuted once, at packing, from
//!   burn's channels-first flatten order).
//! - **Only what the pool keeps**: before a 2×2 pool, the convolution computes the even part of
//!   its output (the seed CNN's conv2: 10×10 of 11×11 positions, 17 % of its FLOPs); the bias
//!   is added and ReLU applied after the max (both commute with it), on a quarter of the values.
//! - **Weights packed once**, as `[k·k·c_in, c_out]` row-major GEMM operands: no transposes or
//!   copies per call.
//! - **Images in groups**: each rayon task takes a group of consecutive images (as many as
//!   fit about one core's L2, and a number of groups that keeps every thread equally busy)
//!   through every layer in its own thread-local scratch (~290 KB per image, reused from call
//!   to call; a batch of 1 needs one image's worth), its GEMMs on that one thread. A batch of
//!   one image runs on the caller's thread.
//! - **One input channel** (conv1): its im2col matrix is stored transposed (each tap a shifted
//!   copy of the image, in runs of a whole output row) and read through a transposed view.
//! - **Vectorised epilogues**: bias, ReLU and the pool's max run over a position's channels,
//!   contiguous in channels-last order.
//!
//! The result equals burn's stock layers to float rounding (tests: `tests/fastconv/infer.rs`
//! against `Conv2d`, `MaxPool2d` and `Linear` on flex; the seed CNN's through mnist-cnn).

use std::cell::RefCell;
use std::fmt;

use rayon::prelude::*;

use crate::gemm::{GemmError, Mat, matmul};

/// Why a network could not be packed or run.
#[derive(Debug, Clone, PartialEq)]
pub enum InferError {
    /// A layer's weights do not fit the shape it was given or the layer before it.
    Layer {
        /// 0-based layer index.
        index: usize,
        /// What is wrong.
        why: String,
    },
    /// The input is not a whole number of images, or the output buffer does not fit it.
    Input {
        /// Values per image (`side² · channels`).
        per_image: usize,
        /// Values given.
        got: usize,
        /// Output values the caller's buffer holds, and how many the images need.
        out: (usize, usize),
    },
    /// A GEMM refused its operands (a bug: the shapes are checked before).
    Gemm(GemmError),
}

impl fmt::Display for InferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InferError::Layer { index, why } => write!(f, "layer {index}: {why}"),
            InferError::Input { per_image, got, out } => {
                if !got.is_multiple_of(*per_image.max(&1)) {
                    write!(
                        f,
                        "input holds {got} values, not a whole number of {per_image}-value images"
                    )
                } else {
                    write!(
                        f,
                        "the output holds {} values, not the {} its images need",
                        out.0, out.1
                    )
                }
            }
            InferError::Gemm(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for InferError {}

impl From<GemmError> for InferError {
    fn from(e: GemmError) -> Self {
        InferError::Gemm(e)
    }
}

/// One layer in burn's layouts, as [`Network::new`] takes it.
#[derive(Debug, Clone, Copy)]
pub enum LayerSpec<'a> {
    /// `relu(conv2d(x, weight) + bias)`, stride 1, no padding, then a 2×2 max-pool (stride 2,
    /// an odd last row and column dropped) when `pool`. `weight`: `[c_out, c_in, k, k]`
    /// row-major (burn's `Conv2d`); `bias`: `[c_out]`.
    Conv {
        /// The kernel's weights.
        weight: &'a [f32],
        /// `c_out` biases.
        bias: &'a [f32],
        /// Output channels.
        c_out: usize,
        /// Kernel side.
        k: usize,
        /// Whether a 2×2 max-pool follows.
        pool: bool,
    },
    /// `x·weight + bias`, then ReLU when `relu`. `weight`: `[d_in, d_out]` row-major (burn's
    /// `Linear`); a dense layer after a convolution reads its output flattened channels first
    /// (`[c, h, w]`, burn's `flatten(1, 3)`).
    Dense {
        /// The weights.
        weight: &'a [f32],
        /// `d_out` biases.
        bias: &'a [f32],
        /// Output features.
        d_out: usize,
        /// Whether ReLU follows.
        relu: bool,
    },
}

#[derive(Debug, Clone)]
enum Layer {
    Conv {
        /// Input side and channels.
        side: usize,
        c_in: usize,
        c_out: usize,
        k: usize,
        /// Side of the positions computed (the whole output, or its even part before a pool).
        computed: usize,
        pool: bool,
        /// `[k·k·c_in, c_out]`, row `(ky·k + kx)·c_in + c`.
        w: Vec<f32>,
        b: Vec<f32>,
    },
    Dense {
        d_in: usize,
        d_out: usize,
        relu: bool,
        /// `[d_in, d_out]`, rows in the channels-last order of the layer before.
        w: Vec<f32>,
        b: Vec<f32>,
    },
}

impl Layer {
    /// Values per image this layer writes (the GEMM's output) and its im2col's, if any.
    fn scratch(&self) -> (usize, usize) {
        match *self {
            Layer::Conv {
                c_in,
                c_out,
                k,
                computed,
                ..
            } => (computed * computed * c_out, computed * computed * k * k * c_in),
            Layer::Dense { d_out, .. } => (d_out, 0),
        }
    }
}

/// A packed network: [`Network::new`] once, then [`Network::forward`] for every batch.
#[derive(Debug, Clone)]
pub struct Network {
    side: usize,
    channels: usize,
    layers: Vec<Layer>,
    outputs: usize,
    /// Per image: the largest activation and the largest im2col.
    act_len: usize,
    cols_len: usize,
}

/// Per-thread buffers, grown to the largest group a thread has run and kept.
#[derive(Default)]
struct Scratch {
    cols: Vec<f32>,
    out: Vec<f32>,
    act: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn grow(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

impl Network {
    /// Packs `layers` for images of `side × side × channels` (a channels-first image with one
    /// channel is also channels last: the seed CNN's `[n, 1, 28, 28]`). Refused, naming the
    /// layer, when a weight or bias has the wrong length or a layer does not fit the one before.
    pub fn new(side: usize, channels: usize, layers: &[LayerSpec<'_>]) -> Result<Self, InferError> {
        let (mut s, mut c) = (side, channels);
        // Shape of the last convolution's output, for the dense layer after it: (c, h, w).
        let mut flat: Option<(usize, usize)> = None;
        let mut d = s * s * c;
        let mut packed = Vec::new();
        let mut dense_seen = false;
        let (mut act_len, mut cols_len) = (d, 0);
        for (index, spec) in layers.iter().enumerate() {
            let bad = |why: String| InferError::Layer { index, why };
            let layer = match *spec {
                LayerSpec::Conv {
                    weight,
                    bias,
                    c_out,
                    k,
                    pool,
                } => {
                    check_conv(weight.len(), bias.len(), (c_out, c, k, s), dense_seen).map_err(bad)?;
                    let o = s - k + 1;
                    if pool && o < 2 {
                        return Err(bad(format!("a 2×2 pool of a {o}×{o} output")));
                    }
                    let computed = if pool { o / 2 * 2 } else { o };
                    let w = pack_conv(weight, c_out, c, k);
                    let layer = Layer::Conv {
                        side: s,
                        c_in: c,
                        c_out,
                        k,
                        computed,
                        pool,
                        w,
                        b: bias.to_vec(),
                    };
                    s = if pool { o / 2 } else { o };
                    c = c_out;
                    d = s * s * c;
                    flat = Some((c, s));
                    layer
                }
                LayerSpec::Dense {
                    weight,
                    bias,
                    d_out,
                    relu,
                } => {
                    if weight.len() != d * d_out || bias.len() != d_out || d_out == 0 {
                        return Err(bad(format!(
                            "weight holds {} values and bias {}, not [{d}, {d_out}] = {} and {d_out}",
                            weight.len(),
                            bias.len(),
                            d * d_out
                        )));
                    }
                    dense_seen = true;
                    let w = pack_dense(weight, d_out, flat.take());
                    let layer = Layer::Dense {
                        d_in: d,
                        d_out,
                        relu,
                        w,
                        b: bias.to_vec(),
                    };
                    d = d_out;
                    layer
                }
            };
            let (out, cols) = layer.scratch();
            act_len = act_len.max(out).max(d);
            cols_len = cols_len.max(cols);
            packed.push(layer);
        }
        if packed.is_empty() {
            return Err(InferError::Layer {
                index: 0,
                why: "no layers".into(),
            });
        }
        Ok(Network {
            side,
            channels,
            layers: packed,
            outputs: d,
            act_len,
            cols_len,
        })
    }

    /// Values per input image.
    pub fn input_len(&self) -> usize {
        self.side * self.side * self.channels
    }

    /// Values per output (the last layer's width).
    pub fn output_len(&self) -> usize {
        self.outputs
    }

    /// The outputs of `images` (`n · input_len()` values, image after image), `n · output_len()`
    /// values. Refused when `images` is not a whole number of images.
    pub fn forward(&self, images: &[f32]) -> Result<Vec<f32>, InferError> {
        let mut out = vec![0.0; images.len() / self.input_len().max(1) * self.outputs];
        self.forward_into(images, &mut out)?;
        Ok(out)
    }

    /// [`forward`](Self::forward) into `out` (`n · output_len()` values).
    pub fn forward_into(&self, images: &[f32], out: &mut [f32]) -> Result<(), InferError> {
        let per = self.input_len();
        let need = images.len() / per.max(1) * self.outputs;
        if per == 0 || !images.len().is_multiple_of(per) || out.len() != need {
            return Err(InferError::Input {
                per_image: per,
                got: images.len(),
                out: (out.len(), need),
            });
        }
        let n = images.len() / per;
        if n == 0 {
            return Ok(());
        }
        let threads = rayon::current_num_threads().max(1);
        let group = self.group_size(n, threads);
        if n <= group {
            // One image (or one thread): on this thread alone. Splitting its GEMMs over two
            // threads was slower here: waking a rayon worker for each split, or handing the
            // whole forward to one, cost more than half of conv2's 16 µs (measured,
            // 2-core EPYC VM: 37–58 µs against 29–37 µs alone).
            return self.run_group(images, out, n);
        }
        images
            .par_chunks(group * per)
            .zip(out.par_chunks_mut(group * self.outputs))
            .try_for_each(|(x, y)| self.run_group(x, y, x.len() / per))
    }

    /// Images per rayon task: each task's scratch near one core's L2, and the tasks a multiple
    /// of the threads where a smaller group makes them so (32 images on 2 threads: 16 groups
    /// of 2, not 10 of 3 and one of 2).
    fn group_size(&self, n: usize, threads: usize) -> usize {
        let per_image = (self.act_len * 2 + self.cols_len) * 4;
        let cap = (GROUP_BYTES / per_image.max(1)).clamp(1, n.div_ceil(threads).max(1));
        (1..=cap)
            .rev()
            .find(|&g| n.div_ceil(g).is_multiple_of(threads))
            .unwrap_or(cap)
    }

    fn run_group(&self, images: &[f32], dst: &mut [f32], m: usize) -> Result<(), InferError> {
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let Scratch { cols, out, act } = &mut *guard;
            let cols = grow(cols, m * self.cols_len);
            let mut out = grow(out, m * self.act_len);
            let mut act = grow(act, m * self.act_len);
            // The current activation: the images, then `act` (a layer without a pool writes
            // `out` and swaps the two).
            let mut in_act = false;
            let mut width = self.input_len();
            for layer in &self.layers {
                let x: &[f32] = if in_act { &act[..m * width] } else { images };
                match layer {
                    Layer::Conv {
                        side,
                        c_in,
                        c_out,
                        k,
                        computed,
                        pool,
                        w,
                        b,
                    } => {
                        let (s, c, co, k, cs) = (*side, *c_in, *c_out, *k, *computed);
                        let kc = k * c;
                        let row = k * kc;
                        let rows = m * cs * cs;
                        let cols = &mut cols[..rows * row];
                        let planar = im2col(x, cols, m, (s, c, k, cs));
                        let z = &mut out[..rows * co];
                        let a = if planar {
                            Mat::row_major(cols, row, rows)?.t()
                        } else {
                            Mat::row_major(cols, rows, row)?
                        };
                        matmul(z, a, Mat::row_major(w, row, co)?, false, false)?;
                        if *pool {
                            let ps = cs / 2;
                            pool_relu(z, &mut act[..m * ps * ps * co], m, cs, b);
                            width = ps * ps * co;
                        } else {
                            for pos in z.chunks_exact_mut(co) {
                                for (v, bias) in pos.iter_mut().zip(b) {
                                    *v = larger(*v + bias, 0.0);
                                }
                            }
                            std::mem::swap(&mut out, &mut act);
                            width = cs * cs * co;
                        }
                    }
                    Layer::Dense {
                        d_in,
                        d_out,
                        relu,
                        w,
                        b,
                    } => {
                        let z = &mut out[..m * d_out];
                        matmul(
                            z,
                            Mat::row_major(x, m, *d_in)?,
                            Mat::row_major(w, *d_in, *d_out)?,
                            false,
                            false,
                        )?;
                        for row in z.chunks_exact_mut(*d_out) {
                            for (v, bias) in row.iter_mut().zip(b) {
                                *v += bias;
                                if *relu {
                                    *v = larger(*v, 0.0);
                                }
                            }
                        }
                        std::mem::swap(&mut out, &mut act);
                        width = *d_out;
                    }
                }
                in_act = true;
            }
            dst.copy_from_slice(&act[..m * width]);
            Ok(())
        })
    }
}

/// Why a convolution of `c` input channels on an `s`×`s` input cannot be packed, if it cannot.
fn check_conv(
    weights: usize,
    biases: usize,
    (c_out, c, k, s): (usize, usize, usize, usize),
    dense_seen: bool,
) -> Result<(), String> {
    if dense_seen {
        return Err("a convolution after a dense layer".into());
    }
    if k == 0 || k > s {
        return Err(format!("a {k}×{k} kernel on a {s}×{s} input"));
    }
    let expected = c_out * c * k * k;
    if weights != expected || biases != c_out || c_out == 0 {
        return Err(format!(
            "weight holds {weights} values and bias {biases}, not [{c_out}, {c}, {k}, {k}] = {expected} and {c_out}"
        ));
    }
    Ok(())
}

/// A convolution's `[c_out, c, k, k]` weights as the GEMM's `[k·k·c, c_out]` operand, row
/// `(ky·k + kx)·c + ic` (the channels-last im2col's column order).
fn pack_conv(weight: &[f32], c_out: usize, c: usize, k: usize) -> Vec<f32> {
    let mut w = vec![0.0; weight.len()];
    for oc in 0..c_out {
        for ic in 0..c {
            for ky in 0..k {
                for kx in 0..k {
                    let row = (ky * k + kx) * c + ic;
                    w[row * c_out + oc] = weight[((oc * c + ic) * k + ky) * k + kx];
                }
            }
        }
    }
    w
}

/// A dense layer's `[d_in, d_out]` weights, their rows permuted when the layer reads a
/// convolution's output (`flat`: its channels and side): burn flattens `[c, h, w]`, the
/// activations here are `[h, w, c]`.
fn pack_dense(weight: &[f32], d_out: usize, flat: Option<(usize, usize)>) -> Vec<f32> {
    let mut w = weight.to_vec();
    if let Some((ch, sd)) = flat {
        for ic in 0..ch {
            for p in 0..sd * sd {
                let (from, to) = (ic * sd * sd + p, p * ch + ic);
                w[to * d_out..(to + 1) * d_out].copy_from_slice(&weight[from * d_out..(from + 1) * d_out]);
            }
        }
    }
    w
}

/// The im2col matrix of `m` channels-last images `x` (side `s`, `c` channels) for a `k`×`k`
/// kernel at the `cs`×`cs` positions computed, into `cols`: row-major `[positions, k·k·c]`, or
/// transposed `[k·k, positions]` for one input channel (then returns true). One input channel
/// (conv1): tap (ky, kx) is the image shifted, `cs` runs of `cs` values per image (long copies),
/// where the row-major layout would be k runs of k values per position.
fn im2col(x: &[f32], cols: &mut [f32], m: usize, (s, c, k, cs): (usize, usize, usize, usize)) -> bool {
    let (kc, rows) = (k * c, m * cs * cs);
    let row = k * kc;
    if c == 1 {
        for (tap, dst) in cols.chunks_exact_mut(rows).enumerate() {
            let (ky, kx) = (tap / k, tap % k);
            for (i, img) in dst.chunks_exact_mut(cs * cs).enumerate() {
                for (y, run) in img.chunks_exact_mut(cs).enumerate() {
                    let from = (i * s + y + ky) * s + kx;
                    run.copy_from_slice(&x[from..from + cs]);
                }
            }
        }
    } else {
        // Rows in (image, y, x) order, walked without divisions.
        let positions = (0..m).flat_map(|i| (0..cs).flat_map(move |y| (0..cs).map(move |xx| (i, y, xx))));
        for ((i, y, xx), dst) in positions.zip(cols.chunks_exact_mut(row)) {
            for ky in 0..k {
                let from = ((i * s + y + ky) * s + xx) * c;
                dst[ky * kc..(ky + 1) * kc].copy_from_slice(&x[from..from + kc]);
            }
        }
    }
    c == 1
}

/// `a` = relu(2×2 max-pool of `z` + `b`): `z` the `m` images' `cs`×`cs` channels-last GEMM
/// output, `a` their `cs/2`×`cs/2` pooled outputs.
fn pool_relu(z: &[f32], a: &mut [f32], m: usize, cs: usize, b: &[f32]) {
    let (ps, co) = (cs / 2, b.len());
    let windows = (0..m).flat_map(|i| (0..ps).flat_map(move |py| (0..ps).map(move |px| (i, py, px))));
    for ((i, py, px), dst) in windows.zip(a.chunks_exact_mut(co)) {
        let at = |dy: usize, dx: usize| {
            let r = ((i * cs + 2 * py + dy) * cs + 2 * px + dx) * co;
            &z[r..r + co]
        };
        let (z0, z1, z2, z3) = (at(0, 0), at(0, 1), at(1, 0), at(1, 1));
        // Slices and `>` rather than indices and `f32::max`: the loop
        // vectorises (max, add, max per 16 channels).
        for (((d, &bias), (&a, &e)), (&f, &g)) in dst.iter_mut().zip(b).zip(z0.iter().zip(z1)).zip(z2.iter().zip(z3)) {
            let v = larger(larger(a, e), larger(f, g)) + bias;
            *d = larger(v, 0.0);
        }
    }
}

/// `max(a, b)` as one compare-and-select (`maxps` when vectorised; `f32::max`'s NaN rule costs
/// a second compare and a blend). With a NaN, the result is `b`.
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// Scratch bytes a group of images may take (near one Zen 4 / recent Xeon core's L2).
const GROUP_BYTES: usize = 1 << 20;

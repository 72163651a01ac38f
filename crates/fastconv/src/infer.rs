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
//! - **Winograd F(2×2, 3×3)** for a pooled 3×3 convolution of 8 or more input channels (the
//!   seed CNN's conv2): each 2×2 output tile is one pool window; 16 GEMMs of `[tiles, c_in]` by
//!   the packed `G·g·Gᵀ` weights replace the im2col GEMM, 2.25× fewer multiply-adds, and the
//!   tile's output transform, pool, bias and ReLU run in one pass.
//! - **One input channel** (conv1): its im2col matrix is stored transposed (each tap a shifted
//!   copy of the image, in runs of a whole output row) and read through a transposed view.
//! - **Vectorised epilogues**: bias, ReLU and the pool's max run over a position's channels,
//!   contiguous in channels-last order.
//!
//! The result equals burn's stock layers to float rounding (Winograd's transforms round
//! differently from a direct sum: within 1.3e-6 of the largest output on the seed CNN) (tests: `tests/fastconv/infer.rs`
//! against `Conv2d`, `MaxPool2d` and `Linear` on flex; the seed CNN's through mnist-cnn).

use std::cell::RefCell;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

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
        /// For a pooled 3×3 convolution of [`WINO_MIN_CHANNELS`] or more input channels, its
        /// Winograd F(2×2, 3×3) weights `U = G·g·Gᵀ`: `[16, c_in, c_out]` (then `w` is unused).
        wino: Option<Vec<f32>>,
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
    /// For a convolution worth sharing with the helper at batch 1 ([`SPLIT_MACS`] or more), the
    /// output row where the caller's share ends: the first half of the rows, rounded up to
    /// whole pool windows (the seed CNN's conv2: rows 0–5 of 10 here, 6–9 on the helper).
    fn split_at(&self) -> Option<usize> {
        let Layer::Conv {
            c_in,
            c_out,
            k,
            computed,
            pool,
            ..
        } = *self
        else {
            return None;
        };
        let unit = if pool { 2 } else { 1 };
        let units = computed / unit;
        let macs = computed * computed * k * k * c_in * c_out;
        (units >= 2 && macs >= SPLIT_MACS).then(|| units.div_ceil(2) * unit)
    }

    /// Values per image this layer writes (the GEMM's output) and its im2col's, if any (for
    /// Winograd: the 16 products' outputs and the transformed input tiles).
    fn scratch(&self) -> (usize, usize) {
        match *self {
            Layer::Conv {
                c_in,
                c_out,
                computed,
                wino: Some(_),
                ..
            } => (4 * computed * computed * c_out, 4 * computed * computed * c_in),
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
    layers: Arc<[Layer]>,
    outputs: usize,
    /// Per image: the largest activation and the largest im2col.
    act_len: usize,
    cols_len: usize,
    /// Whether a batch of one image shares its largest convolutions with a helper thread.
    helper: bool,
    /// The caller waits for the helper to take its share, rather than doing it when it is late.
    wait_for_helper: bool,
    pair: PairSlot,
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
                    check_conv(weight.len(), bias.len(), (c_out, c, k, s), (pool, dense_seen)).map_err(bad)?;
                    let o = s - k + 1;
                    let computed = if pool { o / 2 * 2 } else { o };
                    let w = pack_conv(weight, c_out, c, k);
                    let wino = (k == 3 && pool && c >= WINO_MIN_CHANNELS).then(|| pack_wino(weight, c_out, c));
                    let layer = Layer::Conv {
                        side: s,
                        c_in: c,
                        c_out,
                        k,
                        computed,
                        pool,
                        w,
                        b: bias.to_vec(),
                        wino,
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
            layers: packed.into(),
            outputs: d,
            act_len,
            cols_len,
            helper: rayon::current_num_threads() > 1,
            wait_for_helper: false,
            pair: PairSlot::default(),
        })
    }

    /// Whether a batch of one image shares its largest convolutions with a helper thread (on by
    /// default where rayon has more than one thread). The helper is started at the first such
    /// batch, spins for [`SPIN`] after each job and then sleeps; the caller's thread does the
    /// helper's share itself whenever the helper is asleep, busy or gone, so the answer is
    /// the same either way.
    pub fn set_helper(&mut self, on: bool) {
        self.helper = on;
    }

    /// Whether [`set_helper`](Self::set_helper) is on.
    pub fn helper(&self) -> bool {
        self.helper
    }

    /// For tests and measurements: the caller waits for the helper to compute every share it
    /// hands over (waking it if it sleeps), instead of computing a share itself when the helper
    /// has not taken it yet. Off by default.
    pub fn set_wait_for_helper(&mut self, wait: bool) {
        self.wait_for_helper = wait;
    }

    /// How many shares the helper thread has computed so far (0 before its first batch of one).
    pub fn helper_jobs(&self) -> u64 {
        self.pair.jobs()
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
            // One image (or one thread): on this thread, its largest convolutions split with
            // the helper thread (a rayon worker was no use: waking one for each split, or
            // handing the whole forward to one, cost more than half of conv2's 16 µs —
            // measured, 2-core EPYC VM: 37–58 µs against 29–37 µs alone).
            let pair = if n == 1 && self.helper {
                self.pair.get(&self.layers)
            } else {
                None
            };
            return self.run_group(images, out, n, pair.as_deref());
        }
        images
            .par_chunks(group * per)
            .zip(out.par_chunks_mut(group * self.outputs))
            .try_for_each(|(x, y)| self.run_group(x, y, x.len() / per, None))
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

    fn run_group(&self, images: &[f32], dst: &mut [f32], m: usize, pair: Option<&Pair>) -> Result<(), InferError> {
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
            for (index, layer) in self.layers.iter().enumerate() {
                let x: &[f32] = if in_act { &act[..m * width] } else { images };
                match layer {
                    &Layer::Conv {
                        c_out: co,
                        computed: cs,
                        pool,
                        ..
                    } => {
                        // With the helper: this thread computes the first `r` rows, the helper
                        // the rest from its copy of `x` (or this thread too, when it is late).
                        let split = pair.zip(layer.split_at());
                        let mine = split.map_or(cs, |(_, r)| r);
                        let posted = split.map(|(pair, r)| pair.post(index, x, r..cs));
                        im2col_band(layer, x, cols, m, 0..mine);
                        gemm_epilogue(layer, cols, out, act, m, 0..mine)?;
                        if let (Some((pair, r)), Some(job)) = (split, posted) {
                            let (theirs, at) = if pool {
                                (&mut act[..(cs / 2) * (cs / 2) * co], (r / 2) * (cs / 2) * co)
                            } else {
                                (&mut out[..cs * cs * co], r * cs * co)
                            };
                            if !pair.collect(job, &mut theirs[at..], self.wait_for_helper) {
                                im2col_band(layer, &pair.job().x, cols, 1, r..cs);
                                let (z, a) = if pool {
                                    (&mut out[..], &mut act[at..])
                                } else {
                                    (&mut out[at..], &mut [][..])
                                };
                                gemm_epilogue(layer, cols, z, a, 1, r..cs)?;
                            }
                        }
                        if pool {
                            width = (cs / 2) * (cs / 2) * co;
                        } else {
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
    (pool, dense_seen): (bool, bool),
) -> Result<(), String> {
    if dense_seen {
        return Err("a convolution after a dense layer".into());
    }
    if k == 0 || k > s {
        return Err(format!("a {k}×{k} kernel on a {s}×{s} input"));
    }
    let o = s - k + 1;
    if pool && o < 2 {
        return Err(format!("a 2×2 pool of a {o}×{o} output"));
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

/// The im2col matrix of `m` channels-last images `x` for `layer`'s `k`×`k` kernel at the
/// positions it computes in the rows `rows` of each image's output (all of them, or a band of
/// one image shared with the helper), into the start of `cols`: row-major `[positions, k·k·c]`,
/// or transposed `[k·k, positions]` for one input channel. One input channel (conv1): tap
/// (ky, kx) is the image shifted, a run of `cs` values per output row (long copies), where the
/// row-major layout would be k runs of k values per position.
fn im2col_band(layer: &Layer, x: &[f32], cols: &mut [f32], m: usize, rows: Range<usize>) {
    let &Layer::Conv {
        side: s,
        c_in: c,
        k,
        computed: cs,
        ref wino,
        ..
    } = layer
    else {
        return;
    };
    if wino.is_some() {
        return wino_input(x, cols, m, (s, c, cs), rows);
    }
    let kc = k * c;
    let n = m * rows.len() * cs;
    if c == 1 {
        for (tap, dst) in cols[..k * k * n].chunks_exact_mut(n).enumerate() {
            let (ky, kx) = (tap / k, tap % k);
            for (i, img) in dst.chunks_exact_mut(rows.len() * cs).enumerate() {
                for (y, run) in rows.clone().zip(img.chunks_exact_mut(cs)) {
                    let from = (i * s + y + ky) * s + kx;
                    run.copy_from_slice(&x[from..from + cs]);
                }
            }
        }
    } else {
        // Rows in (image, y, x) order, walked without divisions.
        let positions = (0..m).flat_map(|i| rows.clone().flat_map(move |y| (0..cs).map(move |xx| (i, y, xx))));
        for ((i, y, xx), dst) in positions.zip(cols[..n * k * kc].chunks_exact_mut(k * kc)) {
            for ky in 0..k {
                let from = ((i * s + y + ky) * s + xx) * c;
                dst[ky * kc..(ky + 1) * kc].copy_from_slice(&x[from..from + kc]);
            }
        }
    }
}

/// `layer`'s GEMM of the im2col rows [`im2col_band`] left in `cols` (`m` images, output rows
/// `rows` of each) into the start of `z`, then its epilogue: bias and ReLU in place, or the
/// 2×2 max-pool, bias and ReLU into the start of `a` (`rows` is even before a pool).
fn gemm_epilogue(
    layer: &Layer,
    cols: &[f32],
    z: &mut [f32],
    a: &mut [f32],
    m: usize,
    rows: Range<usize>,
) -> Result<(), InferError> {
    let Layer::Conv {
        c_in: c,
        c_out: co,
        k,
        computed: cs,
        pool,
        w,
        b,
        wino,
        ..
    } = layer
    else {
        return Ok(());
    };
    let (co, cs) = (*co, *cs);
    if let Some(u) = wino {
        return wino_products(u, cols, z, a, (*c, co, m * rows.len() / 2 * (cs / 2)), b);
    }
    let row = k * k * c;
    let n = m * rows.len() * cs;
    let cols = &cols[..n * row];
    let z = &mut z[..n * co];
    let lhs = if *c == 1 {
        Mat::row_major(cols, row, n)?.t()
    } else {
        Mat::row_major(cols, n, row)?
    };
    matmul(z, lhs, Mat::row_major(w, row, co)?, false, false)?;
    if *pool {
        pool_relu(z, &mut a[..n / 4 * co], m * rows.len(), cs, b);
    } else {
        for pos in z.chunks_exact_mut(co) {
            for (v, bias) in pos.iter_mut().zip(b) {
                *v = larger(*v + bias, 0.0);
            }
        }
    }
    Ok(())
}

/// Input channels from which a pooled 3×3 convolution runs as Winograd F(2×2, 3×3): 16
/// products of `[tiles, c_in]·[c_in, c_out]` instead of one `[positions, 9·c_in]·[9·c_in,
/// c_out]`, 2.25× fewer multiply-adds (the seed CNN's conv2; conv1's one channel stays a GEMM).
/// Each 2×2 output tile is exactly one pool window.
const WINO_MIN_CHANNELS: usize = 8;

/// A 3×3 convolution's `[c_out, c, 3, 3]` weights as Winograd's `U[ξ][ci][co] = (G·g·Gᵀ)[ξ]`,
/// ξ = 4i + j, with `G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]` (in f64, then rounded).
fn pack_wino(weight: &[f32], c_out: usize, c: usize) -> Vec<f32> {
    let mut u = vec![0.0; 16 * c * c_out];
    let g_rows = |v: [f64; 3]| [v[0], (v[0] + v[1] + v[2]) / 2.0, (v[0] - v[1] + v[2]) / 2.0, v[2]];
    for oc in 0..c_out {
        for ic in 0..c {
            let g = |ky: usize, kx: usize| f64::from(weight[((oc * c + ic) * 3 + ky) * 3 + kx]);
            // G·g, column by column: 4×3.
            let cols: [[f64; 4]; 3] = core::array::from_fn(|kx| g_rows([g(0, kx), g(1, kx), g(2, kx)]));
            for i in 0..4 {
                // (G·g)·Gᵀ, row i.
                for (j, v) in g_rows([cols[0][i], cols[1][i], cols[2][i]]).into_iter().enumerate() {
                    u[((4 * i + j) * c + ic) * c_out + oc] = v as f32;
                }
            }
        }
    }
    u
}

/// Winograd's input tiles `V = Bᵀ·d·B` of `m` channels-last images `x` (side `s`, `c`
/// channels) for the output rows `rows` (even) of the `cs`-wide computed output, into `v`:
/// `[16, tiles, c]`, tiles in (image, tile row, tile column) order; `Bᵀ = [[1, 0, −1, 0],
/// [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]`.
fn wino_input(x: &[f32], v: &mut [f32], m: usize, (s, c, cs): (usize, usize, usize), rows: Range<usize>) {
    let (tw, th) = (cs / 2, rows.len() / 2);
    let tiles = m * th * tw;
    let mut blocks: Vec<&mut [f32]> = v[..16 * tiles * c].chunks_exact_mut(tiles * c).collect();
    let mut t_rows = vec![0.0f32; 16 * c];
    let corners =
        (0..m).flat_map(|i| (rows.start / 2..rows.end / 2).flat_map(move |ty| (0..tw).map(move |tx| (i, ty, tx))));
    for (t, (i, ty, tx)) in corners.enumerate() {
        let at = |a: usize, b: usize| &x[((i * s + 2 * ty + a) * s + 2 * tx + b) * c..][..c];
        // Bᵀ·d: row i of the tile, column b, as a channel vector t_rows[(4i + b)·c..].
        for b in 0..4 {
            let (d0, d1, d2, d3) = (at(0, b), at(1, b), at(2, b), at(3, b));
            let mut out = t_rows.chunks_exact_mut(4 * c).map(|r| &mut r[b * c..][..c]);
            let (r0, r1, r2, r3) = (
                out.next().unwrap(),
                out.next().unwrap(),
                out.next().unwrap(),
                out.next().unwrap(),
            );
            wino_combine([r0, r1, r2, r3], [d0, d1, d2, d3]);
        }
        // (Bᵀ·d)·B: the same combination along the columns, into V[4i + j][t].
        for (i, row) in t_rows.chunks_exact(4 * c).enumerate() {
            let (e0, e1, e2, e3) = (&row[..c], &row[c..2 * c], &row[2 * c..3 * c], &row[3 * c..]);
            let [b0, b1, b2, b3] = &mut blocks[4 * i..4 * i + 4] else {
                unreachable!("16 blocks")
            };
            let v = [
                &mut b0[t * c..][..c],
                &mut b1[t * c..][..c],
                &mut b2[t * c..][..c],
                &mut b3[t * c..][..c],
            ];
            wino_combine(v, [e0, e1, e2, e3]);
        }
    }
}

/// One application of `Bᵀ` to four channel vectors, element by element:
/// `o = (d0 − d2, d1 + d2, d2 − d1, d1 − d3)` (the rows of the tile, then its columns).
fn wino_combine([o0, o1, o2, o3]: [&mut [f32]; 4], [d0, d1, d2, d3]: [&[f32]; 4]) {
    for (((((o0, o1), o2), o3), (&a0, &a1)), (&a2, &a3)) in o0
        .iter_mut()
        .zip(o1.iter_mut())
        .zip(o2.iter_mut())
        .zip(o3.iter_mut())
        .zip(d0.iter().zip(d1))
        .zip(d2.iter().zip(d3))
    {
        (*o0, *o1, *o2, *o3) = (a0 - a2, a1 + a2, a2 - a1, a1 - a3);
    }
}

/// Winograd's 16 products `M[ξ] = V[ξ]·U[ξ]` into `mo` (`[16, tiles, co]`), then each tile's
/// `Aᵀ·M·A` (`Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`: its 2×2 outputs, one pool window), pooled,
/// plus bias, ReLU, into `a` (`[tiles, co]`).
fn wino_products(
    u: &[f32],
    v: &[f32],
    mo: &mut [f32],
    a: &mut [f32],
    (c, co, tiles): (usize, usize, usize),
    b: &[f32],
) -> Result<(), InferError> {
    for (xi, out) in mo[..16 * tiles * co].chunks_exact_mut(tiles * co).enumerate() {
        let lhs = Mat::row_major(&v[xi * tiles * c..][..tiles * c], tiles, c)?;
        matmul(
            out,
            lhs,
            Mat::row_major(&u[xi * c * co..][..c * co], c, co)?,
            false,
            false,
        )?;
    }
    for (t, dst) in a[..tiles * co].chunks_exact_mut(co).enumerate() {
        let m: [&[f32]; 16] = core::array::from_fn(|xi| &mo[(xi * tiles + t) * co..][..co]);
        for (o, d) in dst.iter_mut().enumerate() {
            let at = |i: usize, j: usize| m[4 * i + j][o];
            let row = |j: usize| (at(0, j) + at(1, j) + at(2, j), at(1, j) - at(2, j) - at(3, j));
            let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
            let (y00, y01) = (r0.0 + r1.0 + r2.0, r1.0 - r2.0 - r3.0);
            let (y10, y11) = (r0.1 + r1.1 + r2.1, r1.1 - r2.1 - r3.1);
            let v = larger(larger(y00, y01), larger(y10, y11)) + b[o];
            *d = larger(v, 0.0);
        }
    }
    Ok(())
}

/// `a` = relu(2×2 max-pool of `z` + `b`): `z` a channels-last GEMM output of `rows` rows (every
/// image's, one after the other, each an even number) of `cs` positions, `a` its
/// `rows/2`×`cs/2` pooled windows.
fn pool_relu(z: &[f32], a: &mut [f32], rows: usize, cs: usize, b: &[f32]) {
    let (ps, co) = (cs / 2, b.len());
    let windows = (0..rows / 2).flat_map(|py| (0..ps).map(move |px| (py, px)));
    for ((py, px), dst) in windows.zip(a.chunks_exact_mut(co)) {
        let at = |dy: usize, dx: usize| {
            let r = ((2 * py + dy) * cs + 2 * px + dx) * co;
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

/// Multiply-accumulates per image from which a convolution is shared with the helper at batch
/// 1: the seed CNN's conv2 (1.8 M) is; conv1 (0.2 M) and conv3 (0.3 M) are not, their halves
/// would not pay for the hand-over.
const SPLIT_MACS: usize = 1 << 20;

/// How long the helper spins for the next job before it sleeps (then the first batch after a
/// pause runs on the caller's thread alone, and wakes the helper for the next).
pub const SPIN: Duration = Duration::from_micros(500);

/// The helper's share of one split convolution, as the caller hands it over.
#[derive(Default)]
struct Job {
    /// Layer index.
    layer: usize,
    /// The layer's input (one image), copied.
    x: Vec<f32>,
    /// The output rows to compute.
    rows: Range<usize>,
}

/// What the caller's thread and the helper share. Jobs are numbered from 1: `posted` is the
/// last one handed over; whoever raises `claimed` to `n` (`fetch_max`: a job a caller left
/// unclaimed, on an error, does not block the next) computes job `n` — the helper, or the
/// caller when the helper has not taken it by the time the caller's own share is done; the
/// helper sets `finished` to `n` when its result is in `result`.
struct Shared {
    layers: Arc<[Layer]>,
    posted: AtomicU64,
    claimed: AtomicU64,
    finished: AtomicU64,
    /// Jobs the helper computed.
    done: AtomicU64,
    job: Mutex<Job>,
    result: Mutex<Vec<f32>>,
    /// The helper's last job failed (the caller then computes it, and meets the error itself).
    failed: AtomicBool,
    /// The helper is about to sleep or sleeping: a new job must wake it.
    sleeping: AtomicBool,
    /// The helper has stopped (dropped, or its thread ended): nothing to wait for.
    gone: AtomicBool,
    stop: AtomicBool,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The caller's end of the helper thread.
struct Pair {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Held while a batch of one uses the helper: a second caller at the same time runs alone.
    user: Mutex<()>,
}

impl Pair {
    fn start(layers: &Arc<[Layer]>) -> Option<Pair> {
        let shared = Arc::new(Shared {
            layers: layers.clone(),
            posted: AtomicU64::new(0),
            claimed: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            done: AtomicU64::new(0),
            job: Mutex::new(Job::default()),
            result: Mutex::new(Vec::new()),
            failed: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fastconv-infer".into())
            .spawn(move || helper(&theirs))
            .ok()?;
        Some(Pair {
            shared,
            thread: Some(thread),
            user: Mutex::new(()),
        })
    }

    /// Hands job (`layer`, `rows` of one image `x`) over; returns its number.
    fn post(&self, layer: usize, x: &[f32], rows: Range<usize>) -> u64 {
        let sh = &*self.shared;
        {
            let mut job = locked(&sh.job);
            job.layer = layer;
            job.x.clear();
            job.x.extend_from_slice(x);
            job.rows = rows;
        }
        let n = sh.posted.fetch_add(1, Ordering::SeqCst) + 1;
        if sh.sleeping.load(Ordering::SeqCst)
            && let Some(t) = &self.thread
        {
            t.thread().unpark();
        }
        n
    }

    /// The job handed over (for the caller to compute it itself).
    fn job(&self) -> MutexGuard<'_, Job> {
        locked(&self.shared.job)
    }

    /// Job `n`'s result into `dst`: true when the helper computed it; false when the caller
    /// must (the helper had not taken it — unless `wait` — failed, or is gone).
    fn collect(&self, n: u64, dst: &mut [f32], wait: bool) -> bool {
        let sh = &*self.shared;
        if !wait && sh.claimed.fetch_max(n, Ordering::AcqRel) < n {
            return false;
        }
        let mut spins = 0u32;
        while sh.finished.load(Ordering::Acquire) != n {
            if sh.gone.load(Ordering::Acquire) {
                return false;
            }
            // Spinning while the helper computes (microseconds); yielding once that is long,
            // so a helper waiting for this core (one core, a loaded machine) gets it.
            spins = spins.saturating_add(1);
            if spins > 4096 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        if sh.failed.swap(false, Ordering::AcqRel) {
            return false;
        }
        let result = locked(&sh.result);
        if result.len() != dst.len() {
            return false;
        }
        dst.copy_from_slice(&result);
        true
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// Marks the helper gone when its thread ends, by return or by panic.
struct Gone<'a>(&'a Shared);

impl Drop for Gone<'_> {
    fn drop(&mut self) {
        self.0.gone.store(true, Ordering::Release);
    }
}

/// The helper thread: waits for a job (spinning for [`SPIN`], then asleep), claims it unless the
/// caller already did, computes it in its own scratch and publishes the result.
fn helper(sh: &Shared) {
    let _gone = Gone(sh);
    let layers = &sh.layers;
    let mut seen = 0;
    while let Some(n) = next_job(sh, seen) {
        seen = n;
        if sh.claimed.fetch_max(n, Ordering::AcqRel) >= n {
            continue;
        }
        let ok = SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let Scratch { cols, out, act } = &mut *guard;
            let job = locked(&sh.job);
            let Some(layer) = layers.get(job.layer) else {
                return false;
            };
            let &Layer::Conv {
                computed: cs,
                c_out: co,
                pool,
                ..
            } = layer
            else {
                return false;
            };
            let (out_len, cols_len) = layer.scratch();
            let cols = grow(cols, cols_len);
            let z = grow(out, out_len);
            let a = grow(act, out_len);
            im2col_band(layer, &job.x, cols, 1, job.rows.clone());
            if gemm_epilogue(layer, cols, z, a, 1, job.rows.clone()).is_err() {
                return false;
            }
            let values = job.rows.len() * cs * co;
            let done: &[f32] = if pool { &a[..values / 4] } else { &z[..values] };
            let mut result = locked(&sh.result);
            result.clear();
            result.extend_from_slice(done);
            true
        });
        sh.failed.store(!ok, Ordering::Release);
        sh.done.fetch_add(1, Ordering::Relaxed);
        sh.finished.store(n, Ordering::Release);
    }
}

/// The next job after `seen`, or None when the helper is to stop.
fn next_job(sh: &Shared, seen: u64) -> Option<u64> {
    let mut since = Instant::now();
    let mut spins = 0u32;
    loop {
        if sh.stop.load(Ordering::Acquire) {
            return None;
        }
        let n = sh.posted.load(Ordering::Acquire);
        if n != seen {
            return Some(n);
        }
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(64) && since.elapsed() > SPIN {
            sh.sleeping.store(true, Ordering::SeqCst);
            if sh.posted.load(Ordering::SeqCst) == seen && !sh.stop.load(Ordering::SeqCst) {
                std::thread::park();
            }
            sh.sleeping.store(false, Ordering::SeqCst);
            since = Instant::now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// The helper of one [`Network`], started at its first batch of one image (a clone starts its
/// own).
#[derive(Default)]
struct PairSlot(OnceLock<Option<Pair>>);

impl PairSlot {
    /// The helper, started if it was not; None when no thread could be started, or another
    /// caller is using it right now.
    fn get(&self, layers: &Arc<[Layer]>) -> Option<PairUse<'_>> {
        let pair = self.0.get_or_init(|| Pair::start(layers)).as_ref()?;
        let held = pair.user.try_lock().ok()?;
        Some(PairUse { pair, _held: held })
    }
}

impl PairSlot {
    fn jobs(&self) -> u64 {
        match self.0.get() {
            Some(Some(pair)) => pair.shared.done.load(Ordering::Relaxed),
            _ => 0,
        }
    }
}

impl Clone for PairSlot {
    fn clone(&self) -> Self {
        PairSlot::default()
    }
}

impl fmt::Debug for PairSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let started = matches!(self.0.get(), Some(Some(_)));
        write!(f, "PairSlot {{ started: {started} }}")
    }
}

/// The helper, held by one caller for one batch.
struct PairUse<'a> {
    pair: &'a Pair,
    _held: MutexGuard<'a, ()>,
}

impl std::ops::Deref for PairUse<'_> {
    type Target = Pair;
    fn deref(&self) -> &Pair {
        self.pair
    }
}

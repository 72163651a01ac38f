//! The convolution block `y = relu(conv(x, w) + b)` (k×k kernel, stride 1, no padding, one
//! group), optionally followed by a 2×2, stride-2 max-pool, and its derivatives, on plain
//! row-major slices, generic over `f32` and `f64`.
//!
//! Everything is lowered to three GEMMs (forward, weight gradient, input gradient) — over the
//! whole batch for small outputs, image by image for outputs of ≥ 64 pixels (see
//! [`Geometry::per_image`]) — with `p = ho·wo` output pixels per image and `kk = c·k·k` taps
//! (written here for the batch; the per-image path is the same with n = 1):
//!
//! ```text
//! forward   cols[kk, n·p] = im2col(x)            z[o, n·p] = W[o, kk] · cols
//!           y[n, o, p]    = relu(z[o, n·p] + b[o])
//!   pooled: y[n, o, py, px] = relu(max of z + b over the 2×2 window), switch = which of the 4
//! backward  dz[o, n·p]    = dy · relu′   (1 where the output is positive; pooled: only at the
//!                                          window's switch, 0 elsewhere)
//!           db[o]         = Σ_{n·p} dz[o, ·]
//!           dW[o, kk]     = (cols · dzᵀ)ᵀ                     (cols rebuilt from x)
//!           dcols[kk, n·p]= Wᵀ · dz ;  dx = col2im(dcols)    (only when x needs a gradient)
//! ```
//!
//! relu(max(a, b, c, d)) = max(relu(a), …, relu(d)) (ReLU is monotonic), so the pooled block is
//! exactly `max_pool2d(relu(conv(x)))`, and its gradient reaches the one input that produced a
//! positive maximum, as burn's `relu_backward(max_pool2d_backward(·))` does (the two differ only
//! where two positive values in a window are exactly equal).
//!
//! The im2col/col2im loops copy or add whole output rows (`wo` contiguous elements) and run over
//! rayon's threads; the GEMMs are `gemm`'s packed kernels on the same threads. Temporaries
//! (cols, z, dz, dcols) come from a small pool of reused buffers ([`Scratch`]): fresh
//! multi-megabyte allocations cost a page fault per 4 KiB on every step.

use std::sync::Mutex;

use rayon::prelude::*;

/// The float types the kernels run on (`f32` for training, `f64` for the finite-difference
/// tests).
pub trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + core::fmt::Debug
    + core::ops::Add<Output = Self>
    + core::ops::AddAssign
    + core::ops::Mul<Output = Self>
    + core::iter::Sum
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    /// The larger of two values (branch-free; a NaN loses).
    fn max(self, other: Self) -> Self;
    /// The pool of reusable buffers of this type.
    fn pool() -> &'static Mutex<Vec<Vec<Self>>>;
}

macro_rules! real {
    ($t:ty) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            fn pool() -> &'static Mutex<Vec<Vec<Self>>> {
                static POOL: Mutex<Vec<Vec<$t>>> = Mutex::new(Vec::new());
                &POOL
            }
        }
    };
}

real!(f32);
real!(f64);

/// A temporary buffer taken from [`Real::pool`] and given back when dropped. Its contents are
/// whatever the last user left ([`Scratch::zeroed`] clears them): only for buffers that are
/// overwritten in full.
pub struct Scratch<T: Real> {
    /// Fully initialised up to its length, which only grows: a buffer reused for a smaller
    /// request keeps its tail, so handing it out again costs no fill.
    buf: Vec<T>,
    len: usize,
}

/// Buffers kept for reuse, per float type (a step needs at most four at once).
const POOL_SIZE: usize = 8;

impl<T: Real> Scratch<T> {
    /// A buffer of `len` elements with unspecified (but initialised) contents.
    pub fn take(len: usize) -> Self {
        let reused = {
            let mut pool = T::pool().lock().unwrap_or_else(|e| e.into_inner());
            // The smallest buffer that is large enough, so big ones stay for big requests.
            let best = (0..pool.len())
                .filter(|&i| pool[i].len() >= len)
                .min_by_key(|&i| pool[i].len());
            best.map(|i| pool.swap_remove(i))
        };
        let mut buf = reused.unwrap_or_default();
        if buf.len() < len {
            buf.resize(len, T::ZERO);
        }
        Scratch { buf, len }
    }

    /// A buffer of `len` zeros.
    pub fn zeroed(len: usize) -> Self {
        let mut s = Self::take(len);
        s.fill(T::ZERO);
        s
    }
}

impl<T: Real> core::ops::Deref for Scratch<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.buf[..self.len]
    }
}

impl<T: Real> core::ops::DerefMut for Scratch<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.buf[..self.len]
    }
}

impl<T: Real> Drop for Scratch<T> {
    fn drop(&mut self) {
        let v = core::mem::take(&mut self.buf);
        let mut pool = T::pool().lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_SIZE {
            pool.push(v);
        } else if let Some(smallest) = (0..pool.len()).min_by_key(|&i| pool[i].len())
            && pool[smallest].len() < v.len()
        {
            pool[smallest] = v;
        }
    }
}

/// The sizes of one convolution: input `[n, c, h, w]`, kernel `[o, c, k, k]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub k: usize,
}

impl Geometry {
    /// The geometry of `x` `[n, c, h, w]` convolved with `weight` `[o, c, k, k]`.
    ///
    /// # Panics
    /// If the channel counts differ, the kernel is not square, or it is larger than the image.
    pub fn new(x: [usize; 4], weight: [usize; 4]) -> Self {
        let [n, c, h, w] = x;
        let [o, wc, k, k2] = weight;
        assert_eq!(c, wc, "conv: input has {c} channels, the kernel {wc}");
        assert_eq!(k, k2, "conv: kernel {k}×{k2} is not square");
        assert!(
            k >= 1 && k <= h && k <= w,
            "conv: kernel {k}×{k} does not fit a {h}×{w} image"
        );
        Geometry { n, c, h, w, o, k }
    }
    /// Output height.
    pub fn ho(&self) -> usize {
        self.h - self.k + 1
    }
    /// Output width.
    pub fn wo(&self) -> usize {
        self.w - self.k + 1
    }
    /// Output pixels per image.
    pub fn p(&self) -> usize {
        self.ho() * self.wo()
    }
    /// Kernel taps per output channel (`c·k·k`).
    pub fn kk(&self) -> usize {
        self.c * self.k * self.k
    }
    /// Output shape `[n, o, ho, wo]`, or `[n, o, ho/2, wo/2]` pooled (a trailing odd row or
    /// column is dropped, as `max_pool2d` with kernel 2, stride 2 does).
    pub fn output_shape(&self, pool: bool) -> [usize; 4] {
        if pool {
            [self.n, self.o, self.ho() / 2, self.wo() / 2]
        } else {
            [self.n, self.o, self.ho(), self.wo()]
        }
    }
    /// Elements of the output.
    pub fn output_len(&self, pool: bool) -> usize {
        self.output_shape(pool).iter().product()
    }
    fn check(&self, what: &str, len: usize, expected: usize) {
        assert_eq!(
            len, expected,
            "conv {what}: {len} elements, expected {expected} for {self:?}"
        );
    }
}

/// `f(i, row i)` over the `row`-element rows of `data`: on rayon's threads for a batch, in
/// this thread for one image (the per-image paths already run one image per thread).
fn for_rows<T: Send>(g: &Geometry, data: &mut [T], row: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if g.n > 1 {
        data.par_chunks_mut(row).enumerate().for_each(|(i, r)| f(i, r));
    } else {
        data.chunks_mut(row).enumerate().for_each(|(i, r)| f(i, r));
    }
}

/// `cols[kk, n·p]`: row `(ci, ky, kx)`, column `(img, oy, ox)` holds `x[img, ci, oy+ky, ox+kx]`.
pub fn im2col<T: Real>(g: &Geometry, x: &[T]) -> Scratch<T> {
    g.check("input", x.len(), g.n * g.c * g.h * g.w);
    let (np, p, ho, wo, k) = (g.n * g.p(), g.p(), g.ho(), g.wo(), g.k);
    // Every element is written below.
    let mut cols = Scratch::take(g.kk() * np);
    for_rows(g, &mut cols, np, |row, dst| {
        let (ci, ky, kx) = (row / (k * k), (row / k) % k, row % k);
        for img in 0..g.n {
            let plane = &x[(img * g.c + ci) * g.h * g.w..][..g.h * g.w];
            let out = &mut dst[img * p..][..p];
            // Element loops, not `copy_from_slice`: rows are 3–26 elements here, too short for
            // a `memcpy` call to pay.
            strided_rows(out, &plane[ky * g.w + kx..], (ho, wo, g.w), true, |d, v| *d = v);
        }
    });
    cols
}

/// The adjoint of [`im2col`]: `dx[img, ci, oy+ky, ox+kx] += dcols[(ci, ky, kx), (img, oy, ox)]`.
pub fn col2im<T: Real>(g: &Geometry, dcols: &[T]) -> Vec<T> {
    let mut dx = vec![T::ZERO; g.n * g.c * g.h * g.w];
    col2im_add(g, dcols, &mut dx);
    dx
}

/// [`col2im`], adding into `dx` (`[n, c, h, w]`).
fn col2im_add<T: Real>(g: &Geometry, dcols: &[T], dx: &mut [T]) {
    let (np, p, ho, wo, k) = (g.n * g.p(), g.p(), g.ho(), g.wo(), g.k);
    g.check("column gradient", dcols.len(), g.kk() * np);
    g.check("input gradient", dx.len(), g.n * g.c * g.h * g.w);
    for_rows(g, dx, g.h * g.w, |plane_index, plane| {
        let (img, ci) = (plane_index / g.c, plane_index % g.c);
        for ky in 0..k {
            for kx in 0..k {
                let row = &dcols[(ci * k * k + ky * k + kx) * np + img * p..][..p];
                strided_rows(&mut plane[ky * g.w + kx..], row, (ho, wo, g.w), false, |d, s| *d += s);
            }
        }
    });
}

/// `f(d, s)` over `ho` rows of `wo` elements, pairing row `oy` of `a` with row `oy` of `b`:
/// `a`'s rows `wo` apart and `b`'s `stride` apart when `a_packed`, the other way round when not
/// (`f` gets `a`'s element first either way). Rows of 3 and 5 elements (the seed CNN's conv3 and
/// small test shapes) go through fixed-length copies the compiler unrolls; a loop per row of
/// 3 elements cost conv3's im2col and col2im most of their time.
#[inline(always)]
fn strided_rows<T: Copy>(
    a: &mut [T],
    b: &[T],
    (ho, wo, stride): (usize, usize, usize),
    a_packed: bool,
    f: impl Fn(&mut T, T) + Copy,
) {
    #[inline(always)]
    fn rows<T: Copy, const W: usize>(
        a: &mut [T],
        b: &[T],
        (ho, stride): (usize, usize),
        a_packed: bool,
        f: impl Fn(&mut T, T),
    ) {
        let (sa, sb) = if a_packed { (W, stride) } else { (stride, W) };
        for oy in 0..ho {
            let d: &mut [T; W] = (&mut a[oy * sa..][..W]).try_into().expect("W elements");
            let s: &[T; W] = b[oy * sb..][..W].try_into().expect("W elements");
            for (d, &s) in d.iter_mut().zip(s) {
                f(d, s);
            }
        }
    }
    match wo {
        3 => rows::<T, 3>(a, b, (ho, stride), a_packed, f),
        5 => rows::<T, 5>(a, b, (ho, stride), a_packed, f),
        _ => {
            let (sa, sb) = if a_packed { (wo, stride) } else { (stride, wo) };
            for oy in 0..ho {
                for (d, &s) in a[oy * sa..][..wo].iter_mut().zip(&b[oy * sb..][..wo]) {
                    f(d, s);
                }
            }
        }
    }
}

/// Outputs of at least this many pixels per image are computed image by image (each thread
/// one image at a time, its im2col matrix and GEMM outputs staying in cache: conv2's are
/// 139 KiB and 31 KiB); smaller ones (conv3's 3×3) batched, where one GEMM over all images
/// keeps the matrix wide enough for gemm's kernels.
const PER_IMAGE_MIN_PIXELS: usize = 64;

/// The image-by-image backward sums dW and db in this many fixed groups of images (enough to
/// keep a few threads busy; fixed so that results do not depend on the thread count).
const GRADIENT_GROUPS: usize = 8;

impl Geometry {
    /// Whether [`forward`], [`forward_pooled`] and [`backward`] go image by image.
    pub fn per_image(&self) -> bool {
        self.n > 1 && self.p() >= PER_IMAGE_MIN_PIXELS
    }
    /// The same geometry for one image.
    fn one(&self) -> Geometry {
        Geometry { n: 1, ..*self }
    }
}

/// The slices a kernel hands to the GEMM were sized from its [`Geometry`] (and the caller's
/// slices checked against it with `Geometry::check`), so a refused view or product is a bug in
/// this module, not a user's input.
const GEOMETRY_CHECKED: &str = "fastconv: a GEMM operand does not match the checked geometry";

/// A row-major view of a slice sized from the geometry (see [`GEOMETRY_CHECKED`]).
fn view<T>(data: &[T], rows: usize, cols: usize) -> crate::gemm::Mat<'_, T> {
    crate::gemm::Mat::row_major(data, rows, cols).expect(GEOMETRY_CHECKED)
}

/// `z[o, n·p] = W · im2col(x)` (without the bias); `parallel`: the GEMM may use rayon's threads
/// (not from inside a per-image task, which already has its thread).
fn preactivations<T: Real>(g: &Geometry, x: &[T], weight: &[T], parallel: bool) -> Scratch<T> {
    g.check("weight", weight.len(), g.o * g.kk());
    let np = g.n * g.p();
    let cols = im2col(g, x); // [kk, n·p]
    let mut z = Scratch::take(g.o * np); // [o, n·p], overwritten by the GEMM
    crate::gemm::matmul(
        &mut z,
        view(weight, g.o, g.kk()),
        view(&cols, g.kk(), np),
        false,
        parallel,
    )
    .expect(GEOMETRY_CHECKED);
    z
}

/// `y = relu(conv(x, w) + b)`.
///
/// # Shapes
/// - `x`: `[n, c, h, w]`, `weight`: `[o, c, k, k]`, `bias`: `[o]`
/// - returns: `[n, o, h − k + 1, w − k + 1]`
pub fn forward<T: Real>(g: &Geometry, x: &[T], weight: &[T], bias: &[T]) -> Vec<T> {
    g.check("input", x.len(), g.n * g.c * g.h * g.w);
    g.check("bias", bias.len(), g.o);
    let mut y = vec![T::ZERO; g.output_len(false)]; // [n, o, p]
    if g.per_image() {
        let (one, in_len) = (g.one(), g.c * g.h * g.w);
        y.par_chunks_mut(one.output_len(false))
            .zip(x.par_chunks(in_len))
            .for_each(|(y, x)| relu_epilogue(&one, &preactivations(&one, x, weight, false), bias, y));
    } else {
        relu_epilogue(g, &preactivations(g, x, weight, true), bias, &mut y);
    }
    y
}

/// `y[n, o, p] = relu(z[o, n·p] + b[o])`.
fn relu_epilogue<T: Real>(g: &Geometry, z: &[T], bias: &[T], y: &mut [T]) {
    let (np, p) = (g.n * g.p(), g.p());
    for_rows(g, y, p, |plane_index, out| {
        let (img, oc) = (plane_index / g.o, plane_index % g.o);
        let b = bias[oc];
        for (d, &v) in out.iter_mut().zip(&z[oc * np + img * p..][..p]) {
            let s = v + b;
            *d = if s > T::ZERO { s } else { T::ZERO };
        }
    });
}

/// `y = max_pool2d(relu(conv(x, w) + b))` with a 2×2 window and stride 2, and for each output
/// its switch: which of the window's four inputs (0: top left, 1: top right, 2: bottom left,
/// 3: bottom right) holds the maximum (the first, in that order, among equals).
///
/// # Shapes
/// - `x`: `[n, c, h, w]`, `weight`: `[o, c, k, k]`, `bias`: `[o]`
/// - returns: `[n, o, (h − k + 1)/2, (w − k + 1)/2]` twice (outputs, switches)
pub fn forward_pooled<T: Real>(g: &Geometry, x: &[T], weight: &[T], bias: &[T]) -> (Vec<T>, Vec<u8>) {
    g.check("input", x.len(), g.n * g.c * g.h * g.w);
    g.check("bias", bias.len(), g.o);
    assert!(
        g.ho() >= 2 && g.wo() >= 2,
        "conv: a {}×{} output cannot be 2×2-pooled",
        g.ho(),
        g.wo()
    );
    let mut y = vec![T::ZERO; g.output_len(true)];
    let mut switches = vec![0u8; y.len()];
    if g.per_image() {
        let (one, in_len, out_len) = (g.one(), g.c * g.h * g.w, g.one().output_len(true));
        y.par_chunks_mut(out_len)
            .zip(switches.par_chunks_mut(out_len))
            .zip(x.par_chunks(in_len))
            .for_each(|((y, sw), x)| pool_epilogue(&one, &preactivations(&one, x, weight, false), bias, y, sw));
    } else {
        pool_epilogue(g, &preactivations(g, x, weight, true), bias, &mut y, &mut switches);
    }
    (y, switches)
}

/// `y[n, o, py, px] = relu(max of z[o, n·p] + b[o] over the window)` and the switches.
fn pool_epilogue<T: Real>(g: &Geometry, z: &[T], bias: &[T], y: &mut [T], switches: &mut [u8]) {
    let (np, p, wo) = (g.n * g.p(), g.p(), g.wo());
    let (hp, wp) = (g.ho() / 2, g.wo() / 2);
    let plane_len = hp * wp;
    let fill = |plane_index: usize, out: &mut [T], sw: &mut [u8]| {
        let (img, oc) = (plane_index / g.o, plane_index % g.o);
        let plane = &z[oc * np + img * p..][..p];
        let bias = bias[oc];
        let rows = out.chunks_exact_mut(wp).zip(sw.chunks_exact_mut(wp));
        for (py, (out, sw)) in rows.enumerate().take(hp) {
            let (top, bottom) = (&plane[2 * py * wo..][..2 * wp], &plane[(2 * py + 1) * wo..][..2 * wp]);
            // Branch-free: on real data the winner of a window is unpredictable, and a branch
            // per comparison cost conv1 ~0.6 ms per batch of 32 in mispredictions. Slices of
            // exactly the window row, so the loop has no bounds checks and vectorises.
            let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
            for ((t, b), (o, s)) in windows.zip(out.iter_mut().zip(sw.iter_mut())) {
                let (a, b, c, d) = (t[0], t[1], b[0], b[1]);
                let m = a.max(b).max(c.max(d));
                // The first of a, b, c, d equal to the maximum: 0, 1, 2 or 3.
                let first = (a != m) as u8 * (1 + (b != m) as u8 * (1 + (c != m) as u8));
                *o = (m + bias).max(T::ZERO);
                *s = first;
            }
        }
    };
    if g.n > 1 {
        y.par_chunks_mut(plane_len)
            .zip(switches.par_chunks_mut(plane_len))
            .enumerate()
            .for_each(|(i, (out, sw))| fill(i, out, sw));
    } else {
        y.chunks_mut(plane_len)
            .zip(switches.chunks_mut(plane_len))
            .enumerate()
            .for_each(|(i, (out, sw))| fill(i, out, sw));
    }
}

/// The gradients of a loss with respect to `x`, `weight` and `bias`, given the output `y` of
/// [`forward`] (`switches: None`) or of [`forward_pooled`] (its switches) and the loss gradient
/// `dy` with respect to it. `dx` is computed only when `input_grad` is set (a network's first
/// layer needs none).
///
/// # Shapes
/// - `x`: `[n, c, h, w]`, `weight`: `[o, c, k, k]`, `y`, `dy`, `switches`: the output's shape
/// - returns `(dx [n, c, h, w], dweight [o, c, k, k], dbias [o])`
pub fn backward<T: Real>(
    g: &Geometry,
    x: &[T],
    weight: &[T],
    y: &[T],
    switches: Option<&[u8]>,
    dy: &[T],
    input_grad: bool,
) -> (Option<Vec<T>>, Vec<T>, Vec<T>) {
    let (kk, o, in_len) = (g.kk(), g.o, g.c * g.h * g.w);
    let out_len = g.output_len(switches.is_some());
    g.check("weight", weight.len(), o * kk);
    g.check("input", x.len(), g.n * in_len);
    g.check("output", y.len(), out_len);
    g.check("output gradient", dy.len(), out_len);
    let zero = || (vec![T::ZERO; kk * o], vec![T::ZERO; o]);
    let mut dx = vec![T::ZERO; if input_grad { g.n * in_len } else { 0 }];
    let (dweight_t, dbias) = if !g.per_image() {
        let mut acc = zero();
        backward_into(
            g,
            x,
            weight,
            y,
            switches,
            dy,
            input_grad.then_some(&mut dx[..]),
            &mut acc,
            true,
        );
        acc
    } else {
        // Image by image: each rayon task takes a fixed group of consecutive images, one at a
        // time, so every intermediate stays in cache. Each group sums in image order and the
        // groups' sums are added in group order: the result does not depend on how rayon
        // schedules the work (a `fold`/`reduce` would make training runs differ in the last
        // bits, and then in their trajectories), nor on the number of threads.
        let (one, img_out) = (g.one(), out_len / g.n);
        let group = g.n.div_ceil(GRADIENT_GROUPS);
        let mut dx_groups: Vec<Option<&mut [T]>> = if input_grad {
            dx.chunks_mut(group * in_len).map(Some).collect()
        } else {
            (0..g.n.div_ceil(group)).map(|_| None).collect()
        };
        let partial: Vec<Grads<T>> = dx_groups
            .par_iter_mut()
            .enumerate()
            .map(|(gi, dx)| {
                let mut acc = zero();
                for img in gi * group..((gi + 1) * group).min(g.n) {
                    let out = img * img_out..(img + 1) * img_out;
                    let dx = dx
                        .as_deref_mut()
                        .map(|d| &mut d[(img - gi * group) * in_len..][..in_len]);
                    let (x, switches) = (&x[img * in_len..][..in_len], switches.map(|s| &s[out.clone()]));
                    backward_into(
                        &one,
                        x,
                        weight,
                        &y[out.clone()],
                        switches,
                        &dy[out],
                        dx,
                        &mut acc,
                        false,
                    );
                }
                acc
            })
            .collect();
        let mut acc = zero();
        for (w, b) in partial {
            acc.0.iter_mut().zip(w).for_each(|(s, v)| *s += v);
            acc.1.iter_mut().zip(b).for_each(|(s, v)| *s += v);
        }
        acc
    };
    // dW[oc][r] = dWᵀ[r][oc], row by row (no division per element).
    let mut dweight = vec![T::ZERO; o * kk];
    for (r, row) in dweight_t.chunks_exact(o).enumerate() {
        for (oc, &v) in row.iter().enumerate() {
            dweight[oc * kk + r] = v;
        }
    }
    (input_grad.then_some(dx), dweight, dbias)
}

/// Running sums of the weight and bias gradients: (dWᵀ `[kk, o]`, db `[o]`).
type Grads<T> = (Vec<T>, Vec<T>);

/// One backward pass over the images of `g` — a whole batch, or one image inside a per-image
/// task — adding its dWᵀ and db into `acc` and writing its dx into `dx` (zeroed, `[n, c, h, w]`)
/// when given; `parallel`: the GEMMs may use rayon's threads.
///
/// dWᵀ = cols · dzᵀ rather than dW = dz · colsᵀ: with both operands contiguous along the long
/// n·p axis, gemm's AVX-512 path is ~2× faster in this orientation (measured, conv2 at batch 32:
/// 156 vs 78 GFLOP/s); the caller transposes the o·kk sums once.
#[allow(clippy::too_many_arguments)]
fn backward_into<T: Real>(
    g: &Geometry,
    x: &[T],
    weight: &[T],
    y: &[T],
    switches: Option<&[u8]>,
    dy: &[T],
    dx: Option<&mut [T]>,
    acc: &mut Grads<T>,
    parallel: bool,
) {
    let (np, kk, o) = (g.n * g.p(), g.kk(), g.o);
    let dz = pre_activation_grad(g, y, switches, dy); // [o, n·p]
    add_channel_sums(&dz, np, &mut acc.1);
    let dz_mat = view(&dz, o, np);
    let cols = im2col(g, x); // [kk, n·p]
    crate::gemm::matmul(&mut acc.0, view(&cols, kk, np), dz_mat.t(), true, parallel).expect(GEOMETRY_CHECKED);
    drop(cols);
    if let Some(dx) = dx {
        let mut dcols = Scratch::take(kk * np); // overwritten by the GEMM
        crate::gemm::matmul(&mut dcols, view(weight, o, kk).t(), dz_mat, false, parallel).expect(GEOMETRY_CHECKED);
        col2im_add(g, &dcols, dx);
    }
}

/// `db[oc] += Σ dz[oc, ·]` for each channel of `dz` (`[o, np]`): each channel's sum taken in
/// order as `iter().sum()` takes it, for eight channels at once (eight independent chains of
/// adds instead of one long one: the same sums, bit for bit, several times faster).
fn add_channel_sums<T: Real>(dz: &[T], np: usize, db: &mut [T]) {
    const LANES: usize = 8;
    // `Sum`'s own starting value, so each chain is exactly `iter().sum()`.
    let start: T = core::iter::empty::<T>().sum();
    let mut blocks = dz.chunks_exact(LANES * np);
    for (block, db) in blocks.by_ref().zip(db.chunks_exact_mut(LANES)) {
        let rows: [&[T]; LANES] = core::array::from_fn(|j| &block[j * np..][..np]);
        let mut sums = [start; LANES];
        for p in 0..np {
            for (s, row) in sums.iter_mut().zip(&rows) {
                *s += row[p];
            }
        }
        for (d, s) in db.iter_mut().zip(sums) {
            *d += s;
        }
    }
    let done = dz.len() / np / LANES * LANES;
    for (row, d) in blocks.remainder().chunks_exact(np).zip(&mut db[done..]) {
        *d += row.iter().copied().sum();
    }
}

/// `dz[o, n·p] = dy ⊙ relu′` — the output is positive exactly where the pre-activation was;
/// pooled, each output's gradient goes to its window's switch and the rest of `dz` is zero.
fn pre_activation_grad<T: Real>(g: &Geometry, y: &[T], switches: Option<&[u8]>, dy: &[T]) -> Scratch<T> {
    let (np, p, wo) = (g.n * g.p(), g.p(), g.wo());
    let out_len = g.output_len(switches.is_some());
    g.check("output", y.len(), out_len);
    g.check("output gradient", dy.len(), out_len);
    match switches {
        None => {
            let mut dz = Scratch::take(g.o * np); // every element written
            for_rows(g, &mut dz, np, |oc, row| {
                for img in 0..g.n {
                    let at = (img * g.o + oc) * p;
                    for ((d, &yv), &gv) in row[img * p..][..p].iter_mut().zip(&y[at..][..p]).zip(&dy[at..][..p]) {
                        *d = if yv > T::ZERO { gv } else { T::ZERO };
                    }
                }
            });
            dz
        }
        Some(switches) => {
            g.check("switches", switches.len(), out_len);
            let (hp, wp) = (g.ho() / 2, g.wo() / 2);
            let mut dz = Scratch::zeroed(g.o * np);
            for_rows(g, &mut dz, np, |oc, row| {
                for img in 0..g.n {
                    let at = (img * g.o + oc) * hp * wp;
                    let plane = &mut row[img * p..][..p];
                    let outputs = (&y[at..][..hp * wp], &dy[at..][..hp * wp], &switches[at..][..hp * wp]);
                    let rows = outputs.0.chunks_exact(wp).zip(outputs.1.chunks_exact(wp));
                    for (py, ((y, dy), sw)) in rows.zip(outputs.2.chunks_exact(wp)).enumerate() {
                        // The window row pair, each window's switch an offset into it.
                        let pair = &mut plane[2 * py * wo..][..2 * wo];
                        for (px, ((&yv, &gv), &s)) in y.iter().zip(dy).zip(sw).enumerate() {
                            // Branch-free as in the forward pass: a zero written where the
                            // output was not positive leaves the zeroed plane as it was.
                            let s = s as usize;
                            pair[(s / 2) * wo + 2 * px + s % 2] = if yv > T::ZERO { gv } else { T::ZERO };
                        }
                    }
                }
            });
            dz
        }
    }
}

#[cfg(test)]
mod tests {
    use super::add_channel_sums;

    /// Eight chains at a time give each channel exactly its in-order `iter().sum()`: channel
    /// counts that are and are not a multiple of eight, sums with cancellation and zeros.
    #[test]
    fn channel_sums_are_the_in_order_sums_bit_for_bit() {
        for (o, np) in [(8, 121), (13, 676), (64, 9), (3, 5)] {
            let dz: Vec<f32> = (0..o * np)
                .map(|i| {
                    let v = ((i * 2654435761) % 2001) as f32 / 7.0 - 142.0;
                    if i % 17 == 0 {
                        -0.0
                    } else {
                        v * 1e-3f32.powi((i % 5) as i32)
                    }
                })
                .collect();
            let start: Vec<f32> = (0..o).map(|c| c as f32 * 0.37 - 1.0).collect();
            let mut got = start.clone();
            add_channel_sums(&dz, np, &mut got);
            let want: Vec<u32> = start
                .iter()
                .zip(dz.chunks_exact(np))
                .map(|(&s, row)| (s + row.iter().copied().sum::<f32>()).to_bits())
                .collect();
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want,
                "o {o}, np {np}"
            );
        }
    }
}

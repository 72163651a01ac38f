//! The slice kernels in f64: the forward pass against the definition of a convolution, the
//! hand-written backward against central finite differences, and col2im as im2col's adjoint.

use fastconv::kernels::{self, Geometry};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

fn random(len: usize, rng: &mut StdRng) -> Vec<f64> {
    (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// `relu(conv(x, w) + b)` straight from the definition.
fn naive(g: &Geometry, x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; g.n * g.o * g.p()];
    for n in 0..g.n {
        for o in 0..g.o {
            for oy in 0..g.ho() {
                for ox in 0..g.wo() {
                    let mut s = b[o];
                    for c in 0..g.c {
                        for ky in 0..g.k {
                            for kx in 0..g.k {
                                s += w[((o * g.c + c) * g.k + ky) * g.k + kx]
                                    * x[((n * g.c + c) * g.h + oy + ky) * g.w + ox + kx];
                            }
                        }
                    }
                    y[((n * g.o + o) * g.ho() + oy) * g.wo() + ox] = s.max(0.0);
                }
            }
        }
    }
    y
}

/// `max_pool2d(y)` (2×2, stride 2) straight from the definition.
fn naive_pool(g: &Geometry, y: &[f64]) -> Vec<f64> {
    let (ho, wo, hp, wp) = (g.ho(), g.wo(), g.ho() / 2, g.wo() / 2);
    let mut out = Vec::new();
    for plane in y.chunks(ho * wo) {
        for py in 0..hp {
            for px in 0..wp {
                let at = |dy: usize, dx: usize| plane[(2 * py + dy) * wo + 2 * px + dx];
                out.push(at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1)));
            }
        }
    }
    out
}

/// Geometries shaped like the seed CNN's layers (smaller), plus odd and 1×1 / 5×5 cases, on
/// both sides of the batched / image-by-image threshold.
fn geometries() -> Vec<Geometry> {
    vec![
        Geometry::new([2, 1, 8, 8], [4, 1, 3, 3]),
        Geometry::new([3, 4, 7, 7], [5, 4, 3, 3]),
        Geometry::new([2, 5, 5, 5], [3, 5, 3, 3]),
        Geometry::new([1, 2, 6, 9], [3, 2, 5, 5]),
        Geometry::new([2, 3, 4, 4], [2, 3, 1, 1]),
        // ≥ 64 output pixels: the image-by-image path (the others are batched).
        Geometry::new([3, 2, 12, 12], [3, 2, 3, 3]),
    ]
}

#[test]
fn forward_equals_the_definition() {
    let mut rng = StdRng::seed_from_u64(1);
    let gs = geometries();
    assert!(gs.iter().any(|g| g.per_image()) && gs.iter().any(|g| !g.per_image()));
    for g in gs {
        let (x, w, b) = (
            random(g.n * g.c * g.h * g.w, &mut rng),
            random(g.o * g.kk(), &mut rng),
            random(g.o, &mut rng),
        );
        let fast = kernels::forward(&g, &x, &w, &b);
        let slow = naive(&g, &x, &w, &b);
        let err = fast.iter().zip(&slow).fold(0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(err < 1e-12, "{g:?}: forward differs from the definition by {err:e}");
        if g.ho() >= 2 && g.wo() >= 2 {
            let (pooled, switches) = kernels::forward_pooled(&g, &x, &w, &b);
            let expected = naive_pool(&g, &slow);
            assert_eq!(pooled.len(), expected.len());
            let err = pooled
                .iter()
                .zip(&expected)
                .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                err < 1e-12,
                "{g:?}: pooled forward differs from the definition by {err:e}"
            );
            assert!(switches.iter().all(|&s| s < 4));
        }
    }
}

/// ⟨col2im(a), x⟩ = ⟨a, im2col(x)⟩ for random `a`, `x`: col2im is im2col's adjoint, which is what
/// makes dx = col2im(Wᵀ·dz) the input gradient.
#[test]
fn col2im_is_the_adjoint_of_im2col() {
    let mut rng = StdRng::seed_from_u64(2);
    for g in geometries() {
        let x = random(g.n * g.c * g.h * g.w, &mut rng);
        let a = random(g.kk() * g.n * g.p(), &mut rng);
        let lhs: f64 = kernels::col2im(&g, &a).iter().zip(&x).map(|(p, q)| p * q).sum();
        let rhs: f64 = a.iter().zip(kernels::im2col(&g, &x).iter()).map(|(p, q)| p * q).sum();
        assert!((lhs - rhs).abs() < 1e-10 * lhs.abs().max(1.0), "{g:?}: {lhs} vs {rhs}");
    }
}

/// Every entry of dx, dW and db against a central difference of L = Σ r ⊙ y (r random), step
/// 1e-6 in f64, for the plain and the pooled block. Tolerance 1e-6 (absolute, on entries of
/// size ~1): the truncation error is O(h²) ≈ 1e-12 and the rounding error ≈ 1e-16/1e-6 = 1e-10,
/// unless a step crosses a kink — inputs are redrawn until no pre-activation lies within 1e-4 of
/// zero and no two pre-activations in a pooling window lie within 1e-4 of each other.
#[test]
fn backward_equals_central_finite_differences() {
    let mut rng = StdRng::seed_from_u64(3);
    for g in geometries() {
        for pool in [false, true] {
            if pool && (g.ho() < 2 || g.wo() < 2) {
                continue;
            }
            check_fd(&g, pool, &mut rng);
        }
    }
}

fn check_fd(g: &Geometry, pool: bool, rng: &mut StdRng) {
    let run = |x: &[f64], w: &[f64], b: &[f64]| -> (Vec<f64>, Option<Vec<u8>>) {
        if pool {
            let (y, s) = kernels::forward_pooled(g, x, w, b);
            (y, Some(s))
        } else {
            (kernels::forward(g, x, w, b), None)
        }
    };
    let (x, w, b) = loop {
        let (x, w, b) = (
            random(g.n * g.c * g.h * g.w, rng),
            random(g.o * g.kk(), rng),
            random(g.o, rng),
        );
        // Pre-activations: the unpooled forward with the bias shifted far up, minus the shift.
        let shifted: Vec<f64> = b.iter().map(|v| v + 1e3).collect();
        let z: Vec<f64> = kernels::forward(g, &x, &w, &shifted).iter().map(|v| v - 1e3).collect();
        let clear_of_zero = z.iter().zip(0..).all(|(v, i)| (v + b[(i / g.p()) % g.o]).abs() > 1e-4);
        let clear_of_ties = !pool || {
            let (wo, hp, wp) = (g.wo(), g.ho() / 2, g.wo() / 2);
            z.chunks(g.p()).all(|plane| {
                (0..hp * wp).all(|i| {
                    let (py, px) = (i / wp, i % wp);
                    let mut v: Vec<f64> = [(0, 0), (0, 1), (1, 0), (1, 1)]
                        .iter()
                        .map(|(dy, dx)| plane[(2 * py + dy) * wo + 2 * px + dx])
                        .collect();
                    v.sort_by(f64::total_cmp);
                    v.windows(2).all(|p| p[1] - p[0] > 1e-4)
                })
            })
        };
        if clear_of_zero && clear_of_ties {
            break (x, w, b);
        }
    };
    let (y, switches) = run(&x, &w, &b);
    let r = random(y.len(), rng);
    let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 { run(x, w, b).0.iter().zip(&r).map(|(y, r)| y * r).sum() };
    let (dx, dw, db) = kernels::backward(g, &x, &w, &y, switches.as_deref(), &r, true);
    let dx = dx.expect("input gradient requested");
    // Each analytic entry against (L(θ + h) − L(θ − h)) / 2h, θ one entry of x, w or b.
    let h = 1e-6;
    let check = |what: &str, analytic: &[f64], loss_with: &dyn Fn(usize, f64) -> f64| {
        for (i, &a) in analytic.iter().enumerate() {
            let fd = (loss_with(i, h) - loss_with(i, -h)) / (2.0 * h);
            assert!((fd - a).abs() < 1e-6, "{g:?} pool {pool} {what}[{i}]: {a} vs {fd}");
        }
    };
    let bump = |v: &[f64], i: usize, d: f64| {
        let mut v = v.to_vec();
        v[i] += d;
        v
    };
    check("dx", &dx, &|i, d| loss(&bump(&x, i, d), &w, &b));
    check("dw", &dw, &|i, d| loss(&x, &bump(&w, i, d), &b));
    check("db", &db, &|i, d| loss(&x, &w, &bump(&b, i, d)));
    // Without the input gradient (the per-image path), the other two are the same up to the
    // order of the f64 sums.
    let (none, dw2, db2) = kernels::backward(g, &x, &w, &y, switches.as_deref(), &r, false);
    assert!(none.is_none());
    for (a, b) in dw.iter().zip(&dw2).chain(db.iter().zip(&db2)) {
        assert!((a - b).abs() < 1e-12, "{g:?} pool {pool}: per-image {b} vs batched {a}");
    }
}

#[test]
#[should_panic(expected = "input has 3 channels, the kernel 2")]
fn mismatched_channels_are_refused() {
    Geometry::new([1, 3, 8, 8], [4, 2, 3, 3]);
}

/// The same inputs give bit-identical gradients whatever the number of threads and however
/// rayon schedules the work (a training run must be reproducible from its seed): the
/// image-by-image and the batched backward at batch 32 in f32, as in training, on pools of 1 to
/// 4 threads, each called 5 times.
#[test]
fn backward_is_deterministic() {
    let mut rng = StdRng::seed_from_u64(4);
    for (xs, ws) in [([32, 4, 13, 13], [8, 4, 3, 3]), ([32, 8, 5, 5], [8, 8, 3, 3])] {
        let g = Geometry::new(xs, ws);
        let f32s =
            |len: usize, rng: &mut StdRng| -> Vec<f32> { random(len, rng).into_iter().map(|v| v as f32).collect() };
        let (x, w, b) = (
            f32s(g.n * g.c * g.h * g.w, &mut rng),
            f32s(g.o * g.kk(), &mut rng),
            f32s(g.o, &mut rng),
        );
        let (y, switches) = kernels::forward_pooled(&g, &x, &w, &b);
        let dy = f32s(y.len(), &mut rng);
        let first = kernels::backward(&g, &x, &w, &y, Some(&switches), &dy, true);
        for threads in 1..=4 {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            for _ in 0..5 {
                let again = pool.install(|| kernels::backward(&g, &x, &w, &y, Some(&switches), &dy, true));
                assert!(again == first, "{g:?}: {threads} threads gave different gradients");
            }
        }
    }
}

//! Where fastconv's inference forward ([`fastconv::infer`]) spends its time on the seed CNN:
//! the whole forward at a batch size, and each of its GEMMs alone at the shapes one group of
//! images gives them (one thread, as inside a group), with GFLOP/s (conv2's 16 Winograd
//! products together, and the im2col GEMM they replaced). Random weights and pixels
//! (the time does not depend on them).
//!
//!     cargo run -p fastconv --release --example infer_profile [batch ...]   (default 1 32 256)

mod timing;

use timing::median_ms;

use fastconv::gemm::{Mat, matmul};
use fastconv::infer::{LayerSpec, Network};

fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn main() {
    let batches: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let batches = if batches.is_empty() { vec![1, 32, 256] } else { batches };
    let (w1, w2, w3, f1, f2) = (
        values(32 * 9, 1),
        values(64 * 32 * 9, 2),
        values(64 * 64 * 9, 3),
        values(576 * 64, 4),
        values(64 * 10, 5),
    );
    let (b32, b64, b10) = (values(32, 6), values(64, 7), values(10, 8));
    let net = Network::new(
        28,
        1,
        &[
            LayerSpec::Conv {
                weight: &w1,
                bias: &b32,
                c_out: 32,
                k: 3,
                pool: true,
            },
            LayerSpec::Conv {
                weight: &w2,
                bias: &b64,
                c_out: 64,
                k: 3,
                pool: true,
            },
            LayerSpec::Conv {
                weight: &w3,
                bias: &b64,
                c_out: 64,
                k: 3,
                pool: false,
            },
            LayerSpec::Dense {
                weight: &f1,
                bias: &b64,
                d_out: 64,
                relu: true,
            },
            LayerSpec::Dense {
                weight: &f2,
                bias: &b10,
                d_out: 10,
                relu: false,
            },
        ],
    )
    .unwrap();
    println!("rayon threads {}; medians, ms", rayon::current_num_threads());
    for &n in &batches {
        let x: Vec<f32> = values(n * 784, 9).iter().map(|v| v.abs()).collect();
        let mut out = vec![0.0; n * 10];
        let ms = median_ms(200.min(20_000 / n).max(20), || net.forward_into(&x, &mut out).unwrap());
        println!("batch {n:>4}: forward {ms:.3} ms = {:.0} images/s", n as f64 / ms * 1e3);
    }
    // Each GEMM alone, one group of m images, one thread.
    for m in [1usize, 2, 4, 8] {
        let mut line = format!("GEMMs for {m} image(s), one thread:");
        // (name, rows, k, n, how many): conv2 runs as Winograd F(2×2, 3×3), 16 products of
        // its 25 tiles per image; its im2col GEMM (what it replaced) is shown beside it.
        for (name, rows, k, n, count) in [
            ("conv1", m * 676, 9, 32, 1),
            ("conv2 (Winograd, 16 GEMMs)", m * 25, 32, 64, 16),
            ("conv2 as one im2col GEMM", m * 100, 288, 64, 1),
            ("conv3", m * 9, 576, 64, 1),
            ("dense1", m, 576, 64, 1),
        ] {
            let (a, b) = (values(rows * k, 10), values(k * n, 11));
            let mut c = vec![0.0f32; rows * n];
            let ms = median_ms(200, || {
                for _ in 0..count {
                    matmul(
                        &mut c,
                        Mat::row_major(&a, rows, k).unwrap(),
                        Mat::row_major(&b, k, n).unwrap(),
                        false,
                        false,
                    )
                    .unwrap()
                }
            });
            let gflops = 2.0 * (count * rows * k * n) as f64 / ms / 1e6;
            line.push_str(&format!(" {name} {ms:.4} ({gflops:.0} GFLOP/s);"));
        }
        println!("{line}");
    }
}

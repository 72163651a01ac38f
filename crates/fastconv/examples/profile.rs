//! Times the fast kernels of each seed-CNN convolution block at one batch size — forward and
//! backward as the op runs them (image by image for conv1 and conv2, batched for conv3), and
//! the stages of the batched formulation (im2col, each GEMM over the whole batch, col2im) —
//! and the step's other flex operations alone, to show where a training step's time goes.
//!
//! `cargo build --release --workspace --examples && target/release/examples/profile [batch]`

mod timing;

use timing::median_ms;

use fastconv::gemm::{Mat, matmul};
use fastconv::kernels::{self, Geometry};

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(32);
    // (name, input shape, kernel shape, pooled) — the seed CNN's three convolution blocks.
    let layers = [
        ("conv1+pool", [n, 1, 28, 28], [32, 1, 3, 3], true),
        ("conv2+pool", [n, 32, 13, 13], [64, 32, 3, 3], true),
        ("conv3", [n, 64, 5, 5], [64, 64, 3, 3], false),
    ];
    println!(
        "batch {n}, rayon threads {}; medians of 50 calls, ms",
        rayon::current_num_threads()
    );
    let mut total = 0.0;
    for (name, xs, ws, pool) in layers {
        let g = Geometry::new(xs, ws);
        let x: Vec<f32> = (0..xs.iter().product::<usize>())
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.3)
            .collect();
        let w: Vec<f32> = (0..ws.iter().product::<usize>())
            .map(|i| ((i * 104729) % 1000) as f32 / 5000.0 - 0.1)
            .collect();
        let b = vec![0.01f32; g.o];
        let (y, switches) = if pool {
            let (y, s) = kernels::forward_pooled(&g, &x, &w, &b);
            (y, Some(s))
        } else {
            (kernels::forward(&g, &x, &w, &b), None)
        };
        let dy: Vec<f32> = (0..y.len()).map(|i| ((i * 31) % 17) as f32 / 17.0 - 0.5).collect();
        let np = n * g.p();
        let cols = kernels::im2col(&g, &x);
        let dz = vec![0.1f32; g.o * np];
        let dcols = vec![0.1f32; g.kk() * np];
        let w_mat = Mat::row_major(&w, g.o, g.kk()).expect("profile shapes");
        let cols_mat = Mat::row_major(&cols, g.kk(), np).expect("profile shapes");
        let dz_mat = Mat::row_major(&dz, g.o, np).expect("profile shapes");
        let t_im2col = median_ms(50, || drop(kernels::im2col(&g, &x)));
        let mut z = vec![0f32; g.o * np];
        let t_fwd_gemm = median_ms(50, || {
            matmul(&mut z, w_mat, cols_mat, false, true).expect("profile shapes");
        });
        let mut dwt = vec![0f32; g.kk() * g.o];
        let t_dw_gemm = median_ms(50, || {
            matmul(&mut dwt, cols_mat, dz_mat.t(), false, true).expect("profile shapes");
        });
        let mut dc = vec![0f32; g.kk() * np];
        let t_dx_gemm = median_ms(50, || {
            matmul(&mut dc, w_mat.t(), dz_mat, false, true).expect("profile shapes");
        });
        let t_col2im = median_ms(50, || drop(kernels::col2im(&g, &dcols)));
        let t_fwd = median_ms(50, || {
            if pool {
                drop(kernels::forward_pooled(&g, &x, &w, &b))
            } else {
                drop(kernels::forward(&g, &x, &w, &b))
            }
        });
        let first = name.starts_with("conv1");
        let t_bwd = median_ms(50, || {
            drop(kernels::backward(&g, &x, &w, &y, switches.as_deref(), &dy, !first))
        });
        let gflops = |t: f64| 2.0 * (g.o * g.kk() * np) as f64 / t / 1e6;
        println!(
            "{name:<10} {:<9} forward {t_fwd:.3} | backward {t_bwd:.3} || batched stages: im2col {t_im2col:.3}, GEMM {t_fwd_gemm:.3} = {:.0} GFLOP/s | dW GEMM {t_dw_gemm:.3} = {:.0} GFLOP/s{}",
            if g.per_image() { "per image" } else { "batched" },
            gflops(t_fwd_gemm),
            gflops(t_dw_gemm),
            if first {
                " (no dx: the image needs no gradient)".to_string()
            } else {
                format!(
                    ", dcols GEMM {t_dx_gemm:.3} = {:.0} GFLOP/s, col2im {t_col2im:.3}",
                    gflops(t_dx_gemm)
                )
            },
        );
        total += t_fwd + t_bwd;
    }
    println!(
        "three convolution blocks, forward + backward: {total:.3} ms ({:.0} images/s if nothing else ran)",
        n as f64 / total * 1e3
    );
    others::run(n);
}

/// The other operations of a seed-CNN training step on flex, each timed alone at batch `n`.
mod others {
    use super::median_ms;
    use burn::backend::Flex;
    use burn::backend::ops::{FloatTensorOps, ModuleOps};
    use burn::tensor::{IntDType, TensorData};
    use burn_flex::FlexTensor;

    fn t(shape: &[usize]) -> FlexTensor {
        let len: usize = shape.iter().product();
        let v: Vec<f32> = (0..len).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
        FlexTensor::from_data(TensorData::new(v, shape.to_vec()))
    }

    pub fn run(n: usize) {
        let mut total = 0.0;
        // Not part of the fast path's step (fused into conv_relu_pool); shown for the stock one.
        for (name, shape) in [("pool1", [n, 32, 26, 26]), ("pool2", [n, 64, 11, 11])] {
            let x = t(&shape);
            // kernel 2×2, stride 2, no padding, no dilation, floor mode: the seed CNN's pool.
            let pool =
                || Flex::max_pool2d_with_indices(x.clone(), [2, 2], [2, 2], [0, 0], [1, 1], false, IntDType::I64);
            let fwd = median_ms(50, || drop(pool()));
            let out = pool();
            let g = t(&[shape[0], shape[1], shape[2] / 2, shape[3] / 2]);
            let bwd = median_ms(50, || {
                let (k, st, pad, dil) = ([2, 2], [2, 2], [0, 0], [1, 1]);
                drop(Flex::max_pool2d_with_indices_backward(
                    x.clone(),
                    k,
                    st,
                    pad,
                    dil,
                    false,
                    g.clone(),
                    out.indices.clone(),
                ))
            });
            println!(
                "{name} (stock flex max_pool2d with indices, not in the fast step) {shape:?}: forward {fwd:.3}, backward {bwd:.3}"
            );
        }
        for (name, (m, k, o)) in [("dense1", (n, 576, 64)), ("dense2", (n, 64, 10))] {
            let (a, w, g) = (t(&[m, k]), t(&[k, o]), t(&[m, o]));
            let fwd = median_ms(50, || drop(Flex::float_matmul(a.clone(), w.clone())));
            let bwd = median_ms(50, || {
                drop(Flex::float_matmul(Flex::float_transpose(a.clone()), g.clone()));
                drop(Flex::float_matmul(g.clone(), Flex::float_transpose(w.clone())));
            });
            println!("{name} (flex matmul) [{m}, {k}]·[{k}, {o}]: forward {fwd:.3}, backward {bwd:.3}");
            total += fwd + bwd;
        }
        let p = t(&[93_322]);
        let adam = median_ms(50, || {
            // Adam's per-parameter work, roughly: two moment updates, a sqrt, a division, a step.
            let m = Flex::float_add(
                Flex::float_mul_scalar(p.clone(), 0.9.into()),
                Flex::float_mul_scalar(p.clone(), 0.1.into()),
            );
            let v = Flex::float_add(
                Flex::float_mul_scalar(p.clone(), 0.999.into()),
                Flex::float_mul(p.clone(), p.clone()),
            );
            let s = Flex::float_div(m, Flex::float_add_scalar(Flex::float_sqrt(v), 1e-7.into()));
            drop(Flex::float_sub(p.clone(), Flex::float_mul_scalar(s, 1e-3.into())));
        });
        println!("Adam-like update of 93,322 parameters (flex element-wise ops, one tensor): {adam:.3}");
        total += adam;
        println!("dense layers + Adam-like update: {total:.3} ms");
    }
}

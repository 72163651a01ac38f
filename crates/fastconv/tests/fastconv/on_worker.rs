//! `fastconv::on_worker`: a fast-path forward and backward run on one of rayon's threads gives
//! the same outputs and gradients, bit for bit, as the same step run from the calling thread.

use burn::tensor::{Distribution, Tensor};
use gradlab::BackendName;

use crate::adam::bits;

#[test]
fn a_step_on_a_worker_thread_matches_one_from_the_calling_thread() {
    assert!(
        fastconv::on_worker(rayon::current_thread_index).is_some(),
        "not on a rayon thread"
    );
    let device = gradlab_testkit::backend(BackendName::Flex).device.autodiff();
    // Both paths of the kernels: 6 images of 12×12 go image by image through the pooled block
    // (10×10 = 100 output pixels), then as one batch through the unpooled one (3×3).
    let x: Tensor<4> = Tensor::random([6, 2, 12, 12], Distribution::Normal(0.0, 1.0), &device);
    let w1: Tensor<4> = Tensor::random([8, 2, 3, 3], Distribution::Normal(0.0, 0.5), &device);
    let b1: Tensor<1> = Tensor::random([8], Distribution::Normal(0.0, 0.1), &device);
    let w2: Tensor<4> = Tensor::random([5, 8, 3, 3], Distribution::Normal(0.0, 0.5), &device);
    let b2: Tensor<1> = Tensor::random([5], Distribution::Normal(0.0, 0.1), &device);
    let r: Tensor<4> = Tensor::random([6, 5, 3, 3], Distribution::Normal(0.0, 1.0), &device);
    let step = || {
        let (x, w1, b1, w2, b2) = (
            x.clone().require_grad(),
            w1.clone().require_grad(),
            b1.clone().require_grad(),
            w2.clone().require_grad(),
            b2.clone().require_grad(),
        );
        let y = fastconv::conv_relu(
            fastconv::conv_relu_pool(x.clone(), w1.clone(), b1.clone()),
            w2.clone(),
            b2.clone(),
        );
        let grads = (y.clone() * r.clone()).sum().backward();
        let g4 = |t: &Tensor<4>| bits(&t.grad(&grads).expect("tracked"));
        let g1 = |t: &Tensor<1>| bits(&t.grad(&grads).expect("tracked"));
        (bits(&y), [g4(&x), g4(&w1), g4(&w2)], [g1(&b1), g1(&b2)])
    };
    let here = step();
    let on_worker = fastconv::on_worker(step);
    assert!(here.0.iter().any(|&b| b != 0), "the block's output is not all zeros");
    assert_eq!(here, on_worker, "outputs or gradients differ between the two threads");
}

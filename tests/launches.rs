//! `gradlab::launches` counts real kernel launches: known operation sequences on wgpu give the
//! expected counts — and show Burn's kernel fusion at work —, a CPU backend launches none.
//!
//! The expected counts are what Burn 0.22.1 (CubeCL 0.11.3, fusion on) launches on lavapipe, as
//! printed by this test's first run:
//!
//! ```text
//! exp(2x + 1): 1 launch(es): [("ElemwiseFuse", 1)]
//! matmul: 2 launch(es): [("ElemwiseFuse", 1), ("MatmulEntry", 1)]
//! ```
//!
//! (the matmul's kernels are autotune's pick among fusion's variants: one CI run got
//! `[("CopyKernel", 1), ("ElemwiseFuse", 1), ("MatmulEntry", 1)]`, which the test allows)
//!
//! and the seed CNN's step at batch 32 (forward, loss, backward; printed by
//! `where_the_seed_cnn_step_launches_its_kernels`): 89 launches with burn's stock layers, 61 of
//! them in the three convolution blocks; 45 with fastconv's CubeCL kernels, whose blocks launch
//! 20 (14 of them fastconv's: `ForwardKernel` 3, `PreActivationGradKernel` 3,
//! `WeightGradKernel` 3, `SumChunksKernel` 3, `InputGradKernel` 2).

use std::sync::{Mutex, MutexGuard};

use burn::tensor::{Device, Tensor};
use gradlab::BackendName;
use gradlab::backend::runs_on_cubecl;
use gradlab::launches::LaunchCounter;
use gradlab_testkit::can_run;

/// CubeCL has one launch hook per process, and it sees every thread's launches: each test runs
/// alone, from its first kernel to its last.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// `exp(2x + 1)` for a fresh `x`, read back to the host (the read flushes fusion's queue).
fn three_elementwise_ops(device: &Device) -> Vec<f32> {
    let x = Tensor::<1>::from_floats([0.0, 0.5, 1.0, 1.5], device);
    x.mul_scalar(2.0)
        .add_scalar(1.0)
        .exp()
        .into_data()
        .try_to_vec()
        .unwrap()
}

/// `a · b` for fresh 16×16 matrices of ones, read back.
fn one_matmul(device: &Device) -> Vec<f32> {
    let a = Tensor::<2>::ones([16, 16], device);
    let b = Tensor::<2>::ones([16, 16], device);
    a.matmul(b).into_data().try_to_vec().unwrap()
}

/// Launches of `work` once it is warm (first calls compile and, for matmul, autotune).
fn launches_of(work: impl Fn()) -> (u64, Vec<(String, u64)>) {
    work();
    work();
    let counter = LaunchCounter::start();
    work();
    (counter.total(), counter.by_kernel())
}

#[test]
fn known_operations_on_wgpu_launch_the_expected_kernels() {
    let _alone = one_at_a_time();
    if !can_run(BackendName::Wgpu, "counting kernel launches on wgpu") {
        return;
    }
    let wgpu = gradlab_testkit::backend(BackendName::Wgpu).device;
    assert!(runs_on_cubecl(&wgpu));
    let expected: Vec<f32> = [1.0f32, 2.0, 3.0, 4.0].iter().map(|v| v.exp()).collect();
    for (got, want) in three_elementwise_ops(&wgpu).iter().zip(&expected) {
        assert!((got - want).abs() <= 1e-5 * want, "{got} vs {want}");
    }
    assert_eq!(one_matmul(&wgpu), vec![16.0; 256]);

    // Three element-wise operations, one kernel: fusion is on.
    let (elementwise, kernels) = launches_of(|| {
        three_elementwise_ops(&wgpu);
    });
    println!("exp(2x + 1): {elementwise} launch(es): {kernels:?}");
    assert_eq!(kernels, [("ElemwiseFuse".to_string(), 1)]);
    // The two fills fused into one kernel, then the matmul.
    let (matmul, kernels) = launches_of(|| {
        one_matmul(&wgpu);
    });
    println!("matmul: {matmul} launch(es): {kernels:?}");
    // Which of fusion's matmul variants runs is autotune's choice, made by timing them on this
    // machine: the fills fused into one kernel before the matmul (the run above), or with a
    // layout copy as well (seen once in CI: `CopyKernel` 1, `ElemwiseFuse` 1, `MatmulEntry` 1).
    // Whatever it picks: one matmul kernel, the two fills in at most one kernel, nothing else.
    let count = |name: &str| kernels.iter().find(|(kernel, _)| kernel == name).map_or(0, |(_, n)| *n);
    assert_eq!(count("MatmulEntry"), 1, "{kernels:?}");
    assert!(count("ElemwiseFuse") <= 1, "{kernels:?}");
    assert!(count("CopyKernel") <= 1, "{kernels:?}");
    assert!(
        kernels
            .iter()
            .all(|(kernel, _)| ["MatmulEntry", "ElemwiseFuse", "CopyKernel"].contains(&kernel.as_str())),
        "{kernels:?}"
    );
    assert_eq!(elementwise, 1);
    assert!((1..=3).contains(&matmul), "{matmul}");
    let (five, _) = launches_of(|| {
        for _ in 0..5 {
            three_elementwise_ops(&wgpu);
        }
    });
    assert_eq!(five, 5, "each repetition launches its kernel");
}

#[test]
fn a_cpu_backend_launches_no_cubecl_kernels() {
    let _alone = one_at_a_time();
    let flex = Device::flex();
    assert!(!runs_on_cubecl(&flex));
    let (launches, kernels) = launches_of(|| {
        three_elementwise_ops(&flex);
        one_matmul(&flex);
    });
    assert_eq!(launches, 0, "{kernels:?}");
}

/// The seed CNN's convolution blocks — `pool(relu(conv1))`, `pool(relu(conv2))`, `relu(conv3)`,
/// burn's stock layers, forward and backward at batch 32 — against its whole forward, loss and
/// backward (whether CubeCL versions of fastconv's fused ops would cut many launches: they
/// did), then the same through fastconv's CubeCL kernels: exactly the kernels expected.
#[test]
fn where_the_seed_cnn_step_launches_its_kernels() {
    use burn::nn::conv::Conv2dConfig;
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::activation::relu;
    use burn::tensor::{Distribution, Int};

    let _alone = one_at_a_time();

    if !can_run(BackendName::Wgpu, "counting the seed CNN's kernel launches on wgpu") {
        return;
    }
    let wgpu = gradlab_testkit::backend(BackendName::Wgpu).device;
    let device = wgpu.clone().autodiff();
    let model = gradlab::seeded(&device, 3, || mnist_cnn::model::Cnn::new(&device));
    let images = || Tensor::<4>::random([32, 1, 28, 28], Distribution::Uniform(0.0, 1.0), &device);
    let targets = Tensor::<1, Int>::from_ints([3; 32], &device);
    let (whole, whole_kernels) = launches_of(|| {
        let loss = mnist_cnn::training::loss(model.forward(images()), targets.clone());
        drop(loss.backward());
        wgpu.sync().unwrap();
    });
    let convs: Vec<_> = [(1, 32), (32, 64), (64, 64)]
        .into_iter()
        .map(|(i, o)| Conv2dConfig::new([i, o], [3, 3]).init(&device))
        .collect();
    let pool = MaxPool2dConfig::new([2, 2]).init();
    let (blocks, block_kernels) = launches_of(|| {
        let x = pool.forward(relu(convs[0].forward(images())));
        let x = pool.forward(relu(convs[1].forward(x)));
        let x = relu(convs[2].forward(x));
        drop(x.sum().backward());
        wgpu.sync().unwrap();
    });
    println!("whole forward + loss + backward: {whole} launches: {whole_kernels:?}");
    println!("its convolution blocks alone: {blocks} launches: {block_kernels:?}");
    assert!(blocks >= 3 && whole > blocks, "{blocks} of {whole}");

    // The same blocks through fastconv's CubeCL kernels: one launch per block forward, and
    // per block backward one for dz, one for dW and db over chunks of the batch, one adding the
    // chunks up (at batch 32 every block has several), and one for dx where the input needs it
    // (not the first block's image).
    let params: Vec<_> = convs
        .iter()
        .map(|c| (c.weight.val(), c.bias.as_ref().unwrap().val()))
        .collect();
    let (fused, fused_kernels) = launches_of(|| {
        let x = fastconv::conv_relu_pool(images(), params[0].0.clone(), params[0].1.clone());
        let x = fastconv::conv_relu_pool(x, params[1].0.clone(), params[1].1.clone());
        let x = fastconv::conv_relu(x, params[2].0.clone(), params[2].1.clone());
        drop(x.sum().backward());
        wgpu.sync().unwrap();
    });
    let fast_model = model.clone().with_fast_path(true);
    let (whole_fused, whole_fused_kernels) = launches_of(|| {
        let loss = mnist_cnn::training::loss(fast_model.forward(images()), targets.clone());
        drop(loss.backward());
        wgpu.sync().unwrap();
    });
    println!("the blocks as fastconv's CubeCL kernels: {fused} launches: {fused_kernels:?}");
    println!("whole step with the fast path: {whole_fused} launches: {whole_fused_kernels:?}");
    let count = |name: &str| fused_kernels.iter().find(|(k, _)| k == name).map_or(0, |(_, n)| *n);
    assert_eq!(
        [
            count("ForwardKernel"),
            count("PreActivationGradKernel"),
            count("WeightGradKernel"),
            count("SumChunksKernel"),
            count("InputGradKernel")
        ],
        [3, 3, 3, 3, 2],
        "{fused_kernels:?}"
    );
    assert!(
        fused < blocks && whole_fused < whole,
        "{fused} vs {blocks}, {whole_fused} vs {whole}"
    );
}

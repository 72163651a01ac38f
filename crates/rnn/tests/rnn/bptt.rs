//! The hand-derived BPTT against burn's autodiff and central finite differences, in f64 on
//! CPU backends (relative error ≤ 1e-5), and against autodiff in f32 on wgpu.

use burn::module::Module;
use burn::tensor::{DType, Int, Tensor, TensorData};
use gradlab::BackendName;
use rnn::manual::{self, Params};
use rnn::model::CharRnn;

fn device(name: BackendName) -> burn::tensor::Device {
    gradlab_testkit::backend(name).device
}

/// A small cell with weights large enough that tanh is far from linear and a non-zero
/// carried state, on a 12-step sequence over 7 characters.
fn case() -> (Params, Vec<usize>, Vec<usize>, Vec<f64>) {
    let mut p = Params::random(6, 7, 0.4, 11);
    p.bh.iter_mut().enumerate().for_each(|(i, b)| *b = 0.1 * i as f64 - 0.2);
    p.by.iter_mut().enumerate().for_each(|(i, b)| *b = 0.05 * i as f64);
    let ids = [3, 1, 4, 1, 5, 6, 2, 6, 5, 3, 5, 0, 2];
    let h0 = vec![0.3, -0.2, 0.1, 0.0, -0.4, 0.25];
    (p, ids[..12].to_vec(), ids[1..].to_vec(), h0)
}

/// max |a − b| / max(|a|, |b|, 1e-8) over all entries.
fn max_rel(a: &Params, b: &Params) -> f64 {
    a.arrays()
        .iter()
        .zip(b.arrays())
        .flat_map(|(x, y)| {
            x.iter()
                .zip(y.iter())
                .map(|(u, v)| (u - v).abs() / u.abs().max(v.abs()).max(1e-8))
        })
        .fold(0.0, f64::max)
}

fn autodiff_grads(
    p: &Params,
    inputs: &[usize],
    targets: &[usize],
    h0: &[f64],
    name: BackendName,
    dtype: DType,
) -> (f64, Params) {
    let d = device(name).autodiff();
    let cell = CharRnn::from_params(p, &d, dtype);
    let ids = |v: &[usize]| -> Tensor<2, Int> {
        Tensor::from_data(
            TensorData::new(v.iter().map(|&i| i as i64).collect::<Vec<_>>(), [1, v.len()]),
            &d,
        )
    };
    let h = Tensor::from_data(
        TensorData::new(h0.to_vec(), [1, h0.len()]).convert_dtype(dtype),
        (&d, dtype),
    );
    let (loss, _) = cell.forward_chunk(ids(inputs), ids(targets), h);
    let value = loss.clone().into_scalar::<f64>();
    let grads = loss.backward();
    (value, cell.grads_to_params(&grads))
}

#[test]
fn hand_bptt_equals_central_finite_differences_in_f64() {
    let (p, x, y, h0) = case();
    let (_, g, _) = manual::loss_and_grads(&p, &x, &y, &h0);
    let mut worst: f64 = 0.0;
    for (a, arr) in g.arrays().iter().enumerate() {
        for i in 0..arr.len() {
            let fd = manual::finite_difference(&p, a, i, &x, &y, &h0, 1e-5);
            let rel = (arr[i] - fd).abs() / arr[i].abs().max(fd.abs()).max(1e-6);
            worst = worst.max(rel);
        }
    }
    assert!(worst <= 1e-5, "hand vs finite difference: relative error {worst:e}");
}

#[test]
fn hand_bptt_equals_autodiff_in_f64_on_flex_and_ndarray() {
    let (p, x, y, h0) = case();
    let (loss, g, _) = manual::loss_and_grads(&p, &x, &y, &h0);
    for name in [BackendName::Flex, BackendName::Ndarray]
        .into_iter()
        .filter(|&n| gradlab_testkit::can_run(n, "hand BPTT against autodiff in f64"))
    {
        let (ad_loss, ad) = autodiff_grads(&p, &x, &y, &h0, name, DType::F64);
        assert!(
            (loss - ad_loss).abs() <= 1e-12 * loss.abs(),
            "{name}: loss {loss} vs {ad_loss}"
        );
        let rel = max_rel(&g, &ad);
        assert!(rel <= 1e-5, "{name}: hand vs autodiff relative error {rel:e}");
    }
}

#[test]
fn hand_bptt_equals_autodiff_in_f32_on_wgpu() {
    if !gradlab_testkit::can_run(BackendName::Wgpu, "rnn autodiff") {
        return;
    }
    // f32 carries ~7 digits; over 12 steps of tanh and softmax the gradients keep ~5, and the
    // smallest entries (|g| ~ 1e-3 of the largest) lose more, so the comparison is absolute,
    // relative to the largest gradient entry.
    let (p, x, y, h0) = case();
    let (_, g, _) = manual::loss_and_grads(&p, &x, &y, &h0);
    let (_, ad) = autodiff_grads(&p, &x, &y, &h0, BackendName::Wgpu, DType::F32);
    let scale = g
        .arrays()
        .iter()
        .flat_map(|a| a.iter())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = g
        .arrays()
        .iter()
        .zip(ad.arrays())
        .flat_map(|(a, b)| a.iter().zip(b.iter()).map(|(u, v)| (u - v).abs()))
        .fold(0.0f64, f64::max);
    assert!(
        worst <= 1e-4 * scale,
        "wgpu: max |hand − autodiff| {worst:e} (largest gradient {scale:e})"
    );
}

#[test]
fn forward_shapes() {
    let d = device(BackendName::Flex);
    let p = Params::random(10, 5, 0.1, 1);
    let cell = CharRnn::from_params(&p, &d, DType::F32);
    let x: Tensor<2, Int> = Tensor::from_data(TensorData::new(vec![0i64, 1, 2, 3, 4, 0, 1, 2], [2, 4]), &d);
    let hs = cell.hidden_states(x.clone(), Tensor::zeros([2, 10], &d));
    assert_eq!(hs.dims(), [2, 4, 10]);
    assert_eq!(cell.logits(hs).dims(), [2, 4, 5]);
    let (loss, h) = cell.forward_chunk(x.clone(), x, Tensor::zeros([2, 10], &d));
    assert_eq!(loss.dims(), [1]);
    assert_eq!(h.dims(), [2, 10]);
    // The burn cell holds exactly the hand cell's weights.
    assert!(max_rel(&cell.to_params(), &p) < 1e-6);
    assert_eq!(cell.num_params(), p.len());
}

#[test]
fn untrained_chunk_loss_is_about_t_ln_v() {
    let p = Params::random(100, 75, 0.01, 42);
    let ids: Vec<usize> = (0..26).map(|i| (i * 7) % 75).collect();
    let tr = manual::forward(&p, &ids[..25], &ids[1..], &[0.0; 100]);
    let expected = 25.0 * 75f64.ln();
    assert!(
        (tr.loss - expected).abs() < 0.01 * expected,
        "{} vs {expected}",
        tr.loss
    );
}

#[test]
fn gradients_vanish_below_scale_one_and_grow_above() {
    let p = Params::random(50, 7, 0.1, 3);
    let ids: Vec<usize> = (0..61).map(|i| (i * 3 + i / 5) % 7).collect();
    let small = rnn::gradients::hidden_gradient_norms(&p, 0.5, &ids, 9);
    let large = rnn::gradients::hidden_gradient_norms(&p, 2.0, &ids, 9);
    let last = small.len() - 1;
    assert!(
        small[0] < 1e-6 * small[last],
        "vanishing: {} vs {}",
        small[0],
        small[last]
    );
    assert!(
        large[0] > 10.0 * large[last],
        "exploding: {} vs {}",
        large[0],
        large[last]
    );
}

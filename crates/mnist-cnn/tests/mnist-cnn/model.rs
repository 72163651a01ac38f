//! The model is the seed's, and the shipped config files say what the code's defaults say.

use crate::common;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use mnist_cnn::config::MnistConfig;
use mnist_cnn::model::Cnn;

#[test]
fn parameter_count_is_keras_s_93322() {
    let device = Device::flex();
    let model = Cnn::new(&device);
    assert_eq!(model.num_params(), 93_322);
    let summary = model.summary(&device);
    assert!(summary.contains("Total params: 93322"), "{summary}");
    assert!(
        summary.contains("(None, 32, 26, 26)") && summary.contains("(None, 576)"),
        "{summary}"
    );
}

#[test]
fn forward_shape_is_batch_by_ten() {
    let device = Device::flex();
    let logits = Cnn::new(&device).forward(Tensor::<4>::zeros([3, 1, 28, 28], &device));
    assert_eq!(logits.dims(), [3, 10]);
}

#[test]
fn shipped_config_equals_the_built_in_defaults() {
    let root = gradlab::workspace_root();
    let cfg: MnistConfig = gradlab::config::load_layers(&[root.join("configs/mnist-cnn.toml")]).unwrap();
    assert_eq!(cfg, MnistConfig::default());
    cfg.validate().unwrap();
    for b in ["ndarray", "flex", "wgpu", "vulkan"] {
        let cfg: MnistConfig = gradlab::config::load_layers(&[
            root.join("configs/mnist-cnn.toml"),
            root.join(format!("configs/{b}.toml")),
        ])
        .unwrap();
        assert_eq!(cfg.backend.as_str(), b);
    }
}

#[test]
fn mnist_5k_split_is_stratified_4000_1000() {
    let splits = mnist_cnn::data::load(&MnistConfig::default()).unwrap();
    use burn::data::dataset::Dataset;
    assert_eq!((splits.train.len(), splits.test.len()), (4000, 1000));
    let mut per_class = [0usize; 10];
    for item in splits.test.iter() {
        per_class[item.unwrap().label as usize] += 1;
    }
    assert_eq!(per_class, [100; 10]);
}

#[test]
fn shipped_dataset_matches_its_readme_checksum() {
    let root = gradlab::workspace_root().join("datasets/mnist-5k");
    let bytes = std::fs::read(root.join("mnist_5k.csv.gz")).unwrap();
    let sum = gradlab::data::download::sha256_hex(&bytes);
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains(&sum), "README does not state the file's SHA-256 {sum}");
}

/// The fast path (every `relu(conv)` as `fastconv::conv_relu`) is the stock model's function:
/// outputs and every parameter's gradient agree on random inputs at the batch sizes the crates
/// use — on flex (fastconv's CPU kernels), ndarray (burn's ops behind fastconv's interface)
/// and wgpu (fastconv's CubeCL kernels). Tolerance: 1e-5 relative to the largest entry — both are f32 sums of the same products
/// in a different order (crates/fastconv/tests/fastconv/burn_op.rs bounds each layer the same way).
#[test]
fn fast_path_equals_the_stock_model_on_flex_ndarray_and_wgpu() {
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::{Distribution, Gradients};
    struct Grads<'a>(&'a Gradients, Vec<f32>);
    impl ModuleVisitor for Grads<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.1.extend(p.val().grad(self.0).unwrap().into_data().iter::<f32>());
        }
    }
    let rel = |a: &[f32], b: &[f32]| {
        let scale = a.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    };
    let names = [
        gradlab::BackendName::Flex,
        gradlab::BackendName::Ndarray,
        gradlab::BackendName::Wgpu,
    ];
    for name in names
        .into_iter()
        .filter(|&n| gradlab_testkit::can_run(n, "the fast path against the stock model"))
    {
        let device = common::backend(name).device.autodiff();
        let stock = gradlab::seeded(&device, 3, || Cnn::new(&device));
        let fast = stock.clone().with_fast_path(true);
        assert!(fast.fast_path() && !stock.fast_path());
        for batch in [1, 7, 32] {
            let x: Tensor<4> = Tensor::random([batch, 1, 28, 28], Distribution::Default, &device);
            let (ys, yf) = (stock.forward(x.clone()), fast.forward(x));
            let out = |t: &Tensor<2>| t.clone().into_data().iter::<f32>().collect::<Vec<_>>();
            assert!(rel(&out(&ys), &out(&yf)) < 1e-5, "{name} batch {batch}: outputs");
            let (gs, gf) = (ys.powi_scalar(2).sum().backward(), yf.powi_scalar(2).sum().backward());
            let (mut a, mut b) = (Grads(&gs, Vec::new()), Grads(&gf, Vec::new()));
            stock.visit(&mut a);
            fast.visit(&mut b);
            assert_eq!(a.1.len(), 93_322);
            let r = rel(&a.1, &b.1);
            assert!(r < 1e-5, "{name} batch {batch}: gradients differ by {r:e}");
        }
    }
}

/// What `eval`, `predict` and gradlab-web run on flex with the fast path — fastconv's packed
/// inference forward ([`Predictor`](mnist_cnn::inference::Predictor)) — is the stock model's
/// function: logits within 1e-5 of the largest (as above) at batch sizes 1, 32 and 257 (groups
/// of uneven size) on real digits; the same accuracy, and a loss within 1e-5, on the
/// mnist-5k test split as burn's forward; and on other backends, or with the fast path off,
/// the predictor runs burn's forward.
#[test]
fn the_packed_predictor_equals_the_stock_model_on_flex() {
    use burn::tensor::TensorData;
    use mnist_cnn::inference::Predictor;
    let device = Device::flex();
    let stock = gradlab::seeded(&device, 5, || Cnn::new(&device));
    let fast = Predictor::new(&stock.clone().with_fast_path(true), &device).unwrap();
    let slow = Predictor::new(&stock, &device).unwrap();
    assert!(
        fast.is_packed() && !slow.is_packed(),
        "{} / {}",
        fast.path(),
        slow.path()
    );
    let splits = mnist_cnn::data::load(&MnistConfig::default()).unwrap();
    use burn::data::dataset::Dataset;
    let pixels: Vec<f32> = (0..257)
        .flat_map(|i| splits.test.get(i).unwrap().pixels.into_iter().map(|p| p as f32 / 255.0))
        .collect();
    for n in [1, 32, 257] {
        let x = &pixels[..n * 784];
        let want: Vec<f32> = stock
            .forward(Tensor::<4>::from_data(
                TensorData::new(x.to_vec(), [n, 1, 28, 28]),
                &device,
            ))
            .into_data()
            .iter::<f32>()
            .collect();
        let got = fast.logits(x).unwrap();
        assert_eq!(
            slow.logits(x).unwrap(),
            want,
            "batch {n}: burn's forward through the predictor"
        );
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
        assert!(d < 1e-5, "batch {n}: logits differ by {d:e} of the largest");
    }
    let (a, b) = (
        fast.evaluate(splits.test.clone(), 256).unwrap(),
        slow.evaluate(splits.test.clone(), 256).unwrap(),
    );
    assert_eq!((a.count, a.accuracy), (b.count, b.accuracy));
    assert!(
        (a.loss - b.loss).abs() < 1e-5 * b.loss.max(1.0),
        "{} vs {}",
        a.loss,
        b.loss
    );
    assert!(fast.logits(&pixels[..100]).is_err(), "not a whole image");
}

//! The model is the seed's, and the shipped config files say what the code's defaults say.

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

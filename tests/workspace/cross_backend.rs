//! The same weights give the same outputs on every backend, and backend selection reports the
//! adapter it really used.

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::Device;
use gradlab::backend::{BackendError, probe_adapters, resolve};
use gradlab::{AdapterChoice, BackendConfig, BackendName};
use mnist_cnn::config::MnistConfig;
use mnist_cnn::data::MnistBatcher;
use mnist_cnn::model::Cnn;

fn config(backend: BackendName, adapter: AdapterChoice) -> BackendConfig {
    BackendConfig::local(backend, adapter)
}

#[test]
fn seed_cnn_forward_agrees_across_ndarray_flex_wgpu_and_vulkan() {
    // Reference weights, made on flex and saved to a file like a trained model.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bpk");
    let flex = Device::flex();
    let reference = gradlab::seeded(&flex, 7, || Cnn::new(&flex));
    gradlab::checkpoint::save_module(reference, &path).unwrap();

    // Eight real digits.
    let splits = mnist_cnn::data::load(&MnistConfig {
        test_limit: 8,
        ..MnistConfig::default()
    })
    .unwrap();
    let items: Vec<_> = splits.test.iter().map(Result::unwrap).collect();

    let mut outputs = Vec::new();
    for name in [
        BackendName::Flex,
        BackendName::Ndarray,
        BackendName::Wgpu,
        BackendName::Vulkan,
    ]
    .into_iter()
    .filter(|&b| gradlab_testkit::can_run(b, "the cross-backend forward"))
    {
        let b = resolve(&config(name, AdapterChoice::Default)).unwrap();
        let model = gradlab::checkpoint::load_module(Cnn::new(&b.device), &path).unwrap();
        let batch = MnistBatcher.batch(items.clone(), &b.device);
        let logits = model
            .forward(batch.images)
            .into_data()
            .iter::<f32>()
            .collect::<Vec<_>>();
        assert_eq!(logits.len(), 80);
        outputs.push((name, logits));
    }
    let (_, reference) = &outputs[0];
    for (name, out) in &outputs[1..] {
        let max = reference
            .iter()
            .zip(out)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(max <= 1e-4, "{name} differs from flex by {max}");
    }
}

#[test]
fn wgpu_reports_the_adapter_it_runs_on() {
    if !gradlab_testkit::can_run(BackendName::Wgpu, "the adapter report") {
        return;
    }
    let b = resolve(&config(BackendName::Wgpu, AdapterChoice::Default)).unwrap();
    assert!(!b.adapter.name.is_empty());
    let hardware = probe_adapters()
        .iter()
        .any(|a| a.device_type != burn::tensor::wgpu::wgpu::DeviceType::Cpu);
    if !hardware {
        // Only a software adapter here (lavapipe): it must say so.
        assert_eq!(b.adapter.device_type, "cpu");
        assert!(b.describe().contains("software adapter"), "{}", b.describe());
    }
    let again = resolve(&config(BackendName::Wgpu, AdapterChoice::Default)).unwrap();
    assert_eq!(again.adapter, b.adapter, "resolving twice reuses the runtime");
}

#[test]
fn auto_picks_a_hardware_gpu_or_flex_and_says_why() {
    let b = resolve(&config(BackendName::Auto, AdapterChoice::Default)).unwrap();
    let hardware = probe_adapters()
        .iter()
        .any(|a| a.device_type != burn::tensor::wgpu::wgpu::DeviceType::Cpu);
    assert_eq!(b.backend, if hardware { BackendName::Wgpu } else { BackendName::Flex });
    assert_eq!(b.requested, BackendName::Auto);
    assert!(b.reason.is_some() && b.describe().contains("auto:"), "{}", b.describe());
}

#[test]
fn a_missing_adapter_is_a_clear_error() {
    let err = resolve(&config(BackendName::Vulkan, AdapterChoice::Discrete(9))).unwrap_err();
    assert!(matches!(err, BackendError::AdapterNotFound { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("vulkan") && msg.contains("discrete:9"), "{msg}");
    // Where adapters exist the advice is another --adapter, not installing a driver.
    if probe_adapters().is_empty() {
        assert!(msg.contains("apt-get install libvulkan1 mesa-vulkan-drivers"), "{msg}");
    } else {
        assert!(
            !msg.contains("apt-get") && msg.contains("choose one of them with `--adapter`"),
            "{msg}"
        );
    }
}

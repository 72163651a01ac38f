//! Using a trained model: loading it, evaluating it on a data set (accuracy, loss, confusion
//! matrix) and classifying one 28×28 image (an image file goes through
//! [`crate::preprocess`] first).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use gradlab::report::ConfusionMatrix;
use serde::{Deserialize, Serialize};

use crate::config::MnistConfig;
use crate::data::{MnistBatcher, MnistItem, PIXELS, scaled};
use crate::model::{Cnn, IMAGE_SIDE, NUM_CLASSES};

/// Loss, accuracy and confusion matrix of a model on a data set.
#[derive(Debug, Clone, Serialize)]
pub struct EvalResult {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction classified right.
    pub accuracy: f64,
    /// Number of images.
    pub count: usize,
    /// Rows = true digit, columns = predicted digit.
    pub confusion: ConfusionMatrix,
}

/// Tag in `model.json`; bumped when the layout changes.
pub const FORMAT: &str = "gradlab-mnist-cnn/1";

/// What a model folder records beside `model.bpk` (in `model.json`, written last): the
/// resolved config it was trained with — data set, split seed, `test_size`, `train_limit`,
/// `test_limit`, `fast_path` — so `eval` and `predict --index` score it on its own test split
/// whatever the current flags say.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelInfo {
    /// [`FORMAT`].
    pub format: String,
    /// The config the model was trained with.
    pub config: MnistConfig,
    /// The data line of the training run.
    pub data: String,
}

/// A loaded model and what it was trained on.
#[derive(Debug)]
pub struct LoadedModel {
    /// The weights (with the fast path set as in training).
    pub model: Cnn,
    /// What it was trained on.
    pub info: ModelInfo,
    /// The weights file read.
    pub path: PathBuf,
}

/// Save `model` as `dir/model.bpk`, then `dir/model.json` describing it.
pub fn save_model(dir: &Path, model: &Cnn, cfg: &MnistConfig, data: &str) -> Result<PathBuf> {
    let path = dir.join("model.bpk");
    gradlab::checkpoint::save_module(model.clone(), &path)?;
    let info = ModelInfo {
        format: FORMAT.into(),
        config: cfg.clone(),
        data: data.into(),
    };
    gradlab::report::write_json(&dir.join("model.json"), &info)?;
    Ok(path)
}

/// Load a model saved by `train` (`path`: its run folder or its `model.bpk`) onto `device`,
/// with what it was trained on. A run folder made before `model.json` existed is described by
/// its `config.toml`.
pub fn load_model(path: &Path, device: &Device) -> Result<LoadedModel> {
    let dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let info = if dir.join("model.json").exists() {
        gradlab::checkpoint::read_model_manifest::<ModelInfo>(path, "an mnist-cnn model", FORMAT)?.1
    } else if dir.join("config.toml").exists() {
        let toml_path = dir.join("config.toml");
        let config: MnistConfig = gradlab::config::load_layers(std::slice::from_ref(&toml_path))
            .with_context(|| format!("{}: the training config of this model", toml_path.display()))?;
        ModelInfo {
            format: FORMAT.into(),
            data: format!("as {} says", toml_path.display()),
            config,
        }
    } else {
        bail!(
            "{}: no model.json or config.toml beside it, so which data it was trained on is unknown \
             (give the run folder of a model trained by `mnist-cnn train`)",
            path.display()
        );
    };
    let file = if path.is_dir() {
        dir.join("model.bpk")
    } else {
        path.to_path_buf()
    };
    let model = gradlab::checkpoint::load_module(Cnn::new(device), &file)?.with_fast_path(info.config.fast_path);
    Ok(LoadedModel {
        model,
        info,
        path: file,
    })
}

impl ModelInfo {
    /// `current` with the settings that define this model's test split (data set, split seed,
    /// `test_size`, `test_limit`) and its `fast_path` taken from the model; the data folders
    /// stay `current`'s (data can move). Also returns one line per setting that differed.
    pub fn eval_config(&self, current: &MnistConfig) -> (MnistConfig, Vec<String>) {
        let m = &self.config;
        let mut c = current.clone();
        let mut changed = Vec::new();
        let mut take = |key: &str, now: String, was: String| {
            if now != was {
                changed.push(format!("`{key}` = {was} (the model's), not {now}"));
            }
        };
        take("dataset", format!("{:?}", c.dataset), format!("{:?}", m.dataset));
        take("seed", c.seed.to_string(), m.seed.to_string());
        take("test_size", c.test_size.to_string(), m.test_size.to_string());
        take("test_limit", c.test_limit.to_string(), m.test_limit.to_string());
        take("fast_path", c.fast_path.to_string(), m.fast_path.to_string());
        c.dataset = m.dataset;
        c.seed = m.seed;
        c.test_size = m.test_size;
        c.test_limit = m.test_limit;
        c.fast_path = m.fast_path;
        (c, changed)
    }
}

/// A model ready to classify: fastconv's packed inference forward ([`fastconv::infer`]: no
/// autodiff, no tensors, weights packed once) where the model's fast path is on and the device
/// is flex (the CPU), burn's forward on the device elsewhere. The two are the same function
/// (`tests/mnist-cnn/model.rs` compares them); make one per loaded model and keep it.
#[derive(Debug, Clone)]
pub struct Predictor {
    model: Cnn,
    packed: Option<fastconv::infer::Network>,
    device: Device,
}

impl Predictor {
    /// `model` (moved to validation mode) ready for inference on `device`.
    pub fn new(model: &Cnn, device: &Device) -> Result<Self> {
        let device = device.clone().without_autodiff();
        let model = model.valid();
        let packed = if model.fast_path() && fastconv::is_fast(&device) {
            Some(model.packed()?)
        } else {
            None
        };
        Ok(Predictor { model, packed, device })
    }

    /// Which code runs the forward pass, in words.
    pub fn path(&self) -> &'static str {
        if self.packed.is_some() {
            "fastconv's packed inference forward (fast_path, flex)"
        } else {
            "burn's forward on the device"
        }
    }

    /// Whether the forward pass is fastconv's packed one.
    pub fn is_packed(&self) -> bool {
        self.packed.is_some()
    }

    /// The model (validation mode).
    pub fn model(&self) -> &Cnn {
        &self.model
    }

    /// The class logits of `n` images given as `n · 784` values (pixels / 255, row after row),
    /// `n · 10` values.
    pub fn logits(&self, images: &[f32]) -> Result<Vec<f32>> {
        ensure!(
            images.len().is_multiple_of(PIXELS),
            "{} values are not a whole number of {PIXELS}-pixel images",
            images.len()
        );
        match &self.packed {
            Some(network) => Ok(network.forward(images)?),
            None => {
                let n = images.len() / PIXELS;
                let x = Tensor::<4>::from_data(
                    TensorData::new(images.to_vec(), [n, 1, IMAGE_SIDE, IMAGE_SIDE]),
                    &self.device,
                );
                self.model
                    .forward(x)
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("reading the logits: {e:?}"))
            }
        }
    }

    /// Class probabilities for one 28×28 image (pixels 0–255, white digit on black).
    pub fn predict(&self, pixels: &[u8]) -> Result<[f32; NUM_CLASSES]> {
        Ok(softmax_row(&self.logits(&one_image(pixels)?)?))
    }

    /// [`predict`](Self::predict), and the first layer's 32 feature maps of the image (burn's
    /// stock convolution on the device).
    pub fn predict_with_maps(&self, pixels: &[u8]) -> Result<DigitInsight> {
        let x = one_image(pixels)?;
        let probabilities = softmax_row(&self.logits(&x)?);
        let image = Tensor::<4>::from_data(TensorData::new(x, [1, 1, IMAGE_SIDE, IMAGE_SIDE]), &self.device);
        let maps = self.model.first_layer(image).into_data().convert::<f32>();
        Ok(DigitInsight {
            probabilities,
            feature_maps: maps.iter::<f32>().collect(),
        })
    }

    /// Loss, accuracy and confusion matrix on `data`, `batch_size` images at a time.
    pub fn evaluate<D>(&self, data: D, batch_size: usize) -> Result<EvalResult>
    where
        D: Dataset<MnistItem> + 'static,
    {
        let Some(network) = &self.packed else {
            return evaluate_on_device(&self.model, data, batch_size, &self.device);
        };
        let mut confusion = ConfusionMatrix::new(NUM_CLASSES);
        let mut loss_sum = 0.0f64;
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        let mut logits = Vec::new();
        let total = data.len();
        let mut next = 0;
        while next < total {
            let end = (next + batch_size.max(1)).min(total);
            images.clear();
            labels.clear();
            for i in next..end {
                let item = data
                    .get(i)
                    .with_context(|| format!("evaluation item {i} of {total} is missing"))?;
                images.extend(scaled(&item.pixels));
                labels.push(item.label as usize);
            }
            logits.resize(labels.len() * NUM_CLASSES, 0.0);
            network.forward_into(&images, &mut logits)?;
            for (row, &truth) in logits.chunks_exact(NUM_CLASSES).zip(&labels) {
                ensure!(truth < NUM_CLASSES, "label {truth} is not a digit");
                let (best, max) =
                    row.iter().enumerate().fold(
                        (0, f32::NEG_INFINITY),
                        |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) },
                    );
                let max = max as f64;
                let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
                loss_sum += max + sum.ln() - row[truth] as f64;
                confusion.add(truth, best);
            }
            next = end;
        }
        Ok(EvalResult {
            loss: loss_sum / total.max(1) as f64,
            accuracy: confusion.accuracy(),
            count: total,
            confusion,
        })
    }
}

fn softmax_row(logits: &[f32]) -> [f32; NUM_CLASSES] {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut out = [0f32; NUM_CLASSES];
    let mut sum = 0.0;
    for (o, &z) in out.iter_mut().zip(logits) {
        *o = (z - max).exp();
        sum += *o;
    }
    for o in &mut out {
        *o /= sum;
    }
    out
}

/// Evaluate `model` on `data` without gradients (the model is moved to validation mode):
/// through [`Predictor`], so the fast path on flex runs fastconv's packed forward.
pub fn evaluate<D>(model: &Cnn, data: D, batch_size: usize, device: &Device) -> Result<EvalResult>
where
    D: Dataset<MnistItem> + 'static,
{
    Predictor::new(model, device)?.evaluate(data, batch_size)
}

/// [`evaluate`] with burn's forward on `device`, batches made by burn's data loader.
fn evaluate_on_device<D>(model: &Cnn, data: D, batch_size: usize, device: &Device) -> Result<EvalResult>
where
    D: Dataset<MnistItem> + 'static,
{
    let device = device.clone().without_autodiff();
    let model = model.valid();
    let loader = DataLoaderBuilder::new(MnistBatcher)
        .batch_size(batch_size)
        .set_device(device.clone())
        .build(data);
    let mut confusion = ConfusionMatrix::new(NUM_CLASSES);
    let mut loss_sum = 0.0f64;
    let mut count = 0usize;
    for batch in loader.iter() {
        let batch = batch.context("loading an evaluation batch")?;
        let n = batch.targets.dims()[0];
        let logits = model.forward(batch.images);
        let loss = crate::training::loss(logits.clone(), batch.targets.clone());
        loss_sum += loss.into_scalar::<f64>() * n as f64;
        let predicted = logits.argmax(1).reshape([n]).into_data();
        let truth = batch.targets.into_data();
        for (t, p) in truth.iter::<i64>().zip(predicted.iter::<i64>()) {
            confusion.add(t as usize, p as usize);
        }
        count += n;
    }
    Ok(EvalResult {
        loss: loss_sum / count.max(1) as f64,
        accuracy: confusion.accuracy(),
        count,
        confusion,
    })
}

/// One 28×28 image (pixels 0–255, white digit on black) as the model's input values.
fn one_image(pixels: &[u8]) -> Result<Vec<f32>> {
    ensure!(pixels.len() == PIXELS, "expected {PIXELS} pixels, got {}", pixels.len());
    Ok(scaled(pixels).collect())
}

/// Class probabilities for one 28×28 image (pixels 0–255, white digit on black); a caller
/// with many images makes one [`Predictor`] instead (this packs the weights each call).
pub fn predict(model: &Cnn, pixels: &[u8], device: &Device) -> Result<[f32; NUM_CLASSES]> {
    Predictor::new(model, device)?.predict(pixels)
}

/// Number of first-layer feature maps ([`DigitInsight::feature_maps`]).
pub const FEATURE_MAPS: usize = 32;
/// Side of a first-layer feature map (28 − 3 + 1).
pub const FEATURE_SIDE: usize = 26;

/// A prediction with the first layer's view of the image.
#[derive(Debug, Clone)]
pub struct DigitInsight {
    /// Class probabilities (as [`predict`]).
    pub probabilities: [f32; NUM_CLASSES],
    /// The 32 feature maps of [`Cnn::first_layer`], map after map, row after row
    /// (`FEATURE_MAPS × FEATURE_SIDE × FEATURE_SIDE` values, each ≥ 0).
    pub feature_maps: Vec<f32>,
}

/// [`predict`], and the first layer's 32 feature maps of the image.
pub fn predict_with_maps(model: &Cnn, pixels: &[u8], device: &Device) -> Result<DigitInsight> {
    Predictor::new(model, device)?.predict_with_maps(pixels)
}

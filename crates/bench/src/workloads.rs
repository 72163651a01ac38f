//! One benchmark workload per model: the model, a fixed batch on the device, its loss, its
//! optimizer. Every workload is built from the same weights on every backend (made on flex with
//! a seed, moved as a burnpack record), so the conformance check can compare them.
//!
//! Each model's loss, optimizer and learning rate are its crate's own (`training::loss`,
//! `training::optimizer`, the config's default `learning_rate`), so the bench times the step
//! that training runs.
//!
//! | model | batch of `b` | items | loss, optimizer (as the model's crate trains it) |
//! |---|---|---|---|
//! | `mnist-cnn` | `[b, 1, 28, 28]` real digits (mnist-5k) | images | softmax cross-entropy, Adam 1e-3 (ε 1e-7) |
//! | `mnist-cnn-fast` | the same model with `fast_path` (fastconv's conv+ReLU(+pool) ops; flex, wgpu, vulkan, ndarray — not remote; inference on flex: fastconv's packed forward, as `mnist-cnn eval` runs it) | images | the same |
//! | `sentiment` | `[b, 50]` word ids + mask | sentences | BCE on logits, Adam 1e-3 |
//! | `rnn` | `[b, 25]` characters, `b` streams | characters (`25·b`) | summed CE over 25 steps, Adagrad 0.1, clip ±5 |
//! | `xor-backprop` | `[b, 3]` XOR rows | samples | ½ Σ (ŷ − y)², SGD 1.0 |

use anyhow::Result;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{DType, Device, Gradients, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// The models the bench knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ModelName {
    /// The seed CNN, burn's stock convolutions.
    MnistCnn,
    /// The seed CNN with the fast path (fastconv's fused conv+ReLU(+max-pool) ops; flex, wgpu, vulkan, ndarray).
    MnistCnnFast,
    /// The seed embedding-average sentiment model.
    Sentiment,
    /// The Elman character RNN (autodiff engine).
    Rnn,
    /// The 3→4→1 XOR network.
    XorBackprop,
}

impl ModelName {
    /// Every model, in table order.
    pub const ALL: [ModelName; 5] = [
        ModelName::MnistCnn,
        ModelName::MnistCnnFast,
        ModelName::Sentiment,
        ModelName::Rnn,
        ModelName::XorBackprop,
    ];

    /// Why `self` is not timed on `device`, if it is not: the fast CNN only where the fastconv
    /// op exists (elsewhere it would run the stock layers, the `mnist-cnn` row again).
    pub fn not_on(self, device: &Device) -> Option<&'static str> {
        (self == ModelName::MnistCnnFast && !fastconv::is_supported(device))
            .then_some("no fastconv op on this backend (the fast path runs the stock layers there)")
    }

    /// The crate name.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelName::MnistCnn => "mnist-cnn",
            ModelName::MnistCnnFast => "mnist-cnn-fast",
            ModelName::Sentiment => "sentiment",
            ModelName::Rnn => "rnn",
            ModelName::XorBackprop => "xor-backprop",
        }
    }

    /// What one item is.
    pub fn unit(self) -> &'static str {
        match self {
            ModelName::MnistCnn | ModelName::MnistCnnFast => "images",
            ModelName::Sentiment => "sentences",
            ModelName::Rnn => "chars",
            ModelName::XorBackprop => "samples",
        }
    }
}

impl std::fmt::Display for ModelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the conformance check compares.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Inference outputs, flattened.
    pub outputs: Vec<f64>,
    /// The training loss at the shared weights.
    pub loss: f64,
    /// Every parameter's gradient, flattened in module order.
    pub grads: Vec<f64>,
    /// The loss after `k` plain SGD steps on the same batch.
    pub loss_after: f64,
}

/// A workload on one device.
pub trait Workload {
    /// Forward, loss, backward, optimizer step; then wait for the device.
    fn train_step(&mut self) -> Result<()>;
    /// Forward of the inference model; then wait for the device.
    fn infer_step(&mut self) -> Result<()>;
    /// Items one step processes.
    fn items(&self) -> usize;
    /// Outputs, loss and gradients at the current weights, and the loss after `k` plain SGD
    /// steps on a copy (SGD, not the model's Adam/Adagrad: their first steps are ≈ lr·sign(g),
    /// which turns 1e-7 differences in near-zero gradient entries into full-size updates and
    /// would measure the optimizer, not the backend).
    fn probe(&mut self, k: usize) -> Result<Probe>;
}

/// A model with its batch and training rule.
struct Job<M: Module, B: Clone> {
    model: M,
    inference: M,
    optim: ModuleOptimizer,
    lr: f64,
    /// SGD learning rate of the conformance steps.
    sgd_lr: f64,
    batch: B,
    device: Device,
    items: usize,
    loss: fn(&M, &B) -> Tensor<1>,
    output: fn(&M, &B) -> Tensor<2>,
}

fn sync(device: &Device) -> Result<()> {
    device.sync().map_err(|e| anyhow::anyhow!("device sync failed: {e:?}"))
}

fn read<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

/// Collects every float parameter's gradient, in module order.
struct GradCollector<'a> {
    grads: &'a Gradients,
    out: Vec<f64>,
}

impl ModuleVisitor for GradCollector<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        match param.val().grad(self.grads) {
            Some(g) => self.out.extend(read(g)),
            None => self
                .out
                .extend(std::iter::repeat_n(0.0, param.val().shape().num_elements())),
        }
    }
}

impl<M: Module, B: Clone> Workload for Job<M, B> {
    fn train_step(&mut self) -> Result<()> {
        let loss = (self.loss)(&self.model, &self.batch);
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(self.lr, self.model.clone(), grads);
        sync(&self.device)
    }

    fn infer_step(&mut self) -> Result<()> {
        let out = (self.output)(&self.inference, &self.batch);
        drop(out);
        sync(&self.device)
    }

    fn items(&self) -> usize {
        self.items
    }

    fn probe(&mut self, k: usize) -> Result<Probe> {
        let outputs = read((self.output)(&self.inference, &self.batch));
        let loss_t = (self.loss)(&self.model, &self.batch);
        let loss = loss_t.clone().into_scalar::<f64>();
        let grads = loss_t.backward();
        let mut c = GradCollector {
            grads: &grads,
            out: Vec::new(),
        };
        self.model.visit(&mut c);
        let mut sgd = SgdConfig::new().init();
        let mut model = self.model.clone();
        for _ in 0..k {
            let grads = GradientsParams::from_grads((self.loss)(&model, &self.batch).backward(), &model);
            model = sgd.step(self.sgd_lr, model, grads);
        }
        let loss_after = (self.loss)(&model, &self.batch).into_scalar::<f64>();
        Ok(Probe {
            outputs,
            loss,
            grads: c.out,
            loss_after,
        })
    }
}

/// The reference weights of `model`, made on flex from `seed`.
pub fn reference_weights(model: ModelName, seed: u64) -> Result<Vec<u8>> {
    let flex = gradlab::backend::host_device();
    match model {
        ModelName::MnistCnn | ModelName::MnistCnnFast => {
            gradlab::checkpoint::module_bytes(gradlab::seeded(&flex, seed, || mnist_cnn::model::Cnn::new(&flex)))
        }
        ModelName::Sentiment => {
            gradlab::checkpoint::module_bytes(gradlab::seeded(&flex, seed, || sentiment_spec().init(&flex)))
        }
        ModelName::Rnn => gradlab::checkpoint::module_bytes(rnn::model::CharRnn::from_params(
            &rnn::manual::Params::random(RNN_HIDDEN, RNN_VOCAB, 0.01, seed),
            &flex,
            DType::F32,
        )),
        ModelName::XorBackprop => gradlab::checkpoint::module_bytes(xor_backprop::autodiff::XorNet::from_mlp(
            &xor_backprop::manual::Mlp::init(seed),
            &flex,
            DType::F32,
        )),
    }
}

const SENT_ROWS: usize = 10_000;
const SENT_LEN: usize = 50;
const RNN_HIDDEN: usize = 100;
const RNN_VOCAB: usize = 75;
const RNN_STEPS: usize = 25;

fn sentiment_spec() -> sentiment::model::ModelSpec {
    sentiment::model::ModelSpec {
        kind: sentiment::model::ModelKind::Seed,
        rows: SENT_ROWS,
        embedding_dim: 16,
        hidden: 24,
        pooling: sentiment::model::Pooling::Mean,
    }
}

/// The rule that picks the CNN's batch, shared with `scripts/reference.py` (which times
/// TensorFlow-Keras and PyTorch on the same images): image `k` of a batch of `b` is image
/// `(k · 503) mod n` of `datasets/mnist-5k` (n = 5,000 images, sorted by label in blocks of 500,
/// so the prime stride spreads a batch over every digit: batch 32 holds 4, 4, then 3 of each).
pub const DIGIT_BATCH_RULE: &str = "fixed batch: image (k*503) % n of the file, k = 0..b-1, pixels/255";

/// Stride of [`DIGIT_BATCH_RULE`].
const DIGIT_STRIDE: usize = 503;

/// The CNN's fixed batch of `n` real digits ([`DIGIT_BATCH_RULE`]), pixels scaled to 0..1 —
/// real images rather than random pixels: burn-flex's convolution time depends on the data (a
/// random-pixel batch trained ~25 % slower than real digits here).
fn digits(n: usize) -> Result<(Vec<f32>, Vec<i64>)> {
    use std::sync::OnceLock;
    static DIGITS: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    let (pixels, labels) = match DIGITS.get() {
        Some(d) => d,
        None => {
            let file = gradlab::data::digits_csv::find(std::path::Path::new("datasets/mnist-5k/mnist_5k.csv.gz"));
            let d = gradlab::data::digits_csv::read_file(&file)?;
            DIGITS.get_or_init(|| d)
        }
    };
    let count = labels.len();
    anyhow::ensure!(count > 0, "mnist-5k holds no images");
    let mut px = Vec::with_capacity(n * 784);
    let mut ys = Vec::with_capacity(n);
    for k in 0..n {
        let i = (k * DIGIT_STRIDE) % count;
        px.extend(mnist_cnn::data::scaled(&pixels[i * 784..(i + 1) * 784]));
        ys.push(labels[i] as i64);
    }
    Ok((px, ys))
}

fn ints<const D: usize>(v: Vec<i64>, shape: [usize; D], device: &Device) -> Tensor<D, Int> {
    Tensor::from_data(TensorData::new(v, shape), device)
}

fn floats<const D: usize>(v: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// Build `model`'s workload for `batch` items on `device` (a plain device: the workload trains
/// on its autodiff form), with `weights` from [`reference_weights`] and a batch drawn from
/// `seed` (the same batch on every backend).
pub fn build(model: ModelName, device: &Device, batch: usize, weights: &[u8], seed: u64) -> Result<Box<dyn Workload>> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xba7c);
    let what = format!("{model} reference weights");
    let w = Weights {
        bytes: weights,
        what: &what,
    };
    match model {
        ModelName::MnistCnn | ModelName::MnistCnnFast => cnn_job(device, batch, &w, model == ModelName::MnistCnnFast),
        ModelName::Sentiment => sentiment_job(device, batch, &w, &mut rng),
        ModelName::Rnn => rnn_job(device, batch, &w, &mut rng),
        ModelName::XorBackprop => xor_job(device, batch, &w),
    }
}

/// The reference weights of a workload, and how to name them in an error.
struct Weights<'a> {
    bytes: &'a [u8],
    what: &'a str,
}

/// The seed CNN (`fast`: with fastconv's ops) on a fixed batch of real digits.
fn cnn_job(device: &Device, batch: usize, w: &Weights, fast: bool) -> Result<Box<dyn Workload>> {
    let ad = &device.clone().autodiff();
    let m = gradlab::checkpoint::load_module_bytes(mnist_cnn::model::Cnn::new(ad), w.bytes.to_vec(), w.what)?
        .with_fast_path(fast);
    let (px, labels) = digits(batch)?;
    let b = (floats(px.clone(), [batch, 1, 28, 28], ad), ints(labels, [batch], ad));
    let predictor = mnist_cnn::inference::Predictor::new(&m, device)?;
    let job = Job {
        inference: m.valid(),
        model: m,
        optim: mnist_cnn::training::optimizer(fast),
        lr: mnist_cnn::config::MnistConfig::default().learning_rate,
        sgd_lr: 0.05,
        batch: b,
        device: device.clone(),
        items: batch,
        loss: |m: &mnist_cnn::model::Cnn, b: &(Tensor<4>, Tensor<1, Int>)| {
            mnist_cnn::training::loss(m.forward(b.0.clone()), b.1.clone())
        },
        output: |m, b| m.forward(b.0.clone()),
    };
    if !predictor.is_packed() {
        return Ok(Box::new(job));
    }
    Ok(Box::new(PackedCnnJob {
        job,
        predictor,
        images: px,
    }))
}

/// The fast CNN on flex: training as [`Job`], inference (and the conformance check's outputs)
/// through mnist-cnn's [`Predictor`](mnist_cnn::inference::Predictor), fastconv's packed forward —
/// what `mnist-cnn eval`/`predict` and gradlab-web run.
struct PackedCnnJob {
    job: Job<mnist_cnn::model::Cnn, (Tensor<4>, Tensor<1, Int>)>,
    predictor: mnist_cnn::inference::Predictor,
    /// The batch's pixels, as the predictor takes them.
    images: Vec<f32>,
}

impl Workload for PackedCnnJob {
    /// On one of rayon's threads, as `mnist-cnn train` runs a fast-path step on flex
    /// (`fastconv::on_worker`).
    fn train_step(&mut self) -> Result<()> {
        let job = &mut self.job;
        fastconv::on_worker(|| job.train_step())
    }

    fn infer_step(&mut self) -> Result<()> {
        std::hint::black_box(self.predictor.logits(&self.images)?);
        Ok(())
    }

    fn items(&self) -> usize {
        self.job.items()
    }

    fn probe(&mut self, k: usize) -> Result<Probe> {
        let mut probe = self.job.probe(k)?;
        probe.outputs = self
            .predictor
            .logits(&self.images)?
            .into_iter()
            .map(f64::from)
            .collect();
        Ok(probe)
    }
}

/// The seed sentiment model on random sentences of 3 to 50 word ids.
fn sentiment_job(device: &Device, batch: usize, w: &Weights, rng: &mut StdRng) -> Result<Box<dyn Workload>> {
    let ad = &device.clone().autodiff();
    let m = gradlab::checkpoint::load_module_bytes(sentiment_spec().init(ad), w.bytes.to_vec(), w.what)?;
    let mut ids = Vec::with_capacity(batch * SENT_LEN);
    let mut mask = Vec::with_capacity(batch * SENT_LEN);
    for _ in 0..batch {
        let len = rng.random_range(3..=SENT_LEN);
        for i in 0..SENT_LEN {
            let on = i < len;
            ids.push(if on { rng.random_range(1..SENT_ROWS as i64) } else { 0 });
            mask.push(on as u8 as f32);
        }
    }
    let labels: Vec<i64> = (0..batch).map(|_| rng.random_range(0..2)).collect();
    let b = (
        ints(ids, [batch, SENT_LEN], ad),
        floats(mask, [batch, SENT_LEN], ad),
        ints(labels, [batch], ad),
    );
    Ok(Box::new(Job {
        inference: m.valid(),
        model: m,
        optim: sentiment::training::optimizer(),
        lr: sentiment::config::SentimentConfig::default().learning_rate,
        sgd_lr: 0.5,
        batch: b,
        device: device.clone(),
        items: batch,
        loss: |m: &sentiment::model::SentimentModel, b: &(Tensor<2, Int>, Tensor<2>, Tensor<1, Int>)| {
            sentiment::training::loss(m.forward(b.0.clone(), b.1.clone()), b.2.clone())
        },
        output: |m, b| {
            let n = b.0.dims()[0];
            m.forward(b.0.clone(), b.1.clone()).reshape([n, 1])
        },
    }))
}

/// The character RNN on `batch` streams of random characters, one BPTT chunk each.
fn rnn_job(device: &Device, batch: usize, w: &Weights, rng: &mut StdRng) -> Result<Box<dyn Workload>> {
    let ad = &device.clone().autodiff();
    let m = gradlab::checkpoint::load_module_bytes(
        rnn::model::CharRnn::zeros(RNN_HIDDEN, RNN_VOCAB, ad),
        w.bytes.to_vec(),
        w.what,
    )?;
    let text: Vec<i64> = (0..batch * (RNN_STEPS + 1))
        .map(|_| rng.random_range(0..RNN_VOCAB as i64))
        .collect();
    let mut x = Vec::new();
    let mut y = Vec::new();
    for s in 0..batch {
        let row = &text[s * (RNN_STEPS + 1)..(s + 1) * (RNN_STEPS + 1)];
        x.extend_from_slice(&row[..RNN_STEPS]);
        y.extend_from_slice(&row[1..]);
    }
    let b = (
        ints(x, [batch, RNN_STEPS], ad),
        ints(y, [batch, RNN_STEPS], ad),
        Tensor::<2>::zeros([batch, RNN_HIDDEN], ad),
    );
    Ok(Box::new(Job {
        inference: m.valid(),
        model: m,
        optim: rnn::training::optimizer(rnn::config::RnnConfig::default().clip),
        lr: rnn::config::RnnConfig::default().learning_rate,
        sgd_lr: 0.05,
        batch: b,
        device: device.clone(),
        items: batch * RNN_STEPS,
        loss: |m: &rnn::model::CharRnn, b: &(Tensor<2, Int>, Tensor<2, Int>, Tensor<2>)| {
            m.forward_chunk(b.0.clone(), b.1.clone(), b.2.clone()).0
        },
        output: |m, b| {
            let [n, t] = b.0.dims();
            let v = RNN_VOCAB;
            m.logits(m.hidden_states(b.0.clone(), b.2.clone())).reshape([n * t, v])
        },
    }))
}

/// The XOR network on the four XOR rows repeated to `batch`.
fn xor_job(device: &Device, batch: usize, w: &Weights) -> Result<Box<dyn Workload>> {
    let ad = &device.clone().autodiff();
    let init = xor_backprop::manual::Mlp::init(0);
    let m = gradlab::checkpoint::load_module_bytes(
        xor_backprop::autodiff::XorNet::from_mlp(&init, ad, DType::F32),
        w.bytes.to_vec(),
        w.what,
    )?;
    let rows: Vec<usize> = (0..batch).map(|i| i % 4).collect();
    let x: Vec<f32> = rows
        .iter()
        .flat_map(|&r| xor_backprop::data::X[r].map(|v| v as f32))
        .collect();
    let y: Vec<f32> = rows.iter().map(|&r| xor_backprop::data::Y[r] as f32).collect();
    let b = (floats(x, [batch, 3], ad), floats(y, [batch, 1], ad));
    Ok(Box::new(Job {
        inference: m.valid(),
        model: m,
        optim: xor_backprop::training::optimizer(),
        lr: xor_backprop::config::XorConfig::default().learning_rate,
        sgd_lr: 1.0,
        batch: b,
        device: device.clone(),
        items: batch,
        loss: |m: &xor_backprop::autodiff::XorNet, b: &(Tensor<2>, Tensor<2>)| {
            xor_backprop::autodiff::loss(m.forward(b.0.clone()), b.1.clone())
        },
        output: |m, b| m.forward(b.0.clone()),
    }))
}

//! MNIST-shaped data: the three data sets, burn `Dataset` impls and the batcher.
//!
//! - `mnist-5k` (default): `datasets/mnist-5k/mnist_5k.csv.gz`, 5,000 real digits, seeded
//!   stratified split into train/test (4,000 / 1,000 by default).
//! - `fashion-mnist`: the full 60,000 / 10,000 IDX files of Debian's `dataset-fashion-mnist`.
//! - `mnist`: the four official IDX files, downloaded with SHA-256 checks when missing.
//!
//! Subsets (splits, `train_limit`) are burn [`SelectionDataset`]s over one [`ImageSet`];
//! shuffling and batching are burn's `DataLoader`'s.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::transform::SelectionDataset;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};
use gradlab::data::download::{Remote, ensure_file};
use gradlab::data::idx::read_labelled_images;
use gradlab::data::split::stratified_split;
use serde::{Deserialize, Serialize};

use crate::config::MnistConfig;
use crate::model::{IMAGE_SIDE, NUM_CLASSES};

/// Pixels per image.
pub const PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

/// Which data set to train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    /// 5,000 real MNIST digits shipped in `datasets/mnist-5k`.
    #[serde(rename = "mnist-5k")]
    #[value(name = "mnist-5k")]
    Mnist5k,
    /// Full Fashion-MNIST (60k/10k) from the Debian package `dataset-fashion-mnist`.
    FashionMnist,
    /// Full MNIST (60k/10k), downloaded once into `mnist_dir`.
    Mnist,
}

/// One image and its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MnistItem {
    /// 784 pixels, 0–255, row-major.
    pub pixels: Vec<u8>,
    /// 0–9.
    pub label: u8,
}

/// A set of 28×28 greyscale images with labels, held in two contiguous buffers.
#[derive(Debug, Clone)]
pub struct ImageSet {
    pixels: Arc<Vec<u8>>,
    labels: Arc<Vec<u8>>,
}

impl ImageSet {
    /// Wrap `pixels` (`labels.len() * 784` bytes) and `labels`.
    pub fn new(pixels: Vec<u8>, labels: Vec<u8>) -> Result<Self> {
        ensure!(
            pixels.len() == labels.len() * PIXELS,
            "{} pixels do not make {} images of 28×28",
            pixels.len(),
            labels.len()
        );
        Ok(ImageSet {
            pixels: Arc::new(pixels),
            labels: Arc::new(labels),
        })
    }

    /// All labels, in order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }
}

impl Dataset<MnistItem> for ImageSet {
    fn get(&self, index: usize) -> Result<MnistItem, DatasetError> {
        let label = self.labels[index];
        let pixels = self.pixels[index * PIXELS..(index + 1) * PIXELS].to_vec();
        Ok(MnistItem { pixels, label })
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

/// A subset of an [`ImageSet`].
pub type Subset = SelectionDataset<ImageSet, MnistItem>;

/// Training and test parts of a data set.
pub struct Splits {
    /// Training images.
    pub train: Subset,
    /// Test images (also the per-epoch validation data, as in the Keras seed).
    pub test: Subset,
    /// One line describing where the data came from.
    pub description: String,
}

/// Load the configured data set and split it.
pub fn load(cfg: &MnistConfig) -> Result<Splits> {
    let (train, test, description) = match cfg.dataset {
        DatasetName::Mnist5k => {
            let file = gradlab::data::digits_csv::find(&cfg.data_dir.join("mnist-5k/mnist_5k.csv.gz"));
            let (pixels, labels) = gradlab::data::digits_csv::read_file(&file)?;
            let all = ImageSet::new(pixels, labels)?;
            let split = stratified_split(all.labels(), cfg.test_size, cfg.seed)
                .with_context(|| format!("splitting {}", file.describe()))?;
            let description = format!(
                "mnist-5k ({}), seeded stratified split (seed {}): {} train / {} test",
                file.describe(),
                cfg.seed,
                split.train.len(),
                split.test.len()
            );
            (
                SelectionDataset::from_indices_checked(all.clone(), split.train),
                SelectionDataset::from_indices_checked(all, split.test),
                description,
            )
        }
        DatasetName::FashionMnist => {
            let dir = &cfg.fashion_dir;
            let need = ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"];
            if need.iter().any(|f| !dir.join(f).exists()) {
                bail!(
                    "Fashion-MNIST not found in {}: install it with `apt-get install dataset-fashion-mnist` \
                     (or `just fashion-mnist`), or set `fashion_dir`",
                    dir.display()
                );
            }
            let (train, test) = read_idx_pair(dir)?;
            (
                train,
                test,
                format!("fashion-mnist ({}): official 60,000 / 10,000 split", dir.display()),
            )
        }
        DatasetName::Mnist => {
            let dir = gradlab::data::source::find_dir(&cfg.mnist_dir);
            for remote in MNIST_FILES {
                ensure_file(&dir, &remote, MNIST_MIRRORS)?;
            }
            let (train, test) = read_idx_pair(&dir)?;
            (
                train,
                test,
                format!("mnist ({}): official 60,000 / 10,000 split", dir.display()),
            )
        }
    };
    Ok(Splits {
        train: limit(train, cfg.train_limit),
        test: limit(test, cfg.test_limit),
        description,
    })
}

fn limit(set: Subset, n: usize) -> Subset {
    if n == 0 || n >= set.len() { set } else { set.slice(0, n) }
}

/// The official MNIST files and their SHA-256 sums.
pub const MNIST_FILES: [Remote; 4] = [
    Remote {
        file: "train-images-idx3-ubyte.gz",
        sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    },
    Remote {
        file: "train-labels-idx1-ubyte.gz",
        sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    },
    Remote {
        file: "t10k-images-idx3-ubyte.gz",
        sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    },
    Remote {
        file: "t10k-labels-idx1-ubyte.gz",
        sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
];

/// Public mirrors of the MNIST files (the original site now requires a login).
pub const MNIST_MIRRORS: &[&str] = &[
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
];

fn read_idx_pair(dir: &Path) -> Result<(Subset, Subset)> {
    let part = |prefix: &str| -> Result<ImageSet> {
        let images = dir.join(format!("{prefix}-images-idx3-ubyte.gz"));
        let labels = dir.join(format!("{prefix}-labels-idx1-ubyte.gz"));
        let set = read_labelled_images(&images, &labels, NUM_CLASSES as u8)?;
        ensure!(
            (set.rows, set.cols) == (IMAGE_SIDE, IMAGE_SIDE),
            "{}: images are {}×{}, expected 28×28",
            images.display(),
            set.rows,
            set.cols
        );
        ImageSet::new(set.pixels, set.labels)
    };
    let train = part("train")?;
    let test = part("t10k")?;
    Ok((
        SelectionDataset::new_select_all(train),
        SelectionDataset::new_select_all(test),
    ))
}

/// Read the mnist-5k CSV (gzipped) into an [`ImageSet`].
pub fn read_csv_digits(path: &Path) -> Result<ImageSet> {
    let (pixels, labels) = gradlab::data::digits_csv::read(path)?;
    ImageSet::new(pixels, labels)
}

/// A batch ready for the model.
#[derive(Debug, Clone)]
pub struct MnistBatch {
    /// `[batch, 1, 28, 28]`, pixels / 255.
    pub images: Tensor<4>,
    /// `[batch]` class indices.
    pub targets: Tensor<1, Int>,
}

/// The model's input scale: pixels (0–255) / 255, as [`MnistBatcher`] feeds them and
/// [`crate::inference::Predictor`] takes them.
pub fn scaled(pixels: &[u8]) -> impl Iterator<Item = f32> + '_ {
    pixels.iter().map(|&p| p as f32 / 255.0)
}

/// Turns items into one contiguous image tensor and one label tensor.
#[derive(Debug, Clone, Copy, Default)]
pub struct MnistBatcher;

impl Batcher<MnistItem, MnistBatch> for MnistBatcher {
    fn batch(&self, items: Vec<MnistItem>, device: &Device) -> MnistBatch {
        let n = items.len();
        let mut pixels = Vec::with_capacity(n * PIXELS);
        let mut labels = Vec::with_capacity(n);
        for item in &items {
            pixels.extend(scaled(&item.pixels));
            labels.push(item.label as i64);
        }
        MnistBatch {
            images: Tensor::from_data(TensorData::new(pixels, [n, 1, IMAGE_SIDE, IMAGE_SIDE]), device),
            targets: Tensor::from_data(TensorData::new(labels, [n]), device),
        }
    }
}

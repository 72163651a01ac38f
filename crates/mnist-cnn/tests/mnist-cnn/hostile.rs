//! Hostile input by the thousand: every reader of a file a user hands mnist-cnn — a digit image
//! (`predict`), a safetensors or PyTorch file (`import`), a model folder's `model.bpk` and
//! `model.json` (`eval`, `predict`), a config TOML (`--config`) — gets mutated copies of a valid
//! file (truncated, bit-flipped, bytes set to 0x00/0xFF, runs overwritten at either end, parts
//! spliced in, numbers replaced by huge, negative, NaN and inf ones, dtypes swapped) and random
//! bytes, and must give a clear error or a correct result: never a panic (proptest, seeded, so a
//! failure names its smallest input and reruns the same). The cases per reader are in
//! [`CASES`]; each reader's count is printed. Files over a reader's size bound are refused before
//! they are read (`gradlab::io::read_bounded`), so no mutation can make a reader allocate more
//! than that bound's worth of input.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use gradlab::exchange::FileKind;
use mnist_cnn::config::MnistConfig;
use mnist_cnn::exchange::Layout;
use mnist_cnn::model::Cnn;
use mnist_cnn::preprocess::{Fit, decode_digit};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Inputs tried per reader (a reader of several seeds splits them).
const CASES: u32 = 1000;

/// Numbers a mutation may write in place of a number of a text part: the extremes of the
/// integer types, negatives, and floats a value check must catch.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "4294967296",
    "18446744073709551615",
    "99999999999999999999999",
    "1e308",
    "-1e308",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1.5",
];

/// Mutated copies of `seed`, and random bytes. `swaps` are (from, to) token pairs a mutation
/// may replace one of the other (dtypes, keys).
fn mutations(seed: Vec<u8>, swaps: &'static [(&'static str, &'static str)]) -> BoxedStrategy<Vec<u8>> {
    let seed = Arc::new(seed);
    let n = seed.len();
    assert!(n > 16, "seed of {n} bytes");
    let edge = n.min(1024);
    let s = [(); 7].map(|_| seed.clone());
    let [s0, s1, s2, s3, s4, s5, s6] = s;
    prop_oneof![
        // Truncated anywhere.
        (0..n).prop_map(move |cut| s0[..cut].to_vec()),
        // 1–8 bits flipped anywhere.
        prop::collection::vec((0..n, 0u32..8), 1..=8).prop_map(move |flips| {
            let mut b = s1.to_vec();
            for (i, bit) in flips {
                b[i] ^= 1 << bit;
            }
            b
        }),
        // 1–8 bytes set to an extreme (lengths, counts and dimensions at their limits).
        prop::collection::vec((0..n, prop::sample::select(vec![0u8, 0x7F, 0x80, 0xFF])), 1..=8).prop_map(move |sets| {
            let mut b = s2.to_vec();
            for (i, v) in sets {
                b[i] = v;
            }
            b
        }),
        // A run of random bytes over the first or the last KiB (where headers and a zip's
        // directory live).
        (any::<bool>(), 0..edge, prop::collection::vec(any::<u8>(), 1..64)).prop_map(move |(end, at, run)| {
            let mut b = s3.to_vec();
            let at = if end { n - 1 - at } else { at };
            for (k, v) in run.into_iter().enumerate() {
                if let Some(x) = b.get_mut(at + k) {
                    *x = v;
                }
            }
            b
        }),
        // A part of the file copied into another place (duplicated keys, entries, headers).
        (0..n, 0..n, 1usize..512).prop_map(move |(at, from, len)| {
            let mut b = s4.to_vec();
            let part = s4[from..(from + len).min(n)].to_vec();
            b.splice(at..at, part);
            b
        }),
        // A number of the text parts replaced (huge dimensions and lengths, NaN, inf), or a
        // token swapped (a dtype, a key).
        (
            any::<prop::sample::Index>(),
            prop::sample::select(NUMBERS),
            any::<prop::sample::Index>()
        )
            .prop_map(move |(which, number, swap)| {
                let b = s5.to_vec();
                if !swaps.is_empty() && which.index(3) == 0 {
                    let (from, to) = swaps[swap.index(swaps.len())];
                    return replace_nth(&b, from.as_bytes(), to.as_bytes(), which.index(8));
                }
                replace_number(&b, which, number)
            }),
        // Random bytes, and a valid prefix followed by random bytes.
        prop::collection::vec(any::<u8>(), 0..2048),
        (0..n, prop::collection::vec(any::<u8>(), 0..256)).prop_map(move |(cut, tail)| {
            let mut b = s6[..cut].to_vec();
            b.extend(tail);
            b
        }),
    ]
    .boxed()
}

/// `bytes` with the `k`-th occurrence (cyclically) of `from` replaced by `to`.
fn replace_nth(bytes: &[u8], from: &[u8], to: &[u8], k: usize) -> Vec<u8> {
    let hits: Vec<usize> = bytes
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from)
        .map(|(i, _)| i)
        .collect();
    let Some(&at) = hits.get(k % hits.len().max(1)) else {
        return bytes.to_vec();
    };
    [&bytes[..at], to, &bytes[at + from.len()..]].concat()
}

/// `bytes` with one run of ASCII digits (chosen by `which`) replaced by `number`.
fn replace_number(bytes: &[u8], which: prop::sample::Index, number: &str) -> Vec<u8> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((start, i));
        } else {
            i += 1;
        }
    }
    if runs.is_empty() {
        return bytes.to_vec();
    }
    let (a, b) = runs[which.index(runs.len())];
    [&bytes[..a], number.as_bytes(), &bytes[b..]].concat()
}

/// Run `check` on `cases` inputs from `strategy` (seeded: the same inputs every run); a panic or
/// a failed check fails the test with the smallest failing input proptest finds. Prints the count.
fn hammer(reader: &str, cases: u32, strategy: BoxedStrategy<Vec<u8>>, check: impl Fn(&[u8]) -> Result<Read, String>) {
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let read = std::cell::Cell::new(0u32);
    let refused = std::cell::Cell::new(0u32);
    let result = runner.run(&strategy, |bytes| {
        match check(&bytes).map_err(TestCaseError::fail)? {
            Read::Accepted => read.set(read.get() + 1),
            Read::Refused => refused.set(refused.get() + 1),
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{reader}: {e}");
    }
    let (read, refused) = (read.get(), refused.get());
    assert_eq!(read + refused, cases, "{reader}: every input is tried");
    // A reader that refuses everything would pass without reading anything: some mutations
    // (a bit flipped in a weight, a number changed in a text) must still read.
    assert!(read > 0, "{reader}: no input was read, so the check proves nothing");
    println!("hostile input: {reader}: {cases} inputs, {read} read, {refused} refused with a clear error, no panic");
}

/// What a reader made of an input.
enum Read {
    /// A correct result (a digit, a model with finite weights, a valid config).
    Accepted,
    /// A clear error.
    Refused,
}

/// An error is clear when it names what it read (`named`).
fn clear(e: &anyhow::Error, named: &str) -> Result<Read, String> {
    let text = format!("{e:#}");
    if text.contains(named) {
        Ok(Read::Refused)
    } else {
        Err(format!("the error does not name {named}: {text}"))
    }
}

/// Every parameter of `model` finite.
fn finite(model: &Cnn) -> bool {
    struct All(bool);
    impl ModuleVisitor for All {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0 &= p.val().into_data().iter::<f32>().all(f32::is_finite);
        }
    }
    let mut v = All(true);
    model.visit(&mut v);
    v.0
}

/// A file `name` holding `bytes` in a fresh folder.
fn file_with(name: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
}

/// A digit as `predict` reads it: a light stroke on black, encoded as `format`.
fn digit_file(side: u32, format: image::ImageFormat) -> Vec<u8> {
    let img = image::GrayImage::from_fn(side, side, |x, y| {
        let on = x.abs_diff(side / 2) < side / 10 && y > side / 5 && y < side * 4 / 5;
        image::Luma([if on { 230 } else { 10 }])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

#[test]
fn hostile_digit_images_give_a_digit_or_a_clear_error() {
    for (seed, format) in [
        (digit_file(28, image::ImageFormat::Png), "PNG"),
        (digit_file(40, image::ImageFormat::Jpeg), "JPEG"),
        (digit_file(28, image::ImageFormat::Bmp), "BMP"),
    ] {
        hammer(
            &format!("{format} images"),
            CASES / 3,
            mutations(seed, &[]),
            |bytes| match std::panic::catch_unwind(AssertUnwindSafe(|| decode_digit(bytes, Fit::Auto))) {
                Err(_) => Err("decode_digit panicked".into()),
                Ok(Ok(d)) if d.pixels.len() != 28 * 28 => Err(format!("{} pixels", d.pixels.len())),
                Ok(Ok(_)) => Ok(Read::Accepted),
                Ok(Err(e)) if format!("{e:#}").trim().is_empty() => Err("an empty error".into()),
                Ok(Err(_)) => Ok(Read::Refused),
            },
        );
    }
}

/// `mnist-cnn import`'s reader on `bytes` as a `kind` file in `layout`: an error naming the
/// file, or a model whose every weight is finite.
fn import_check(bytes: &[u8], name: &str, kind: FileKind, layout: Layout) -> Result<Read, String> {
    let (_dir, path) = file_with(name, bytes);
    let device = Device::flex();
    match std::panic::catch_unwind(AssertUnwindSafe(|| {
        mnist_cnn::exchange::import(&path, kind, layout, &device)
    })) {
        Err(_) => Err("import panicked".into()),
        Ok(Ok(model)) if !finite(&model) => Err("imported a model with non-finite weights".into()),
        Ok(Ok(_)) => Ok(Read::Accepted),
        Ok(Err(e)) => clear(&e, name),
    }
}

const SAFETENSORS_SWAPS: &[(&str, &str)] = &[
    ("F32", "F16"),
    ("F32", "I64"),
    ("F32", "BOOL"),
    ("F32", "XYZ"),
    ("\"shape\"", "\"shapes\""),
    ("data_offsets", "data_offset"),
    ("\"weight\"", "\"weigh\""),
];

#[test]
fn hostile_safetensors_files_import_or_say_what_is_wrong() {
    for (seed, layout) in [
        (fixture("torch_seed_cnn.safetensors"), Layout::Pytorch),
        (fixture("keras_seed_cnn.safetensors"), Layout::Keras),
    ] {
        let what = format!("safetensors files ({} layout)", layout.as_str());
        hammer(&what, CASES / 2, mutations(seed, SAFETENSORS_SWAPS), |bytes| {
            import_check(bytes, "weights.safetensors", FileKind::Safetensors, layout)
        });
    }
}

#[test]
fn hostile_pytorch_files_import_or_say_what_is_wrong() {
    const SWAPS: &[(&str, &str)] = &[
        ("FloatStorage", "HalfStorage"),
        ("FloatStorage", "LongStorage"),
        ("FloatStorage", "BogusStorage"),
        ("weight", "weigh"),
        ("data.pkl", "data.pkk"),
    ];
    hammer(
        "PyTorch files",
        CASES,
        mutations(fixture("torch_seed_cnn.pt"), SWAPS),
        |bytes| import_check(bytes, "weights.pt", FileKind::Pytorch, Layout::Pytorch),
    );
}

/// A model folder as `train` leaves it: `model.bpk` and `model.json`.
fn saved_model() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let model = gradlab::seeded(&device, 7, || Cnn::new(&device));
    mnist_cnn::inference::save_model(dir.path(), &model, &MnistConfig::default(), "mnist-5k").unwrap();
    dir
}

/// `eval`/`predict`'s model loader on a folder whose `file` holds `bytes` (the other file intact).
fn load_check(good: &Path, file: &str, bytes: &[u8]) -> Result<Read, String> {
    let dir = tempfile::tempdir().unwrap();
    for f in ["model.bpk", "model.json"] {
        std::fs::copy(good.join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(dir.path().join(file), bytes).unwrap();
    let device = Device::flex();
    match std::panic::catch_unwind(AssertUnwindSafe(|| {
        mnist_cnn::inference::load_model(dir.path(), &device)
    })) {
        Err(_) => Err("load_model panicked".into()),
        Ok(Ok(loaded)) if !finite(&loaded.model) => Err("loaded a model with non-finite weights".into()),
        Ok(Ok(_)) => Ok(Read::Accepted),
        Ok(Err(e)) => clear(&e, file),
    }
}

#[test]
fn hostile_model_files_load_or_say_what_is_wrong() {
    let good = saved_model();
    let bpk = std::fs::read(good.path().join("model.bpk")).unwrap();
    hammer("model.bpk files", CASES, mutations(bpk, &[]), |bytes| {
        load_check(good.path(), "model.bpk", bytes)
    });
    const SWAPS: &[(&str, &str)] = &[
        ("gradlab-mnist-cnn", "gradlab-sentiment"),
        ("\"format\"", "\"formats\""),
        ("\"config\"", "\"konfig\""),
        ("true", "\"yes\""),
        ("false", "null"),
        ("\"flex\"", "\"cuda\""),
    ];
    let json = std::fs::read(good.path().join("model.json")).unwrap();
    hammer("model.json files", CASES, mutations(json, SWAPS), |bytes| {
        load_check(good.path(), "model.json", bytes)
    });
}

#[test]
fn hostile_config_files_load_or_say_what_is_wrong() {
    const SWAPS: &[(&str, &str)] = &[
        ("true", "\"yes\""),
        ("false", "0"),
        ("=", "=="),
        ("backend", "backnd"),
        ("epochs", "[epochs]"),
        ("\"", "'''"),
    ];
    let seed = std::fs::read(gradlab::workspace_root().join("configs/mnist-cnn.toml")).unwrap();
    hammer("config files", CASES, mutations(seed, SWAPS), |bytes| {
        let (_dir, path) = file_with("run.toml", bytes);
        let loaded = std::panic::catch_unwind(AssertUnwindSafe(|| {
            gradlab::config::load_layers::<MnistConfig>(std::slice::from_ref(&path)).and_then(|c| c.validate())
        }));
        match loaded {
            Err(_) => Err("loading the config panicked".into()),
            Ok(Ok(())) => Ok(Read::Accepted),
            // A bad value is named by its key (validate), anything else by the file.
            Ok(Err(e)) if format!("{e:#}").contains("run.toml") || format!("{e:#}").contains('`') => Ok(Read::Refused),
            Ok(Err(e)) => Err(format!("the error names neither the file nor the key: {e:#}")),
        }
    });
}

/// The hammer itself can fail: a reader that mishandles truncated files (here, every strict
/// prefix of the seed) is found within its cases.
#[test]
fn the_hammer_finds_a_reader_that_breaks_on_truncated_files() {
    let seed: Vec<u8> = (0..=255u8).collect();
    let prefix = seed.clone();
    let found = std::panic::catch_unwind(move || {
        hammer("a reader that breaks on truncation", 200, mutations(seed, &[]), |b| {
            if b.len() < prefix.len() && prefix.starts_with(b) {
                Err("broke on a truncated file".into())
            } else {
                Ok(Read::Accepted)
            }
        })
    });
    assert!(
        found.is_err(),
        "the hammer missed a reader that breaks on every truncated file"
    );
}

/// Regression (found by `hostile_model_files_load_or_say_what_is_wrong`): a `model.bpk` whose
/// bits were flipped into a NaN or an infinity loaded, and `predict` answered with it. Now the
/// loader refuses it, naming the file.
#[test]
fn a_model_file_with_a_nan_weight_is_refused() {
    let good = saved_model();
    let device = Device::flex();
    let model = mnist_cnn::inference::load_model(good.path(), &device).unwrap().model;
    let poisoned = model.map(&mut Poison);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(good.path().join("model.json"), dir.path().join("model.json")).unwrap();
    gradlab::checkpoint::save_module(poisoned, &dir.path().join("model.bpk")).unwrap();
    let err = format!(
        "{:#}",
        mnist_cnn::inference::load_model(dir.path(), &device).unwrap_err()
    );
    assert!(err.contains("model.bpk") && err.contains("NaN or infinite"), "{err}");
}

/// Sets the first value of the first float parameter to NaN.
struct Poison;
impl burn::module::ModuleMapper for Poison {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        p.map(|t| {
            let shape = t.shape();
            let mut values: Vec<f32> = t.to_data().iter::<f32>().collect();
            values[0] = f32::NAN;
            Tensor::from_data(burn::tensor::TensorData::new(values, shape), &t.device())
        })
    }
}

/// Inputs from `strategy` that `check` refuses, up to `n` of them (the same ones every run).
fn refused(strategy: BoxedStrategy<Vec<u8>>, n: usize, check: impl Fn(&[u8]) -> Result<Read, String>) -> Vec<Vec<u8>> {
    use proptest::strategy::ValueTree;
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let mut out = Vec::new();
    for _ in 0..50 * n {
        let bytes = strategy.new_tree(&mut runner).unwrap().current();
        if matches!(check(&bytes), Ok(Read::Refused)) {
            out.push(bytes);
            if out.len() == n {
                break;
            }
        }
    }
    assert_eq!(out.len(), n, "too few refused inputs");
    out
}

/// Through the binary, a smaller set: each reader's refused inputs make `mnist-cnn` exit with 2
/// and one `error:` line naming the file, without a panic and without leaving a run folder.
#[test]
fn hostile_files_through_the_binary_exit_2_with_one_error_line_and_no_run_folder() {
    const PER_READER: usize = 6;
    let good = saved_model();
    let good_dir = good.path().display().to_string();
    let digit = digit_file(28, image::ImageFormat::Png);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("digit.png"), &digit).unwrap();
    let mut tried = 0;
    // (reader, the file's name, the inputs, the arguments around the file)
    type Args = fn(&str, &str) -> Vec<String>;
    let readers: Vec<(&str, &str, Vec<Vec<u8>>, Args)> = vec![
        (
            "images (predict --image)",
            "bad.png",
            refused(mutations(digit.clone(), &[]), PER_READER, |b| {
                Ok(if decode_digit(b, Fit::Auto).is_ok() {
                    Read::Accepted
                } else {
                    Read::Refused
                })
            }),
            |file, model| strings(&["predict", "--model", model, "--image", file]),
        ),
        (
            "safetensors files (import)",
            "bad.safetensors",
            refused(
                mutations(fixture("torch_seed_cnn.safetensors"), SAFETENSORS_SWAPS),
                PER_READER,
                |b| import_check(b, "weights.safetensors", FileKind::Safetensors, Layout::Pytorch),
            ),
            |file, _| strings(&["import", "--from", "safetensors", "--layout", "pytorch", file]),
        ),
        (
            "PyTorch files (import)",
            "bad.pt",
            refused(mutations(fixture("torch_seed_cnn.pt"), &[]), PER_READER, |b| {
                import_check(b, "weights.pt", FileKind::Pytorch, Layout::Pytorch)
            }),
            |file, _| strings(&["import", "--from", "pytorch", file]),
        ),
        (
            "config files (--config)",
            "bad.toml",
            refused(
                mutations(
                    std::fs::read(gradlab::workspace_root().join("configs/mnist-cnn.toml")).unwrap(),
                    &[],
                ),
                PER_READER,
                |b| {
                    let (_dir, path) = file_with("run.toml", b);
                    Ok(
                        match gradlab::config::load_layers::<MnistConfig>(std::slice::from_ref(&path))
                            .and_then(|c| c.validate())
                        {
                            Ok(()) => Read::Accepted,
                            Err(_) => Read::Refused,
                        },
                    )
                },
            ),
            |file, _| {
                strings(&[
                    "-c",
                    file,
                    "train",
                    "--epochs",
                    "1",
                    "--train-limit",
                    "64",
                    "--test-limit",
                    "32",
                ])
            },
        ),
    ];
    for (reader, name, inputs, args) in readers {
        for bytes in inputs {
            let file = work.path().join(name);
            std::fs::write(&file, &bytes).unwrap();
            let out = work.path().join("runs");
            let mut all = strings(&["--backend", "flex", "--out", &out.display().to_string()]);
            all.extend(args(&file.display().to_string(), &good_dir));
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_mnist-cnn"))
                .args(&all)
                .current_dir(work.path())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&o.stderr);
            let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
            assert_eq!(o.status.code(), Some(2), "{reader}: {all:?}\n{stderr}");
            assert_eq!(errors.len(), 1, "{reader}: one error line\n{stderr}");
            assert!(
                errors[0].contains(name),
                "{reader}: the error names the file: {}",
                errors[0]
            );
            assert!(!stderr.contains("panicked"), "{reader}:\n{stderr}");
            let runs: Vec<_> = std::fs::read_dir(&out)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| gradlab::runs::run_number(&e.file_name().to_string_lossy()).is_some())
                .collect();
            assert!(runs.is_empty(), "{reader}: a refused input left a run folder");
            tried += 1;
        }
    }
    println!("hostile input through mnist-cnn: {tried} refused files, each exit 2 with one error line");
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// A checkpoint folder as training leaves it after epoch 1: the model, the optimizer's state
/// after a real Adam step, and `checkpoint.json`.
fn saved_checkpoint() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex().autodiff();
    let model = gradlab::seeded(&device, 7, || Cnn::new(&device));
    let x = Tensor::<4>::ones([2, 1, 28, 28], &device).mul_scalar(0.5);
    let loss = model.forward(x).powi_scalar(2).mean();
    let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &model);
    let mut optim = mnist_cnn::training::optimizer(true);
    let model = optim.step(1e-3, model, grads);
    let state = serde_json::json!({"history": [{"epoch": 1, "train_loss": 2.2}], "config": {"epochs": 3}});
    gradlab::checkpoint::save_checkpoint(dir.path(), 1, model, &optim, state).unwrap();
    dir
}

/// `--resume`'s reader on a checkpoint folder whose `file` holds `bytes` (the others intact).
fn checkpoint_check(good: &Path, file: &str, bytes: &[u8]) -> Result<Read, String> {
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(good).unwrap().flatten() {
        std::fs::copy(f.path(), dir.path().join(f.file_name())).unwrap();
    }
    std::fs::write(dir.path().join(file), bytes).unwrap();
    let device = Device::flex().autodiff();
    let loaded = std::panic::catch_unwind(AssertUnwindSafe(|| {
        gradlab::checkpoint::load_checkpoint::<Cnn, serde_json::Value>(
            dir.path(),
            Cnn::new(&device),
            mnist_cnn::training::optimizer(true),
        )
    }));
    match loaded {
        Err(_) => Err("load_checkpoint panicked".into()),
        Ok(Ok((model, _, _))) if !finite(&model) => Err("loaded a model with non-finite weights".into()),
        Ok(Ok(_)) => Ok(Read::Accepted),
        Ok(Err(e)) => {
            let text = format!("{e:#}");
            // A bad index is named; so is the file it names that is bad.
            if text.contains(file) || text.contains("checkpoint.json") {
                Ok(Read::Refused)
            } else {
                Err(format!("the error names neither {file} nor checkpoint.json: {text}"))
            }
        }
    }
}

#[test]
fn hostile_checkpoints_resume_or_say_what_is_wrong() {
    let good = saved_checkpoint();
    const SWAPS: &[(&str, &str)] = &[
        ("model-e0001.bpk", "../model-e0001.bpk"),
        ("model-e0001.bpk", "/etc/passwd"),
        ("optim-e0001.bpk", "model-e0001.bpk"),
        ("optim-e0001.bpk", ".."),
        ("\"epoch\"", "\"epochs\""),
        ("\"state\"", "\"stat\""),
    ];
    let index = std::fs::read(good.path().join("checkpoint.json")).unwrap();
    hammer("checkpoint.json files", CASES / 2, mutations(index, SWAPS), |bytes| {
        checkpoint_check(good.path(), "checkpoint.json", bytes)
    });
    let optim = std::fs::read(good.path().join("optim-e0001.bpk")).unwrap();
    hammer("optimizer state files", CASES / 2, mutations(optim, &[]), |bytes| {
        checkpoint_check(good.path(), "optim-e0001.bpk", bytes)
    });
}

/// Regression (a path in `checkpoint.json`): the files a checkpoint names are read from its own
/// folder only; `../x` or `/etc/x` is refused, naming the index.
#[test]
fn a_checkpoint_naming_a_file_outside_its_folder_is_refused() {
    let good = saved_checkpoint();
    let index = std::fs::read_to_string(good.path().join("checkpoint.json")).unwrap();
    for evil in ["../model-e0001.bpk", "/etc/passwd", ".."] {
        let bytes = index.replacen("model-e0001.bpk", evil, 1);
        match checkpoint_check(good.path(), "checkpoint.json", bytes.as_bytes()) {
            Ok(Read::Refused) => {}
            _ => panic!("{evil}: not refused"),
        }
    }
}

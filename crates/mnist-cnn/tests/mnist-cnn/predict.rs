//! `predict --image` on real-world files: every format and failure a user's file can bring, and
//! MNIST-style normalisation of a digit that is not where MNIST puts it.

use crate::common;

use std::path::Path;
use std::process::Output;
use std::sync::OnceLock;

use burn::data::dataset::Dataset;
use common::{backend, small_config};
use gradlab::BackendName;
use gradlab_testkit::text;
use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, LumaA, Rgb};
use mnist_cnn::inference::predict;
use mnist_cnn::preprocess::{Fit, decode_digit};
use mnist_cnn::training::{TrainOptions, train};

fn mnist_cnn(args: &[&str], cwd: &Path) -> Output {
    gradlab_testkit::run(env!("CARGO_BIN_EXE_mnist-cnn"), args, cwd, None)
}

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A test digit as a light-on-dark 28×28 image.
fn digit(pixels: &[u8]) -> ImageBuffer<Luma<u8>, Vec<u8>> {
    ImageBuffer::from_raw(28, 28, pixels.to_vec()).unwrap()
}

/// A model trained once for this file's tests: the whole mnist-5k training split, one epoch
/// (about 94 % on its test split), in a folder that lives as long as the test process.
fn trained() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let cfg = small_config(BackendName::Flex, 0, 0, dir.path());
        let splits = mnist_cnn::data::load(&cfg).unwrap();
        let run = train(&cfg, &backend(BackendName::Flex), &splits, &TrainOptions::default()).unwrap();
        assert!(run.test.accuracy > 0.9, "{}", run.test.accuracy);
        dir
    })
    .path()
}

#[test]
fn every_kind_of_bad_file_is_a_clear_error_and_odd_files_a_stated_conversion() {
    let model = trained().join("run-001");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let predict_file = |name: &str, bytes: &[u8]| {
        std::fs::write(d.join(name), bytes).unwrap();
        let m = model.display().to_string();
        mnist_cnn(&["--backend", "flex", "predict", "--model", &m, "--image", name], d)
    };
    let refused = |name: &str, bytes: &[u8], needle: &str| {
        let o = predict_file(name, bytes);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{name} must be refused:\n{t}");
        assert!(!t.contains("panicked"), "{name}:\n{t}");
        assert!(
            t.contains(name) && t.contains(needle),
            "{name}: expected `{needle}` in:\n{t}"
        );
    };
    refused("empty.png", b"", "the file is empty");
    refused("notes.txt", b"my favourite digit is 7\n", "not an image");
    // The header ends the file: no pixel data, not even the whitespace after maxval.
    refused("header-only.pgm", b"P5 28 28 255", "not a readable PNM image");
    refused(
        "truncated.pgm",
        b"P5 28 28 255\n\x00\x10\x20",
        "not a readable PNM image",
    );
    // w·h overflows 32 and 64 bits' worth of pixels: refused before any pixel is decoded.
    refused(
        "huge.pgm",
        b"P5 4294967295 4294967295 255\n\x00",
        "over the limit of 40000000 pixels",
    );
    refused("wide.pgm", b"P5 100000 1000 255\n\x00", "over the limit");

    // A black digit drawn on a transparent background: composited onto white, then inverted.
    let test = mnist_cnn::data::load(&small_config(BackendName::Flex, 0, 0, d))
        .unwrap()
        .test;
    let item = test.get(0).unwrap();
    let rgba = DynamicImage::ImageLumaA8(ImageBuffer::from_fn(56, 56, |x, y| {
        let v = item.pixels[(y / 2 * 28 + x / 2) as usize];
        LumaA([0, v])
    }));
    let o = predict_file("transparent.png", &encode(rgba, ImageFormat::Png));
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("transparent pixels composited onto white"), "{t}");
    assert!(t.contains("inverted (dark digit on a light background)"), "{t}");
    assert!(t.contains("normalised like MNIST"), "{t}");
    assert!(t.contains(&format!("predicted digit: {}", item.label)), "{t}");

    // A colour JPEG of a dark-red digit on cream paper.
    let jpeg = DynamicImage::ImageRgb8(ImageBuffer::from_fn(84, 84, |x, y| {
        let v = item.pixels[(y / 3 * 28 + x / 3) as usize] as f32 / 255.0;
        let mix = |paper: f32, ink: f32| (paper * (1.0 - v) + ink * v) as u8;
        Rgb([mix(250.0, 120.0), mix(240.0, 10.0), mix(220.0, 10.0)])
    }));
    let o = predict_file("colour.jpg", &encode(jpeg, ImageFormat::Jpeg));
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("inverted") && t.contains(&format!("predicted digit: {}", item.label)),
        "{t}"
    );

    // A blank page is not a digit: said on stderr, not classified silently.
    let blank = DynamicImage::ImageLuma8(ImageBuffer::from_pixel(40, 40, Luma([200u8])));
    let o = predict_file("blank.png", &encode(blank, ImageFormat::Png));
    assert!(
        text(&o).contains("warning: blank.png: the image has no clear light/dark separation"),
        "{}",
        text(&o)
    );
}

/// An MNIST test digit scaled 2× and moved to the corner of a larger canvas, as a photo or a
/// scan puts it: MNIST's normalisation gives the model the digit as MNIST drew it, so it is
/// classified as the original is; squeezing the whole canvas to 28×28 (`--fit resize`) is not.
#[test]
fn a_shifted_scaled_digit_is_classified_as_the_original_only_after_normalisation() {
    let dir = trained();
    let device = backend(BackendName::Flex).device;
    let loaded = mnist_cnn::inference::load_model(&dir.join("run-001"), &device).unwrap();
    let test = mnist_cnn::data::load(&loaded.info.config).unwrap().test;
    let best = |pixels: &[u8]| {
        let p = predict(&loaded.model, pixels, &device).unwrap();
        (0..10).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap()
    };
    let (mut same_normalised, mut same_resized, mut n) = (0, 0, 0);
    for i in 0..40 {
        let item = test.get(i * 7).unwrap();
        let original = best(&item.pixels);
        let big = image::imageops::resize(&digit(&item.pixels), 56, 56, image::imageops::FilterType::Triangle);
        let mut canvas = ImageBuffer::from_pixel(160, 120, Luma([0u8]));
        image::imageops::overlay(&mut canvas, &big, 4, 6);
        let png = encode(DynamicImage::ImageLuma8(canvas), ImageFormat::Png);
        let normalised = decode_digit(&png, Fit::Auto).unwrap();
        let resized = decode_digit(&png, Fit::Resize).unwrap();
        same_normalised += (best(&normalised.pixels) == original) as usize;
        same_resized += (best(&resized.pixels) == original) as usize;
        n += 1;
    }
    assert!(
        same_normalised * 10 >= n * 9,
        "normalised: {same_normalised} of {n} classified as the original"
    );
    assert!(
        same_resized * 2 <= n,
        "plain resize: {same_resized} of {n} classified as the original (expected it to fail most)"
    );
}

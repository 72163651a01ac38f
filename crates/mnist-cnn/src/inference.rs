//! Using a trained model: loading it, evaluating it on a data set (accuracy, loss, confusion
//! matrix) and classifying one image (PNG or PGM file, or an index into the test set).

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use gradlab::report::ConfusionMatrix;
use serde::Serialize;

use crate::data::{MnistBatcher, MnistItem, PIXELS};
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

/// Load a model saved by `train` onto `device`.
pub fn load_model(path: &Path, device: &Device) -> Result<Cnn> {
    gradlab::checkpoint::load_module(Cnn::new(device), path)
}

/// Evaluate `model` on `data` without gradients (the model is moved to validation mode).
pub fn evaluate<D>(model: &Cnn, data: D, batch_size: usize, device: &Device) -> Result<EvalResult>
where
    D: Dataset<MnistItem> + 'static,
{
    let device = device.clone().without_autodiff();
    let model = model.valid();
    let loader = DataLoaderBuilder::new(MnistBatcher)
        .batch_size(batch_size)
        .set_device(device.clone())
        .build(data);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut confusion = ConfusionMatrix::new(NUM_CLASSES);
    let mut loss_sum = 0.0f64;
    let mut count = 0usize;
    for batch in loader.iter() {
        let batch = batch.context("loading an evaluation batch")?;
        let n = batch.targets.dims()[0];
        let logits = model.forward(batch.images);
        let loss = loss_fn.forward(logits.clone(), batch.targets.clone());
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

/// Class probabilities for one 28×28 image (pixels 0–255, white digit on black).
pub fn predict(model: &Cnn, pixels: &[u8], device: &Device) -> Result<[f32; NUM_CLASSES]> {
    ensure!(pixels.len() == PIXELS, "expected {PIXELS} pixels, got {}", pixels.len());
    let device = device.clone().without_autodiff();
    let x: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let images = Tensor::<4>::from_data(TensorData::new(x, [1, 1, IMAGE_SIDE, IMAGE_SIDE]), &device);
    let probs = softmax(model.valid().forward(images), 1).into_data();
    let mut out = [0f32; NUM_CLASSES];
    for (o, p) in out.iter_mut().zip(probs.iter::<f32>()) {
        *o = p;
    }
    Ok(out)
}

/// A digit image read from disk and brought to MNIST's form.
#[derive(Debug, Clone)]
pub struct DigitImage {
    /// 784 pixels, white digit on black.
    pub pixels: Vec<u8>,
    /// What was done to the image on the way (resized, inverted).
    pub notes: Vec<String>,
}

/// Read a PNG or PGM (P2/P5) image, convert it to 8-bit grey, resize it to 28×28 (bilinear)
/// when needed, and invert it when it is dark-on-light (MNIST digits are light-on-dark).
pub fn read_digit_image(path: &Path) -> Result<DigitImage> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read image {}", path.display()))?;
    let (w, h, grey) = if bytes.starts_with(b"\x89PNG") {
        decode_png(&bytes).with_context(|| format!("{}: not a readable PNG", path.display()))?
    } else if bytes.starts_with(b"P5") || bytes.starts_with(b"P2") {
        decode_pgm(&bytes).with_context(|| format!("{}: not a readable PGM", path.display()))?
    } else {
        bail!("{}: not a PNG or PGM image (unrecognised header)", path.display());
    };
    let mut notes = Vec::new();
    let mut pixels = if (w, h) == (IMAGE_SIDE, IMAGE_SIDE) {
        grey
    } else {
        notes.push(format!("resized from {w}×{h} to 28×28"));
        resize_bilinear(&grey, w, h, IMAGE_SIDE, IMAGE_SIDE)
    };
    let mean = pixels.iter().map(|&p| p as f64).sum::<f64>() / pixels.len() as f64;
    if mean > 127.0 {
        notes.push("inverted (dark digit on a light background)".into());
        for p in &mut pixels {
            *p = 255 - *p;
        }
    }
    Ok(DigitImage { pixels, notes })
}

fn decode_png(bytes: &[u8]) -> Result<(usize, usize, Vec<u8>)> {
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf)?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let buf = &buf[..info.buffer_size()];
    let grey = buf
        .chunks(channels)
        .map(|px| match px.len() {
            1 | 2 => px[0],
            _ => ((px[0] as u32 * 299 + px[1] as u32 * 587 + px[2] as u32 * 114) / 1000) as u8,
        })
        .collect();
    Ok((w, h, grey))
}

fn decode_pgm(bytes: &[u8]) -> Result<(usize, usize, Vec<u8>)> {
    // Header: magic, width, height, maxval, separated by whitespace; `#` starts a comment.
    let mut fields = Vec::new();
    let mut i = 2;
    while fields.len() < 3 {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        ensure!(start < i, "truncated header");
        let text = std::str::from_utf8(&bytes[start..i])?;
        fields.push(
            text.parse::<usize>()
                .with_context(|| format!("bad header field `{text}`"))?,
        );
    }
    let (w, h, max) = (fields[0], fields[1], fields[2]);
    ensure!(
        w > 0 && h > 0 && (1..=255).contains(&max),
        "unsupported size {w}×{h} or maxval {max}"
    );
    let scale = |v: usize| ((v.min(max) * 255) / max) as u8;
    let grey: Vec<u8> = if bytes.starts_with(b"P5") {
        let body = &bytes[i + 1..];
        ensure!(body.len() >= w * h, "truncated: {} of {} pixels", body.len(), w * h);
        body[..w * h].iter().map(|&v| scale(v as usize)).collect()
    } else {
        let values: Result<Vec<u8>> = std::str::from_utf8(&bytes[i..])?
            .split_ascii_whitespace()
            .take(w * h)
            .map(|t| Ok(scale(t.parse::<usize>().with_context(|| format!("bad pixel `{t}`"))?)))
            .collect();
        let values = values?;
        ensure!(values.len() == w * h, "truncated: {} of {} pixels", values.len(), w * h);
        values
    };
    Ok((w, h, grey))
}

fn resize_bilinear(src: &[u8], w: usize, h: usize, nw: usize, nh: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(nw * nh);
    for y in 0..nh {
        let fy = ((y as f64 + 0.5) * h as f64 / nh as f64 - 0.5).clamp(0.0, (h - 1) as f64);
        let (y0, ty) = (fy.floor() as usize, fy - fy.floor());
        let y1 = (y0 + 1).min(h - 1);
        for x in 0..nw {
            let fx = ((x as f64 + 0.5) * w as f64 / nw as f64 - 0.5).clamp(0.0, (w - 1) as f64);
            let (x0, tx) = (fx.floor() as usize, fx - fx.floor());
            let x1 = (x0 + 1).min(w - 1);
            let p = |yy: usize, xx: usize| src[yy * w + xx] as f64;
            let v = p(y0, x0) * (1.0 - tx) * (1.0 - ty)
                + p(y0, x1) * tx * (1.0 - ty)
                + p(y1, x0) * (1.0 - tx) * ty
                + p(y1, x1) * tx * ty;
            out.push(v.round() as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgm_ascii_and_binary_with_comments() {
        let dir = tempfile::tempdir().unwrap();
        let ascii = dir.path().join("a.pgm");
        let mut text = String::from("P2\n# a comment\n28 28\n255\n");
        for i in 0..PIXELS {
            text.push_str(&format!("{} ", if i % 2 == 0 { 0 } else { 200 }));
        }
        std::fs::write(&ascii, text).unwrap();
        let img = read_digit_image(&ascii).unwrap();
        assert_eq!(img.pixels.len(), PIXELS);
        assert_eq!((img.pixels[0], img.pixels[1]), (0, 200));
        assert!(img.notes.is_empty());

        let bin = dir.path().join("b.pgm");
        let mut bytes = b"P5 56 56 255\n".to_vec();
        bytes.extend(std::iter::repeat_n(250u8, 56 * 56));
        std::fs::write(&bin, bytes).unwrap();
        let img = read_digit_image(&bin).unwrap();
        assert_eq!(img.pixels.len(), PIXELS);
        assert_eq!(img.notes.len(), 2, "{:?}", img.notes); // resized and inverted
        assert!(img.pixels.iter().all(|&p| p == 5));
    }

    #[test]
    fn bad_images_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jpg");
        std::fs::write(&p, b"\xff\xd8\xff").unwrap();
        let err = format!("{:#}", read_digit_image(&p).unwrap_err());
        assert!(err.contains("x.jpg") && err.contains("not a PNG or PGM"), "{err}");
        let p = dir.path().join("t.pgm");
        std::fs::write(&p, b"P5 28 28 255\n\x00\x00").unwrap();
        let err = format!("{:#}", read_digit_image(&p).unwrap_err());
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn png_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.png");
        let file = std::fs::File::create(&p).unwrap();
        let mut enc = png::Encoder::new(file, 28, 28);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let data: Vec<u8> = (0..PIXELS).map(|i| (i % 100) as u8).collect();
        enc.write_header().unwrap().write_image_data(&data).unwrap();
        let img = read_digit_image(&p).unwrap();
        assert_eq!(img.pixels, data);
    }
}

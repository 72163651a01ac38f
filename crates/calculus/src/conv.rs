//! The seed's hand-written valid convolution (cross-correlation, as deep-learning frameworks
//! define it: the kernel is not flipped) against burn's `conv2d`, and the gradient of the
//! output's sum with respect to the kernel, by hand and by autodiff:
//! ∂(Σᵢⱼ outᵢⱼ)/∂K[u][v] = Σᵢⱼ image[i + u][j + v].

use std::path::Path;

use anyhow::{Result, bail};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use gradlab::data::digits_csv::{self, PIXELS};

use crate::common::max_abs_diff;
use crate::plot;
use crate::report::Context;

/// The Sobel-X kernel (responds to vertical edges).
pub const SOBEL_X: [[f64; 3]; 3] = [[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]];

/// A row-major image.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// Values, row-major.
    pub px: Vec<f64>,
}

impl Image {
    /// Value at (row, column).
    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.px[i * self.w + j]
    }
}

/// The seed's 10×10 example: dark left half, bright right half (one vertical edge), with a
/// bright diagonal stroke so that not every row is the same.
pub fn example_image() -> Image {
    let px = (0..100)
        .map(|k| {
            let (i, j) = (k / 10, k % 10);
            if i == j {
                1.0
            } else if j >= 5 {
                0.8
            } else {
                0.0
            }
        })
        .collect();
    Image { h: 10, w: 10, px }
}

// ANCHOR: correlate
/// Valid cross-correlation by hand: out[i][j] = Σᵤᵥ image[i + u][j + v] · K[u][v].
pub fn correlate(image: &Image, k: &[[f64; 3]; 3]) -> Image {
    let (h, w) = (image.h - 2, image.w - 2);
    let mut px = vec![0.0; h * w];
    for i in 0..h {
        for j in 0..w {
            px[i * w + j] = (0..3)
                .flat_map(|u| (0..3).map(move |v| (u, v)))
                .map(|(u, v)| image.at(i + u, j + v) * k[u][v])
                .sum();
        }
    }
    Image { h, w, px }
}
// ANCHOR_END: correlate

// ANCHOR: kernel_gradient
/// ∂(Σ out)/∂K by hand: each kernel weight meets every pixel of a (h−2)×(w−2) window.
pub fn kernel_gradient(image: &Image) -> [[f64; 3]; 3] {
    let mut g = [[0.0; 3]; 3];
    for (u, row) in g.iter_mut().enumerate() {
        for (v, cell) in row.iter_mut().enumerate() {
            *cell = (0..image.h - 2)
                .flat_map(|i| (0..image.w - 2).map(move |j| (i, j)))
                .map(|(i, j)| image.at(i + u, j + v))
                .sum();
        }
    }
    g
}
// ANCHOR_END: kernel_gradient

// ANCHOR: burn_conv
/// burn's conv2d of the image with `k`, and ∂(Σ out)/∂K by autodiff.
pub fn burn_conv(device: &Device, image: &Image, k: &[[f64; 3]; 3]) -> (Image, [[f64; 3]; 3]) {
    let ad = device.clone().autodiff();
    let x: Vec<f32> = image.px.iter().map(|&v| v as f32).collect();
    let x = Tensor::<4>::from_data(TensorData::new(x, [1, 1, image.h, image.w]), &ad);
    let kv: Vec<f32> = k.iter().flatten().map(|&v| v as f32).collect();
    let kt = Tensor::<4>::from_data(TensorData::new(kv, [1, 1, 3, 3]), &ad).require_grad();
    let out = conv2d(x, kt.clone(), None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1)); // [1, 1, h-2, w-2]
    let grads = out.clone().sum().backward();
    let g: Vec<f64> = kt
        .grad(&grads)
        .expect("kernel takes part")
        .into_data()
        .iter::<f64>()
        .collect();
    let px: Vec<f64> = out.into_data().iter::<f64>().collect();
    let mut gk = [[0.0; 3]; 3];
    gk.iter_mut().flatten().zip(g).for_each(|(d, s)| *d = s);
    (
        Image {
            h: image.h - 2,
            w: image.w - 2,
            px,
        },
        gk,
    )
}
// ANCHOR_END: burn_conv

/// Print the 10×10 example's convolution by hand against burn's and its kernel gradient both
/// ways, then the same for a real mnist-5k digit (the `index`-th of class `digit`, read from
/// `data_dir`); draw `conv2d.svg` (the images as heat maps).
pub fn report(ctx: &Context, data_dir: &Path, digit: usize, index: usize) -> Result<()> {
    let img = example_image();
    let hand = correlate(&img, &SOBEL_X);
    let (burn_out, burn_grad) = burn_conv(ctx.device, &img, &SOBEL_X);
    let hand_grad = kernel_gradient(&img);
    let diff = max_abs_diff(&hand.px, &burn_out.px);
    println!("10×10 image ⋆ Sobel-X (valid, 8×8 output): largest |hand − burn conv2d| = {diff:.2e}");
    println!(
        "output row 0 (hand): {:?}",
        &hand.px[..8]
            .iter()
            .map(|v| (v * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
    println!(
        "∂(Σ out)/∂K by hand:     {:?}",
        hand_grad.map(|r| r.map(|v| (v * 1e4).round() / 1e4))
    );
    println!(
        "∂(Σ out)/∂K by autodiff: {:?}",
        burn_grad.map(|r| r.map(|v| (v * 1e4).round() / 1e4))
    );
    let (real, label, at) = mnist_digit(data_dir, digit, index)?;
    let edges = burn_conv(ctx.device, &real, &SOBEL_X).0;
    let diff_real = max_abs_diff(&correlate(&real, &SOBEL_X).px, &edges.px);
    println!(
        "mnist-5k digit: a {label} (image {at} of the file, the {} of its class): 26×26 edges, largest |hand − burn| = {diff_real:.2e}",
        ordinal(index + 1)
    );
    ctx.plot("conv2d.svg", |p| {
        let kernel = Image {
            h: 3,
            w: 3,
            px: SOBEL_X.iter().flatten().copied().collect(),
        };
        plot::heatmaps(
            p,
            "valid convolution with Sobel-X",
            &[
                ("input 10×10", &img),
                ("kernel", &kernel),
                ("output 8×8", &burn_out),
                (&format!("digit {label} (image {at})"), &real),
                ("its vertical edges", &edges),
            ],
        )
    })
}

/// The `index`-th image of class `digit` (0 = the first in the file) of mnist-5k under
/// `data_dir`, scaled to [0, 1]; with its label and its place in the file.
fn mnist_digit(data_dir: &Path, digit: usize, index: usize) -> Result<(Image, u8, usize)> {
    let file = digits_csv::find(&data_dir.join("mnist-5k/mnist_5k.csv.gz"));
    let (pixels, labels) = digits_csv::read_file(&file)?;
    if digit > 9 {
        bail!("--digit {digit} is out of range: a digit class is 0 to 9");
    }
    let of_class: Vec<usize> = (0..labels.len()).filter(|&i| usize::from(labels[i]) == digit).collect();
    let Some(&at) = of_class.get(index) else {
        bail!(
            "--index {index} is out of range: {} holds {} of digit {digit} (allowed 0 ..= {})",
            file.describe(),
            gradlab::count(of_class.len(), "image"),
            of_class.len().saturating_sub(1)
        );
    };
    let image = Image {
        h: 28,
        w: 28,
        px: pixels[at * PIXELS..(at + 1) * PIXELS]
            .iter()
            .map(|&p| p as f64 / 255.0)
            .collect(),
    };
    Ok((image, labels[at], at))
}

/// 1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, 21st, …
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

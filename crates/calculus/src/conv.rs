//! The seed's hand-written valid convolution (cross-correlation, as deep-learning frameworks
//! define it: the kernel is not flipped) against burn's `conv2d`, and the gradient of the
//! output's sum with respect to the kernel, by hand and by autodiff:
//! ∂(Σᵢⱼ outᵢⱼ)/∂K[u][v] = Σᵢⱼ image[i + u][j + v].

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

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

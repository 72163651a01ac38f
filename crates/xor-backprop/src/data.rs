//! The data: XOR's truth table as the seed writes it, one row per example, with a constant 1
//! as the third input (the seed's bias trick), in plain `f64` and as burn tensors.

use burn::tensor::{DType, Device, Tensor, TensorData};

/// The four XOR inputs, with a constant 1 as the third column (the seed's bias trick).
pub const X: [[f64; 3]; 4] = [[0., 0., 1.], [0., 1., 1.], [1., 0., 1.], [1., 1., 1.]];
/// XOR of the first two columns.
pub const Y: [f64; 4] = [0., 1., 1., 0.];

/// `values` as a tensor of `dtype` on `device`.
pub(crate) fn tensor<const D: usize>(values: Vec<f64>, shape: [usize; D], device: &Device, dtype: DType) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape).convert_dtype(dtype), (device, dtype))
}

/// The XOR inputs and targets as tensors.
///
/// # Shapes
/// - returns: (`[4, 3]`, `[4, 1]`)
pub fn tensors(device: &Device, dtype: DType) -> (Tensor<2>, Tensor<2>) {
    (
        tensor(X.iter().flatten().copied().collect(), [4, 3], device, dtype),
        tensor(Y.to_vec(), [4, 1], device, dtype),
    )
}

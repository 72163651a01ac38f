//! The one call into the `gemm` crate (the packed, SIMD, multi-threaded GEMM that burn-flex
//! itself uses), behind a safe interface.
//!
//! A matrix is a slice plus its shape and its row and column strides (in elements). Every
//! element a view can reach is checked to lie inside its slice before `gemm::gemm` runs, and the
//! destination is a `&mut` slice, so it cannot alias an operand.

use crate::kernels::Real;

/// A read-only strided matrix view.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    /// Elements between consecutive rows.
    pub row_stride: usize,
    /// Elements between consecutive columns.
    pub col_stride: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose (a view: no copy).
    pub fn t(self) -> Self {
        Mat {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    fn assert_in_bounds(&self, what: &str) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride;
            assert!(
                last < self.data.len(),
                "{what}: a {}×{} view with strides ({}, {}) reaches element {last}, past a slice of {}",
                self.rows,
                self.cols,
                self.row_stride,
                self.col_stride,
                self.data.len()
            );
        }
    }
}

/// `dst = A·B` (or `dst += A·B` with `accumulate`), `dst` row-major `A.rows × B.cols`.
///
/// `parallel` lets gemm split the product over rayon's threads; callers that already run on
/// several threads pass `false`.
///
/// # Panics
/// If the inner dimensions differ, `dst` has the wrong length, or a view reaches past its slice.
pub fn matmul<T: Real>(dst: &mut [T], a: Mat<'_, T>, b: Mat<'_, T>, accumulate: bool, parallel: bool) {
    assert_eq!(
        a.cols, b.rows,
        "matmul: inner dimensions {} and {} differ",
        a.cols, b.rows
    );
    let (m, n, k) = (a.rows, b.cols, a.cols);
    assert_eq!(
        dst.len(),
        m * n,
        "matmul: destination holds {} elements, not {m}×{n}",
        dst.len()
    );
    a.assert_in_bounds("matmul lhs");
    b.assert_in_bounds("matmul rhs");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(T::ZERO);
        }
        return;
    }
    let parallelism = if parallel && m * n * k >= 64 * 64 * 64 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: every index gemm forms is `i·rs + j·cs` with i < rows and j < cols of the view it
    // reads, all checked above to be inside the slice; `dst` is exclusively borrowed, m×n,
    // row-major; strides are non-negative and fit in isize because the slices exist.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            parallelism,
        );
    }
}

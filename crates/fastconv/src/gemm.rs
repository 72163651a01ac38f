//! The one call into the `gemm` crate (the packed, SIMD, multi-threaded GEMM that burn-flex
//! itself uses), behind a safe interface that is sound for any caller.
//!
//! A [`Mat`] is a slice plus its shape and its row and column strides (in elements). Its fields
//! are private and its constructors check, with overflow-checked arithmetic, that every element
//! the view can reach lies inside its slice and that the strides fit in `isize` (the type the
//! `gemm` crate takes); a view that fails is refused with a [`GemmError`], whatever the sizes.
//! [`matmul`] then checks the shapes against each other and the destination (again without
//! wrapping arithmetic) before `gemm::gemm` runs, and the destination is a `&mut` slice, so it
//! cannot alias an operand.

use std::fmt;

use crate::kernels::Real;

/// Why a view or a product was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GemmError {
    /// A view would reach past its slice (or its extent does not fit in `usize`).
    OutOfBounds {
        /// Rows of the view.
        rows: usize,
        /// Columns of the view.
        cols: usize,
        /// Elements between rows.
        row_stride: usize,
        /// Elements between columns.
        col_stride: usize,
        /// Length of the slice.
        len: usize,
    },
    /// A stride does not fit in `isize`.
    StrideTooLarge(usize),
    /// `A.cols != B.rows`.
    InnerDimensions(usize, usize),
    /// The destination does not hold `m × n` elements (or `m × n` overflows).
    Destination {
        /// Rows of the product.
        m: usize,
        /// Columns of the product.
        n: usize,
        /// Length of the destination slice.
        len: usize,
    },
}

impl fmt::Display for GemmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            GemmError::OutOfBounds {
                rows,
                cols,
                row_stride,
                col_stride,
                len,
            } => write!(
                f,
                "a {rows}×{cols} view with strides ({row_stride}, {col_stride}) reaches past a slice of {len}"
            ),
            GemmError::StrideTooLarge(s) => write!(f, "stride {s} does not fit in isize"),
            GemmError::InnerDimensions(a, b) => write!(f, "matmul: inner dimensions {a} and {b} differ"),
            GemmError::Destination { m, n, len } => {
                write!(f, "matmul: destination holds {len} elements, not {m}×{n}")
            }
        }
    }
}

impl std::error::Error for GemmError {}

/// A read-only strided matrix view, checked to lie inside its slice when it was made.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A `rows × cols` view of `data` whose element `(i, j)` is `data[i·row_stride +
    /// j·col_stride]`. Refused when a stride exceeds `isize::MAX` or when the last element
    /// (computed without wrapping) is not inside `data`.
    pub fn new(
        data: &'a [T],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, GemmError> {
        for s in [row_stride, col_stride] {
            if isize::try_from(s).is_err() {
                return Err(GemmError::StrideTooLarge(s));
            }
        }
        if rows > 0 && cols > 0 {
            let last = (rows - 1)
                .checked_mul(row_stride)
                .and_then(|r| (cols - 1).checked_mul(col_stride).and_then(|c| r.checked_add(c)));
            if !matches!(last, Some(last) if last < data.len()) {
                return Err(GemmError::OutOfBounds {
                    rows,
                    cols,
                    row_stride,
                    col_stride,
                    len: data.len(),
                });
            }
        }
        Ok(Mat {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        })
    }

    /// A row-major `rows × cols` view (`row_stride = cols`, `col_stride = 1`).
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Result<Self, GemmError> {
        Mat::new(data, rows, cols, cols, 1)
    }

    /// The transpose (a view of the same elements: no copy, still in bounds).
    pub fn t(self) -> Self {
        Mat {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// `dst = A·B` (or `dst += A·B` with `accumulate`), `dst` row-major `A.rows × B.cols`.
///
/// `parallel` lets gemm split the product over rayon's threads; callers that already run on
/// several threads pass `false`. Refused (nothing written) when the inner dimensions differ or
/// `dst` does not hold exactly `A.rows × B.cols` elements.
pub fn matmul<T: Real>(
    dst: &mut [T],
    a: Mat<'_, T>,
    b: Mat<'_, T>,
    accumulate: bool,
    parallel: bool,
) -> Result<(), GemmError> {
    if a.cols != b.rows {
        return Err(GemmError::InnerDimensions(a.cols, b.rows));
    }
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m.checked_mul(n) != Some(dst.len()) {
        return Err(GemmError::Destination { m, n, len: dst.len() });
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            dst.fill(T::ZERO);
        }
        return Ok(());
    }
    let parallelism = if parallel && dst.len().saturating_mul(k) >= 64 * 64 * 64 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `a` and `b` were checked when made (`Mat::new`; `t` keeps the same set of
    // elements): every index gemm forms is `i·rs + j·cs` with i < rows and j < cols of the view
    // it reads, at most the view's last element, which lies inside its slice; all strides fit
    // in isize. `dst` is exclusively borrowed and holds exactly m·n elements (checked above),
    // row-major, so its row stride `n` ≤ `dst.len()` fits in isize too.
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_that_reach_past_their_slice_or_overflow_are_refused() {
        let data = [1.0f32; 6];
        assert!(Mat::row_major(&data, 2, 3).is_ok());
        assert!(Mat::row_major(&data, 3, 3).is_err());
        assert!(Mat::new(&data, 2, 3, 3, 1).is_ok());
        assert!(Mat::new(&data, 2, 3, 4, 1).is_err()); // last = 4 + 2 = 6, past 6
        // (rows − 1)·row_stride wraps to a small number in a release build without checks.
        assert!(matches!(
            Mat::new(&data, 3, 1, usize::MAX / 2 + 1, 1),
            Err(GemmError::StrideTooLarge(_))
        ));
        let wraps = (usize::MAX / 4) + 1; // 4·wraps = 2^64 ≡ 0
        assert!(matches!(
            Mat::new(&data, 5, 1, wraps, 1),
            Err(GemmError::OutOfBounds { .. })
        ));
        assert!(Mat::new(&data, 1, 5, 0, wraps).is_err());
        assert!(Mat::row_major(&data, usize::MAX, usize::MAX).is_err());
        assert!(matches!(
            Mat::new(&data, 1, 1, isize::MAX as usize + 1, 0),
            Err(GemmError::StrideTooLarge(_))
        ));
        // Empty views are fine whatever their other dimension (nothing can be read).
        assert!(Mat::row_major(&data, 0, 1_000_000).is_ok());
        assert!(Mat::<f32>::row_major(&[], 7, 0).is_ok());
    }

    #[test]
    fn products_with_mismatched_or_overflowing_shapes_are_refused() {
        let a = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
        let b = [1.0f64, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3×2
        let mut dst = [0.0f64; 4];
        matmul(
            &mut dst,
            Mat::row_major(&a, 2, 3).unwrap(),
            Mat::row_major(&b, 3, 2).unwrap(),
            false,
            false,
        )
        .unwrap();
        assert_eq!(dst, [4.0, 5.0, 10.0, 11.0]);
        let err = matmul(
            &mut dst,
            Mat::row_major(&a, 2, 3).unwrap(),
            Mat::row_major(&a, 2, 3).unwrap(),
            false,
            false,
        );
        assert_eq!(err, Err(GemmError::InnerDimensions(3, 2)));
        let mut short = [0.0f64; 3];
        let err = matmul(
            &mut short,
            Mat::row_major(&a, 2, 3).unwrap(),
            Mat::row_major(&b, 3, 2).unwrap(),
            false,
            false,
        );
        assert!(matches!(err, Err(GemmError::Destination { m: 2, n: 2, len: 3 })));
        // m·n overflows: an empty-by-huge view pair whose product would wrap to dst.len() = 0.
        let huge = usize::MAX / 2 + 1; // huge·2 wraps to 0
        let left = Mat::<f64>::new(&[], huge, 0, 0, 0).unwrap();
        let right = Mat::<f64>::new(&[], 0, 2, 0, 0).unwrap();
        let mut empty: [f64; 0] = [];
        assert!(matches!(
            matmul(&mut empty, left, right, false, false),
            Err(GemmError::Destination { .. })
        ));
        assert_eq!(dst, [4.0, 5.0, 10.0, 11.0], "a refused product writes nothing");
    }
}

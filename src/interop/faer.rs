//! Conversions between [`Tensor`] and faer's `Mat` (feature `faer`).
//!
//! A 2-d tensor is a `Mat` (element `[i, j]` is `m[(i, j)]`); a 1-d tensor becomes a one-column
//! `Mat` with [`Tensor::to_faer_col`]. Elements are `f32` or `f64`; every conversion copies.
//!
//! ```
//! use faer::Mat;
//! use functorch::Tensor;
//!
//! let m = Mat::<f64>::from_fn(2, 3, |i, j| (3 * i + j) as f64);
//! let t = Tensor::from(&m);
//! assert_eq!(t.shape(), &[2, 3]);
//! assert_eq!(t.to_vec::<f64>()?, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
//!
//! // a Hessian computed here, factorized by faer
//! let h: Tensor = functorch::hessian(|x: &Tensor| x.square()?.sum()).call(&Tensor::from_slice(&[1.0, 2.0]))?;
//! let hm: Mat<f64> = h.to_faer()?;
//! assert_eq!(hm[(0, 0)], 2.0);
//! assert_eq!(hm[(0, 1)], 0.0);
//!
//! assert!(Tensor::from_slice(&[1.0, 2.0]).to_faer::<f64>().is_err()); // not 2-d
//! assert!(t.to_faer::<f32>().is_err()); // not f32
//! # Ok::<(), functorch::Error>(())
//! ```

use super::{elements, expect_rank};
use crate::array::Element;
use crate::{Result, Tensor};
use faer::{Mat, MatRef};

/// The element types faer and tensors share: `f32` and `f64` (sealed).
pub trait FaerElement: Element + private::Sealed {}
impl FaerElement for f32 {}
impl FaerElement for f64 {}
mod private {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

impl Tensor {
    /// This 2-d tensor as a faer `Mat<T>` (`T` is `f32` or `f64` and must be the tensor's
    /// dtype).
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) unless the tensor is 2-d,
    /// [`Error::DType`](crate::Error::DType) if `T` is not its element type,
    /// [`Error::Traced`](crate::Error::Traced) inside a transform.
    pub fn to_faer<T: FaerElement>(&self) -> Result<Mat<T>> {
        expect_rank(self, 2, "to_faer")?;
        let (r, c) = (self.shape()[0], self.shape()[1]);
        let v = elements::<T>(self, "to_faer")?;
        Ok(Mat::from_fn(r, c, |i, j| v[i * c + j]))
    }

    /// This 1-d tensor as a one-column faer `Mat<T>`.
    ///
    /// # Errors
    /// As [`Tensor::to_faer`], with a 1-d tensor required.
    pub fn to_faer_col<T: FaerElement>(&self) -> Result<Mat<T>> {
        expect_rank(self, 1, "to_faer_col")?;
        let v = elements::<T>(self, "to_faer_col")?;
        Ok(Mat::from_fn(v.len(), 1, |i, _| v[i]))
    }
}

impl<T: FaerElement> From<MatRef<'_, T>> for Tensor {
    /// A 2-d tensor of the matrix's shape, element `[i, j]` = `m[(i, j)]` (any strides).
    fn from(m: MatRef<'_, T>) -> Tensor {
        let (r, c) = (m.nrows(), m.ncols());
        let mut data = crate::AlignedVec::with_capacity(r * c);
        for i in 0..r {
            for j in 0..c {
                data.push(m[(i, j)]);
            }
        }
        Tensor::from_aligned_vec(data, &[r, c]).expect("the element count matches the shape")
    }
}

impl<T: FaerElement> From<&Mat<T>> for Tensor {
    /// A 2-d tensor of the matrix's shape, element `[i, j]` = `m[(i, j)]`.
    fn from(m: &Mat<T>) -> Tensor {
        Tensor::from(m.as_ref())
    }
}

impl<T: FaerElement> TryFrom<&Tensor> for Mat<T> {
    type Error = crate::Error;
    /// See [`Tensor::to_faer`].
    fn try_from(t: &Tensor) -> Result<Self> {
        t.to_faer()
    }
}

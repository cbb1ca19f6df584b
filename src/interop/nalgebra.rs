//! Conversions between [`Tensor`] and nalgebra's dynamically sized `DVector` and `DMatrix`
//! (feature `nalgebra`).
//!
//! A 1-d tensor is a `DVector`, a 2-d tensor a `DMatrix` (row `i`, column `j` of the matrix is
//! element `[i, j]` of the tensor, whatever the storage orders). Elements are `f32` or `f64`;
//! every conversion copies.
//!
//! ```
//! use functorch::Tensor;
//! use nalgebra::{DMatrix, DVector};
//!
//! let m = DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
//! let t = Tensor::from(&m);
//! assert_eq!(t.shape(), &[2, 3]);
//! assert_eq!(t.to_vec::<f64>()?, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
//!
//! // and back: a product computed here lands in nalgebra
//! let v = DVector::from_vec(vec![1.0, 0.0, -1.0]);
//! let mv: DVector<f64> = t.matmul(&Tensor::from(&v))?.to_dvector()?;
//! assert_eq!(mv, &m * &v);
//!
//! // the wrong rank or dtype is an error, not a panic
//! assert!(t.to_dvector::<f64>().is_err());
//! assert!(t.to_dmatrix::<f32>().is_err());
//! # Ok::<(), functorch::Error>(())
//! ```

use super::{elements, expect_rank};
use crate::array::Element;
use crate::{Result, Tensor};
use nalgebra::{DMatrix, DVector, Scalar};

impl Tensor {
    /// This 1-d tensor as an nalgebra `DVector<T>` (`T` is `f32` or `f64` and must be the
    /// tensor's dtype).
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) unless the tensor is 1-d,
    /// [`Error::DType`](crate::Error::DType) if `T` is not its element type,
    /// [`Error::Traced`](crate::Error::Traced) inside a transform.
    pub fn to_dvector<T: Element + Scalar>(&self) -> Result<DVector<T>> {
        expect_rank(self, 1, "to_dvector")?;
        Ok(DVector::from_vec(elements::<T>(self, "to_dvector")?))
    }

    /// This 2-d tensor as an nalgebra `DMatrix<T>` (`T` is `f32` or `f64` and must be the
    /// tensor's dtype).
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) unless the tensor is 2-d,
    /// [`Error::DType`](crate::Error::DType) if `T` is not its element type,
    /// [`Error::Traced`](crate::Error::Traced) inside a transform.
    pub fn to_dmatrix<T: Element + Scalar>(&self) -> Result<DMatrix<T>> {
        expect_rank(self, 2, "to_dmatrix")?;
        let (r, c) = (self.shape()[0], self.shape()[1]);
        Ok(DMatrix::from_row_slice(
            r,
            c,
            &elements::<T>(self, "to_dmatrix")?,
        ))
    }
}

macro_rules! from_nalgebra {
    ($($t:ty),*) => {$(
        impl From<&DVector<$t>> for Tensor {
            /// A 1-d tensor with the vector's elements.
            fn from(v: &DVector<$t>) -> Tensor {
                Tensor::from_slice(v.as_slice())
            }
        }
        impl From<DVector<$t>> for Tensor {
            /// A 1-d tensor with the vector's elements.
            fn from(v: DVector<$t>) -> Tensor {
                Tensor::from(&v)
            }
        }
        impl From<&DMatrix<$t>> for Tensor {
            /// A 2-d tensor of the matrix's shape, element `[i, j]` = `m[(i, j)]`.
            fn from(m: &DMatrix<$t>) -> Tensor {
                let (r, c) = m.shape();
                let mut data = crate::AlignedVec::with_capacity(r * c);
                data.extend_from_slice(m.transpose().as_slice());
                Tensor::from_aligned_vec(data, &[r, c])
                    .expect("the element count matches the shape")
            }
        }
        impl From<DMatrix<$t>> for Tensor {
            /// A 2-d tensor of the matrix's shape, element `[i, j]` = `m[(i, j)]`.
            fn from(m: DMatrix<$t>) -> Tensor {
                Tensor::from(&m)
            }
        }
        impl TryFrom<&Tensor> for DVector<$t> {
            type Error = crate::Error;
            /// See [`Tensor::to_dvector`].
            fn try_from(t: &Tensor) -> Result<Self> {
                t.to_dvector()
            }
        }
        impl TryFrom<&Tensor> for DMatrix<$t> {
            type Error = crate::Error;
            /// See [`Tensor::to_dmatrix`].
            fn try_from(t: &Tensor) -> Result<Self> {
                t.to_dmatrix()
            }
        }
    )*};
}
from_nalgebra!(f32, f64);

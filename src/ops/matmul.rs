//! Products: `matmul` with torch.matmul's rules (a decomposition over the batched-matrix
//! primitive), `dot`, `outer`, `mv`. (`einsum` has a module of its own.)

use super::{require_float, require_same_dtype};
use crate::core::Tensor;
use crate::core::bind;
use crate::error::{Error, Result};
use crate::prims::matmul::MatMul;

impl Tensor {
    /// Matrix product with torch.matmul's rules: 1-d · 1-d is a dot product, a 1-d operand is
    /// promoted to a matrix (and the added dim removed again), and dims before the last two
    /// broadcast as a batch.
    ///
    /// ```
    /// use functorch::Tensor;
    /// let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let v = Tensor::from_slice(&[1.0, 1.0]);
    /// assert_eq!(a.matmul(&v)?.to_vec::<f64>()?, vec![3.0, 7.0]);
    /// assert_eq!(v.matmul(&a)?.to_vec::<f64>()?, vec![4.0, 6.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        require_same_dtype("matmul", self, other)?;
        require_float("matmul", self)?;
        let (a, b) = (self, other);
        if a.ndim() == 0 || b.ndim() == 0 {
            return Err(Error::shape(
                "matmul",
                format!(
                    "both operands need at least one dim, got shapes {:?} and {:?}",
                    a.shape(),
                    b.shape()
                ),
            ));
        }
        let ka = a.shape()[a.ndim() - 1];
        let kb = if b.ndim() == 1 {
            b.shape()[0]
        } else {
            b.shape()[b.ndim() - 2]
        };
        if ka != kb {
            return Err(Error::shape(
                "matmul",
                format!(
                    "shapes {:?} and {:?} cannot be multiplied ({ka} != {kb})",
                    a.shape(),
                    b.shape()
                ),
            ));
        }
        let a2 = if a.ndim() == 1 {
            a.unsqueeze(0)?
        } else {
            a.clone()
        };
        let b2 = if b.ndim() == 1 {
            b.unsqueeze(1)?
        } else {
            b.clone()
        };
        crate::array::matmul_shape("matmul", a2.shape(), b2.shape())?;
        let mut r = bind(&MatMul, &[&a2, &b2])?;
        if b.ndim() == 1 {
            r = r.squeeze(-1)?;
        }
        if a.ndim() == 1 {
            r = r.squeeze(if b.ndim() == 1 { -1 } else { -2 })?;
        }
        Ok(r)
    }
    /// The dot product of two 1-d tensors.
    pub fn dot(&self, other: &Tensor) -> Result<Tensor> {
        if self.ndim() != 1 || other.ndim() != 1 || self.shape() != other.shape() {
            return Err(Error::shape(
                "dot",
                format!(
                    "expects two 1-d tensors of equal length, got {:?} and {:?}",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        self.matmul(other)
    }
    /// Matrix–vector product.
    pub fn mv(&self, v: &Tensor) -> Result<Tensor> {
        if self.ndim() != 2 || v.ndim() != 1 || self.shape()[1] != v.shape()[0] {
            return Err(Error::shape(
                "mv",
                format!(
                    "expects a matrix [n, m] and a vector [m], got {:?} and {:?}",
                    self.shape(),
                    v.shape()
                ),
            ));
        }
        self.matmul(v)
    }
    /// The outer product of two 1-d tensors.
    pub fn outer(&self, other: &Tensor) -> Result<Tensor> {
        if self.ndim() != 1 || other.ndim() != 1 {
            return Err(Error::shape(
                "outer",
                format!(
                    "expects two 1-d tensors, got {:?} and {:?}",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        self.unsqueeze(1)?.mul(&other.unsqueeze(0)?)
    }
}

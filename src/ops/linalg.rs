//! Linear algebra on (batched) square matrices: det, slogdet, logdet, inv, solve, cholesky.
//! Singular matrices are an error where the result would not exist (inv, solve, and the
//! derivatives of det); cholesky refuses matrices that are not positive definite.

use super::{require_float, require_same_dtype};
use crate::array::broadcast_shapes;
use crate::core::Tensor;
use crate::core::bind;
use crate::error::{Error, Result};
use crate::prims::linalg::{Cholesky, Det, Inv, Slogdet, Solve};

fn square(op: &'static str, a: &Tensor) -> Result<usize> {
    require_float(op, a)?;
    let n = a.ndim();
    if n < 2 || a.shape()[n - 1] != a.shape()[n - 2] {
        return Err(Error::shape(
            op,
            format!(
                "expects square matrices [..., n, n], got shape {:?}",
                a.shape()
            ),
        ));
    }
    Ok(a.shape()[n - 1])
}

impl Tensor {
    /// Determinants of `[..., n, n]`.
    pub fn det(&self) -> Result<Tensor> {
        square("det", self)?;
        bind(&Det, &[self])
    }
    /// `(sign, log|det|)` of `[..., n, n]`; the sign carries no derivative.
    pub fn slogdet(&self) -> Result<(Tensor, Tensor)> {
        square("slogdet", self)?;
        Ok((
            bind(&Slogdet { sign: true }, &[self])?,
            bind(&Slogdet { sign: false }, &[self])?,
        ))
    }
    /// `log det` of `[..., n, n]`: NaN where the determinant is negative, as in PyTorch.
    pub fn logdet(&self) -> Result<Tensor> {
        let (s, l) = self.slogdet()?;
        Tensor::where_(
            &s.lt_scalar(0.0)?,
            &Tensor::full(&[], f64::NAN, l.dtype())?,
            &l,
        )
    }
    /// Inverses of `[..., n, n]`; an error for a singular matrix.
    pub fn inv(&self) -> Result<Tensor> {
        square("inv", self)?;
        bind(&Inv, &[self])
    }
    /// The solution `X` of `A X = B` (`self` is `A: [..., n, n]`), as torch.linalg.solve: `B`
    /// is a batch of vectors `[..., n]` if it has one dim fewer than `A` (or is 1-d), else a
    /// batch of matrices `[..., n, k]`; batch dims broadcast.
    ///
    /// ```
    /// use functorch::Tensor;
    /// let a = Tensor::from_vec(vec![2.0, 0.0, 0.0, 4.0], &[2, 2])?;
    /// let x = a.solve(&Tensor::from_slice(&[2.0, 2.0]))?;
    /// assert_eq!(x.to_vec::<f64>()?, vec![1.0, 0.5]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn solve(&self, b: &Tensor) -> Result<Tensor> {
        let n = square("solve", self)?;
        require_same_dtype("solve", self, b)?;
        let vector = b.ndim() == 1
            || (b.ndim() == self.ndim() - 1 && b.shape() == &self.shape()[..self.ndim() - 1]);
        let b2 = if vector { b.unsqueeze(-1)? } else { b.clone() };
        if b2.ndim() < 2 || b2.shape()[b2.ndim() - 2] != n {
            return Err(Error::shape(
                "solve",
                format!(
                    "A of shape {:?} and B of shape {:?} do not fit (B needs {n} rows)",
                    self.shape(),
                    b.shape()
                ),
            ));
        }
        let batch = broadcast_shapes(
            "solve",
            &self.shape()[..self.ndim() - 2],
            &b2.shape()[..b2.ndim() - 2],
        )?;
        let mut sa = batch.to_vec();
        sa.extend([n, n]);
        let mut sb = batch.to_vec();
        sb.extend([n, b2.shape()[b2.ndim() - 1]]);
        let x = bind(&Solve, &[&self.broadcast_to(&sa)?, &b2.broadcast_to(&sb)?])?;
        if vector { x.squeeze(-1) } else { Ok(x) }
    }
    /// Lower Cholesky factors `L` (`A = L Lᵀ`) of symmetric positive definite `[..., n, n]`.
    pub fn cholesky(&self) -> Result<Tensor> {
        square("cholesky", self)?;
        bind(&Cholesky, &[self])
    }
}

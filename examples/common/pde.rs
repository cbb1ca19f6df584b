//! The 2-d PDE residual the sparse examples and benchmarks differentiate.

use functorch::{Result, Tensor};

/// r(u) = s · (4u − (the four neighbours, zero outside)) + u³ − f on a grid `u` (five-point
/// stencil; `s` is 1/h² for a grid of spacing h).
pub fn pde2d(u: &Tensor, f: &Tensor, s: f64) -> Result<Tensor> {
    let (m, k) = (u.shape()[0], u.shape()[1]);
    let row = Tensor::from_vec(vec![0.0; k], &[1, k])?;
    let col = Tensor::from_vec(vec![0.0; m], &[m, 1])?;
    let up = Tensor::cat(&[u.narrow(0, 1, m - 1)?, row.clone()], 0)?;
    let down = Tensor::cat(&[row, u.narrow(0, 0, m - 1)?], 0)?;
    let left = Tensor::cat(&[u.narrow(1, 1, k - 1)?, col.clone()], 1)?;
    let right = Tensor::cat(&[col, u.narrow(1, 0, k - 1)?], 1)?;
    let mut lap = u
        .mul_scalar(4.0)?
        .sub(&up)?
        .sub(&down)?
        .sub(&left)?
        .sub(&right)?;
    if s != 1.0 {
        lap = lap.mul_scalar(s)?;
    }
    lap.add(&u.pow_scalar(3.0)?)?.sub(f)
}

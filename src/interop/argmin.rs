//! [argmin](https://argmin-rs.org) problems whose derivatives come from the transforms (feature
//! `argmin`).
//!
//! argmin's solvers ask the user for a cost, a gradient, a Hessian or a Jacobian, or fall back
//! to finite differences. Here you write the function once, with tensor ops, and get exact
//! derivatives:
//!
//! - [`Objective`]: a scalar function of a parameter vector, `f: Fn(&Tensor) -> Result<Tensor>`.
//!   Implements [`CostFunction`] (`f`), [`Gradient`] ([`grad`]) and [`Hessian`]
//!   ([`hessian`](crate::hessian)), for Newton, trust-region, L-BFGS, nonlinear CG, …
//! - [`LeastSquares`]: a residual function `r: Fn(&Tensor) -> Result<Tensor>` returning a 1-d
//!   tensor. Implements [`Operator`] (`r`), [`Jacobian`] ([`jacfwd`] or [`jacrev`]), and also
//!   [`CostFunction`] (½‖r‖²) and [`Gradient`] (Jᵀr), for Gauss–Newton (with or without line
//!   search) and the gradient-based solvers.
//!
//! Parameters, gradients and residuals are nalgebra `DVector<f64>`s and Hessians and Jacobians
//! `DMatrix<f64>`s, the types argmin-math implements for nalgebra (it has no backend for the
//! ndarray version this crate uses). argmin's dense `BFGS` and `DFP` do not run on nalgebra
//! types (argmin-math lacks the vector outer product they need); `LBFGS` does. The function sees the parameters as a 1-d `float64`
//! tensor; a structured model can take its parameters out of that vector with `narrow` and
//! `reshape`.
//!
//! ```
//! use argmin::core::{Executor, State};
//! use argmin::solver::newton::Newton;
//! use functorch::interop::argmin::Objective;
//! use functorch::Tensor;
//! use nalgebra::DVector;
//!
//! // Rosenbrock: 100 (y - x^2)^2 + (1 - x)^2, minimum at (1, 1)
//! let rosenbrock = |p: &Tensor| {
//!     let (x, y) = (p.i(0)?, p.i(1)?);
//!     y.sub(&x.square()?)?.square()?.mul_scalar(100.0)?.add(&x.neg()?.add_scalar(1.0)?.square()?)
//! };
//! // Newton's method with the exact gradient and Hessian, from the classic start (-1.2, 1)
//! let res = Executor::new(Objective::new(rosenbrock), Newton::<f64>::new())
//!     .configure(|s| s.param(DVector::from_vec(vec![-1.2, 1.0])).max_iters(20))
//!     .run()
//!     .unwrap();
//! let x = res.state().get_param().unwrap();
//! assert!((x[0] - 1.0).abs() < 1e-10 && (x[1] - 1.0).abs() < 1e-10, "{x}");
//! ```

use crate::{Error, Result, Tensor, grad, jacfwd, jacrev};
use argmin::core::{CostFunction, Gradient, Hessian, Jacobian, Operator};
use nalgebra::{DMatrix, DVector};

fn to_tensor(x: &DVector<f64>) -> Tensor {
    Tensor::from_slice(x.as_slice())
}

fn expect_scalar(y: &Tensor, call: &str) -> Result<f64> {
    if y.ndim() != 0 {
        return Err(Error::Transform {
            call: call.into(),
            msg: format!(
                "expected the objective to return a scalar tensor, got a tensor of shape {:?}",
                y.shape()
            ),
        });
    }
    y.to_dtype(crate::DType::F64)?.to_scalar::<f64>()
}

/// A scalar objective `f(x)` of a parameter vector as an argmin problem with exact gradient
/// and Hessian (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct Objective<F> {
    f: F,
}

impl<F: Fn(&Tensor) -> Result<Tensor>> Objective<F> {
    /// Wrap `f`, which takes a 1-d `float64` tensor and returns a 0-d tensor.
    pub fn new(f: F) -> Self {
        Objective { f }
    }
    /// The wrapped function.
    pub fn function(&self) -> &F {
        &self.f
    }
}

impl<F: Fn(&Tensor) -> Result<Tensor>> CostFunction for Objective<F> {
    type Param = DVector<f64>;
    type Output = f64;
    fn cost(&self, x: &DVector<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(expect_scalar(&(self.f)(&to_tensor(x))?, "Objective::cost")?)
    }
}

impl<F: Fn(&Tensor) -> Result<Tensor>> Gradient for Objective<F> {
    type Param = DVector<f64>;
    type Gradient = DVector<f64>;
    fn gradient(&self, x: &DVector<f64>) -> std::result::Result<DVector<f64>, argmin::core::Error> {
        let g: Tensor = grad(&self.f).call(&to_tensor(x))?;
        Ok(g.to_dvector()?)
    }
}

impl<F: Fn(&Tensor) -> Result<Tensor>> Hessian for Objective<F> {
    type Param = DVector<f64>;
    type Hessian = DMatrix<f64>;
    fn hessian(&self, x: &DVector<f64>) -> std::result::Result<DMatrix<f64>, argmin::core::Error> {
        let h: Tensor = crate::hessian(&self.f).call(&to_tensor(x))?;
        Ok(h.to_dmatrix()?)
    }
}

/// A least-squares problem `min ½‖r(x)‖²` given its residual function `r`, as an argmin
/// problem with the exact Jacobian of `r` (see the [module docs](self)).
///
/// ```
/// use argmin::core::{Executor, State};
/// use argmin::solver::gaussnewton::GaussNewton;
/// use functorch::interop::argmin::LeastSquares;
/// use functorch::Tensor;
/// use nalgebra::DVector;
///
/// // fit y = a exp(b t) to exact data from a = 2, b = -0.5
/// let t = Tensor::linspace(0.0, 4.0, 20, functorch::DType::F64)?;
/// let y = t.mul_scalar(-0.5)?.exp()?.mul_scalar(2.0)?;
/// let residuals = |p: &Tensor| {
///     let (a, b) = (p.narrow(0, 0, 1)?, p.narrow(0, 1, 1)?);
///     t.mul(&b)?.exp()?.mul(&a)?.sub(&y)
/// };
/// let res = Executor::new(LeastSquares::new(residuals), GaussNewton::<f64>::new())
///     .configure(|s| s.param(DVector::from_vec(vec![1.0, 0.0])).max_iters(30))
///     .run()
///     .unwrap();
/// let p = res.state().get_param().unwrap();
/// assert!((p[0] - 2.0).abs() < 1e-8 && (p[1] + 0.5).abs() < 1e-8, "{p}");
/// # Ok::<(), functorch::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LeastSquares<R> {
    r: R,
    reverse: bool,
}

impl<R: Fn(&Tensor) -> Result<Tensor>> LeastSquares<R> {
    /// Wrap `r`, which takes a 1-d `float64` tensor and returns the 1-d tensor of residuals.
    /// The Jacobian is computed with [`jacfwd`] (cheaper when there are fewer parameters than
    /// residuals, the usual case in fitting); see [`LeastSquares::reverse`].
    pub fn new(r: R) -> Self {
        LeastSquares { r, reverse: false }
    }
    /// Compute the Jacobian with [`jacrev`] instead (cheaper with more parameters than
    /// residuals). The result is the same.
    pub fn reverse(mut self, on: bool) -> Self {
        self.reverse = on;
        self
    }
    /// The wrapped residual function.
    pub fn function(&self) -> &R {
        &self.r
    }
    fn residuals(&self, x: &DVector<f64>) -> Result<Tensor> {
        let r = (self.r)(&to_tensor(x))?;
        if r.ndim() != 1 {
            return Err(Error::Transform {
                call: "LeastSquares".into(),
                msg: format!(
                    "expected the residual function to return a 1-d tensor, got a tensor of shape {:?}",
                    r.shape()
                ),
            });
        }
        Ok(r)
    }
}

impl<R: Fn(&Tensor) -> Result<Tensor>> Operator for LeastSquares<R> {
    type Param = DVector<f64>;
    type Output = DVector<f64>;
    fn apply(&self, x: &DVector<f64>) -> std::result::Result<DVector<f64>, argmin::core::Error> {
        Ok(self
            .residuals(x)?
            .to_dtype(crate::DType::F64)?
            .to_dvector()?)
    }
}

impl<R: Fn(&Tensor) -> Result<Tensor>> Jacobian for LeastSquares<R> {
    type Param = DVector<f64>;
    type Jacobian = DMatrix<f64>;
    fn jacobian(&self, x: &DVector<f64>) -> std::result::Result<DMatrix<f64>, argmin::core::Error> {
        let x = to_tensor(x);
        let j: Tensor = if self.reverse {
            jacrev(&self.r).call(&x)?
        } else {
            jacfwd(&self.r).call(&x)?
        };
        Ok(j.to_dmatrix()?)
    }
}

impl<R: Fn(&Tensor) -> Result<Tensor>> CostFunction for LeastSquares<R> {
    type Param = DVector<f64>;
    type Output = f64;
    fn cost(&self, x: &DVector<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self
            .residuals(x)?
            .square()?
            .sum()?
            .mul_scalar(0.5)?
            .to_scalar::<f64>()?)
    }
}

impl<R: Fn(&Tensor) -> Result<Tensor>> Gradient for LeastSquares<R> {
    type Param = DVector<f64>;
    type Gradient = DVector<f64>;
    fn gradient(&self, x: &DVector<f64>) -> std::result::Result<DVector<f64>, argmin::core::Error> {
        let half_sq = |p: &Tensor| (self.r)(p)?.square()?.sum()?.mul_scalar(0.5);
        let g: Tensor = grad(half_sq).call(&to_tensor(x))?;
        Ok(g.to_dvector()?)
    }
}

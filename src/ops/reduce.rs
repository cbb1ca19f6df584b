//! Reductions (sum, mean, prod, amax/amin, argmax/argmin, logsumexp, var, std, norm) and
//! softmax / log_softmax. Only sum, amax/amin and argmax/argmin are primitives; the rest are
//! decompositions.

use super::require_float;
use crate::array::{broadcasts_to, normalize_dim, normalize_dims};
use crate::core::Tensor;
use crate::core::bind;
use crate::error::{Error, Result};
use crate::prims::reduce::{ArgExtreme, Extreme, Sum};
use smallvec::SmallVec;

/// Normalized, sorted dims; an empty list means all dims. A 0-d tensor accepts dims 0 and -1
/// (and reduces nothing), as in PyTorch.
fn reduce_dims(op: &'static str, x: &Tensor, dims: &[i64]) -> Result<SmallVec<[usize; 4]>> {
    let nd = x.ndim();
    if dims.is_empty() {
        return Ok((0..nd).collect());
    }
    let mut d = normalize_dims(op, dims, nd.max(1))?;
    d.retain(|&mut v| v < nd);
    d.sort_unstable();
    Ok(d)
}

/// `s^(1/p)` (for `s ≥ 0`) with derivative 0 where `s = 0`, where the root's slope is infinite
/// and would turn the zero derivative of `s` into NaN: PyTorch's `norm_backward` gives 0 there
/// too (the "double where": the root never sees a zero). (`std` keeps the plain square root:
/// PyTorch's `std_backward` gives NaN at a constant input.)
fn root_zero_grad(s: &Tensor, p: f64) -> Result<Tensor> {
    let zero = s.eq_scalar(0.0)?;
    let safe = Tensor::where_(&zero, &Tensor::ones(&[], s.dtype())?, s)?;
    let root = if p == 2.0 {
        safe.sqrt()?
    } else {
        safe.pow_scalar(1.0 / p)?
    };
    Tensor::where_(&zero, &Tensor::zeros(&[], s.dtype())?, &root)
}

/// The shift that keeps `exp` from overflowing in logsumexp, softmax and log_softmax: the
/// maximum over `dims` (kept), detached, as 0 where it is not finite (so `x − m` is not
/// `∞ − ∞`), and 0 for an empty tensor (nothing to shift; an empty sum gives log 0 = −∞, as in
/// PyTorch). The shift cancels in value and derivative; detaching it saves differentiating amax.
fn max_shift(x: &Tensor, dims: &[i64]) -> Result<Tensor> {
    if x.numel() == 0 {
        return Tensor::zeros(&[], x.dtype());
    }
    let m = x.amax(dims, true)?.detach()?;
    Tensor::where_(
        &m.abs()?.lt_scalar(f64::INFINITY)?,
        &m,
        &Tensor::zeros(&[], m.dtype())?,
    )
}

fn one_dim(op: &'static str, x: &Tensor, dim: i64) -> Result<Option<usize>> {
    let d = normalize_dim(op, dim, x.ndim().max(1))?;
    Ok(if d < x.ndim() { Some(d) } else { None })
}

impl Tensor {
    /// The sum of all elements (a 0-d tensor). Bool and i64 tensors sum to i64.
    pub fn sum(&self) -> Result<Tensor> {
        self.sum_dims(&[], false)
    }
    /// The sum over `dims` (all dims if empty), keeping them as size 1 if `keepdim`.
    ///
    /// ```
    /// use functorch::Tensor;
    /// let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(x.sum_dims(&[0], false)?.to_vec::<f64>()?, vec![5.0, 7.0, 9.0]);
    /// assert_eq!(x.sum_dims(&[-1], true)?.shape(), &[2, 1]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn sum_dims(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        let dims = reduce_dims("sum", self, dims)?;
        if dims.is_empty() && !keepdim {
            return self.passthrough("sum");
        }
        bind(&Sum { dims, keepdim }, &[self])
    }
    /// The mean of all elements.
    pub fn mean(&self) -> Result<Tensor> {
        self.mean_dims(&[], false)
    }
    /// The mean over `dims` (all dims if empty).
    pub fn mean_dims(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        require_float("mean", self)?;
        let d = reduce_dims("mean", self, dims)?;
        let n: usize = d.iter().map(|&i| self.shape()[i]).product();
        self.sum_dims(dims, keepdim)?.div_scalar(n as f64)
    }
    /// The product of all elements.
    pub fn prod(&self) -> Result<Tensor> {
        self.reshape(&[-1])?.prod_dim(0, false)
    }
    /// The product along one dim. Computed as a tree of pairwise products, so its derivatives
    /// are exact everywhere, zeros in the input included.
    pub fn prod_dim(&self, dim: i64, keepdim: bool) -> Result<Tensor> {
        require_float("prod", self)?;
        let Some(d) = one_dim("prod", self, dim)? else {
            return self.passthrough("prod");
        };
        let mut x = self.clone();
        if x.shape()[d] == 0 {
            let mut s = x.shape().to_vec();
            s[d] = 1;
            x = Tensor::ones(&s, x.dtype())?;
        }
        while x.shape()[d] > 1 {
            let n = x.shape()[d];
            let half = n / 2;
            let pairs = x.slice(d as i64, 0, (2 * half) as i64, 2)?.mul(&x.slice(
                d as i64,
                1,
                (2 * half) as i64,
                2,
            )?)?;
            x = if n % 2 == 1 {
                Tensor::cat(
                    &[pairs, x.slice(d as i64, (n - 1) as i64, n as i64, 1)?],
                    d as i64,
                )?
            } else {
                pairs
            };
        }
        if keepdim { Ok(x) } else { x.squeeze(d as i64) }
    }
    /// The maximum over `dims` (all if empty). Ties share the derivative equally.
    pub fn amax(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        self.extreme(dims, keepdim, true)
    }
    /// The minimum over `dims` (all if empty). Ties share the derivative equally.
    pub fn amin(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        self.extreme(dims, keepdim, false)
    }
    /// The maximum of all elements.
    pub fn max(&self) -> Result<Tensor> {
        self.amax(&[], false)
    }
    /// The minimum of all elements.
    pub fn min(&self) -> Result<Tensor> {
        self.amin(&[], false)
    }
    fn extreme(&self, dims: &[i64], keepdim: bool, max: bool) -> Result<Tensor> {
        let op = if max { "amax" } else { "amin" };
        let dims = reduce_dims(op, self, dims)?;
        // as PyTorch: only a reduced dim of size 0 has no extreme ([0, 3] over dim 1 is fine)
        if let Some(&d) = dims.iter().find(|&&d| self.shape()[d] == 0) {
            return Err(Error::shape(
                op,
                format!(
                    "cannot reduce over dim {d} of size 0 (an empty tensor of shape {:?})",
                    self.shape()
                ),
            ));
        }
        if dims.is_empty() && !keepdim {
            return self.passthrough(op);
        }
        bind(&Extreme { dims, keepdim, max }, &[self])
    }
    /// The index of the maximum along `dim` (of the flattened tensor if `None`); i64.
    pub fn argmax(&self, dim: Option<i64>, keepdim: bool) -> Result<Tensor> {
        self.arg_extreme(dim, keepdim, true)
    }
    /// The index of the minimum along `dim` (of the flattened tensor if `None`); i64.
    pub fn argmin(&self, dim: Option<i64>, keepdim: bool) -> Result<Tensor> {
        self.arg_extreme(dim, keepdim, false)
    }
    fn arg_extreme(&self, dim: Option<i64>, keepdim: bool, max: bool) -> Result<Tensor> {
        let op = if max { "argmax" } else { "argmin" };
        let empty = match dim {
            None => self.numel() == 0,
            Some(d) => one_dim(op, self, d)?.is_some_and(|d| self.shape()[d] == 0),
        };
        if empty {
            return Err(Error::shape(
                op,
                format!("cannot reduce an empty tensor of shape {:?}", self.shape()),
            ));
        }
        match dim {
            None => {
                let r = bind(
                    &ArgExtreme {
                        dim: 0,
                        keepdim: false,
                        max,
                    },
                    &[&self.reshape(&[-1])?],
                )?;
                if keepdim {
                    r.reshape(&vec![1; self.ndim()])
                } else {
                    Ok(r)
                }
            }
            Some(d) => match one_dim(op, self, d)? {
                Some(d) => bind(
                    &ArgExtreme {
                        dim: d,
                        keepdim,
                        max,
                    },
                    &[self],
                ),
                None => Tensor::zeros(&[], crate::DType::I64),
            },
        }
    }
    /// `log Σ exp(x)` over `dims` (all if empty), computed stably.
    pub fn logsumexp(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        require_float("logsumexp", self)?;
        let d = reduce_dims("logsumexp", self, dims)?;
        let di: Vec<i64> = d.iter().map(|&v| v as i64).collect();
        if di.is_empty() {
            return self.passthrough("logsumexp");
        }
        let m = max_shift(self, &di)?;
        let r = m.add(&self.sub(&m)?.exp()?.sum_dims(&di, true)?.log()?)?;
        if keepdim { Ok(r) } else { r.squeeze_dims(&di) }
    }
    /// `exp(x) / Σ exp(x)` along `dim`.
    pub fn softmax(&self, dim: i64) -> Result<Tensor> {
        require_float("softmax", self)?;
        one_dim("softmax", self, dim)?;
        let e = self.sub(&max_shift(self, &[dim])?)?.exp()?;
        e.div(&e.sum_dims(&[dim], true)?)
    }
    /// `x − logsumexp(x)` along `dim`, computed as `(x − m) − log Σ exp(x − m)` with `m` the
    /// maximum, so large logits lose no precision (`x − logsumexp(x)` cancels catastrophically).
    pub fn log_softmax(&self, dim: i64) -> Result<Tensor> {
        require_float("log_softmax", self)?;
        one_dim("log_softmax", self, dim)?;
        let s = self.sub(&max_shift(self, &[dim])?)?;
        s.sub(&s.exp()?.sum_dims(&[dim], true)?.log()?)
    }
    /// The variance of all elements, with Bessel's correction (as `torch.var`).
    pub fn var(&self) -> Result<Tensor> {
        self.var_dims(&[], 1, false)
    }
    /// The variance over `dims` (all if empty), dividing by `N − correction`.
    pub fn var_dims(&self, dims: &[i64], correction: usize, keepdim: bool) -> Result<Tensor> {
        require_float("var", self)?;
        let d = reduce_dims("var", self, dims)?;
        let n: usize = d.iter().map(|&i| self.shape()[i]).product();
        let dev = self.sub(&self.mean_dims(dims, true)?)?;
        dev.square()?
            .sum_dims(dims, keepdim)?
            .div_scalar(n.saturating_sub(correction) as f64)
    }
    /// The standard deviation of all elements, with Bessel's correction.
    ///
    /// Its derivative at a constant input (zero deviation) is NaN, as in PyTorch.
    pub fn std(&self) -> Result<Tensor> {
        require_float("std", self)?;
        self.var()?.sqrt()
    }
    /// The standard deviation over `dims`, dividing the variance by `N − correction`.
    pub fn std_dims(&self, dims: &[i64], correction: usize, keepdim: bool) -> Result<Tensor> {
        require_float("std", self)?;
        reduce_dims("std", self, dims)?;
        self.var_dims(dims, correction, keepdim)?.sqrt()
    }
    /// The Euclidean (Frobenius) norm of all elements.
    pub fn norm(&self) -> Result<Tensor> {
        self.norm_dims(2.0, &[], false)
    }
    /// The p-norm over `dims` (all if empty): `(Σ |x|ᵖ)^(1/p)`; `p = ∞` gives the max of `|x|`.
    pub fn norm_dims(&self, p: f64, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        require_float("norm", self)?;
        if p == f64::INFINITY {
            return self.abs()?.amax(dims, keepdim);
        }
        if p == 2.0 {
            return root_zero_grad(&self.square()?.sum_dims(dims, keepdim)?, 2.0);
        }
        if p == 1.0 {
            return self.abs()?.sum_dims(dims, keepdim);
        }
        if p <= 0.0 || p.is_nan() {
            return Err(Error::invalid(
                "norm",
                format!("p must be positive, got {p}"),
            ));
        }
        root_zero_grad(&self.abs()?.pow_scalar(p)?.sum_dims(dims, keepdim)?, p)
    }
    /// Sum this tensor down to `shape`, to which it must broadcast (the transpose of
    /// `broadcast_to`, as `torch.Tensor.sum_to_size`).
    pub fn sum_to_size(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return self.passthrough("sum_to_size");
        }
        if !broadcasts_to(shape, self.shape()) {
            return Err(Error::shape(
                "sum_to_size",
                format!("shape {:?} does not broadcast to {:?}", shape, self.shape()),
            ));
        }
        let lead = self.ndim() - shape.len();
        let mut dims: Vec<i64> = (0..lead as i64).collect();
        for (i, &s) in shape.iter().enumerate() {
            if s == 1 && self.shape()[lead + i] != 1 {
                dims.push((lead + i) as i64);
            }
        }
        let r = if dims.is_empty() {
            self.clone()
        } else {
            self.sum_dims(&dims, true)?
        };
        let target: Vec<i64> = shape.iter().map(|&s| s as i64).collect();
        r.reshape(&target)
    }
}

//! Reductions: sum, amax/amin (ties share the derivative equally, as in PyTorch), argmax/argmin.
//! Everything else (mean, prod, logsumexp, var, norm, softmax, ...) is a decomposition in `ops`.

use super::{Grads, PrimKind, Primitive, physical_dim};
use crate::array::{AlignedVec, Array, DType, Element, Float, Shape, alloc, recycle};
use crate::core::Tensor;
use crate::core::bind;
use crate::error::{Error, Result};
use crate::kernels::reduce::{Pick, SumF64, arg_extreme, kept_shape, reduce, reduce_with};
use smallvec::{SmallVec, smallvec};

/// The output shape of a reduction.
fn out_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Shape {
    if keepdim {
        kept_shape(shape, dims)
    } else {
        shape
            .iter()
            .enumerate()
            .filter(|(i, _)| !dims.contains(i))
            .map(|(_, &s)| s)
            .collect()
    }
}

/// A reduced cotangent (or value) seen again at the input's shape: unsqueeze the reduced dims
/// if they were dropped, then broadcast.
fn expand_back(t: &Tensor, in_shape: &[usize], dims: &[usize], keepdim: bool) -> Result<Tensor> {
    let t = if keepdim {
        t.clone()
    } else {
        let k: Vec<i64> = kept_shape(in_shape, dims)
            .iter()
            .map(|&s| s as i64)
            .collect();
        t.reshape(&k)?
    };
    t.broadcast_to(in_shape)
}

fn shifted(dims: &[usize]) -> SmallVec<[usize; 4]> {
    dims.iter().map(|&d| physical_dim(d)).collect()
}

/// Sum over `dims` (normalized, sorted, non-empty unless the input is 0-d).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Sum {
    pub(crate) dims: SmallVec<[usize; 4]>,
    pub(crate) keepdim: bool,
}

/// Sums accumulate in f64, so a long f32 sum keeps f32 precision (a running f32 total drifts by
/// about 1% over 10⁶ terms; PyTorch avoids that with cascade summation).
/// f64 sums are the result as they are; f32 ones are rounded into a buffer of the pool, and
/// the f64 one goes back to the pool (dropped, it went to the system allocator, and a large one
/// page-faulted again on the next call: rows of 16 f32, 62500 of them, 93 faults a call).
fn sum_typed<T: Float>(x: &Array, dims: &[usize]) -> AlignedVec<T> {
    let sums = reduce_with(x.v::<T>(), dims, SumF64::<T>::new());
    let mut sums = Some(sums);
    if let Some(same) =
        (&mut sums as &mut dyn std::any::Any).downcast_mut::<Option<AlignedVec<T>>>()
    {
        return same.take().expect("the sums, not yet taken");
    }
    let sums = sums.expect("the sums, not taken");
    let mut out = alloc::<T>(sums.len());
    out.extend(sums.iter().map(|&s| T::from_f64(s)));
    recycle(sums);
    out
}

impl Primitive for Sum {
    fn name(&self) -> &'static str {
        "sum"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Reduce
    }
    fn linear(&self) -> bool {
        true
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        let x = inputs[0];
        let shape = out_shape(x.shape(), &self.dims, self.keepdim);
        Ok(match x.dtype() {
            DType::F32 => Array::from_vec(sum_typed::<f32>(x, &self.dims), &shape),
            DType::F64 => Array::from_vec(sum_typed::<f64>(x, &self.dims), &shape),
            DType::I64 => Array::from_vec(
                reduce(
                    x.v::<i64>(),
                    &self.dims,
                    0i64,
                    |a, v| a.wrapping_add(v),
                    |a, b| a.wrapping_add(b),
                ),
                &shape,
            ),
            DType::Bool => Array::from_vec(
                reduce(
                    x.v::<bool>(),
                    &self.dims,
                    0i64,
                    |a, v| a + v as i64,
                    |a, b| a + b,
                ),
                &shape,
            ),
        })
    }
    fn vjp(&self, inputs: &[Tensor], _: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        Ok(smallvec![Some(expand_back(
            ct,
            inputs[0].shape(),
            &self.dims,
            self.keepdim
        )?)])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(
            &Sum {
                dims: shifted(&self.dims),
                keepdim: self.keepdim,
            },
            inputs,
        )
    }
}

/// Maximum (`max: true`) or minimum over `dims`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Extreme {
    pub(crate) dims: SmallVec<[usize; 4]>,
    pub(crate) keepdim: bool,
    pub(crate) max: bool,
}

fn extreme_typed<T: Element>(x: &Array, dims: &[usize], max: bool, init: T) -> AlignedVec<T> {
    #[allow(clippy::eq_op)]
    let pick = move |a: T, v: T| {
        let v_nan = v != v;
        let a_nan = a != a;
        if a_nan {
            a
        } else if v_nan || (if max { v > a } else { v < a }) {
            v
        } else {
            a
        }
    };
    reduce(x.v::<T>(), dims, init, pick, pick)
}

/// [`extreme_typed`] for the float types, vectorized.
fn pick_typed<T: Float>(x: &Array, dims: &[usize], max: bool) -> AlignedVec<T> {
    if max {
        reduce_with(x.v::<T>(), dims, Pick::<T, true>::new())
    } else {
        reduce_with(x.v::<T>(), dims, Pick::<T, false>::new())
    }
}

impl Extreme {
    /// 1 where x equals the extreme, divided by the number of such places.
    fn share(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let yk = expand_back(y, x.shape(), &self.dims, self.keepdim)?;
        let mask = x.eq(&yk)?.to_dtype(x.dtype())?;
        let dims: Vec<i64> = self.dims.iter().map(|&d| d as i64).collect();
        let count = mask.sum_dims(&dims, true)?;
        mask.div(&count)
    }
}

impl Primitive for Extreme {
    fn name(&self) -> &'static str {
        if self.max { "amax" } else { "amin" }
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Reduce
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        let x = inputs[0];
        if self.dims.iter().any(|&d| x.shape()[d] == 0) {
            return Err(Error::shape(
                self.name(),
                "cannot reduce an empty dimension",
            ));
        }
        let shape = out_shape(x.shape(), &self.dims, self.keepdim);
        let (m, d) = (self.max, &self.dims);
        Ok(match x.dtype() {
            DType::F32 => Array::from_vec(pick_typed::<f32>(x, d, m), &shape),
            DType::F64 => Array::from_vec(pick_typed::<f64>(x, d, m), &shape),
            DType::I64 => Array::from_vec(
                extreme_typed(x, d, m, if m { i64::MIN } else { i64::MAX }),
                &shape,
            ),
            DType::Bool => Array::from_vec(extreme_typed(x, d, m, !m), &shape),
        })
    }
    fn jvp(&self, p: &[&Tensor], t: &[Option<&Tensor>], out: &Tensor) -> Result<Option<Tensor>> {
        let w = self.share(p[0], out)?;
        Ok(Some(bind(
            &Sum {
                dims: self.dims.clone(),
                keepdim: self.keepdim,
            },
            &[&t[0].unwrap().mul(&w)?],
        )?))
    }
    fn vjp(&self, inputs: &[Tensor], out: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        let w = self.share(&inputs[0], out)?;
        Ok(smallvec![Some(
            expand_back(ct, inputs[0].shape(), &self.dims, self.keepdim)?.mul(&w)?
        )])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(
            &Extreme {
                dims: shifted(&self.dims),
                keepdim: self.keepdim,
                max: self.max,
            },
            inputs,
        )
    }
}

/// Index of the maximum (`max: true`) or minimum along one dim; i64, no derivative.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ArgExtreme {
    pub(crate) dim: usize,
    pub(crate) keepdim: bool,
    pub(crate) max: bool,
}

impl Primitive for ArgExtreme {
    fn name(&self) -> &'static str {
        if self.max { "argmax" } else { "argmin" }
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Reduce
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        let x = inputs[0];
        if x.shape()[self.dim] == 0 {
            return Err(Error::shape(
                self.name(),
                "cannot reduce an empty dimension",
            ));
        }
        let shape = out_shape(x.shape(), &[self.dim], self.keepdim);
        let v = match x.dtype() {
            DType::F32 => arg_extreme(x.v::<f32>(), self.dim, self.max),
            DType::F64 => arg_extreme(x.v::<f64>(), self.dim, self.max),
            DType::I64 => arg_extreme(x.v::<i64>(), self.dim, self.max),
            DType::Bool => arg_extreme(x.v::<bool>(), self.dim, self.max),
        };
        Ok(Array::from_vec(v, &shape))
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(
            &ArgExtreme {
                dim: physical_dim(self.dim),
                keepdim: self.keepdim,
                max: self.max,
            },
            inputs,
        )
    }
    fn differentiable(&self) -> bool {
        false
    }
}

//! Dtype casts and `detach` (stop_gradient).

use super::{Grads, Primitive};
use crate::array::{Array, DType};
use crate::core::Tensor;
use crate::core::bind;
use crate::error::Result;
use crate::kernels::copy::cast;
use smallvec::smallvec;

/// Convert the elements to another dtype. Derivatives flow between float dtypes only.
#[derive(Clone, Debug)]
pub(crate) struct Cast {
    pub(crate) to: DType,
}

impl Primitive for Cast {
    fn name(&self) -> &'static str {
        "to_dtype"
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        Ok(cast(inputs[0], self.to))
    }
    fn jvp(&self, _: &[&Tensor], t: &[Option<&Tensor>], _: &Tensor) -> Result<Option<Tensor>> {
        let t = t[0].unwrap();
        Ok(if self.to.is_float() && t.dtype().is_float() {
            Some(bind(self, &[t])?)
        } else {
            None
        })
    }
    fn vjp(&self, inputs: &[Tensor], _: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        let from = inputs[0].dtype();
        Ok(smallvec![if from.is_float() {
            Some(bind(&Cast { to: from }, &[ct])?)
        } else {
            None
        }])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(self, inputs)
    }
}

/// The identity, with no derivative at any level (JAX's `stop_gradient`). Batching passes
/// through.
#[derive(Clone, Debug)]
pub(crate) struct Detach;

impl Primitive for Detach {
    fn name(&self) -> &'static str {
        "detach"
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        Ok(inputs[0].clone())
    }
    fn jvp(&self, _: &[&Tensor], _: &[Option<&Tensor>], _: &Tensor) -> Result<Option<Tensor>> {
        Ok(None)
    }
    fn vjp(&self, _: &[Tensor], _: &Tensor, _: &Tensor, _: &[bool]) -> Result<Grads> {
        Ok(smallvec![None])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(self, inputs)
    }
    fn differentiable(&self) -> bool {
        false
    }
}

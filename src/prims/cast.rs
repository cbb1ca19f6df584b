//! Casts: dtype conversion, and `detach` (stop_gradient), the identity that drops every
//! derivative.

use super::{Grads, PrimKind, Primitive};
use crate::array::{Array, DType};
use crate::core::Tensor;
use crate::core::bind;
use crate::error::Result;
use crate::kernels::copy::cast;
use smallvec::smallvec;

/// Convert the elements to another dtype. Derivatives flow between float dtypes only.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Cast {
    pub(crate) to: DType,
}

impl Primitive for Cast {
    fn name(&self) -> &'static str {
        "to_dtype"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Elementwise
    }
    // To a float dtype the cast is linear (only a float operand ever carries a tangent); to an
    // integer or bool dtype it rounds, with a zero derivative.
    fn linear(&self) -> bool {
        self.to.is_float()
    }
    fn differentiable(&self) -> bool {
        self.to.is_float()
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        Ok(cast(inputs[0], self.to))
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
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Detach;

impl Primitive for Detach {
    fn name(&self) -> &'static str {
        "detach"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Elementwise
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        Ok(inputs[0].clone())
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(self, inputs)
    }
    fn differentiable(&self) -> bool {
        false
    }
}

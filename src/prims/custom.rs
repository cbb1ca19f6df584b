//! A user's function with its own derivative rules, as one primitive: [`CustomCall`].
//!
//! `custom_jvp`, `custom_vjp`, `checkpoint` and the implicit-differentiation helper
//! (`transforms::custom`) each bind a `CustomCall` with the function's inputs as operands, so
//! that every interpreter meets the call as one primitive and applies *the user's* rule to it,
//! at any nesting depth: the jvp interpreter calls the jvp rule, the reverse-mode interpreter
//! records one tape node whose vjp is the user's backward (or the transposed jvp rule, or a
//! recomputation), and the batch interpreter binds a batched `CustomCall` (the function and
//! its rules vmapped) one level down. The rules are written with public ops, so they are
//! themselves traced by the levels below (`NOTE: [rules-use-ops]`).
//!
//! This is the one primitive that is **not plain data**: it holds the user's closures (behind
//! [`CustomRules`], which `transforms::custom` implements). It is compared and hashed by
//! identity (two calls are equal only if they are the same call), its kind is
//! [`PrimKind::Opaque`], and a staged graph replays it by calling the closures again.

use super::{Grads, Primitive};
use crate::array::Array;
use crate::core::PrimKind;
use crate::core::Tensor;
use crate::error::Result;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// What a [`CustomCall`] does under each interpreter. Operands come as owned handles (cheap
/// `Arc` clones). Implemented in `transforms::custom`, where the user's closures are adapted to
/// flat tensor lists.
pub(crate) trait CustomRules: Send + Sync {
    /// The call as users wrote it, e.g. `custom_jvp(log1pexp)`, for errors and `Debug`.
    fn call(&self) -> &str;
    /// The function on concrete operands (the output is checked to be concrete by the caller).
    fn eval(&self, inputs: &[Tensor]) -> Result<Tensor>;
    /// The output's tangent; `tangents[i]` is `None` for a zero tangent.
    fn jvp(
        &self,
        primals: &[Tensor],
        tangents: &[Option<&Tensor>],
        out: &Tensor,
    ) -> Result<Option<Tensor>>;
    /// The inputs' cotangents.
    fn vjp(&self, inputs: &[Tensor], out: &Tensor, ct: &Tensor, needs: &[bool]) -> Result<Grads>;
    /// The call on operands with a batch of `size` at dim 0 where `batched[i]`; the result
    /// carries the batch at dim 0.
    fn batch(&self, inputs: &[Tensor], batched: &[bool], size: usize) -> Result<Tensor>;
    /// See [`Primitive::forward_for_reverse`].
    fn forward_for_reverse(
        &self,
        _inputs: &[Tensor],
    ) -> Option<Result<(Tensor, Arc<dyn CustomRules>)>> {
        None
    }
}

/// A call of a user's function with its own rules (see the module docs).
#[derive(Clone)]
pub(crate) struct CustomCall(pub(crate) Arc<dyn CustomRules>);

impl fmt::Debug for CustomCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomCall({})", self.0.call())
    }
}

impl PartialEq for CustomCall {
    fn eq(&self, other: &CustomCall) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CustomCall {}

impl Hash for CustomCall {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as *const () as usize).hash(state)
    }
}

fn owned(inputs: &[&Tensor]) -> Vec<Tensor> {
    inputs.iter().map(|t| (*t).clone()).collect()
}

impl Primitive for CustomCall {
    fn name(&self) -> &'static str {
        "custom_call"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Opaque
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        let xs: Vec<Tensor> = inputs
            .iter()
            .map(|a| Tensor::from_array((*a).clone()))
            .collect();
        let out = self.0.eval(&xs)?;
        // The transforms' wrappers check that the function's output holds no tracer (a
        // captured one would be an error naming the function) before it gets here.
        Ok(out.concrete("custom_call")?.clone())
    }
    fn jvp(
        &self,
        primals: &[&Tensor],
        tangents: &[Option<&Tensor>],
        out: &Tensor,
    ) -> Result<Option<Tensor>> {
        self.0.jvp(&owned(primals), tangents, out)
    }
    fn vjp(&self, inputs: &[Tensor], out: &Tensor, ct: &Tensor, needs: &[bool]) -> Result<Grads> {
        self.0.vjp(inputs, out, ct, needs)
    }
    fn batch(&self, inputs: &[&Tensor], batched: &[bool], size: usize) -> Result<Tensor> {
        self.0.batch(&owned(inputs), batched, size)
    }
    fn forward_for_reverse(
        &self,
        inputs: &[&Tensor],
    ) -> Option<Result<(Tensor, Arc<dyn Primitive>)>> {
        let r = self.0.forward_for_reverse(&owned(inputs))?;
        Some(r.map(|(out, rules)| (out, Arc::new(CustomCall(rules)) as Arc<dyn Primitive>)))
    }
}

//! The [`Primitive`] trait: what every primitive declares so that `bind` and the interpreters
//! can apply it, and what an optimizer needs to know about it. The primitives themselves live
//! in `prims`, one file per family.
//!
//! A primitive is plain data: a struct of its parameters, cloned, compared and hashed by value
//! (f64 parameters by their bits), so that a recorded program can be deduplicated and cached
//! with `Arc<dyn Primitive>` as a map key. Its rules are methods: evaluation, the jvp (derived
//! for linear primitives), the vjp and the batch rule.

use super::{Tensor, bind};
use crate::array::Array;
use crate::error::{Error, Result};
use smallvec::SmallVec;
use std::any::Any;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Cotangents of a primitive's inputs (`None`: no gradient flows there).
pub(crate) type Grads = SmallVec<[Option<Tensor>; 3]>;

/// What a primitive is, for a pass that rewrites programs (fusion, common subexpressions,
/// layout). The exact primitive and its parameters are found by downcasting
/// ([`PrimData::as_any`]) to its struct in `prims`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PrimKind {
    /// Elementwise after broadcasting its operands to one shape, so it fuses into one loop:
    /// unary and binary math, comparisons, logic on masks, `where`, casts, `detach`.
    Elementwise,
    /// A new view of its one operand's elements, without arithmetic and (on contiguous or
    /// strided arrays) without a copy: reshape, permute, broadcast, slice, flip.
    View,
    /// Reads its first operand at positions listed by an i64 index operand: index_select,
    /// gather.
    Gather,
    /// Writes (or adds) its operands' elements into a fresh zero output at positions fixed by
    /// its parameters or by an index operand: pad, cat, index_add, scatter_add.
    Scatter,
    /// Reduces dims: sum, amax/amin, argmax/argmin.
    Reduce,
    /// A batched matrix product.
    Contraction,
    /// Draws from a random generator. It has no operands and a side effect (it advances the
    /// generator), so two equal draws are two draws: never merged, reordered or hoisted.
    Random,
    /// A kernel an optimizer treats as a black box: the matrix factorizations.
    Opaque,
}

/// What every primitive has by being plain data (`Clone + Eq + Hash`), usable through
/// `dyn Primitive`. Implemented for every such type; nothing implements it by hand.
pub(crate) trait PrimData {
    /// A copy that the tape (or a graph) can keep.
    fn clone_arc(&self) -> Arc<dyn Primitive>;
    /// For downcasting to the primitive's own struct.
    fn as_any(&self) -> &dyn Any;
    /// The primitive as a trait object (for the rules that bind it again).
    fn as_dyn(&self) -> &dyn Primitive;
    /// Same primitive with the same parameters (f64 parameters compared by bits).
    fn dyn_eq(&self, other: &dyn Primitive) -> bool;
    /// Hash of the primitive's type and parameters, consistent with [`PrimData::dyn_eq`].
    fn dyn_hash(&self, state: &mut dyn Hasher);
}

impl<T: Primitive + Clone + Eq + Hash> PrimData for T {
    fn clone_arc(&self) -> Arc<dyn Primitive> {
        Arc::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_dyn(&self) -> &dyn Primitive {
        self
    }
    fn dyn_eq(&self, other: &dyn Primitive) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
    fn dyn_hash(&self, mut state: &mut dyn Hasher) {
        std::any::TypeId::of::<T>().hash(&mut state);
        self.hash(&mut state);
    }
}

impl PartialEq for dyn Primitive {
    fn eq(&self, other: &dyn Primitive) -> bool {
        self.dyn_eq(other)
    }
}

impl Eq for dyn Primitive {}

impl Hash for dyn Primitive {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.dyn_hash(state)
    }
}

/// One primitive: its evaluation and its rules. See the module docs.
pub(crate) trait Primitive: PrimData + Debug + Send + Sync + 'static {
    /// The op's name in error messages.
    fn name(&self) -> &'static str;
    /// What the primitive is, for program rewrites.
    fn kind(&self) -> PrimKind;
    /// Whether the output is linear in the operands' values, jointly, with the integer and bool
    /// operands (indices, masks) held fixed: `f(a + b) = f(a) + f(b)` and `f(c·a) = c·f(a)`.
    /// A linear primitive needs no jvp rule of its own (see [`Primitive::jvp`]), and its vjp is
    /// its transpose.
    fn linear(&self) -> bool {
        false
    }
    /// Evaluate on concrete arrays (already validated by the public op).
    fn eval(&self, inputs: &[&Array]) -> Result<Array>;
    /// Forward rule. `tangents[i]` is `None` for a zero tangent; at least one is `Some`.
    /// Returns `None` if the output's tangent is zero.
    ///
    /// The default serves the primitives that declare it: a [`linear`](Primitive::linear)
    /// primitive's tangent is the primitive applied to the tangents ([`linear_jvp`]); a
    /// primitive that is not [`differentiable`](Primitive::differentiable) has a zero tangent.
    /// Every other primitive states its own rule.
    fn jvp(
        &self,
        primals: &[&Tensor],
        tangents: &[Option<&Tensor>],
        out: &Tensor,
    ) -> Result<Option<Tensor>> {
        let _ = out;
        if self.linear() {
            linear_jvp(self.as_dyn(), primals, tangents)
        } else if !self.differentiable() {
            Ok(None)
        } else {
            Err(missing_rule(self.name(), "jvp"))
        }
    }
    /// Reverse rule: the cotangent of each input, shaped like that input (for a linear
    /// primitive, its transpose applied to `ct`). The default serves the primitives that are
    /// not [`differentiable`](Primitive::differentiable), which reverse mode never records.
    fn vjp(&self, inputs: &[Tensor], out: &Tensor, ct: &Tensor, needs: &[bool]) -> Result<Grads> {
        let _ = (out, ct, needs);
        if self.differentiable() {
            return Err(missing_rule(self.name(), "vjp"));
        }
        Ok(inputs.iter().map(|_| None).collect())
    }
    /// Batching rule: `inputs[i]` carries a batch of `size` at dim 0 where `batched[i]`; the
    /// result must carry it at dim 0 too. Required of every primitive, so there is no
    /// loop-and-stack fallback that could hide a missing rule. (A primitive without operands
    /// is asked for `size` independent results, stacked at dim 0; see `NOTE: [nullary]`.)
    fn batch(&self, inputs: &[&Tensor], batched: &[bool], size: usize) -> Result<Tensor>;
    /// Whether reverse mode should record this primitive (false for integer-valued outputs and
    /// for ops whose derivative is zero everywhere).
    fn differentiable(&self) -> bool {
        true
    }
    /// For a primitive whose reverse rule needs values from its own forward pass (a user's
    /// `custom_vjp`, whose backward reads the forward's residuals): run the forward on operands
    /// already unwrapped by a reverse-mode level, so the residuals are traced by the levels
    /// below, and return the output with the primitive to record on the tape in its place.
    /// `None` (the default): the level binds the primitive one level down and records it.
    fn forward_for_reverse(
        &self,
        _inputs: &[&Tensor],
    ) -> Option<Result<(Tensor, Arc<dyn Primitive>)>> {
        None
    }
}

/// The jvp of a linear primitive: the primitive itself applied to the tangents. A missing
/// tangent of a float operand is a zero (a broadcast scalar, no allocation); an integer or bool
/// operand (an index, a mask) is held fixed, so its primal is passed as it is.
pub(crate) fn linear_jvp(
    prim: &dyn Primitive,
    primals: &[&Tensor],
    tangents: &[Option<&Tensor>],
) -> Result<Option<Tensor>> {
    let args: SmallVec<[Tensor; 4]> = primals
        .iter()
        .zip(tangents)
        .map(|(p, t)| match t {
            Some(t) => Ok((*t).clone()),
            None if p.dtype().is_float() => Tensor::zeros(&[], p.dtype())?.broadcast_to(p.shape()),
            None => Ok((*p).clone()),
        })
        .collect::<Result<_>>()?;
    let refs: SmallVec<[&Tensor; 4]> = args.iter().collect();
    Ok(Some(bind(prim, &refs)?))
}

/// A rule a primitive should have declared; reaching this is a bug in the primitive set.
fn missing_rule(op: &'static str, rule: &str) -> Error {
    Error::invalid(op, format!("this primitive has no {rule} rule"))
}

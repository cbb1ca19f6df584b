//! The [`Primitive`] trait: what every primitive declares so that `bind` and the interpreters
//! can apply it. The primitives themselves live in `prims`, one file per family.

use super::Tensor;
use crate::array::Array;
use crate::error::Result;
use smallvec::SmallVec;
use std::fmt::Debug;
use std::sync::Arc;

/// Cotangents of a primitive's inputs (`None`: no gradient flows there).
pub(crate) type Grads = SmallVec<[Option<Tensor>; 3]>;

/// Lets the tape keep its own copy of a primitive.
pub(crate) trait PrimClone {
    fn clone_arc(&self) -> Arc<dyn Primitive>;
}
impl<T: Primitive + Clone> PrimClone for T {
    fn clone_arc(&self) -> Arc<dyn Primitive> {
        Arc::new(self.clone())
    }
}

/// One primitive: its evaluation and its rules. See the module docs.
pub(crate) trait Primitive: PrimClone + Debug + Send + Sync + 'static {
    /// The op's name in error messages.
    fn name(&self) -> &'static str;
    /// Evaluate on concrete arrays (already validated by the public op).
    fn eval(&self, inputs: &[&Array]) -> Result<Array>;
    /// Forward rule. `tangents[i]` is `None` for a zero tangent; at least one is `Some`.
    /// Returns `None` if the output's tangent is zero.
    fn jvp(
        &self,
        primals: &[&Tensor],
        tangents: &[Option<&Tensor>],
        out: &Tensor,
    ) -> Result<Option<Tensor>>;
    /// Reverse rule: the cotangent of each input, shaped like that input.
    fn vjp(&self, inputs: &[Tensor], out: &Tensor, ct: &Tensor, needs: &[bool]) -> Result<Grads>;
    /// Batching rule: `inputs[i]` carries a batch of `size` at dim 0 where `batched[i]`; the
    /// result must carry it at dim 0 too. Required of every primitive, so there is no
    /// loop-and-stack fallback that could hide a missing rule.
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

//! The primitive set. Each primitive is plain data (a struct of its parameters) and declares,
//! side by side in the file of its family, everything the interpreters need:
//!
//! - `eval`: the kernel call on concrete arrays;
//! - `jvp`: the output's tangent from the inputs' tangents;
//! - `vjp`: the inputs' cotangents from the output's cotangent (for linear primitives this is
//!   the transpose);
//! - `batch`: the result on operands that carry a batch at dim 0.
//!
//! The rules are written with public ops (`NOTE: [rules-use-ops]`). Everything that is not here
//! is a decomposition in `ops` and needs no rules of its own.

pub(crate) mod binary;
pub(crate) mod compare;
pub(crate) mod index;
pub(crate) mod linalg;
pub(crate) mod matmul;
pub(crate) mod misc;
pub(crate) mod random;
pub(crate) mod reduce;
pub(crate) mod shape;
pub(crate) mod unary;

use crate::error::{Error, Result};
use crate::tensor::{Array, Tensor};
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
}

/// Give every batched operand of a broadcasting op the output's logical rank, by inserting
/// size-1 dims right after the batch dim, so that physical broadcasting lines up the batch dims
/// and the logical dims (unbatched operands broadcast over the batch as they are).
pub(crate) fn align_for_broadcast(
    inputs: &[&Tensor],
    batched: &[bool],
) -> Result<SmallVec<[Tensor; 4]>> {
    let rank = inputs
        .iter()
        .zip(batched)
        .map(|(t, &b)| if b { t.ndim() - 1 } else { t.ndim() })
        .max()
        .unwrap_or(0);
    inputs
        .iter()
        .zip(batched)
        .map(|(t, &b)| {
            let logical = if b { t.ndim() - 1 } else { t.ndim() };
            if b && logical < rank {
                let mut shape: Vec<i64> = vec![t.shape()[0] as i64];
                shape.extend(std::iter::repeat_n(1, rank - logical));
                shape.extend(t.shape()[1..].iter().map(|&s| s as i64));
                t.reshape(&shape)
            } else {
                Ok((*t).clone())
            }
        })
        .collect()
}

/// An operand with the batch at dim 0: batched ones as they are, unbatched ones broadcast
/// (a view) along a new leading dim of `size`.
pub(crate) fn with_batch(t: &Tensor, batched: bool, size: usize) -> Result<Tensor> {
    if batched {
        return Ok(t.clone());
    }
    let mut shape = vec![size];
    shape.extend_from_slice(t.shape());
    t.unsqueeze(0)?.broadcast_to(&shape)
}

/// A logical dim of a batched operand, as a physical dim (one past the batch).
#[inline]
pub(crate) fn phys(dim: usize) -> usize {
    dim + 1
}

/// Check a kernel operand's dtype is float; kernels are only reached after the public op checked.
pub(crate) fn expect_same_dtype(op: &'static str, arrays: &[&Array]) -> Result<()> {
    let d = arrays[0].dtype();
    for a in &arrays[1..] {
        if a.dtype() != d {
            return Err(Error::DType {
                op,
                expected: d.name(),
                got: a.dtype(),
            });
        }
    }
    Ok(())
}

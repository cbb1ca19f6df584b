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
pub(crate) mod custom;
pub(crate) mod index;
pub(crate) mod linalg;
pub(crate) mod matmul;
pub(crate) mod misc;
pub(crate) mod random;
pub(crate) mod reduce;
pub(crate) mod shape;
pub(crate) mod unary;

use crate::array::Array;
use crate::core::Tensor;
use crate::error::{Error, Result};
use smallvec::SmallVec;

pub(crate) use crate::core::{Grads, Primitive};

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

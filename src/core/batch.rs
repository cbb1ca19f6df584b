//! The batch (vmap) interpreter: tracers carry their batch at dim 0 of the inner value; a
//! primitive's batch rule maps physical operands to a physical result. See `NOTE: [levels]`.

use super::{Level, Primitive, Tensor, TracerKind};
use crate::error::Result;
use smallvec::SmallVec;
use std::sync::Arc;

/// What a random op does inside `vmap` (torch.func's `randomness` argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Randomness {
    /// A random op inside the vmapped function is an error (the default, as in torch.func).
    #[default]
    Error,
    /// Every batch element gets its own independent draw.
    Different,
    /// One draw is shared by all batch elements.
    Same,
}

pub(super) fn process(
    level: &Arc<Level>,
    size: usize,
    prim: &dyn Primitive,
    inputs: &[&Tensor],
) -> Result<Tensor> {
    let mut flags: SmallVec<[bool; 4]> = SmallVec::new();
    let vals: SmallVec<[&Tensor; 4]> = inputs
        .iter()
        .map(|t| match t.tracer_at(level) {
            Some(TracerKind::Batch { value }) => {
                flags.push(true);
                value
            }
            _ => {
                flags.push(false);
                *t
            }
        })
        .collect();
    let out = prim.batch(&vals, &flags, size)?;
    debug_assert_eq!(
        out.shape().first(),
        Some(&size),
        "batch rule of {} lost the batch dim",
        prim.name()
    );
    Ok(batched(level, out))
}

/// Wrap a physical value (batch at dim 0) as a tracer of `level`.
pub(crate) fn batched(level: &Arc<Level>, value: Tensor) -> Tensor {
    let shape: SmallVec<[usize; 4]> = SmallVec::from_slice(&value.shape()[1..]);
    let dtype = value.dtype();
    Tensor::wrap(level, &shape, dtype, TracerKind::Batch { value })
}

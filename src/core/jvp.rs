//! The forward-mode interpreter: tracers carry a primal and a tangent (`None` = zero). The
//! primal result is the primitive bound one level down; the tangent comes from the primitive's
//! jvp rule. See `NOTE: [levels]`.

use super::{Level, Primitive, Tensor, TracerKind, bind};
use crate::error::Result;
use smallvec::SmallVec;
use std::sync::Arc;

pub(super) fn process(
    level: &Arc<Level>,
    prim: &dyn Primitive,
    inputs: &[&Tensor],
) -> Result<Tensor> {
    let mut tangents: SmallVec<[Option<&Tensor>; 4]> = SmallVec::new();
    let primals: SmallVec<[&Tensor; 4]> = inputs
        .iter()
        .map(|t| match t.tracer_at(level) {
            Some(TracerKind::Dual { primal, tangent }) => {
                tangents.push(tangent.as_ref());
                primal
            }
            _ => {
                tangents.push(None);
                *t
            }
        })
        .collect();
    let out = bind(prim, &primals)?;
    if tangents.iter().all(Option::is_none) {
        return Ok(out);
    }
    match prim.jvp(&primals, &tangents, &out)? {
        None => Ok(out),
        Some(t) => {
            debug_assert_eq!(
                t.shape(),
                out.shape(),
                "jvp rule of {} gave a tangent of the wrong shape",
                prim.name()
            );
            Ok(dual(level, out, Some(t)))
        }
    }
}

/// Wrap a primal and its tangent as a tracer of `level`.
pub(crate) fn dual(level: &Arc<Level>, primal: Tensor, tangent: Option<Tensor>) -> Tensor {
    let shape: SmallVec<[usize; 4]> = SmallVec::from_slice(primal.shape());
    let dtype = primal.dtype();
    Tensor::wrap(level, &shape, dtype, TracerKind::Dual { primal, tangent })
}

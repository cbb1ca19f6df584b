//! The reverse-mode interpreter: a tape per level.
//!
//! While the transform's function runs, every primitive that touches a tracked value of this
//! level is bound one level down and recorded as a node: the primitive (pure data), its input
//! values and its output value. When the function returns, the level dies and the tape is
//! frozen; the vjp transform's pullback (`transforms::vjp`) then walks it backwards, calling
//! each primitive's vjp rule. The rules use public ops (`NOTE: [rules-use-ops]`), so the
//! backward pass is itself traced by whatever transforms are running when it is called: the
//! pullback is differentiable and batchable, and can be called any number of times.

use super::{Level, Primitive, Tensor, TracerKind, bind};
use crate::error::Result;
use smallvec::SmallVec;
use std::sync::{Arc, Mutex};

/// A recorded step.
pub(crate) enum TapeNode {
    /// An input of the transform.
    Leaf,
    /// A primitive applied to values, some of which were tracked (`parents`).
    Op {
        prim: Arc<dyn Primitive>,
        inputs: SmallVec<[Tensor; 3]>,
        out: Tensor,
        parents: SmallVec<[Option<usize>; 3]>,
    },
}

/// The nodes recorded at one level.
#[derive(Default)]
pub(crate) struct Tape {
    nodes: Mutex<Vec<TapeNode>>,
}

impl Tape {
    pub(crate) fn push(&self, node: TapeNode) -> usize {
        let mut n = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        n.push(node);
        n.len() - 1
    }
    /// Take the nodes out once the level is dead.
    pub(crate) fn freeze(&self) -> Arc<Vec<TapeNode>> {
        Arc::new(std::mem::take(
            &mut *self.nodes.lock().unwrap_or_else(|e| e.into_inner()),
        ))
    }
}

pub(super) fn process(
    level: &Arc<Level>,
    tape: &Tape,
    prim: &dyn Primitive,
    inputs: &[&Tensor],
) -> Result<Tensor> {
    let mut parents: SmallVec<[Option<usize>; 3]> = SmallVec::new();
    let values: SmallVec<[&Tensor; 4]> = inputs
        .iter()
        .map(|t| match t.tracer_at(level) {
            Some(TracerKind::Grad { value, node }) => {
                parents.push(Some(*node));
                value
            }
            _ => {
                parents.push(None);
                *t
            }
        })
        .collect();
    let (out, recorded) = match prim.forward_for_reverse(&values) {
        Some(r) => {
            let (out, p) = r?;
            (out, Some(p))
        }
        None => (bind(prim, &values)?, None),
    };
    if !out.dtype().is_float() || !prim.differentiable() {
        return Ok(out);
    }
    let node = tape.push(TapeNode::Op {
        prim: recorded.unwrap_or_else(|| prim.clone_arc()),
        inputs: values.iter().map(|t| (*t).clone()).collect(),
        out: out.clone(),
        parents,
    });
    Ok(tracked(level, out, node))
}

/// Wrap a value as a tracer of `level` tracked by `node`.
pub(crate) fn tracked(level: &Arc<Level>, value: Tensor, node: usize) -> Tensor {
    let shape: SmallVec<[usize; 4]> = SmallVec::from_slice(value.shape());
    let dtype = value.dtype();
    Tensor::wrap(level, &shape, dtype, TracerKind::Grad { value, node })
}

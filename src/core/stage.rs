//! The staging interpreter: records the primitives bound at its level into a [`Graph`], while
//! running them one level down, so the first call of a `jit` function computes its result and
//! its program at once (`NOTE: [staging]`).

// NOTE: [staging]
// A stage level's tracers wrap an inner value (the value the eager computation gives) and an
// atom of the graph being recorded (an input, or the output of an earlier equation). Its rule
// for every primitive is the same: unwrap its tracers, bind the primitive one level down (so
// shapes, dtypes and values come from the real computation: no shape rules are needed), append
// an equation, and wrap the result. An operand that is not one of its tracers is a constant of
// the graph: a concrete tensor is kept by reference; a tracer of another running transform
// (a closure that captured it) is kept too, but marks the graph as valid for this call only,
// since that tracer will not exist at the next call. Because the stage level is a level like
// any other, `jit(hessian(f))` (stage below the transforms) records the whole transformed
// program, and `hessian(jit(f))` (stage above them) records `f` alone, whose equations the
// outer transforms then see one by one when the graph is replayed through `bind`.

use super::{Level, PrimKind, Primitive, SkipForDraws, Tensor, TracerKind, bind};
use crate::array::Shape;
use crate::dtype::DType;
use crate::error::Result;
use smallvec::SmallVec;
use std::sync::{Arc, Mutex};

/// A value in a graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Atom {
    /// The graph's `i`-th input (a leaf of the flattened arguments).
    In(usize),
    /// The output of equation `i`.
    Var(usize),
    /// The graph's `i`-th constant.
    Const(usize),
}

/// One primitive application: `out_i = prim(ins...)`.
#[derive(Clone)]
pub(crate) struct Eqn {
    pub(crate) prim: Arc<dyn Primitive>,
    pub(crate) ins: SmallVec<[Atom; 3]>,
    pub(crate) shape: Shape,
    pub(crate) dtype: DType,
}

/// A recorded program over flat tensor lists: SSA equations in order.
#[derive(Clone, Default)]
pub(crate) struct Graph {
    /// Shape and dtype of each input.
    pub(crate) inputs: Vec<(Shape, DType)>,
    /// Tensors the program reads that are not inputs (captured or created while tracing).
    pub(crate) consts: Vec<Tensor>,
    pub(crate) eqns: Vec<Eqn>,
    pub(crate) outs: Vec<Atom>,
    /// False when a constant is a tracer of another transform: valid for one call only.
    pub(crate) reusable: bool,
}

impl Graph {
    /// The shape of an atom.
    pub(crate) fn shape(&self, a: Atom) -> &[usize] {
        match a {
            Atom::In(i) => &self.inputs[i].0,
            Atom::Var(i) => &self.eqns[i].shape,
            Atom::Const(i) => self.consts[i].shape(),
        }
    }

    /// The dtype of an atom.
    pub(crate) fn dtype(&self, a: Atom) -> DType {
        match a {
            Atom::In(i) => self.inputs[i].1,
            Atom::Var(i) => self.eqns[i].dtype,
            Atom::Const(i) => self.consts[i].dtype(),
        }
    }
}

/// The graph a stage level is recording.
pub(crate) struct Recorder {
    graph: Mutex<Graph>,
}

impl Recorder {
    pub(crate) fn new(inputs: Vec<(Shape, DType)>) -> Recorder {
        Recorder {
            graph: Mutex::new(Graph {
                inputs,
                reusable: true,
                ..Graph::default()
            }),
        }
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// The atom of a tensor that is not one of this level's tracers.
    pub(crate) fn constant(&self, t: &Tensor) -> Atom {
        let mut g = self.lock();
        if let Some(i) = g.consts.iter().position(|c| Arc::ptr_eq(&c.0, &t.0)) {
            return Atom::Const(i);
        }
        if !t.is_concrete() {
            g.reusable = false;
        }
        g.consts.push(t.clone());
        Atom::Const(g.consts.len() - 1)
    }
    /// The recorded graph (the recorder is left empty).
    pub(crate) fn take(&self) -> Graph {
        std::mem::take(&mut *self.lock())
    }
}

pub(super) fn process(
    level: &Arc<Level>,
    rec: &Recorder,
    prim: &dyn Primitive,
    inputs: &[&Tensor],
) -> Result<Tensor> {
    let mut atoms: SmallVec<[Atom; 3]> = SmallVec::new();
    let values: SmallVec<[&Tensor; 4]> = inputs
        .iter()
        .map(|t| match t.tracer_at(level) {
            Some(TracerKind::Staged { value, atom }) => {
                atoms.push(*atom);
                value
            }
            _ => {
                atoms.push(rec.constant(t));
                *t
            }
        })
        .collect();
    // a black box may run a user's code (a custom call), whose draws are its own: they skip
    // this level (`NOTE: [nullary]`), so they are not recorded apart from the call, whose
    // replay runs that code again and draws afresh
    let skip = (prim.kind() == PrimKind::Opaque).then(|| SkipForDraws::new(level.id));
    let out = bind(prim, &values)?;
    drop(skip);
    let atom = {
        let mut g = rec.lock();
        g.eqns.push(Eqn {
            prim: prim.clone_arc(),
            ins: atoms,
            shape: Shape::from_slice(out.shape()),
            dtype: out.dtype(),
        });
        Atom::Var(g.eqns.len() - 1)
    };
    Ok(staged(level, out, atom))
}

/// Wrap a value as a tracer of stage level `level` standing for `atom`.
pub(crate) fn staged(level: &Arc<Level>, value: Tensor, atom: Atom) -> Tensor {
    let shape: SmallVec<[usize; 4]> = SmallVec::from_slice(value.shape());
    let dtype = value.dtype();
    Tensor::wrap(level, &shape, dtype, TracerKind::Staged { value, atom })
}

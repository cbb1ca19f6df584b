//! The core: the handle [`Tensor`], the [`Primitive`] trait, the interpreter stack (levels and
//! tracers) and `bind`, which applies a primitive at the highest running level.
//!
//! Dependencies point one way: `core` sits on `array` (concrete arrays) and knows nothing of the
//! primitives themselves (`prims`), the public ops (`ops`) or the transforms. The notes below are
//! the design of the whole crate in two paragraphs; code elsewhere refers to them by name.

// NOTE: [levels]
// Every running transform owns a `Level`: a unique, increasing id, a kind (batch, jvp, grad)
// and an `alive` flag. Transforms push their level on a thread-local stack with an RAII guard
// (`LevelGuard`), so a panic in a user's function pops it again. A tracer records the level it
// belongs to. `bind` looks at the operands of a primitive, picks the tracer with the *highest*
// level id, and hands the primitive to that level's rule; operands of lower levels (or concrete
// ones) are constants to that rule. The rule unwraps its own tracers and applies public ops to
// the inner values, which binds again one level down, until the operands are concrete and the
// kernel runs. Because ids only grow and a level is alive exactly while its transform runs,
// (a) nested transforms never confuse their perturbations: `d/dx [x · d/dy (x + y)]` sees `x` as
// a constant of the inner level, and (b) a tracer that escapes its transform is recognized by
// its dead level: a grad/jvp one acts as its value, a vmap one is refused with
// `Error::EscapedTracer` (`NOTE: [escaped]`, in `unwrap.rs`).

// NOTE: [rules-use-ops]
// Every rule (jvp, vjp, batch) is written with the crate's public ops on `Tensor`s, never with
// kernels. So a rule run under an outer transform is itself traced by that transform: this is
// what makes `jacfwd(jacrev(f))`, `vmap(hessian(f))` and `grad(grad(grad(f)))` work by
// construction, to any depth. The one exception binds a primitive directly, which is traced
// just the same (`bind` is what the public ops call): the rules of the linear primitives in
// `prims::shape`, `prims::index`, `prims::reduce` (sum), `prims::matmul`, `prims::cast` and
// `prims::linalg` (solve), and every batch rule. They do so because (a) a transpose may need a
// primitive no public op exposes with those parameters (pad into a given size, index_add,
// scatter_add into a shape), (b) a batch rule re-binds the primitive with physical parameters
// (dims shifted past the batch dim) on operands the public op already validated, and (c) a
// linear primitive's jvp is the primitive itself applied to the tangents (`linear_jvp`). The
// dependency loop this makes (ops → core → prims → ops) runs through methods on `Tensor` and
// through `bind`, and is the only one between modules.

// NOTE: [nullary]
// A primitive without operands (a random draw) has no tracer to say at which level it runs, so
// `bind` applies it at the top of the running level stack, and that level decides: a batch level
// applies its `randomness` ("error" refuses; "different" asks the primitive's batch rule for one
// draw per batch element and wraps the result as batched at this level; "same" draws once,
// below, and the unbatched result is a constant of this level), while jvp and grad levels pass it
// down (a constant to them: zero tangent, untracked). "Below" is enforced by a ceiling: while a
// level handles a nullary primitive, nullary binds inside it only see the levels under it (as
// functorch's dynamic-layer stack pops its top while the top's rule runs). So with nested
// vmaps the outermost "different" level's batch dim comes first, and the draw happens once, at
// the bottom, with the full batched shape.

mod batch;
mod display;
pub(crate) mod grad;
mod jvp;
mod primitive;
pub(crate) mod stage;
mod tensor;
mod unwrap;

use crate::array::{Array, Shape};
use crate::dtype::DType;
use crate::error::{Error, Result};
use smallvec::SmallVec;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use batch::Randomness;
pub(crate) use batch::batched;
pub(crate) use grad::Tape;
pub(crate) use jvp::dual;
pub(crate) use primitive::{Grads, PrimKind, Primitive, linear_jvp};
pub(crate) use tensor::Repr;
pub use tensor::Tensor;

/// What a level does with the primitives bound at it.
pub(crate) enum LevelKind {
    /// vmap: tracers hold a value with the batch at dim 0.
    Batch { size: usize, randomness: Randomness },
    /// forward mode: tracers hold a primal and a tangent.
    Jvp,
    /// reverse mode: tracers hold a value and a node of this level's tape.
    Grad { tape: Tape },
    /// staging (`jit`): tracers hold a value and an atom of the graph being recorded.
    Stage { rec: stage::Recorder },
}

/// One running transform. See `NOTE: [levels]`.
pub(crate) struct Level {
    pub(crate) id: u64,
    alive: AtomicBool,
    pub(crate) kind: LevelKind,
}

static NEXT_LEVEL: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static STACK: RefCell<Vec<Arc<Level>>> = const { RefCell::new(Vec::new()) };
    /// Nullary primitives only see the levels below this id (`NOTE: [nullary]`).
    static CEILING: Cell<u64> = const { Cell::new(u64::MAX) };
    /// Levels that nullary primitives skip (see [`SkipForDraws`]).
    static SKIPPED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// While alive, nullary primitives skip level `id`: a custom call's batch rule runs the
/// user's function under a vmap of its own with that level's `randomness`, which stands in for
/// it (`transforms::custom`), so a draw there is batched once, not again by the level itself;
/// and a stage level binding a black box one level down (a custom call, which runs the user's
/// code) leaves its draws to the levels below, since the recorded call draws when replayed.
pub(crate) struct SkipForDraws;

impl SkipForDraws {
    pub(crate) fn new(id: u64) -> SkipForDraws {
        SKIPPED.with(|s| s.borrow_mut().push(id));
        SkipForDraws
    }
}

impl Drop for SkipForDraws {
    fn drop(&mut self) {
        SKIPPED.with(|s| s.borrow_mut().pop());
    }
}

impl Level {
    #[inline]
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }
    pub(crate) fn kind_name(&self) -> &'static str {
        match self.kind {
            LevelKind::Batch { .. } => "vmap",
            LevelKind::Jvp => "jvp",
            LevelKind::Grad { .. } => "vjp/grad",
            LevelKind::Stage { .. } => "jit",
        }
    }
}

/// Pushes a level on creation and pops it (marking it dead) on drop, panics included.
pub(crate) struct LevelGuard {
    pub(crate) level: Arc<Level>,
}

impl LevelGuard {
    pub(crate) fn push(kind: LevelKind) -> LevelGuard {
        let level = Arc::new(Level {
            id: NEXT_LEVEL.fetch_add(1, Ordering::Relaxed),
            alive: AtomicBool::new(true),
            kind,
        });
        STACK.with(|s| s.borrow_mut().push(level.clone()));
        LevelGuard { level }
    }
}

impl Drop for LevelGuard {
    fn drop(&mut self) {
        self.level.alive.store(false, Ordering::Relaxed);
        let id = self.level.id;
        STACK.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(i) = s.iter().rposition(|l| l.id == id) {
                s.remove(i);
            }
        });
    }
}

/// A tensor being traced by some level.
pub(crate) struct Tracer {
    pub(crate) level: Arc<Level>,
    pub(crate) shape: Shape,
    pub(crate) dtype: DType,
    pub(crate) kind: TracerKind,
}

pub(crate) enum TracerKind {
    /// `value` carries the batch at dim 0; the tracer's shape is `value.shape()[1..]`.
    Batch { value: Tensor },
    /// A primal and its tangent (`None` is a symbolic zero).
    Dual {
        primal: Tensor,
        tangent: Option<Tensor>,
    },
    /// A value tracked by node `node` of the level's tape.
    Grad { value: Tensor, node: usize },
    /// A value recorded as `atom` of the level's graph.
    Staged { value: Tensor, atom: stage::Atom },
}

impl Tracer {
    pub(crate) fn kind_name(&self) -> &'static str {
        self.level.kind_name()
    }
}

impl fmt::Display for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TracerKind::Batch { value } => write!(
                f,
                "BatchedTensor(lvl={}, bdim=0, value={value})",
                self.level.id
            ),
            TracerKind::Dual { primal, tangent } => match tangent {
                Some(t) => write!(
                    f,
                    "DualTensor(lvl={}, primal={primal}, tangent={t})",
                    self.level.id
                ),
                None => write!(
                    f,
                    "DualTensor(lvl={}, primal={primal}, tangent=0)",
                    self.level.id
                ),
            },
            TracerKind::Grad { value, node } => write!(
                f,
                "GradTrackingTensor(lvl={}, node={node}, value={value})",
                self.level.id
            ),
            TracerKind::Staged { value, atom } => write!(
                f,
                "StagedTensor(lvl={}, {atom:?}, value={value})",
                self.level.id
            ),
        }
    }
}

impl Tensor {
    /// If this tensor is a tracer of `level`, its kind.
    #[inline]
    pub(crate) fn tracer_at(&self, level: &Level) -> Option<&TracerKind> {
        match self.tracer() {
            Some(t) if t.level.id == level.id => Some(&t.kind),
            // a finished transform's wrapper stands for its value (`NOTE: [escaped]`)
            Some(t) => t.dead_value()?.tracer_at(level),
            None => None,
        }
    }
    pub(crate) fn wrap(
        level: &Arc<Level>,
        shape: &[usize],
        dtype: DType,
        kind: TracerKind,
    ) -> Tensor {
        Tensor::from_tracer(Tracer {
            level: level.clone(),
            shape: SmallVec::from_slice(shape),
            dtype,
            kind,
        })
    }
}

/// Run `f` with the running levels that `t` is traced by on this thread's stack: a tensor sent
/// to another thread is still traced by its transforms (an op with operands finds its levels
/// through them), but an op without operands finds levels only on the stack (`NOTE:
/// [nullary]`). The random ops derived from an operand (`randn_like`, `dropout`, `bernoulli`,
/// ...) draw inside this, so on any thread they follow the operand's `vmap` randomness.
pub(crate) fn with_levels_of<R>(t: &Tensor, f: impl FnOnce() -> R) -> R {
    let mut missing: Vec<Arc<Level>> = Vec::new();
    let mut cur = t.clone();
    while let Some(tr) = cur.tracer() {
        let on_stack = STACK.with(|s| s.borrow().iter().any(|l| l.id == tr.level.id));
        if tr.level.is_alive() && !on_stack {
            missing.push(tr.level.clone());
        }
        let inner = match &tr.kind {
            TracerKind::Batch { value }
            | TracerKind::Grad { value, .. }
            | TracerKind::Staged { value, .. } => value.clone(),
            TracerKind::Dual { primal, .. } => primal.clone(),
        };
        cur = inner;
    }
    if missing.is_empty() {
        return f();
    }
    /// Puts the thread's own stack back, panics included.
    struct Restore(Vec<Arc<Level>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            STACK.with(|s| *s.borrow_mut() = std::mem::take(&mut self.0));
        }
    }
    let saved = STACK.with(|s| s.borrow().clone());
    let mut merged = saved.clone();
    merged.extend(missing);
    merged.sort_by_key(|l| l.id);
    STACK.with(|s| *s.borrow_mut() = merged);
    let _restore = Restore(saved);
    f()
}

/// Apply a primitive: at the highest level among the operands, or by evaluation if all are
/// concrete. See `NOTE: [levels]`; a primitive without operands: `NOTE: [nullary]`.
pub(crate) fn bind(prim: &dyn Primitive, inputs: &[&Tensor]) -> Result<Tensor> {
    if inputs.is_empty() {
        return bind_nullary(prim);
    }
    let mut top: Option<&Arc<Level>> = None;
    for t in inputs {
        if let Some(tr) = t.tracer() {
            if !tr.level.is_alive() {
                // drop the wrappers of finished transforms (`NOTE: [escaped]`) and bind again
                let live: SmallVec<[Tensor; 4]> = inputs
                    .iter()
                    .map(|t| t.live(prim.name()).cloned())
                    .collect::<Result<_>>()?;
                let refs: SmallVec<[&Tensor; 4]> = live.iter().collect();
                return bind(prim, &refs);
            }
            if top.is_none_or(|l| tr.level.id > l.id) {
                top = Some(&tr.level);
            }
        }
    }
    let Some(level) = top else {
        let arrays: SmallVec<[&Array; 4]> = inputs.iter().map(|t| t.array().unwrap()).collect();
        let eval = || prim.eval(&arrays);
        return crate::array::pool::fallible(prim.name(), eval).map(Tensor::from_array);
    };
    let level = level.clone();
    match &level.kind {
        LevelKind::Batch { size, .. } => batch::process(&level, *size, prim, inputs),
        LevelKind::Jvp => jvp::process(&level, prim, inputs),
        LevelKind::Grad { tape } => grad::process(&level, tape, prim, inputs),
        LevelKind::Stage { rec } => stage::process(&level, rec, prim, inputs),
    }
}

/// Lowers the nullary ceiling to a level's id while that level handles a nullary primitive,
/// and restores it on drop (panics included).
struct CeilingGuard(u64);

impl CeilingGuard {
    fn lower_to(id: u64) -> CeilingGuard {
        CeilingGuard(CEILING.replace(id))
    }
}

impl Drop for CeilingGuard {
    fn drop(&mut self) {
        CEILING.set(self.0);
    }
}

/// `bind` for a primitive without operands: at the top of the running stack, under the
/// ceiling. See `NOTE: [nullary]`.
fn bind_nullary(prim: &dyn Primitive) -> Result<Tensor> {
    let ceiling = CEILING.get();
    let skipped = |id: u64| SKIPPED.with(|s| s.borrow().contains(&id));
    let level = STACK.with(|s| {
        s.borrow()
            .iter()
            .rev()
            .find(|l| l.id < ceiling && !skipped(l.id))
            .cloned()
    });
    let Some(level) = level else {
        let eval = || prim.eval(&[]);
        return crate::array::pool::fallible(prim.name(), eval).map(Tensor::from_array);
    };
    let _below = CeilingGuard::lower_to(level.id);
    match &level.kind {
        LevelKind::Batch { size, randomness } if prim.kind() == PrimKind::Random => {
            match randomness {
                Randomness::Error => Err(Error::Randomness { op: prim.name() }),
                Randomness::Same => bind_nullary(prim),
                Randomness::Different => {
                    let out = prim.batch(&[], &[], *size)?;
                    debug_assert_eq!(
                        out.shape().first(),
                        Some(size),
                        "batch rule of {} lost the batch dim",
                        prim.name()
                    );
                    Ok(batched(&level, out))
                }
            }
        }
        // a constant of this level: unbatched, zero tangent, untracked
        LevelKind::Batch { .. } | LevelKind::Jvp | LevelKind::Grad { .. } => bind_nullary(prim),
        // recorded, so a compiled program draws afresh on every replay
        LevelKind::Stage { rec } => stage::process(&level, rec, prim, &[]),
    }
}

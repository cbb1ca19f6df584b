//! Small programs: the executor for graphs whose values are all tiny (a Hessian of a few
//! variables), where the cost of a replay is bookkeeping, not arithmetic.
//!
//! Every value of such a graph gets a fixed place in one buffer, the *arena*, laid out once at
//! compile time: the constants (written into the arena's initial image), the inputs (copied in
//! at the start of each call) and each equation's value, row-major contiguous. The arena is
//! kept between calls (the buffer plan: a replay allocates only its outputs), and the compiled
//! program is a flat list of [`Op`]s over arena offsets:
//!
//! - **Views and other data movement** (reshape, permute, broadcast, slice, pad, concat, flip)
//!   become index maps, computed at compile time by running the primitive's own kernel on an
//!   array of arena positions: each output element's source position, or none where the
//!   primitive writes zero. A map that is a contiguous run of positions is an *alias* (the
//!   value is that part of the arena; nothing runs), any other map a gather. A map over a
//!   gathered value is composed with that value's map, so chains of views are one gather from
//!   where the data lies, and gathers nothing reads are dropped.
//! - **Elementwise float ops** run the same functions as the fused kernels (so eager's bits) on
//!   arena slices; an operand of one element is read as a scalar, any other broadcast operand
//!   through a gather into a scratch part of the arena.
//! - **Everything else** (reductions, matrix products, ...) runs its primitive's kernel on
//!   arrays copied from the arena, and its value is copied back.
//!
//! Places are never shared between values, and each is written once per call, before anything
//! reads it (every value's place lies after its operands'), so an alias stays valid for the
//! whole call.

use super::tile::{Arg, Zip, unary};
use crate::array::pool::fallible;
use crate::array::{AlignedVec, Array, DType, Element, Float, Shape, numel};
use crate::core::stage::{Atom, Graph};
use crate::core::{PrimKind, Primitive, Tensor};
use crate::error::Result;
use crate::kernels::strided::collect;
use crate::prims::binary::Binary;
use crate::prims::shape::{BroadcastTo, Concat, Flip, Pad, Permute, Reshape, Slice};
use crate::prims::unary::Unary;
use smallvec::SmallVec;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::{Arc, Mutex, TryLockError};

/// Graphs run as small programs when no value has more elements than this...
pub(crate) const SMALL_VALUE: usize = 512;
/// ... and the arena holds at most this many elements.
pub(crate) const SMALL_ARENA: usize = 8192;

/// An operand of an elementwise op: a slice of the arena, or one element read as a scalar.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Operand {
    S(usize),
    C(usize),
}

impl Operand {
    fn at(self) -> usize {
        match self {
            Operand::S(a) | Operand::C(a) => a,
        }
    }
}

/// One step of a small program.
#[derive(Debug)]
pub(crate) enum Op {
    /// `arena[dst + k] = arena[idx[k] - 1]`, or +0.0 where `idx[k]` is 0 (`idx`: a range of
    /// [`Small::idx`]).
    Gather { dst: usize, idx: Range<usize> },
    /// A unary float op over `n` elements.
    Un {
        op: crate::prims::unary::UnaryOp,
        x: Operand,
        dst: usize,
        n: usize,
    },
    /// A binary float op over `n` elements.
    Bin {
        op: crate::prims::binary::BinaryOp,
        a: Operand,
        b: Operand,
        dst: usize,
        n: usize,
    },
    /// Any other primitive, on arrays copied out of the arena: `(offset, shape)` of each
    /// operand; its value is copied to `dst`.
    Eval {
        prim: Arc<dyn Primitive>,
        ins: SmallVec<[(usize, Shape); 3]>,
        dst: usize,
        n: usize,
    },
}

/// Where a graph output comes from.
#[derive(Debug)]
enum Out {
    In(usize),
    Const(usize),
    Arena(usize, Shape),
}

/// A compiled small program over elements of type `T` (see the module docs).
pub(crate) struct Small<T> {
    /// The arena as a call starts: the constants in place, zeros elsewhere.
    image: Vec<T>,
    /// The arena of the previous call, reused by the next (a call that finds it in use by
    /// another thread starts from a copy of `image`).
    arena: Mutex<Vec<T>>,
    /// Offset of each graph input.
    inputs: Vec<usize>,
    pub(crate) ops: Vec<Op>,
    /// The gathers' index maps, concatenated.
    idx: Vec<u32>,
    outs: Vec<Out>,
    /// What became of each equation (for display).
    pub(crate) fate: Vec<Fate>,
}

/// What became of an equation in a small program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// An op computes it.
    Op,
    /// Data movement whose value is a contiguous part of the arena: no op.
    Alias,
    /// Data movement computed as a gather.
    Gather,
    /// Data movement folded into the gathers that read it: no op.
    Folded,
}

/// A small program of either float type.
pub(crate) enum SmallProgram {
    F32(Small<f32>),
    F64(Small<f64>),
}

impl SmallProgram {
    /// The small program of `g`, if it qualifies: every input, constant and value is of one
    /// float dtype, the constants are concrete, nothing draws random numbers, and the sizes are
    /// within [`SMALL_VALUE`] and [`SMALL_ARENA`].
    pub(crate) fn new(g: &Graph) -> Option<SmallProgram> {
        let d = g
            .inputs
            .first()
            .map(|i| i.1)
            .or_else(|| g.eqns.first().map(|e| e.dtype))?;
        let ok = matches!(d, DType::F32 | DType::F64)
            && g.inputs
                .iter()
                .all(|i| i.1 == d && numel(&i.0) <= SMALL_VALUE)
            && g.consts
                .iter()
                .all(|c| c.tracer().is_none() && c.dtype() == d && c.numel() <= SMALL_VALUE)
            && g.eqns.iter().all(|e| {
                e.dtype == d && numel(&e.shape) <= SMALL_VALUE && e.prim.kind() != PrimKind::Random
            });
        if !ok {
            return None;
        }
        match d {
            DType::F32 => Small::build(g).map(SmallProgram::F32),
            DType::F64 => Small::build(g).map(SmallProgram::F64),
            _ => None,
        }
    }

    /// Run on concrete `inputs`; `None` if one is not an array of the program's dtype (the
    /// caller then replays another way).
    pub(crate) fn run(&self, g: &Graph, inputs: &[Tensor]) -> Option<Result<Vec<Tensor>>> {
        match self {
            SmallProgram::F32(s) => s.run(g, inputs),
            SmallProgram::F64(s) => s.run(g, inputs),
        }
    }
}

/// Whether a primitive only moves elements (or writes zeros): its map from output to input
/// positions is found by evaluating it on positions.
fn moves_data(p: &dyn Primitive) -> bool {
    let a = p.as_any();
    a.is::<Reshape>()
        || a.is::<Permute>()
        || a.is::<BroadcastTo>()
        || a.is::<Slice>()
        || a.is::<Pad>()
        || a.is::<Concat>()
        || a.is::<Flip>()
}

/// The arena positions (1-based) of a value's elements, row-major.
fn positions(at: usize, n: usize) -> Vec<u32> {
    (at + 1..at + 1 + n).map(|p| p as u32).collect()
}

impl<T: Float> Small<T> {
    fn build(g: &Graph) -> Option<Small<T>> {
        let mut image: Vec<T> = Vec::new();
        let place_of = |image: &mut Vec<T>, n: usize| -> Option<usize> {
            let at = image.len();
            if at + n > SMALL_ARENA {
                return None;
            }
            image.resize(at + n, T::ZERO);
            Some(at)
        };
        let mut consts = Vec::with_capacity(g.consts.len());
        for c in &g.consts {
            let v: Vec<T> = c.array()?.to_vec::<T>()?;
            let at = place_of(&mut image, v.len())?;
            image[at..].copy_from_slice(&v);
            consts.push(at);
        }
        let mut inputs = Vec::with_capacity(g.inputs.len());
        for (s, _) in &g.inputs {
            inputs.push(place_of(&mut image, numel(s))?);
        }
        let n_eq = g.eqns.len();
        // each equation's place, and for a gathered value its index map (into `idx`)
        let mut place = vec![0; n_eq];
        let mut gathered: Vec<Option<Range<usize>>> = vec![None; n_eq];
        let mut idx: Vec<u32> = Vec::new();
        let mut ops: Vec<Op> = Vec::new();
        let mut fate = vec![Fate::Op; n_eq];
        let loc = |a: Atom, place: &[usize]| match a {
            Atom::In(i) => inputs[i],
            Atom::Const(c) => consts[c],
            Atom::Var(v) => place[v],
        };
        // the positions of an atom's elements where the data lies (through gathers)
        let sources =
            |a: Atom, place: &[usize], gathered: &[Option<Range<usize>>], idx: &[u32]| match a {
                Atom::Var(v) if gathered[v].is_some() => {
                    idx[gathered[v].clone().expect("a gather")].to_vec()
                }
                a => positions(loc(a, place), numel(g.shape(a))),
            };
        for (i, e) in g.eqns.iter().enumerate() {
            let n = numel(&e.shape);
            let p = e.prim.as_any();
            if moves_data(&*e.prim) {
                // the primitive's own kernel on arrays of positions
                let arrays: Vec<Array> = e
                    .ins
                    .iter()
                    .map(|&a| {
                        let s: Vec<f64> = sources(a, &place, &gathered, &idx)
                            .into_iter()
                            .map(f64::from)
                            .collect();
                        Array::from_vec(s, g.shape(a))
                    })
                    .collect();
                let refs: Vec<&Array> = arrays.iter().collect();
                let y = e.prim.eval(&refs).ok()?;
                if y.shape() != e.shape.as_slice() {
                    return None;
                }
                let map: Vec<u32> = y.to_vec::<f64>()?.into_iter().map(|x| x as u32).collect();
                if n > 0
                    && map[0] != 0
                    && map.iter().enumerate().all(|(k, &m)| m == map[0] + k as u32)
                {
                    // an alias: the value already lies in the arena
                    place[i] = map[0] as usize - 1;
                    fate[i] = Fate::Alias;
                } else {
                    place[i] = place_of(&mut image, n)?;
                    let r = idx.len()..idx.len() + n;
                    idx.extend_from_slice(&map);
                    gathered[i] = Some(r.clone());
                    ops.push(Op::Gather {
                        dst: place[i],
                        idx: r,
                    });
                    fate[i] = Fate::Gather;
                }
                continue;
            }
            let elementwise = match (p.downcast_ref::<Unary>(), p.downcast_ref::<Binary>()) {
                (Some(_), _) => e.ins.len() == 1,
                (_, Some(_)) => e.ins.len() == 2,
                _ => false,
            };
            if elementwise {
                let mut args = [Operand::S(0); 2];
                for (k, &a) in e.ins.iter().enumerate() {
                    let m = numel(g.shape(a));
                    args[k] = if m == n {
                        Operand::S(loc(a, &place))
                    } else if m == 1 {
                        Operand::C(loc(a, &place))
                    } else {
                        // broadcast into scratch
                        let src = sources(a, &place, &gathered, &idx);
                        let s: Vec<f64> = src.into_iter().map(f64::from).collect();
                        let map = Array::from_vec(s, g.shape(a))
                            .broadcast_to(&e.shape)
                            .to_vec::<f64>()?;
                        let at = place_of(&mut image, n)?;
                        let r = idx.len()..idx.len() + n;
                        idx.extend(map.into_iter().map(|x| x as u32));
                        ops.push(Op::Gather { dst: at, idx: r });
                        Operand::S(at)
                    };
                }
                let dst = place_of(&mut image, n)?;
                place[i] = dst;
                ops.push(
                    match (p.downcast_ref::<Unary>(), p.downcast_ref::<Binary>()) {
                        (Some(Unary(op)), _) => Op::Un {
                            op: *op,
                            x: args[0],
                            dst,
                            n,
                        },
                        (_, Some(Binary(op))) => Op::Bin {
                            op: *op,
                            a: args[0],
                            b: args[1],
                            dst,
                            n,
                        },
                        _ => unreachable!("an elementwise op"),
                    },
                );
                continue;
            }
            let ins = e
                .ins
                .iter()
                .map(|&a| (loc(a, &place), Shape::from_slice(g.shape(a))))
                .collect();
            let dst = place_of(&mut image, n)?;
            place[i] = dst;
            ops.push(Op::Eval {
                prim: e.prim.clone(),
                ins,
                dst,
                n,
            });
        }
        let outs: Vec<Out> = g
            .outs
            .iter()
            .map(|&a| match a {
                Atom::In(i) => Out::In(i),
                Atom::Const(c) => Out::Const(c),
                Atom::Var(v) => Out::Arena(place[v], g.eqns[v].shape.clone()),
            })
            .collect();
        // drop the gathers whose values nothing reads (folded into later gathers)
        let mut read = vec![false; image.len() + 1];
        let mut mark = |at: usize| read[at] = true;
        for op in &ops {
            match op {
                Op::Gather { .. } => {}
                Op::Un { x, .. } => mark(x.at()),
                Op::Bin { a, b, .. } => {
                    mark(a.at());
                    mark(b.at());
                }
                Op::Eval { ins, .. } => ins.iter().for_each(|(a, _)| mark(*a)),
            }
        }
        for o in &outs {
            if let Out::Arena(a, _) = o {
                mark(*a)
            }
        }
        let keep: Vec<bool> = ops
            .iter()
            .map(|op| match op {
                Op::Gather { dst, idx } => idx.is_empty() || read[*dst],
                _ => true,
            })
            .collect();
        let mut k = keep.iter();
        ops.retain(|_| *k.next().expect("one flag an op"));
        for (i, f) in fate.iter_mut().enumerate() {
            if *f == Fate::Gather && !read[place[i]] && numel(&g.eqns[i].shape) > 0 {
                *f = Fate::Folded;
            }
        }
        Some(Small {
            arena: Mutex::new(image.clone()),
            image,
            inputs,
            ops,
            idx,
            outs,
            fate,
        })
    }

    /// The arena size (elements).
    pub(crate) fn arena_len(&self) -> usize {
        self.image.len()
    }

    fn run(&self, g: &Graph, inputs: &[Tensor]) -> Option<Result<Vec<Tensor>>> {
        let views: SmallVec<[_; 4]> = inputs
            .iter()
            .map(|t| t.array()?.view::<T>())
            .collect::<Option<_>>()?;
        let mut fresh;
        let mut guard = match self.arena.try_lock() {
            Ok(g) => Some(g),
            // a panic in a kernel left the arena as it was: the constants are never written
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        let arena: &mut Vec<T> = match &mut guard {
            Some(g) => g,
            None => {
                fresh = self.image.clone();
                &mut fresh
            }
        };
        for (v, &at) in views.iter().zip(&self.inputs) {
            let n = v.numel();
            match v.contiguous() {
                Some(s) => arena[at..at + n].copy_from_slice(s),
                None => arena[at..at + n].copy_from_slice(&collect(*v)),
            }
        }
        Some(self.replay(arena).map(|()| {
            self.outs
                .iter()
                .map(|o| match o {
                    Out::In(i) => inputs[*i].clone(),
                    Out::Const(c) => g.consts[*c].clone(),
                    Out::Arena(at, shape) => Tensor::from_array(Array::from_vec(
                        AlignedVec::from_slice(&arena[*at..*at + numel(shape)]),
                        shape,
                    )),
                })
                .collect()
        }))
    }

    /// Run the ops on an arena whose inputs are in place.
    fn replay(&self, arena: &mut [T]) -> Result<()> {
        for op in &self.ops {
            match op {
                Op::Gather { dst, idx } => {
                    let (lo, hi) = arena.split_at_mut(*dst);
                    for (o, &j) in hi.iter_mut().zip(&self.idx[idx.clone()]) {
                        *o = match j {
                            0 => T::ZERO,
                            j => lo[j as usize - 1],
                        };
                    }
                }
                Op::Un { op, x, dst, n } => {
                    let (lo, hi) = arena.split_at_mut(*dst);
                    let out = &mut hi[..*n];
                    // SAFETY: `unary` writes only initialized values into `out`
                    if let Some(c) = unary(*op, arg(lo, *x, *n), unsafe { uninit(out) }) {
                        out.fill(c);
                    }
                }
                Op::Bin { op, a, b, dst, n } => {
                    let (lo, hi) = arena.split_at_mut(*dst);
                    let out = &mut hi[..*n];
                    let z = Zip {
                        a: arg(lo, *a, *n),
                        b: arg(lo, *b, *n),
                        // SAFETY: `Zip` writes only initialized values into `out`
                        out: unsafe { uninit(out) },
                    };
                    if let Some(c) = op.visit(z) {
                        out.fill(c);
                    }
                }
                Op::Eval { prim, ins, dst, n } => {
                    let (lo, hi) = arena.split_at_mut(*dst);
                    let arrays: SmallVec<[Array; 3]> = ins
                        .iter()
                        .map(|(at, s)| {
                            Array::from_vec(AlignedVec::from_slice(&lo[*at..*at + numel(s)]), s)
                        })
                        .collect();
                    let refs: SmallVec<[&Array; 3]> = arrays.iter().collect();
                    let y = fallible(prim.name(), || prim.eval(&refs))?;
                    let v = y.v::<T>();
                    let out = &mut hi[..*n];
                    match v.contiguous() {
                        Some(s) => out.copy_from_slice(s),
                        None => out.copy_from_slice(&collect(v)),
                    }
                }
            }
        }
        Ok(())
    }
}

/// An operand over `n` elements of the arena part `lo`.
#[inline]
fn arg<T: Copy>(lo: &[T], o: Operand, n: usize) -> Arg<'_, T> {
    match o {
        Operand::S(at) => Arg::S(&lo[at..at + n]),
        Operand::C(at) => Arg::C(lo[at]),
    }
}

/// `s` as a slice to write.
///
/// # Safety
/// Only initialized values may be written through the result (it aliases initialized `T`s).
unsafe fn uninit<T: Element>(s: &mut [T]) -> &mut [MaybeUninit<T>] {
    // SAFETY: `MaybeUninit<T>` has `T`'s layout; the caller writes only initialized values
    unsafe { &mut *(s as *mut [T] as *mut [MaybeUninit<T>]) }
}

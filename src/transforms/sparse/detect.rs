//! Sparsity detection: one pass over the traced graph of `f` that propagates, for every element
//! of every value, the set of input elements it depends on (its gradient pattern) and, for
//! Hessians, the set of input pairs that interact nonlinearly in it (`NOTE: [sparsity]`).

// NOTE: [sparsity]
// The pattern is global (valid at every point, not only where `f` was traced) and found
// without computing a derivative, as SparseConnectivityTracer.jl does, but on the traced graph
// (`jit`'s recorder) rather than by overloading: the graph is recorded once, then each equation
// maps its operands' per-element sets to its output's. The rules, by what a primitive does:
// - elementwise (after broadcasting): the union of the operands' sets at the same position.
//   For Hessians, a linear or piecewise-linear op (add, neg, where, abs, relu, clamp, maximum)
//   unions the operands' pair sets; a nonlinear unary op adds g×g; a product adds g_a×g_b; a
//   quotient adds g_a×g_b and g_b×g_b; pow and atan2 add (g_a ∪ g_b)²;
// - element moves (reshape, permute, broadcast, slice, flip, pad, cat, index_select, gather):
//   the primitive itself is evaluated on arrays of element ids, which says which operand
//   element each output element reads; an index operand must be a constant of the trace
//   (a data-dependent index makes the rule conservative: every output element reads every
//   operand element);
// - sums and scatters (sum, amax/amin, index_add, scatter_add): each operand element goes to
//   one output element, found by evaluating the transposed move (broadcast, index_select,
//   gather) on output ids; an output element unions its sources;
// - matmul: out[i, j] unions a[i, k] and b[k, j] over k, skipping the k where a constant
//   operand holds a zero (so a product with a constant sparse matrix stays exact), with
//   g_a[i, k] × g_b[k, j] added for Hessians; past 2²⁶ products, the union of row i of a and
//   column j of b (the same for dense operands);
// - factorizations (inv, det, slogdet, cholesky, solve): every element of a batch entry of the
//   output depends on every element of its own batch entry of the operands;
// - anything else (users' custom rules): conservative, every output element depends on every
//   element of every operand (and, for Hessians, every pair of them);
// - values computed from constants only (a mask or an index built inside `f`) are evaluated,
//   so the rules above read them as constants: `where` with a known mask takes one branch, a
//   product with a known zero is zero;
// - value checks (`Check`: normal's std, bernoulli's p, checked indices) pass their operand
//   through: the identity's sets;
// - integer or bool outputs, `detach`, `sign` and other zero-derivative ops: empty sets.
// Sets are sorted vectors in one CSR buffer per value (element i's set is a slice), shared
// between values an op leaves unchanged (reshapes, scalings) and freed after the value's last
// use, so a banded function of 10⁶ inputs costs a few bytes per element and equation. Pairs
// (i, j), i ≤ j, of n inputs are the u64 i·n + j. A value whose sets would exceed 2²⁷ entries
// is an error: such a derivative is dense, and the dense transforms are the right tool.

use crate::array::{AlignedVec, Array, numel};
use crate::core::stage::{Atom, Graph};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::prims::PrimKind;
use crate::prims::Primitive;
use crate::prims::binary::{Binary, BinaryOp};
use crate::prims::cast::Cast;
use crate::prims::compare::Where;
use crate::prims::index::{Check, Gather, IndexAdd, IndexSelect, ScatterAdd};
use crate::prims::linalg::{Cholesky, Det, Inv, Slogdet, Solve};
use crate::prims::matmul::MatMul;
use crate::prims::reduce::{Extreme, Sum};
use crate::prims::shape::{BroadcastTo, Concat, Flip, Pad, Permute, Reshape, Slice};
use crate::prims::unary::{Unary, UnaryOp};
use std::rc::Rc;

/// Per-element sorted sets of one value, in CSR form.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sets<T> {
    ptr: Vec<usize>,
    idx: Vec<T>,
}

impl<T: Copy + Ord> Sets<T> {
    fn with_capacity(len: usize) -> Self {
        let mut ptr = Vec::with_capacity(len + 1);
        ptr.push(0);
        Sets {
            ptr,
            idx: Vec::new(),
        }
    }
    #[inline]
    pub(crate) fn get(&self, i: usize) -> &[T] {
        &self.idx[self.ptr[i]..self.ptr[i + 1]]
    }
    fn is_empty_sets(&self) -> bool {
        self.idx.is_empty()
    }
    /// Append one set: the union of `scratch` (any order, repeats allowed); clears it.
    #[inline]
    fn push_unsorted(&mut self, scratch: &mut Vec<T>) {
        if scratch.len() > 1 {
            scratch.sort_unstable();
            scratch.dedup();
        }
        self.idx.extend_from_slice(scratch);
        self.ptr.push(self.idx.len());
        scratch.clear();
    }
    /// Append a copy of a sorted set.
    #[inline]
    fn push_sorted(&mut self, s: &[T]) {
        extend(&mut self.idx, s);
        self.ptr.push(self.idx.len());
    }
}

/// `v.extend_from_slice(s)`, faster for the few elements of most sets.
#[inline(always)]
fn extend<T: Copy>(v: &mut Vec<T>, s: &[T]) {
    if s.len() <= 8 {
        for &x in s {
            v.push(x);
        }
    } else {
        v.extend_from_slice(s);
    }
}

/// The sets of one value: its gradient pattern and (for Hessians) its pair pattern, shared
/// between values an op leaves unchanged (a reshape, a scaling).
#[derive(Clone, Debug)]
pub(crate) struct Val {
    pub(crate) g: Rc<Sets<u32>>,
    pub(crate) h: Option<Rc<Sets<u64>>>,
}

/// A value's sets while they are built.
struct NewVal {
    g: Sets<u32>,
    h: Option<Sets<u64>>,
}

fn too_dense(op: &'static str) -> Error {
    Error::invalid(
        op,
        format!(
            "sparsity detection: the pattern of this op's output holds more than {MAX_ENTRIES} entries; the derivative is too dense for a sparse result (use the dense transform)"
        ),
    )
}

/// The most set entries detection builds for one value (2²⁷: 512 MiB of column ids): a larger
/// pattern is a dense derivative, for the dense transforms.
const MAX_ENTRIES: usize = 1 << 27;

impl NewVal {
    /// An error if the sets built so far are too large for a sparse result.
    fn check(&self, op: &'static str) -> Result<()> {
        let n = self.g.idx.len() + self.h.as_ref().map_or(0, |h| h.idx.len());
        if n > MAX_ENTRIES {
            return Err(too_dense(op));
        }
        Ok(())
    }
    fn done(self) -> Val {
        Val {
            g: Rc::new(self.g),
            h: self.h.map(Rc::new),
        }
    }
}

/// Add the pairs of `a × b` (as `i ≤ j` codes) to `out`.
#[inline]
fn cross(a: &[u32], b: &[u32], n: u64, out: &mut Vec<u64>) {
    for &i in a {
        for &j in b {
            let (lo, hi) = if i <= j { (i, j) } else { (j, i) };
            out.push(lo as u64 * n + hi as u64);
        }
    }
}

/// Add the pairs of `a × a` to `out`.
#[inline]
fn square(a: &[u32], n: u64, out: &mut Vec<u64>) {
    for (k, &i) in a.iter().enumerate() {
        for &j in &a[k..] {
            out.push(i as u64 * n + j as u64);
        }
    }
}

/// For each element of `out_shape`, the element of an operand of shape `in_shape` that
/// broadcasting reads.
fn broadcast_map(in_shape: &[usize], out_shape: &[usize]) -> Vec<usize> {
    let r = out_shape.len();
    let k = r - in_shape.len();
    let mut strides = vec![0usize; r];
    let mut s = 1;
    for d in (0..in_shape.len()).rev() {
        strides[k + d] = if in_shape[d] == 1 { 0 } else { s };
        s *= in_shape[d];
    }
    let n = numel(out_shape);
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; r];
    let mut pos = 0usize;
    for _ in 0..n {
        out.push(pos);
        for d in (0..r).rev() {
            idx[d] += 1;
            pos += strides[d];
            if idx[d] < out_shape[d] {
                break;
            }
            pos -= strides[d] * idx[d];
            idx[d] = 0;
        }
    }
    out
}

/// What an elementwise op does to pair sets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Second {
    /// Linear or piecewise linear: the union of the operands' pair sets.
    Linear,
    /// A nonlinear function of one operand: adds g₀ × g₀.
    Unary,
    /// a · b: adds g_a × g_b.
    Product,
    /// a / b: adds g_a × g_b and g_b × g_b.
    Quotient,
    /// Every pair of the output's gradient set.
    All,
}

/// How an equation maps its operands' sets.
enum Rule {
    /// The output carries no derivative.
    Zero,
    Elementwise(Second),
    /// Each output element reads at most one operand element.
    Move,
    /// Each operand element goes to at most one output element (the `Atom`-free description
    /// of where comes from [`destinations`]).
    Reduce,
    MatMul,
    Conservative,
}

fn rule(p: &dyn Primitive, out_dtype: DType) -> Rule {
    if !out_dtype.is_float() || !p.differentiable() {
        return Rule::Zero;
    }
    let a = p.as_any();
    if let Some(Unary(op)) = a.downcast_ref::<Unary>() {
        use UnaryOp::*;
        return match *op {
            MulScalar(c) if c.0 == 0.0 => Rule::Zero,
            PowScalar(c) if c.0 == 0.0 => Rule::Zero,
            RDivScalar(c) if c.0 == 0.0 => Rule::Zero,
            PowScalar(c) if c.0 == 1.0 => Rule::Elementwise(Second::Linear),
            Sign => Rule::Zero,
            Neg | AddScalar(_) | MulScalar(_) | Abs | Relu | Clamp(..) => {
                Rule::Elementwise(Second::Linear)
            }
            _ => Rule::Elementwise(Second::Unary),
        };
    }
    if let Some(Binary(op)) = a.downcast_ref::<Binary>() {
        use BinaryOp::*;
        return Rule::Elementwise(match op {
            Add | Sub | Maximum | Minimum => Second::Linear,
            Mul => Second::Product,
            Div => Second::Quotient,
            Pow | Atan2 => Second::All,
        });
    }
    // a value check (`Check`) is the identity on its operand
    if a.is::<Where>() || a.is::<Cast>() || a.is::<Check>() {
        return Rule::Elementwise(Second::Linear);
    }
    if a.is::<Reshape>()
        || a.is::<Permute>()
        || a.is::<BroadcastTo>()
        || a.is::<Slice>()
        || a.is::<Flip>()
        || a.is::<Pad>()
        || a.is::<Concat>()
        || a.is::<IndexSelect>()
        || a.is::<Gather>()
    {
        return Rule::Move;
    }
    if a.is::<Sum>() || a.is::<Extreme>() || a.is::<IndexAdd>() || a.is::<ScatterAdd>() {
        return Rule::Reduce;
    }
    if a.is::<MatMul>() {
        return Rule::MatMul;
    }
    Rule::Conservative
}

/// Shape, dtype and (for a constant, or a value computed from constants only) the value of an
/// operand.
struct Operand<'g> {
    shape: &'g [usize],
    dtype: DType,
    value: Option<&'g Array>,
}

fn operand<'g>(g: &'g Graph, known: &'g [Option<Array>], a: Atom) -> Operand<'g> {
    match a {
        Atom::In(i) => Operand {
            shape: &g.inputs[i].0,
            dtype: g.inputs[i].1,
            value: None,
        },
        Atom::Var(i) => Operand {
            shape: &g.eqns[i].shape,
            dtype: g.eqns[i].dtype,
            value: known[i].as_ref(),
        },
        Atom::Const(i) => Operand {
            shape: g.consts[i].shape(),
            dtype: g.consts[i].dtype(),
            value: g.consts[i].array(),
        },
    }
}

/// Whether each element of a known value is nonzero (true for a bool).
fn nonzero(a: &Array) -> Option<Vec<bool>> {
    Some(match a.dtype() {
        DType::F64 => a.to_vec::<f64>()?.into_iter().map(|x| x != 0.0).collect(),
        DType::F32 => a.to_vec::<f32>()?.into_iter().map(|x| x != 0.0).collect(),
        DType::I64 => a.to_vec::<i64>()?.into_iter().map(|x| x != 0).collect(),
        DType::Bool => a.to_vec::<bool>()?,
    })
}

/// The batch dims of a linear-algebra primitive: per operand and for the output, the number
/// of trailing (matrix) dims; `None` for a primitive without a batched rule here.
fn linalg_cores(p: &dyn Primitive) -> Option<(&'static [usize], usize)> {
    let a = p.as_any();
    if a.is::<Inv>() || a.is::<Cholesky>() {
        Some((&[2], 2))
    } else if a.is::<Det>() || a.is::<Slogdet>() {
        Some((&[2], 0))
    } else if a.is::<Solve>() {
        Some((&[2, 2], 2))
    } else {
        None
    }
}

fn f64_values(a: &Array, op: &'static str) -> Result<Vec<f64>> {
    a.to_vec::<f64>()
        .ok_or_else(|| Error::invalid(op, "an id array did not evaluate to f64"))
}

fn ids(base: usize, shape: &[usize]) -> Array {
    let n = numel(shape);
    Array::from_vec(
        (0..n)
            .map(|e| (base + e + 1) as f64)
            .collect::<AlignedVec<_>>(),
        shape,
    )
}

/// Per output element of a move: `(operand, element)` it reads, or `None`.
type Sources = Vec<Option<(usize, usize)>>;

/// An operand's sets and its broadcast map (`None`: same shape as the output).
type Src<'a> = (&'a Val, Option<Vec<usize>>);

/// For a move primitive, the operand element each output element reads: `(operand, element)`
/// or `None` (a padded zero). `None` overall when an index operand is not a constant.
fn move_sources(p: &dyn Primitive, ops: &[Operand<'_>]) -> Result<Option<Sources>> {
    let mut bases = Vec::new();
    let mut arrays = Vec::new();
    let mut base = 0;
    for o in ops {
        if o.dtype.is_float() {
            bases.push(Some(base));
            arrays.push(ids(base, o.shape));
            base += numel(o.shape);
        } else {
            bases.push(None);
            match o.value {
                Some(a) => arrays.push(a.clone()),
                None => return Ok(None),
            }
        }
    }
    let refs: Vec<&Array> = arrays.iter().collect();
    let out = f64_values(&p.eval(&refs)?, p.name())?;
    Ok(Some(
        out.into_iter()
            .map(|v| {
                if v.is_nan() || v < 1.0 {
                    return None;
                }
                let id = v as usize - 1;
                // the operand whose range holds id
                let k = bases
                    .iter()
                    .enumerate()
                    .filter_map(|(k, b)| b.filter(|&b| b <= id).map(|b| (k, b)))
                    .max_by_key(|&(_, b)| b)?;
                Some((k.0, id - k.1))
            })
            .collect(),
    ))
}

/// For a reduce or scatter primitive, the output element each element of its value operand
/// (operand 0) goes to. `None` when an index operand is not a constant.
fn destinations(
    p: &dyn Primitive,
    ops: &[Operand<'_>],
    out_shape: &[usize],
) -> Result<Option<Vec<usize>>> {
    let a = p.as_any();
    let in_shape = ops[0].shape;
    let out_ids = ids(0, out_shape);
    let index = || ops.get(1).and_then(|o| o.value);
    let d = if let Some(s) = a.downcast_ref::<Sum>() {
        keep_dims(&out_ids, in_shape, &s.dims)
    } else if let Some(s) = a.downcast_ref::<Extreme>() {
        keep_dims(&out_ids, in_shape, &s.dims)
    } else if let Some(s) = a.downcast_ref::<IndexAdd>() {
        let Some(i) = index() else { return Ok(None) };
        IndexSelect { dim: s.dim }.eval(&[&out_ids, i])?
    } else if let Some(s) = a.downcast_ref::<ScatterAdd>() {
        let Some(i) = index() else { return Ok(None) };
        Gather { dim: s.dim }.eval(&[&out_ids, i])?
    } else {
        return Ok(None);
    };
    let v = f64_values(&d, p.name())?;
    if v.len() != numel(in_shape) || v.iter().any(|&x| x.is_nan() || x < 1.0) {
        return Ok(None);
    }
    Ok(Some(v.into_iter().map(|v| v as usize - 1).collect()))
}

/// Output ids (of the reduced shape) broadcast back over the reduced dims of `in_shape`.
fn keep_dims(out_ids: &Array, in_shape: &[usize], dims: &[usize]) -> Array {
    let mut keep = in_shape.to_vec();
    for &d in dims {
        if d < keep.len() {
            keep[d] = 1;
        }
    }
    out_ids.reshape(&keep).broadcast_to(in_shape)
}

/// The detection pass over one graph.
pub(crate) struct Detector<'g> {
    g: &'g Graph,
    /// The number of input elements that are differentiated (the pattern's columns).
    n: usize,
    hessian: bool,
    vals: Vec<Option<Val>>,
    /// The values of the equations computed from constants only (masks and indices built
    /// inside `f`), so that rules can read them as they read constants.
    known: Vec<Option<Array>>,
}

impl<'g> Detector<'g> {
    /// `offsets[i]`: the first column of graph input `i`, `None` if it is not differentiated.
    pub(crate) fn new(g: &'g Graph, offsets: &[Option<usize>], n: usize, hessian: bool) -> Self {
        let mut vals: Vec<Option<Val>> = vec![None; g.inputs.len() + g.eqns.len()];
        for (i, off) in offsets.iter().enumerate() {
            let Some(off) = *off else { continue };
            let len = numel(&g.inputs[i].0);
            if len == 0 {
                continue;
            }
            let mut s = Sets::with_capacity(len);
            for e in 0..len {
                s.push_sorted(&[(off + e) as u32]);
            }
            vals[i] = Some(Val {
                g: Rc::new(s),
                h: hessian.then(|| {
                    Rc::new(Sets {
                        ptr: vec![0; len + 1],
                        idx: Vec::new(),
                    })
                }),
            });
        }
        Detector {
            g,
            n,
            hessian,
            vals,
            known: vec![None; g.eqns.len()],
        }
    }

    fn slot(&self, a: Atom) -> Option<usize> {
        match a {
            Atom::In(i) => Some(i),
            Atom::Var(i) => Some(self.g.inputs.len() + i),
            Atom::Const(_) => None,
        }
    }

    fn val(&self, a: Atom) -> Option<&Val> {
        self.slot(a).and_then(|s| self.vals[s].as_ref())
    }

    /// Run the pass; the sets of the graph's outputs.
    pub(crate) fn run(mut self) -> Result<Vec<Option<Val>>> {
        let g = self.g;
        // last use of each slot, so values are freed as soon as possible
        let mut last = vec![usize::MAX; self.vals.len()];
        for (k, e) in g.eqns.iter().enumerate() {
            for &a in &e.ins {
                if let Some(s) = self.slot(a) {
                    last[s] = k;
                }
            }
        }
        for &a in &g.outs {
            if let Some(s) = self.slot(a) {
                last[s] = usize::MAX;
            }
        }
        for (k, e) in g.eqns.iter().enumerate() {
            self.fold(k);
            let v = self.eqn(k)?;
            let s = g.inputs.len() + k;
            self.vals[s] = v.filter(|v| {
                !v.g.is_empty_sets() || v.h.as_ref().is_some_and(|h| !h.is_empty_sets())
            });
            for &a in &e.ins {
                if let Some(s) = self.slot(a)
                    && last[s] == k
                {
                    self.vals[s] = None;
                }
            }
        }
        Ok(g.outs.iter().map(|&a| self.val(a).cloned()).collect())
    }

    /// Evaluate equation `k` if its operands are all known (not a random draw, and not huge).
    fn fold(&mut self, k: usize) {
        let g = self.g;
        let e = &g.eqns[k];
        if e.prim.kind() == PrimKind::Random || numel(&e.shape) > 1 << 22 {
            return;
        }
        let vals: Option<Vec<&Array>> = e
            .ins
            .iter()
            .map(|&a| match a {
                Atom::In(_) => None,
                Atom::Var(i) => self.known[i].as_ref(),
                Atom::Const(i) => g.consts[i].array(),
            })
            .collect();
        if let Some(v) = vals {
            self.known[k] = e.prim.eval(&v).ok();
        }
    }

    fn eqn(&mut self, k: usize) -> Result<Option<Val>> {
        let g = self.g;
        let e = &g.eqns[k];
        if e.ins.iter().all(|&a| self.val(a).is_none()) {
            return Ok(None);
        }
        let known = std::mem::take(&mut self.known);
        let r = self.eqn_with(k, &known);
        self.known = known;
        r
    }

    fn eqn_with(&mut self, k: usize, known: &[Option<Array>]) -> Result<Option<Val>> {
        let g = self.g;
        let e = &g.eqns[k];
        let ops: Vec<Operand<'_>> = e.ins.iter().map(|&a| operand(g, known, a)).collect();
        let out_len = numel(&e.shape);
        match rule(&*e.prim, e.dtype) {
            Rule::Zero => Ok(None),
            Rule::Elementwise(second) => self.elementwise(k, &ops, second).map(Some),
            Rule::Move => match move_sources(&*e.prim, &ops)? {
                Some(src) => Ok(Some(self.moved(k, &src))),
                None => self.conservative(k, out_len).map(Some),
            },
            Rule::Reduce => match destinations(&*e.prim, &ops, &e.shape)? {
                Some(dst) => self.reduced(k, &dst, out_len).map(Some),
                None => self.conservative(k, out_len).map(Some),
            },
            Rule::MatMul => self.matmul(k, &ops).map(Some),
            Rule::Conservative => match linalg_cores(&*e.prim) {
                Some(cores) => self.batched(k, &ops, cores).map(Some),
                None => self.conservative(k, out_len).map(Some),
            },
        }
    }

    fn new_val(&self, len: usize) -> NewVal {
        NewVal {
            g: Sets::with_capacity(len),
            h: self.hessian.then(|| Sets::with_capacity(len)),
        }
    }

    fn elementwise(&mut self, k: usize, ops: &[Operand<'_>], second: Second) -> Result<Val> {
        let e = &self.g.eqns[k];
        let n = self.n as u64;
        let out_len = numel(&e.shape);
        // operand values and their broadcast maps (None: same shape)
        let srcs: Vec<Option<Src<'_>>> = e
            .ins
            .iter()
            .zip(ops)
            .map(|(&a, o)| {
                self.val(a).map(|v| {
                    let m = (o.shape != &e.shape[..]).then(|| broadcast_map(o.shape, &e.shape));
                    (v, m)
                })
            })
            .collect();
        let at = |s: &(&Val, Option<Vec<usize>>), i: usize| match &s.1 {
            Some(m) => m[i],
            None => i,
        };
        // which operands an element reads, where a known operand decides it: a known mask
        // selects one branch of `where`; a known zero in a product (or a quotient's numerator)
        // makes the element a constant zero
        let known_nz = |j: usize| {
            ops.get(j)
                .and_then(|o| o.value)
                .and_then(nonzero)
                .map(|nz| {
                    let m = (ops[j].shape != &e.shape[..])
                        .then(|| broadcast_map(ops[j].shape, &e.shape));
                    (nz, m)
                })
        };
        let nz_at = |z: &(Vec<bool>, Option<Vec<usize>>), i: usize| match &z.1 {
            Some(m) => z.0[m[i]],
            None => z.0[i],
        };
        let is_where = self.g.eqns[k].prim.as_any().is::<Where>();
        let mask = if is_where { known_nz(0) } else { None };
        let zeros: Vec<(Vec<bool>, Option<Vec<usize>>)> = match second {
            Second::Product => [0, 1].into_iter().filter_map(known_nz).collect(),
            Second::Quotient => known_nz(0).into_iter().collect(),
            _ => Vec::new(),
        };
        // one operand of the output's shape, nothing known: its sets, shared (and its pairs,
        // unless the op adds some)
        let live: Vec<usize> = (0..srcs.len()).filter(|&j| srcs[j].is_some()).collect();
        if live.len() == 1 && mask.is_none() && zeros.is_empty() {
            let j = live[0];
            let (v, m) = srcs[j].as_ref().expect("a live operand");
            if m.is_none() {
                let adds_pairs = match second {
                    Second::Linear | Second::Product => false,
                    Second::Quotient => j == 1,
                    Second::Unary | Second::All => true,
                };
                if !self.hessian || !adds_pairs {
                    return Ok((*v).clone());
                }
                let vh = v.h.as_ref().expect("pairs in Hessian mode");
                let mut h = Sets::with_capacity(out_len);
                let sh: &mut Vec<u64> = &mut Vec::new();
                for i in 0..out_len {
                    extend(sh, vh.get(i));
                    square(v.g.get(i), n, sh);
                    h.push_unsorted(sh);
                }
                return Ok(Val {
                    g: v.g.clone(),
                    h: Some(Rc::new(h)),
                });
            }
        }
        let mut out = self.new_val(out_len);
        let (sg, sh): (&mut Vec<u32>, &mut Vec<u64>) = (&mut Vec::new(), &mut Vec::new());
        let all: Vec<(usize, &Src<'_>)> = srcs
            .iter()
            .enumerate()
            .filter_map(|(j, s)| s.as_ref().map(|s| (j, s)))
            .collect();
        let mut chosen: Vec<&(&Val, Option<Vec<usize>>)> = Vec::new();
        for i in 0..out_len {
            if i % 4096 == 4095 {
                out.check(e.prim.name())?;
            }
            chosen.clear();
            let zero = zeros.iter().any(|z| !nz_at(z, i));
            if !zero {
                for &(j, s) in &all {
                    match &mask {
                        Some(m) if j == 1 && !nz_at(m, i) => {}
                        Some(m) if j == 2 && nz_at(m, i) => {}
                        _ => chosen.push(s),
                    }
                }
            }
            let present = &chosen;
            if present.is_empty() {
                out.g.push_sorted(&[]);
            } else if present.len() == 1 {
                out.g.push_sorted(present[0].0.g.get(at(present[0], i)));
            } else {
                for s in present {
                    extend(sg, s.0.g.get(at(s, i)));
                }
                out.g.push_unsorted(sg);
            }
            let Some(h) = out.h.as_mut() else { continue };
            if zero {
                h.push_sorted(&[]);
                continue;
            }
            for s in present {
                if let Some(hs) = &s.0.h {
                    extend(sh, hs.get(at(s, i)));
                }
            }
            let gi = |j: usize| -> &[u32] {
                match &srcs.get(j) {
                    Some(Some(s)) => s.0.g.get(at(s, i)),
                    _ => &[],
                }
            };
            match second {
                Second::Linear => {}
                Second::Unary => square(gi(0), n, sh),
                Second::Product => cross(gi(0), gi(1), n, sh),
                Second::Quotient => {
                    cross(gi(0), gi(1), n, sh);
                    square(gi(1), n, sh);
                }
                Second::All => square(out.g.get(i), n, sh),
            }
            h.push_unsorted(sh);
        }
        Ok(out.done())
    }

    fn moved(&mut self, k: usize, src: &[Option<(usize, usize)>]) -> Val {
        let e = &self.g.eqns[k];
        let vals: Vec<Option<&Val>> = e.ins.iter().map(|&a| self.val(a)).collect();
        // a reshape (or any identity move): the operand's sets, shared
        if let Some(v) = vals[0]
            && v.g.ptr.len() == src.len() + 1
            && src.iter().enumerate().all(|(i, s)| *s == Some((0, i)))
        {
            return v.clone();
        }
        let mut out = self.new_val(src.len());
        for s in src {
            let v = s.and_then(|(op, el)| vals[op].map(|v| (v, el)));
            match v {
                Some((v, el)) => {
                    out.g.push_sorted(v.g.get(el));
                    if let (Some(h), Some(vh)) = (out.h.as_mut(), &v.h) {
                        h.push_sorted(vh.get(el));
                    }
                }
                None => {
                    out.g.push_sorted(&[]);
                    if let Some(h) = out.h.as_mut() {
                        h.push_sorted(&[]);
                    }
                }
            }
        }
        out.done()
    }

    fn reduced(&mut self, k: usize, dst: &[usize], out_len: usize) -> Result<Val> {
        let e = &self.g.eqns[k];
        let mut out = self.new_val(out_len);
        let Some(v) = self.val(e.ins[0]) else {
            for _ in 0..out_len {
                out.g.push_sorted(&[]);
                if let Some(h) = out.h.as_mut() {
                    h.push_sorted(&[]);
                }
            }
            return Ok(out.done());
        };
        // bucket the operand elements by destination (counting sort)
        let mut start = vec![0usize; out_len + 1];
        for &d in dst {
            start[d + 1] += 1;
        }
        for o in 0..out_len {
            start[o + 1] += start[o];
        }
        let mut next = start.clone();
        let mut order = vec![0usize; dst.len()];
        for (el, &d) in dst.iter().enumerate() {
            order[next[d]] = el;
            next[d] += 1;
        }
        let (sg, sh): (&mut Vec<u32>, &mut Vec<u64>) = (&mut Vec::new(), &mut Vec::new());
        for o in 0..out_len {
            let members = &order[start[o]..start[o + 1]];
            for &el in members {
                extend(sg, v.g.get(el));
            }
            out.g.push_unsorted(sg);
            if let (Some(h), Some(vh)) = (out.h.as_mut(), &v.h) {
                for &el in members {
                    extend(sh, vh.get(el));
                }
                h.push_unsorted(sh);
            }
            if o % 4096 == 4095 {
                out.check(e.prim.name())?;
            }
        }
        Ok(out.done())
    }

    /// Every output element depends on every operand element (and every pair of them).
    fn conservative(&mut self, k: usize, out_len: usize) -> Result<Val> {
        let e = &self.g.eqns[k];
        let n = self.n as u64;
        let (sg, sh): (&mut Vec<u32>, &mut Vec<u64>) = (&mut Vec::new(), &mut Vec::new());
        for &a in &e.ins {
            if let Some(v) = self.vals[match a {
                Atom::In(i) => i,
                Atom::Var(i) => self.g.inputs.len() + i,
                Atom::Const(_) => continue,
            }]
            .as_ref()
            {
                extend(sg, &v.g.idx);
                if let Some(h) = &v.h {
                    extend(sh, &h.idx);
                }
            }
        }
        sg.sort_unstable();
        sg.dedup();
        let all_g = std::mem::take(sg);
        let pairs = if self.hessian {
            all_g.len() * (all_g.len() + 1) / 2 + sh.len()
        } else {
            0
        };
        if out_len.saturating_mul(all_g.len() + pairs) > MAX_ENTRIES {
            return Err(too_dense(e.prim.name()));
        }
        let mut out = self.new_val(out_len);
        let all_h = if self.hessian {
            square(&all_g, n, sh);
            sh.sort_unstable();
            sh.dedup();
            std::mem::take(sh)
        } else {
            Vec::new()
        };
        for _ in 0..out_len {
            out.g.push_sorted(&all_g);
            if let Some(h) = out.h.as_mut() {
                h.push_sorted(&all_h);
            }
        }
        Ok(out.done())
    }

    /// A batched linear-algebra primitive: an output element depends on every element of its
    /// own batch entry of each operand (for `solve`, on the whole matrix and on its own column
    /// of the right-hand side), and on nothing of the other batch entries.
    #[allow(clippy::needless_range_loop)] // b indexes each operand's batch map
    fn batched(&mut self, k: usize, ops: &[Operand<'_>], cores: (&[usize], usize)) -> Result<Val> {
        let e = &self.g.eqns[k];
        let n = self.n as u64;
        let (in_cores, out_core) = cores;
        let r = e.shape.len();
        if in_cores.len() != ops.len()
            || r < out_core
            || ops.iter().zip(in_cores).any(|(o, &c)| o.shape.len() < c)
        {
            return self.conservative(k, numel(&e.shape));
        }
        let name = e.prim.name();
        let batch = &e.shape[..r - out_core];
        let out_inner = numel(&e.shape[r - out_core..]);
        let solve = ops.len() == 2;
        let maps: Vec<Vec<usize>> = ops
            .iter()
            .zip(in_cores)
            .map(|(o, &c)| broadcast_map(&o.shape[..o.shape.len() - c], batch))
            .collect();
        let vals: Vec<Option<&Val>> = e.ins.iter().map(|&a| self.val(a)).collect();
        let mut out = self.new_val(numel(batch) * out_inner);
        let (sg, sh): (&mut Vec<u32>, &mut Vec<u64>) = (&mut Vec::new(), &mut Vec::new());
        for b in 0..numel(batch) {
            for i in 0..out_inner {
                for (j, o) in ops.iter().enumerate() {
                    let Some(v) = vals[j] else { continue };
                    let c = in_cores[j];
                    let inner = numel(&o.shape[o.shape.len() - c..]);
                    let base = maps[j][b] * inner;
                    // solve's right-hand side: only the output's column
                    let cols = o.shape[o.shape.len() - 1];
                    for el in 0..inner {
                        if solve && j == 1 && el % cols != i % cols {
                            continue;
                        }
                        extend(sg, v.g.get(base + el));
                        if let Some(h) = &v.h {
                            extend(sh, h.get(base + el));
                        }
                    }
                }
                sg.sort_unstable();
                sg.dedup();
                if let Some(h) = out.h.as_mut() {
                    square(sg, n, sh);
                    h.push_unsorted(sh);
                }
                out.g.push_unsorted(sg);
                out.check(name)?;
            }
        }
        Ok(out.done())
    }

    fn matmul(&mut self, k: usize, ops: &[Operand<'_>]) -> Result<Val> {
        let e = &self.g.eqns[k];
        let nn = self.n as u64;
        let (sa, sb) = (ops[0].shape, ops[1].shape);
        let r = e.shape.len();
        let (m, n) = (e.shape[r - 2], e.shape[r - 1]);
        let kk = sa[sa.len() - 1];
        let batch = &e.shape[..r - 2];
        let nb = numel(batch);
        let map_a = broadcast_map(&sa[..sa.len() - 2], batch);
        let map_b = broadcast_map(&sb[..sb.len() - 2], batch);
        let va = self.val(e.ins[0]);
        let vb = self.val(e.ins[1]);
        // a constant operand's zeros: a product with them contributes nothing
        let (nza, nzb) = (
            ops[0].value.and_then(nonzero),
            ops[1].value.and_then(nonzero),
        );
        let mut out = self.new_val(nb * m * n);
        let (sg, sh): (&mut Vec<u32>, &mut Vec<u64>) = (&mut Vec::new(), &mut Vec::new());
        if nb.saturating_mul(m * n).saturating_mul(kk) > 1 << 26 {
            // too many products to look at one by one: out[i, j] unions row i of a and column
            // j of b (exact unless an operand is known to hold zeros)
            let rows: Vec<(Vec<u32>, Vec<u64>)> = (0..numel(&sa[..sa.len() - 2]) * m)
                .map(|r| union(va, (0..kk).map(|q| r * kk + q)))
                .collect();
            let cols: Vec<(Vec<u32>, Vec<u64>)> = (0..numel(&sb[..sb.len() - 2]) * n)
                .map(|c| {
                    let (b, j) = (c / n, c % n);
                    union(vb, (0..kk).map(|q| (b * kk + q) * n + j))
                })
                .collect();
            for bi in 0..nb {
                let (ba, bb) = (map_a[bi], map_b[bi]);
                for i in 0..m {
                    let ra = &rows[ba * m + i];
                    for j in 0..n {
                        let cb = &cols[bb * n + j];
                        extend(sg, &ra.0);
                        extend(sg, &cb.0);
                        out.g.push_unsorted(sg);
                        if let Some(h) = out.h.as_mut() {
                            extend(sh, &ra.1);
                            extend(sh, &cb.1);
                            cross(&ra.0, &cb.0, nn, sh);
                            h.push_unsorted(sh);
                        }
                    }
                    out.check("matmul")?;
                }
            }
            return Ok(out.done());
        }
        for bi in 0..nb {
            let (ba, bb) = (map_a[bi], map_b[bi]);
            for i in 0..m {
                for j in 0..n {
                    for q in 0..kk {
                        let ia = (ba * m + i) * kk + q;
                        let ib = (bb * kk + q) * n + j;
                        let a_nz = nza.as_ref().is_none_or(|z| z[ia]);
                        let b_nz = nzb.as_ref().is_none_or(|z| z[ib]);
                        let ga = va.filter(|_| b_nz).map(|v| v.g.get(ia)).unwrap_or(&[]);
                        let gb = vb.filter(|_| a_nz).map(|v| v.g.get(ib)).unwrap_or(&[]);
                        extend(sg, ga);
                        extend(sg, gb);
                        if self.hessian {
                            if let Some(h) = va.filter(|_| b_nz).and_then(|v| v.h.as_ref()) {
                                extend(sh, h.get(ia));
                            }
                            if let Some(h) = vb.filter(|_| a_nz).and_then(|v| v.h.as_ref()) {
                                extend(sh, h.get(ib));
                            }
                            cross(ga, gb, nn, sh);
                        }
                    }
                    out.g.push_unsorted(sg);
                    if let Some(h) = out.h.as_mut() {
                        h.push_unsorted(sh);
                    }
                }
                out.check("matmul")?;
            }
        }
        Ok(out.done())
    }
}

/// The union of the sets (and pairs) of some elements of a value.
fn union(v: Option<&Val>, els: impl Iterator<Item = usize>) -> (Vec<u32>, Vec<u64>) {
    let (mut g, mut h) = (Vec::new(), Vec::new());
    if let Some(v) = v {
        for el in els {
            extend(&mut g, v.g.get(el));
            if let Some(vh) = &v.h {
                extend(&mut h, vh.get(el));
            }
        }
    }
    g.sort_unstable();
    g.dedup();
    h.sort_unstable();
    h.dedup();
    (g, h)
}

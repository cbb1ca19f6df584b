//! Elementwise fusion: the pass that turns an optimized graph into the steps the executor runs
//! on concrete arrays, with maximal runs of elementwise float equations of one output shape
//! merged into fused kernels (`tile`).
//!
//! Grouping walks the equations in order. A unary or binary float equation joins the groups of
//! its operands that have its shape and dtype and are still *open* (merging them if there are
//! several), or starts a group. A group closes as soon as an equation outside it reads one of
//! its values; from then on nothing joins it. So every reader from outside comes after the
//! group's last member, and the fused step can run at that member's place: its inputs are all
//! computed by then, and its outputs (the members read outside the group or by the graph's
//! outputs) before anything reads them. The other members are never materialized. Operands
//! from outside the group (inputs, constants, other equations' values) may have any shape that
//! broadcasts to the group's: the kernel reads them through their strides.

use super::skip::Skip;
use super::tile::{Code, Instr, Kernel, PadSpec, ROW_MIN, SparseProduct, SparseRows, Src};
use crate::array::numel;
use crate::core::Primitive;
use crate::core::stage::{Atom, Eqn, Graph};
use crate::dtype::DType;
use crate::prims::binary::{Binary, BinaryOp};
use crate::prims::matmul::MatMul;
use crate::prims::shape::Pad;
use crate::prims::unary::Unary;
use smallvec::SmallVec;
use std::sync::Arc;

/// One step of a compiled program.
pub(crate) enum Step {
    /// `vars[out] = prim(ins)`, by the primitive's kernel.
    Eval {
        prim: Arc<dyn Primitive>,
        ins: SmallVec<[Atom; 3]>,
        out: usize,
    },
    /// `vars[outs] = kernel(ins)`: a fused group.
    Fused {
        kernel: Box<Kernel>,
        ins: SmallVec<[Atom; 4]>,
        outs: SmallVec<[usize; 2]>,
        /// The group's equations, in order (for display).
        members: Vec<usize>,
    },
}

impl Step {
    /// The atoms the step reads.
    pub(crate) fn ins(&self) -> &[Atom] {
        match self {
            Step::Eval { ins, .. } => ins,
            Step::Fused { ins, .. } => ins,
        }
    }

    /// The variables the step writes, in the order it returns them.
    pub(crate) fn outs(&self) -> &[usize] {
        match self {
            Step::Eval { out, .. } => std::slice::from_ref(out),
            Step::Fused { outs, .. } => outs,
        }
    }
}

/// The instruction an equation becomes in a fused kernel, if it can be fused.
fn code(e: &Eqn) -> Option<Code> {
    if !matches!(e.dtype, DType::F32 | DType::F64) {
        return None;
    }
    let p = e.prim.as_any();
    if let Some(Unary(op)) = p.downcast_ref::<Unary>() {
        return (e.ins.len() == 1).then_some(Code::Un(*op));
    }
    if let Some(Binary(op)) = p.downcast_ref::<Binary>() {
        return (e.ins.len() == 2).then_some(Code::Bin(*op));
    }
    None
}

/// The products with k = 1 (outer products `a[..., m, 1] · b[..., 1, n]`, m and n at least 2)
/// that only elementwise equations of their shape and dtype read (not an output): the graph
/// with each rewritten as the broadcast multiply `mul a b`, which fusion then puts into its
/// readers' kernel (the product is never materialized), and those equations. Exact only when
/// eager's product computes each element as that one product, which depends on the operands'
/// values (`kernels::matmul::outer_is_products`): the program checks it before the step that
/// computes the multiply, and runs the steps of the unrewritten graph instead when it fails.
pub(crate) fn outer_products(g: &Graph) -> Option<(Graph, Vec<usize>)> {
    let n = g.eqns.len();
    let readers = readers(g);
    let outer: Vec<usize> = (0..n)
        .filter(|&i| {
            let e = &g.eqns[i];
            let [a, b] = e.ins[..] else { return false };
            let (sa, sb) = (g.shape(a), g.shape(b));
            e.prim.as_any().is::<MatMul>()
                && matches!(e.dtype, DType::F32 | DType::F64)
                && g.dtype(a) == e.dtype
                && g.dtype(b) == e.dtype
                && sa.len() >= 2
                && sb.len() >= 2
                && sa[sa.len() - 1] == 1
                && sb[sb.len() - 2] == 1
                && sa[sa.len() - 2] >= 2
                && sb[sb.len() - 1] >= 2
                && read_elementwise(g, i, &readers)
        })
        .collect();
    if outer.is_empty() {
        return None;
    }
    let mut g2 = g.clone();
    for &i in &outer {
        g2.eqns[i].prim = Arc::new(Binary(BinaryOp::Mul));
    }
    Some((g2, outer))
}

/// For each equation, the equations that read its value.
fn readers(g: &Graph) -> Vec<SmallVec<[usize; 2]>> {
    let mut readers: Vec<SmallVec<[usize; 2]>> = vec![SmallVec::new(); g.eqns.len()];
    for (i, e) in g.eqns.iter().enumerate() {
        for a in &e.ins {
            if let Atom::Var(v) = *a
                && !readers[v].contains(&i)
            {
                readers[v].push(i);
            }
        }
    }
    readers
}

/// Whether equation `y`'s value is read, and only by fusable elementwise equations of its shape
/// and dtype (which join one group each), and is not an output.
fn read_elementwise(g: &Graph, y: usize, readers: &[SmallVec<[usize; 2]>]) -> bool {
    let ye = &g.eqns[y];
    !readers[y].is_empty()
        && !g.outs.contains(&Atom::Var(y))
        && readers[y].iter().all(|&r| {
            let e = &g.eqns[r];
            code(e).is_some()
                && e.shape == ye.shape
                && e.dtype == ye.dtype
                && e.ins.iter().all(|&a| g.dtype(a) == e.dtype)
        })
}

/// Equation `i` as a product by a constant standard basis that its elementwise readers read in
/// sparse form (`tile::SparseProduct`), if it is one.
fn sparse_product(g: &Graph, i: usize, readers: &[SmallVec<[usize; 2]>]) -> Option<SparseProduct> {
    let e = &g.eqns[i];
    let [a, Atom::Const(c)] = e.ins[..] else {
        return None;
    };
    if !e.prim.as_any().is::<MatMul>()
        || !matches!(e.dtype, DType::F32 | DType::F64)
        || g.dtype(a) != e.dtype
        || !read_elementwise(g, i, readers)
    {
        return None;
    }
    SparseProduct::of(g.consts[c].array()?, &e.shape)
}

/// Elementwise equations that read a product by a constant standard basis (which they read in
/// sparse form, see [`steps`]) and otherwise only smaller values, whose value something other
/// than an elementwise equation reads (so it is materialized) and a later elementwise equation
/// of its shape reads too: a copy of each is placed just before that later reader, and the
/// elementwise readers from there on read the copy, so their fused kernel computes the value
/// again from the product's operand instead of reading the materialized array. The copy runs
/// the same instruction on the same operands: the same bits. The graph with the copies (its
/// values renumbered), if there are any.
pub(crate) fn recompute(g: &Graph) -> Option<Graph> {
    let n = g.eqns.len();
    let readers = readers(g);
    let product: Vec<bool> = (0..n)
        .map(|i| sparse_product(g, i, &readers).is_some())
        .collect();
    // whether equation r can join the group of equation v
    let joins = |v: usize, r: usize| {
        let (e, re) = (&g.eqns[v], &g.eqns[r]);
        code(re).is_some()
            && re.shape == e.shape
            && re.dtype == e.dtype
            && re.ins.iter().all(|&a| g.dtype(a) == re.dtype)
    };
    // for each candidate, the reader before which its copy goes
    let mut at: Vec<Option<usize>> = vec![None; n];
    for (v, e) in g.eqns.iter().enumerate() {
        let reads_product = e
            .ins
            .iter()
            .any(|a| matches!(a, Atom::Var(x) if product[*x]));
        let cheap = e.ins.iter().all(|a| match a {
            Atom::Var(x) => product[*x] || g.eqns[*x].shape != e.shape,
            _ => true,
        });
        if code(e).is_none() || !reads_product || !cheap {
            continue;
        }
        let Some(&closing) = readers[v].iter().find(|&&r| !joins(v, r)) else {
            continue;
        };
        at[v] = readers[v]
            .iter()
            .copied()
            .find(|&r| r > closing && joins(v, r));
    }
    if at.iter().all(Option::is_none) {
        return None;
    }
    let mut new_of = vec![usize::MAX; n];
    let mut copy_of: Vec<Option<usize>> = vec![None; n];
    let mut eqns: Vec<Eqn> = Vec::with_capacity(n + 2);
    let renumber = |a: Atom, new_of: &[usize]| match a {
        Atom::Var(x) => Atom::Var(new_of[x]),
        a => a,
    };
    for (i, e) in g.eqns.iter().enumerate() {
        for v in (0..n).filter(|&v| at[v] == Some(i)) {
            let mut c = g.eqns[v].clone();
            c.ins = c.ins.iter().map(|&a| renumber(a, &new_of)).collect();
            copy_of[v] = Some(eqns.len());
            eqns.push(c);
        }
        let mut e = e.clone();
        e.ins = (e.ins.iter())
            .map(|&a| match a {
                Atom::Var(x) if copy_of[x].is_some() && joins(x, i) => {
                    Atom::Var(copy_of[x].expect("a copy"))
                }
                a => renumber(a, &new_of),
            })
            .collect();
        new_of[i] = eqns.len();
        eqns.push(e);
    }
    Some(Graph {
        inputs: g.inputs.clone(),
        consts: g.consts.clone(),
        eqns,
        outs: g.outs.iter().map(|&a| renumber(a, &new_of)).collect(),
        reusable: g.reusable,
    })
}

struct Group {
    members: Vec<usize>,
    open: bool,
}

/// The steps that compute `g`, with its elementwise runs fused (see the module docs). With
/// `rewrite`, products by constant standard bases that only elementwise equations read are read
/// by them in sparse form (exact when the products' left operands are finite: the program
/// checks it before each such step, see `Plan::guards`).
pub(crate) fn steps(g: &Graph, rewrite: bool) -> Vec<Step> {
    let n = g.eqns.len();
    let products: Vec<Option<SparseProduct>> = if rewrite {
        let readers = readers(g);
        (0..n).map(|i| sparse_product(g, i, &readers)).collect()
    } else {
        vec![None; n]
    };
    let codes: Vec<Option<Code>> = g
        .eqns
        .iter()
        .map(|e| code(e).filter(|_| e.ins.iter().all(|&a| g.dtype(a) == e.dtype)))
        .collect();
    let mut gid: Vec<Option<usize>> = vec![None; n];
    let mut groups: Vec<Group> = Vec::new();
    for (i, e) in g.eqns.iter().enumerate() {
        let mut join: SmallVec<[usize; 4]> = SmallVec::new();
        if codes[i].is_some() {
            for a in &e.ins {
                if let Atom::Var(v) = *a
                    && let Some(k) = gid[v]
                    && groups[k].open
                    && g.eqns[v].shape == e.shape
                    && g.eqns[v].dtype == e.dtype
                    && !join.contains(&k)
                {
                    join.push(k);
                }
            }
        }
        // a group read by an equation that does not join it is closed
        for a in &e.ins {
            if let Atom::Var(v) = *a
                && let Some(k) = gid[v]
                && !join.contains(&k)
            {
                groups[k].open = false;
            }
        }
        if codes[i].is_none() {
            continue;
        }
        let k = match join.first() {
            None => {
                groups.push(Group {
                    members: Vec::new(),
                    open: true,
                });
                groups.len() - 1
            }
            Some(&k) => {
                for &other in &join[1..] {
                    let moved = std::mem::take(&mut groups[other].members);
                    for &m in &moved {
                        gid[m] = Some(k);
                    }
                    groups[k].members.extend(moved);
                    groups[other].open = false;
                }
                groups[k].members.sort_unstable();
                k
            }
        };
        groups[k].members.push(i);
        gid[i] = Some(k);
    }
    // which values are read outside their group (by another equation or as an output)
    let mut escapes = vec![false; n];
    for (i, e) in g.eqns.iter().enumerate() {
        for a in &e.ins {
            if let Atom::Var(v) = *a
                && (gid[v].is_none() || gid[v] != gid[i])
            {
                escapes[v] = true;
            }
        }
    }
    for a in &g.outs {
        if let Atom::Var(v) = *a {
            escapes[v] = true;
        }
    }
    let mut out = Vec::with_capacity(n);
    for (i, e) in g.eqns.iter().enumerate() {
        match gid[i].map(|k| &groups[k].members) {
            Some(ms) if ms.len() > 1 => {
                if *ms.last().expect("a member") == i {
                    out.push(fused(g, ms, &escapes, &products));
                }
            }
            // one equation alone runs its own kernel, unless it reads a sparse constant, a pad
            // or a sparse product
            Some(ms)
                if e.ins.iter().any(|a| {
                    padded(g, *a, &e.shape).is_some()
                        || matches!(a, Atom::Var(v) if products[*v].is_some())
                        || matches!(a, Atom::Const(c)
                        if g.consts[*c].array().and_then(|x| SparseRows::of(x, &e.shape)).is_some())
                }) =>
            {
                out.push(fused(g, ms, &escapes, &products))
            }
            _ => out.push(Step::Eval {
                prim: e.prim.clone(),
                ins: e.ins.clone(),
                out: i,
            }),
        }
    }
    // a pad read only through guarded loads, and a product read only in sparse form, are not
    // materialized
    let mut read = vec![false; n];
    for a in out.iter().flat_map(|s| s.ins()).chain(&g.outs) {
        if let Atom::Var(v) = *a {
            read[v] = true;
        }
    }
    out.retain(|s| match s {
        Step::Eval { prim, out, .. } => {
            read[*out] || !(prim.as_any().is::<Pad>() || products[*out].is_some())
        }
        Step::Fused { .. } => true,
    });
    let mut out = with_prologues(g, out);
    // the zeros of sparse constants skipped where the outputs are provably constant
    for s in &mut out {
        if let Step::Fused { kernel, .. } = s {
            kernel.skip = Skip::plan(kernel);
            // below `SPARSE_SMALL` positions a template row pays only for a longer kernel
            let pays = kernel.skip.as_ref().is_some_and(|k| !k.template)
                || (kernel.skip.is_some() && kernel.instrs.len() >= SPARSE_SMALL_INSTRS);
            if numel(&kernel.shape) < SPARSE_SMALL && !pays {
                kernel.skip = None;
                kernel.sparse.iter_mut().for_each(|s| *s = None);
                if let Some(p) = &mut kernel.pre {
                    p.sparse.iter_mut().for_each(|s| *s = None);
                }
            }
        }
    }
    out
}

/// Outputs of fewer positions read constants in sparse form (`tile::SparseRows`) only under a
/// skip plan (`skip`) with constants, or with a template row and at least
/// [`SPARSE_SMALL_INSTRS`] instructions: the template row and the gathers cost about what a
/// dense pass of a one-instruction kernel does. Measured (alternated): Rosenbrock's n = 100
/// Hessian (10 instructions over 9900 positions, a template row) 45 → 23 µs in sparse form;
/// the n = 100 Hessian of Σ sin xᵢ (one multiply) 3.6 → 4.4–6.1 µs.
const SPARSE_SMALL: usize = 1 << 14;

/// See [`SPARSE_SMALL`].
const SPARSE_SMALL_INSTRS: usize = 3;

/// Merge each fused step whose outputs are read only by one later fused step, through pads
/// along the last dim with the same leading dims (the gradient of `x[1:]` and `x[:-1]` added),
/// into that step as its prologue (`tile::Kernel::pre`): its outputs are then computed a row at
/// a time and never materialized.
fn with_prologues(g: &Graph, mut steps: Vec<Step>) -> Vec<Step> {
    let mut b = 0;
    while b < steps.len() {
        if let Some(a) = prologue_of(g, &steps, b) {
            let Step::Fused {
                kernel: ka,
                ins: ia,
                outs: oa,
                members: ma,
            } = steps.remove(a)
            else {
                unreachable!("a fused step")
            };
            b -= 1;
            let Step::Fused {
                kernel,
                ins,
                members,
                ..
            } = &mut steps[b]
            else {
                unreachable!("a fused step")
            };
            let mut own = SmallVec::<[Atom; 4]>::new();
            for (i, a) in ins.iter().enumerate() {
                match a {
                    Atom::Var(v) if oa.contains(v) => {
                        kernel.pre_of[i] = oa.iter().position(|o| o == v);
                    }
                    a => own.push(*a),
                }
            }
            own.extend(ia);
            *ins = own;
            kernel.pre = Some(ka);
            kernel.pre_outs = oa.to_vec();
            let mut all = ma;
            all.append(members);
            *members = all;
        }
        b += 1;
    }
    steps
}

/// Prologues whose rows are shorter than this are not worth their per-row start.
const PROLOGUE_ROW_MIN: usize = 256;

/// The index of a fused step that can be step `b`'s prologue (see [`with_prologues`]).
fn prologue_of(g: &Graph, steps: &[Step], b: usize) -> Option<usize> {
    let Step::Fused { kernel, ins, .. } = &steps[b] else {
        return None;
    };
    if kernel.pre.is_some() {
        return None;
    }
    let last = kernel.shape.len().checked_sub(1)?;
    // the candidates: the producers of inputs read through pads along the last dim
    let a = ins.iter().zip(&kernel.pads).find_map(|(x, p)| match (x, p) {
        (Atom::Var(v), Some(p)) if p.dim == last => steps[..b].iter().position(
            |s| matches!(s, Step::Fused { outs, kernel: k, .. } if outs.contains(v) && k.pre.is_none()),
        ),
        _ => None,
    })?;
    let Step::Fused {
        kernel: ka,
        outs: oa,
        ..
    } = &steps[a]
    else {
        return None;
    };
    // rows long enough that running the prologue once a row costs less than materializing
    let same_rows = ka.shape.last().is_some_and(|&l| l >= PROLOGUE_ROW_MIN)
        && ka.shape.len() == kernel.shape.len()
        && ka.shape[..last] == kernel.shape[..last]
        && ka.dtype == kernel.dtype;
    // every output of `a` is read by `b` only, and only through such pads
    let only_b = oa.iter().all(|o| {
        !g.outs.contains(&Atom::Var(*o))
            && steps
                .iter()
                .enumerate()
                .all(|(j, s)| j == b || !s.ins().contains(&Atom::Var(*o)))
            && ins
                .iter()
                .zip(&kernel.pads)
                .all(|(x, p)| *x != Atom::Var(*o) || p.is_some_and(|p| p.dim == last))
    });
    (same_rows && only_b).then_some(a)
}

/// If `a` is the value of a pad of shape `shape` (a group's) whose rows are long enough for row
/// mode, the pad's operand and where the pad puts it: the group reads the operand through a
/// guarded load instead of the padded array.
fn padded(g: &Graph, a: Atom, shape: &[usize]) -> Option<(Atom, Option<PadSpec>)> {
    let Atom::Var(v) = a else { return None };
    let e = &g.eqns[v];
    let p = e.prim.as_any().downcast_ref::<Pad>()?;
    (e.shape.as_slice() == shape
        && shape.last().is_some_and(|&l| l >= ROW_MIN)
        && matches!(e.dtype, DType::F32 | DType::F64)
        && p.step > 0)
        .then(|| {
            let spec = PadSpec {
                dim: p.dim,
                start: p.start,
                step: p.step,
            };
            (e.ins[0], Some(spec))
        })
}

/// The fused step of a group (members in order).
fn fused(
    g: &Graph,
    members: &[usize],
    escapes: &[bool],
    products: &[Option<SparseProduct>],
) -> Step {
    let at = |v: usize| members.binary_search(&v).ok();
    let outs: SmallVec<[usize; 2]> = members.iter().copied().filter(|&m| escapes[m]).collect();
    let n_out = outs.len();
    // the last instruction reading each member's value
    let mut last = vec![0; members.len()];
    for (j, &m) in members.iter().enumerate() {
        for a in &g.eqns[m].ins {
            if let Atom::Var(v) = *a
                && let Some(p) = at(v)
            {
                last[p] = j;
            }
        }
    }
    let mut ins: SmallVec<[(Atom, Option<PadSpec>); 4]> = SmallVec::new();
    let mut instrs = Vec::with_capacity(members.len());
    let mut free: Vec<usize> = Vec::new();
    let mut n_reg = 0;
    let mut reg_of: Vec<Option<usize>> = vec![None; members.len()];
    for (j, &m) in members.iter().enumerate() {
        let e = &g.eqns[m];
        let code = code(e).expect("a fusable equation");
        let mut args = [Src::In(0); 2];
        for (k, a) in e.ins.iter().take(code.arity()).enumerate() {
            args[k] = match a {
                Atom::Var(v) if at(*v).is_some() => Src::Val(at(*v).expect("a member")),
                a => {
                    let key = match a {
                        // a product read in sparse form: its operand, below
                        Atom::Var(v) if products[*v].is_some() => (*a, None),
                        a => padded(g, *a, &e.shape).unwrap_or((*a, None)),
                    };
                    Src::In(match ins.iter().position(|x| *x == key) {
                        Some(p) => p,
                        None => {
                            ins.push(key);
                            ins.len() - 1
                        }
                    })
                }
            };
        }
        // the destination is chosen before the operands' registers are freed, so an
        // instruction never writes a register it reads
        let dst = match outs.iter().position(|&o| o == m) {
            Some(k) => k,
            None => {
                let r = free.pop().unwrap_or_else(|| {
                    n_reg += 1;
                    n_reg - 1
                });
                reg_of[j] = Some(r);
                n_out + r
            }
        };
        for (k, s) in args.iter().take(code.arity()).enumerate() {
            if let Src::Val(p) = *s
                && last[p] == j
                && !args[..k].contains(s)
                && let Some(r) = reg_of[p]
            {
                free.push(r);
            }
        }
        instrs.push(Instr { code, args, dst });
    }
    let e = &g.eqns[*members.last().expect("a member")];
    let sparse = ins
        .iter()
        .map(|a| match a {
            (Atom::Const(c), None) => SparseRows::of(g.consts[*c].array()?, &e.shape),
            _ => None,
        })
        .collect();
    let pads = ins.iter().map(|a| a.1).collect();
    let prods: Vec<Option<SparseProduct>> = ins
        .iter()
        .map(|a| match a.0 {
            Atom::Var(v) => products[v].clone(),
            _ => None,
        })
        .collect();
    // a product read in sparse form is read from its left operand
    let ins: SmallVec<[Atom; 4]> = ins
        .iter()
        .map(|a| match a.0 {
            Atom::Var(v) if products[v].is_some() => g.eqns[v].ins[0],
            a => a,
        })
        .collect();
    Step::Fused {
        kernel: Box::new(Kernel {
            sparse,
            products: prods,
            pads,
            shape: e.shape.clone(),
            dtype: e.dtype,
            n_in: ins.len(),
            pre: None,
            pre_of: vec![None; ins.len()],
            pre_outs: Vec::new(),
            skip: None,
            n_out,
            n_reg,
            instrs,
        }),
        ins,
        outs,
        members: members.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::Shape;
    use crate::core::Tensor;
    use crate::jit::Program;
    use crate::prims::binary::BinaryOp;
    use crate::prims::reduce::Sum;
    use crate::prims::unary::UnaryOp;

    fn eqn(prim: Arc<dyn Primitive>, ins: &[Atom], shape: &[usize]) -> Eqn {
        Eqn {
            prim,
            ins: ins.iter().copied().collect(),
            shape: Shape::from_slice(shape),
            dtype: DType::F64,
        }
    }

    #[test]
    fn groups_close_when_read_outside_and_run_as_eager() {
        use Atom::*;
        let un = |op| -> Arc<dyn Primitive> { Arc::new(Unary(op)) };
        let bin = |op| -> Arc<dyn Primitive> { Arc::new(Binary(op)) };
        let sum: Arc<dyn Primitive> = Arc::new(Sum {
            dims: smallvec::smallvec![0, 1],
            keepdim: false,
        });
        let g = Graph {
            inputs: vec![
                (Shape::from_slice(&[40, 30]), DType::F64),
                (Shape::from_slice(&[30]), DType::F64),
            ],
            consts: vec![],
            eqns: vec![
                eqn(un(UnaryOp::Sin), &[In(0)], &[40, 30]), // 0: group A
                eqn(bin(BinaryOp::Mul), &[Var(0), In(1)], &[40, 30]), // 1: A
                eqn(sum, &[Var(1)], &[]),                   // 2: reads A: closes it
                eqn(un(UnaryOp::Exp), &[Var(1)], &[40, 30]), // 3: group B
                eqn(bin(BinaryOp::Add), &[Var(3), Var(0)], &[40, 30]), // 4: B
                eqn(un(UnaryOp::Cos), &[In(1)], &[30]),     // 5: another shape
                eqn(bin(BinaryOp::Mul), &[Var(4), Var(5)], &[40, 30]), // 6: B
                eqn(bin(BinaryOp::Sub), &[Var(6), Var(2)], &[40, 30]), // 7: B
            ],
            outs: vec![Var(7), Var(4), Var(2)],
            reusable: true,
        };
        let steps = steps(&g, true);
        let shape: Vec<String> = steps
            .iter()
            .map(|s| match s {
                Step::Eval { out, .. } => format!("eval {out}"),
                Step::Fused {
                    members,
                    outs,
                    kernel,
                    ..
                } => format!("fused {members:?} -> {outs:?} ({} registers)", kernel.n_reg),
            })
            .collect();
        assert_eq!(
            shape,
            [
                "fused [0, 1] -> [0, 1] (0 registers)",
                "eval 2",
                "eval 5",
                "fused [3, 4, 6, 7] -> [4, 7] (1 registers)",
            ]
        );
        // the fused program gives the bits of the equations run one by one
        let x: Vec<f64> = (0..1200).map(|i| (i as f64 * 0.37).sin() * 3.0).collect();
        let y: Vec<f64> = (0..30).map(|i| i as f64 * 0.1 - 1.0).collect();
        let inputs = [
            Tensor::from_vec(x, &[40, 30]).unwrap(),
            Tensor::from_vec(y, &[30]).unwrap(),
        ];
        let p = Program::new(g);
        assert!(p.steps.is_some());
        let fused = p.run(&inputs).unwrap();
        let plain = p.run_bind(&inputs).unwrap();
        for (a, b) in fused.iter().zip(&plain) {
            assert_eq!(a.shape(), b.shape());
            let (a, b) = (a.to_vec::<f64>().unwrap(), b.to_vec::<f64>().unwrap());
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }
}

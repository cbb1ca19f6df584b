//! Graph passes. Each takes a graph and returns an equivalent one; [`optimize`] runs them in
//! order. All are exact (see the module docs of `jit`).

use crate::core::stage::{Atom, Eqn, Graph};
use crate::core::{PrimKind, Primitive};
use crate::prims::Bits;
use crate::prims::binary::{Binary, BinaryOp};
use crate::prims::shape::{BroadcastTo, Permute, Reshape};
use crate::prims::unary::{Unary, UnaryOp};
use smallvec::SmallVec;
use std::collections::HashMap;
use std::sync::Arc;

/// The passes, in order: exact algebraic rewrites and common-subexpression elimination in one
/// forward sweep (each makes the other's matches visible), then dead-code elimination of what
/// they left unread.
pub(crate) fn optimize(g: Graph) -> Graph {
    dce(simplify_and_cse(g))
}

/// The atom an equation is equal to, if it is an identity: a view to the shape its input
/// already has, `x · 1`, `x¹`, `-(-x)`.
fn identity_of(e: &Eqn, g: &Graph, eqns: &[Eqn]) -> Option<Atom> {
    let p = e.prim.as_any();
    let x = *e.ins.first()?;
    let (shape, dtype) = aval(g, eqns, x);
    let same_type = shape == e.shape.as_slice() && dtype == e.dtype;
    if (p.is::<Reshape>() || p.is::<BroadcastTo>()) && same_type {
        return Some(x);
    }
    if let Some(Permute { perm }) = p.downcast_ref::<Permute>()
        && perm.iter().enumerate().all(|(i, &d)| i == d)
    {
        return Some(x);
    }
    // x · 1 where the 1s are a constant broadcast over x (a reverse-mode seed)
    if let Some(Binary(BinaryOp::Mul)) = p.downcast_ref::<Binary>()
        && let [a, b] = e.ins[..]
    {
        for (x, one) in [(a, b), (b, a)] {
            let (shape, dtype) = aval(g, eqns, x);
            if let Atom::Const(c) = one
                && shape == e.shape.as_slice()
                && dtype == e.dtype
                && all_ones(&g.consts[c])
            {
                return Some(x);
            }
        }
    }
    match p.downcast_ref::<Unary>() {
        // bit for bit, NaN and -0 included
        Some(Unary(UnaryOp::MulScalar(Bits(c)) | UnaryOp::PowScalar(Bits(c)))) if *c == 1.0 => {
            Some(x)
        }
        Some(Unary(UnaryOp::Neg)) => match x {
            Atom::Var(j) => match eqns[j].prim.as_any().downcast_ref::<Unary>() {
                Some(Unary(UnaryOp::Neg)) => Some(eqns[j].ins[0]),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// Whether a constant is concrete and every element is exactly 1: a small array of ones, or
/// one 1 broadcast to any shape (a reverse-mode seed), whose product with `x` eager evaluation
/// already returns as `x` itself.
fn all_ones(t: &crate::core::Tensor) -> bool {
    let Some(a) = t.array() else {
        return false;
    };
    let one_value = a
        .strides()
        .iter()
        .zip(a.shape())
        .all(|(&s, &n)| s == 0 || n == 1);
    if one_value && a.numel() > 0 {
        return match a.dtype() {
            crate::dtype::DType::F64 => a.v::<f64>().data[a.offset] == 1.0,
            crate::dtype::DType::F32 => a.v::<f32>().data[a.offset] == 1.0,
            _ => false,
        };
    }
    t.numel() <= 64 && t.to_vec_f64().is_ok_and(|v| v.iter().all(|&x| x == 1.0))
}

/// Shape and dtype of an atom.
fn aval<'a>(g: &'a Graph, eqns: &'a [Eqn], a: Atom) -> (&'a [usize], crate::dtype::DType) {
    match a {
        Atom::In(i) => (&g.inputs[i].0, g.inputs[i].1),
        Atom::Var(i) => (&eqns[i].shape, eqns[i].dtype),
        Atom::Const(i) => (g.consts[i].shape(), g.consts[i].dtype()),
    }
}

/// One forward sweep: each equation's inputs are renamed through the rewrites so far; an
/// identity becomes an alias of its input, and an equation equal to an earlier one (equal
/// primitive and parameters, same inputs; random draws excepted) an alias of that one. The
/// aliased equations stay in place, unread, for [`dce`] to drop.
pub(crate) fn simplify_and_cse(g: Graph) -> Graph {
    type Key = (Arc<dyn Primitive>, SmallVec<[Atom; 3]>);
    let mut alias: Vec<Atom> = Vec::with_capacity(g.eqns.len());
    let mut seen: HashMap<Key, Atom> = HashMap::new();
    let mut eqns: Vec<Eqn> = Vec::with_capacity(g.eqns.len());
    let rename = |a: Atom, alias: &[Atom]| match a {
        Atom::Var(v) => alias[v],
        a => a,
    };
    for (i, e) in g.eqns.iter().enumerate() {
        let renamed = Eqn {
            ins: e.ins.iter().map(|a| rename(*a, &alias)).collect(),
            ..e.clone()
        };
        let to = if let Some(x) = identity_of(&renamed, &g, &eqns) {
            x
        } else if effectful(&*e.prim) {
            Atom::Var(i)
        } else {
            *seen
                .entry((e.prim.clone(), renamed.ins.clone()))
                .or_insert(Atom::Var(i))
        };
        alias.push(to);
        eqns.push(renamed);
    }
    let outs = g.outs.iter().map(|a| rename(*a, &alias)).collect();
    Graph { eqns, outs, ..g }
}

/// Whether an equation must run even if nothing reads its value: a random draw advances the
/// generator, and later draws (in this call or the next) depend on it.
pub(crate) fn effectful(p: &dyn Primitive) -> bool {
    p.kind() == PrimKind::Random
}

/// Dead-code elimination: keep the equations the outputs (or an effect) depend on.
pub(crate) fn dce(g: Graph) -> Graph {
    let n = g.eqns.len();
    let mut live = vec![false; n];
    for a in &g.outs {
        if let Atom::Var(v) = a {
            live[*v] = true;
        }
    }
    for i in (0..n).rev() {
        if !live[i] && effectful(&*g.eqns[i].prim) {
            live[i] = true;
        }
        if live[i] {
            for a in &g.eqns[i].ins {
                if let Atom::Var(v) = a {
                    live[*v] = true;
                }
            }
        }
    }
    let mut map: Vec<Option<usize>> = vec![None; n];
    let mut keep = Vec::with_capacity(n);
    for (i, e) in g.eqns.into_iter().enumerate() {
        if live[i] {
            map[i] = Some(keep.len());
            keep.push(e);
        }
    }
    let re = |a: Atom| match a {
        Atom::Var(v) => Atom::Var(map[v].expect("a live equation reads only live ones")),
        a => a,
    };
    let eqns = keep
        .into_iter()
        .map(|e| Eqn {
            ins: e.ins.iter().map(|a| re(*a)).collect(),
            ..e
        })
        .collect();
    let outs = g.outs.iter().map(|a| re(*a)).collect();
    drop_unused_consts(Graph { eqns, outs, ..g })
}

/// Release the constants no equation or output reads any more.
fn drop_unused_consts(g: Graph) -> Graph {
    let mut used = vec![false; g.consts.len()];
    let reads = g.eqns.iter().flat_map(|e| e.ins.iter()).chain(&g.outs);
    for a in reads {
        if let Atom::Const(c) = a {
            used[*c] = true;
        }
    }
    let mut map = vec![usize::MAX; used.len()];
    let mut consts = Vec::new();
    for (i, c) in g.consts.into_iter().enumerate() {
        if used[i] {
            map[i] = consts.len();
            consts.push(c);
        }
    }
    let re = |a: &Atom| match a {
        Atom::Const(c) => Atom::Const(map[*c]),
        a => *a,
    };
    let eqns = g
        .eqns
        .into_iter()
        .map(|e| Eqn {
            ins: e.ins.iter().map(re).collect(),
            ..e
        })
        .collect();
    let outs = g.outs.iter().map(re).collect();
    Graph {
        consts,
        eqns,
        outs,
        ..g
    }
}

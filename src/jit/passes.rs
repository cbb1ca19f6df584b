//! Graph passes. Each takes a graph and returns an equivalent one; [`optimize`] runs them in
//! order. All are exact (see the module docs of `jit`).

use crate::core::Primitive;
use crate::core::stage::{Atom, Eqn, Graph};

/// The passes, in order: dead-code elimination, then again after the rewrites that make code
/// dead.
pub(crate) fn optimize(g: Graph) -> Graph {
    dce(g)
}

/// Whether an equation must run even if nothing reads its value: a random draw advances the
/// generator, and later draws (in this call or the next) depend on it.
pub(crate) fn effectful(p: &dyn Primitive) -> bool {
    p.is_random()
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

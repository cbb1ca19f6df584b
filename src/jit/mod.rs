//! Compiled mode: the graphs the staging interpreter records (`core::stage`, `NOTE: [staging]`),
//! the passes that simplify them, and the executor that replays them.
//!
//! A [`Program`] is an optimized graph plus what replaying it needs (when each value dies).
//! Replaying binds each equation's primitive on the values of its inputs: on concrete tensors
//! that is the kernel call and nothing else (no public-op validation, no rules, no tracers), and
//! under running transforms each equation goes through their rules as it would eagerly, so a
//! compiled function composes with every transform.
//!
//! Which rewrites can change results: none of the passes here do. Dead-code elimination drops
//! equations whose values nothing reads (but never a random draw, whose generator state later
//! draws depend on), common-subexpression elimination merges equations that apply an equal
//! primitive to the same inputs (random draws excepted), and the algebraic rewrites are exact
//! (`x · 1 = x`, `x + 0`-free, `-(-x) = x`, a reshape to the same shape).

mod display;
mod passes;

pub(crate) use passes::optimize;

use crate::core::Tensor;
use crate::core::bind;
use crate::core::stage::{Atom, Graph};
use crate::error::Result;
use smallvec::SmallVec;

/// A graph ready to replay.
pub(crate) struct Program {
    pub(crate) graph: Graph,
    /// For each equation, the equations whose values are read for the last time by it (their
    /// buffers are released right after it runs, so replay holds only live values).
    free_after: Vec<SmallVec<[usize; 2]>>,
}

impl Program {
    /// Prepare `graph` (already optimized) for replay.
    pub(crate) fn new(graph: Graph) -> Program {
        let n = graph.eqns.len();
        let mut last: Vec<Option<usize>> = vec![None; n];
        for (i, e) in graph.eqns.iter().enumerate() {
            for a in &e.ins {
                if let Atom::Var(v) = a {
                    last[*v] = Some(i);
                }
            }
        }
        for a in &graph.outs {
            if let Atom::Var(v) = a {
                last[*v] = Some(usize::MAX);
            }
        }
        let mut free_after: Vec<SmallVec<[usize; 2]>> = vec![SmallVec::new(); n];
        for (v, l) in last.iter().enumerate() {
            match l {
                Some(i) if *i != usize::MAX => free_after[*i].push(v),
                // never read: free at once
                None => free_after[v].push(v),
                _ => {}
            }
        }
        Program { graph, free_after }
    }

    /// Run on `inputs` (one tensor per graph input, concrete or tracers of running transforms).
    pub(crate) fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let g = &self.graph;
        let mut vars: Vec<Option<Tensor>> = vec![None; g.eqns.len()];
        for (i, e) in g.eqns.iter().enumerate() {
            let out = {
                let args: SmallVec<[&Tensor; 4]> = e
                    .ins
                    .iter()
                    .map(|a| value(*a, inputs, &g.consts, &vars))
                    .collect();
                bind(&*e.prim, &args)?
            };
            vars[i] = Some(out);
            for &v in &self.free_after[i] {
                vars[v] = None;
            }
        }
        Ok(g.outs
            .iter()
            .map(|a| value(*a, inputs, &g.consts, &vars).clone())
            .collect())
    }
}

#[inline]
fn value<'a>(
    a: Atom,
    inputs: &'a [Tensor],
    consts: &'a [Tensor],
    vars: &'a [Option<Tensor>],
) -> &'a Tensor {
    match a {
        Atom::In(i) => &inputs[i],
        Atom::Const(i) => &consts[i],
        Atom::Var(i) => vars[i]
            .as_ref()
            .expect("a value is read before it is freed"),
    }
}

//! A compiled function met by an outer transform: one primitive whose rules are compiled too.
//!
//! NOTE: [jit-call]
//! `grad(jit(f))`, `vmap(jit(f))` and `hessian(jit(f))` call a [`Jit`] on tracers of running
//! transforms. Once the function's signature is compiled, such a call does not replay the
//! graph's equations one by one under the transforms (each would go through every level's
//! rules, as eager code does); it binds *one* primitive, a `CustomCall` of [`JitCall`]
//! (`NOTE: [custom-rules]`), whose rules are themselves compiled functions, derived from the
//! graph the first time each is needed and cached with it (JAX's `pjit` primitive, whose jvp,
//! transpose and batch rules give new jaxprs):
//!
//! - **evaluation**: the compiled program (fused, planned) on the concrete operands;
//! - **jvp**: `jit` of the graph's jvp, for the set of operands with a nonzero tangent;
//! - **vjp**: `jit` of the graph's vjp (which recomputes the forward pass inside it, as
//!   `checkpoint` does, so the tape keeps only the call's operands), for the set of operands
//!   whose cotangent is wanted;
//! - **batch**: `jit` of the graph vmapped over dim 0 of the batched operands.
//!
//! Each derived function is a [`Jit`] like any other, so when the next transform out meets
//! *it* on tracers it binds a `JitCall` in turn: `hessian(jit(f))` runs, after its first call,
//! as a few compiled programs (the batched jvp of the batched vjp, …) chained by the outer
//! levels, each traced once per signature ([`Jit::rule_traces`] counts them).
//!
//! The results are those of replaying the equations under the transforms (the derived
//! programs apply the same rules to the same equations, and their fused execution changes no
//! bits; `NOTE: [staging]`), except that the vjp's forward pass is a recomputation.
//!
//! When the call stays a replay of equations instead: the operands include tracers of an
//! enclosing `jit`'s trace (the outer graph then records the equations themselves, so its
//! fusion sees across the boundary), the graph draws random numbers or holds a user's custom
//! call (whose draws depend on the levels that batch them), or the outputs are not float
//! tensors of one dtype (the primitive's one output is the outputs flattened and concatenated).

use super::custom::{each_level, pack_flat, split_flat};
use super::jit::{Jit, jit};
use super::jvp::jvp_impl;
use super::options::Opts;
use super::vjp::vjp_impl;
use super::{Dims, Dynamic, Function, dynamic, vmap};
use crate::array::Shape;
use crate::core::{LevelKind, PrimKind, Tensor, bind};
use crate::error::Result;
use crate::jit::Program;
use crate::prims::Grads;
use crate::prims::custom::{CustomCall, CustomRules};
use crate::tree::Tree;
use std::sync::{Arc, Mutex};

type DynFn = Box<dyn Fn(&[Tree]) -> Result<Tree> + Send + Sync>;
/// A rule of a compiled function, itself compiled.
type DerivedJit = Jit<Dynamic<DynFn>>;

/// Which rule a derived function is, with the operands it is for.
#[derive(Clone, PartialEq, Eq)]
enum Rule {
    /// The operands with a nonzero tangent.
    Jvp(Vec<bool>),
    /// The operands whose cotangent is wanted.
    Vjp(Vec<bool>),
    /// The batched operands.
    Batch(Vec<bool>),
}

/// A compiled signature that can be bound as one primitive (see `NOTE: [jit-call]`).
pub(super) struct Callable {
    program: Arc<Program>,
    /// The outputs' shapes (all of one float dtype).
    outs: Vec<Shape>,
    derived: Mutex<Vec<(Rule, Arc<DerivedJit>)>>,
}

impl Callable {
    /// The call form of `program`, whose outputs are `outs`, if it has one.
    pub(super) fn new(program: Arc<Program>, outs: &[&Tensor]) -> Option<Callable> {
        let dtype = outs.first()?.dtype();
        let one_float = dtype.is_float() && outs.iter().all(|t| t.dtype() == dtype);
        // draws and users' custom calls depend on the levels that run them
        let plain = program
            .graph
            .eqns
            .iter()
            .all(|e| e.prim.kind() != PrimKind::Random && !e.prim.as_any().is::<CustomCall>());
        (one_float && plain).then(|| Callable {
            program,
            outs: outs.iter().map(|t| Shape::from_slice(t.shape())).collect(),
            derived: Mutex::new(Vec::new()),
        })
    }

    /// Whether a call on `leaves` should bind the primitive: some operand is a tracer of a
    /// running transform, and none belongs to a trace being recorded.
    pub(super) fn applies(leaves: &[Tensor]) -> bool {
        leaves.iter().any(|t| t.tracer().is_some()) && !leaves.iter().any(staged)
    }

    /// Bind the call on `leaves`: the outputs, as the graph's outputs.
    pub(super) fn bind(self: &Arc<Self>, leaves: &[Tensor]) -> Result<Vec<Tensor>> {
        let refs: Vec<&Tensor> = leaves.iter().collect();
        let packed = bind(&CustomCall(Arc::new(JitCall(self.clone()))), &refs)?;
        split_flat(&packed, &self.outs)
    }

    /// How many times the derived rules (and theirs, recursively) have been traced.
    pub(super) fn rule_traces(&self) -> usize {
        self.lock()
            .iter()
            .map(|(_, j)| j.traces() + j.rule_traces())
            .sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Rule, Arc<DerivedJit>)>> {
        // a panic while another thread held the lock leaves the list itself intact
        self.derived.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The compiled function for `rule`, made by `make` the first time.
    fn derived(&self, rule: Rule, make: impl FnOnce() -> DynFn) -> Arc<DerivedJit> {
        let mut d = self.lock();
        if let Some((_, j)) = d.iter().find(|(r, _)| *r == rule) {
            return j.clone();
        }
        let j = Arc::new(jit(dynamic(make())));
        d.push((rule, j.clone()));
        j
    }

    /// The outputs of the graph on `xs`, packed into one tensor (replayed: under the derived
    /// functions' transforms, each equation goes through their rules).
    fn replay_packed(program: &Program, xs: &[Tensor]) -> Result<Tensor> {
        pack_flat(&program.run(xs)?)
    }
}

/// Whether `t` holds a tracer of a trace being recorded, at any depth.
fn staged(t: &Tensor) -> bool {
    let mut found = false;
    each_level(t, &mut |level, _| {
        found |= matches!(level.kind, LevelKind::Stage { .. })
    });
    found
}

fn tensors(args: &[Tree]) -> Result<Vec<Tensor>> {
    args.iter().map(|a| a.clone().into_tensor()).collect()
}

fn leaves(xs: &[Tensor]) -> Vec<Tree> {
    xs.iter().map(|x| Tree::Leaf(x.clone())).collect()
}

fn apply(j: &DerivedJit, args: Vec<Tree>) -> Result<Tree> {
    <DerivedJit as Function<Tree>>::apply(j, args)
}

/// The rules of a compiled function bound as one primitive (`NOTE: [jit-call]`).
struct JitCall(Arc<Callable>);

impl CustomRules for JitCall {
    fn call(&self) -> &str {
        "jit"
    }
    fn eval(&self, xs: &[Tensor]) -> Result<Tensor> {
        Callable::replay_packed(&self.0.program, xs)
    }
    fn jvp(&self, xs: &[Tensor], ts: &[Option<&Tensor>], _out: &Tensor) -> Result<Option<Tensor>> {
        let mask: Vec<bool> = xs
            .iter()
            .zip(ts)
            .map(|(x, t)| t.is_some() && x.dtype().is_float())
            .collect();
        if !mask.contains(&true) {
            return Ok(None);
        }
        let program = self.0.program.clone();
        let m = mask.clone();
        let j = self.0.derived(Rule::Jvp(mask.clone()), move || {
            Box::new(move |args: &[Tree]| {
                let v = tensors(args)?;
                let (xs, ts) = v.split_at(m.len());
                let float: Vec<usize> = (0..xs.len())
                    .filter(|&i| xs[i].dtype().is_float())
                    .collect();
                let mut given = ts.iter();
                let mut primals = Vec::new();
                let mut tangents = Vec::new();
                for &i in &float {
                    primals.push(Tree::Leaf(xs[i].clone()));
                    tangents.push(Tree::Leaf(match m[i] {
                        true => given
                            .next()
                            .expect("one tangent per flagged operand")
                            .clone(),
                        false => xs[i].zeros_like()?,
                    }));
                }
                let g = |a: Vec<Tree>| -> Result<Tree> {
                    let mut all = xs.to_vec();
                    for (&i, t) in float.iter().zip(a) {
                        all[i] = t.into_tensor()?;
                    }
                    Ok(Tree::Leaf(Callable::replay_packed(&program, &all)?))
                };
                Ok(jvp_impl(&g, primals, tangents, &Opts::new("jvp"))?.1)
            })
        });
        let mut args = leaves(xs);
        args.extend(
            ts.iter()
                .zip(&mask)
                .filter(|(_, m)| **m)
                .map(|(t, _)| Tree::Leaf((*t.expect("flagged operands have tangents")).clone())),
        );
        Ok(Some(apply(&j, args)?.into_tensor()?))
    }
    fn vjp(&self, xs: &[Tensor], _out: &Tensor, ct: &Tensor, needs: &[bool]) -> Result<Grads> {
        let mask: Vec<bool> = xs
            .iter()
            .zip(needs)
            .map(|(x, &n)| n && x.dtype().is_float())
            .collect();
        let diff: Vec<usize> = (0..xs.len()).filter(|&i| mask[i]).collect();
        let mut grads: Grads = (0..xs.len()).map(|_| None).collect();
        if diff.is_empty() {
            return Ok(grads);
        }
        let program = self.0.program.clone();
        let d = diff.clone();
        let j = self.0.derived(Rule::Vjp(mask), move || {
            Box::new(move |args: &[Tree]| {
                let (xs, ct) = args.split_at(args.len() - 1);
                let g = |a: Vec<Tree>| -> Result<Tree> {
                    Ok(Tree::Leaf(Callable::replay_packed(
                        &program,
                        &tensors(&a)?,
                    )?))
                };
                let (_, pb, _) = vjp_impl(&g, xs.to_vec(), Some(&d), &Opts::new("vjp"))?;
                pb.apply(ct[0].clone())
            })
        });
        let mut args = leaves(xs);
        args.push(Tree::Leaf(ct.clone()));
        for (&i, g) in diff.iter().zip(apply(&j, args)?.into_tuple()?) {
            grads[i] = Some(g.into_tensor()?);
        }
        Ok(grads)
    }
    fn batch(&self, xs: &[Tensor], batched: &[bool], _size: usize) -> Result<Tensor> {
        let program = self.0.program.clone();
        let b = batched.to_vec();
        let j = self.0.derived(Rule::Batch(b.clone()), move || {
            Box::new(move |args: &[Tree]| {
                let mut o = Opts::new("vmap");
                o.in_dims = Some(Dims::Tuple(
                    b.iter().map(|&b| Dims::Dim(b.then_some(0))).collect(),
                ));
                let g = |a: Vec<Tree>| -> Result<Tree> {
                    Ok(Tree::Leaf(Callable::replay_packed(
                        &program,
                        &tensors(&a)?,
                    )?))
                };
                vmap::run(&g, args.to_vec(), &o)
            })
        });
        apply(&j, leaves(xs))?.into_tensor()
    }
}

impl<F> Jit<F> {
    /// How many times the derivative and batching rules of the compiled function have been
    /// traced: under `grad`, `jvp` or `vmap` outside the `jit`, a compiled signature is one
    /// primitive whose rules are compiled functions too, each traced once per signature and
    /// then replayed (`NOTE: [jit-call]`). With [`traces`](Jit::traces), this shows whether a
    /// call was slow because something was traced.
    ///
    /// ```
    /// use functorch::{Tensor, grad, jit};
    /// let f = jit(|x: &Tensor| x.sin()?.sum());
    /// let df = grad(f.clone());
    /// let x = Tensor::from_slice(&[0.5, 1.0]);
    /// let _: Tensor = df.call(&x)?; // traces f
    /// let g: Tensor = df.call(&x)?; // traces f's vjp
    /// let h: Tensor = df.call(&x)?; // replays both
    /// assert_eq!((f.traces(), f.rule_traces()), (1, 1));
    /// assert_eq!(g.to_vec::<f64>()?, x.cos()?.to_vec::<f64>()?);
    /// assert_eq!(h.to_vec::<f64>()?, g.to_vec::<f64>()?);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn rule_traces(&self) -> usize {
        self.cached_callables()
            .iter()
            .map(|c| c.rule_traces())
            .sum()
    }
}

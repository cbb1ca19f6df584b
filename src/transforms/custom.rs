//! Users' own derivative rules: [`custom_jvp`], [`custom_vjp`], [`checkpoint`] and
//! implicit differentiation of solvers ([`implicit_root`]) — JAX's `custom_jvp`,
//! `custom_vjp`, `checkpoint` and jaxopt's `custom_root`, PyTorch's `torch.autograd.Function`.
//!
//! NOTE: [custom-rules]
//! Each wrapper binds one primitive, `prims::custom::CustomCall`, with the function's inputs
//! (the leaves of its arguments) as operands; the primitive holds the user's closures, adapted
//! here to flat tensor lists. So every interpreter meets the call as a single primitive, at any
//! nesting depth, and applies the user's rule:
//!
//! - **custom_jvp.** jvp: the user's rule. Reverse mode: the rule is linear in the tangent, so
//!   its transpose is the vjp of `t ↦ rule(x, t)` at `t = 0`, computed by running reverse mode
//!   over the rule (JAX linearizes and transposes the rule the same way). vmap: the batched call
//!   is a `custom_jvp` of `vmap(f)` with rule `vmap(rule)`, bound one level down. Higher orders
//!   differentiate the rule, which is written with public ops.
//! - **custom_vjp.** The reverse-mode level does not bind the call further down: it runs the
//!   user's forward on its operands (traced by the levels below, so the residuals are too) and
//!   records one tape node whose vjp is the user's backward on the residuals
//!   (`Primitive::forward_for_reverse`). The backward is thus differentiable again by the
//!   levels below (grad of grad, `hessian` = `jacfwd(jacrev(f))`) when written with
//!   differentiable ops, and batchable (vmap of grad runs it on batched tracers; grad of vmap
//!   binds a `custom_vjp` of the vmapped forward and backward, with the cotangents of unbatched
//!   inputs summed over the batch). As in JAX, the levels below differentiate the *forward*
//!   function's residuals as ordinary code.
//!   **Forward mode of a custom_vjp function is an error** (`jvp`, `jacfwd`, `linearize` and
//!   `jacrev(jacfwd(f))` directly over it), as in JAX: a backward rule gives vector–Jacobian
//!   products only, and silently differentiating the forward instead would bring back the very
//!   derivative the rule exists to replace (NaN, unstable, or through a solver's iterations).
//!   Give the function a `custom_jvp` rule instead: its reverse mode is derived from it.
//! - **checkpoint.** Reverse mode records one tape node for the whole call (the function runs
//!   one level down, untracked, and its intermediates are freed); its vjp recomputes the
//!   function under a fresh reverse-mode level and pulls back through that. Forward mode runs
//!   the function again under the jvp level (so a checkpointed function costs two forward
//!   passes under `jvp`/`jacfwd`; reverse mode costs one more forward pass, as in JAX).
//! - **implicit_root.** A `custom_jvp` whose function is the user's solver and whose rule is
//!   the implicit function theorem. The solver always runs on concrete values (it may branch on
//!   them, iterate to convergence, call `item()`), is never differentiated, and under `vmap`
//!   runs once per batch element (a loop: solvers are data-dependent); the rule is batched as
//!   usual. With `.matrix_free()` the rule's linear solve is itself a primitive (`LinSolve`,
//!   JAX's `custom_linear_solve`): GMRES on concrete values with a jvp (or, transposed, a vjp)
//!   of `F` as the operator, whose jvp is another solve and whose vjp is the transposed solve,
//!   so no transform differentiates through the iterations; under `vmap` it runs once per
//!   batch element (`Looped`).
//!
//! `jit`: a staged graph records the call as one opaque node and replays it by calling the
//! closures again, so solvers and GMRES run on concrete values at every replay, and `jit`
//! composes outside or inside every transform of these calls. Random draws inside the function
//! are the call's own: tracing leaves them out of the graph (they skip the stage level,
//! `core::SkipForDraws`), and each replay draws afresh from the calling thread's generator (a
//! program holding a custom call runs on the calling thread), so they follow `manual_seed` as
//! eager draws do.
//!
//! Random draws inside the function under `vmap`: the batched call runs the function under a
//! vmap of its own with the `randomness` of the vmap level that batches the call, and draws
//! skip that level while it does (`core::SkipForDraws`), so they give what they give outside
//! the call (the same numbers for a seed): one per element under `Different`, one shared
//! under `Same`, an error under `Error`. Two cases differ from outside: a call none of whose
//! operands the vmap batches (a constant argument, or a vmap chunk of one element, whose
//! inputs `chunk_size` passes unbatched) runs unbatched, so a draw there under `Different`
//! is refused as a captured tracer; and `checkpoint` replays the draws of this thread's
//! generator when it recomputes the function for a derivative (PyTorch's `preserve_rng_state`),
//! so a checkpointed dropout's gradient uses the forward pass's mask, but draws from an
//! explicit `Generator` inside `checkpoint` are drawn anew: keep those outside it.
//!
//! Several outputs: the primitive has one output, so a function returning a tree of tensors has
//! its leaves flattened and concatenated into one float tensor (one leaf is used as it is), and
//! split again after the call. The outputs must therefore share one float dtype.
//!
//! Checks, each an [`Error::Transform`] naming the call (`custom_jvp(log1pexp)`, with the name
//! given by `.name(...)`): a rule or backward returning a tree whose structure, shapes or dtype
//! differ from what is expected (the output's, or one cotangent per input shaped like it), and
//! a function or rule that returns values depending on a tracer it *captured* from an enclosing
//! transform instead of taking it as an argument (its levels would be confused with the
//! operands'): every level found in a result must be among the levels of the operands.
//!
//! The closures must be `Send + Sync + 'static` (the primitive lives on reverse-mode tapes,
//! which may outlive the call): capture tensors by value with `move`.

use super::jvp::jvp_impl;
use super::options::Opts;
use super::vjp::vjp_impl;
use super::{Dims, Function, convert, vmap};
use crate::array::{DType, Shape, numel};
use crate::core::{Level, LevelKind, Randomness, SkipForDraws, Tensor, TracerKind, bind};
use crate::error::{Error, Result};
use crate::ops::{ThreadRng, replace_thread_rng, thread_rng};
use crate::prims::Grads;
use crate::prims::custom::{CustomCall, CustomRules};
use crate::tree::{Args, Pytree, Tree};
use std::sync::{Arc, OnceLock};

type FlatFn = Arc<dyn Fn(&[Tensor]) -> Result<Tensor> + Send + Sync>;
type FlatRule = Arc<dyn Fn(&[Tensor], &[Tensor], &Tensor) -> Result<Tensor> + Send + Sync>;
type FlatFwd = Arc<dyn Fn(&[Tensor]) -> Result<(Tensor, Vec<Tensor>)> + Send + Sync>;
type FlatBwd = Arc<dyn Fn(&[Tensor], &Tensor) -> Result<Vec<Tensor>> + Send + Sync>;

// ---------------------------------------------------------------------------------------------
// shared machinery

/// Every level whose tracers `t` holds, at any depth (a level may be visited more than once).
pub(super) fn each_level(t: &Tensor, visit: &mut dyn FnMut(&Level, &'static str)) {
    if let Some(tr) = t.tracer() {
        visit(&tr.level, tr.kind_name());
        match &tr.kind {
            TracerKind::Batch { value }
            | TracerKind::Grad { value, .. }
            | TracerKind::Staged { value, .. } => each_level(value, visit),
            TracerKind::Dual { primal, tangent } => {
                each_level(primal, visit);
                if let Some(t) = tangent {
                    each_level(t, visit);
                }
            }
        }
    }
}

/// The ids and kinds of every level whose tracers `t` holds, at any depth.
fn levels_of(t: &Tensor, out: &mut Vec<(u64, &'static str)>) {
    each_level(t, &mut |level, kind| {
        if !out.iter().any(|(id, _)| *id == level.id) {
            out.push((level.id, kind));
        }
    });
}

/// The vmap level that will batch a call, and its `randomness`, for the random draws in the
/// call's function: see [`batch_draws`].
#[derive(Clone, Copy)]
struct Draws {
    /// The level's id (0: none).
    level: u64,
    randomness: Randomness,
}

/// The vmap level that will batch a call on `xs`: the innermost batch level among the levels
/// they hold (the levels above it bind the same call one level down, so it is the first batch
/// level to meet it). The batched call runs the function under a vmap of its own with that
/// level's randomness, and random draws skip the level itself while it does (`SkipForDraws`),
/// so a draw inside the call is what it would be outside: one per batch element under
/// `Different`, one for all under `Same`, an error under `Error`.
fn batch_draws<'a>(xs: impl IntoIterator<Item = &'a Tensor>) -> Draws {
    let mut best = Draws {
        level: 0,
        randomness: Randomness::Error,
    };
    for x in xs {
        each_level(x, &mut |level, _| {
            if let LevelKind::Batch { randomness, .. } = &level.kind
                && level.id > best.level
            {
                best = Draws {
                    level: level.id,
                    randomness: *randomness,
                };
            }
        });
    }
    best
}

/// Refuse results that hold a level none of the operands hold: a captured tracer.
fn check_captured<'a>(
    call: &str,
    what: &str,
    inputs: impl IntoIterator<Item = &'a Tensor>,
    outputs: &[&Tensor],
) -> Result<()> {
    let mut got = Vec::new();
    for t in outputs {
        levels_of(t, &mut got);
    }
    if got.is_empty() {
        return Ok(());
    }
    let mut have = Vec::new();
    for t in inputs {
        levels_of(t, &mut have);
    }
    match got
        .iter()
        .find(|(id, _)| !have.iter().any(|(h, _)| h == id))
    {
        None => Ok(()),
        Some((_, kind)) => Err(Error::transform(
            call,
            format!(
                "{what} returned a value that depends on a tensor traced by an enclosing {kind} transform, which it captured instead of taking it as an argument (a captured tracer); pass that tensor to the function as an argument"
            ),
        )),
    }
}

/// Zeros of `shape` and `dtype` as a broadcast view of one element (for messages: no memory).
fn zeros_view(shape: &[usize], dtype: DType) -> Tensor {
    Tensor::zeros(&[], dtype)
        .and_then(|z| z.broadcast_to(shape))
        .expect("the shape of an existing tensor")
}

/// The structure of a tree, with its leaves replaced by one shared placeholder (the template
/// must not keep the user's tensors, or tracers, alive).
fn placeholder(tree: &Tree) -> Tree {
    let p = Tensor::zeros(&[], DType::F64).expect("a 0-d tensor fits in memory");
    tree.map(&mut |_| Ok(p.clone())).expect("infallible")
}

/// A tree's structure with the dtypes of its leaves, for messages.
fn describe(tree: &Tree) -> String {
    let mut dtypes: Vec<String> = tree
        .leaves()
        .iter()
        .map(|t| t.dtype().to_string())
        .collect();
    dtypes.dedup();
    format!("{} of dtype {}", tree.describe(), dtypes.join("/"))
}

/// The positional arguments' structure and leaf shapes, to rebuild typed arguments from the
/// primitive's flat operands and to check cotangents.
struct ArgSpec {
    template: Vec<Tree>,
    leaves: Vec<(Shape, DType)>,
}

impl ArgSpec {
    fn new(args: &[Tree]) -> ArgSpec {
        ArgSpec {
            template: args.iter().map(placeholder).collect(),
            leaves: args
                .iter()
                .flat_map(|a| a.leaves())
                .map(|t| (Shape::from_slice(t.shape()), t.dtype()))
                .collect(),
        }
    }
    fn rebuild(&self, xs: &[Tensor]) -> Vec<Tree> {
        let mut it = xs.iter().cloned();
        self.template
            .iter()
            .map(|t| t.with_leaves(&mut it))
            .collect()
    }
    fn describe(&self) -> String {
        Tree::Tuple(self.template.clone()).describe()
    }
}

/// How a function's output tree maps to the primitive's one output: its leaves flattened and
/// concatenated (one leaf as it is). Fixed by the first call of the function (at the logical
/// shapes, whichever level runs it) and checked against every rule's result.
struct Packer {
    call: String,
    spec: OnceLock<(Tree, Vec<Shape>, DType)>,
}

impl Packer {
    fn new(call: String) -> Packer {
        Packer {
            call,
            spec: OnceLock::new(),
        }
    }
    fn pack(&self, what: &str, out: &Tree) -> Result<Tensor> {
        let leaves = out.leaves();
        match self.spec.get() {
            Some((tmpl, shapes, dtype)) => {
                let fits = out.same_structure(tmpl)
                    && leaves
                        .iter()
                        .zip(shapes)
                        .all(|(l, s)| l.shape() == &s[..] && l.dtype() == *dtype);
                if !fits {
                    let want = tmpl.with_leaves(&mut shapes.iter().map(|s| zeros_view(s, *dtype)));
                    return Err(Error::transform(
                        &self.call,
                        format!(
                            "{what} returned {}, but the function's output is {}; it must have the same structure, shapes and dtype",
                            describe(out),
                            describe(&want)
                        ),
                    ));
                }
            }
            None => {
                let Some(first) = leaves.first() else {
                    return Err(Error::transform(
                        &self.call,
                        format!(
                            "{what} must return at least one tensor, got {}",
                            out.describe()
                        ),
                    ));
                };
                let d = first.dtype();
                if !d.is_float() || leaves.iter().any(|l| l.dtype() != d) {
                    return Err(Error::transform(
                        &self.call,
                        format!(
                            "{what} must return float tensors of one dtype, got {}",
                            describe(out)
                        ),
                    ));
                }
                let shapes = leaves
                    .iter()
                    .map(|l| Shape::from_slice(l.shape()))
                    .collect();
                let _ = self.spec.set((placeholder(out), shapes, d));
            }
        }
        pack_flat(&leaves)
    }
    fn unpack(&self, packed: Tensor) -> Result<Tree> {
        let (tmpl, shapes, _) = self.spec.get().ok_or_else(|| {
            Error::transform(&self.call, "the function was not run (internal error)")
        })?;
        Ok(tmpl.with_leaves(&mut split_flat(&packed, shapes)?.into_iter()))
    }
}

/// Several tensors as one operand or output of a primitive (whose output is one tensor): one
/// as it is, more flattened and concatenated (they must share a dtype).
pub(super) fn pack_flat<T: std::borrow::Borrow<Tensor>>(leaves: &[T]) -> Result<Tensor> {
    if let [one] = leaves {
        return Ok(one.borrow().clone());
    }
    let flat = leaves
        .iter()
        .map(|l| l.borrow().reshape(&[-1]))
        .collect::<Result<Vec<_>>>()?;
    Tensor::cat(&flat, 0)
}

/// The tensors of `shapes` that [`pack_flat`] packed into `packed`.
pub(super) fn split_flat(packed: &Tensor, shapes: &[Shape]) -> Result<Vec<Tensor>> {
    if shapes.len() == 1 {
        return Ok(vec![packed.clone()]);
    }
    let mut off = 0;
    shapes
        .iter()
        .map(|s| {
            let n = numel(s);
            let dims: Vec<i64> = s.iter().map(|&d| d as i64).collect();
            let part = packed.narrow(0, off, n)?.reshape(&dims);
            off += n;
            part
        })
        .collect()
}

/// Bind a custom call on the leaves of `args`.
fn bind_call(rules: Arc<dyn CustomRules>, args: &[Tree]) -> Result<Tensor> {
    let leaves: Vec<&Tensor> = args.iter().flat_map(|a| a.leaves()).collect();
    bind(&CustomCall(rules), &leaves)
}

fn bind_flat(rules: Arc<dyn CustomRules>, xs: &[Tensor]) -> Result<Tensor> {
    let refs: Vec<&Tensor> = xs.iter().collect();
    bind(&CustomCall(rules), &refs)
}

/// For calls whose functions draw no random numbers (a draw is an error, as in a vmap's
/// default).
const NO_DRAWS: Draws = Draws {
    level: 0,
    randomness: Randomness::Error,
};

/// `f` vmapped over dim 0 of the operands flagged in `batched` (the others passed whole);
/// every output carries the batch at dim 0.
fn vmapped(
    batched: &[bool],
    xs: &[Tensor],
    draws: Draws,
    f: &dyn Fn(&[Tensor]) -> Result<Vec<Tensor>>,
) -> Result<Vec<Tensor>> {
    let mut o = Opts::new("vmap");
    o.randomness = draws.randomness;
    let _skip = SkipForDraws::new(draws.level);
    o.in_dims = Some(Dims::Tuple(
        batched.iter().map(|&b| Dims::Dim(b.then_some(0))).collect(),
    ));
    let args = xs.iter().map(|x| Tree::Leaf(x.clone())).collect();
    let g = |a: Vec<Tree>| -> Result<Tree> {
        let v = a
            .into_iter()
            .map(Tree::into_tensor)
            .collect::<Result<Vec<_>>>()?;
        Ok(Tree::Tuple(f(&v)?.into_iter().map(Tree::Leaf).collect()))
    };
    vmap::run(&g, args, &o)?
        .into_tuple()?
        .into_iter()
        .map(Tree::into_tensor)
        .collect()
}

/// `f` run on each batch element in turn, the results stacked (for solvers, which branch on
/// values).
fn looped(
    call: &str,
    batched: &[bool],
    size: usize,
    xs: &[Tensor],
    f: &dyn Fn(&[Tensor]) -> Result<Tensor>,
) -> Result<Tensor> {
    if size == 0 {
        return Err(Error::transform(
            call,
            "the solver runs once per batch element under vmap, and cannot run over an empty batch",
        ));
    }
    let mut outs = Vec::with_capacity(size);
    for i in 0..size {
        let one = xs
            .iter()
            .zip(batched)
            .map(|(x, &b)| {
                if b {
                    x.select(0, i as i64)
                } else {
                    Ok(x.clone())
                }
            })
            .collect::<Result<Vec<_>>>()?;
        outs.push(f(&one)?);
    }
    Tensor::stack(&outs, 0)
}

fn flat_fn(f: &FlatFn) -> impl Fn(Vec<Tree>) -> Result<Tree> + '_ {
    move |a: Vec<Tree>| {
        let v = a
            .into_iter()
            .map(Tree::into_tensor)
            .collect::<Result<Vec<_>>>()?;
        Ok(Tree::Leaf(f(&v)?))
    }
}

fn leaves_of(xs: &[Tensor]) -> Vec<Tree> {
    xs.iter().map(|x| Tree::Leaf(x.clone())).collect()
}

/// The float operands for which a cotangent is wanted.
fn wanted(xs: &[Tensor], needs: &[bool]) -> Vec<usize> {
    (0..xs.len())
        .filter(|&i| needs[i] && xs[i].dtype().is_float())
        .collect()
}

/// Cotangents of the operands `diff` picked, out of a pullback's tuple, as `Grads`.
fn scatter_grads(n: usize, diff: &[usize], gs: Tree) -> Result<Grads> {
    let mut out: Grads = (0..n).map(|_| None).collect();
    for (&i, g) in diff.iter().zip(gs.into_tuple()?) {
        out[i] = Some(g.into_tensor()?);
    }
    Ok(out)
}

fn internal(call: &str, what: &str) -> Error {
    Error::transform(call, format!("{what} (internal error)"))
}

// ---------------------------------------------------------------------------------------------
// the rules

/// A function with a jvp rule (custom_jvp and implicit_root).
struct JvpRules {
    call: String,
    f: FlatFn,
    rule: FlatRule,
    /// Batch the function by a loop over the batch instead of vmap (solvers).
    loop_batch: bool,
    /// The vmap level that batches the call (see [`batch_draws`]).
    draws: Draws,
}

impl CustomRules for JvpRules {
    fn call(&self) -> &str {
        &self.call
    }
    fn eval(&self, xs: &[Tensor]) -> Result<Tensor> {
        (self.f)(xs)
    }
    fn jvp(&self, xs: &[Tensor], ts: &[Option<&Tensor>], out: &Tensor) -> Result<Option<Tensor>> {
        let ts: Vec<Tensor> = xs
            .iter()
            .zip(ts)
            .map(|(x, t)| t.cloned().map_or_else(|| x.zeros_like(), Ok))
            .collect::<Result<_>>()?;
        Ok(Some((self.rule)(xs, &ts, out)?))
    }
    fn vjp(&self, xs: &[Tensor], out: &Tensor, ct: &Tensor, needs: &[bool]) -> Result<Grads> {
        // the rule is linear in the tangents: its transpose at any tangent (zero) is the vjp
        let diff = wanted(xs, needs);
        if diff.is_empty() {
            return Ok((0..xs.len()).map(|_| None).collect());
        }
        let rule = &self.rule;
        let g = |a: Vec<Tree>| -> Result<Tree> {
            let ts = a
                .into_iter()
                .map(Tree::into_tensor)
                .collect::<Result<Vec<_>>>()?;
            Ok(Tree::Leaf(rule(xs, &ts, out)?))
        };
        let zeros = xs
            .iter()
            .map(|x| Ok(Tree::Leaf(x.zeros_like()?)))
            .collect::<Result<_>>()?;
        let (_, pb, _) = vjp_impl(&g, zeros, Some(&diff), &Opts::new("vjp"))?;
        scatter_grads(xs.len(), &diff, pb.apply(Tree::Leaf(ct.clone()))?)
    }
    fn batch(&self, xs: &[Tensor], batched: &[bool], size: usize) -> Result<Tensor> {
        let n = xs.len();
        let flags = batched.to_vec();
        let f = self.f.clone();
        let call = self.call.clone();
        let r = self.draws;
        let bf: FlatFn = if self.loop_batch {
            Arc::new(move |x| looped(&call, &flags, size, x, &*f))
        } else {
            Arc::new(move |x| Ok(vmapped(&flags, x, r, &|a| Ok(vec![f(a)?]))?.remove(0)))
        };
        let rule = self.rule.clone();
        let mut rflags = batched.to_vec();
        rflags.extend_from_slice(batched);
        rflags.push(true);
        let brule: FlatRule = Arc::new(move |x, t, y| {
            let mut all = x.to_vec();
            all.extend_from_slice(t);
            all.push(y.clone());
            let out = vmapped(&rflags, &all, r, &|a| {
                Ok(vec![rule(&a[..n], &a[n..2 * n], &a[2 * n])?])
            })?;
            Ok(out.into_iter().next().expect("one output"))
        });
        let rules = JvpRules {
            call: self.call.clone(),
            f: bf,
            rule: brule,
            loop_batch: self.loop_batch,
            draws: batch_draws(xs),
        };
        bind_flat(Arc::new(rules), xs)
    }
}

/// A function with a forward (output and residuals) and a backward rule.
struct VjpRules {
    call: String,
    fwd: FlatFwd,
    bwd: FlatBwd,
    /// The vmap level that batches the call (see [`batch_draws`]).
    draws: Draws,
}

impl CustomRules for VjpRules {
    fn call(&self) -> &str {
        &self.call
    }
    fn eval(&self, xs: &[Tensor]) -> Result<Tensor> {
        Ok((self.fwd)(xs)?.0)
    }
    fn jvp(&self, _: &[Tensor], _: &[Option<&Tensor>], _: &Tensor) -> Result<Option<Tensor>> {
        Err(Error::transform(
            &self.call,
            "forward-mode differentiation (jvp, jacfwd, linearize) of a custom_vjp function is not supported: its backward rule gives vector-Jacobian products only. Use reverse mode (grad, vjp, jacrev; hessian and jacfwd(jacrev(f)) work, forward over reverse), or give the function a forward rule with custom_jvp, from which reverse mode is derived",
        ))
    }
    fn vjp(&self, _: &[Tensor], _: &Tensor, _: &Tensor, _: &[bool]) -> Result<Grads> {
        Err(internal(
            &self.call,
            "reverse mode records the backward rule, not the call",
        ))
    }
    fn batch(&self, xs: &[Tensor], batched: &[bool], _size: usize) -> Result<Tensor> {
        let flags = batched.to_vec();
        let fwd = self.fwd.clone();
        let r = self.draws;
        let bfwd: FlatFwd = Arc::new(move |x| {
            let mut outs = vmapped(&flags, x, r, &|a| {
                let (o, mut r) = fwd(a)?;
                r.insert(0, o);
                Ok(r)
            })?;
            let o = outs.remove(0);
            Ok((o, outs))
        });
        let bwd = self.bwd.clone();
        let flags = batched.to_vec();
        let bbwd: FlatBwd = Arc::new(move |res, ct| {
            let m = res.len();
            let mut all = res.to_vec();
            all.push(ct.clone());
            let gs = vmapped(&vec![true; m + 1], &all, r, &|a| bwd(&a[..m], &a[m]))?;
            // an unbatched operand's cotangent is the sum of its per-element cotangents
            gs.into_iter()
                .zip(&flags)
                .map(|(g, &b)| if b { Ok(g) } else { g.sum_dims(&[0], false) })
                .collect()
        });
        let rules = VjpRules {
            call: self.call.clone(),
            fwd: bfwd,
            bwd: bbwd,
            draws: batch_draws(xs),
        };
        bind_flat(Arc::new(rules), xs)
    }
    fn forward_for_reverse(&self, xs: &[Tensor]) -> Option<Result<(Tensor, Arc<dyn CustomRules>)>> {
        Some((self.fwd)(xs).map(|(out, res)| {
            let lin = VjpBackward {
                call: self.call.clone(),
                bwd: self.bwd.clone(),
                res,
            };
            (out, Arc::new(lin) as Arc<dyn CustomRules>)
        }))
    }
}

/// What reverse mode records for a custom_vjp call: the backward rule and its residuals.
struct VjpBackward {
    call: String,
    bwd: FlatBwd,
    res: Vec<Tensor>,
}

impl CustomRules for VjpBackward {
    fn call(&self) -> &str {
        &self.call
    }
    fn eval(&self, _: &[Tensor]) -> Result<Tensor> {
        Err(internal(
            &self.call,
            "a recorded backward is never evaluated",
        ))
    }
    fn jvp(&self, _: &[Tensor], _: &[Option<&Tensor>], _: &Tensor) -> Result<Option<Tensor>> {
        Err(internal(
            &self.call,
            "a recorded backward is never evaluated",
        ))
    }
    fn vjp(&self, xs: &[Tensor], _: &Tensor, ct: &Tensor, needs: &[bool]) -> Result<Grads> {
        let gs = (self.bwd)(&self.res, ct)?;
        if gs.len() != xs.len() || gs.iter().zip(xs).any(|(g, x)| g.shape() != x.shape()) {
            return Err(internal(
                &self.call,
                "the backward rule's cotangents do not fit the operands",
            ));
        }
        Ok(gs
            .into_iter()
            .zip(needs)
            .map(|(g, &n)| n.then_some(g))
            .collect())
    }
    fn batch(&self, _: &[Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        Err(internal(
            &self.call,
            "a recorded backward is never evaluated",
        ))
    }
}

/// A function whose reverse mode recomputes it instead of keeping its intermediates.
struct CheckpointRules {
    call: String,
    f: FlatFn,
    /// This thread's generator when the call began: recomputing `f` for a derivative replays
    /// its draws from here (PyTorch's `preserve_rng_state`), then puts the generator back.
    rng: Arc<ThreadRng>,
    /// The vmap level that batches the call (see [`batch_draws`]).
    draws: Draws,
}

impl CheckpointRules {
    /// Run a recomputation of `f` with this thread's generator where it was when the call
    /// began, so it draws what the forward pass drew; the generator is put back afterwards.
    fn replaying<R>(&self, run: impl FnOnce() -> R) -> R {
        /// Puts the generator back, panics included.
        struct Back(Option<ThreadRng>);
        impl Drop for Back {
            fn drop(&mut self) {
                if let Some(s) = self.0.take() {
                    replace_thread_rng(&s);
                }
            }
        }
        let _back = Back(Some(replace_thread_rng(&self.rng)));
        run()
    }
}

impl CustomRules for CheckpointRules {
    fn call(&self) -> &str {
        &self.call
    }
    fn eval(&self, xs: &[Tensor]) -> Result<Tensor> {
        (self.f)(xs)
    }
    fn jvp(&self, xs: &[Tensor], ts: &[Option<&Tensor>], _: &Tensor) -> Result<Option<Tensor>> {
        let ts: Vec<Tree> = xs
            .iter()
            .zip(ts)
            .map(|(x, t)| Ok(Tree::Leaf(t.cloned().map_or_else(|| x.zeros_like(), Ok)?)))
            .collect::<Result<_>>()?;
        let (_, t, _) =
            self.replaying(|| jvp_impl(&flat_fn(&self.f), leaves_of(xs), ts, &Opts::new("jvp")))?;
        Ok(Some(t.into_tensor()?))
    }
    fn vjp(&self, xs: &[Tensor], _: &Tensor, ct: &Tensor, needs: &[bool]) -> Result<Grads> {
        let diff = wanted(xs, needs);
        if diff.is_empty() {
            return Ok((0..xs.len()).map(|_| None).collect());
        }
        let (_, pb, _) = self.replaying(|| {
            vjp_impl(
                &flat_fn(&self.f),
                leaves_of(xs),
                Some(&diff),
                &Opts::new("vjp"),
            )
        })?;
        scatter_grads(xs.len(), &diff, pb.apply(Tree::Leaf(ct.clone()))?)
    }
    fn batch(&self, xs: &[Tensor], batched: &[bool], _size: usize) -> Result<Tensor> {
        let flags = batched.to_vec();
        let f = self.f.clone();
        let r = self.draws;
        let rules = CheckpointRules {
            call: self.call.clone(),
            f: Arc::new(move |x| Ok(vmapped(&flags, x, r, &|a| Ok(vec![f(a)?]))?.remove(0))),
            draws: batch_draws(xs),
            rng: self.rng.clone(),
        };
        bind_flat(Arc::new(rules), xs)
    }
}

// ---------------------------------------------------------------------------------------------
// adapters from the user's typed closures to flat tensor lists

/// `f` on flat operands: rebuild the typed arguments, call, check for captured tracers, pack.
fn adapt_fn<A, O, F>(f: Arc<F>, spec: Arc<ArgSpec>, packer: Arc<Packer>) -> FlatFn
where
    A: Args + 'static,
    O: Pytree + 'static,
    F: Fn(&A) -> Result<O> + Send + Sync + 'static,
{
    Arc::new(move |xs| {
        let a = A::from_args(spec.rebuild(xs))?;
        let out = f(&a)?.to_tree();
        check_captured(&packer.call, "the function", xs, &out.leaves())?;
        packer.pack("the function", &out)
    })
}

/// The positional arguments' tangents (or cotangents) from flat tensors, as typed arguments.
fn typed<A: Args>(spec: &ArgSpec, xs: &[Tensor]) -> Result<A> {
    A::from_args(spec.rebuild(xs))
}

/// Run a custom call on `args` and rebuild the output tree.
fn run_call(rules: Arc<dyn CustomRules>, args: &[Tree], packer: &Packer) -> Result<Tree> {
    let out = bind_call(rules, args)?;
    packer.unpack(out)
}

/// `call`, a typed runner, for the builders here.
macro_rules! custom_callable {
    ($name:ident<$($p:ident),+>) => {
        impl<$($p),+> $name<$($p),+> {
            /// Call the function on `args` (a tuple for several positional arguments) and
            /// convert the result to `R`.
            pub fn call<A: Args, R: Pytree>(&self, args: &A) -> Result<R>
            where
                Self: Function<A>,
            {
                let t = <Self as Function<A>>::apply(self, args.to_args())?;
                convert(t, || self.call_name())
            }
            /// Name the function in error messages (default `f`).
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.name = Arc::from(name.into());
                self
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// custom_jvp

/// A function with its own forward-mode (jvp) rule, used by every transform: see
/// [`custom_jvp`].
pub struct CustomJvp<F, J> {
    f: Arc<F>,
    rule: Arc<J>,
    name: Arc<str>,
}

impl<F, J> Clone for CustomJvp<F, J> {
    fn clone(&self) -> Self {
        CustomJvp {
            f: self.f.clone(),
            rule: self.rule.clone(),
            name: self.name.clone(),
        }
    }
}

/// `f` with the jvp rule `rule(primals, tangents, output) -> output tangent`, as JAX's
/// `jax.custom_jvp` (PyTorch: `torch.autograd.Function` with `jvp`).
///
/// Every transform uses the rule: `jvp` and `jacfwd` call it, `grad`, `vjp` and `jacrev`
/// transpose it (it must be linear in the tangents), `vmap` batches it, and higher orders
/// (`hessian`, `grad(grad)`) differentiate it, so write it with the crate's ops. The rule gets
/// the output `f(primals)` too (to reuse it) and returns a tangent shaped like the output.
/// Closures must be `Send + Sync + 'static` (capture with `move`); see the module notes in
/// `transforms::custom` for the design.
///
/// ```
/// use functorch::{Tensor, custom_jvp, grad, hessian, vmap};
/// // log(1 + e^x), whose automatic derivative e^x / (1 + e^x) is inf/inf = NaN for large x
/// let log1pexp = custom_jvp(
///     |x: &Tensor| x.exp()?.log1p(),
///     |x: &Tensor, t: &Tensor, _y: &Tensor| x.sigmoid()?.mul(t),
/// )
/// .name("log1pexp");
/// let x = Tensor::from_slice(&[0.0, 1000.0]);
/// let g: Tensor = vmap(grad(|x: &Tensor| log1pexp.call::<_, Tensor>(x))).call(&x)?;
/// assert_eq!(g.to_vec::<f64>()?, vec![0.5, 1.0]);
/// // second derivative: the rule's own derivative, σ(x)(1 − σ(x))
/// let h: Tensor = hessian(|x: &Tensor| log1pexp.call::<_, Tensor>(x)?.sum())
///     .call(&Tensor::from_slice(&[0.0]))?;
/// assert_eq!(h.to_vec::<f64>()?, vec![0.25]);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn custom_jvp<F, J>(f: F, rule: J) -> CustomJvp<F, J> {
    CustomJvp {
        f: Arc::new(f),
        rule: Arc::new(rule),
        name: Arc::from("f"),
    }
}

impl<F, J> CustomJvp<F, J> {
    fn call_name(&self) -> String {
        format!("custom_jvp({})", self.name)
    }
}
custom_callable!(CustomJvp<F, J>);

impl<A, O, F, J> Function<A> for CustomJvp<F, J>
where
    A: Args + 'static,
    O: Pytree + 'static,
    F: Fn(&A) -> Result<O> + Send + Sync + 'static,
    J: Fn(&A, &A, &O) -> Result<O> + Send + Sync + 'static,
{
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        let spec = Arc::new(ArgSpec::new(&args));
        let packer = Arc::new(Packer::new(self.call_name()));
        let f = adapt_fn(self.f.clone(), spec.clone(), packer.clone());
        let (rule, sp, pk) = (self.rule.clone(), spec.clone(), packer.clone());
        let rule: FlatRule = Arc::new(move |xs, ts, y| {
            let a: A = typed(&sp, xs)?;
            let t: A = typed(&sp, ts)?;
            let o = O::from_tree(pk.unpack(y.clone())?)?;
            let out = rule(&a, &t, &o)?.to_tree();
            let inputs = xs.iter().chain(ts).chain(std::iter::once(y));
            check_captured(&pk.call, "the jvp rule", inputs, &out.leaves())?;
            pk.pack("the jvp rule", &out)
        });
        let rules = JvpRules {
            call: self.call_name(),
            f,
            rule,
            loop_batch: false,
            draws: batch_draws(args.iter().flat_map(|a| a.leaves())),
        };
        run_call(Arc::new(rules), &args, &packer)
    }
}

// ---------------------------------------------------------------------------------------------
// custom_vjp

/// A function with its own reverse-mode rule, used by every reverse-mode transform: see
/// [`custom_vjp`].
pub struct CustomVjp<F, B> {
    fwd: Arc<F>,
    bwd: Arc<B>,
    name: Arc<str>,
}

impl<F, B> Clone for CustomVjp<F, B> {
    fn clone(&self) -> Self {
        CustomVjp {
            fwd: self.fwd.clone(),
            bwd: self.bwd.clone(),
            name: self.name.clone(),
        }
    }
}

/// A function given by its forward `fwd(args) -> (output, residuals)` and its backward
/// `bwd(residuals, output cotangent) -> cotangents of args` (one per argument, shaped like it),
/// as JAX's `jax.custom_vjp` and PyTorch's `torch.autograd.Function` (`forward` +
/// `setup_context` + `backward`). Called plainly it returns `fwd`'s output.
///
/// `grad`, `vjp` and `jacrev` use the backward; `vmap` batches both; the backward is
/// differentiated again (`grad(grad)`, `hessian`) when written with the crate's ops.
/// Forward mode *directly* over the function (`jvp`, `jacfwd`, `linearize`) is an error, as in
/// JAX: a backward rule only gives vector–Jacobian products, and falling back to the
/// automatic derivative of `fwd` would silently bring back what the rule replaces; use
/// [`custom_jvp`] for a function that needs forward mode (`hessian`, forward over reverse,
/// works with either).
///
/// ```
/// use functorch::{Tensor, custom_vjp, grad, jacrev};
/// // clip the gradient's norm to 1 on the way back, leave the value alone
/// let clip_grad = custom_vjp(
///     |x: &Tensor| Ok((x.clone(), ())),
///     |_res: &(), g: &Tensor| {
///         let n = g.norm()?.clamp_min(1.0)?;
///         g.div(&n)
///     },
/// )
/// .name("clip_grad");
/// let f = |x: &Tensor| clip_grad.call::<_, Tensor>(&x.mul_scalar(10.0)?)?.sum();
/// let g: Tensor = grad(f).call(&Tensor::from_slice(&[1.0, 2.0]))?;
/// // d/dx sum(y) at y = 10x is 10 · clip([1, 1]) = 10 [1, 1] / √2
/// let want = 10.0 / 2f64.sqrt();
/// assert!(g.to_vec::<f64>()?.iter().all(|v| (v - want).abs() < 1e-12));
///
/// // residuals: keep what the backward needs from the forward
/// let exp = custom_vjp(
///     |x: &Tensor| { let y = x.exp()?; Ok((y.clone(), y)) },
///     |y: &Tensor, g: &Tensor| g.mul(y),
/// );
/// let j: Tensor = jacrev(|x: &Tensor| exp.call::<_, Tensor>(x)).call(&Tensor::from_slice(&[0.0, 1.0]))?;
/// let want = [1.0, 0.0, 0.0, 1f64.exp()];
/// assert!(j.to_vec::<f64>()?.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12));
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn custom_vjp<F, B>(fwd: F, bwd: B) -> CustomVjp<F, B> {
    CustomVjp {
        fwd: Arc::new(fwd),
        bwd: Arc::new(bwd),
        name: Arc::from("f"),
    }
}

impl<F, B> CustomVjp<F, B> {
    fn call_name(&self) -> String {
        format!("custom_vjp({})", self.name)
    }
}
custom_callable!(CustomVjp<F, B>);

impl<A, O, R, F, B> Function<A> for CustomVjp<F, B>
where
    A: Args + 'static,
    O: Pytree + 'static,
    R: Pytree + 'static,
    F: Fn(&A) -> Result<(O, R)> + Send + Sync + 'static,
    B: Fn(&R, &O) -> Result<A> + Send + Sync + 'static,
{
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        let spec = Arc::new(ArgSpec::new(&args));
        let packer = Arc::new(Packer::new(self.call_name()));
        let res_tmpl: Arc<OnceLock<Tree>> = Arc::new(OnceLock::new());
        let (f, sp, pk, rt) = (
            self.fwd.clone(),
            spec.clone(),
            packer.clone(),
            res_tmpl.clone(),
        );
        let fwd: FlatFwd = Arc::new(move |xs| {
            let a: A = typed(&sp, xs)?;
            let (o, r) = f(&a)?;
            let (o, r) = (o.to_tree(), r.to_tree());
            let mut outs = o.leaves();
            outs.extend(r.leaves());
            check_captured(&pk.call, "the forward function", xs, &outs)?;
            let _ = rt.get_or_init(|| placeholder(&r));
            let res = r.leaves().into_iter().cloned().collect();
            Ok((pk.pack("the forward function", &o)?, res))
        });
        let (b, sp, pk, rt) = (self.bwd.clone(), spec, packer.clone(), res_tmpl);
        let bwd: FlatBwd = Arc::new(move |res, ct| {
            let tmpl = rt
                .get()
                .ok_or_else(|| internal(&pk.call, "the forward function was not run"))?;
            let r = R::from_tree(tmpl.with_leaves(&mut res.iter().cloned()))?;
            let o = O::from_tree(pk.unpack(ct.clone())?)?;
            let g = Tree::Tuple(b(&r, &o)?.to_args());
            let leaves = g.leaves();
            let want = Tree::Tuple(sp.template.clone());
            let fits = g.same_structure(&want)
                && leaves
                    .iter()
                    .zip(&sp.leaves)
                    .all(|(l, (s, d))| l.shape() == &s[..] && l.dtype() == *d);
            if !fits {
                let shapes = |v: Vec<(Vec<usize>, DType)>| {
                    v.iter()
                        .map(|(s, d)| format!("{s:?} {d}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(Error::transform(
                    &pk.call,
                    format!(
                        "the backward rule must return one cotangent per input, shaped like it: expected {} tensor(s) [{}] with the structure {}, got {} [{}] with the structure {}",
                        sp.leaves.len(),
                        shapes(sp.leaves.iter().map(|(s, d)| (s.to_vec(), *d)).collect()),
                        sp.describe(),
                        leaves.len(),
                        shapes(
                            leaves
                                .iter()
                                .map(|l| (l.shape().to_vec(), l.dtype()))
                                .collect()
                        ),
                        g.describe()
                    ),
                ));
            }
            let inputs = res.iter().chain(std::iter::once(ct));
            check_captured(&pk.call, "the backward rule", inputs, &leaves)?;
            Ok(leaves.into_iter().cloned().collect())
        });
        let rules = VjpRules {
            call: self.call_name(),
            fwd,
            bwd,
            draws: batch_draws(args.iter().flat_map(|a| a.leaves())),
        };
        run_call(Arc::new(rules), &args, &packer)
    }
}

// ---------------------------------------------------------------------------------------------
// checkpoint

/// A function whose intermediates reverse mode does not keep: see [`checkpoint`].
pub struct Checkpoint<F> {
    f: Arc<F>,
    name: Arc<str>,
}

impl<F> Clone for Checkpoint<F> {
    fn clone(&self) -> Self {
        Checkpoint {
            f: self.f.clone(),
            name: self.name.clone(),
        }
    }
}

/// Rematerialization, as JAX's `jax.checkpoint` (`jax.remat`) and PyTorch's
/// `torch.utils.checkpoint`: under reverse mode the call is recorded as one step holding only
/// its inputs and output, and the backward pass runs `f` again to pull back through it. Trade
/// one more forward pass for the memory of `f`'s intermediates (see BENCHMARKS.md for a deep
/// MLP). Results are the same as without it; every transform composes with it.
///
/// ```
/// use functorch::{Tensor, checkpoint, grad};
/// let block = checkpoint(|x: &Tensor| x.sin()?.mul_scalar(2.0)?.tanh());
/// let f = |x: &Tensor| -> functorch::Result<Tensor> {
///     let mut h = x.clone();
///     for _ in 0..4 {
///         h = block.call(&h)?; // the tape keeps 4 steps, not 12
///     }
///     h.sum()
/// };
/// let plain = |x: &Tensor| -> functorch::Result<Tensor> {
///     let mut h = x.clone();
///     for _ in 0..4 {
///         h = h.sin()?.mul_scalar(2.0)?.tanh()?;
///     }
///     h.sum()
/// };
/// let x = Tensor::from_slice(&[0.1, 0.7]);
/// let (a, b): (Tensor, Tensor) = (grad(f).call(&x)?, grad(plain).call(&x)?);
/// assert_eq!(a.to_vec::<f64>()?, b.to_vec::<f64>()?);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn checkpoint<F>(f: F) -> Checkpoint<F> {
    Checkpoint {
        f: Arc::new(f),
        name: Arc::from("f"),
    }
}

impl<F> Checkpoint<F> {
    fn call_name(&self) -> String {
        format!("checkpoint({})", self.name)
    }
}
custom_callable!(Checkpoint<F>);

impl<A, O, F> Function<A> for Checkpoint<F>
where
    A: Args + 'static,
    O: Pytree + 'static,
    F: Fn(&A) -> Result<O> + Send + Sync + 'static,
{
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        let spec = Arc::new(ArgSpec::new(&args));
        let packer = Arc::new(Packer::new(self.call_name()));
        let rules = CheckpointRules {
            call: self.call_name(),
            f: adapt_fn(self.f.clone(), spec, packer.clone()),
            draws: batch_draws(args.iter().flat_map(|a| a.leaves())),
            rng: Arc::new(thread_rng()),
        };
        run_call(Arc::new(rules), &args, &packer)
    }
}

// ---------------------------------------------------------------------------------------------
// implicit differentiation

/// The solution of `F(x, θ) = 0`, differentiated by the implicit function theorem: see
/// [`implicit_root`].
pub struct ImplicitRoot<S, F> {
    solver: Arc<S>,
    optimality: Arc<F>,
    name: Arc<str>,
    /// `Some`: solve the linear systems by GMRES with these settings (`matrix_free`).
    krylov: Option<Krylov>,
}

impl<S, F> Clone for ImplicitRoot<S, F> {
    fn clone(&self) -> Self {
        ImplicitRoot {
            solver: self.solver.clone(),
            optimality: self.optimality.clone(),
            name: self.name.clone(),
            krylov: self.krylov,
        }
    }
}

/// Implicit differentiation, as jaxopt's `custom_root`: `solver(θ)` finds `x*` with
/// `optimality(x*, θ) = 0` by any method (Newton, bisection, an optimizer, a fixed-point
/// loop...), and the derivatives of `x*(θ)` come from the implicit function theorem instead of
/// from the solver's iterations:
///
/// `∂x*/∂θ · v = −(∂F/∂x)⁻¹ (∂F/∂θ · v)` at `(x*, θ)`.
///
/// The forward rule computes `∂F/∂θ · v` with `jvp`, the Jacobian `∂F/∂x` (dense, `n × n` for
/// `n` elements of `x`) with `jacfwd`, and solves; reverse mode transposes that (one solve
/// with `(∂F/∂x)ᵀ`). So `grad`, `jacrev`, `jacfwd`, `hessian` and `vmap` all work. `F` must
/// return a tensor shaped like `x`. Fixed points `x = T(x, θ)`: `F = T(x, θ) − x`; minimizers
/// of a smooth `g(x, θ)`: `F = ∇ₓ g` (write it with [`grad`](crate::grad)).
///
/// The solver always sees concrete values (it may iterate to a tolerance and branch on
/// `item()`), is never differentiated, and under `vmap` runs once per batch element. The
/// answer is as accurate as the solver's root, and needs `∂F/∂x` invertible there. For a large
/// `x`, [`matrix_free`](ImplicitRoot::matrix_free) solves with GMRES on products with `∂F/∂x`
/// instead of building it.
///
/// ```
/// use functorch::{Tensor, grad, implicit_root};
/// // x*(θ) = √θ, found by Newton's method on F(x, θ) = x² − θ
/// let sqrt = implicit_root(
///     |theta: &Tensor| {
///         let t = theta.item()?;
///         let mut x = t.max(1.0);
///         for _ in 0..50 {
///             x -= (x * x - t) / (2.0 * x);
///         }
///         Ok(Tensor::scalar(x))
///     },
///     |x: &Tensor, theta: &Tensor| x.square()?.sub(theta),
/// );
/// let g: Tensor = grad(|t: &Tensor| sqrt.call::<_, Tensor>(t)).call(&Tensor::scalar(4.0))?;
/// assert!((g.item()? - 0.25).abs() < 1e-12); // d√θ/dθ = 1 / (2√θ)
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn implicit_root<S, F>(solver: S, optimality: F) -> ImplicitRoot<S, F> {
    ImplicitRoot {
        solver: Arc::new(solver),
        optimality: Arc::new(optimality),
        name: Arc::from("f"),
        krylov: None,
    }
}

impl<S, F> ImplicitRoot<S, F> {
    fn call_name(&self) -> String {
        format!("implicit_root({})", self.name)
    }

    /// Solve the implicit function theorem's linear systems matrix-free: by restarted GMRES
    /// whose operator is `u ↦ ∂F/∂x · u` (a `jvp` of `F`) in forward mode and
    /// `w ↦ (∂F/∂x)ᵀ w` (a `vjp` of `F`) in reverse mode, instead of building the dense
    /// `n × n` Jacobian and factorizing it. Each derivative then costs some products with `F`'s
    /// Jacobian (at most `n` in exact arithmetic) and `O(n · restart)` memory, not `n²`:
    /// the choice for large `x` (a discretized field, a network's weights).
    ///
    /// The iteration stops once `‖b − (∂F/∂x) u‖ ≤ tol · ‖b‖` (relative residual; default
    /// `1e-10` for f64 roots, `1e-5` for f32; [`tol`](Self::tol)) and fails with an
    /// [`Error::Transform`] naming the call, the residual reached and the iteration count if
    /// that takes more than [`max_iter`](Self::max_iter) products (default 1000). GMRES
    /// restarts every 64 iterations (or every `n`, if smaller). Every transform works as with
    /// the dense solve (the solve is one primitive whose derivatives are further solves, as
    /// JAX's `custom_linear_solve`); under `vmap` each batch element is solved in turn.
    ///
    /// ```
    /// use functorch::{Tensor, grad, implicit_root};
    /// // x*(θ) = θ^(1/3) elementwise, by Newton on F(x, θ) = x³ − θ (θ > 0)
    /// let cbrt = implicit_root(
    ///     |theta: &Tensor| theta.pow_scalar(1.0 / 3.0),
    ///     |x: &Tensor, theta: &Tensor| x.pow_scalar(3.0)?.sub(theta),
    /// )
    /// .matrix_free()
    /// .tol(1e-12);
    /// let theta = Tensor::from_slice(&[1.0, 8.0, 27.0]);
    /// let g: Tensor = grad(|t: &Tensor| cbrt.call::<_, Tensor>(t)?.sum()).call(&theta)?;
    /// // d θ^(1/3) / dθ = 1 / (3 x²)
    /// let want = [1.0 / 3.0, 1.0 / 12.0, 1.0 / 27.0];
    /// assert!(g.to_vec::<f64>()?.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-10));
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn matrix_free(mut self) -> Self {
        self.krylov.get_or_insert_with(Krylov::default);
        self
    }

    /// The matrix-free solve's relative residual tolerance (see
    /// [`matrix_free`](Self::matrix_free), which this turns on). Must be positive and finite.
    pub fn tol(mut self, tol: f64) -> Self {
        self.krylov.get_or_insert_with(Krylov::default).tol = Some(tol);
        self
    }

    /// The matrix-free solve's limit on products with the Jacobian (see
    /// [`matrix_free`](Self::matrix_free), which this turns on). Must be positive.
    pub fn max_iter(mut self, max_iter: usize) -> Self {
        self.krylov.get_or_insert_with(Krylov::default).max_iter = max_iter;
        self
    }
}
custom_callable!(ImplicitRoot<S, F>);

impl<A, S, F> Function<A> for ImplicitRoot<S, F>
where
    A: Args + 'static,
    S: Fn(&A) -> Result<Tensor> + Send + Sync + 'static,
    F: Fn(&Tensor, &A) -> Result<Tensor> + Send + Sync + 'static,
{
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        let spec = Arc::new(ArgSpec::new(&args));
        let packer = Arc::new(Packer::new(self.call_name()));
        let f = adapt_fn(self.solver.clone(), spec.clone(), packer.clone());
        let (opt, sp, call) = (self.optimality.clone(), spec, self.call_name());
        let krylov = self.krylov;
        let matvec = implicit_matvec(self.optimality.clone(), sp.clone());
        let rule: FlatRule = Arc::new(move |xs, ts, x| {
            let theta = sp.rebuild(xs);
            // ∂F/∂θ · v
            let g = |a: Vec<Tree>| -> Result<Tree> {
                let th = A::from_args(a)?;
                Ok(Tree::Leaf(opt(x, &th)?))
            };
            let (fx, b, _) = jvp_impl(&g, theta.clone(), sp.rebuild(ts), &Opts::new("jvp"))?;
            let (fx, b) = (fx.into_tensor()?, b.into_tensor()?);
            if fx.shape() != x.shape() || fx.dtype() != x.dtype() {
                return Err(Error::transform(
                    &call,
                    format!(
                        "the optimality function F(x, θ) must return a tensor shaped like x ({:?} {}), got {:?} {}",
                        x.shape(),
                        x.dtype(),
                        fx.shape(),
                        fx.dtype()
                    ),
                ));
            }
            if let Some(krylov) = krylov {
                // (∂F/∂x) u = −b by GMRES, one primitive (see `LinSolve`)
                krylov.check(&call)?;
                let mut ops = vec![b.neg()?, x.clone()];
                ops.extend(xs.iter().cloned());
                let solve = LinSolve {
                    call: call.clone(),
                    matvec: matvec.clone(),
                    transpose: false,
                    krylov,
                };
                return bind_flat(Arc::new(solve), &ops);
            }
            // ∂F/∂x, as an n × n matrix
            let th = A::from_args(theta)?;
            let jac = super::jacfwd(|x: &Tensor| opt(x, &th)).call::<Tensor, Tensor>(x)?;
            let n = x.numel() as i64;
            let dims: Vec<i64> = x.shape().iter().map(|&d| d as i64).collect();
            let tx = jac
                .reshape(&[n, n])?
                .solve(&b.reshape(&[n])?.neg()?)?
                .reshape(&dims)?;
            check_captured(
                &call,
                "the optimality function",
                xs.iter().chain(ts).chain([x]),
                &[&tx],
            )?;
            Ok(tx)
        });
        let rules = JvpRules {
            call: self.call_name(),
            f,
            rule,
            loop_batch: true,
            draws: batch_draws(args.iter().flat_map(|a| a.leaves())),
        };
        run_call(Arc::new(rules), &args, &packer)
    }
}

// ---------------------------------------------------------------------------------------------
// matrix-free linear solves (implicit_root(..).matrix_free())

/// `M(p) u` for the operands `p = [x*, θ leaves…]` of a [`LinSolve`]: `∂F/∂x · u` (a jvp of
/// `F` in `x`) or, with `transpose`, `(∂F/∂x)ᵀ u` (a vjp), at `(x*, θ)`.
type FlatMatvec = Arc<dyn Fn(&[Tensor], &Tensor, bool) -> Result<Tensor> + Send + Sync>;

/// The matrix-free solve's stopping rule.
#[derive(Clone, Copy, Debug)]
struct Krylov {
    /// Relative residual; `None`: by the dtype (1e-10 for f64, 1e-5 for f32).
    tol: Option<f64>,
    /// Products with the operator, in all restarts.
    max_iter: usize,
}

impl Default for Krylov {
    fn default() -> Self {
        Krylov {
            tol: None,
            max_iter: 1000,
        }
    }
}

/// GMRES's restart length (the Krylov basis kept), or `n` if smaller.
const RESTART: usize = 64;

impl Krylov {
    fn check(&self, call: &str) -> Result<()> {
        if let Some(t) = self.tol
            && !(t.is_finite() && t > 0.0)
        {
            return Err(Error::transform(
                call,
                format!("matrix_free: tol must be positive and finite, got {t}"),
            ));
        }
        if self.max_iter == 0 {
            return Err(Error::transform(
                call,
                "matrix_free: max_iter must be a positive integer, got 0",
            ));
        }
        Ok(())
    }
    fn tol(&self, dtype: DType) -> f64 {
        self.tol
            .unwrap_or(if dtype == DType::F32 { 1e-5 } else { 1e-10 })
    }
}

/// The products with `∂F/∂x` and its transpose that the matrix-free solve needs, from the
/// user's optimality function.
fn implicit_matvec<A, F>(opt: Arc<F>, spec: Arc<ArgSpec>) -> FlatMatvec
where
    A: Args + 'static,
    F: Fn(&Tensor, &A) -> Result<Tensor> + Send + Sync + 'static,
{
    Arc::new(move |p, u, transpose| {
        let th = A::from_args(spec.rebuild(&p[1..]))?;
        let fx = |a: Vec<Tree>| -> Result<Tree> {
            let x = a.into_iter().next().expect("one argument").into_tensor()?;
            Ok(Tree::Leaf(opt(&x, &th)?))
        };
        let x = vec![Tree::Leaf(p[0].clone())];
        if transpose {
            let (_, pb, _) = vjp_impl(&fx, x, None, &Opts::new("vjp"))?;
            let mut g = pb.apply(Tree::Leaf(u.clone()))?.into_tuple()?;
            g.remove(0).into_tensor()
        } else {
            let (_, t, _) = jvp_impl(&fx, x, vec![Tree::Leaf(u.clone())], &Opts::new("jvp"))?;
            t.into_tensor()
        }
    })
}

/// `u = M(p)⁻¹ b` as one primitive with operands `[b, p…]`, `M` given only by its products
/// (JAX's `custom_linear_solve`). Its value is GMRES on concrete values; its derivatives are
/// further solves, so every transform composes with it:
///
/// - jvp: `du = M⁻¹ (db − ∂ₚ(M(p) u) · dp)`, the same solve on a new right-hand side;
/// - vjp: `w = M⁻ᵀ ū` (the transposed solve, whose operator is the vjp of `F`), `b̄ = w`,
///   `p̄ = −(∂ₚ(M(p) u))ᵀ w`;
/// - batch: once per batch element ([`Looped`]), the rules vmapped.
///
/// An iterative solve is not differentiated through its iterations: a Krylov method's result
/// is not even linear in `b` before it converges.
#[derive(Clone)]
struct LinSolve {
    call: String,
    matvec: FlatMatvec,
    transpose: bool,
    krylov: Krylov,
}

impl LinSolve {
    /// `M(p) u` as a function of the `p` operands, for the derivatives with respect to them.
    fn product_in_p<'a>(&'a self, u: &'a Tensor) -> impl Fn(Vec<Tree>) -> Result<Tree> + 'a {
        move |a: Vec<Tree>| {
            let p = a
                .into_iter()
                .map(Tree::into_tensor)
                .collect::<Result<Vec<_>>>()?;
            Ok(Tree::Leaf((self.matvec)(&p, u, self.transpose)?))
        }
    }
}

impl CustomRules for LinSolve {
    fn call(&self) -> &str {
        &self.call
    }
    fn eval(&self, xs: &[Tensor]) -> Result<Tensor> {
        let p = &xs[1..];
        let what = if self.transpose {
            "(∂F/∂x)ᵀ w = g"
        } else {
            "(∂F/∂x) u = b"
        };
        gmres(&self.call, what, &xs[0], self.krylov, &|v| {
            let mv = (self.matvec)(p, v, self.transpose)?;
            check_captured(&self.call, "the optimality function", p, &[&mv])?;
            Ok(mv)
        })
    }
    fn jvp(&self, xs: &[Tensor], ts: &[Option<&Tensor>], out: &Tensor) -> Result<Option<Tensor>> {
        let p = &xs[1..];
        let mut rhs = ts[0].cloned();
        if ts[1..].iter().any(Option::is_some) {
            let tp = p
                .iter()
                .zip(&ts[1..])
                .map(|(x, t)| Ok(Tree::Leaf(t.cloned().map_or_else(|| x.zeros_like(), Ok)?)))
                .collect::<Result<_>>()?;
            let g = self.product_in_p(out);
            let (_, dm, _) = jvp_impl(&g, leaves_of(p), tp, &Opts::new("jvp"))?;
            let dm = dm.into_tensor()?;
            rhs = Some(match rhs {
                Some(db) => db.sub(&dm)?,
                None => dm.neg()?,
            });
        }
        let Some(rhs) = rhs else { return Ok(None) };
        let mut ops = vec![rhs];
        ops.extend_from_slice(p);
        Ok(Some(bind_flat(Arc::new(self.clone()), &ops)?))
    }
    fn vjp(&self, xs: &[Tensor], out: &Tensor, ct: &Tensor, needs: &[bool]) -> Result<Grads> {
        let mut grads: Grads = (0..xs.len()).map(|_| None).collect();
        let diff = wanted(xs, needs);
        if diff.is_empty() {
            return Ok(grads);
        }
        let p = &xs[1..];
        let mut ops = vec![ct.clone()];
        ops.extend_from_slice(p);
        let transposed = LinSolve {
            transpose: !self.transpose,
            ..self.clone()
        };
        let w = bind_flat(Arc::new(transposed), &ops)?;
        let in_p: Vec<usize> = diff.iter().filter(|&&i| i > 0).map(|&i| i - 1).collect();
        if !in_p.is_empty() {
            let g = self.product_in_p(out);
            let (_, pb, _) = vjp_impl(&g, leaves_of(p), Some(&in_p), &Opts::new("vjp"))?;
            for (&i, gi) in in_p
                .iter()
                .zip(pb.apply(Tree::Leaf(w.clone()))?.into_tuple()?)
            {
                grads[i + 1] = Some(gi.into_tensor()?.neg()?);
            }
        }
        if diff.first() == Some(&0) {
            grads[0] = Some(w);
        }
        Ok(grads)
    }
    fn batch(&self, xs: &[Tensor], batched: &[bool], size: usize) -> Result<Tensor> {
        Looped::bind(Arc::new(self.clone()), xs, batched, size)
    }
}

/// A call batched by running it once per batch element (its value may depend on data, as an
/// iterative solve's does), with its rules vmapped. Operands are batched at dim 0 where
/// `flags` says so.
#[derive(Clone)]
struct Looped {
    inner: Arc<dyn CustomRules>,
    flags: Vec<bool>,
    size: usize,
}

impl Looped {
    /// Bind `inner` looped over a batch of `size` (the batch rule of the rules that loop).
    fn bind(
        inner: Arc<dyn CustomRules>,
        xs: &[Tensor],
        batched: &[bool],
        size: usize,
    ) -> Result<Tensor> {
        let looped = Looped {
            inner,
            flags: batched.to_vec(),
            size,
        };
        bind_flat(Arc::new(looped), xs)
    }
}

impl CustomRules for Looped {
    fn call(&self) -> &str {
        self.inner.call()
    }
    fn eval(&self, xs: &[Tensor]) -> Result<Tensor> {
        looped(self.inner.call(), &self.flags, self.size, xs, &|one| {
            self.inner.eval(one)
        })
    }
    fn jvp(&self, xs: &[Tensor], ts: &[Option<&Tensor>], out: &Tensor) -> Result<Option<Tensor>> {
        if ts.iter().all(Option::is_none) {
            return Ok(None);
        }
        let n = xs.len();
        let present: Vec<bool> = ts.iter().map(Option::is_some).collect();
        let mut all = xs.to_vec();
        for (x, t) in xs.iter().zip(ts) {
            all.push(t.cloned().map_or_else(|| x.zeros_like(), Ok)?);
        }
        all.push(out.clone());
        let mut flags = self.flags.clone();
        flags.extend_from_slice(&self.flags);
        flags.push(true);
        let inner = &self.inner;
        let r = vmapped(&flags, &all, NO_DRAWS, &|a| {
            let ts: Vec<Option<&Tensor>> = a[n..2 * n]
                .iter()
                .zip(&present)
                .map(|(t, &p)| p.then_some(t))
                .collect();
            let t = inner.jvp(&a[..n], &ts, &a[2 * n])?;
            Ok(vec![t.map_or_else(|| a[2 * n].zeros_like(), Ok)?])
        })?;
        Ok(r.into_iter().next())
    }
    fn vjp(&self, xs: &[Tensor], out: &Tensor, ct: &Tensor, needs: &[bool]) -> Result<Grads> {
        let diff = wanted(xs, needs);
        if diff.is_empty() {
            return Ok((0..xs.len()).map(|_| None).collect());
        }
        let n = xs.len();
        let mut all = xs.to_vec();
        all.push(out.clone());
        all.push(ct.clone());
        let mut flags = self.flags.clone();
        flags.extend([true, true]);
        let inner = &self.inner;
        let gs = vmapped(&flags, &all, NO_DRAWS, &|a| {
            let g = inner.vjp(&a[..n], &a[n], &a[n + 1], needs)?;
            diff.iter()
                .map(|&i| g[i].clone().map_or_else(|| a[i].zeros_like(), Ok))
                .collect()
        })?;
        let mut out: Grads = (0..n).map(|_| None).collect();
        for (&i, g) in diff.iter().zip(gs) {
            // an unbatched operand's cotangent is the sum of its per-element cotangents
            out[i] = Some(if self.flags[i] {
                g
            } else {
                g.sum_dims(&[0], false)?
            });
        }
        Ok(out)
    }
    fn batch(&self, xs: &[Tensor], batched: &[bool], size: usize) -> Result<Tensor> {
        Looped::bind(Arc::new(self.clone()), xs, batched, size)
    }
}

/// Restarted GMRES (modified Gram–Schmidt Arnoldi, Givens rotations) for `A u = b`, `A` given
/// by `matvec` on tensors shaped like `b`, on concrete values: stops at
/// `‖b − A u‖ ≤ tol · ‖b‖`, fails after `max_iter` products.
fn gmres(
    call: &str,
    system: &str,
    b: &Tensor,
    k: Krylov,
    matvec: &dyn Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let shape: Vec<i64> = b.shape().iter().map(|&d| d as i64).collect();
    let n = b.numel();
    let bf = b.reshape(&[-1])?;
    let mv = |v: &Tensor| -> Result<Tensor> { matvec(&v.reshape(&shape)?)?.reshape(&[-1]) };
    let bnorm = bf.norm()?.item()?;
    if bnorm == 0.0 {
        return b.zeros_like();
    }
    let tol = k.tol(b.dtype());
    let not_finite = || {
        Error::transform(
            call,
            format!(
                "matrix_free: the GMRES solve of {system} met a non-finite value (the right-hand side or a product with ∂F/∂x at the root is NaN or infinite)"
            ),
        )
    };
    if !bnorm.is_finite() {
        return Err(not_finite());
    }
    let m = RESTART.min(n).max(1);
    let mut x = bf.zeros_like()?;
    let mut r = bf.clone();
    let mut beta = bnorm;
    let mut iters = 0;
    loop {
        if !beta.is_finite() {
            return Err(not_finite());
        }
        if beta <= tol * bnorm {
            return x.reshape(&shape);
        }
        if iters >= k.max_iter {
            return Err(Error::transform(
                call,
                format!(
                    "matrix_free: GMRES did not converge on the {n}-unknown system {system}: relative residual {:.2e} > tol {tol:.1e} after {iters} iterations (max_iter = {}); raise max_iter, loosen tol, or check that ∂F/∂x is invertible and well conditioned at the root",
                    beta / bnorm,
                    k.max_iter
                ),
            ));
        }
        // one cycle of at most m Arnoldi steps from v₀ = r / β
        let mut v = vec![r.div_scalar(beta)?];
        let mut h = vec![vec![0.0f64; m]; m + 1];
        let (mut cs, mut sn) = (vec![0.0f64; m], vec![0.0f64; m]);
        let mut g = vec![0.0f64; m + 1];
        g[0] = beta;
        let mut j = 0;
        while j < m && iters < k.max_iter {
            let mut w = mv(&v[j])?;
            iters += 1;
            for (i, vi) in v.iter().enumerate() {
                h[i][j] = w.dot(vi)?.item()?;
                w = w.sub(&vi.mul_scalar(h[i][j])?)?;
            }
            let hn = w.norm()?.item()?;
            if !hn.is_finite() {
                return Err(not_finite());
            }
            h[j + 1][j] = hn;
            for i in 0..j {
                let t = cs[i] * h[i][j] + sn[i] * h[i + 1][j];
                h[i + 1][j] = -sn[i] * h[i][j] + cs[i] * h[i + 1][j];
                h[i][j] = t;
            }
            let d = h[j][j].hypot(h[j + 1][j]);
            if d == 0.0 {
                // A v_j = 0: singular on the Krylov space; solve with the columns so far
                break;
            }
            cs[j] = h[j][j] / d;
            sn[j] = h[j + 1][j] / d;
            h[j][j] = d;
            h[j + 1][j] = 0.0;
            g[j + 1] = -sn[j] * g[j];
            g[j] *= cs[j];
            j += 1;
            // the residual estimate, or an invariant subspace reached (the solution is in it)
            if g[j].abs() <= tol * bnorm || hn <= f64::EPSILON * d {
                break;
            }
            if j < m {
                v.push(w.div_scalar(hn)?);
            }
        }
        // y = H⁻¹ g on the triangle, u += V y
        let mut y = vec![0.0f64; j];
        for i in (0..j).rev() {
            let s: f64 = (i + 1..j).map(|l| h[i][l] * y[l]).sum();
            y[i] = (g[i] - s) / h[i][i];
        }
        for (vi, yi) in v.iter().zip(&y) {
            x = x.add(&vi.mul_scalar(*yi)?)?;
        }
        // the true residual (the estimate drifts in floating point)
        r = bf.sub(&mv(&x)?)?;
        beta = r.norm()?.item()?;
        if j == 0 && beta > tol * bnorm {
            // no progress possible from here: A r = 0
            iters = iters.max(k.max_iter);
        }
    }
}

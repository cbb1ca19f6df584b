//! Reverse mode: `vjp` (the output and a pullback), `grad` and `grad_and_value`.

use super::options::{Opts, option_setters};
use super::{Function, callable, convert, live_tree, live_trees, split_aux, unwrap_at};
use crate::array::{DType, Shape};
use crate::core::grad::{TapeNode, tracked};
use crate::core::{LevelGuard, LevelKind, Tape, Tensor, TracerKind};
use crate::error::{Error, Result};
use crate::tree::{Args, Pytree, Tree};
use smallvec::SmallVec;
use std::sync::Arc;

/// Run `f` recording a tape for the arguments listed in `diff` (all if `None`); return the
/// output, its pullback and the aux output.
pub(crate) fn vjp_impl(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    args: Vec<Tree>,
    diff: Option<&[usize]>,
    o: &Opts,
) -> Result<(Tree, Pullback, Option<Tree>)> {
    let mut args = live_trees(args, o.name)?;
    let diff: Vec<usize> = diff
        .map(|d| d.to_vec())
        .unwrap_or_else(|| (0..args.len()).collect());
    let guard = LevelGuard::push(LevelKind::Grad {
        tape: Tape::default(),
    });
    let level = guard.level.clone();
    let LevelKind::Grad { tape } = &level.kind else {
        unreachable!()
    };
    let mut in_nodes = Vec::new();
    let mut in_specs = Vec::new();
    let mut in_trees = Vec::new();
    for &i in &diff {
        let wrapped = args[i].map(&mut |t| {
            if !t.dtype().is_float() {
                return Err(Error::transform(
                    o.call(),
                    format!("can only differentiate with respect to float tensors, but argument {i} holds a {} tensor", t.dtype()),
                ));
            }
            let n = tape.push(TapeNode::Leaf);
            in_nodes.push(n);
            in_specs.push((Shape::from_slice(t.shape()), t.dtype()));
            Ok(tracked(&level, t.clone(), n))
        })?;
        in_trees.push(args[i].clone());
        args[i] = wrapped;
    }
    let out = live_tree(f(args)?, o.name)?;
    let (out, aux) = split_aux(out, o)?;
    let mut out_nodes = Vec::new();
    let value = out.map(&mut |t| {
        Ok(match t.tracer_at(&level) {
            Some(TracerKind::Grad { value, node }) => {
                out_nodes.push(Some(*node));
                value.clone()
            }
            _ => {
                out_nodes.push(None);
                t.clone()
            }
        })
    })?;
    let aux = aux.map(|a| unwrap_at(&level, &a));
    drop(guard);
    let pb = Pullback {
        nodes: tape.freeze(),
        out_template: value.clone(),
        out_nodes,
        in_template: Tree::Tuple(in_trees),
        in_nodes,
        in_specs,
        opts: o.clone(),
    };
    Ok((value, pb, aux))
}

/// The pullback of a function at a point: cotangents of the output ↦ cotangents of the inputs
/// (`uᵀJ`). It can be called any number of times, and it is itself differentiable and
/// batchable (it is a [`Function`]: `vmap` it, `jvp` it, `vjp` it).
#[derive(Clone)]
pub struct Pullback {
    nodes: Arc<Vec<TapeNode>>,
    out_template: Tree,
    out_nodes: Vec<Option<usize>>,
    in_template: Tree,
    in_nodes: Vec<usize>,
    in_specs: Vec<(Shape, DType)>,
    /// The call that made it, for error messages.
    opts: Opts,
}

impl Pullback {
    /// The cotangents of the differentiated arguments (a tuple, one per argument) given the
    /// output's cotangent (shaped like the output).
    pub fn apply(&self, ct: Tree) -> Result<Tree> {
        self.apply_for(ct, &|| format!("{} pullback", self.opts.call()))
    }
    /// [`apply`](Pullback::apply), with errors reported as `call()` (vhp reports its own call,
    /// not the pullback inside it).
    pub(crate) fn apply_for(&self, ct: Tree, call: &dyn Fn() -> String) -> Result<Tree> {
        if !ct.same_structure(&self.out_template) {
            return Err(Error::transform(
                call(),
                format!(
                    "expected cotangents with the structure of the output, {}, got {}",
                    self.out_template.describe(),
                    ct.describe()
                ),
            ));
        }
        let mut seeds = Vec::new();
        for ((c, o), n) in ct
            .leaves()
            .into_iter()
            .zip(self.out_template.leaves())
            .zip(&self.out_nodes)
        {
            if c.shape() != o.shape() || c.dtype() != o.dtype() {
                return Err(Error::transform(
                    call(),
                    format!(
                        "expected each cotangent to have the shape and dtype of its output, got {:?} {} for an output {:?} {}",
                        c.shape(),
                        c.dtype(),
                        o.shape(),
                        o.dtype()
                    ),
                ));
            }
            if let Some(n) = n {
                seeds.push((*n, c.clone()));
            }
        }
        let grads = backward(&self.nodes, seeds, &self.in_nodes)?;
        let leaves: Vec<Tensor> = grads
            .into_iter()
            .zip(&self.in_specs)
            .map(|(g, (s, d))| g.map_or_else(|| Tensor::zeros(s, *d), Ok))
            .collect::<Result<_>>()?;
        Ok(self.in_template.with_leaves(&mut leaves.into_iter()))
    }
    /// [`apply`](Pullback::apply) on an argument list holding the one cotangent.
    pub(crate) fn apply_args(&self, mut args: Vec<Tree>) -> Result<Tree> {
        if args.len() != 1 {
            return Err(Error::transform(
                format!("{} pullback", self.opts.call()),
                format!("takes 1 argument (the cotangent), got {}", args.len()),
            ));
        }
        self.apply(args.pop().unwrap())
    }
    /// Typed [`apply`](Pullback::apply): the result is a tuple with one entry per argument.
    pub fn call<C: Pytree, G: Pytree>(&self, cotangent: &C) -> Result<G> {
        convert(self.apply(cotangent.to_tree())?, || {
            format!("{} pullback", self.opts.call())
        })
    }
}

impl<A> Function<A> for Pullback {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        self.apply_args(args)
    }
}

/// Reverse mode: `vjp(f).call(&primals)` gives `(f(primals), pullback)`, as torch.func's `vjp`.
/// The pullback maps a cotangent shaped like the output to a tuple of cotangents, one per
/// primal.
#[derive(Clone)]
pub struct Vjp<F> {
    f: F,
    o: Opts,
}

/// The output of `f` and its [`Pullback`] (see [`Vjp`]).
///
/// ```
/// use functorch::{Tensor, vjp};
/// let f = |x: &Tensor| x.square();
/// let x = Tensor::from_slice(&[1.0, 2.0, 3.0]);
/// let (y, pb): (Tensor, _) = vjp(f).call(&x)?;
/// let (g,): (Tensor,) = pb.call(&Tensor::ones(&[3], functorch::DType::F64)?)?;
/// assert_eq!(g.to_vec::<f64>()?, vec![2.0, 4.0, 6.0]); // uᵀJ = 2x for u = 1
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn vjp<F>(f: F) -> Vjp<F> {
    Vjp {
        f,
        o: Opts::new("vjp"),
    }
}

option_setters!(Vjp: has_aux);

impl<F> Vjp<F> {
    /// `(output, pullback)`. With `has_aux(true)` this is an error (the aux would be lost):
    /// use [`call_aux`](Vjp::call_aux), which returns `(output, pullback, aux)` as torch.func's
    /// `vjp(f, *primals, has_aux=True)` does.
    pub fn call<A: Args, R: Pytree>(&self, primals: &A) -> Result<(R, Pullback)>
    where
        F: Function<A>,
    {
        if self.o.has_aux {
            return Err(Error::transform(
                self.o.call(),
                "has_aux=True, but call returns (output, pullback) and would drop the aux; use call_aux to get (output, pullback, aux)",
            ));
        }
        let (o, pb, _) = self.call_dyn(primals.to_args())?;
        Ok((convert(o, || self.o.call())?, pb))
    }
    /// `(output, pullback, aux)` for a function with `has_aux`.
    pub fn call_aux<A: Args, R: Pytree, X: Pytree>(&self, primals: &A) -> Result<(R, Pullback, X)>
    where
        F: Function<A>,
    {
        let (o, pb, aux) = self.call_dyn(primals.to_args())?;
        let aux =
            aux.ok_or_else(|| Error::transform(self.o.call(), "call_aux needs has_aux(true)"))?;
        Ok((
            convert(o, || self.o.call())?,
            pb,
            convert(aux, || self.o.call())?,
        ))
    }
    /// As [`call`](Vjp::call), on positional trees.
    pub fn call_dyn<A>(&self, primals: Vec<Tree>) -> Result<(Tree, Pullback, Option<Tree>)>
    where
        F: Function<A>,
    {
        vjp_impl(&|a| self.f.apply(a), primals, None, &self.o)
    }
}

/// `(gradient, value, aux)` of a scalar function.
pub(crate) fn grad_impl(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    args: Vec<Tree>,
    o: &Opts,
) -> Result<(Tree, Tensor, Option<Tree>)> {
    let argnums = o.argnums();
    let idx = argnums.resolve(args.len(), o)?;
    let (out, pb, aux) = vjp_impl(f, args, Some(&idx), o)?;
    let y = match out {
        Tree::Leaf(t) => t,
        other => {
            return Err(Error::transform(
                o.call(),
                format!(
                    "expected f(*args) to return a single tensor, got {}; use vjp or jacrev for several outputs",
                    other.describe()
                ),
            ));
        }
    };
    if y.ndim() != 0 {
        return Err(Error::transform(
            o.call(),
            format!(
                "expected f(*args) to return a scalar tensor, got a tensor of shape {:?}; maybe you wanted to use the vjp or jacrev APIs instead?",
                y.shape()
            ),
        ));
    }
    if !y.dtype().is_float() {
        return Err(Error::transform(
            o.call(),
            format!(
                "expected f(*args) to return a float tensor, got {}",
                y.dtype()
            ),
        ));
    }
    let g = pb.apply(Tree::Leaf(y.ones_like()?))?.into_tuple()?;
    Ok((argnums.select(g), y, aux))
}

/// The gradient of a scalar function with respect to the arguments `argnums` selects, as
/// torch.func's `grad`. With `has_aux`, the function returns `(output, aux)` and the result is
/// `(gradient, aux)`.
#[derive(Clone)]
pub struct Grad<F> {
    f: F,
    o: Opts,
}

/// The gradient of the scalar function `f` (see [`Grad`]).
///
/// ```
/// use functorch::{Tensor, grad};
/// let f = |x: &Tensor| x.sin()?.sum();
/// let x = Tensor::from_slice(&[0.0, 1.0, 2.0]);
/// let g: Tensor = grad(f).call(&x)?;
/// let want: Vec<f64> = [0.0f64, 1.0, 2.0].iter().map(|v| v.cos()).collect();
/// assert_eq!(g.to_vec::<f64>()?, want);
///
/// // several arguments: argnums picks which, a tuple gives a tuple
/// let h = |(a, b): &(Tensor, Tensor)| a.mul(b)?.sum();
/// let (ga, gb): (Tensor, Tensor) = grad(h).argnums((0, 1)).call(&(x.clone(), x.square()?))?;
/// assert_eq!(ga.to_vec::<f64>()?, vec![0.0, 1.0, 4.0]);
/// assert_eq!(gb.to_vec::<f64>()?, vec![0.0, 1.0, 2.0]);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn grad<F>(f: F) -> Grad<F> {
    Grad {
        f,
        o: Opts::new("grad"),
    }
}

option_setters!(Grad: argnums, has_aux);

impl<A, F: Function<A>> Function<A> for Grad<F> {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        let (g, _, aux) = grad_impl(&|a| self.f.apply(a), args, &self.o)?;
        Ok(match aux {
            Some(aux) => Tree::Tuple(vec![g, aux]),
            None => g,
        })
    }
}
callable!(Grad);

/// `(gradient, value)` of a scalar function, as torch.func's `grad_and_value`; with `has_aux`,
/// `(gradient, (value, aux))`.
#[derive(Clone)]
pub struct GradAndValue<F> {
    f: F,
    o: Opts,
}

/// The gradient and the value of the scalar function `f` (see [`GradAndValue`]).
///
/// ```
/// use functorch::{Tensor, grad_and_value};
/// let f = |x: &Tensor| x.square()?.sum();
/// let (g, v): (Tensor, Tensor) = grad_and_value(f).call(&Tensor::from_slice(&[3.0]))?;
/// assert_eq!((g.to_vec::<f64>()?, v.item()?), (vec![6.0], 9.0));
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn grad_and_value<F>(f: F) -> GradAndValue<F> {
    GradAndValue {
        f,
        o: Opts::new("grad_and_value"),
    }
}

option_setters!(GradAndValue: argnums, has_aux);

impl<A, F: Function<A>> Function<A> for GradAndValue<F> {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        let (g, y, aux) = grad_impl(&|a| self.f.apply(a), args, &self.o)?;
        Ok(match aux {
            Some(aux) => Tree::Tuple(vec![g, Tree::Tuple(vec![Tree::Leaf(y), aux])]),
            None => Tree::Tuple(vec![g, Tree::Leaf(y)]),
        })
    }
}
callable!(GradAndValue);

/// Walk a frozen tape backwards from `seeds` (node, cotangent) and return the cotangents that
/// reach each node in `wanted` (`None` where nothing reaches it).
fn backward(
    nodes: &[TapeNode],
    seeds: Vec<(usize, Tensor)>,
    wanted: &[usize],
) -> Result<Vec<Option<Tensor>>> {
    let mut cts: Vec<Option<Tensor>> = vec![None; nodes.len()];
    for (n, ct) in seeds {
        accumulate(&mut cts[n], ct)?;
    }
    let lowest = wanted.iter().copied().min().unwrap_or(0);
    for i in (lowest..nodes.len()).rev() {
        let TapeNode::Op {
            prim,
            inputs,
            out,
            parents,
        } = &nodes[i]
        else {
            continue;
        };
        let Some(ct) = cts[i].take() else { continue };
        if parents.iter().all(Option::is_none) {
            continue;
        }
        let needs: SmallVec<[bool; 3]> = parents.iter().map(Option::is_some).collect();
        let grads = prim.vjp(inputs, out, &ct, &needs)?;
        for (k, (p, g)) in parents.iter().zip(grads).enumerate() {
            if let (Some(p), Some(g)) = (p, g) {
                debug_assert_eq!(
                    g.shape(),
                    inputs[k].shape(),
                    "vjp rule of {} gave a cotangent of the wrong shape",
                    prim.name()
                );
                accumulate(&mut cts[*p], g)?;
            }
        }
    }
    Ok(wanted.iter().map(|&w| cts[w].take()).collect())
}

fn accumulate(slot: &mut Option<Tensor>, g: Tensor) -> Result<()> {
    *slot = Some(match slot.take() {
        None => g,
        Some(prev) => prev.add(&g)?,
    });
    Ok(())
}

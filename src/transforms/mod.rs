//! The transforms: [`vmap`], [`jvp`], [`vjp`], [`grad`], [`grad_and_value`], [`linearize`],
//! [`jacrev`], [`jacfwd`], [`jacobian`], [`hessian`], [`hvp`], [`vhp`]; users' own rules with [`custom_jvp`],
//! [`custom_vjp`], [`checkpoint`] and [`implicit_root`].
//!
//! Each is a small builder holding the function and its options (torch.func's keyword
//! arguments); `.call(&args)` runs it, converting the result into the type you ask for, and every
//! transform is itself a [`Function`], so transforms nest: `jacfwd(jacrev(f))`,
//! `vmap(grad(loss))`. The cores work on positional [`Tree`] lists (see [`crate::tree`]).

mod budget;
mod chunk;
mod custom;
mod hessian;
mod jacobian;
mod jit;
mod jit_call;
mod jvp;
mod linearize;
pub(crate) mod options;
mod sparse;
mod vjp;
mod vmap;

use options::Opts;
pub use options::{Argnums, Dims};

pub use budget::MemoryPlan;
pub use custom::{
    Checkpoint, CustomJvp, CustomVjp, ImplicitRoot, checkpoint, custom_jvp, custom_vjp,
    implicit_root,
};
pub use hessian::{Hessian, Hvp, Vhp, hessian, hvp, vhp};
pub use jacobian::{Jacfwd, Jacobian, JacobianMode, Jacrev, jacfwd, jacobian, jacrev};
pub use jit::{Jit, Trace, jit};
pub use jvp::{Jvp, jvp};
pub use linearize::{Linearize, Linearized, linearize};
pub use sparse::{PreparedSparse, Sparse, SparseMatrix, SparsityPattern};
pub use vjp::{Grad, GradAndValue, Pullback, Vjp, grad, grad_and_value, vjp};
pub use vmap::{Vmap, vmap};

use crate::core::{Level, TracerKind};
use crate::error::{Error, Result};
use crate::tree::{Args, Pytree, Tree};

/// A function transforms can call: a closure or `fn` of type `Fn(&A) -> Result<O>` (with
/// `A: Args`, `O: Pytree`), a transform of one, or [`dynamic`]'s wrapper of a function on
/// positional trees.
///
/// The type parameter `A` is the argument type of the user's function at the bottom of the
/// nest; it only tells the blanket implementation how to rebuild typed arguments.
pub trait Function<A> {
    /// Call on positional arguments given as trees.
    fn apply(&self, args: Vec<Tree>) -> Result<Tree>;
}

impl<A: Args, O: Pytree, F: Fn(&A) -> Result<O>> Function<A> for F {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        let a = A::from_args(args)?;
        Ok(self(&a)?.to_tree())
    }
}

/// A function on positional trees, for programs whose structure is only known at run time
/// (see [`dynamic`]).
#[derive(Clone)]
pub struct Dynamic<F>(F);

/// Wrap a function of positional [`Tree`]s so transforms can take it (it is a [`Function`] for
/// every argument type).
///
/// ```
/// use functorch::{Tensor, Tree, dynamic, grad};
/// let f = dynamic(|args: &[Tree]| -> functorch::Result<Tree> {
///     let x = args[0].clone().into_tensor()?;
///     Ok(Tree::Leaf(x.square()?.sum()?))
/// });
/// let g = grad(f).call_dyn(vec![Tree::Leaf(Tensor::from_slice(&[3.0]))])?;
/// assert_eq!(g.into_tensor()?.to_vec::<f64>()?, vec![6.0]);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn dynamic<F: Fn(&[Tree]) -> Result<Tree>>(f: F) -> Dynamic<F> {
    Dynamic(f)
}

impl<A, F: Fn(&[Tree]) -> Result<Tree>> Function<A> for Dynamic<F> {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        (self.0)(&args)
    }
}

/// Split an `(output, aux)` pair returned by a `has_aux` function.
pub(crate) fn split_aux(out: Tree, o: &Opts) -> Result<(Tree, Option<Tree>)> {
    if !o.has_aux {
        return Ok((out, None));
    }
    match out {
        Tree::Tuple(mut v) if v.len() == 2 => {
            let aux = v.pop().unwrap();
            Ok((v.pop().unwrap(), Some(aux)))
        }
        other => Err(Error::transform(
            o.call(),
            format!(
                "has_aux=True requires the function to return an (output, aux) pair, got {}",
                other.describe()
            ),
        )),
    }
}

/// `trees` with the wrappers of finished transforms removed from every leaf (see
/// `NOTE: [escaped]`): a transform's inputs and its function's outputs go through this, so an
/// escaped grad/jvp tracer is its value there too, and an escaped vmap tracer an error.
pub(crate) fn live_trees(trees: Vec<Tree>, op: &'static str) -> Result<Vec<Tree>> {
    trees.into_iter().map(|t| live_tree(t, op)).collect()
}

/// [`live_trees`] for one tree.
pub(crate) fn live_tree(tree: Tree, op: &'static str) -> Result<Tree> {
    if tree.leaves().iter().any(|t| t.is_dead()) {
        tree.map(&mut |t| t.passthrough(op))
    } else {
        Ok(tree)
    }
}

/// A tree with every tracer of `level` replaced by its inner value (for `aux` outputs, which
/// come back undifferentiated).
pub(crate) fn unwrap_at(level: &Level, tree: &Tree) -> Tree {
    tree.map(&mut |t| {
        Ok(match t.tracer_at(level) {
            Some(TracerKind::Batch { value }) => value.clone(),
            Some(TracerKind::Dual { primal, .. }) => primal.clone(),
            Some(TracerKind::Grad { value, .. }) => value.clone(),
            Some(TracerKind::Staged { value, .. }) => value.clone(),
            None => t.clone(),
        })
    })
    .expect("infallible")
}

/// Convert a transform's result into the type the caller asked for; `call` names the call in
/// the error (formatted only then).
pub(crate) fn convert<R: Pytree>(tree: Tree, call: impl FnOnce() -> String) -> Result<R> {
    R::from_tree(tree).map_err(|e| match e {
        Error::Structure(m) => Error::Structure(format!(
            "{}: the result does not convert to the requested type: {m}",
            call()
        )),
        e => e,
    })
}

/// `call` and `call_dyn` for a transform builder whose `Function` impl exists.
macro_rules! callable {
    ($name:ident) => {
        impl<F> $name<F> {
            /// Run the transform on `args` (a tuple for several positional arguments) and convert
            /// the result to `R` (a [`Tensor`](crate::Tensor), a tuple, your struct, or
            /// [`Tree`](crate::Tree) to inspect it).
            pub fn call<A: $crate::tree::Args, R: $crate::tree::Pytree>(
                &self,
                args: &A,
            ) -> $crate::Result<R>
            where
                F: $crate::transforms::Function<A>,
            {
                let t = <Self as $crate::transforms::Function<A>>::apply(self, args.to_args())?;
                $crate::transforms::convert(t, || self.o.call())
            }
            /// Run the transform on positional trees (for programs built at run time).
            pub fn call_dyn(
                &self,
                args: Vec<$crate::tree::Tree>,
            ) -> $crate::Result<$crate::tree::Tree>
            where
                F: $crate::transforms::Function<$crate::tree::Tree>,
            {
                <Self as $crate::transforms::Function<$crate::tree::Tree>>::apply(self, args)
            }
        }
    };
}
pub(crate) use callable;

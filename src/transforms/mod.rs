//! The transforms: [`vmap`], [`jvp`], [`vjp`], [`grad`], [`grad_and_value`], [`linearize`],
//! [`jacrev`], [`jacfwd`], [`hessian`], [`hvp`], [`vhp`].
//!
//! Each is a small builder holding the function and its options (torch.func's keyword
//! arguments); `.call(&args)` runs it, converting the result into the type you ask for, and every
//! transform is itself a [`Function`], so transforms nest: `jacfwd(jacrev(f))`,
//! `vmap(grad(loss))`. The cores work on positional [`Tree`] lists (see [`crate::tree`]).

mod basis;
mod jacobian;
mod jvp;
mod vjp;
mod vmap;

pub use jacobian::{Hessian, Hvp, Jacfwd, Jacrev, Vhp, hessian, hvp, jacfwd, jacrev, vhp};
pub use jvp::{Jvp, Linearize, Linearized, jvp, linearize};
pub use vjp::{Grad, GradAndValue, Pullback, Vjp, grad, grad_and_value, vjp};
pub use vmap::{Vmap, vmap};

use crate::error::{Error, Result};
use crate::interp::{Level, TracerKind};
use crate::tree::{Args, Pytree, Tree};
use std::fmt;

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

/// Which positional arguments to differentiate: one (`argnums(1)`, the result is that
/// argument's gradient) or several (`argnums((0, 2))`, the result is a tuple). Negative numbers
/// count from the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Argnums {
    /// One argument.
    One(i64),
    /// A tuple of arguments (a one-element tuple still gives a one-element tuple).
    Many(Vec<i64>),
}

impl Default for Argnums {
    fn default() -> Self {
        Argnums::One(0)
    }
}

impl fmt::Display for Argnums {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Argnums::One(i) => write!(f, "{i}"),
            Argnums::Many(v) if v.len() == 1 => write!(f, "({},)", v[0]),
            Argnums::Many(v) => write!(
                f,
                "({})",
                v.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

macro_rules! argnums_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Argnums {
            fn from(i: $t) -> Self {
                Argnums::One(i as i64)
            }
        }
    )*};
}
argnums_from_int!(i32, i64, usize);

impl From<Vec<i64>> for Argnums {
    fn from(v: Vec<i64>) -> Self {
        Argnums::Many(v)
    }
}
impl From<&[i64]> for Argnums {
    fn from(v: &[i64]) -> Self {
        Argnums::Many(v.to_vec())
    }
}
impl<const N: usize> From<[i64; N]> for Argnums {
    fn from(v: [i64; N]) -> Self {
        Argnums::Many(v.to_vec())
    }
}
macro_rules! argnums_from_tuple {
    ($( ($($i:tt),+) ;)*) => {$(
        impl From<($(argnums_from_tuple!(@t $i),)+)> for Argnums {
            fn from(t: ($(argnums_from_tuple!(@t $i),)+)) -> Self {
                Argnums::Many(vec![$(t.$i),+])
            }
        }
    )*};
    (@t $i:tt) => { i64 };
}
argnums_from_tuple! {
    (0); (0, 1); (0, 1, 2); (0, 1, 2, 3); (0, 1, 2, 3, 4); (0, 1, 2, 3, 4, 5); (0, 1, 2, 3, 4, 5, 6); (0, 1, 2, 3, 4, 5, 6, 7);
}

impl Argnums {
    /// The argument positions, checked against the number of arguments.
    pub(crate) fn resolve(&self, nargs: usize, call: &str) -> Result<Vec<usize>> {
        let list = match self {
            Argnums::One(i) => vec![*i],
            Argnums::Many(v) => {
                if v.is_empty() {
                    return Err(Error::transform(call, "argnums must be non-empty"));
                }
                v.clone()
            }
        };
        let mut out = Vec::with_capacity(list.len());
        for &i in &list {
            let j = if i < 0 { i + nargs as i64 } else { i };
            if j < 0 || j >= nargs as i64 {
                return Err(Error::transform(
                    call,
                    format!(
                        "got argnums={self}, but the function takes {nargs} positional argument(s); each argnum must be in [-{nargs}, {nargs})"
                    ),
                ));
            }
            if out.contains(&(j as usize)) {
                return Err(Error::transform(
                    call,
                    format!("argnums={self} contains the argument {j} more than once"),
                ));
            }
            out.push(j as usize);
        }
        Ok(out)
    }
    /// Pick the result for these argnums out of a tuple with one entry per selected argument.
    pub(crate) fn select(&self, per_arg: Vec<Tree>) -> Tree {
        match self {
            Argnums::One(_) => per_arg.into_iter().next().expect("one argument"),
            Argnums::Many(_) => Tree::Tuple(per_arg),
        }
    }
}

/// Where each input is mapped (`in_dims`) or each output gets its batch dim (`out_dims`): one
/// dim (or `None`: not mapped / not batched) for a whole subtree, or a tuple with one entry per
/// positional argument (per element of a tuple, list or struct), nested as deep as needed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dims {
    /// The same dim for every leaf below; `None` for unmapped.
    Dim(Option<i64>),
    /// One entry per child.
    Tuple(Vec<Dims>),
}

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dims::Dim(Some(d)) => write!(f, "{d}"),
            Dims::Dim(None) => write!(f, "None"),
            Dims::Tuple(v) if v.len() == 1 => write!(f, "({},)", v[0]),
            Dims::Tuple(v) => write!(
                f,
                "({})",
                v.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

macro_rules! dims_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Dims {
            fn from(i: $t) -> Self {
                Dims::Dim(Some(i as i64))
            }
        }
    )*};
}
dims_from_int!(i32, i64, usize);

impl From<Option<i64>> for Dims {
    fn from(d: Option<i64>) -> Self {
        Dims::Dim(d)
    }
}
impl From<Vec<Option<i64>>> for Dims {
    fn from(v: Vec<Option<i64>>) -> Self {
        Dims::Tuple(v.into_iter().map(Dims::Dim).collect())
    }
}
impl<const N: usize> From<[Option<i64>; N]> for Dims {
    fn from(v: [Option<i64>; N]) -> Self {
        Dims::Tuple(v.into_iter().map(Dims::Dim).collect())
    }
}
impl From<Vec<Dims>> for Dims {
    fn from(v: Vec<Dims>) -> Self {
        Dims::Tuple(v)
    }
}

impl Dims {
    /// Not mapped.
    pub fn none() -> Dims {
        Dims::Dim(None)
    }
    /// The dim of every leaf of `trees` (the positional arguments, or the children of one
    /// node), in leaf order.
    pub(crate) fn per_leaf(&self, trees: &[&Tree], out: &mut Vec<Option<i64>>) -> Result<()> {
        match self {
            Dims::Dim(d) => {
                for t in trees {
                    out.extend(std::iter::repeat_n(*d, t.num_leaves()));
                }
                Ok(())
            }
            Dims::Tuple(ds) => {
                if ds.len() != trees.len() {
                    return Err(Error::Structure(format!(
                        "{self} has {} entries, but it is matched against {} values ({})",
                        ds.len(),
                        trees.len(),
                        trees
                            .iter()
                            .map(|t| t.describe())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                for (d, t) in ds.iter().zip(trees) {
                    match d {
                        Dims::Dim(_) => d.per_leaf(&[*t], out)?,
                        Dims::Tuple(_) => {
                            let children: Vec<&Tree> = match t {
                                Tree::Tuple(v) | Tree::List(v) => v.iter().collect(),
                                Tree::Dict(v) => v.iter().map(|(_, c)| c).collect(),
                                Tree::Struct { fields, .. } => {
                                    fields.iter().map(|(_, c)| c).collect()
                                }
                                other => {
                                    return Err(Error::Structure(format!(
                                        "{d} cannot be matched against {}",
                                        other.describe()
                                    )));
                                }
                            };
                            d.per_leaf(&children, out)?;
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// The call as a user would write it, for error messages:
/// `name(f, argnums=…[, has_aux=True][, chunk_size=…])`.
pub(crate) fn call_string(
    name: &str,
    argnums: &Argnums,
    has_aux: bool,
    chunk: Option<usize>,
) -> String {
    let mut s = format!("{name}(f, argnums={argnums}");
    if has_aux {
        s += ", has_aux=True";
    }
    if let Some(c) = chunk {
        s += &format!(", chunk_size={c}");
    }
    s + ")"
}

/// Split an `(output, aux)` pair returned by a `has_aux` function.
pub(crate) fn split_aux(out: Tree, has_aux: bool, call: &str) -> Result<(Tree, Option<Tree>)> {
    if !has_aux {
        return Ok((out, None));
    }
    match out {
        Tree::Tuple(mut v) if v.len() == 2 => {
            let aux = v.pop().unwrap();
            Ok((v.pop().unwrap(), Some(aux)))
        }
        other => Err(Error::transform(
            call,
            format!(
                "has_aux=True requires the function to return an (output, aux) pair, got {}",
                other.describe()
            ),
        )),
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
            None => t.clone(),
        })
    })
    .expect("infallible")
}

/// Convert a transform's result into the type the caller asked for.
pub(crate) fn convert<R: Pytree>(tree: Tree, call: &str) -> Result<R> {
    R::from_tree(tree).map_err(|e| match e {
        Error::Structure(m) => Error::Structure(format!(
            "{call}: the result does not convert to the requested type: {m}"
        )),
        e => e,
    })
}

/// `call` and `call_dyn` for a transform builder whose `Function` impl exists; `$call` spells
/// the call (`|s: &Self| -> String`) for the result's conversion error.
macro_rules! callable {
    ($name:ident, $call:expr) => {
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
                let call: fn(&Self) -> String = $call;
                $crate::transforms::convert(t, &call(self))
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

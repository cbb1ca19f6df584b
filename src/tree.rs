//! Structured arguments and outputs.
//!
//! Transforms see a function's arguments as a list of positional [`Tree`]s and its output as one
//! `Tree` (JAX's pytrees): tensors at the leaves, tuples, lists, string-keyed maps and named
//! structs above them. Rust values move in and out through two traits:
//!
//! - [`Pytree`]: a value that is a tree ([`Tensor`], tuples, `Vec`, arrays, maps, `()`, and your
//!   own structs with `#[derive(Pytree)]`);
//! - [`Args`]: a value that is a *list of positional arguments*. A tuple is several arguments
//!   (`argnums` and `in_dims` index them); anything else is one argument.
//!
//! Structures are flattened once, at the API boundary; the transforms work on flat lists of
//! tensors and rebuild the structure at the end, so the gradient of a struct comes back as the
//! same struct type.

use crate::core::Tensor;
use crate::error::{Error, Result};
use std::collections::{BTreeMap, HashMap};

/// A tree of tensors: the dynamic form of every argument and output of a transform.
#[derive(Clone, Debug)]
pub enum Tree {
    /// A tensor.
    Leaf(Tensor),
    /// A tuple.
    Tuple(Vec<Tree>),
    /// A list (a `Vec` or a fixed array).
    List(Vec<Tree>),
    /// A map with string keys, sorted by key.
    Dict(Vec<(String, Tree)>),
    /// A named struct (from `#[derive(Pytree)]`), fields in declaration order.
    Struct {
        /// The type's name.
        name: &'static str,
        /// Field names and values.
        fields: Vec<(&'static str, Tree)>,
    },
    /// No value (`()` or `Option::None`): a node without leaves.
    None,
}

impl Tree {
    /// A one-line description of the structure, for error messages, e.g. `(tensor[3], [tensor[2, 2]])`.
    pub fn describe(&self) -> String {
        match self {
            Tree::Leaf(t) => format!("tensor{:?}", t.shape()),
            Tree::Tuple(v) => format!(
                "({})",
                v.iter()
                    .map(|t| t.describe())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Tree::List(v) => format!(
                "[{}]",
                v.iter()
                    .map(|t| t.describe())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Tree::Dict(v) => format!(
                "{{{}}}",
                v.iter()
                    .map(|(k, t)| format!("{k}: {}", t.describe()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Tree::Struct { name, fields } => {
                format!(
                    "{name} {{ {} }}",
                    fields
                        .iter()
                        .map(|(k, t)| format!("{k}: {}", t.describe()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            Tree::None => "None".into(),
        }
    }
    /// The leaves, in order.
    pub fn leaves(&self) -> Vec<&Tensor> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }
    fn collect<'a>(&'a self, out: &mut Vec<&'a Tensor>) {
        match self {
            Tree::Leaf(t) => out.push(t),
            Tree::Tuple(v) | Tree::List(v) => v.iter().for_each(|t| t.collect(out)),
            Tree::Dict(v) => v.iter().for_each(|(_, t)| t.collect(out)),
            Tree::Struct { fields, .. } => fields.iter().for_each(|(_, t)| t.collect(out)),
            Tree::None => {}
        }
    }
    /// The number of leaves.
    pub fn num_leaves(&self) -> usize {
        match self {
            Tree::Leaf(_) => 1,
            Tree::Tuple(v) | Tree::List(v) => v.iter().map(|t| t.num_leaves()).sum(),
            Tree::Dict(v) => v.iter().map(|(_, t)| t.num_leaves()).sum(),
            Tree::Struct { fields, .. } => fields.iter().map(|(_, t)| t.num_leaves()).sum(),
            Tree::None => 0,
        }
    }
    /// The same structure with each leaf replaced by `f(leaf)`.
    pub fn map(&self, f: &mut dyn FnMut(&Tensor) -> Result<Tensor>) -> Result<Tree> {
        Ok(match self {
            Tree::Leaf(t) => Tree::Leaf(f(t)?),
            Tree::Tuple(v) => Tree::Tuple(v.iter().map(|t| t.map(f)).collect::<Result<_>>()?),
            Tree::List(v) => Tree::List(v.iter().map(|t| t.map(f)).collect::<Result<_>>()?),
            Tree::Dict(v) => Tree::Dict(
                v.iter()
                    .map(|(k, t)| Ok((k.clone(), t.map(f)?)))
                    .collect::<Result<_>>()?,
            ),
            Tree::Struct { name, fields } => Tree::Struct {
                name,
                fields: fields
                    .iter()
                    .map(|(k, t)| Ok((*k, t.map(f)?)))
                    .collect::<Result<_>>()?,
            },
            Tree::None => Tree::None,
        })
    }
    /// The same structure with each leaf replaced by a subtree.
    pub(crate) fn graft(&self, f: &mut dyn FnMut(&Tensor) -> Tree) -> Tree {
        match self {
            Tree::Leaf(t) => f(t),
            Tree::Tuple(v) => Tree::Tuple(v.iter().map(|t| t.graft(f)).collect()),
            Tree::List(v) => Tree::List(v.iter().map(|t| t.graft(f)).collect()),
            Tree::Dict(v) => Tree::Dict(v.iter().map(|(k, t)| (k.clone(), t.graft(f))).collect()),
            Tree::Struct { name, fields } => Tree::Struct {
                name,
                fields: fields.iter().map(|(k, t)| (*k, t.graft(f))).collect(),
            },
            Tree::None => Tree::None,
        }
    }
    /// This structure with its leaves taken, in order, from `leaves`.
    pub fn with_leaves(&self, leaves: &mut impl Iterator<Item = Tensor>) -> Tree {
        self.map(&mut |_| Ok(leaves.next().expect("enough leaves")))
            .expect("infallible")
    }
    /// Whether two trees have the same structure (ignoring leaf values).
    pub fn same_structure(&self, other: &Tree) -> bool {
        match (self, other) {
            (Tree::Leaf(_), Tree::Leaf(_)) | (Tree::None, Tree::None) => true,
            (Tree::Tuple(a), Tree::Tuple(b)) | (Tree::List(a), Tree::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_structure(y))
            }
            (Tree::Dict(a), Tree::Dict(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((k, x), (l, y))| k == l && x.same_structure(y))
            }
            (Tree::Struct { name: n, fields: a }, Tree::Struct { name: m, fields: b }) => {
                n == m
                    && a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((k, x), (l, y))| k == l && x.same_structure(y))
            }
            _ => false,
        }
    }
    /// The tensor of a leaf.
    pub fn into_tensor(self) -> Result<Tensor> {
        match self {
            Tree::Leaf(t) => Ok(t),
            other => Err(Error::Structure(format!(
                "expected a tensor, got {}",
                other.describe()
            ))),
        }
    }
    /// The children of a tuple.
    pub fn into_tuple(self) -> Result<Vec<Tree>> {
        match self {
            Tree::Tuple(v) => Ok(v),
            other => Err(Error::Structure(format!(
                "expected a tuple, got {}",
                other.describe()
            ))),
        }
    }
}

/// A value that is a tree of tensors. Implemented for [`Tensor`], [`Tree`], `()`, tuples of up
/// to 8 elements, `Vec<T>`, `[T; N]`, `Option<T>`, string-keyed `BTreeMap`/`HashMap`, and any
/// struct with `#[derive(Pytree)]`.
pub trait Pytree: Sized {
    /// This value as a tree (tensors are cheap handles, so this copies no data).
    fn to_tree(&self) -> Tree;
    /// Rebuild the value from a tree of the same structure.
    fn from_tree(tree: Tree) -> Result<Self>;
}

/// A list of positional arguments. A tuple is one argument per element; every other [`Pytree`]
/// type is a single argument. `#[derive(Pytree)]` implements it for structs.
pub trait Args: Sized {
    /// The arguments as trees.
    fn to_args(&self) -> Vec<Tree>;
    /// Rebuild the arguments.
    fn from_args(args: Vec<Tree>) -> Result<Self>;
}

fn mismatch(want: &str, got: &Tree) -> Error {
    Error::Structure(format!("expected {want}, got {}", got.describe()))
}

/// For `#[derive(Pytree)]`: one argument out of an argument list.
#[doc(hidden)]
pub fn single_arg<T: Pytree>(mut args: Vec<Tree>) -> Result<T> {
    if args.len() != 1 {
        return Err(Error::Structure(format!(
            "expected 1 argument, got {}",
            args.len()
        )));
    }
    T::from_tree(args.pop().unwrap())
}

impl Pytree for Tensor {
    fn to_tree(&self) -> Tree {
        Tree::Leaf(self.clone())
    }
    fn from_tree(tree: Tree) -> Result<Self> {
        tree.into_tensor()
    }
}

impl Pytree for Tree {
    fn to_tree(&self) -> Tree {
        self.clone()
    }
    fn from_tree(tree: Tree) -> Result<Self> {
        Ok(tree)
    }
}

impl Pytree for () {
    fn to_tree(&self) -> Tree {
        Tree::None
    }
    fn from_tree(tree: Tree) -> Result<Self> {
        match tree {
            Tree::None => Ok(()),
            Tree::Tuple(v) if v.is_empty() => Ok(()),
            other => Err(mismatch("()", &other)),
        }
    }
}

impl<T: Pytree> Pytree for Option<T> {
    fn to_tree(&self) -> Tree {
        match self {
            Some(v) => v.to_tree(),
            None => Tree::None,
        }
    }
    fn from_tree(tree: Tree) -> Result<Self> {
        match tree {
            Tree::None => Ok(None),
            t => Ok(Some(T::from_tree(t)?)),
        }
    }
}

impl<T: Pytree> Pytree for Vec<T> {
    fn to_tree(&self) -> Tree {
        Tree::List(self.iter().map(Pytree::to_tree).collect())
    }
    fn from_tree(tree: Tree) -> Result<Self> {
        match tree {
            Tree::List(v) | Tree::Tuple(v) => v.into_iter().map(T::from_tree).collect(),
            other => Err(mismatch("a list", &other)),
        }
    }
}

impl<T: Pytree, const N: usize> Pytree for [T; N] {
    fn to_tree(&self) -> Tree {
        Tree::List(self.iter().map(Pytree::to_tree).collect())
    }
    fn from_tree(tree: Tree) -> Result<Self> {
        let v: Vec<T> = Vec::from_tree(tree)?;
        let n = v.len();
        v.try_into()
            .map_err(|_| Error::Structure(format!("expected a list of {N}, got a list of {n}")))
    }
}

impl<T: Pytree> Pytree for BTreeMap<String, T> {
    fn to_tree(&self) -> Tree {
        Tree::Dict(self.iter().map(|(k, v)| (k.clone(), v.to_tree())).collect())
    }
    fn from_tree(tree: Tree) -> Result<Self> {
        match tree {
            Tree::Dict(v) => v
                .into_iter()
                .map(|(k, t)| Ok((k, T::from_tree(t)?)))
                .collect(),
            other => Err(mismatch("a map", &other)),
        }
    }
}

impl<T: Pytree, S: std::hash::BuildHasher + Default> Pytree for HashMap<String, T, S> {
    fn to_tree(&self) -> Tree {
        let mut v: Vec<(String, Tree)> =
            self.iter().map(|(k, v)| (k.clone(), v.to_tree())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Tree::Dict(v)
    }
    fn from_tree(tree: Tree) -> Result<Self> {
        match tree {
            Tree::Dict(v) => v
                .into_iter()
                .map(|(k, t)| Ok((k, T::from_tree(t)?)))
                .collect(),
            other => Err(mismatch("a map", &other)),
        }
    }
}

macro_rules! single_arg_impls {
    ($($t:ty $(, $g:ident)* ;)*) => {$(
        impl<$($g: Pytree,)*> Args for $t {
            fn to_args(&self) -> Vec<Tree> {
                vec![self.to_tree()]
            }
            fn from_args(args: Vec<Tree>) -> Result<Self> {
                single_arg(args)
            }
        }
    )*};
}
single_arg_impls! {
    Tensor;
    Tree;
    Vec<T>, T;
    BTreeMap<String, T>, T;
}

impl<T: Pytree, const N: usize> Args for [T; N] {
    fn to_args(&self) -> Vec<Tree> {
        vec![self.to_tree()]
    }
    fn from_args(args: Vec<Tree>) -> Result<Self> {
        single_arg(args)
    }
}

impl<T: Pytree, S: std::hash::BuildHasher + Default> Args for HashMap<String, T, S> {
    fn to_args(&self) -> Vec<Tree> {
        vec![self.to_tree()]
    }
    fn from_args(args: Vec<Tree>) -> Result<Self> {
        single_arg(args)
    }
}

macro_rules! tuple_impls {
    ($( ($($T:ident $i:tt),+) ;)*) => {$(
        impl<$($T: Pytree),+> Pytree for ($($T,)+) {
            fn to_tree(&self) -> Tree {
                Tree::Tuple(vec![$(self.$i.to_tree()),+])
            }
            fn from_tree(tree: Tree) -> Result<Self> {
                const N: usize = [$($i),+].len();
                match tree {
                    Tree::Tuple(v) | Tree::List(v) if v.len() == N => {
                        let mut it = v.into_iter();
                        Ok(($($T::from_tree(it.next().unwrap())?,)+))
                    }
                    other => Err(mismatch(&format!("a tuple of {N}"), &other)),
                }
            }
        }
        impl<$($T: Pytree),+> Args for ($($T,)+) {
            fn to_args(&self) -> Vec<Tree> {
                vec![$(self.$i.to_tree()),+]
            }
            fn from_args(args: Vec<Tree>) -> Result<Self> {
                const N: usize = [$($i),+].len();
                if args.len() != N {
                    return Err(Error::Structure(format!("expected {N} arguments, got {}", args.len())));
                }
                let mut it = args.into_iter();
                Ok(($($T::from_tree(it.next().unwrap())?,)+))
            }
        }
    )*};
}
tuple_impls! {
    (A 0);
    (A 0, B 1);
    (A 0, B 1, C 2);
    (A 0, B 1, C 2, D 3);
    (A 0, B 1, C 2, D 3, E 4);
    (A 0, B 1, C 2, D 3, E 4, F 5);
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6);
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
}

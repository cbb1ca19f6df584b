//! `vmap`: map a function over a batch dim of its inputs, with no loop. Validation happens
//! once, up front (torch.func's `_process_batched_inputs`); the batched call itself, chunked or
//! not, is `transforms::chunk` (`NOTE: [chunking]`), shared with the Jacobians.

use super::chunk::{self, ChunkArgs, OutDim};
use super::options::{Opts, option_setters};
use super::{Dims, Function, callable};
use crate::array::normalize_dim;
use crate::core::Tensor;
use crate::error::{Error, Result};
use crate::tree::Tree;

/// Run `f` vectorized over the mapped dims of `args`: validate once, then one chunked batched
/// call (`transforms::chunk`).
pub(crate) fn run(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    args: Vec<Tree>,
    o: &Opts,
) -> Result<Tree> {
    let args = super::live_trees(args, o.name)?;
    let in_dims = o.in_dims.as_ref().expect("vmap options have in_dims");
    let out_dims = o.out_dims.as_ref().expect("vmap options have out_dims");
    let refs: Vec<&Tree> = args.iter().collect();
    let mut dims = Vec::new();
    in_dims.per_leaf(&refs, &mut dims).map_err(|e| match e {
        Error::Structure(m) => Error::transform(
            o.call(),
            format!(
                "in_dims is not compatible with the structure of `inputs`. in_dims has structure {in_dims} but inputs has structure {} ({m})",
                Tree::Tuple(args.clone()).describe()
            ),
        ),
        e => e,
    })?;
    let leaves: Vec<Tensor> = args.iter().flat_map(|a| a.leaves()).cloned().collect();
    let mut norm = Vec::with_capacity(leaves.len());
    let mut sizes = Vec::new();
    for (k, (t, d)) in leaves.iter().zip(&dims).enumerate() {
        match d {
            None => norm.push(None),
            Some(d) => {
                let nd = normalize_dim("vmap", *d, t.ndim()).map_err(|_| {
                    Error::transform(
                        o.call(),
                        format!("in_dim={d} is out of bounds for input {k} of shape {:?} (rank {}); it must be in [-{n}, {n})", t.shape(), t.ndim(), n = t.ndim()),
                    )
                })?;
                sizes.push(t.shape()[nd]);
                norm.push(Some(nd));
            }
        }
    }
    let Some(&size) = sizes.first() else {
        return Err(Error::transform(
            o.call(),
            "at least one input must be mapped over (got in_dims that map none of them); did you mean to map over dim 0?",
        ));
    };
    if sizes.iter().any(|&s| s != size) {
        return Err(Error::transform(
            o.call(),
            format!(
                "expected all mapped inputs to have the same size in the mapped dimension, got sizes {sizes:?}"
            ),
        ));
    }
    let inputs = |start: usize, len: usize| -> Result<ChunkArgs> {
        let part: Vec<Tensor> = leaves
            .iter()
            .zip(&norm)
            .map(|(t, d)| match d {
                Some(d) if len < size => t.narrow(*d as i64, start, len),
                _ => Ok(t.clone()),
            })
            .collect::<Result<_>>()?;
        let mut it = part.into_iter();
        Ok(ChunkArgs {
            args: args.iter().map(|a| a.with_leaves(&mut it)).collect(),
            dims: norm.clone(),
        })
    };
    let fates = |out: &Tree| -> Result<Vec<OutDim>> {
        let odims = out_dims_per_leaf(out_dims, out).map_err(|e| match e {
            Error::Structure(m) => Error::transform(
                o.call(),
                format!(
                    "out_dims is not compatible with the structure of `outputs`. out_dims has structure {out_dims} but outputs has structure {} ({m})",
                    out.describe()
                ),
            ),
            e => e,
        })?;
        Ok(odims
            .into_iter()
            .map(|d| d.map_or(OutDim::Unbatched, OutDim::Stack))
            .collect())
    };
    chunk::run(f, size, &inputs, &fates, o)
}

/// The out_dim of every leaf of `out`, as torch.func matches them: a tuple of out_dims has one
/// entry per element of a tuple (list, map, struct) output, nested as deep as needed; a single
/// tensor output takes one dim, `None` or a one-element tuple of a dim. Anything else is a
/// structure mismatch (`vmap(|x| (x, x)).out_dims((0,))` is refused, not broadcast).
fn out_dims_per_leaf(dims: &Dims, out: &Tree) -> Result<Vec<Option<i64>>> {
    let mut odims = Vec::new();
    match (dims, out) {
        (Dims::Tuple(v), Tree::Leaf(_)) => match v.as_slice() {
            [Dims::Dim(d)] => odims.push(*d),
            _ => {
                return Err(Error::Structure(format!(
                    "{dims} has {} entries, but the output is a single tensor",
                    v.len()
                )));
            }
        },
        (Dims::Tuple(_), _) => {
            let children: Vec<&Tree> = match out {
                Tree::Tuple(v) | Tree::List(v) => v.iter().collect(),
                Tree::Dict(v) => v.iter().map(|(_, c)| c).collect(),
                Tree::Struct { fields, .. } => fields.iter().map(|(_, c)| c).collect(),
                Tree::Leaf(_) | Tree::None => {
                    return Err(Error::Structure(format!(
                        "{dims} cannot be matched against {}",
                        out.describe()
                    )));
                }
            };
            dims.per_leaf(&children, &mut odims)?;
        }
        (Dims::Dim(_), _) => dims.per_leaf(&[out], &mut odims)?,
    }
    Ok(odims)
}

/// Vectorizing map: run a function over a batch dim of its inputs as if in a loop, and stack
/// the results — without the loop. Options as torch.func's `vmap`: [`in_dims`](Vmap::in_dims),
/// [`out_dims`](Vmap::out_dims), [`chunk_size`](Vmap::chunk_size) and
/// [`randomness`](Vmap::randomness), plus [`memory_budget`](Vmap::memory_budget) (the chunk
/// size chosen to fit a memory budget).
#[derive(Clone)]
pub struct Vmap<F> {
    f: F,
    o: Opts,
}

/// Vectorize `f` over dim 0 of every input (see [`Vmap`] for the options).
///
/// ```
/// use functorch::{Tensor, vmap};
/// // a batch of dot products
/// let dot = |(a, b): &(Tensor, Tensor)| a.dot(b);
/// let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
/// let y = Tensor::from_vec(vec![1.0, 1.0, 2.0, 2.0], &[2, 2])?;
/// let d: Tensor = vmap(dot).call(&(x.clone(), y))?;
/// assert_eq!(d.to_vec::<f64>()?, vec![3.0, 14.0]);
/// // in_dims: map the first argument over its dim 1, broadcast the second
/// let w = Tensor::from_slice(&[10.0, 1.0]);
/// let e: Tensor = vmap(dot).in_dims([Some(1), None]).call(&(x, w))?;
/// assert_eq!(e.to_vec::<f64>()?, vec![13.0, 24.0]);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn vmap<F>(f: F) -> Vmap<F> {
    Vmap {
        f,
        o: Opts::new("vmap"),
    }
}

option_setters!(Vmap: in_dims, out_dims, chunk_size, randomness, memory_budget, memory_plan, progress);

impl<A, F: Function<A>> Function<A> for Vmap<F> {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        run(&|a| self.f.apply(a), args, &self.o)
    }
}

callable!(Vmap);

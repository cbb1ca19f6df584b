//! `vmap`: map a function over a batch dim of its inputs, with no loop. Validation happens
//! once, up front (torch.func's `_process_batched_inputs`); [`flat`] is the whole transform;
//! chunking wraps it without touching it (torch.func's `_chunked_vmap`).

use super::{Dims, Function, callable};
use crate::error::{Error, Result};
use crate::interp::{LevelGuard, LevelKind, Randomness, TracerKind, batched};
use crate::tensor::{Tensor, normalize_dim};
use crate::tree::Tree;

/// The options of a vmap call.
#[derive(Clone, Debug)]
pub(crate) struct VmapOpts {
    pub(crate) in_dims: Dims,
    pub(crate) out_dims: Dims,
    pub(crate) chunk_size: Option<usize>,
    pub(crate) randomness: Randomness,
}

impl Default for VmapOpts {
    fn default() -> Self {
        VmapOpts {
            in_dims: Dims::from(0),
            out_dims: Dims::from(0),
            chunk_size: None,
            randomness: Randomness::Error,
        }
    }
}

impl VmapOpts {
    fn call(&self) -> String {
        let mut s = format!(
            "vmap(f, in_dims={}, out_dims={}",
            self.in_dims, self.out_dims
        );
        if let Some(c) = self.chunk_size {
            s += &format!(", chunk_size={c}");
        }
        s + ")"
    }
}

/// Run `f` vectorized over the mapped dims of `args`.
pub(crate) fn run(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    args: Vec<Tree>,
    o: &VmapOpts,
) -> Result<Tree> {
    let call = o.call();
    let refs: Vec<&Tree> = args.iter().collect();
    let mut dims = Vec::new();
    o.in_dims.per_leaf(&refs, &mut dims).map_err(|e| match e {
        Error::Structure(m) => Error::transform(
            &call,
            format!("in_dims is not compatible with the structure of the inputs: {m}"),
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
                        &call,
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
            &call,
            "at least one input must be mapped over (got in_dims that map none of them); did you mean to map over dim 0?",
        ));
    };
    if sizes.iter().any(|&s| s != size) {
        return Err(Error::transform(
            &call,
            format!(
                "expected all mapped inputs to have the same size in the mapped dimension, got sizes {sizes:?}"
            ),
        ));
    }
    if size == 0 {
        return Err(Error::transform(
            &call,
            "cannot map over a dimension of size 0",
        ));
    }
    match o.chunk_size {
        Some(0) => Err(Error::transform(
            &call,
            "chunk_size must be a positive integer, got 0",
        )),
        Some(c) if c < size => chunked(f, &args, &leaves, &norm, size, c, o, &call),
        _ => Ok(flat(f, &args, &leaves, &norm, size, o, &call)?.0),
    }
}

/// The whole transform: one level, the inputs wrapped, the function called, the outputs
/// unwrapped. Returns the outputs and the dim each was stacked along (`None`: unbatched).
fn flat(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    args: &[Tree],
    leaves: &[Tensor],
    dims: &[Option<usize>],
    size: usize,
    o: &VmapOpts,
    call: &str,
) -> Result<(Tree, Vec<Option<usize>>)> {
    let guard = LevelGuard::push(LevelKind::Batch {
        size,
        randomness: o.randomness,
    });
    let level = guard.level.clone();
    let wrapped: Vec<Tensor> = leaves
        .iter()
        .zip(dims)
        .map(|(t, d)| match d {
            None => Ok(t.clone()),
            Some(d) => Ok(batched(&level, t.movedim(*d as i64, 0)?)),
        })
        .collect::<Result<_>>()?;
    let mut it = wrapped.into_iter();
    let inner_args: Vec<Tree> = args.iter().map(|a| a.with_leaves(&mut it)).collect();
    let out = f(inner_args)?;
    let odims = out_dims_per_leaf(&o.out_dims, &out).map_err(|e| match e {
        Error::Structure(m) => Error::transform(
            call,
            format!("out_dims is not compatible with the structure of the outputs: {m}"),
        ),
        e => e,
    })?;
    let mut k = 0;
    let mut used = Vec::new();
    let res = out.map(&mut |t| {
        let od = odims[k];
        k += 1;
        match (t.tracer_at(&level), od) {
            (Some(TracerKind::Batch { value }), Some(d)) => {
                let d = normalize_dim("vmap", d, value.ndim()).map_err(|_| {
                    Error::transform(call, format!("out_dim={d} is out of bounds for an output of rank {}", value.ndim() - 1))
                })?;
                used.push(Some(d));
                value.movedim(0, d as i64)
            }
            (Some(TracerKind::Batch { .. }), None) => Err(Error::transform(
                call,
                format!("out_dims=None, but output {} depends on the mapped inputs (out_dims can be None only for outputs that are not batched)", k - 1),
            )),
            (_, None) => {
                used.push(None);
                Ok(t.clone())
            }
            (_, Some(d)) => {
                // not batched: broadcast along a new dim, as torch.func does
                let d = normalize_dim("vmap", d, t.ndim() + 1).map_err(|_| {
                    Error::transform(call, format!("out_dim={d} is out of bounds for an output of rank {}", t.ndim()))
                })?;
                used.push(Some(d));
                let mut shape = t.shape().to_vec();
                shape.insert(d, size);
                t.unsqueeze(d as i64)?.broadcast_to(&shape)
            }
        }
    })?;
    drop(guard);
    Ok((res, used))
}

/// The out_dim of every leaf of `out`. As in torch.func, a tuple of out_dims is matched
/// against the elements of a tuple (list, map, struct) output, one entry per element; it may
/// also be matched against the output as a whole (a one-element tuple for a single tensor).
fn out_dims_per_leaf(dims: &Dims, out: &Tree) -> Result<Vec<Option<i64>>> {
    let children: Option<Vec<&Tree>> = match out {
        Tree::Tuple(v) | Tree::List(v) => Some(v.iter().collect()),
        Tree::Dict(v) => Some(v.iter().map(|(_, c)| c).collect()),
        Tree::Struct { fields, .. } => Some(fields.iter().map(|(_, c)| c).collect()),
        Tree::Leaf(_) | Tree::None => None,
    };
    let mut odims = Vec::new();
    if let (Dims::Tuple(_), Some(children)) = (dims, children) {
        match dims.per_leaf(&children, &mut odims) {
            Ok(()) => return Ok(odims),
            Err(e) => {
                odims.clear();
                return dims
                    .per_leaf(&[out], &mut odims)
                    .map(|_| odims)
                    .map_err(|_| e);
            }
        }
    }
    dims.per_leaf(&[out], &mut odims)?;
    Ok(odims)
}

#[allow(clippy::too_many_arguments)]
fn chunked(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    args: &[Tree],
    leaves: &[Tensor],
    dims: &[Option<usize>],
    size: usize,
    chunk: usize,
    o: &VmapOpts,
    call: &str,
) -> Result<Tree> {
    // "same" randomness: every chunk starts from the same generator state
    let state = (o.randomness == Randomness::Same).then(crate::prims::random::state);
    let mut outs: Vec<(Tree, Vec<Option<usize>>)> = Vec::new();
    let mut start = 0;
    while start < size {
        let len = chunk.min(size - start);
        if let Some(s) = &state {
            crate::prims::random::set_state(s.clone());
        }
        let part: Vec<Tensor> = leaves
            .iter()
            .zip(dims)
            .map(|(t, d)| match d {
                None => Ok(t.clone()),
                Some(d) => t.narrow(*d as i64, start, len),
            })
            .collect::<Result<_>>()?;
        outs.push(flat(f, args, &part, dims, len, o, call)?);
        start += len;
    }
    let (first, odims) = &outs[0];
    let per_chunk: Vec<Vec<&Tensor>> = outs.iter().map(|(t, _)| t.leaves()).collect();
    let mut k = 0;
    first.map(&mut |t| {
        let r = match odims[k] {
            None => Ok(t.clone()),
            Some(d) => Tensor::cat(
                &per_chunk.iter().map(|c| c[k].clone()).collect::<Vec<_>>(),
                d as i64,
            ),
        };
        k += 1;
        r
    })
}

/// Vectorizing map: run a function over a batch dim of its inputs as if in a loop, and stack
/// the results — without the loop. Options as torch.func's `vmap`: [`in_dims`](Vmap::in_dims),
/// [`out_dims`](Vmap::out_dims), [`chunk_size`](Vmap::chunk_size) and
/// [`randomness`](Vmap::randomness).
#[derive(Clone)]
pub struct Vmap<F> {
    f: F,
    o: VmapOpts,
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
        o: VmapOpts::default(),
    }
}

impl<F> Vmap<F> {
    /// Where each input is mapped: one dim for all, or one entry per positional argument
    /// (`None`: passed whole to every call), nested for structured arguments. Default 0.
    pub fn in_dims(mut self, dims: impl Into<Dims>) -> Self {
        self.o.in_dims = dims.into();
        self
    }
    /// Where each output gets the batch dim; `None` for an output that does not depend on the
    /// mapped inputs. An unbatched output with an int out_dim is broadcast along the batch.
    /// Default 0.
    pub fn out_dims(mut self, dims: impl Into<Dims>) -> Self {
        self.o.out_dims = dims.into();
        self
    }
    /// Run the batch this many elements at a time (bounding memory); the result is the same.
    pub fn chunk_size(mut self, chunk: impl Into<Option<usize>>) -> Self {
        self.o.chunk_size = chunk.into();
        self
    }
    /// What random ops inside do: [`Randomness::Error`] (default), `Different` or `Same`.
    pub fn randomness(mut self, r: Randomness) -> Self {
        self.o.randomness = r;
        self
    }
}

impl<A, F: Function<A>> Function<A> for Vmap<F> {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        run(&|a| self.f.apply(a), args, &self.o)
    }
}

callable!(Vmap, |s: &Self| s.o.call());

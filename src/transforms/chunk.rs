//! Batched calls, chunked, in one place: `vmap`, the pullback over `jacrev`'s output basis and
//! the pushforward over `jacfwd`'s input basis all go through [`run`], which validates
//! `chunk_size` once, runs the batch a chunk at a time (torch.func's `_chunked_vmap`), and
//! stacks each chunk's outputs as they come.
//!
//! NOTE: [chunking]
//! A chunked call must give exactly what the unchunked call gives. Three things make it so:
//! (1) a chunk of one element still runs under its batch level (only its inputs are passed
//! unbatched, which is cheaper than wrapping them), so random ops see the same `randomness`
//! mode as in the whole batch ("error" refuses under any chunking); (2) under "same"
//! randomness every chunk starts from the generator state the first chunk saw, so all chunks
//! draw what the unchunked call draws once; (3) outputs that do not depend on the batch (vmap's
//! `out_dims=None`, jacfwd's primal and aux) are taken from the first chunk unbatched, never
//! broadcast and selected back. Under "different" randomness every element gets its own draw
//! in any chunking, but the numbers depend on the chunk size, as in torch.func.
//! An empty batch runs as one chunk of size 0 (vmap over size 0, Jacobians of empty inputs or
//! outputs), so results keep their shapes.

use super::options::Opts;
use crate::core::{LevelGuard, LevelKind, Randomness, TracerKind, batched};
use crate::error::{Error, Result};
use crate::ops::{RowBuffer, random_state, set_random_state};
use crate::tree::Tree;

/// What becomes of one output leaf of a batched call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutDim {
    /// Stacked along this dim of the result (negative counts from the end); an output that
    /// does not depend on the batch is broadcast along it (vmap's int `out_dims`).
    Stack(i64),
    /// Returned as it is; it must not depend on the batch (vmap's `out_dims=None`).
    Unbatched,
    /// The first batch element's value, taken from the first chunk (jacfwd's primal and aux,
    /// which do not depend on the basis except through "different" randomness); an output that
    /// does not depend on the batch is returned as it is.
    First,
}

/// One chunk's positional arguments, with the dim of every leaf that carries the chunk's
/// batch (`None`: passed whole).
pub(crate) struct ChunkArgs {
    pub(crate) args: Vec<Tree>,
    pub(crate) dims: Vec<Option<usize>>,
}

/// `(start, len)` of each chunk of a batch of `size` (one chunk of size 0 for an empty batch).
fn chunks(size: usize, chunk: Option<usize>) -> Vec<(usize, usize)> {
    let c = chunk.unwrap_or(size).max(1);
    if size == 0 {
        return vec![(0, 0)];
    }
    (0..size.div_ceil(c))
        .map(|i| (i * c, c.min(size - i * c)))
        .collect()
}

/// Call `f` on a batch of `size` elements, `o.chunk_size` at a time (see `NOTE: [chunking]`).
/// `inputs(start, len)` makes a chunk's arguments; `out_dims(out)` says what becomes of each
/// output leaf. Stacked outputs are gathered with `o.preallocate` (jacrev's option).
pub(crate) fn run(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    size: usize,
    inputs: &dyn Fn(usize, usize) -> Result<ChunkArgs>,
    out_dims: &dyn Fn(&Tree) -> Result<Vec<OutDim>>,
    o: &Opts,
) -> Result<Tree> {
    let parts = chunks(size, o.chunk()?);
    let n = parts.len();
    if n == 1 {
        let a = inputs(0, size)?;
        let (out, _) = one_chunk(f, a, size, out_dims, o)?;
        report(o, 1, 1);
        return Ok(out);
    }
    let same = (o.randomness == Randomness::Same).then(random_state);
    let mut first: Option<(Tree, Vec<Option<usize>>)> = None;
    let mut rows: Vec<RowBuffer> = Vec::new();
    for (k, &(start, len)) in parts.iter().enumerate() {
        if let Some(s) = &same {
            set_random_state(s.clone());
        }
        let (out, dims) = one_chunk(f, inputs(start, len)?, len, out_dims, o)?;
        let stacked = out
            .leaves()
            .into_iter()
            .zip(&dims)
            .filter_map(|(t, d)| Some((t, (*d)?)));
        for (i, (leaf, d)) in stacked.enumerate() {
            if rows.len() == i {
                rows.push(RowBuffer::new(size, d, o.preallocate));
            }
            rows[i].push(leaf.clone())?;
        }
        if first.is_none() {
            first = Some((out, dims));
        }
        report(o, k + 1, n);
    }
    let (out, dims) = first.expect("a batch has at least one chunk");
    let mut stacked = rows.into_iter().map(RowBuffer::finish);
    let mut d = dims.iter();
    out.map(&mut |t| match d.next().expect("one dim per leaf") {
        Some(_) => stacked.next().expect("one buffer per stacked leaf"),
        None => Ok(t.clone()),
    })
}

fn report(o: &Opts, done: usize, total: usize) {
    if let Some(p) = &o.progress {
        p(done, total);
    }
}

/// One chunk under its own batch level. Returns the outputs (stacked ones with the chunk at
/// their dim) and, per leaf, the dim it was stacked along (`None`: not stacked).
fn one_chunk(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    a: ChunkArgs,
    size: usize,
    out_dims: &dyn Fn(&Tree) -> Result<Vec<OutDim>>,
    o: &Opts,
) -> Result<(Tree, Vec<Option<usize>>)> {
    let guard = LevelGuard::push(LevelKind::Batch {
        size,
        randomness: o.randomness,
    });
    let level = guard.level.clone();
    let mut dims = a.dims.iter();
    let inner: Vec<Tree> = a
        .args
        .iter()
        .map(|t| {
            t.map(&mut |x| match dims.next().expect("one dim per leaf") {
                None => Ok(x.clone()),
                // one element: the value itself is the batch, no tracer needed
                Some(d) if size == 1 => x.select(*d as i64, 0),
                Some(d) => Ok(batched(&level, x.movedim(*d as i64, 0)?)),
            })
        })
        .collect::<Result<_>>()?;
    let out = super::live_tree(f(inner)?, o.name)?;
    let fates = out_dims(&out)?;
    let mut k = 0;
    let mut used = Vec::new();
    let res = out.map(&mut |t| {
        let fate = fates[k];
        k += 1;
        let value = match t.tracer_at(&level) {
            Some(TracerKind::Batch { value }) => Some(value),
            _ => None,
        };
        match (value, fate) {
            (Some(v), OutDim::Stack(d)) => {
                let d = out_dim(d, v.ndim(), o)?;
                used.push(Some(d));
                v.movedim(0, d as i64)
            }
            (Some(_), OutDim::Unbatched) => Err(Error::transform(
                o.call(),
                format!("out_dims=None, but output {} depends on the mapped inputs (out_dims can be None only for outputs that are not batched)", k - 1),
            )),
            (Some(v), OutDim::First) => {
                used.push(None);
                v.select(0, 0)
            }
            (None, OutDim::Stack(d)) => {
                // not batched: broadcast along a new dim, as torch.func does
                let d = out_dim(d, t.ndim() + 1, o)?;
                used.push(Some(d));
                let mut shape = t.shape().to_vec();
                shape.insert(d, size);
                t.unsqueeze(d as i64)?.broadcast_to(&shape)
            }
            (None, OutDim::Unbatched | OutDim::First) => {
                used.push(None);
                Ok(t.clone())
            }
        }
    })?;
    drop(guard);
    Ok((res, used))
}

/// An out dim normalized for a batched output of rank `rank` (the batch dim included).
fn out_dim(d: i64, rank: usize, o: &Opts) -> Result<usize> {
    crate::array::normalize_dim("vmap", d, rank).map_err(|_| {
        Error::transform(
            o.call(),
            format!(
                "out_dim={d} is out of bounds for an output of rank {}",
                rank - 1
            ),
        )
    })
}

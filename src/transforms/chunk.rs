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

use super::MemoryPlan;
use super::budget::{self, PROBE};
use super::options::Opts;
use crate::array::pool::measure;
use crate::core::{LevelGuard, LevelKind, Randomness, Tensor, TracerKind, batched};
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

/// Call `f` on a batch of `size` elements, `o.chunk_size` at a time, or in chunks chosen by
/// `o.memory_budget` (see `NOTE: [chunking]` and `NOTE: [memory-budget]`). `inputs(start, len)`
/// makes a chunk's arguments; `out_dims(out)` says what becomes of each output leaf. Stacked
/// outputs are gathered with `o.preallocate` (jacrev's option; always under a budget).
pub(crate) fn run(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    size: usize,
    inputs: &dyn Fn(usize, usize) -> Result<ChunkArgs>,
    out_dims: &dyn Fn(&Tree) -> Result<Vec<OutDim>>,
    o: &Opts,
) -> Result<Tree> {
    let chunk = o.chunk()?;
    let Some(budget) = budget::budget(o)? else {
        return run_chunks(f, size, inputs, out_dims, o, &mut Plan::Fixed(chunk));
    };
    let cap = chunk.unwrap_or(usize::MAX);
    let mut plan = Plan::Budget {
        budget,
        cap,
        chosen: None,
    };
    let (r, usage) = measure(|| run_chunks(f, size, inputs, out_dims, o, &mut plan));
    let r = r?;
    if let (Some(report), Plan::Budget { chosen, .. }) = (&o.memory_plan, &plan) {
        let mut p = chosen.expect("a budgeted run sets its plan");
        p.peak_bytes = o.held + usage.peak;
        report(&p);
    }
    Ok(r)
}

/// How the chunks of [`run`] are sized.
enum Plan {
    /// `chunk_size` (`None`: all at once).
    Fixed(Option<usize>),
    /// By the budget, from the first chunk's measured memory; `chosen` once it is known.
    Budget {
        budget: usize,
        cap: usize,
        chosen: Option<MemoryPlan>,
    },
}

fn run_chunks(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    size: usize,
    inputs: &dyn Fn(usize, usize) -> Result<ChunkArgs>,
    out_dims: &dyn Fn(&Tree) -> Result<Vec<OutDim>>,
    o: &Opts,
    plan: &mut Plan,
) -> Result<Tree> {
    let (first_len, mut total) = match plan {
        Plan::Fixed(c) => {
            let c = c.unwrap_or(size).max(1);
            (c.min(size), size.div_ceil(c).max(1))
        }
        // one chunk when the batch is no larger than the measured one
        Plan::Budget { cap, .. } => {
            let c = PROBE.min(*cap).min(size);
            (c, if c == size { 1 } else { 2 })
        }
    };
    if total == 1 {
        let (r, usage) = measure(|| one_chunk(f, inputs(0, size)?, size, out_dims, o));
        let (out, dims) = r?;
        if let Plan::Budget { budget, chosen, .. } = plan {
            let out_bytes = output_bytes(&out, &dims, size, size);
            if o.held + out_bytes > *budget {
                return Err(budget::output_too_large(o, *budget, out_bytes, o.held));
            }
            *chosen = Some(MemoryPlan {
                budget: *budget,
                batch: size,
                first_chunk: size,
                chunk_size: size.max(1),
                chunks: 1,
                bytes_per_element: usage.peak.div_ceil(size.max(1)),
                held_bytes: o.held,
                output_bytes: out_bytes,
                estimated_bytes: o.held + usage.peak,
                peak_bytes: 0,
            });
        }
        report(o, 1, 1);
        return Ok(out);
    }
    let budgeted = matches!(plan, Plan::Budget { .. });
    let preallocate = o.preallocate || budgeted;
    let same = (o.randomness == Randomness::Same).then(random_state);
    let mut first: Option<(Tree, Vec<Option<usize>>)> = None;
    // per stacked output: its rows, and the dim they are moved to at the end
    let mut rows: Vec<(RowBuffer, usize)> = Vec::new();
    let (mut start, mut len, mut next, mut k) = (0, first_len, first_len, 0);
    while start < size {
        if let Some(s) = &same {
            set_random_state(s.clone());
        }
        let (r, usage) = measure(|| one_chunk(f, inputs(start, len)?, len, out_dims, o));
        let (out, dims) = r?;
        if k == 0
            && let Plan::Budget {
                budget,
                cap,
                chosen,
            } = plan
        {
            // the first chunk was measured: size the others (`NOTE: [memory-budget]`)
            let per = usage.peak.div_ceil(len.max(1));
            let out_bytes = output_bytes(&out, &dims, len, size);
            let rest = size - len;
            let (c, estimate) = budget::chunk_size(o, *budget, per, o.held, out_bytes, *cap, rest)?;
            total = 1 + rest.div_ceil(c);
            *chosen = Some(MemoryPlan {
                budget: *budget,
                batch: size,
                first_chunk: len,
                chunk_size: c,
                chunks: total,
                bytes_per_element: per,
                held_bytes: o.held,
                output_bytes: out_bytes,
                estimated_bytes: estimate,
                peak_bytes: 0,
            });
            next = c;
        }
        let stacked = out
            .leaves()
            .into_iter()
            .zip(&dims)
            .filter_map(|(t, d)| Some((t, (*d)?)));
        for (i, (leaf, d)) in stacked.enumerate() {
            if rows.len() == i {
                // under a budget every stacked output is written along dim 0 into memory
                // allocated once, and its dim moved back at the end (a view)
                let along = if budgeted { 0 } else { d };
                rows.push((RowBuffer::new(size, along, preallocate), d - along));
            }
            let leaf = if budgeted && d != 0 {
                leaf.movedim(d as i64, 0)?
            } else {
                leaf.clone()
            };
            rows[i].0.push(leaf)?;
        }
        start += len;
        len = next.min(size - start);
        if first.is_none() {
            // keep the outputs that are not stacked; the stacked ones are in `rows` now
            let mut d = dims.iter();
            let kept = out.map(&mut |t| match d.next().expect("one dim per leaf") {
                Some(_) => Ok(Tensor::scalar(0.0)),
                None => Ok(t.clone()),
            })?;
            first = Some((kept, dims));
        }
        k += 1;
        report(o, k, total);
    }
    let (out, dims) = first.expect("a batch has at least one chunk");
    let mut stacked = rows.into_iter().map(|(r, d)| match d {
        0 => r.finish(),
        d => r.finish()?.movedim(0, d as i64),
    });
    let mut d = dims.iter();
    out.map(&mut |t| match d.next().expect("one dim per leaf") {
        Some(_) => stacked.next().expect("one buffer per stacked leaf"),
        None => Ok(t.clone()),
    })
}

/// The bytes of one element of `dtype`.
fn elem_bytes(dtype: crate::DType) -> usize {
    match dtype {
        crate::DType::F32 => 4,
        crate::DType::Bool => 1,
        _ => 8,
    }
}

/// The bytes of the whole result, from one chunk of `len` of the `size` elements: each
/// stacked leaf scaled to the batch, twice for a leaf that is concatenated at the end rather
/// than written into memory allocated once (a tracer of an enclosing transform).
fn output_bytes(out: &Tree, dims: &[Option<usize>], len: usize, size: usize) -> usize {
    out.leaves()
        .into_iter()
        .zip(dims)
        .filter_map(|(t, d)| {
            d.as_ref()?;
            let per = (t.numel() / len.max(1)).saturating_mul(elem_bytes(t.dtype()));
            let times = if t.array().is_some() { 1 } else { 2 };
            Some(per.saturating_mul(size).saturating_mul(times))
        })
        .fold(0, usize::saturating_add)
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

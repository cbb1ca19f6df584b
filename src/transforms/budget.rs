//! `memory_budget`: the chunk size of a batched call (`vmap`, the Jacobians, `hessian`) chosen
//! from the memory a first, small chunk was measured to use.
//!
//! NOTE: [memory-budget]
//! The rule, for a batch of `size` elements (a Jacobian's rows in reverse mode, its columns in
//! forward mode, a vmap's batch) under a budget of `B` bytes:
//! 1. the first chunk runs with `PROBE` elements (fewer if the batch or `chunk_size` is
//!    smaller) while the tensor memory it takes is measured (`array::pool::measure`: the bytes
//!    of tensor buffers in use, counted where every buffer is taken and given back). Its peak,
//!    divided by its elements, is the cost `P` of one element: the part of a chunk's cost that
//!    does not grow with the chunk is counted as if it did, so the estimate errs high and the
//!    chunk small. Its results are kept: they are the first rows of the result;
//! 2. the result (`O` bytes, the first chunk's outputs scaled to the whole batch) is written
//!    into memory allocated once (as `preallocate` does), so it costs `O`, not the `2 O` of
//!    concatenating chunks at the end (an output stacked along another dim is written along
//!    dim 0 and returned as a view with its dim moved); an output that cannot be written that
//!    way (a tracer of an enclosing transform) is counted twice;
//! 3. memory the call already holds when the chunks start (`H`: reverse mode's forward pass,
//!    the residuals its pullback reads) counts too. If `H + O > B` the call is an error that
//!    names both numbers, before any chunk runs where the result's size is known beforehand
//!    (`jacrev`), after the first otherwise;
//! 4. the other chunks have `c = ⌊(B − H − O) / P⌋` elements (at most `chunk_size` when that
//!    is set too: `chunk_size` is then an upper bound), and `c = 0` is an error naming the
//!    bytes one element needs.
//!
//! What is measured is tensor memory: the process also holds its code, stacks, the small
//! vectors of shapes and graphs, and the buffers the pool keeps for reuse (at most
//! `array::pool::MAX_BYTES` per element type; `release_pooled_memory` returns them), so leave
//! some room between the budget and a hard limit.

use super::options::Opts;
use crate::error::{Error, Result};

/// The elements of the first, measured chunk.
pub(crate) const PROBE: usize = 2;

/// How a call under [`memory_budget`](crate::Jacrev::memory_budget) was chunked, and the
/// memory it was measured to use: given to the
/// [`memory_plan`](crate::Jacrev::memory_plan) callback after the call. All sizes are bytes of
/// tensor memory (see the README's section on Jacobians for what is counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryPlan {
    /// The budget given.
    pub budget: usize,
    /// The elements of the batch: a Jacobian's rows (reverse mode) or columns (forward mode),
    /// a vmap's batch size.
    pub batch: usize,
    /// The elements of the first chunk, the one that was measured.
    pub first_chunk: usize,
    /// The elements of each later chunk (the last may have fewer), chosen to fit the budget.
    pub chunk_size: usize,
    /// The chunks run, the first included.
    pub chunks: usize,
    /// The measured cost of one batch element (the first chunk's peak over its elements).
    pub bytes_per_element: usize,
    /// The memory held before the chunks ran (reverse mode's forward pass).
    pub held_bytes: usize,
    /// The result's memory (counted twice for outputs concatenated at the end).
    pub output_bytes: usize,
    /// The estimate the chunk size was chosen by:
    /// `held_bytes + output_bytes + chunk_size * bytes_per_element` (for a batch no larger
    /// than the first chunk, which runs at once, `held_bytes` plus its measured peak).
    pub estimated_bytes: usize,
    /// The peak measured over the whole chunked run, `held_bytes` included.
    pub peak_bytes: usize,
}

/// `memory_budget`, checked: a positive number of bytes, or `None` for no budget.
pub(crate) fn budget(o: &Opts) -> Result<Option<usize>> {
    match o.memory_budget {
        Some(0) => Err(Error::transform(
            o.call(),
            "memory_budget must be a positive number of bytes, got 0",
        )),
        b => Ok(b),
    }
}

/// The error for a result that alone needs more than the budget.
pub(crate) fn output_too_large(o: &Opts, budget: usize, out: usize, held: usize) -> Error {
    let held_note = if held > 0 {
        format!(
            " and the forward pass holds {held} bytes, {} in all",
            out + held
        )
    } else {
        String::new()
    };
    Error::transform(
        o.call(),
        format!(
            "memory_budget={budget} bytes is too small: the result alone needs {out} bytes{held_note}"
        ),
    )
}

/// The size of the later chunks: the largest that fits the budget (see
/// `NOTE: [memory-budget]`), at most `cap` (`chunk_size`) and `rest` (what is left of the
/// batch), or the error saying what one element needs.
pub(crate) fn chunk_size(
    o: &Opts,
    budget: usize,
    per_element: usize,
    held: usize,
    out: usize,
    cap: usize,
    rest: usize,
) -> Result<(usize, usize)> {
    if held + out > budget {
        return Err(output_too_large(o, budget, out, held));
    }
    let c = (budget - held - out)
        .checked_div(per_element)
        .unwrap_or(usize::MAX)
        .min(cap)
        .min(rest.max(1));
    if c == 0 {
        return Err(Error::transform(
            o.call(),
            format!(
                "memory_budget={budget} bytes is too small: the result needs {out} bytes, the forward pass holds {held} and each element of the batch about {per_element} more, so at least {} bytes are needed",
                held + out + per_element
            ),
        ));
    }
    Ok((c, held + out + c * per_element))
}

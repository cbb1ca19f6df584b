//! The methods users call on [`Tensor`], and the decompositions (softmax, logsumexp, prod,
//! einsum, ...) built from primitives. Every public op validates its operands against their
//! logical shapes and dtypes (inside vmap: the per-example ones) before binding, so errors name
//! what the user wrote.

mod basis;
mod create;
mod einsum;
mod elementwise;
mod generator;
mod index;
mod linalg;
mod matmul;
mod ndarray;
pub(crate) mod random;
mod reduce;
mod shape;
mod slicing;
mod update;

pub(crate) use basis::{RowBuffer, standard_basis_rows};
pub use generator::Generator;
pub use random::manual_seed;
pub(crate) use random::{
    ThreadRng, replace_thread_rng, set_state as set_random_state, state as random_state, thread_rng,
};
pub use slicing::{Idx, IndexArg, RangeInt, step};
pub use update::At;

use crate::array::DType;
use crate::core::Tensor;
use crate::error::{Error, Result};

pub(crate) fn require_float(op: &'static str, x: &Tensor) -> Result<()> {
    if x.dtype().is_float() {
        Ok(())
    } else {
        Err(Error::DType {
            op,
            expected: "a float tensor",
            got: x.dtype(),
        })
    }
}

pub(crate) fn require_same_dtype(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.dtype() == b.dtype() {
        Ok(())
    } else {
        Err(Error::DType {
            op,
            expected: a.dtype().name(),
            got: b.dtype(),
        })
    }
}

pub(crate) fn require_dtype(
    op: &'static str,
    x: &Tensor,
    d: DType,
    what: &'static str,
) -> Result<()> {
    if x.dtype() == d {
        Ok(())
    } else {
        Err(Error::DType {
            op,
            expected: what,
            got: x.dtype(),
        })
    }
}

//! The two integer primitives the functional updates (`ops::update`) need to place values
//! exactly: which of several writes to one position wins (`index_put` without accumulation),
//! and where each selected position reads its value (`masked_scatter`). Both act along the
//! last dim, every leading dim being an independent row, so their batch rule is the primitive
//! itself on the physical operand. Their outputs are integers or masks: no derivative flows
//! through them (the values are moved by `where`, `index_add` and `gather`, which carry the
//! derivatives), so they take the default jvp and vjp of primitives that are not
//! differentiable. To a program rewrite they are opaque kernels.

use super::{PrimKind, Primitive};
use crate::array::Array;
use crate::core::{Tensor, bind};
use crate::error::Result;
use std::collections::HashSet;

/// The rows of an array along its last dim: `(number of rows, row length)`.
fn rows(a: &Array) -> (usize, usize) {
    let m = a.shape().last().copied().unwrap_or(1);
    let n = a.numel();
    (n.checked_div(m).unwrap_or(0), m)
}

/// For an i64 tensor of positions, `true` at the last occurrence of each value in its row
/// (along the last dim): the write that wins when several write one position.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LastWrite;

impl Primitive for LastWrite {
    fn name(&self) -> &'static str {
        "index_put"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Opaque
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        let a = inputs[0];
        let v = a.to_vec::<i64>().expect("an i64 index");
        let (r, m) = rows(a);
        let mut out = vec![false; v.len()];
        let mut seen = HashSet::new();
        for row in 0..r {
            seen.clear();
            for j in (0..m).rev() {
                out[row * m + j] = seen.insert(v[row * m + j]);
            }
        }
        Ok(Array::from_vec(out, a.shape()))
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        // rows are independent, and the batch dim (0) is a leading dim
        bind(self, inputs)
    }
    fn differentiable(&self) -> bool {
        false
    }
}

/// For a bool mask, the number of `true`s before each position in its row (along the last
/// dim), as i64: the element of the source a selected position reads in `masked_scatter`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CountBefore;

impl Primitive for CountBefore {
    fn name(&self) -> &'static str {
        "masked_scatter"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Opaque
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        let a = inputs[0];
        let v = a.to_vec::<bool>().expect("a bool mask");
        let (r, m) = rows(a);
        let mut out = vec![0i64; v.len()];
        for row in 0..r {
            let mut c = 0i64;
            for j in 0..m {
                out[row * m + j] = c;
                c += v[row * m + j] as i64;
            }
        }
        Ok(Array::from_vec(out, a.shape()))
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(self, inputs)
    }
    fn differentiable(&self) -> bool {
        false
    }
}

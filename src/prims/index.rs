//! Indexing primitives and their transposes: index_select ↔ index_add (a 1-d index along one
//! dim), gather ↔ scatter_add (an index of the operand's rank). The index operand is i64 and
//! carries no derivative; it may itself be batched. All four are linear in the value operand.

use super::{Grads, PrimKind, Primitive, physical_dim, with_batch};
use crate::array::{Array, Shape};
use crate::core::Tensor;
use crate::core::bind;
use crate::error::{Error, Result};
use crate::kernels::index;
use smallvec::smallvec;

/// Shape `[B, 1, .., 1, k, 1, .., 1]` broadcast to `[B, *shape with dim = k]`: a batched 1-d
/// index turned into a gather index.
fn gather_index(idx: &Tensor, x_phys_shape: &[usize], dim: usize) -> Result<Tensor> {
    let (b, k) = (idx.shape()[0], idx.shape()[1]);
    let mut s = vec![1i64; x_phys_shape.len()];
    s[0] = b as i64;
    s[physical_dim(dim)] = k as i64;
    let mut to = x_phys_shape.to_vec();
    to[physical_dim(dim)] = k;
    idx.reshape(&s)?.broadcast_to(&to)
}

/// `x` restricted to the positions `idx` lists along `dim`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct IndexSelect {
    pub(crate) dim: usize,
}

impl Primitive for IndexSelect {
    fn name(&self) -> &'static str {
        "index_select"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Gather
    }
    fn linear(&self) -> bool {
        true
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        index::index_select(inputs[0], self.dim, inputs[1])
    }
    fn vjp(&self, inputs: &[Tensor], _: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        let add = IndexAdd {
            dim: self.dim,
            size: inputs[0].shape()[self.dim],
        };
        Ok(smallvec![Some(bind(&add, &[ct, &inputs[1]])?), None])
    }
    fn batch(&self, inputs: &[&Tensor], batched: &[bool], size: usize) -> Result<Tensor> {
        if !batched[1] {
            return bind(
                &IndexSelect {
                    dim: physical_dim(self.dim),
                },
                inputs,
            );
        }
        let x = with_batch(inputs[0], batched[0], size)?;
        let idx = gather_index(inputs[1], x.shape(), self.dim)?;
        bind(
            &Gather {
                dim: physical_dim(self.dim),
            },
            &[&x, &idx],
        )
    }
}

/// Zeros with `dim` of size `size`, plus the operand's slices added at the positions `idx`
/// lists: the transpose of [`IndexSelect`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct IndexAdd {
    pub(crate) dim: usize,
    pub(crate) size: usize,
}

impl Primitive for IndexAdd {
    fn name(&self) -> &'static str {
        "index_add"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Scatter
    }
    fn linear(&self) -> bool {
        true
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        index::index_add(inputs[0], self.dim, inputs[1], self.size)
    }
    fn vjp(&self, inputs: &[Tensor], _: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        Ok(smallvec![
            Some(bind(&IndexSelect { dim: self.dim }, &[ct, &inputs[1]])?),
            None
        ])
    }
    fn batch(&self, inputs: &[&Tensor], batched: &[bool], size: usize) -> Result<Tensor> {
        let src = with_batch(inputs[0], batched[0], size)?;
        if !batched[1] {
            return bind(
                &IndexAdd {
                    dim: physical_dim(self.dim),
                    size: self.size,
                },
                &[&src, inputs[1]],
            );
        }
        let idx = gather_index(inputs[1], src.shape(), self.dim)?;
        let mut shape: Shape = src.shape().into();
        shape[physical_dim(self.dim)] = self.size;
        bind(
            &ScatterAdd {
                dim: physical_dim(self.dim),
                shape,
            },
            &[&src, &idx],
        )
    }
}

/// `out[p] = x[p with p[dim] = idx[p]]` (torch.gather).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Gather {
    pub(crate) dim: usize,
}

impl Primitive for Gather {
    fn name(&self) -> &'static str {
        "gather"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Gather
    }
    fn linear(&self) -> bool {
        true
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        index::gather(inputs[0], self.dim, inputs[1])
    }
    fn vjp(&self, inputs: &[Tensor], _: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        let s = ScatterAdd {
            dim: self.dim,
            shape: inputs[0].shape().into(),
        };
        Ok(smallvec![Some(bind(&s, &[ct, &inputs[1]])?), None])
    }
    fn batch(&self, inputs: &[&Tensor], batched: &[bool], size: usize) -> Result<Tensor> {
        let x = with_batch(inputs[0], batched[0], size)?;
        let idx = with_batch(inputs[1], batched[1], size)?;
        bind(
            &Gather {
                dim: physical_dim(self.dim),
            },
            &[&x, &idx],
        )
    }
}

/// Zeros of `shape`, plus `src[p]` added at `p with p[dim] = idx[p]`: the transpose of [`Gather`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ScatterAdd {
    pub(crate) dim: usize,
    pub(crate) shape: Shape,
}

impl Primitive for ScatterAdd {
    fn name(&self) -> &'static str {
        "scatter_add"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Scatter
    }
    fn linear(&self) -> bool {
        true
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        index::scatter_add(inputs[0], self.dim, inputs[1], &self.shape)
    }
    fn vjp(&self, inputs: &[Tensor], _: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        let g = bind(&Gather { dim: self.dim }, &[ct, &inputs[1]])?;
        // gather reads idx's shape; the source may be larger along some dims (it is not here:
        // the public op requires src and index of the same shape)
        Ok(smallvec![Some(g), None])
    }
    fn batch(&self, inputs: &[&Tensor], batched: &[bool], size: usize) -> Result<Tensor> {
        let src = with_batch(inputs[0], batched[0], size)?;
        let idx = with_batch(inputs[1], batched[1], size)?;
        let mut shape: Shape = smallvec![size];
        shape.extend_from_slice(&self.shape);
        bind(
            &ScatterAdd {
                dim: physical_dim(self.dim),
                shape,
            },
            &[&src, &idx],
        )
    }
}

/// What a [`Check`] requires of its operand's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Condition {
    /// i64 indices in `0..size`; errors report `dim` (in the user's terms).
    Index { dim: usize, size: usize },
    /// Probabilities: `0 ≤ p ≤ 1` (bernoulli).
    Probability,
    /// Scales: `σ ≥ 0` (normal's std).
    NonNegative,
}

/// The identity on a tensor whose values must meet a [`Condition`]: a check that runs in the
/// kernel, where the values are known under every transform (a check of concrete tensors in
/// the op, or a decomposition such as `one_hot`, would let batched or traced values through).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Check {
    /// The op the user called.
    pub(crate) op: &'static str,
    pub(crate) cond: Condition,
}

impl Primitive for Check {
    fn name(&self) -> &'static str {
        self.op
    }
    fn kind(&self) -> PrimKind {
        // an identity with a side condition: never folded away, never fused
        PrimKind::Opaque
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        let x = inputs[0];
        let (ok, want): (fn(f64) -> bool, &str) = match self.cond {
            Condition::Index { dim, size } => {
                index::check_range(self.op, x, dim, size)?;
                return Ok(x.clone());
            }
            Condition::Probability => (
                |p| (0.0..=1.0).contains(&p),
                "every probability to be in [0, 1]",
            ),
            Condition::NonNegative => (|s| s >= 0.0, "every element of std to be >= 0"),
        };
        match index::find_float(x, ok) {
            Some(bad) => Err(Error::invalid(
                self.op,
                format!("expected {want}, got {bad}"),
            )),
            None => Ok(x.clone()),
        }
    }
    /// The identity's derivative: the tangent passes through (indices have none).
    fn jvp(&self, _: &[&Tensor], t: &[Option<&Tensor>], _: &Tensor) -> Result<Option<Tensor>> {
        Ok(t[0].cloned())
    }
    fn vjp(&self, _: &[Tensor], _: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        Ok(smallvec![self.differentiable().then(|| ct.clone())])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(self, inputs)
    }
    fn differentiable(&self) -> bool {
        !matches!(self.cond, Condition::Index { .. })
    }
}

/// `x` after checking (in a kernel, so under every transform) that its values meet `cond`;
/// errors name `op`.
pub(crate) fn checked(op: &'static str, x: &Tensor, cond: Condition) -> Result<Tensor> {
    bind(&Check { op, cond }, &[x])
}

/// `index` after checking (in a kernel, so under every transform) that its values lie in
/// `0..size`; errors name `op` and the user's `dim`, whatever batch dims a transform added.
pub(crate) fn checked_index(
    op: &'static str,
    index: &Tensor,
    dim: usize,
    size: usize,
) -> Result<Tensor> {
    checked(op, index, Condition::Index { dim, size })
}

//! Shape primitives: reshape, permute, broadcast, strided slice and its transpose (pad),
//! concatenation, flip. All are linear: the jvp is the op applied to the tangent (declared by
//! `linear`, derived in `core`), the vjp applies the transpose. Most evaluate as views (no
//! copy).

use super::{Grads, PrimKind, Primitive, physical_dim, with_batch};
use crate::array::{Array, Shape};
use crate::core::Tensor;
use crate::core::bind;
use crate::error::Result;
use crate::kernels::copy::{concat, pad_strided};
use smallvec::{SmallVec, smallvec};

fn batched_shape(size: usize, shape: &[usize]) -> Shape {
    let mut s: Shape = smallvec![size];
    s.extend_from_slice(shape);
    s
}

/// View (or copy) with a new shape of the same number of elements.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Reshape {
    pub(crate) shape: Shape,
}

impl Primitive for Reshape {
    fn name(&self) -> &'static str {
        "reshape"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::View
    }
    fn linear(&self) -> bool {
        true
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        Ok(inputs[0].reshape(&self.shape))
    }
    fn vjp(&self, inputs: &[Tensor], _: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        Ok(smallvec![Some(bind(
            &Reshape {
                shape: inputs[0].shape().into()
            },
            &[ct]
        )?)])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], size: usize) -> Result<Tensor> {
        bind(
            &Reshape {
                shape: batched_shape(size, &self.shape),
            },
            inputs,
        )
    }
}

/// Reorder all dims (a view).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Permute {
    pub(crate) perm: SmallVec<[usize; 4]>,
}

impl Primitive for Permute {
    fn name(&self) -> &'static str {
        "permute"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::View
    }
    fn linear(&self) -> bool {
        true
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        Ok(inputs[0].permute(&self.perm))
    }
    fn vjp(&self, _: &[Tensor], _: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        let mut inv: SmallVec<[usize; 4]> = smallvec![0; self.perm.len()];
        for (i, &p) in self.perm.iter().enumerate() {
            inv[p] = i;
        }
        Ok(smallvec![Some(bind(&Permute { perm: inv }, &[ct])?)])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        let perm = std::iter::once(0)
            .chain(self.perm.iter().map(|&p| physical_dim(p)))
            .collect();
        bind(&Permute { perm }, inputs)
    }
}

/// Broadcast to a shape (a view with zero strides; new leading dims allowed).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct BroadcastTo {
    pub(crate) shape: Shape,
}

impl Primitive for BroadcastTo {
    fn name(&self) -> &'static str {
        "broadcast_to"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::View
    }
    fn linear(&self) -> bool {
        true
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        Ok(inputs[0].broadcast_to(&self.shape))
    }
    fn vjp(&self, inputs: &[Tensor], _: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        Ok(smallvec![Some(ct.sum_to_size(inputs[0].shape())?)])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], size: usize) -> Result<Tensor> {
        let x = inputs[0];
        let logical = x.ndim() - 1;
        let x = if logical < self.shape.len() {
            let mut s: Vec<i64> = vec![size as i64];
            s.extend(std::iter::repeat_n(1, self.shape.len() - logical));
            s.extend(x.shape()[1..].iter().map(|&d| d as i64));
            x.reshape(&s)?
        } else {
            x.clone()
        };
        bind(
            &BroadcastTo {
                shape: batched_shape(size, &self.shape),
            },
            &[&x],
        )
    }
}

/// `x[start : start + len*step : step]` along `dim` (a view).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Slice {
    pub(crate) dim: usize,
    pub(crate) start: usize,
    pub(crate) len: usize,
    pub(crate) step: usize,
}

impl Primitive for Slice {
    fn name(&self) -> &'static str {
        "slice"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::View
    }
    fn linear(&self) -> bool {
        true
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        Ok(inputs[0].slice(self.dim, self.start, self.len, self.step))
    }
    fn vjp(&self, inputs: &[Tensor], _: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        let pad = Pad {
            dim: self.dim,
            start: self.start,
            step: self.step,
            size: inputs[0].shape()[self.dim],
        };
        Ok(smallvec![Some(bind(&pad, &[ct])?)])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(
            &Slice {
                dim: physical_dim(self.dim),
                ..self.clone()
            },
            inputs,
        )
    }
}

/// Zeros with `dim` of size `size`, and the operand written at `start, start + step, ...`: the
/// transpose of [`Slice`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Pad {
    pub(crate) dim: usize,
    pub(crate) start: usize,
    pub(crate) step: usize,
    pub(crate) size: usize,
}

impl Primitive for Pad {
    fn name(&self) -> &'static str {
        "pad"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Scatter
    }
    fn linear(&self) -> bool {
        true
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        Ok(pad_strided(
            inputs[0], self.dim, self.start, self.step, self.size,
        ))
    }
    fn vjp(&self, inputs: &[Tensor], _: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        let s = Slice {
            dim: self.dim,
            start: self.start,
            len: inputs[0].shape()[self.dim],
            step: self.step,
        };
        Ok(smallvec![Some(bind(&s, &[ct])?)])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(
            &Pad {
                dim: physical_dim(self.dim),
                ..self.clone()
            },
            inputs,
        )
    }
}

/// Concatenation along an existing dim.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Concat {
    pub(crate) dim: usize,
}

impl Primitive for Concat {
    fn name(&self) -> &'static str {
        "cat"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Scatter
    }
    fn linear(&self) -> bool {
        true
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        super::expect_same_dtype("cat", inputs)?;
        Ok(concat(inputs, self.dim))
    }
    fn vjp(&self, inputs: &[Tensor], _: &Tensor, ct: &Tensor, needs: &[bool]) -> Result<Grads> {
        let mut at = 0;
        let mut out = Grads::new();
        for (x, &need) in inputs.iter().zip(needs) {
            let len = x.shape()[self.dim];
            out.push(
                need.then(|| {
                    bind(
                        &Slice {
                            dim: self.dim,
                            start: at,
                            len,
                            step: 1,
                        },
                        &[ct],
                    )
                })
                .transpose()?,
            );
            at += len;
        }
        Ok(out)
    }
    fn batch(&self, inputs: &[&Tensor], batched: &[bool], size: usize) -> Result<Tensor> {
        let vs: Vec<Tensor> = inputs
            .iter()
            .zip(batched)
            .map(|(t, &b)| with_batch(t, b, size))
            .collect::<Result<_>>()?;
        let refs: Vec<&Tensor> = vs.iter().collect();
        bind(
            &Concat {
                dim: physical_dim(self.dim),
            },
            &refs,
        )
    }
}

/// Reverse the listed dims (a view with negative strides).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Flip {
    pub(crate) dims: SmallVec<[usize; 4]>,
}

impl Primitive for Flip {
    fn name(&self) -> &'static str {
        "flip"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::View
    }
    fn linear(&self) -> bool {
        true
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        Ok(inputs[0].flip(&self.dims))
    }
    fn vjp(&self, _: &[Tensor], _: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        Ok(smallvec![Some(bind(self, &[ct])?)])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(
            &Flip {
                dims: self.dims.iter().map(|&d| physical_dim(d)).collect(),
            },
            inputs,
        )
    }
}

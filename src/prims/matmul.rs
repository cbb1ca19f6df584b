//! Batched matrix product of operands of rank ≥ 2 with broadcast batch dims. (torch.matmul's
//! 1-d promotion rules are a decomposition in `ops::matmul`.)

use super::{Grads, PrimKind, Primitive, align_for_broadcast};
use crate::array::{Array, DType};
use crate::core::Tensor;
use crate::core::bind;
use crate::error::{Error, Result};
use crate::kernels::matmul::matmul;
use smallvec::smallvec;

/// `a[..., m, k] @ b[..., k, n]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct MatMul;

impl Primitive for MatMul {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Contraction
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        super::expect_same_dtype("matmul", inputs)?;
        crate::array::matmul_shape("matmul", inputs[0].shape(), inputs[1].shape())?;
        Ok(match inputs[0].dtype() {
            DType::F32 => matmul::<f32>(inputs[0], inputs[1]),
            DType::F64 => matmul::<f64>(inputs[0], inputs[1]),
            d => {
                return Err(Error::DType {
                    op: "matmul",
                    expected: "float tensors",
                    got: d,
                });
            }
        })
    }
    fn jvp(&self, p: &[&Tensor], t: &[Option<&Tensor>], out: &Tensor) -> Result<Option<Tensor>> {
        let ta = t[0].map(|ta| bind(self, &[ta, p[1]])).transpose()?;
        let tb = t[1].map(|tb| bind(self, &[p[0], tb])).transpose()?;
        let r = match (ta, tb) {
            (Some(x), Some(y)) => x.add(&y)?,
            (x, y) => x.or(y).unwrap(),
        };
        Ok(Some(if r.shape() == out.shape() {
            r
        } else {
            r.broadcast_to(out.shape())?
        }))
    }
    fn vjp(&self, inputs: &[Tensor], _: &Tensor, ct: &Tensor, needs: &[bool]) -> Result<Grads> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let ga = needs[0]
            .then(|| bind(self, &[ct, &b.mt()?])?.sum_to_size(a.shape()))
            .transpose()?;
        let gb = needs[1]
            .then(|| bind(self, &[&a.mt()?, ct])?.sum_to_size(b.shape()))
            .transpose()?;
        Ok(smallvec![ga, gb])
    }
    fn batch(&self, inputs: &[&Tensor], batched: &[bool], _: usize) -> Result<Tensor> {
        // batch dims broadcast like elementwise dims once the logical ranks are aligned
        let v = align_for_broadcast(inputs, batched)?;
        bind(self, &[&v[0], &v[1]])
    }
}

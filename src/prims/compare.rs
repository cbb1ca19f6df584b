//! Comparisons (giving bool masks), logic on masks, and `where` (select). Masks carry no
//! derivative; `where` is linear in its branches (the mask held fixed).

use super::{Grads, PrimKind, Primitive, align_for_broadcast};
use crate::array::{AlignedVec, Array, DType, Element, View, broadcast_shapes};
use crate::core::Tensor;
use crate::core::bind;
use crate::error::{Error, Result};
use crate::kernels::strided::{map1, map2, map3};
use smallvec::smallvec;

/// Which comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum CmpOp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

fn compare<T: Element>(op: CmpOp, a: View<'_, T>, b: View<'_, T>) -> AlignedVec<bool> {
    use CmpOp::*;
    match op {
        Gt => map2(a, b, |x, y| x > y),
        Ge => map2(a, b, |x, y| x >= y),
        Lt => map2(a, b, |x, y| x < y),
        Le => map2(a, b, |x, y| x <= y),
        Eq => map2(a, b, |x, y| x == y),
        Ne => map2(a, b, |x, y| x != y),
    }
}

/// `a op b` elementwise, with broadcasting; a bool mask.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Compare(pub(crate) CmpOp);

impl Primitive for Compare {
    fn name(&self) -> &'static str {
        match self.0 {
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
        }
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Elementwise
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        super::expect_same_dtype(self.name(), inputs)?;
        let shape = broadcast_shapes(self.name(), inputs[0].shape(), inputs[1].shape())?;
        let (a, b) = (
            inputs[0].broadcast_to(&shape),
            inputs[1].broadcast_to(&shape),
        );
        let v = match a.dtype() {
            DType::F32 => compare(self.0, a.v::<f32>(), b.v::<f32>()),
            DType::F64 => compare(self.0, a.v::<f64>(), b.v::<f64>()),
            DType::I64 => compare(self.0, a.v::<i64>(), b.v::<i64>()),
            DType::Bool => compare(self.0, a.v::<bool>(), b.v::<bool>()),
        };
        Ok(Array::from_vec(v, &shape))
    }
    fn batch(&self, inputs: &[&Tensor], batched: &[bool], _: usize) -> Result<Tensor> {
        let v = align_for_broadcast(inputs, batched)?;
        bind(self, &[&v[0], &v[1]])
    }
    fn differentiable(&self) -> bool {
        false
    }
}

/// Which logical operation on masks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum LogicOp {
    And,
    Or,
    Xor,
    Not,
}

/// Logic on bool masks (`Not` is unary).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Logical(pub(crate) LogicOp);

impl Primitive for Logical {
    fn name(&self) -> &'static str {
        match self.0 {
            LogicOp::And => "logical_and",
            LogicOp::Or => "logical_or",
            LogicOp::Xor => "logical_xor",
            LogicOp::Not => "logical_not",
        }
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Elementwise
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        for a in inputs {
            if a.dtype() != DType::Bool {
                return Err(Error::DType {
                    op: self.name(),
                    expected: "bool tensors",
                    got: a.dtype(),
                });
            }
        }
        if self.0 == LogicOp::Not {
            return Ok(Array::from_vec(
                map1(inputs[0].v::<bool>(), |x| !x),
                inputs[0].shape(),
            ));
        }
        let shape = broadcast_shapes(self.name(), inputs[0].shape(), inputs[1].shape())?;
        let (a, b) = (
            inputs[0].broadcast_to(&shape),
            inputs[1].broadcast_to(&shape),
        );
        let (a, b) = (a.v::<bool>(), b.v::<bool>());
        let v = match self.0 {
            LogicOp::And => map2(a, b, |x, y| x & y),
            LogicOp::Or => map2(a, b, |x, y| x | y),
            LogicOp::Xor => map2(a, b, |x, y| x ^ y),
            LogicOp::Not => unreachable!(),
        };
        Ok(Array::from_vec(v, &shape))
    }
    fn batch(&self, inputs: &[&Tensor], batched: &[bool], _: usize) -> Result<Tensor> {
        let v = align_for_broadcast(inputs, batched)?;
        let refs: Vec<&Tensor> = v.iter().collect();
        bind(self, &refs)
    }
    fn differentiable(&self) -> bool {
        false
    }
}

/// `where(cond, a, b)`: `a` where the mask is true, `b` elsewhere, all three broadcast.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Where;

fn select<T: Element>(c: View<'_, bool>, a: View<'_, T>, b: View<'_, T>) -> AlignedVec<T> {
    map3(c, a, b, |c, x, y| if c { x } else { y })
}

impl Primitive for Where {
    fn name(&self) -> &'static str {
        "where"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Elementwise
    }
    /// Linear in the two branches, with the mask held fixed.
    fn linear(&self) -> bool {
        true
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        let (c, a, b) = (inputs[0], inputs[1], inputs[2]);
        super::expect_same_dtype("where", &[a, b])?;
        let shape = broadcast_shapes("where", c.shape(), a.shape())?;
        let shape = broadcast_shapes("where", &shape, b.shape())?;
        let (c, a, b) = (
            c.broadcast_to(&shape),
            a.broadcast_to(&shape),
            b.broadcast_to(&shape),
        );
        let c = c.v::<bool>();
        Ok(match a.dtype() {
            DType::F32 => Array::from_vec(select(c, a.v::<f32>(), b.v::<f32>()), &shape),
            DType::F64 => Array::from_vec(select(c, a.v::<f64>(), b.v::<f64>()), &shape),
            DType::I64 => Array::from_vec(select(c, a.v::<i64>(), b.v::<i64>()), &shape),
            DType::Bool => Array::from_vec(select(c, a.v::<bool>(), b.v::<bool>()), &shape),
        })
    }
    fn vjp(&self, inputs: &[Tensor], out: &Tensor, ct: &Tensor, needs: &[bool]) -> Result<Grads> {
        let zero = Tensor::zeros(&[], out.dtype())?;
        let ga = needs[1]
            .then(|| Tensor::where_(&inputs[0], ct, &zero)?.sum_to_size(inputs[1].shape()))
            .transpose()?;
        let gb = needs[2]
            .then(|| Tensor::where_(&inputs[0], &zero, ct)?.sum_to_size(inputs[2].shape()))
            .transpose()?;
        Ok(smallvec![None, ga, gb])
    }
    fn batch(&self, inputs: &[&Tensor], batched: &[bool], _: usize) -> Result<Tensor> {
        let v = align_for_broadcast(inputs, batched)?;
        bind(self, &[&v[0], &v[1], &v[2]])
    }
}

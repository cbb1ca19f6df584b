//! Elementwise binary ops with NumPy broadcasting. Each op is one row of the tables below: its
//! scalar function and its two partial derivatives (with public ops). The jvp, vjp and batch
//! rules are shared by the family: the jvp sums `tangent_i * partial_i`, the vjp reduces
//! `cotangent * partial_i` back to each operand's shape, the batch rule aligns ranks and
//! broadcasts.

use super::{Grads, Primitive, align_for_broadcast};
use crate::array::{Array, DType, Float, Shape, View, broadcast_shapes};
use crate::core::Tensor;
use crate::core::bind;
use crate::error::{Error, Result};
use crate::kernels::strided::map2;
use smallvec::smallvec;

/// Which binary function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Maximum,
    Minimum,
    Atan2,
}

/// A partial derivative.
enum Partial {
    Const(f64),
    T(Tensor),
}

fn eval_float<T: Float>(op: BinaryOp, a: View<'_, T>, b: View<'_, T>) -> Vec<T> {
    use BinaryOp::*;
    match op {
        Add => map2(a, b, |x, y| x + y),
        Sub => map2(a, b, |x, y| x - y),
        Mul => map2(a, b, |x, y| x * y),
        Div => map2(a, b, |x, y| x / y),
        Pow => map2(a, b, |x, y| x.powf(y)),
        // NaN propagates, as in PyTorch
        Maximum => map2(a, b, |x, y| if x.is_nan() || x > y { x } else { y }),
        Minimum => map2(a, b, |x, y| if x.is_nan() || x < y { x } else { y }),
        Atan2 => map2(a, b, |x, y| x.atan2(y)),
    }
}

fn eval_int(op: BinaryOp, a: View<'_, i64>, b: View<'_, i64>) -> Option<Vec<i64>> {
    use BinaryOp::*;
    Some(match op {
        Add => map2(a, b, |x, y| x.wrapping_add(y)),
        Sub => map2(a, b, |x, y| x.wrapping_sub(y)),
        Mul => map2(a, b, |x, y| x.wrapping_mul(y)),
        Maximum => map2(a, b, |x, y| x.max(y)),
        Minimum => map2(a, b, |x, y| x.min(y)),
        Div | Pow | Atan2 => return None,
    })
}

/// ∂(a op b)/∂a (`i == 0`) or ∂/∂b (`i == 1`), given y = a op b.
fn partial(op: BinaryOp, i: usize, a: &Tensor, b: &Tensor, y: &Tensor) -> Result<Partial> {
    use BinaryOp::*;
    use Partial::*;
    Ok(match (op, i) {
        (Add, _) => Const(1.0),
        (Sub, 0) => Const(1.0),
        (Sub, _) => Const(-1.0),
        (Mul, 0) => T(b.clone()),
        (Mul, _) => T(a.clone()),
        (Div, 0) => T(b.reciprocal()?),
        (Div, _) => T(y.div(b)?.neg()?),
        // b · a^(b-1), with PyTorch's 0 where b = 0 (also at a = 0, where it is 0 · ∞)
        (Pow, 0) => T(Tensor::where_(
            &b.eq_scalar(0.0)?,
            &Tensor::zeros(&[], y.dtype()),
            &b.mul(&a.pow(&b.add_scalar(-1.0)?)?)?,
        )?),
        // y · ln a, with PyTorch's 0 where a = 0 and b ≥ 0
        (Pow, _) => T(Tensor::where_(
            &a.eq_scalar(0.0)?.logical_and(&b.ge_scalar(0.0)?)?,
            &Tensor::zeros(&[], y.dtype()),
            &y.mul(&a.log()?)?,
        )?),
        // ties give each operand half, as in PyTorch
        (Maximum, 0) => T(tie_mask(a.gt(b)?, a, b)?),
        (Maximum, _) => T(tie_mask(b.gt(a)?, a, b)?),
        (Minimum, 0) => T(tie_mask(a.lt(b)?, a, b)?),
        (Minimum, _) => T(tie_mask(b.lt(a)?, a, b)?),
        // atan2(a, b): ∂a = b / (a² + b²), ∂b = -a / (a² + b²)
        (Atan2, 0) => T(b.div(&a.square()?.add(&b.square()?)?)?),
        (Atan2, _) => T(a.neg()?.div(&a.square()?.add(&b.square()?)?)?),
    })
}

/// 1 where `wins`, 0.5 where a == b, 0 elsewhere.
fn tie_mask(wins: Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let dt = a.dtype();
    wins.to_dtype(dt)?
        .add(&a.eq(b)?.to_dtype(dt)?.mul_scalar(0.5)?)
}

/// Whether every element of `x` is the one stored value 1 (a broadcast scalar one).
fn is_broadcast_one(x: &Array) -> bool {
    x.strides()
        .iter()
        .zip(x.shape())
        .all(|(&s, &n)| s == 0 || n == 1)
        && match x.dtype() {
            DType::F32 => x.v::<f32>().data[x.offset] == 1.0,
            DType::F64 => x.v::<f64>().data[x.offset] == 1.0,
            DType::I64 => x.v::<i64>().data[x.offset] == 1,
            DType::Bool => false,
        }
}

/// An elementwise binary function with broadcasting.
#[derive(Clone, Debug)]
pub(crate) struct Binary(pub(crate) BinaryOp);

impl Binary {
    /// `g * partial_i`, shaped like the output.
    fn term(&self, i: usize, g: &Tensor, a: &Tensor, b: &Tensor, y: &Tensor) -> Result<Tensor> {
        match partial(self.0, i, a, b, y)? {
            Partial::Const(c) => {
                let g = if c == 1.0 {
                    g.clone()
                } else {
                    g.mul_scalar(c)?
                };
                if g.shape() == y.shape() {
                    Ok(g)
                } else {
                    g.broadcast_to(y.shape())
                }
            }
            Partial::T(d) => {
                let t = g.mul(&d)?;
                if t.shape() == y.shape() {
                    Ok(t)
                } else {
                    t.broadcast_to(y.shape())
                }
            }
        }
    }
}

impl Primitive for Binary {
    fn name(&self) -> &'static str {
        use BinaryOp::*;
        match self.0 {
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            Pow => "pow",
            Maximum => "maximum",
            Minimum => "minimum",
            Atan2 => "atan2",
        }
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        let (a, b) = (inputs[0], inputs[1]);
        super::expect_same_dtype(self.name(), inputs)?;
        let (ab, bb, shape);
        let (a, b) = if a.shape() == b.shape() {
            shape = Shape::from_slice(a.shape());
            (a, b)
        } else {
            shape = broadcast_shapes(self.name(), a.shape(), b.shape())?;
            (ab, bb) = (a.broadcast_to(&shape), b.broadcast_to(&shape));
            (&ab, &bb)
        };
        // `x · 1` is exactly `x` (NaN, ±∞ and -0 included): reverse mode seeds cotangents with a
        // broadcast one, and under jvp or vmap multiplying a large tangent by it would cost a
        // full pass
        if self.0 == BinaryOp::Mul {
            if is_broadcast_one(a) {
                return Ok(b.clone());
            }
            if is_broadcast_one(b) {
                return Ok(a.clone());
            }
        }
        Ok(match a.dtype() {
            DType::F32 => Array::from_vec(eval_float(self.0, a.v::<f32>(), b.v::<f32>()), &shape),
            DType::F64 => Array::from_vec(eval_float(self.0, a.v::<f64>(), b.v::<f64>()), &shape),
            DType::I64 => match eval_int(self.0, a.v::<i64>(), b.v::<i64>()) {
                Some(v) => Array::from_vec(v, &shape),
                None => {
                    return Err(Error::DType {
                        op: self.name(),
                        expected: "float tensors",
                        got: DType::I64,
                    });
                }
            },
            d => {
                return Err(Error::DType {
                    op: self.name(),
                    expected: "numeric tensors",
                    got: d,
                });
            }
        })
    }
    fn jvp(&self, p: &[&Tensor], t: &[Option<&Tensor>], out: &Tensor) -> Result<Option<Tensor>> {
        let (a, b) = (p[0], p[1]);
        let ta = t[0].map(|g| self.term(0, g, a, b, out)).transpose()?;
        let tb = t[1].map(|g| self.term(1, g, a, b, out)).transpose()?;
        Ok(match (ta, tb) {
            (Some(x), Some(y)) => Some(x.add(&y)?),
            (x, y) => x.or(y),
        })
    }
    fn vjp(&self, inputs: &[Tensor], out: &Tensor, ct: &Tensor, needs: &[bool]) -> Result<Grads> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let ga = needs[0]
            .then(|| self.term(0, ct, a, b, out)?.sum_to_size(a.shape()))
            .transpose()?;
        let gb = needs[1]
            .then(|| self.term(1, ct, a, b, out)?.sum_to_size(b.shape()))
            .transpose()?;
        Ok(smallvec![ga, gb])
    }
    fn batch(&self, inputs: &[&Tensor], batched: &[bool], _: usize) -> Result<Tensor> {
        let v = align_for_broadcast(inputs, batched)?;
        bind(self, &[&v[0], &v[1]])
    }
}

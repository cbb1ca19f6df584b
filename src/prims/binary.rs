//! Elementwise binary ops with NumPy broadcasting. Each op is one row of the table below: its
//! name, its float kernel, its i64 kernel (none: the op is float-only) and its two partial
//! derivatives (with public ops). The jvp, vjp and batch rules are shared by the family: the
//! jvp sums `tangent_i * partial_i`, the vjp reduces `cotangent * partial_i` back to each
//! operand's shape, the batch rule aligns ranks and broadcasts.

use super::{Grads, PrimKind, Primitive, align_for_broadcast};
use crate::array::{AlignedVec, Array, DType, Float, Shape, View, broadcast_shapes};
use crate::core::Tensor;
use crate::core::bind;
use crate::error::{Error, Result};
use crate::kernels::strided::{Cost, map2, map2_at};
use smallvec::smallvec;

/// Which binary function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

/// Something that takes a binary op's float function: a loop written elsewhere (the fused
/// loops of `jit`), monomorphized for each op.
pub(crate) trait ScalarFn2<T> {
    /// What the visit returns.
    type Out;
    /// Run with `f`, the op's function.
    fn visit(self, f: impl Fn(T, T) -> T + Copy) -> Self::Out;
}

/// A partial derivative. Table rows give a number or a tensor and `From` wraps it.
enum Partial {
    Const(f64),
    Tensor(Tensor),
}

impl From<f64> for Partial {
    fn from(c: f64) -> Partial {
        Partial::Const(c)
    }
}

impl From<Tensor> for Partial {
    fn from(t: Tensor) -> Partial {
        Partial::Tensor(t)
    }
}

macro_rules! binary_family {
    ($( $op:ident => $name:literal,
        kernel |$x:ident, $y:ident| $k:expr,
        int ($(|$ix:ident, $iy:ident| $ik:expr)?),
        da |$a:ident, $b:ident, $out:ident| $da:expr,
        db $db:expr; )*) => {
        impl BinaryOp {
            /// The op's name (the public method's).
            pub(crate) fn name(self) -> &'static str {
                match self { $( BinaryOp::$op => $name, )* }
            }
            /// Whether the op has no i64 kernel (it takes float operands only).
            pub(crate) fn float_only(self) -> bool {
                match self { $( BinaryOp::$op => binary_family!(@none $($ik)?), )* }
            }
        }
        fn eval_float<T: Float>(op: BinaryOp, a: View<'_, T>, b: View<'_, T>) -> AlignedVec<T> {
            let cost = float_cost::<T>(op);
            match op { $( BinaryOp::$op => map2_at(a, b, cost, |$x: T, $y: T| $k), )* }
        }
        impl BinaryOp {
            /// Hand the op's float function (the table's kernel, which eager evaluation runs)
            /// to `v`, as a closure loops can inline.
            pub(crate) fn visit<T: Float, V: ScalarFn2<T>>(self, v: V) -> V::Out {
                match self { $( BinaryOp::$op => v.visit(|$x: T, $y: T| $k), )* }
            }
        }
        /// `None` for a float-only op.
        fn eval_int(
            op: BinaryOp,
            a: View<'_, i64>,
            b: View<'_, i64>,
        ) -> Option<AlignedVec<i64>> {
            match op { $( BinaryOp::$op => binary_family!(@int a, b $(, |$ix, $iy| $ik)?), )* }
        }
        /// ∂(a op b)/∂a (`i == 0`) or ∂/∂b (`i == 1`), given y = a op b.
        fn partial(op: BinaryOp, i: usize, a: &Tensor, b: &Tensor, y: &Tensor) -> Result<Partial> {
            Ok(match op {
                $( BinaryOp::$op => {
                    #[allow(unused_variables)]
                    let ($a, $b, $out) = (a, b, y);
                    if i == 0 { Partial::from($da) } else { Partial::from($db) }
                } )*
            })
        }
    };
    (@none) => { true };
    (@none $ik:expr) => { false };
    (@int $a:ident, $b:ident) => { None };
    (@int $a:ident, $b:ident, |$ix:ident, $iy:ident| $ik:expr) => {
        Some(map2($a, $b, |$ix: i64, $iy: i64| $ik))
    };
}

binary_family! {
    Add => "add", kernel |x, y| x + y, int(|x, y| x.wrapping_add(y)),
        da |a, b, y| 1.0, db 1.0;
    Sub => "sub", kernel |x, y| x - y, int(|x, y| x.wrapping_sub(y)),
        da |a, b, y| 1.0, db -1.0;
    Mul => "mul", kernel |x, y| x * y, int(|x, y| x.wrapping_mul(y)),
        da |a, b, y| b.clone(), db a.clone();
    Div => "div", kernel |x, y| x / y, int(),
        da |a, b, y| b.reciprocal()?, db y.div(b)?.neg()?;
    // ∂a: b · a^(b-1), with PyTorch's 0 where b = 0 (also at a = 0, where it is 0 · ∞);
    // ∂b: y · ln a, with PyTorch's 0 where a = 0 and b ≥ 0
    Pow => "pow", kernel |x, y| x.powf(y), int(),
        da |a, b, y| Tensor::where_(
            &b.eq_scalar(0.0)?,
            &Tensor::zeros(&[], y.dtype())?,
            &b.mul(&a.pow(&b.add_scalar(-1.0)?)?)?,
        )?,
        db Tensor::where_(
            &a.eq_scalar(0.0)?.logical_and(&b.ge_scalar(0.0)?)?,
            &Tensor::zeros(&[], y.dtype())?,
            &y.mul(&a.log()?)?,
        )?;
    // NaN propagates, as in PyTorch; ties give each operand half of the derivative
    Maximum => "maximum", kernel |x, y| if x.is_nan() || x > y { x } else { y }, int(|x, y| x.max(y)),
        da |a, b, y| tie_mask(a.gt(b)?, a, b)?, db tie_mask(b.gt(a)?, a, b)?;
    Minimum => "minimum", kernel |x, y| if x.is_nan() || x < y { x } else { y }, int(|x, y| x.min(y)),
        da |a, b, y| tie_mask(a.lt(b)?, a, b)?, db tie_mask(b.lt(a)?, a, b)?;
    // atan2(a, b): ∂a = b / (a² + b²), ∂b = -a / (a² + b²)
    Atan2 => "atan2", kernel |x, y| x.atan2(y), int(),
        da |a, b, y| b.div(&a.square()?.add(&b.square()?)?)?,
        db a.neg()?.div(&a.square()?.add(&b.square()?)?)?;
}

impl BinaryOp {
    /// Whether the op's kernels take operands of `dtype` (floats always, i64 unless the op is
    /// float-only, bool never).
    pub(crate) fn accepts(self, dtype: DType) -> bool {
        match dtype {
            DType::F32 | DType::F64 => true,
            DType::I64 => !self.float_only(),
            DType::Bool => false,
        }
    }
    /// Whether the op is linear in (a, b) jointly.
    fn linear(self) -> bool {
        matches!(self, BinaryOp::Add | BinaryOp::Sub)
    }
}

/// One thread's time per element of `op`'s float kernel (NOTE: [par-work]): libm's `pow` and
/// `atan2` in f64 and f32, or the memory traffic of plain arithmetic. Measured on AMD Zen 4
/// (medians of single calls on 4096 elements, one thread): `pow` 10 ns an f64 element and 4–7
/// ns an f32 one, `atan2` 24 and 17 ns in a window where `pow` read 17 and 7 ns, so about 14
/// and 10 ns.
fn float_cost<T: Float>(op: BinaryOp) -> Cost {
    let [f64_ps, f32_ps] = match op {
        BinaryOp::Pow => [10_000, 5_000],
        BinaryOp::Atan2 => [14_000, 10_000],
        _ => return Cost::traffic(3 * size_of::<T>()),
    };
    Cost(if size_of::<T>() == 4 { f32_ps } else { f64_ps })
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
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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
            Partial::Tensor(d) => {
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
        self.0.name()
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Elementwise
    }
    fn linear(&self) -> bool {
        self.0.linear()
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

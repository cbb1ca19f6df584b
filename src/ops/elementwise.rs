//! Elementwise ops: unary math, binary arithmetic with broadcasting (tensor–tensor and
//! tensor–scalar), comparisons, logic, `where`, `clamp`, casts, and the `+ - * /` operators.

use super::require_dtype;
use crate::array::{DType, broadcast_shapes};
use crate::core::Tensor;
use crate::core::bind;
use crate::error::Result;
use crate::prims::Bits;
use crate::prims::binary::{Binary, BinaryOp};
use crate::prims::cast::{Cast, Detach};
use crate::prims::compare::{CmpOp, Compare, LogicOp, Logical, Where};
use crate::prims::unary::{Unary, UnaryOp};

fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    if !op.accepts(x.dtype()) {
        return Err(crate::Error::DType {
            op: op.name(),
            expected: "a float tensor",
            got: x.dtype(),
        });
    }
    bind(&Unary(op), &[x])
}

/// PyTorch's type promotion of two operands (`torch.result_type`): bool < int64 < float32 <
/// float64 within the operands that have dims; a 0-d operand only raises the result to a higher
/// category (bool, integer, float), so `f32[3] + f64[]` is f32 but `i64[3] + f64[]` is f64.
pub(crate) fn result_type(a: &Tensor, b: &Tensor) -> DType {
    fn rank(d: DType) -> u8 {
        match d {
            DType::Bool => 0,
            DType::I64 => 1,
            DType::F32 => 2,
            DType::F64 => 3,
        }
    }
    let promote = |x: Option<DType>, y: DType| match x {
        Some(x) if rank(x) >= rank(y) => Some(x),
        _ => Some(y),
    };
    let (mut dim, mut zero) = (None, None);
    for t in [a, b] {
        if t.ndim() > 0 {
            dim = promote(dim, t.dtype());
        } else {
            zero = promote(zero, t.dtype());
        }
    }
    match (dim, zero) {
        (Some(h), Some(l)) if !h.is_float() && (h == DType::Bool || l.is_float()) => {
            promote(Some(h), l).unwrap()
        }
        (Some(h), _) => h,
        (None, Some(l)) => l,
        (None, None) => unreachable!("two operands"),
    }
}

/// Both operands in their common dtype (see [`result_type`]); the casts carry the derivatives,
/// so each input's gradient comes back in its own dtype.
fn promoted(a: &Tensor, b: &Tensor) -> Result<(Tensor, Tensor)> {
    if a.dtype() == b.dtype() {
        // nothing to promote (the op's own `bind` applies the rule for escaped tracers)
        return Ok((a.clone(), b.clone()));
    }
    let r = result_type(a, b);
    Ok((a.to_dtype(r)?, b.to_dtype(r)?))
}

/// A scalar as a 0-d operand for `x`: in `x`'s dtype when that holds it exactly (always for a
/// float tensor, as PyTorch keeps a float tensor's dtype against a Python scalar), else as f64,
/// so that `int_tensor.eq_scalar(0.5)` compares with 0.5, not with a truncated 0.
fn scalar_operand(x: &Tensor, value: f64) -> Result<Tensor> {
    let exact = match x.dtype() {
        DType::F32 | DType::F64 => true,
        DType::I64 => value.fract() == 0.0 && value.abs() < 9.2e18,
        DType::Bool => value == 0.0 || value == 1.0,
    };
    let dtype = if exact { x.dtype() } else { DType::F64 };
    Tensor::full(&[], value, dtype)
}

fn binary(op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let name = op.name();
    let (a, b) = &promoted(a, b)?;
    if !op.accepts(a.dtype()) {
        return Err(crate::Error::DType {
            op: name,
            expected: "float tensors",
            got: a.dtype(),
        });
    }
    if a.shape() != b.shape() {
        broadcast_shapes(name, a.shape(), b.shape())?;
    }
    bind(&Binary(op), &[a, b])
}

fn compare(op: CmpOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let p = Compare(op);
    let name = crate::prims::Primitive::name(&p);
    let (a, b) = &promoted(a, b)?;
    if a.shape() != b.shape() {
        broadcast_shapes(name, a.shape(), b.shape())?;
    }
    bind(&p, &[a, b])
}

macro_rules! unary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:ident;)*) => {
        impl Tensor {
            $( $(#[$doc])* pub fn $name(&self) -> Result<Tensor> { unary(UnaryOp::$op, self) } )*
        }
    };
}

unary_methods! {
    /// `-x`.
    neg => Neg;
    /// `|x|` (derivative `sign(x)`, 0 at 0 as in PyTorch).
    abs => Abs;
    /// -1, 0 or 1 (no derivative).
    sign => Sign;
    /// `eˣ`.
    exp => Exp;
    /// `eˣ − 1`, accurate near 0.
    expm1 => Expm1;
    /// Natural logarithm.
    log => Log;
    /// `ln(1 + x)`, accurate near 0.
    log1p => Log1p;
    /// Square root.
    sqrt => Sqrt;
    /// `1/√x`.
    rsqrt => Rsqrt;
    /// `x²`.
    square => Square;
    /// `1/x`.
    reciprocal => Reciprocal;
    /// Sine.
    sin => Sin;
    /// Cosine.
    cos => Cos;
    /// Tangent.
    tan => Tan;
    /// Arcsine.
    asin => Asin;
    /// Arccosine.
    acos => Acos;
    /// Arctangent.
    atan => Atan;
    /// Hyperbolic sine.
    sinh => Sinh;
    /// Hyperbolic cosine.
    cosh => Cosh;
    /// Hyperbolic tangent.
    tanh => Tanh;
    /// `1 / (1 + e⁻ˣ)`.
    sigmoid => Sigmoid;
    /// `max(x, 0)` (derivative 0 at 0, as in PyTorch).
    relu => Relu;
    /// `ln(1 + eˣ)` (PyTorch's: the identity above 20).
    softplus => Softplus;
    /// The error function.
    erf => Erf;
}

macro_rules! binary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:ident;)*) => {
        impl Tensor {
            $( $(#[$doc])* pub fn $name(&self, other: &Tensor) -> Result<Tensor> { binary(BinaryOp::$op, self, other) } )*
        }
    };
}

binary_methods! {
    /// `self + other`, broadcasting.
    add => Add;
    /// `self − other`, broadcasting.
    sub => Sub;
    /// `self · other`, broadcasting.
    mul => Mul;
    /// `self / other`, broadcasting.
    div => Div;
    /// `selfᵒᵗʰᵉʳ`, broadcasting.
    pow => Pow;
    /// Elementwise maximum (ties split the derivative equally, as in PyTorch).
    maximum => Maximum;
    /// Elementwise minimum (ties split the derivative equally, as in PyTorch).
    minimum => Minimum;
    /// `atan2(self, other)`: the angle of the point (other, self).
    atan2 => Atan2;
}

macro_rules! compare_methods {
    ($($(#[$doc:meta])* $name:ident, $sname:ident => $op:ident;)*) => {
        impl Tensor {
            $(
                $(#[$doc])* pub fn $name(&self, other: &Tensor) -> Result<Tensor> { compare(CmpOp::$op, self, other) }
                $(#[$doc])* #[doc = "Against a scalar (in this tensor's dtype if it holds the value exactly, else compared as f64)."]
                pub fn $sname(&self, value: f64) -> Result<Tensor> {
                    compare(CmpOp::$op, self, &scalar_operand(self, value)?)
                }
            )*
        }
    };
}

compare_methods! {
    /// Mask of `self > other`.
    gt, gt_scalar => Gt;
    /// Mask of `self ≥ other`.
    ge, ge_scalar => Ge;
    /// Mask of `self < other`.
    lt, lt_scalar => Lt;
    /// Mask of `self ≤ other`.
    le, le_scalar => Le;
    /// Mask of `self == other`.
    eq, eq_scalar => Eq;
    /// Mask of `self ≠ other`.
    ne, ne_scalar => Ne;
}

impl Tensor {
    /// `self + value`.
    pub fn add_scalar(&self, value: f64) -> Result<Tensor> {
        unary(UnaryOp::AddScalar(Bits(value)), self)
    }
    /// `self − value`.
    pub fn sub_scalar(&self, value: f64) -> Result<Tensor> {
        unary(UnaryOp::AddScalar(Bits(-value)), self)
    }
    /// `value − self`.
    pub fn rsub_scalar(&self, value: f64) -> Result<Tensor> {
        self.neg()?.add_scalar(value)
    }
    /// `self · value`.
    pub fn mul_scalar(&self, value: f64) -> Result<Tensor> {
        unary(UnaryOp::MulScalar(Bits(value)), self)
    }
    /// `self / value`.
    pub fn div_scalar(&self, value: f64) -> Result<Tensor> {
        unary(UnaryOp::MulScalar(Bits(1.0 / value)), self)
    }
    /// `value / self`.
    pub fn rdiv_scalar(&self, value: f64) -> Result<Tensor> {
        unary(UnaryOp::RDivScalar(Bits(value)), self)
    }
    /// `selfᵖ` for a constant exponent.
    pub fn pow_scalar(&self, exponent: f64) -> Result<Tensor> {
        unary(UnaryOp::PowScalar(Bits(exponent)), self)
    }
    /// `min(max(self, min), max)`. The derivative is 1 strictly between the bounds and 0
    /// elsewhere, at the bounds too (as torch 2.15 computes it).
    pub fn clamp(&self, min: f64, max: f64) -> Result<Tensor> {
        unary(UnaryOp::Clamp(Bits(min), Bits(max)), self)
    }
    /// `max(self, min)`.
    pub fn clamp_min(&self, min: f64) -> Result<Tensor> {
        self.clamp(min, f64::INFINITY)
    }
    /// `min(self, max)`.
    pub fn clamp_max(&self, max: f64) -> Result<Tensor> {
        self.clamp(f64::NEG_INFINITY, max)
    }
    /// Elementwise maximum with a scalar.
    pub fn maximum_scalar(&self, value: f64) -> Result<Tensor> {
        self.maximum(&scalar_operand(self, value)?)
    }
    /// Elementwise minimum with a scalar.
    pub fn minimum_scalar(&self, value: f64) -> Result<Tensor> {
        self.minimum(&scalar_operand(self, value)?)
    }

    /// `a` where `cond` is true, `b` elsewhere; all three broadcast. No derivative flows to `cond`.
    ///
    /// ```
    /// use functorch::Tensor;
    /// let x = Tensor::from_slice(&[-1.0, 2.0]);
    /// let y = Tensor::where_(&x.gt_scalar(0.0)?, &x, &x.neg()?)?;
    /// assert_eq!(y.to_vec::<f64>()?, vec![1.0, 2.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn where_(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        require_dtype("where", cond, DType::Bool, "a bool mask as condition")?;
        let (a, b) = &promoted(a, b)?;
        let s = broadcast_shapes("where", cond.shape(), a.shape())?;
        broadcast_shapes("where", &s, b.shape())?;
        bind(&Where, &[cond, a, b])
    }

    /// Elementwise AND of two masks.
    pub fn logical_and(&self, other: &Tensor) -> Result<Tensor> {
        self.logic(LogicOp::And, other)
    }
    /// Elementwise OR of two masks.
    pub fn logical_or(&self, other: &Tensor) -> Result<Tensor> {
        self.logic(LogicOp::Or, other)
    }
    /// Elementwise XOR of two masks.
    pub fn logical_xor(&self, other: &Tensor) -> Result<Tensor> {
        self.logic(LogicOp::Xor, other)
    }
    /// Elementwise NOT of a mask.
    pub fn logical_not(&self) -> Result<Tensor> {
        require_dtype("logical_not", self, DType::Bool, "a bool mask")?;
        bind(&Logical(LogicOp::Not), &[self])
    }
    fn logic(&self, op: LogicOp, other: &Tensor) -> Result<Tensor> {
        let p = Logical(op);
        let name = crate::prims::Primitive::name(&p);
        require_dtype(name, self, DType::Bool, "bool masks")?;
        require_dtype(name, other, DType::Bool, "bool masks")?;
        broadcast_shapes(name, self.shape(), other.shape())?;
        bind(&p, &[self, other])
    }

    /// The elements converted to `dtype` (derivatives flow between float dtypes).
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if self.dtype() == dtype {
            return self.passthrough("to_dtype");
        }
        bind(&Cast { to: dtype }, &[self])
    }
    /// The same values with no derivative at any level (JAX's `stop_gradient`); batching is kept.
    pub fn detach(&self) -> Result<Tensor> {
        bind(&Detach, &[self])
    }
}

// ----------------------------------------------------------------------------- operators

#[track_caller]
fn or_panic(r: Result<Tensor>) -> Tensor {
    match r {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

macro_rules! operators {
    ($($tr:ident $m:ident => $method:ident, $smethod:ident, $rsmethod:ident;)*) => {$(
        /// # Panics
        /// If the shapes do not broadcast or the dtypes cannot be combined (e.g. bool
        /// arithmetic); use the method of the same name for a `Result`.
        impl std::ops::$tr<&Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: &Tensor) -> Tensor { or_panic(Tensor::$method(&self, rhs)) }
        }
        /// # Panics
        /// As for the borrowed operands.
        impl std::ops::$tr<Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: Tensor) -> Tensor { or_panic(Tensor::$method(&self, &rhs)) }
        }
        /// # Panics
        /// As for the borrowed operands.
        impl std::ops::$tr<&Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: &Tensor) -> Tensor { or_panic(Tensor::$method(&self, rhs)) }
        }
        /// # Panics
        /// As for the borrowed operands.
        impl std::ops::$tr<Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: Tensor) -> Tensor { or_panic(Tensor::$method(&self, &rhs)) }
        }
        /// # Panics
        /// If the tensor is not a float tensor.
        impl std::ops::$tr<f64> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: f64) -> Tensor { or_panic(Tensor::$smethod(&self, rhs)) }
        }
        /// # Panics
        /// If the tensor is not a float tensor.
        impl std::ops::$tr<f64> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: f64) -> Tensor { or_panic(Tensor::$smethod(&self, rhs)) }
        }
        /// # Panics
        /// If the tensor is not a float tensor.
        impl std::ops::$tr<&Tensor> for f64 {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: &Tensor) -> Tensor { or_panic(Tensor::$rsmethod(&rhs, self)) }
        }
        /// # Panics
        /// If the tensor is not a float tensor.
        impl std::ops::$tr<Tensor> for f64 {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: Tensor) -> Tensor { or_panic(Tensor::$rsmethod(&rhs, self)) }
        }
    )*};
}

operators! {
    Add add => add, add_scalar, add_scalar;
    Sub sub => sub, sub_scalar, rsub_scalar;
    Mul mul => mul, mul_scalar, mul_scalar;
    Div div => div, div_scalar, rdiv_scalar;
}

/// # Panics
/// If the tensor is not a float tensor.
impl std::ops::Neg for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        or_panic(Tensor::neg(self))
    }
}

/// # Panics
/// If the tensor is not a float tensor.
impl std::ops::Neg for Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        or_panic(Tensor::neg(&self))
    }
}

//! Elementwise unary float ops. Each op is one row of the table below: its name, its scalar
//! function and its derivative, written once (the derivative with public ops, so it
//! differentiates and batches again). The jvp, vjp and batch rules are shared by the whole
//! family. Every op of the family is float-only: its kernels are written for [`Float`].

use super::{Bits, Grads, PrimKind, Primitive};
use crate::array::{AlignedVec, Array, DType, Float, View};
use crate::core::{Tensor, linear_jvp};
use crate::error::Result;
use crate::kernels::math;
use crate::kernels::strided::{Cost, build, map1};
use smallvec::smallvec;

/// The derivative of a unary op at x (y = f(x)). Table rows give a number or a tensor and
/// `From` wraps it.
enum Deriv {
    /// A constant factor.
    Const(f64),
    /// Zero everywhere (where defined).
    Zero,
    /// A tensor of the input's shape.
    Tensor(Tensor),
}

impl From<f64> for Deriv {
    fn from(c: f64) -> Deriv {
        Deriv::Const(c)
    }
}

impl From<Tensor> for Deriv {
    fn from(t: Tensor) -> Deriv {
        Deriv::Tensor(t)
    }
}

macro_rules! unary_family {
    ($( $pat:pat => $name:literal, kernel |$x:ident| $k:expr, deriv |$dx:ident, $dy:ident| $d:expr; )*) => {
        impl UnaryOp {
            /// The op's name (the public method's).
            #[allow(unused_variables)]
            pub(crate) fn name(self) -> &'static str {
                use UnaryOp::*;
                match self { $( $pat => $name, )* }
            }
        }
        fn eval_typed<T: Float>(op: UnaryOp, v: View<'_, T>) -> AlignedVec<T> {
            use UnaryOp::*;
            match op { $( $pat => map1(v, |$x: T| $k), )* }
        }
        impl UnaryOp {
            /// Hand the op's scalar function (the table's kernel) to `v`, as a closure loops can
            /// inline. Ops with a slice kernel ([`slice_kernel`]) run that instead when eager.
            #[allow(unused_variables)]
            pub(crate) fn visit<T: Float, V: ScalarFn<T>>(self, v: V) -> V::Out {
                use UnaryOp::*;
                match self { $( $pat => v.visit(|$x: T| $k), )* }
            }
        }
        fn derivative(op: UnaryOp, x_: &Tensor, y_: &Tensor) -> Result<Deriv> {
            use UnaryOp::*;
            #[allow(unused_variables)]
            match op { $( $pat => { let $dx = x_; let $dy = y_; Ok(Deriv::from($d)) } )* }
        }
    };
}

/// Which elementwise function. Scalar parameters are [`Bits`], so the op compares and hashes
/// by value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum UnaryOp {
    Neg,
    Abs,
    Sign,
    Exp,
    Expm1,
    Log,
    Log1p,
    Sqrt,
    Rsqrt,
    Square,
    Reciprocal,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Sigmoid,
    Relu,
    Softplus,
    Erf,
    AddScalar(Bits),
    MulScalar(Bits),
    /// x^p for a constant p.
    PowScalar(Bits),
    /// c / x.
    RDivScalar(Bits),
    /// min(max(x, lo), hi).
    Clamp(Bits, Bits),
}

impl UnaryOp {
    /// Whether the op's kernels take `dtype`: the float dtypes, for every op of the family.
    pub(crate) fn accepts(self, dtype: DType) -> bool {
        dtype.is_float()
    }
    /// Whether the op is linear in x (so its jvp is the op applied to the tangent).
    fn linear(self) -> bool {
        matches!(self, UnaryOp::Neg | UnaryOp::MulScalar(_))
    }
}

const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

unary_family! {
    Neg => "neg", kernel |x| -x, deriv |x, y| -1.0;
    // PyTorch: abs'(0) = sign(0) = 0
    Abs => "abs", kernel |x| x.abs(), deriv |x, y| x.sign()?;
    Sign => "sign", kernel |x| if x > T::ZERO { T::ONE } else if x < T::ZERO { -T::ONE } else { T::ZERO }, deriv |x, y| Deriv::Zero;
    Exp => "exp", kernel |x| T::from_f64(math::exp(x.to_f64())), deriv |x, y| y.clone();
    Expm1 => "expm1", kernel |x| x.exp_m1(), deriv |x, y| y.add_scalar(1.0)?;
    Log => "log", kernel |x| x.ln(), deriv |x, y| x.reciprocal()?;
    Log1p => "log1p", kernel |x| x.ln_1p(), deriv |x, y| x.add_scalar(1.0)?.reciprocal()?;
    Sqrt => "sqrt", kernel |x| x.sqrt(), deriv |x, y| y.rdiv_scalar(0.5)?;
    Rsqrt => "rsqrt", kernel |x| x.sqrt().recip(), deriv |x, y| y.pow_scalar(3.0)?.mul_scalar(-0.5)?;
    Square => "square", kernel |x| x * x, deriv |x, y| x.mul_scalar(2.0)?;
    Reciprocal => "reciprocal", kernel |x| x.recip(), deriv |x, y| y.square()?.neg()?;
    Sin => "sin", kernel |x| x.sin(), deriv |x, y| x.cos()?;
    Cos => "cos", kernel |x| x.cos(), deriv |x, y| x.sin()?.neg()?;
    Tan => "tan", kernel |x| x.tan(), deriv |x, y| y.square()?.add_scalar(1.0)?;
    Asin => "asin", kernel |x| x.asin(), deriv |x, y| x.square()?.neg()?.add_scalar(1.0)?.rsqrt()?;
    Acos => "acos", kernel |x| x.acos(), deriv |x, y| x.square()?.neg()?.add_scalar(1.0)?.rsqrt()?.neg()?;
    Atan => "atan", kernel |x| x.atan(), deriv |x, y| x.square()?.add_scalar(1.0)?.reciprocal()?;
    Sinh => "sinh", kernel |x| x.sinh(), deriv |x, y| x.cosh()?;
    Cosh => "cosh", kernel |x| x.cosh(), deriv |x, y| x.sinh()?;
    Tanh => "tanh", kernel |x| T::from_f64(math::tanh(x.to_f64())), deriv |x, y| y.square()?.neg()?.add_scalar(1.0)?;
    Sigmoid => "sigmoid", kernel |x| T::from_f64(math::sigmoid(x.to_f64())), deriv |x, y| y.mul(&y.neg()?.add_scalar(1.0)?)?;
    // PyTorch: relu'(0) = 0; NaN propagates
    Relu => "relu", kernel |x| if x > T::ZERO || x.is_nan() { x } else { T::ZERO }, deriv |x, y| x.gt_scalar(0.0)?.to_dtype(x.dtype())?;
    // log(1 + e^x), computed stably; PyTorch returns x itself above 20 (beta = 1)
    Softplus => "softplus", kernel |x| softplus(x), deriv |x, y| softplus_deriv(x)?;
    Erf => "erf", kernel |x| x.erf(), deriv |x, y| x.square()?.neg()?.exp()?.mul_scalar(FRAC_2_SQRT_PI)?;
    AddScalar(Bits(c)) => "add_scalar", kernel |x| x + T::from_f64(c), deriv |x, y| 1.0;
    MulScalar(Bits(c)) => "mul_scalar", kernel |x| x * T::from_f64(c), deriv |x, y| c;
    PowScalar(Bits(p)) => "pow_scalar", kernel |x| pow_scalar(x, p), deriv |x, y| pow_scalar_deriv(x, p)?;
    RDivScalar(Bits(c)) => "rdiv_scalar", kernel |x| T::from_f64(c) / x, deriv |x, y| y.div(x)?.neg()?;
    // as torch 2.15: derivative 1 strictly inside (lo, hi), 0 outside and at the bounds
    Clamp(Bits(lo), Bits(hi)) => "clamp", kernel |x| clamp(x, T::from_f64(lo), T::from_f64(hi)), deriv |x, y| x.gt_scalar(lo)?.logical_and(&x.lt_scalar(hi)?)?.to_dtype(x.dtype())?;
}

#[inline(always)]
fn softplus<T: Float>(x: T) -> T {
    if x > T::from_f64(20.0) {
        x
    } else {
        x.max(T::ZERO) + (-(x.abs())).exp().ln_1p()
    }
}

/// PyTorch's softplus is the identity above 20, so its derivative is exactly 1 there.
fn softplus_deriv(x: &Tensor) -> Result<Tensor> {
    Tensor::where_(
        &x.gt_scalar(20.0)?,
        &Tensor::ones(&[], x.dtype())?,
        &x.sigmoid()?,
    )
}

/// The exponents that `pow_scalar` computes with plain arithmetic (one correctly rounded
/// operation, or two for the cube) rather than `math::pow`.
fn pow_simple(p: f64) -> bool {
    [2.0, 3.0, 1.0, 0.5, -1.0].contains(&p)
}

/// The exponent of a `pow_scalar` that runs the vectorized `math::pow_slice` (which takes
/// it as an argument, so it is not a [`slice_kernel`]); `None` for every other op.
fn pow_exponent(op: UnaryOp) -> Option<f64> {
    match op {
        UnaryOp::PowScalar(Bits(p)) if !pow_simple(p) => Some(p),
        _ => None,
    }
}

#[inline(always)]
fn pow_scalar<T: Float>(x: T, p: f64) -> T {
    if p == 2.0 {
        x * x
    } else if p == 3.0 {
        x * x * x
    } else if p == 1.0 {
        x
    } else if p == 0.5 {
        x.sqrt()
    } else if p == -1.0 {
        x.recip()
    } else {
        // the vectorized kernel's scalar function (same bits as `pow_slice`)
        math::pow_t(x, p)
    }
}

fn pow_scalar_deriv(x: &Tensor, p: f64) -> Result<Deriv> {
    Ok(if p == 0.0 {
        Deriv::Zero
    } else if p == 1.0 {
        Deriv::Const(1.0)
    } else if p == 2.0 {
        Deriv::Tensor(x.mul_scalar(2.0)?)
    } else {
        Deriv::Tensor(x.pow_scalar(p - 1.0)?.mul_scalar(p)?)
    })
}

#[inline(always)]
fn clamp<T: Float>(x: T, lo: T, hi: T) -> T {
    // min(max(x, lo), hi): where lo > hi every element becomes hi, as in torch.clamp
    let y = if x < lo { lo } else { x };
    if y > hi { hi } else { y }
}

/// Something that takes an op's scalar function: a loop written elsewhere (the fused loops of
/// `jit`), monomorphized for each op.
pub(crate) trait ScalarFn<T> {
    /// What the visit returns.
    type Out;
    /// Run with `f`, the op's scalar function.
    fn visit(self, f: impl Fn(T) -> T + Copy) -> Self::Out;
}

/// A slice-in, slice-out kernel.
pub(crate) type SliceKernel<T> = fn(&[T], &mut [std::mem::MaybeUninit<T>]);

/// The vectorized slice kernel (`kernels::math`) eager evaluation runs for `op`, if it has one
/// (the transcendental functions; each is within a few ulp of libm), with one thread's time per
/// element in f64 and f32, in picoseconds ([`vector_cost`]). The other ops run their scalar
/// function ([`UnaryOp::visit`]).
fn slice_entry<T: Float>(op: UnaryOp) -> Option<(SliceKernel<T>, [u32; 2])> {
    use UnaryOp::*;
    Some(match op {
        Exp => (math::exp_slice::<T>, [600, 230]),
        Expm1 => (math::expm1_slice::<T>, [700, 280]),
        Log => (math::log_slice::<T>, [1100, 270]),
        Log1p => (math::log1p_slice::<T>, [1400, 430]),
        Sin => (math::sin_slice::<T>, [580, 220]),
        Cos => (math::cos_slice::<T>, [660, 270]),
        Tan => (math::tan_slice::<T>, [1000, 400]),
        Asin => (math::asin_slice::<T>, [1100, 330]),
        Acos => (math::acos_slice::<T>, [1250, 440]),
        Atan => (math::atan_slice::<T>, [1100, 330]),
        Sinh => (math::sinh_slice::<T>, [980, 390]),
        Cosh => (math::cosh_slice::<T>, [1000, 390]),
        // f64: 1050 before NOTE: [tanh-eight], which took 0.85 of the time on the Zen 5, 890
        // before NOTE: [tanh-passes] (0.91)
        Tanh => (math::tanh_slice::<T>, [810, 320]),
        Sigmoid => (math::sigmoid_slice::<T>, [710, 270]),
        Softplus => (math::softplus_slice::<T>, [2500, 840]),
        Erf => (math::erf_slice::<T>, [1950, 630]),
        Sqrt => (math::sqrt_slice::<T>, [340, 170]),
        Rsqrt => (math::rsqrt_slice::<T>, [530, 270]),
        Reciprocal => (math::recip_slice::<T>, [230, 110]),
        // the rest (abs, square, scalar arithmetic, ...) are plain arithmetic,
        // which `map1` already runs in its AVX2 copy of the contiguous loop
        _ => return None,
    })
}

/// The vectorized slice kernel eager evaluation runs for `op`, if it has one ([`slice_entry`]).
pub(crate) fn slice_kernel<T: Float>(op: UnaryOp) -> Option<SliceKernel<T>> {
    slice_entry::<T>(op).map(|(k, _)| k)
}

/// One thread's time per element of `op`'s vectorized kernel ([`vector_kernel`]), if it has
/// one: what decides whether an eager call splits its work (NOTE: [par-work]). Measured with
/// the kernels example (10⁶ elements, one thread, AMD Zen 4 with AVX-512), rounded; the AVX2
/// copies take up to twice as long.
pub(crate) fn vector_cost<T: Float>(op: UnaryOp) -> Option<Cost> {
    let [f64_ps, f32_ps] = match slice_entry::<T>(op) {
        Some((_, ps)) => ps,
        None if pow_exponent(op).is_some() => [3000, 2000],
        None => return None,
    };
    Some(Cost(if size_of::<T>() == 4 { f32_ps } else { f64_ps }))
}

/// The vectorized kernel of `op` over a contiguous slice, if it has one: its [`slice_kernel`],
/// or `math::pow_slice` for a `pow_scalar` with a general exponent ([`pow_exponent`]). Eager
/// evaluation (`eval_slice`) and the jit's fused tiles both run this, so they give the same bits.
pub(crate) fn vector_kernel<T: Float>(
    op: UnaryOp,
) -> Option<impl Fn(&[T], &mut [std::mem::MaybeUninit<T>]) + Copy + Send + Sync> {
    let k = slice_kernel::<T>(op);
    let p = pow_exponent(op);
    (k.is_some() || p.is_some()).then_some(move |x: &[T], out: &mut [std::mem::MaybeUninit<T>]| {
        match (k, p) {
            (Some(k), _) => k(x, out),
            (None, Some(p)) => math::pow_slice(x, p, out),
            (None, None) => unreachable!("checked above"),
        }
    })
}

/// The ops with vectorized kernels ([`vector_kernel`]), on any layout.
fn eval_slice<T: Float>(op: UnaryOp, x: View<'_, T>) -> Option<AlignedVec<T>> {
    let k = vector_kernel::<T>(op)?;
    // every vector kernel has a cost (both come from `slice_entry` or `pow_exponent`)
    let cost = vector_cost::<T>(op)?;
    // a strided input runs the same kernel on a contiguous copy, so that a result never
    // depends on its input's layout (the table's scalar functions round differently)
    let copy;
    let s = match x.contiguous() {
        Some(s) => s,
        None => {
            copy = crate::kernels::strided::collect(x);
            &copy[..]
        }
    };
    Some(build(s.len(), cost, |start, dst| {
        k(&s[start..start + dst.len()], dst)
    }))
}

/// An elementwise float function.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Unary(pub(crate) UnaryOp);

impl Unary {
    fn apply(&self, g: &Tensor, x: &Tensor, y: &Tensor) -> Result<Option<Tensor>> {
        Ok(match derivative(self.0, x, y)? {
            Deriv::Zero => None,
            Deriv::Const(1.0) => Some(g.clone()),
            Deriv::Const(c) => Some(g.mul_scalar(c)?),
            Deriv::Tensor(d) => Some(g.mul(&d)?),
        })
    }
}

impl Primitive for Unary {
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
        let x = inputs[0];
        let fast = match x.dtype() {
            DType::F32 => eval_slice(self.0, x.v::<f32>()).map(|v| Array::from_vec(v, x.shape())),
            DType::F64 => eval_slice(self.0, x.v::<f64>()).map(|v| Array::from_vec(v, x.shape())),
            _ => None,
        };
        if let Some(a) = fast {
            return Ok(a);
        }
        Ok(match x.dtype() {
            DType::F32 => Array::from_vec(eval_typed(self.0, x.v::<f32>()), x.shape()),
            DType::F64 => Array::from_vec(eval_typed(self.0, x.v::<f64>()), x.shape()),
            d => {
                return Err(crate::Error::DType {
                    op: self.name(),
                    expected: "a float tensor",
                    got: d,
                });
            }
        })
    }
    fn jvp(
        &self,
        primals: &[&Tensor],
        tangents: &[Option<&Tensor>],
        out: &Tensor,
    ) -> Result<Option<Tensor>> {
        if self.0.linear() {
            return linear_jvp(self, primals, tangents);
        }
        self.apply(tangents[0].unwrap(), primals[0], out)
    }
    fn vjp(&self, inputs: &[Tensor], out: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        Ok(smallvec![self.apply(ct, &inputs[0], out)?])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        crate::core::bind(self, inputs)
    }
    fn differentiable(&self) -> bool {
        !matches!(self.0, UnaryOp::Sign)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every vectorized kernel has its cost, which `eval_slice` takes (NOTE: [par-work]), and
    /// the plain ops none.
    #[test]
    fn vector_kernels_have_costs() {
        use UnaryOp::*;
        for op in [Exp, Erf, Tanh, PowScalar(Bits(2.7))] {
            assert!(vector_kernel::<f64>(op).is_some() && vector_kernel::<f32>(op).is_some());
        }
        assert_eq!(vector_cost::<f64>(PowScalar(Bits(2.7))), Some(Cost(3000)));
        assert_eq!(vector_cost::<f32>(Exp), Some(Cost(230)));
        assert_eq!(vector_cost::<f64>(Exp), Some(Cost(600)));
        assert_eq!(vector_cost::<f64>(Erf), Some(Cost(1950)));
        for op in [Neg, Square, PowScalar(Bits(2.0)), AddScalar(Bits(1.0))] {
            assert!(vector_kernel::<f64>(op).is_none() && vector_cost::<f64>(op).is_none());
        }
    }
}

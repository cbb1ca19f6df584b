//! Element types: the [`Element`] trait that ties a Rust type to its [`DType`] tag and buffer,
//! and the [`Float`] trait of the two floating types with the math the kernels need.

use super::storage::Buffer;
use crate::dtype::DType;
use std::fmt::Debug;

/// Implemented for exactly the four element types, and sealed: the arrays trust an element
/// type's buffer conversions, so no other crate may implement [`Element`].
mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for i64 {}
    impl Sealed for bool {}
}

/// A Rust type a tensor can hold: `f32`, `f64`, `i64` or `bool` (sealed: it cannot be
/// implemented outside this crate).
pub trait Element:
    sealed::Sealed + Copy + Send + Sync + Debug + PartialEq + PartialOrd + Default + 'static
{
    /// The dtype tag of this type.
    const DTYPE: DType;
    #[doc(hidden)]
    fn into_buffer(v: super::AlignedVec<Self>) -> Buffer;
    #[doc(hidden)]
    fn slice(b: &Buffer) -> Option<&[Self]>;
    /// Lossy conversion to `f64`.
    fn to_f64(self) -> f64;
    /// Lossy conversion from `f64` (`!= 0` for bool, truncation for i64).
    fn from_f64(v: f64) -> Self;
    #[doc(hidden)]
    fn pool() -> &'static super::pool::Pool<Self>;
}

macro_rules! element {
    ($t:ty, $tag:ident, $to:expr, $from:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$tag;
            fn into_buffer(v: super::AlignedVec<Self>) -> Buffer {
                super::pool::count_buffer(v.len() * std::mem::size_of::<Self>());
                Buffer::$tag(v)
            }
            fn slice(b: &Buffer) -> Option<&[Self]> {
                match b {
                    Buffer::$tag(v) => Some(v),
                    _ => None,
                }
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                ($to)(self)
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                ($from)(v)
            }
            fn pool() -> &'static super::pool::Pool<Self> {
                static POOL: super::pool::Pool<$t> = super::pool::Pool::new();
                &POOL
            }
        }
    };
}
element!(f32, F32, |x: f32| x as f64, |v: f64| v as f32);
element!(f64, F64, |x: f64| x, |v: f64| v);
element!(i64, I64, |x: i64| x as f64, |v: f64| v as i64);
element!(bool, Bool, |x: bool| if x { 1.0 } else { 0.0 }, |v: f64| v
    != 0.0);

/// The floating element types, with the elementwise math the kernels use.
pub trait Float:
    Element + num_like::Arith + std::ops::Neg<Output = Self> + std::iter::Sum + std::iter::Product
{
    #[doc(hidden)]
    const ZERO: Self;
    #[doc(hidden)]
    const ONE: Self;
    #[doc(hidden)]
    const NEG_INFINITY: Self;
    #[doc(hidden)]
    const INFINITY: Self;
    #[doc(hidden)]
    fn erf(self) -> Self;
    #[doc(hidden)]
    fn gemm_scalar(self) -> Self {
        self
    }
}

/// The arithmetic and transcendental methods both float types have under the same names.
pub mod num_like {
    macro_rules! arith {
        ($($m:ident),*) => {
            /// Methods shared by `f32` and `f64`.
            #[doc(hidden)]
            pub trait Arith: Sized + Copy + std::ops::Add<Output = Self> + std::ops::Sub<Output = Self>
                + std::ops::Mul<Output = Self> + std::ops::Div<Output = Self> + std::ops::AddAssign {
                $( fn $m(self) -> Self; )*
                fn powf(self, e: Self) -> Self;
                fn atan2(self, o: Self) -> Self;
                fn max(self, o: Self) -> Self;
                fn min(self, o: Self) -> Self;
                fn is_nan(self) -> bool;
            }
            macro_rules! arith_impl {
                ($t:ty) => {
                    impl Arith for $t {
                        $( #[inline(always)] fn $m(self) -> Self { <$t>::$m(self) } )*
                        #[inline(always)] fn powf(self, e: Self) -> Self { <$t>::powf(self, e) }
                        #[inline(always)] fn atan2(self, o: Self) -> Self { <$t>::atan2(self, o) }
                        #[inline(always)] fn max(self, o: Self) -> Self { <$t>::max(self, o) }
                        #[inline(always)] fn min(self, o: Self) -> Self { <$t>::min(self, o) }
                        #[inline(always)] fn is_nan(self) -> bool { <$t>::is_nan(self) }
                    }
                };
            }
            arith_impl!(f32);
            arith_impl!(f64);
        };
    }
    arith!(
        abs, signum, exp, exp_m1, ln, ln_1p, sqrt, sin, cos, tan, asin, acos, atan, sinh, cosh,
        tanh, recip
    );
}

impl Float for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    const INFINITY: Self = f32::INFINITY;
    fn erf(self) -> Self {
        libm::erff(self)
    }
}
impl Float for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    const INFINITY: Self = f64::INFINITY;
    fn erf(self) -> Self {
        libm::erf(self)
    }
}

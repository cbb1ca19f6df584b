//! Vectorizable `exp`, `tanh` and `sigmoid`.
//!
//! The system's libm evaluates these one element at a time (about 15 ns per `tanh` here), which
//! made them a quarter of the run time of the MLP workloads. These versions are branch-free
//! (every special case is a select), so the compiler turns a loop over a slice into SIMD code
//! (the contiguous loops of `kernels::strided` run in copies compiled for AVX2 + FMA).
//!
//! Accuracy, checked against libm in the tests below over 10⁶ points each: `exp` within 2 ulp,
//! `tanh` and `sigmoid` within 4 ulp, with the IEEE special values (±∞, NaN, overflow to ∞,
//! underflow through subnormals to 0) as libm gives them.

use super::simd;
use crate::array::Float;
use std::mem::MaybeUninit;

const LOG2E: f64 = std::f64::consts::LOG2_E;
/// ln 2 split in two (fdlibm): `k · LN2_HI` is exact for |k| < 2¹¹.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// Above this, exp overflows to ∞; below `EXP_UNDER` it is 0.
const EXP_OVER: f64 = 709.782_712_893_384;
const EXP_UNDER: f64 = -745.133_219_101_941_2;

/// 2^k for an integer-valued `k` in [-1022, 1023]. Adding 2⁵² puts `k + 1023` in the low
/// mantissa bits, which the shift moves into the exponent field (no float-to-int conversion,
/// so the loop stays in SIMD registers).
#[inline(always)]
fn pow2(k: f64) -> f64 {
    f64::from_bits((k + (1023.0 + 4_503_599_627_370_496.0)).to_bits() << 52)
}

/// eˣ.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let xc = x.clamp(EXP_UNDER - 1.0, EXP_OVER + 1.0);
    let k = (xc * LOG2E).round();
    // r = x - k ln2, |r| <= ln2 / 2
    let r = (xc - k * LN2_HI) - k * LN2_LO;
    // e^r by its Taylor series to r¹³ (truncation error below 1e-17 for |r| <= ln2 / 2)
    let mut p = 1.0 / 6_227_020_800.0;
    p = p * r + 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2^k in two factors, so that k down to -1075 and up to 1024 stay representable
    let k1 = (k * 0.5).floor();
    let y = p * pow2(k1) * pow2(k - k1);
    let y = if x > EXP_OVER { f64::INFINITY } else { y };
    let y = if x < EXP_UNDER { 0.0 } else { y };
    if x.is_nan() { x } else { y }
}

/// tanh x.
#[inline(always)]
pub fn tanh(x: f64) -> f64 {
    let a = x.abs();
    // |x| >= 1/4: (1 - e^{-2|x|}) / (1 + e^{-2|x|}), which loses at most ~1.3 bits
    let t = exp(-2.0 * a);
    let big = (1.0 - t) / (1.0 + t);
    // |x| < 1/4: the odd Taylor series to x²¹ (next term below 3e-18 relative)
    let z = a * a;
    let mut p = 18_888_466_084.0 / 194_896_477_400_625.0;
    p = p * z - 443_861_162.0 / 1_856_156_927_625.0;
    p = p * z + 6_404_582.0 / 10_854_718_875.0;
    p = p * z - 929_569.0 / 638_512_875.0;
    p = p * z + 21_844.0 / 6_081_075.0;
    p = p * z - 1_382.0 / 155_925.0;
    p = p * z + 62.0 / 2_835.0;
    p = p * z - 17.0 / 315.0;
    p = p * z + 2.0 / 15.0;
    p = p * z - 1.0 / 3.0;
    let small = a + a * z * p;
    let r = if a < 0.25 { small } else { big };
    // copysign, and NaN stays NaN
    let r = if x < 0.0 { -r } else { r };
    if x.is_nan() { x } else { r }
}

/// 1 / (1 + e⁻ˣ), without overflow for either sign.
#[inline(always)]
pub fn sigmoid(x: f64) -> f64 {
    let e = exp(-x.abs());
    let r = if x >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    };
    if x.is_nan() { x } else { r }
}

macro_rules! slice_kernel {
    ($(#[$doc:meta])* $name:ident => $f:path) => {
        $(#[$doc])*
        pub fn $name<T: Float>(x: &[T], out: &mut [MaybeUninit<T>]) {
            #[inline(always)]
            fn plain<T: Float>(x: &[T], out: &mut [MaybeUninit<T>]) {
                for (o, &v) in out.iter_mut().zip(x) {
                    o.write(T::from_f64($f(v.to_f64())));
                }
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2<T: Float>(x: &[T], out: &mut [MaybeUninit<T>]) {
                plain(x, out)
            }
            #[cfg(target_arch = "x86_64")]
            if simd() {
                // SAFETY: the features were detected
                return unsafe { avx2(x, out) };
            }
            plain(x, out)
        }
    };
}

slice_kernel!(
    /// `out[i] = exp(x[i])`, vectorized.
    exp_slice => exp
);
slice_kernel!(
    /// `out[i] = tanh(x[i])`, vectorized.
    tanh_slice => tanh
);
slice_kernel!(
    /// `out[i] = sigmoid(x[i])`, vectorized.
    sigmoid_slice => sigmoid
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place.
    fn ulps(a: f64, b: f64) -> u64 {
        if a == b || (a.is_nan() && b.is_nan()) {
            return 0;
        }
        if a.is_nan() || b.is_nan() || a.signum() != b.signum() {
            return u64::MAX;
        }
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    fn points(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f64> {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        (0..n).map(move |_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
    }

    fn worst(f: fn(f64) -> f64, g: fn(f64) -> f64, lo: f64, hi: f64) -> (u64, f64) {
        points(lo, hi, 1_000_000)
            .map(|x| (ulps(f(x), g(x)), x))
            .max_by_key(|p| p.0)
            .unwrap()
    }

    #[test]
    fn exp_is_within_2_ulp_of_libm() {
        for (lo, hi) in [
            (-1.0, 1.0),
            (-50.0, 50.0),
            (-708.0, 709.0),
            (-745.0, -700.0),
        ] {
            let (u, x) = worst(exp, f64::exp, lo, hi);
            assert!(u <= 2, "exp({x}) is {u} ulp from libm");
        }
        for x in [
            0.0,
            -0.0,
            1.0,
            709.78,
            709.79,
            -745.1,
            -745.2,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert!(
                ulps(exp(x), x.exp()) <= 1,
                "exp({x}) = {} vs {}",
                exp(x),
                x.exp()
            );
        }
        assert!(exp(f64::NAN).is_nan());
    }

    #[test]
    fn tanh_and_sigmoid_are_within_4_ulp_of_libm() {
        for (lo, hi) in [(-0.3, 0.3), (-1e-5, 1e-5), (-3.0, 3.0), (-25.0, 25.0)] {
            let (u, x) = worst(tanh, f64::tanh, lo, hi);
            assert!(u <= 4, "tanh({x}) is {u} ulp from libm");
        }
        let sig = |x: f64| {
            if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                x.exp() / (1.0 + x.exp())
            }
        };
        for (lo, hi) in [(-1.0, 1.0), (-40.0, 40.0), (-700.0, 700.0)] {
            let (u, x) = worst(sigmoid, sig, lo, hi);
            assert!(u <= 4, "sigmoid({x}) is {u} ulp from the exact formula");
        }
        for x in [
            0.0,
            -0.0,
            0.25,
            -0.25,
            20.0,
            -20.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert!(
                ulps(tanh(x), x.tanh()) <= 1,
                "tanh({x}) = {} vs {}",
                tanh(x),
                x.tanh()
            );
        }
        assert!(tanh(f64::NAN).is_nan() && sigmoid(f64::NAN).is_nan());
        assert_eq!(
            (sigmoid(f64::INFINITY), sigmoid(f64::NEG_INFINITY)),
            (1.0, 0.0)
        );
    }
}

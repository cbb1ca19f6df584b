//! Vectorizable elementary functions: every unary float op of `prims::unary` that libm would
//! evaluate one element at a time (exp, expm1, log, log1p, sin, cos, tan, asin, acos, atan,
//! sinh, cosh, tanh, sigmoid, softplus, erf, and pow with a scalar exponent), and sqrt, rsqrt
//! and reciprocal.
//!
//! The system's libm takes 5–20 ns per call here. These versions are branch-free (every special
//! case and every interval of a piecewise approximation is a select), so the compiler turns a
//! loop over a slice into SIMD code; the slice kernels at the bottom run in copies compiled for
//! AVX2 + FMA and for AVX-512, chosen at run time, with the plain build as the fallback.
//! Polynomials are evaluated with fused multiply-adds (`mul_add`: one instruction in the AVX
//! copies; a correctly rounded libm call in the plain copy, so every copy gives the same bits).
//!
//! The hot functions have a *fast path* that is exact only on the arguments that matter in
//! practice (finite, away from overflow and underflow, |x| below a bound for the trigonometric
//! reduction), and the slice kernels run it over blocks of `CHUNK` elements, noting in the same
//! loop whether an argument was outside that range; only then is the block looked over again
//! and those arguments recomputed with the function for every argument (slower, but rare). Each result depends on its own
//! argument only, so the chunking never shows.
//!
//! - `exp`: x = k ln2 + r, |r| ≤ ln2/2, a degree-11 minimax polynomial, 2ᵏ added to the
//!   exponent bits; `expm1` the same with the form 2ᵏ (e^r − 1) + (2ᵏ − 1); `tanh` is
//!   e / (e + 2) for e = expm1(2|x|) ≤ 2 and 1 − 2 / (e + 2) above, one division (in f64 with
//!   its rounding corrected, `NOTE: [tanh-quotient]`; the AVX-512 and AVX2 copies take eight
//!   and four vectors at a time, `tanh.rs`); sinh and cosh are built on the same `expm1`, with
//!   one division.
//! - `log`: a 128-entry table of 1/c and ln c (`tables.rs`), r = x/c − 1 by one fused
//!   multiply-add, a degree-6 polynomial of log1p on |r| < 0.0039.
//! - `sin`, `cos`: reduction modulo π (a three-part π with fused multiply-adds; the first
//!   step is exact), one odd polynomial of degree 17 on [−π/2, π/2], the sign from the
//!   quotient's parity; cos x is sin(x − (n + ½)π) with the sign of n; tan reduces modulo
//!   π/2 and divides the sine and cosine polynomials. Beyond [`TRIG_MAX`] (and ±∞, NaN) libm.
//! - `erf`: a 1537-entry table of erf r and erf′ r at r = i/256 on [0, 6] (`erf_table.rs`),
//!   the Taylor expansion about the nearest node to d⁵ (|d| ≤ 1/512; its coefficients are
//!   Hermite polynomials of r, computed in the loop), a short odd polynomial below 2⁻⁶: two
//!   table reads (a block's first, then its arithmetic: `NOTE: [erf-two-passes]`), no
//!   division.
//! - `atan`: three intervals (|t| ≤ tan π/8 after atan a = π/4 + atan((a − 1)/(a + 1)) or
//!   π/2 + atan(−1/a)), fdlibm's polynomial, one division.
//! - `asin`, `acos`: asin s = s + s z P(z), z = s², P of degree 11 on s ≤ 1/2, and beyond
//!   asin a = π/2 − 2 asin √((1 − a)/2), the rounding error of the square root taken back by
//!   a fused multiply-add: one square root, no division.
//! - `pow` (x^p for a constant p, [`pow_slice`]): e^(p ln x) with ln x in two parts, good to
//!   about 2⁻⁶⁸ (the `log` reduction with the exact product z · 1/c, a tail table of ln c in
//!   `tables.rs`, and every sum's rounding error kept; `NOTE: [pow-log]`), p ln x as an exact
//!   product plus tail, and the `exp` polynomial with that tail added as a correction. Negative
//!   x with an integer p takes the sign from p's parity. Zeros, subnormals, ±∞, NaN, negative x
//!   with a fractional p and results beyond the range of `exp`'s fast path (near and past
//!   overflow and underflow) go to libm. f32 is computed in f64 (p rounded to f32 first, as
//!   torch and `powf` take it) by the one-part `log` and `exp` alone, and rounded
//!   (`NOTE: [pow-f32]`).
//! - `sqrt`, `rsqrt`, `reciprocal`: the correctly rounded operations, in the same copies of
//!   the loop (AVX-512 has twice the lanes of the plain loops of `strided`); the f64 square
//!   root and rsqrt of the AVX-512 copy by multiply-adds, checked exact lane by lane
//!   (`sqrt.rs`, `NOTE: [sqrt-newton]`).
//! - f32 (`single.rs`): exp, expm1, log, log1p, sin, cos, tan, asin, acos, atan, tanh,
//!   sigmoid, softplus and erf have kernels in f32 arithmetic (16 lanes to a 512-bit register;
//!   erf without the table, whose gathers cost more than its polynomials), and sinh and
//!   cosh as in f64 (with the f32 expm1).
//!
//! Accuracy, against libm (f64) and against libm's f64 result rounded to f32 (f32), the largest
//! error found over 2.3·10⁶ f64 arguments (every binade, and dense in [−10, 10] and [−800, 800])
//! and every 1021st f32 bit pattern: exp, log, log1p, asin, acos, atan, erf 1 ulp; expm1, sin,
//! cos, cosh, sigmoid, softplus, pow 2 ulp; tan, sinh, tanh 3 ulp (f64). In f32: exp, expm1, log,
//! log1p, acos, erf 1 ulp; sin, cos, tan, asin, atan, sinh, cosh, tanh, sigmoid, softplus
//! 2 ulp (tan, asin, acos, atan, sinh, cosh and erf checked on every third to fifth f32 of
//! their range). sqrt and reciprocal are exact; rsqrt (two roundings) 1 ulp in f32. pow
//! (tested with 24 exponents from ±10⁻⁵ to ±10³, on bases over every binade and bases whose
//! power spans the whole range of results, dense near overflow and underflow): 2 ulp in f64,
//! 1 ulp in f32.
//! The tests in `tests.rs` hold each to its budget over the whole range, and the special values
//! (±0, ±∞, NaN, overflow to ∞, underflow through subnormals to 0) to what libm gives.

// fdlibm's coefficients are quoted as published (21 significant digits)
#![allow(clippy::excessive_precision)]

#[cfg(target_arch = "x86_64")]
/// `$out[i] = $f(v, k)` over `$x`, 8 lanes `v` at a time, the last vector masked to the
/// lanes `k` left, inside a function compiled with AVX-512F (a macro, so that `$f`, a
/// function with that target feature, is called from one with it), for the loops of `sqrt.rs`
/// and `tanh.rs`.
macro_rules! lanes {
    ($x:expr, $out:expr, |$v:ident, $k:ident| $f:expr) => {{
        use std::arch::x86_64::*;
        let (x, out): (&[f64], &mut [std::mem::MaybeUninit<f64>]) = ($x, $out);
        let n = x.len().min(out.len());
        let (src, dst) = (x.as_ptr(), out.as_mut_ptr().cast::<f64>());
        let whole = n / 8 * 8;
        let mut i = 0;
        while i < whole {
            // SAFETY: i + 8 ≤ n, the length of both slices here; MaybeUninit<f64> has f64's
            // layout
            let $v = unsafe { _mm512_loadu_pd(src.add(i)) };
            let $k: u8 = 0xff;
            let y = $f;
            // SAFETY: as above
            unsafe { _mm512_storeu_pd(dst.add(i), y) };
            i += 8;
        }
        let rest = n - whole;
        if rest > 0 {
            let $k: u8 = (1u8 << rest) - 1;
            // SAFETY: the masked load touches only lanes below `rest`, elements whole..n
            let $v = unsafe { _mm512_maskz_loadu_pd($k, src.add(whole)) };
            let y = $f;
            // SAFETY: the masked store writes only those lanes
            unsafe { _mm512_mask_storeu_pd(dst.add(whole), $k, y) };
        }
    }};
}

mod erf_table;
mod single;
// AVX-512 loops only: x86-64 alone compiles it
#[cfg(target_arch = "x86_64")]
mod sqrt;
mod tables;
// AVX-512 loops only: x86-64 alone compiles it
#[cfg(target_arch = "x86_64")]
mod tanh;
#[cfg(test)]
mod tests;

use crate::array::Float;
use std::any::TypeId;
use std::mem::MaybeUninit;

const LOG2E: f64 = std::f64::consts::LOG2_E;
/// ln 2 split in two (fdlibm): `k · LN2_HI` is exact for |k| < 2¹¹.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// Above this, exp overflows to ∞; below `EXP_UNDER` it is 0.
const EXP_OVER: f64 = 709.782_712_893_384;
const EXP_UNDER: f64 = -745.133_219_101_941_2;
/// 2⁵², and 1.5 · 2⁵² (adding it to an integer-valued `k`, |k| < 2⁵¹, puts `k` in the low
/// mantissa bits in two's complement).
const TWO52: f64 = 4_503_599_627_370_496.0;
const MAGIC: f64 = 6_755_399_441_055_744.0;

/// 2^k for an integer-valued `k` in [-1022, 1023]. Adding 2⁵² puts `k + 1023` in the low
/// mantissa bits, which the shift moves into the exponent field (no float-to-int conversion,
/// so the loop stays in SIMD registers).
#[inline(always)]
fn pow2(k: f64) -> f64 {
    f64::from_bits((k + (1023.0 + TWO52)).to_bits() << 52)
}

/// The value of a small unsigned integer (below 2⁵²) as a float, with bit operations only.
#[inline(always)]
fn u_to_f(e: u64) -> f64 {
    f64::from_bits(e | TWO52.to_bits()) - TWO52
}

/// e^r for |r| ≤ ln2 / 2 (and a little beyond), by its Taylor series to r¹³ (truncation error
/// below 1e-17).
#[inline(always)]
fn exp_poly(r: f64) -> f64 {
    let mut p: f64 = 1.0 / 6_227_020_800.0;
    p = p.mul_add(r, 1.0 / 479_001_600.0);
    p = p.mul_add(r, 1.0 / 39_916_800.0);
    p = p.mul_add(r, 1.0 / 3_628_800.0);
    p = p.mul_add(r, 1.0 / 362_880.0);
    p = p.mul_add(r, 1.0 / 40_320.0);
    p = p.mul_add(r, 1.0 / 5_040.0);
    p = p.mul_add(r, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p.mul_add(r, 1.0)
}

/// `(k, r)` with x = k ln2 + r, |r| ≤ ln2 / 2, k an integer-valued float.
#[inline(always)]
fn exp_reduce(x: f64) -> (f64, f64) {
    let k = (x * LOG2E).round();
    (k, (x - k * LN2_HI) - k * LN2_LO)
}

/// p · 2^k for integer-valued k in [-2044, 2046], in two factors so that neither overflows.
#[inline(always)]
fn scale(p: f64, k: f64) -> f64 {
    let k1 = (k * 0.5).floor();
    p * pow2(k1) * pow2(k - k1)
}

/// eˣ for every x, branch-free (the fallback of [`exp`] outside its fast range, and the
/// exponential inside the fallbacks of sigmoid and softplus).
#[inline(always)]
fn exp_full(x: f64) -> f64 {
    let xc = x.clamp(EXP_UNDER - 1.0, EXP_OVER + 1.0);
    let (k, r) = exp_reduce(xc);
    let y = scale(exp_poly(r), k);
    let y = if x > EXP_OVER { f64::INFINITY } else { y };
    let y = if x < EXP_UNDER { 0.0 } else { y };
    if x.is_nan() { x } else { y }
}

/// (e^r − 1 − r) / r² on [−ln2/2, ln2/2]: the minimax polynomial of degree 9 for the relative
/// error of e^r − 1 = r + r² Q(r), 2⁻⁵⁵·⁴ (2⁻⁵⁴·⁹ with the coefficients rounded to f64), by a
/// Remez exchange in mpmath at 60 digits.
const EXPM1_Q: [f64; 10] = [
    f64::from_bits(0x3fe0_0000_0000_0006),
    f64::from_bits(0x3fc5_5555_5555_5560),
    f64::from_bits(0x3fa5_5555_5555_1aa5),
    f64::from_bits(0x3f81_1111_1110_b6ba),
    f64::from_bits(0x3f56_c16c_180e_343b),
    f64::from_bits(0x3f2a_01a0_1d35_adb9),
    f64::from_bits(0x3efa_019a_15d0_d4ac),
    f64::from_bits(0x3ec7_1dd8_859d_4896),
    f64::from_bits(0x3e92_8a7e_7187_94ad),
    f64::from_bits(0x3e5b_044d_fca1_f0c9),
];

/// Q(r) of [`EXPM1_Q`] by Horner's scheme.
#[inline(always)]
fn expm1_q(r: f64) -> f64 {
    let c = EXPM1_Q;
    let mut q = c[9];
    q = q.mul_add(r, c[8]);
    q = q.mul_add(r, c[7]);
    q = q.mul_add(r, c[6]);
    q = q.mul_add(r, c[5]);
    q = q.mul_add(r, c[4]);
    q = q.mul_add(r, c[3]);
    q = q.mul_add(r, c[2]);
    q = q.mul_add(r, c[1]);
    q.mul_add(r, c[0])
}

/// Q(r) of [`EXPM1_Q`] by Estrin's scheme: pairs of coefficients, then pairs of pairs, with r²,
/// r⁴ and r⁸ computed alongside. NOTE: [estrin]
//
// NOTE: [estrin]
// Horner's scheme is one chain of nine fused multiply-adds (four cycles each on current x86
// cores) through the middle of expm1, tanh, sinh and cosh, whose divisions and corrections
// follow it: a loop over these runs at the latency of the chain, not at the rate the cores
// issue its instructions (tanh in f64: about 26 cycles a vector of 4 for ~45 instructions).
// Estrin's scheme has four levels instead of nine for three more multiplies: tanh took 2.12
// instead of 2.40 ns an element in f64 and 0.674 instead of 0.704 in f32 (AMD Zen 3, one
// thread, 32768 elements in cache, best of 2000 calls, builds alternated six times), and exp,
// whose loop is bound by the rate of its instructions and has no division after the
// polynomial, gained nothing in a scratch build, so exp (and sigmoid and softplus through it)
// keeps Horner's. The two schemes round differently (within the polynomial's own error, far
// below an ulp of the result); the tests hold each function to its budget either way.
#[inline(always)]
fn expm1_q_estrin(r: f64) -> f64 {
    estrin10(EXPM1_Q, r)
}

/// The five pairs of ten coefficients at r, c₂ᵢ + c₂ᵢ₊₁r: the first level of [`estrin10`] and
/// of [`tanh_q`].
#[inline(always)]
fn coefficient_pairs(c: [f64; 10], r: f64) -> [f64; 5] {
    // written out, no closure: it is inlined into each ISA's copy of the loops
    [
        c[1].mul_add(r, c[0]),
        c[3].mul_add(r, c[2]),
        c[5].mul_add(r, c[4]),
        c[7].mul_add(r, c[6]),
        c[9].mul_add(r, c[8]),
    ]
}

/// c₀ + c₁r + … + c₉r⁹ by Estrin's scheme (NOTE: [estrin]), for [`EXPM1_Q`].
#[inline(always)]
fn estrin10(c: [f64; 10], r: f64) -> f64 {
    let r2 = r * r;
    let r4 = r2 * r2;
    let [p01, p23, p45, p67, p89] = coefficient_pairs(c, r);
    let p03 = p23.mul_add(r2, p01);
    let p47 = p67.mul_add(r2, p45);
    let p07 = p47.mul_add(r4, p03);
    p89.mul_add(r4 * r4, p07)
}

/// e^r − 1 for |r| ≤ ln2 / 2 (and a little beyond).
#[inline(always)]
fn expm1_poly(r: f64) -> f64 {
    (r * r).mul_add(expm1_q_estrin(r), r)
}

/// `(kb, r)`: x = k ln2 + r, |r| ≤ ln2 / 2, with k in the low bits of `kb` (k + 1.5 · 2⁵²).
#[inline(always)]
fn exp_split(x: f64) -> (f64, f64) {
    let kb = x.mul_add(LOG2E, MAGIC);
    let k = kb - MAGIC;
    let r = k.mul_add(-LN2_HI, x);
    (kb, k.mul_add(-LN2_LO, r))
}

/// `y · 2ᵏ` for k in the low bits of `kb` (as [`exp_split`] leaves it), by adding k to the
/// exponent field: exact while the result is a normal number.
#[inline(always)]
fn add_exponent(y: f64, kb: f64) -> f64 {
    f64::from_bits(y.to_bits().wrapping_add(kb.to_bits() << 52))
}

/// The range of [`exp_fast`]: 2ᵏ e^r stays a normal number.
#[inline(always)]
fn exp_ok(x: f64) -> bool {
    (-707.0..=709.0).contains(&x)
}

/// eˣ for x in [-707, 709] ([`exp_ok`]).
#[inline(always)]
fn exp_fast(x: f64) -> f64 {
    let (kb, r) = exp_split(x);
    // 1 + r (1 + r Q(r)): one operation fewer than 1 + (r + r² Q(r))
    let p = expm1_q(r).mul_add(r, 1.0).mul_add(r, 1.0);
    add_exponent(p, kb)
}

/// eˣ.
#[inline]
pub fn exp(x: f64) -> f64 {
    if exp_ok(x) { exp_fast(x) } else { exp_full(x) }
}

/// eˣ − 1 for x ≤ 709, by 2ᵏ (e^r − 1) + (2ᵏ − 1) (exact scalings; 2ᵏ − 1 is exact up to
/// k = 53, beyond which the −1 is below half an ulp); below −40 the result rounds to −1.
#[inline(always)]
fn expm1_core(x: f64) -> f64 {
    expm1_above(x.max(-40.0))
}

/// [`expm1_core`] for x ≥ −40 (or NaN, which gives NaN), without the clamp: the hyperbolic
/// functions call it with |x|.
#[inline(always)]
fn expm1_above(x: f64) -> f64 {
    let (kb, r) = exp_split(x);
    let s = add_exponent(1.0, kb);
    s.mul_add(expm1_poly(r), s - 1.0)
}

/// The range of [`expm1_fast`] (NaN is outside).
#[inline(always)]
fn expm1_ok(x: f64) -> bool {
    x <= 709.0
}

/// eˣ − 1 for x ≤ 709 ([`expm1_ok`]).
#[inline(always)]
fn expm1_fast(x: f64) -> f64 {
    let y = expm1_core(x);
    // ±0 unchanged
    if x == 0.0 { x } else { y }
}

/// eˣ − 1, accurate near 0.
#[inline]
#[cfg_attr(not(test), allow(dead_code))]
pub fn expm1(x: f64) -> f64 {
    if expm1_ok(x) {
        expm1_fast(x)
    } else {
        expm1_full(x)
    }
}

/// eˣ / 2 for x ≥ 0 (finite up to 710.47, where eˣ itself has overflowed): the large-argument
/// half of sinh and cosh.
#[inline(always)]
fn exp_half(x: f64) -> f64 {
    let xc = x.min(EXP_OVER + 2.0);
    let (k, r) = exp_reduce(xc);
    let y = scale(exp_poly(r), k - 1.0);
    if x > 710.475_860_073_943_9 {
        f64::INFINITY
    } else {
        y
    }
}

/// eˣ − 1 for every x, branch-free (the fallback of [`expm1`]; sinh and cosh use it).
#[inline(always)]
fn expm1_full(x: f64) -> f64 {
    // below -40, eˣ − 1 rounds to −1; above EXP_OVER it overflows
    let xc = x.clamp(-40.0, EXP_OVER + 1.0);
    let k = (xc * LOG2E).round();
    let hi = xc - k * LN2_HI;
    let lo = k * LN2_LO;
    let r = hi - lo;
    // the rounding error of r, carried as a correction
    let c = (hi - r) - lo;
    // e^r − 1 = r + r² (1/2 + r/6 + ...), Taylor to r¹⁴
    let mut q: f64 = 1.0 / 87_178_291_200.0;
    q = q.mul_add(r, 1.0 / 6_227_020_800.0);
    q = q.mul_add(r, 1.0 / 479_001_600.0);
    q = q.mul_add(r, 1.0 / 39_916_800.0);
    q = q.mul_add(r, 1.0 / 3_628_800.0);
    q = q.mul_add(r, 1.0 / 362_880.0);
    q = q.mul_add(r, 1.0 / 40_320.0);
    q = q.mul_add(r, 1.0 / 5_040.0);
    q = q.mul_add(r, 1.0 / 720.0);
    q = q.mul_add(r, 1.0 / 120.0);
    q = q.mul_add(r, 1.0 / 24.0);
    q = q.mul_add(r, 1.0 / 6.0);
    q = q.mul_add(r, 0.5);
    let em = r + r * (r * q);
    // e^(r + c) − 1 ≈ em + c e^r
    let em = em + c * (1.0 + em);
    // 2^k (1 + em) − 1: exact scalings for moderate k, the −1 is lost in rounding for large k
    let s = pow2(k.clamp(-1022.0, 1023.0));
    let moderate = s * em + (s - 1.0);
    let large = scale(1.0 + em, k) - 1.0;
    let y = if k > 56.0 { large } else { moderate };
    let y = if x > EXP_OVER { f64::INFINITY } else { y };
    let y = if x < -40.0 { -1.0 } else { y };
    // ±0 and NaN unchanged
    if x == 0.0 || x.is_nan() { x } else { y }
}

// fdlibm's log polynomial: log(1 + f) = f − f²/2 + s (f²/2 + R(s²)), s = f / (2 + f).
const LG1: f64 = f64::from_bits(0x3fe5_5555_5555_5593);
const LG2: f64 = f64::from_bits(0x3fd9_9999_9997_fa04);
const LG3: f64 = f64::from_bits(0x3fd2_4924_9422_9359);
const LG4: f64 = f64::from_bits(0x3fcc_71c5_1d8e_78af);
const LG5: f64 = f64::from_bits(0x3fc7_4664_96cb_03de);
const LG6: f64 = f64::from_bits(0x3fc3_9a09_d078_c69f);
const LG7: f64 = f64::from_bits(0x3fc2_f112_df3e_5244);

/// `(f²/2, s (f²/2 + R(s²)))` of fdlibm's log kernel for f = m − 1, m in [√2/2, √2).
#[inline(always)]
fn log_kernel(f: f64) -> (f64, f64) {
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * w.mul_add(w.mul_add(LG6, LG4), LG2);
    let t2 = z * w.mul_add(w.mul_add(w.mul_add(LG7, LG5), LG3), LG1);
    (hfsq, s * (hfsq + (t2 + t1)))
}

/// The bits of x with the exponent moved so that the mantissa lies in [√2/2, √2), and the
/// exponent k taken out: x = 2^k · m. Valid for positive normal x.
#[inline(always)]
fn log_split(bits: u64) -> (f64, f64) {
    let ix = bits.wrapping_add(0x3ff0_0000_0000_0000 - 0x3fe6_a09e_0000_0000);
    let k = u_to_f((ix >> 52) & 0x7ff) - 1023.0;
    let m = f64::from_bits((ix & 0x000f_ffff_ffff_ffff) + 0x3fe6_a09e_0000_0000);
    (k, m)
}

/// ln x for every x, branch-free (the fallback of [`log`]).
#[inline(always)]
fn log_full(x: f64) -> f64 {
    // subnormals scaled into the normal range
    let sub = x < f64::MIN_POSITIVE;
    let xs = if sub { x * TWO54 } else { x };
    let (k, m) = log_split(xs.to_bits());
    let k = if sub { k - 54.0 } else { k };
    let f = m - 1.0;
    let (hfsq, t) = log_kernel(f);
    let y = t + k * LN2_LO - hfsq + f + k * LN2_HI;
    let y = if x == f64::INFINITY { x } else { y };
    let y = if x == 0.0 { f64::NEG_INFINITY } else { y };
    if x < 0.0 || x.is_nan() { f64::NAN } else { y }
}

/// (log1p r − r + r²/2) / r³ on |r| ≤ 0.00389: minimax of degree 3 for the error relative to r
/// (2⁻⁵⁵·⁵), by a Remez exchange in mpmath at 60 digits.
const LOG_A: [f64; 4] = [
    f64::from_bits(0x3fd5_5555_5551_76c2),
    f64::from_bits(0xbfcf_ffff_fff4_7bd5),
    f64::from_bits(0x3fc9_99b2_d6c6_e83d),
    f64::from_bits(0xbfc5_5570_d03a_074e),
];

/// The range of [`log_fast`]: positive normal numbers.
#[inline(always)]
fn log_ok(x: f64) -> bool {
    (f64::MIN_POSITIVE..=f64::MAX).contains(&x)
}

/// ln x for positive normal x ([`log_ok`]): x = 2ᵏ z, z in [0.7044, 1.4088), z = c (1 + r)
/// with c from the table, ln x = k ln2 + ln c + log1p r.
#[inline(always)]
fn log_fast(x: f64) -> f64 {
    let ix = x.to_bits();
    let tmp = ix.wrapping_sub(tables::LOG_OFF);
    let i = ((tmp >> 45) & 127) as usize;
    let k = ((tmp as i64) >> 52) as f64;
    let z = f64::from_bits(ix.wrapping_sub(tmp & (0xfff << 52)));
    let (invc, logc) = (tables::LOG_INVC[i], tables::LOG_LOGC[i]);
    // one rounding: r carries a relative error of 2⁻⁵³, no more
    let r = z.mul_add(invc, -1.0);
    let a = LOG_A;
    let mut p = a[3];
    p = p.mul_add(r, a[2]);
    p = p.mul_add(r, a[1]);
    p = p.mul_add(r, a[0]);
    p = p.mul_add(r, -0.5);
    let p = (r * r) * p;
    // k ln2 + ln c + r, with the rounding error of the last sum kept (|w| ≥ |r| or w = 0)
    let w = k.mul_add(LN2_HI, logc);
    let hi = w + r;
    let lo = (w - hi) + r;
    hi + (lo + k.mul_add(LN2_LO, p))
}

/// ln x.
#[inline]
#[cfg_attr(not(test), allow(dead_code))]
pub fn log(x: f64) -> f64 {
    if log_ok(x) { log_fast(x) } else { log_full(x) }
}

const TWO54: f64 = 18_014_398_509_481_984.0;

/// ln(1 + x), accurate near 0.
#[inline(always)]
pub fn log1p(x: f64) -> f64 {
    // 1 + x in [√2/2, √2): f = x itself, no correction
    let near = x < 0.414_213_562_373_095_1 && x > -0.292_893_218_813_452_5;
    let u = 1.0 + x;
    let (k, m) = log_split(u.to_bits());
    // the rounding error of 1 + x, relative to u (negligible once k ≥ 54)
    let c = (if k >= 2.0 {
        1.0 - (u - x)
    } else {
        x - (u - 1.0)
    }) / u;
    let c = if k < 54.0 { c } else { 0.0 };
    let (k, c, f) = if near { (0.0, 0.0, x) } else { (k, c, m - 1.0) };
    let (hfsq, t) = log_kernel(f);
    let y = t + (k * LN2_LO + c) - hfsq + f + k * LN2_HI;
    let y = if x == f64::INFINITY { x } else { y };
    let y = if x == -1.0 { f64::NEG_INFINITY } else { y };
    let y = if x < -1.0 { f64::NAN } else { y };
    // ±0 and NaN unchanged
    if x == 0.0 || x.is_nan() { x } else { y }
}

/// Arguments up to this size are reduced modulo π (π/2 for tan) in the vector loop; beyond,
/// libm's Payne–Hanek reduction takes over.
pub const TRIG_MAX: f64 = 1.0e6;

/// (sin r − r) / r³ as a polynomial in z = r², z in [0, (π/2)²]: minimax of degree 7 for the
/// relative error of sin r (2⁻⁶¹·⁶; 2⁻⁵⁷·⁹ with the coefficients rounded to f64), by a Remez
/// exchange in mpmath at 60 digits.
const SIN_P: [f64; 8] = [
    f64::from_bits(0xbfc5_5555_5555_5555),
    f64::from_bits(0x3f81_1111_1111_10c1),
    f64::from_bits(0xbf2a_01a0_1a01_48a1),
    f64::from_bits(0x3ec7_1de3_a528_7076),
    f64::from_bits(0xbe5a_e645_4caf_d17b),
    f64::from_bits(0x3de6_123c_b11c_9dc1),
    f64::from_bits(0xbd6a_e431_76a1_6b61),
    f64::from_bits(0x3ce8_828f_8c9f_6638),
];

/// 1/π, and π in three positive parts (the second rounded down, so that the third is
/// positive too: every `n · PI_k` then has the sign of n, and the reduction of −0 stays −0).
const INV_PI: f64 = f64::from_bits(0x3fd4_5f30_6dc9_c883);
const PI_1: f64 = f64::from_bits(0x4009_21fb_5444_2d18);
const PI_2: f64 = f64::from_bits(0x3ca1_a626_3314_5c06);
const PI_3: f64 = f64::from_bits(0x395c_1cd1_2902_4e09);
const PIO2_1: f64 = PI_1 * 0.5;
const PIO2_2: f64 = PI_2 * 0.5;
const PIO2_3: f64 = PI_3 * 0.5;

/// (cos r − 1 + r²/2) / r⁴ as a polynomial in z = r², z in [0, (π/4)²]: minimax of degree 5
/// for the relative error of cos r (2⁻⁶⁴), by a Remez exchange in mpmath at 60 digits.
const COS_C: [f64; 6] = [
    f64::from_bits(0x3fa5_5555_5555_554b),
    f64::from_bits(0xbf56_c16c_16c1_4f8a),
    f64::from_bits(0x3efa_01a0_19c8_3914),
    f64::from_bits(0xbe92_7e4f_7ea3_7c18),
    f64::from_bits(0x3e21_ee9d_752a_a1dc),
    f64::from_bits(0xbda8_fa46_5f95_b916),
];

/// ±sin r for |r| ≤ π/2 (a little beyond is fine): the sign bit of the result is that of r
/// flipped by bit 0 of `nb` (the quotient n in the low bits, as [`exp_split`] leaves k).
#[inline(always)]
fn sin_signed(r: f64, nb: f64) -> f64 {
    let c = SIN_P;
    let z = r * r;
    let mut p = c[7];
    p = p.mul_add(z, c[6]);
    p = p.mul_add(z, c[5]);
    p = p.mul_add(z, c[4]);
    p = p.mul_add(z, c[3]);
    p = p.mul_add(z, c[2]);
    p = p.mul_add(z, c[1]);
    p = p.mul_add(z, c[0]);
    let y = (r * z).mul_add(p, r);
    // |sin r| ≤ 1 (NOTE: [sin-unit]): the magnitude's bits, an integer below 2⁶³, at most those
    // of 1 (r is finite here, the fast path's range, so y is not NaN)
    let a = ((y.to_bits() & !(1 << 63)) as i64).min(1f64.to_bits() as i64) as u64;
    // sin r has the sign of r (also for r = −0, which the sum above turns into +0)
    let sign = (r.to_bits() ^ (nb.to_bits() << 63)) & (1 << 63);
    f64::from_bits(a | sign)
}

// NOTE: [sin-unit] Near r = ±π/2 the sum r + r³P(r²) rounds to 1 + 2⁻⁵² for some r (its
// terms, about 1.57 and −0.57, carry their own roundings), so sin x near odd multiples of
// π/2 and cos x near multiples of π came out as ±1.0000000000000002 (f64, cos 2·10⁻⁹ among
// them: 2000 of 2·10⁶ arguments within 10⁻⁸ of 0) and ±1.0000001 in f32 (cos of 95 000 of
// 2·10⁶ within 10⁻⁵). 1 is the correctly rounded value there, and a cosine above 1 is an
// error users see: √(1 − cos²) is NaN. Now |sin r| is clamped to 1 in both types
// (`sine_and_cosine_never_leave_the_unit_interval`), as the integer minimum of its bits and
// those of 1: one instruction a vector in AVX-512 (`vpminsq`, `vpminsd`) and for f32 in AVX2
// (`vpminsd`), where the comparison and select of floats took two; AVX2 has no 64-bit
// minimum, so its f64 copy compares and blends either way.

/// The range of the fast sine and cosine (NaN and ±∞ are outside).
#[inline(always)]
fn trig_ok(x: f64) -> bool {
    x.abs() <= TRIG_MAX
}

/// sin x for |x| ≤ [`TRIG_MAX`]: x = nπ + r, sin x = (−1)ⁿ sin r. `x − n·PI_1` is exact (its
/// value is a multiple of ulp(PI_1) or of ulp(x), below 2 in magnitude), the two tails each
/// add a rounding of at most half an ulp of r.
#[inline(always)]
fn sin_fast(x: f64) -> f64 {
    let nb = x.mul_add(INV_PI, MAGIC);
    let n = nb - MAGIC;
    let r = n.mul_add(-PI_1, x);
    let r = n.mul_add(-PI_2, r);
    let r = n.mul_add(-PI_3, r);
    sin_signed(r, nb)
}

/// cos x for |x| ≤ [`TRIG_MAX`]: x = (n + ½)π + r, cos x = (−1)ⁿ⁺¹ sin r, so that the zeros of
/// cos are those of the polynomial (relative accuracy near them).
#[inline(always)]
fn cos_fast(x: f64) -> f64 {
    let nb = (x * INV_PI - 0.5) + MAGIC;
    let n = nb - MAGIC;
    let q = n.mul_add(2.0, 1.0);
    let r = q.mul_add(-PIO2_1, x);
    let r = q.mul_add(-PIO2_2, r);
    let r = q.mul_add(-PIO2_3, r);
    sin_signed(r, f64::from_bits(nb.to_bits() ^ 1))
}

/// sin x.
#[inline]
pub fn sin(x: f64) -> f64 {
    if trig_ok(x) { sin_fast(x) } else { x.sin() }
}

/// cos x.
#[inline]
pub fn cos(x: f64) -> f64 {
    if trig_ok(x) { cos_fast(x) } else { x.cos() }
}

/// tan x for |x| ≤ [`TRIG_MAX`]: x = n π/2 + r, |r| ≤ π/4 (the reduction of [`sin_fast`]
/// with π/2), sin r and cos r by their polynomials, then sin r / cos r, or −cos r / sin r for
/// odd n: one division.
#[inline(always)]
fn tan_fast(x: f64) -> f64 {
    let nb = x.mul_add(2.0 * INV_PI, MAGIC);
    let n = nb - MAGIC;
    let r = n.mul_add(-PIO2_1, x);
    let r = n.mul_add(-PIO2_2, r);
    let r = n.mul_add(-PIO2_3, r);
    let c = SIN_P;
    let z = r * r;
    let mut p = c[7];
    p = p.mul_add(z, c[6]);
    p = p.mul_add(z, c[5]);
    p = p.mul_add(z, c[4]);
    p = p.mul_add(z, c[3]);
    p = p.mul_add(z, c[2]);
    p = p.mul_add(z, c[1]);
    p = p.mul_add(z, c[0]);
    // sin r keeps the sign of r (also −0)
    let s = (r * z).mul_add(p, r).copysign(r);
    let c = COS_C;
    let mut q = c[5];
    q = q.mul_add(z, c[4]);
    q = q.mul_add(z, c[3]);
    q = q.mul_add(z, c[2]);
    q = q.mul_add(z, c[1]);
    q = q.mul_add(z, c[0]);
    let co = (z * z).mul_add(q, (-0.5f64).mul_add(z, 1.0));
    let odd = nb.to_bits() & 1 == 1;
    (if odd { -co } else { s }) / (if odd { s } else { co })
}

/// tan x.
#[inline]
#[cfg_attr(not(test), allow(dead_code))]
pub fn tan(x: f64) -> f64 {
    if trig_ok(x) { tan_fast(x) } else { x.tan() }
}

const PIO2_HI: f64 = f64::from_bits(0x3ff9_21fb_5444_2d18);
const PIO2_LO: f64 = f64::from_bits(0x3c91_a626_3314_5c07);

/// atan x, with fdlibm's polynomial for |t| ≤ 7/16 and one division: a = |x| is reduced to
/// |t| ≤ tan(π/8) by atan a = atan t (a ≤ 7/16), π/4 + atan((a − 1)/(a + 1)) (a ≤ 1 + √2),
/// π/2 + atan(−1/a) (beyond). Below 1/2, a − 1 is inexact: its rounding error is added to t
/// through 1/(a + 1) = (1 − t)/2, with no second division.
#[inline(always)]
pub fn atan(x: f64) -> f64 {
    const AT: [f64; 11] = [
        3.333_333_333_333_293_18e-01,
        -1.999_999_999_987_648_32e-01,
        1.428_571_427_250_346_64e-01,
        -1.111_111_040_546_235_58e-01,
        9.090_887_133_436_506_56e-02,
        -7.691_876_205_044_829_99e-02,
        6.661_073_137_387_531_21e-02,
        -5.833_570_133_790_573_49e-02,
        4.976_877_994_615_932_36e-02,
        -3.653_157_274_421_691_55e-02,
        1.628_582_011_536_578_24e-02,
    ];
    let a = x.abs();
    let mid = a > 0.4375;
    let far = a > 2.414_213_562_373_095;
    let num = if far {
        -1.0
    } else if mid {
        a - 1.0
    } else {
        a
    };
    let den = if far {
        a
    } else if mid {
        a + 1.0
    } else {
        1.0
    };
    let hi = if far {
        PIO2_HI
    } else if mid {
        std::f64::consts::FRAC_PI_4
    } else {
        0.0
    };
    let lo = if far {
        PIO2_LO
    } else if mid {
        3.061_616_997_868_383_017_93e-17
    } else {
        0.0
    };
    let t = num / den;
    let num_lo = if mid && !far { a - (num + 1.0) } else { 0.0 };
    let t = num_lo.mul_add(t.mul_add(-0.5, 0.5), t);
    let z = t * t;
    let w = z * z;
    // two Horner chains, in w = t⁴, of the even and odd coefficients
    let mut p = AT[10];
    p = p.mul_add(w, AT[8]);
    p = p.mul_add(w, AT[6]);
    p = p.mul_add(w, AT[4]);
    p = p.mul_add(w, AT[2]);
    let s1 = z * p.mul_add(w, AT[0]);
    let mut q = AT[9];
    q = q.mul_add(w, AT[7]);
    q = q.mul_add(w, AT[5]);
    q = q.mul_add(w, AT[3]);
    let s2 = w * q.mul_add(w, AT[1]);
    let r = hi - (t.mul_add(s1 + s2, -lo) - t);
    if x.is_nan() { x } else { r.copysign(x) }
}

/// (asin s − s) / (s z), z = s², as a polynomial in z on [0, 1/4]: a Chebyshev fit of degree
/// 11 (mpmath at 50 digits), whose error relative to asin s is below 2⁻⁵⁴.
const ASIN_P: [f64; 12] = [
    f64::from_bits(0x3fc5_5555_5555_554f),
    f64::from_bits(0x3fb3_3333_3333_6da5),
    f64::from_bits(0x3fa6_db6d_b684_b6a1),
    f64::from_bits(0x3f9f_1c71_f952_69af),
    f64::from_bits(0x3f96_e8b2_b3b1_0be4),
    f64::from_bits(0x3f91_c593_c7b1_d958),
    f64::from_bits(0x3f8c_8726_5d47_ef49),
    f64::from_bits(0x3f88_522d_dffa_6208),
    f64::from_bits(0x3f7f_f5fc_4d14_c735),
    f64::from_bits(0x3f90_6b9d_26d1_0838),
    f64::from_bits(0xbf86_0399_1d60_60e0),
    f64::from_bits(0x3f9c_d864_394d_2ff2),
];

/// `(s, e, big)` for a = |x| ≤ 1, with asin s = s + e to about 2⁻⁵⁴ relative: s = a
/// (a < 1/2), or s = √z, z = (1 − a)/2 (`big`, where asin a = π/2 − 2 asin s), and then e
/// also carries the rounding error of the square root, ρ / (2s) with ρ = z − s² exact (a
/// fused multiply-add), 1/s from the bits of s to within 13%: the correction is below half
/// an ulp of s, so its error stays below 2⁻⁵⁷ of s. No division: one square root and a
/// polynomial.
#[inline(always)]
fn asin_parts(a: f64) -> (f64, f64, bool) {
    let big = a >= 0.5;
    // 1 − a is exact for a ≥ 1/2
    let z = if big { (1.0 - a) * 0.5 } else { a * a };
    let root = z.sqrt();
    let s = if big { root } else { a };
    let c = ASIN_P;
    let z2 = z * z;
    // Horner in z² over the even and odd coefficients: two shorter chains
    let mut p = c[10];
    p = p.mul_add(z2, c[8]);
    p = p.mul_add(z2, c[6]);
    p = p.mul_add(z2, c[4]);
    p = p.mul_add(z2, c[2]);
    p = p.mul_add(z2, c[0]);
    let mut q = c[11];
    q = q.mul_add(z2, c[9]);
    q = q.mul_add(z2, c[7]);
    q = q.mul_add(z2, c[5]);
    q = q.mul_add(z2, c[3]);
    q = q.mul_add(z2, c[1]);
    let p = q.mul_add(z, p);
    let rho = (-s).mul_add(s, z);
    // 1/s to 4 bits (z ≥ 2⁻⁵⁴ or 0, so s is normal; for s = 0, ρ = 0 and so is the product)
    let inv = f64::from_bits(0x7fde_6238_22fc_16e6u64.wrapping_sub(s.to_bits()));
    let corr = if big { 0.5 * rho * inv } else { 0.0 };
    (s, (s * z).mul_add(p, corr), big)
}

/// asin x: s + e below 1/2 in magnitude, π/2 − 2 (s + e) beyond ([`asin_parts`]), with the
/// rounding error of π/2 − 2s carried.
#[inline(always)]
pub fn asin(x: f64) -> f64 {
    let a = x.abs();
    let (s, e, big) = asin_parts(a);
    // h + hl = π/2 − 2s exactly (Fast2Sum: 2s ≤ 1 < π/2)
    let h = (-2.0f64).mul_add(s, PIO2_HI);
    let hl = (PIO2_HI - h) - 2.0 * s;
    let far = h + (hl + (-2.0f64).mul_add(e, PIO2_LO));
    let y = if big { far } else { s + e };
    // NaN fails the comparison and went through the arithmetic as NaN (NOTE: [tanh-nan])
    if a > 1.0 { f64::NAN } else { y.copysign(x) }
}

/// acos x: π/2 − asin x below 1/2 in magnitude, 2 asin s (x ≥ 1/2) or π − 2 asin s (x ≤ −1/2)
/// with s as in [`asin_parts`].
#[inline(always)]
pub fn acos(x: f64) -> f64 {
    let a = x.abs();
    let (s, e, big) = asin_parts(a);
    let s = s.copysign(x);
    let e = e.copysign(x);
    // π/2 − (s + e): |s| < 1/2, so the sum keeps the leading part exact to half an ulp
    let small = PIO2_HI - (s + (e - PIO2_LO));
    let pos = 2.0 * (s + e);
    // π + 2 (s + e) with s, e ≤ 0
    let neg = 2.0 * (PIO2_HI + (s + (e + PIO2_LO)));
    let y = if x > 0.0 { pos } else { neg };
    let y = if big { y } else { small };
    // NaN: `small`, NaN (NOTE: [tanh-nan])
    if a > 1.0 { f64::NAN } else { y }
}

/// sinh x for every x, branch-free (the fallback of [`sinh`]).
#[inline(always)]
fn sinh_full(x: f64) -> f64 {
    let a = x.abs();
    let t = expm1_full(a.min(EXP_OVER));
    // (eᵃ − e⁻ᵃ) / 2 through t = eᵃ − 1, in the form that keeps small a accurate
    let small = 0.5 * (2.0 * t - t * t / (t + 1.0));
    let mid = 0.5 * (t + t / (t + 1.0));
    let y = if a < 1.0 { small } else { mid };
    let y = if a < EXP_OVER { y } else { exp_half(a) };
    let y = if a == 0.0 { 0.0 } else { y };
    if x.is_nan() { x } else { y.copysign(x) }
}

/// cosh x for every x, branch-free (the fallback of [`cosh`]).
#[inline(always)]
fn cosh_full(x: f64) -> f64 {
    let a = x.abs();
    let t = expm1_full(a.min(EXP_OVER));
    let small = 1.0 + t * t / (2.0 * (1.0 + t));
    let e = t + 1.0;
    let mid = 0.5 * e + 0.5 / e;
    let y = if a < std::f64::consts::LN_2 {
        small
    } else {
        mid
    };
    let y = if a < EXP_OVER { y } else { exp_half(a) };
    if x.is_nan() { x } else { y }
}

/// The range of the fast sinh and cosh (NaN is outside).
#[inline(always)]
fn hyperbolic_ok(x: f64) -> bool {
    x.abs() <= 709.0
}

/// sinh x for |x| ≤ 709: t = e^|x| − 1, u = t / (t + 1) (one division), then
/// (t + u) / 2, or t − t u / 2 below 1 (where it keeps the small values accurate).
#[inline(always)]
fn sinh_fast(x: f64) -> f64 {
    let a = x.abs();
    let t = expm1_above(a);
    let u = t / (t + 1.0);
    let y = if a < 1.0 {
        (-0.5 * t).mul_add(u, t)
    } else {
        0.5 * (t + u)
    };
    // ±0 keeps its sign
    y.copysign(x)
}

/// cosh x for |x| ≤ 709: with t and u as in [`sinh_fast`], 1 + t u / 2 below ln 2, else
/// (eᵃ + e⁻ᵃ) / 2 = (t + 1) / 2 + (1 − u) / 2.
#[inline(always)]
fn cosh_fast(x: f64) -> f64 {
    let a = x.abs();
    let t = expm1_above(a);
    let u = t / (t + 1.0);
    let small = (0.5 * t).mul_add(u, 1.0);
    let mid = 0.5 * (t + 1.0) + 0.5 * (1.0 - u);
    if a < std::f64::consts::LN_2 {
        small
    } else {
        mid
    }
}

/// sinh x.
#[inline]
#[cfg_attr(not(test), allow(dead_code))]
pub fn sinh(x: f64) -> f64 {
    if hyperbolic_ok(x) {
        sinh_fast(x)
    } else {
        sinh_full(x)
    }
}

/// cosh x.
#[inline]
#[cfg_attr(not(test), allow(dead_code))]
pub fn cosh(x: f64) -> f64 {
    if hyperbolic_ok(x) {
        cosh_fast(x)
    } else {
        cosh_full(x)
    }
}

/// tanh x from e = e^(2|x|) − 1 ([`expm1_twice`]), the sign of x put back: e / (e + 2) while
/// e ≤ 2, 1 − 2 / (e + 2) above, one division either way with its rounding corrected
/// ([`tanh_of_expm1`]); |x| is clamped to 20, beyond which tanh rounds to ±1. NOTE:
/// [tanh-nan], NOTE: [tanh-quotient]
//
// NOTE: [tanh-nan] The clamp is a comparison that NaN fails, so a NaN goes through the
// arithmetic as NaN (with x's sign put back) and needs no check at the end; nor does
// 2|x| ≥ 0 need expm1's clamp from below. The two checks were 3 of the loop's 27 vector
// instructions in f32 (Intel Xeon, Emerald Rapids, one thread, 4096 f32 in L1: 1.54 → 1.40 µs).
// erf, asin and acos (f64 and f32) let NaN through the same way: every comparison that picks
// a branch is false for NaN and picks one that computes from |x|. 10⁶ elements, one thread,
// builds alternated, medians of five: tanh f32 375 → 337 µs, f64 1.11 → 1.02 ms; erf f64
// 1.60 → 1.53 ms, f32 562 → 538 µs; acos f64 1.20 → 1.08 ms, f32 402 → 356 µs; asin f32
// 309 → 298 µs. The result is a NaN (its payload, when the input carries one, kept by the
// arithmetic); a signaling NaN comes out quiet.
#[inline(always)]
pub fn tanh(x: f64) -> f64 {
    let a = x.abs();
    let a = if a > 20.0 { 20.0 } else { a };
    tanh_of_expm1(expm1_twice(a)).copysign(x)
}

/// 2 log₂e, to split 2a as k ln2 + 2r in [`expm1_twice`] (an exact doubling).
const TWICE_LOG2E: f64 = 2.0 * LOG2E;
/// ln2 / 2 to double precision (an exact halving of `LN_2`), for [`expm1_twice`].
const HALF_LN2: f64 = std::f64::consts::LN_2 / 2.0;

/// [`EXPM1_Q`] with its coefficient of rⁱ scaled by 2ⁱ⁺²: Q₂(r) = 4 Q(2r) term by term (each
/// scaling by a power of two, exact), so that 2r + r²·Q₂(r) is e^(2r) − 1, for
/// [`expm1_twice`] ([`tanh_q`]).
const TANH_Q: [f64; 10] = {
    let mut q = EXPM1_Q;
    let mut i = 0;
    let mut scale = 4.0;
    while i < 10 {
        q[i] *= scale;
        scale *= 2.0;
        i += 1;
    }
    q
};

/// e^(2a) − 1 for a in [0, 20] (or NaN, which gives NaN), as [`expm1_above`] of 2a but with
/// 2a split in one multiply-add, r = a − k ln2/2, and the polynomial taken at r by [`TANH_Q`]:
/// 2r + r²·Q₂(r), e^(2r) − 1 ([`tanh_q`], NOTE: [tanh-poly]). NOTE: [tanh-quotient]
#[inline(always)]
fn expm1_twice(a: f64) -> f64 {
    let kb = a.mul_add(TWICE_LOG2E, MAGIC);
    let k = kb - MAGIC;
    let r = (-k).mul_add(HALF_LN2, a);
    let p = (r * r).mul_add(tanh_q(r), r + r);
    let s = add_exponent(1.0, kb);
    s.mul_add(p, s - 1.0)
}

/// Q₂(r) of [`TANH_Q`] with two multiplies (r² and r⁴) rather than Estrin's three: pairs of
/// coefficients, then c₀…c₃ and c₄…c₉ by r², the two joined by r⁴. NOTE: [tanh-poly]
//
// NOTE: [tanh-poly] Q₂ = (c₀ + c₁r) + (c₂ + c₃r)r² + (((c₈ + c₉r)r² + c₆ + c₇r)r² + c₄ +
// c₅r)r⁴ needs r² and r⁴ only, where Estrin's order (NOTE: [estrin]) also takes r⁸: one
// multiply fewer, the same multiply-adds and the same depth (four of them after r). It rounds
// differently (within the polynomial's own error, far below an ulp of tanh); every copy takes
// this order, so the bits agree. `Tensor::tanh` of 10⁶ f64, AMD Zen 5, one thread, minima of
// 1000 calls, three rounds alternated with the build before: 449–482 → 441–453 µs with the
// quotient's `h` also a single multiply-add (its coefficients chosen by the mask), which
// alone measured 453–481, so it was left as it was. The passes of NOTE: [tanh-passes] came
// after. Against 110-bit values (mpmath, 1.35·10⁵ arguments: dense in [0.05, 0.65], over
// [0, 21], in [18, 20.5] and below 10⁻³) the largest error stays 1.884 ulp (at x ≈ 0.215)
// and the mean 0.288; 670 of the results round differently from Estrin's order.
#[inline(always)]
fn tanh_q(r: f64) -> f64 {
    let r2 = r * r;
    let [p01, p23, p45, p67, p89] = coefficient_pairs(TANH_Q, r);
    let p03 = p23.mul_add(r2, p01);
    let p69 = p89.mul_add(r2, p67);
    let p49 = p69.mul_add(r2, p45);
    p49.mul_add(r2 * r2, p03)
}

/// tanh a for e = e^(2a) − 1 ≥ 0 (NOTE: [tanh-quotient]): with `lo` the smaller of e and 2,
/// `q` = lo / d for d = e + 2 rounded, and the rounding errors of both taken back,
/// m = lo / (e + 2) to second order, and tanh a = m below e = 2, 1 − m above.
#[inline(always)]
fn tanh_of_expm1(e: f64) -> f64 {
    // selects written as comparisons, so that a NaN `e` gives the same NaN in every copy
    let big = e > 2.0;
    let lo = if big { 2.0 } else { e };
    let hi = if big { e } else { 2.0 };
    let d = e + 2.0;
    let q = lo / d;
    // the rounding error of d (Fast2Sum, the larger term first): d + dd = e + 2 exactly
    let dd = lo - (d - hi);
    // lo − q·(e + 2) exactly, before rounding: ρ = lo − q·d is exact (a fused multiply-add)
    let t = (-q).mul_add(dd, (-q).mul_add(d, lo));
    // 1 / (e + 2) to about 2⁻⁵²: (1 − q) / 2 below e = 2, q / 2 above
    let h = if big { q * 0.5 } else { q.mul_add(-0.5, 0.5) };
    let m = t.mul_add(h, q);
    if big { 1.0 - m } else { m }
}

// NOTE: [tanh-quotient] tanh a = e / (e + 2) for e = e^(2a) − 1. Its quotient used to be
// corrected for the rounding of d = e + 2 and of the division with 1 / (e + 2) taken as
// (1 − q) / 2, and for large e neither held: (2 − d) + e is the error of d only while e ≤ 2
// (Fast2Sum wants the larger term first), and (1 − q) / 2, where q rounds to within an ulp of
// 1, carries an error as large as itself. Near the clamp (|x| from about 17.3 to 20) tanh came
// out as 1 + 2⁻⁵² or 1 + 2⁻⁵¹ (tanh 18.8 = 1.0000000000000002), so that 1 − tanh², its
// derivative, was negative. Now the quotient is lo / (e + 2) with lo = min(e, 2): above e = 2
// (|x| > ln 3 / 2) that is m = 2 / (e + 2) ≤ 1/2, whose 1 / (e + 2) ≈ q / 2 is accurate
// however large e is, and tanh = 1 − m ≤ 1; below, e / (e + 2) as before. The test
// `tanh_never_leaves_the_unit_interval_near_its_clamp` holds every copy to |tanh| ≤ 1 and an
// ulp of libm over [16, 21].
//
// e^(2a) − 1 splits 2a = k ln2 + 2r in one multiply-add with ln2 rounded to double: r is off
// by k·(LN_2 − ln2)/2 (|LN_2 − ln2| ≈ 2.3·10⁻¹⁷), which moves tanh by 2e^(2a)/(e^(2a) + 1)²
// times k·2.3·10⁻¹⁷: at most 0.4 ulp where k = 1 (|x| from 0.17 to 0.52), less beyond (the
// other functions' `exp_split` keeps ln2 in two parts). Largest errors against 100-bit
// values (mpmath, 1.3·10⁵ arguments dense in [0.05, 0.65], over [0, 21] and in [18, 20.5]):
// 1.95 ulp (at x ≈ 0.23; 1.89 with ln2 in two parts), against 2.18 for glibc's tanh on the
// same arguments and 4.8 (at 18.84, above 1) for the quotient before.
//
// Speed: the AVX-512 and AVX2 copies run in two passes (`tanh.rs`, NOTE: [tanh-passes]).

/// The range of the fast sigmoid ([`exp_fast`] of −|x|; NaN is outside).
#[inline(always)]
fn sigmoid_ok(x: f64) -> bool {
    x.abs() <= 707.0
}

/// 1 / (1 + e⁻ˣ) for |x| ≤ 707: one division, no overflow for either sign.
#[inline(always)]
fn sigmoid_fast(x: f64) -> f64 {
    let e = exp_fast(-x.abs());
    (if x >= 0.0 { 1.0 } else { e }) / (1.0 + e)
}

/// 1 / (1 + e⁻ˣ), without overflow for either sign.
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if sigmoid_ok(x) {
        sigmoid_fast(x)
    } else {
        sigmoid_full(x)
    }
}

/// 1 / (1 + e⁻ˣ) for every x, branch-free (the fallback of [`sigmoid`]).
#[inline(always)]
fn sigmoid_full(x: f64) -> f64 {
    let e = exp_full(-x.abs());
    let r = if x >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    };
    if x.is_nan() { x } else { r }
}

/// log(1 + eˣ) as PyTorch computes it (β = 1) for every x, branch-free (the fallback of
/// [`softplus`]).
#[inline(always)]
fn softplus_full(x: f64) -> f64 {
    let y = x.max(0.0) + log1p(exp_full(-x.abs()));
    if x > 20.0 || x.is_nan() { x } else { y }
}

/// The range of the fast softplus ([`exp_fast`] of −|x|; NaN is outside).
#[inline(always)]
fn softplus_ok(x: f64) -> bool {
    x.abs() <= 707.0
}

/// softplus for |x| ≤ 707.
#[inline(always)]
fn softplus_fast(x: f64) -> f64 {
    let y = x.max(0.0) + log1p(exp_fast(-x.abs()));
    if x > 20.0 { x } else { y }
}

/// log(1 + eˣ) as PyTorch computes it (β = 1): x itself above 20.
#[inline]
#[cfg_attr(not(test), allow(dead_code))]
pub fn softplus(x: f64) -> f64 {
    if softplus_ok(x) {
        softplus_fast(x)
    } else {
        softplus_full(x)
    }
}

/// (erf a − a) / a as a polynomial in z = a², for a < 2⁻⁶: Taylor to z⁴ (the next term is
/// below 2⁻⁶⁴ relative).
const ERF_SMALL: [f64; 5] = [
    f64::from_bits(0x3fc0_6eba_8214_db69),
    f64::from_bits(0xbfd8_1274_6b03_79e7),
    f64::from_bits(0x3fbc_e2f2_1a04_2be2),
    f64::from_bits(0xbf9b_82ce_3128_8b51),
    f64::from_bits(0x3f75_65bc_d0e6_a53f),
];

/// 2⁴⁴: adding it to a ∈ [0, 6] rounds a to a multiple of 1/256, whose index lands in the
/// low mantissa bits.
const ERF_SHIFT: f64 = 17_592_186_044_416.0;

/// The error function, for every x: a = |x| (clamped to 6, where erf rounds to 1) is written
/// r + d with r = i/256 the nearest node and |d| ≤ 1/512, and erf a is the Taylor expansion
/// about r, erf r + erf′ r · (d − r d² + (2r² − 1)/3 d³ + …) to d⁵, whose coefficients are the
/// Hermite polynomials of r (computed here), with erf r and erf′ r from the table of
/// `erf_table.rs` (two table reads, no division). Below 2⁻⁶, where erf r and the correction
/// would cancel, a (1 + P(a²)) instead. NOTE: [erf-nodes]
//
// NOTE: [erf-nodes] Nodes 1/256 apart rather than 1/128 (a table of 24 KiB rather than 12,
// still in L1) halve the Taylor step and drop its last term, c5 d⁶ (three multiply-adds, two
// multiplies and an add of the loop's 37 vector instructions for 8 lanes). One thread, 10⁶
// elements, builds alternated, medians of five (Intel Xeon, Emerald Rapids): 1.51 → 1.31 ms,
// where MKL takes 1.10–1.22. Against libm on 4·10⁶ random points in each of [0, 0.1], [0, 1],
// [1, 2.5] and [2.5, 6]: at most 1 ulp, as with the coarser table; keeping the c5 term with
// the finer nodes changed the count of results 1 ulp from libm by under 0.3%.
#[inline(always)]
pub fn erf(x: f64) -> f64 {
    let i = erf_node(x);
    erf_about(
        x,
        f64::from_bits(erf_table::ERF_R[i]),
        f64::from_bits(erf_table::ERF_SCALE[i]),
    )
}

/// |x| clamped to 6, its node r = i/256 and i (NaN gives NaN, NaN and node 1536).
#[inline(always)]
fn erf_reduce(x: f64) -> (f64, f64, usize) {
    // NaN fails the comparison and stays NaN (NOTE: [tanh-nan]); its index is clamped below
    let a = x.abs();
    let a = if a > 6.0 { 6.0 } else { a };
    let z = a + ERF_SHIFT;
    let i = ((z.to_bits() - ERF_SHIFT.to_bits()) as usize).min(1536);
    (a, z - ERF_SHIFT, i)
}

/// The index of x's node in the table of [`erf`].
#[inline(always)]
fn erf_node(x: f64) -> usize {
    erf_reduce(x).2
}

/// [`erf`] from its node's table entries `erf_r` = erf r and `scale` = erf′ r.
#[inline(always)]
fn erf_about(x: f64, erf_r: f64, scale: f64) -> f64 {
    let (a, r, _) = erf_reduce(x);
    let d = a - r;
    // erf(r + d) = erf r + erf′ r · (d + d² q(d)), q = c1 + c2 d + c3 d² + c4 d³ with
    // c_k = (−1)ᵏ H_k(r) / (k + 1)!; the next term, erf′ r · c5 d⁶ with c5 = r (−2r⁴/45 +
    // 2r²/9 − 1/6), is under 2⁻⁵⁶ of erf a for |d| ≤ 2⁻⁹ (largest near r = 1.5: 0.02 · 2⁻⁵⁴)
    // NOTE: [erf-nodes]
    let r2 = r * r;
    let c1 = -r;
    let c2 = r2.mul_add(2.0 / 3.0, -1.0 / 3.0);
    let c3 = r * r2.mul_add(-1.0 / 3.0, 0.5);
    let c4 = r2.mul_add(r2.mul_add(2.0 / 15.0, -0.4), 0.1);
    let d2 = d * d;
    let q = d2.mul_add(c4.mul_add(d, c3), c2.mul_add(d, c1));
    let big = scale.mul_add(d2.mul_add(q, d), erf_r);
    // a < 2⁻⁶: a + a P(a²)
    let s = a * a;
    let c = ERF_SMALL;
    let mut p = c[4];
    p = p.mul_add(s, c[3]);
    p = p.mul_add(s, c[2]);
    p = p.mul_add(s, c[1]);
    p = p.mul_add(s, c[0]);
    let small = a.mul_add(p, a);
    // NaN: `big`, NaN
    let y = if a < 0.015_625 { small } else { big };
    y.copysign(x)
}

/// `x` as a slice of `U`, when `T` is `U`.
fn same<T: 'static, U: 'static>(x: &[T]) -> Option<&[U]> {
    // SAFETY: T and U are the same type
    (TypeId::of::<T>() == TypeId::of::<U>()).then(|| unsafe { &*(x as *const [T] as *const [U]) })
}

/// `out` as a slice of `MaybeUninit<U>`, when `T` is `U`.
fn same_mut<T: 'static, U: 'static>(out: &mut [MaybeUninit<T>]) -> Option<&mut [MaybeUninit<U>]> {
    // SAFETY: T and U are the same type
    (TypeId::of::<T>() == TypeId::of::<U>())
        .then(|| unsafe { &mut *(out as *mut [MaybeUninit<T>] as *mut [MaybeUninit<U>]) })
}

/// Which copy of the slice loops this CPU runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Isa {
    /// The baseline target (SSE2 on x86-64).
    Plain,
    /// AVX2 + FMA.
    Avx2,
    /// AVX-512 (F, DQ, VL) besides AVX2 + FMA.
    Avx512,
}

/// The best [`Isa`] of this CPU, capped by the environment variable
/// `FUNCTORCH_CPU_CAPABILITY` (NOTE: [cpu-capability]); found on the first call, then one
/// atomic load.
#[inline(always)]
pub(crate) fn isa() -> Isa {
    match CHOSEN_ISA.load(std::sync::atomic::Ordering::Relaxed) {
        1 => Isa::Plain,
        2 => Isa::Avx2,
        3 => Isa::Avx512,
        _ => choose_isa(),
    }
}

/// [`isa`] once found: 0 before, else 1 + the [`Isa`]'s rank.
static CHOSEN_ISA: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// The environment variable that caps the vector ISA (NOTE: [cpu-capability]).
pub(crate) const CAPABILITY_VAR: &str = "FUNCTORCH_CPU_CAPABILITY";

// NOTE: [cpu-capability] `FUNCTORCH_CPU_CAPABILITY` caps the vector ISA the kernels run, as
// `ATEN_CPU_CAPABILITY` does torch's: `avx512` (the default: the best this CPU has), `avx2`
// (AVX2 + FMA) or `default` (the baseline target, SSE2 on x86-64). It lowers, never raises:
// a copy runs only where the CPU has every feature it was compiled for, so no value can
// reach an instruction the CPU lacks. Every route reads [`isa`]: the slice kernels, the
// reductions' and `jit`'s loops, our GEMM and small-product kernels, and the instruction set
// passed to `private-gemm-x86`. Not capped: the `gemm` crate (the products' route without
// AVX2 + FMA, which detects its own) and faer's factorizations. It is read once, on the first
// kernel call of the process. Its use is to time and test the AVX2 and baseline routes on a
// machine with AVX-512, beside torch capped the same way. Results do not depend on it beyond
// the products' own rounding (NOTE: [isa-copies]). An unknown value is reported on stderr once
// and ignored.

/// Find [`isa`]: the CPU's best, capped by the environment; cached.
#[cold]
fn choose_isa() -> Isa {
    static FOUND: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
    let isa = *FOUND.get_or_init(|| detected_isa().min(capability_from_env()));
    CHOSEN_ISA.store(isa as u8 + 1, std::sync::atomic::Ordering::Relaxed);
    isa
}

/// The cap `FUNCTORCH_CPU_CAPABILITY` sets: none ([`Isa::Avx512`]) where it is unset or names
/// no ISA (reported on stderr).
fn capability_from_env() -> Isa {
    match std::env::var(CAPABILITY_VAR) {
        Ok(v) => capability(&v).unwrap_or_else(|| {
            eprintln!(
                "functorch: {CAPABILITY_VAR}={v:?} is not one of avx512, avx2, default; ignored"
            );
            Isa::Avx512
        }),
        Err(_) => Isa::Avx512,
    }
}

/// The cap a value of `FUNCTORCH_CPU_CAPABILITY` names (torch's names for its
/// `ATEN_CPU_CAPABILITY`; any case, surrounding blanks ignored, empty for no cap); `None` if
/// it names none.
pub(crate) fn capability(value: &str) -> Option<Isa> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "avx512" => Some(Isa::Avx512),
        "avx2" => Some(Isa::Avx2),
        "default" => Some(Isa::Plain),
        _ => None,
    }
}

/// Whether this CPU runs a 512-bit vector operation as two 256-bit halves: AMD Zen 4, the one
/// core of AMD's family 25 (19h) with AVX-512 (NOTE: [halved-512]). Found on the first call,
/// then cached; false on CPUs without AVX-512 and off x86-64.
///
/// NOTE: [halved-512] Zen 4 has 256-bit vector units and takes a 512-bit operation through
/// both, so where a loop is bound by its additions and conversions an AVX2 form can be as fast
/// as an AVX-512 one, or faster (it measured faster for the f32 row sums, NOTE: [sum-rows]).
/// Zen 5 and Intel's AVX-512 cores have units 512 bits wide. The family is read from CPUID
/// (leaf 1: base family 15 plus the extended family), the vendor from leaf 0. A route chosen
/// by it gives the same bits either way (each is tested against the other); only its speed
/// depends on the answer.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn halved_512() -> bool {
    static FOUND: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| detected_isa() == Isa::Avx512 && crate::cpu::zen4())
}

/// The best [`Isa`] of this CPU, uncapped (the checks are cached by std).
pub(crate) fn detected_isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
        {
            return Isa::Avx512;
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Isa::Avx2;
        }
    }
    Isa::Plain
}

/// Run `$body(x, out)` (slices of `$T`; or `$body(x, p, out)` with an f64 parameter) in the copy compiled for `$want`, or for the best ISA
/// below it that this CPU has.
macro_rules! dispatch {
    ($want:expr, $body:ident($x:expr, $out:expr) for $T:ty) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2(x: &[$T], out: &mut [MaybeUninit<$T>]) {
                $body(x, out)
            }
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
            unsafe fn avx512(x: &[$T], out: &mut [MaybeUninit<$T>]) {
                $body(x, out)
            }
            match $want.min(isa()) {
                // SAFETY: `isa()` detected every feature this copy was compiled for
                Isa::Avx512 => unsafe { avx512($x, $out) },
                // SAFETY: as above
                Isa::Avx2 => unsafe { avx2($x, $out) },
                Isa::Plain => $body($x, $out),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = $want;
            $body($x, $out)
        }
    }};
    ($want:expr, $body:ident($x:expr, $p:expr, $out:expr) for $T:ty) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2(x: &[$T], p: f64, out: &mut [MaybeUninit<$T>]) {
                $body(x, p, out)
            }
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
            unsafe fn avx512(x: &[$T], p: f64, out: &mut [MaybeUninit<$T>]) {
                $body(x, p, out)
            }
            match $want.min(isa()) {
                // SAFETY: `isa()` detected every feature this copy was compiled for
                Isa::Avx512 => unsafe { avx512($x, $p, $out) },
                // SAFETY: as above
                Isa::Avx2 => unsafe { avx2($x, $p, $out) },
                Isa::Plain => $body($x, $p, $out),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = $want;
            $body($x, $p, $out)
        }
    }};
}

/// Elements per block of a slice kernel: the fast pass computes a block and notes whether any
/// argument was outside its range (a compare and an or per vector, in the same loop); only
/// then is the block, still in L1, looked over again and those few arguments recomputed.
pub(crate) const CHUNK: usize = 2048;

/// `out[i] = fast`, or `full` where `ok` is false, with `$v` bound to `x[i]`, block by block.
/// A macro rather than a function taking closures, so that the element functions are called
/// directly and inlined into each copy of the loop (through a closure or a function value, a
/// large one such as erf stayed a call, compiled without the copy's target features).
macro_rules! fused {
    ($x:ident, $out:ident, $v:ident => $fast:expr, $ok:expr, $full:expr) => {
        for (x, out) in $x.chunks(CHUNK).zip($out.chunks_mut(CHUNK)) {
            let mut outside = false;
            for (o, &$v) in out.iter_mut().zip(x) {
                o.write($fast);
                outside |= !$ok;
            }
            if outside {
                for (o, &$v) in out.iter_mut().zip(x) {
                    if !$ok {
                        o.write($full);
                    }
                }
            }
        }
    };
}

/// For the kernels without a range check.
#[inline(always)]
fn always<F>(_: F) -> bool {
    true
}

/// A slice kernel `$name` (and `$on`, the same in a chosen copy of the loop) from its f64
/// functions (fast path, its range, the function for every argument) and its f32 functions,
/// or `f32 via f64` to evaluate f32 in f64 and round. `f64 body (loop, scalar)` gives the f64
/// loop itself, for a kernel that `fused!` does not fit (erf), and its scalar function;
/// `with avx512 loop, avx2 loop` after the f64 functions gives hand-written f64 loops for the
/// AVX-512 and AVX2 copies with the same bits (tanh, NOTE: [tanh-passes]).
macro_rules! slice_kernel {
    (@f32 via f64, $fast:path, $ok:path, $full:path) => {
        #[inline(always)]
        fn body32(x: &[f32], out: &mut [MaybeUninit<f32>]) {
            fused!(x, out, v => $fast(v as f64) as f32, $ok(v as f64), $full(v as f64) as f32)
        }
    };
    (@f32 ($fast32:path, $ok32:path, $full32:path), $fast:path, $ok:path, $full:path) => {
        #[inline(always)]
        fn body32(x: &[f32], out: &mut [MaybeUninit<f32>]) {
            fused!(x, out, v => $fast32(v), $ok32(v), $full32(v))
        }
    };
    // `$name` and `$on` around the loops `body64` and `body32` that `$bodies` defines
    // `$avx512` and `$avx2`, if given, are the f64 loops of the AVX-512 and AVX2 copies: unsafe
    // functions that need AVX-512F and AVX-512DQ, or AVX2 and FMA, and give the bits of `body64`
    (@shell [$($doc:tt)*] $name:ident, $on:ident, $full:path, [$($avx512:path, $avx2:path)?],
     { $($bodies:tt)* }) => {
        $($doc)*
        pub fn $name<T: Float>(x: &[T], out: &mut [MaybeUninit<T>]) {
            $on(Isa::Avx512, x, out)
        }

        /// The same, in the copy of the loop for `want` (or the best below it on this CPU).
        pub(crate) fn $on<T: Float>(want: Isa, x: &[T], out: &mut [MaybeUninit<T>]) {
            $($bodies)*
            if let (Some(x), Some(out)) = (same::<T, f64>(x), same_mut::<T, f64>(&mut *out)) {
                $(
                    #[cfg(target_arch = "x86_64")]
                    match want.min(isa()) {
                        // SAFETY: `isa()` detected AVX-512F and AVX-512DQ
                        Isa::Avx512 => return unsafe { $avx512(x, out) },
                        // SAFETY: `isa()` detected AVX2 and FMA
                        Isa::Avx2 => return unsafe { $avx2(x, out) },
                        Isa::Plain => {}
                    }
                )?
                return dispatch!(want, body64(x, out) for f64);
            }
            if let (Some(x), Some(out)) = (same::<T, f32>(x), same_mut::<T, f32>(&mut *out)) {
                return dispatch!(want, body32(x, out) for f32);
            }
            // any other float type, element by element in f64
            for (o, &v) in out.iter_mut().zip(x) {
                o.write(T::from_f64($full(v.to_f64())));
            }
        }
    };
    ($(#[$doc:meta])* $name:ident, $on:ident, f64 body ($body64:path, $full:path),
     f32 $($f32:tt)+) => {
        slice_kernel!(@shell [$(#[$doc])*] $name, $on, $full, [], {
            #[inline(always)]
            fn body64(x: &[f64], out: &mut [MaybeUninit<f64>]) {
                $body64(x, out)
            }
            slice_kernel!(@f32 $($f32)+, $full, always, $full);
        });
    };
    ($(#[$doc:meta])* $name:ident, $on:ident,
     f64 ($fast:path, $ok:path, $full:path) $(with avx512 $avx512:path, avx2 $avx2:path)?,
     f32 $($f32:tt)+) => {
        slice_kernel!(@shell [$(#[$doc])*] $name, $on, $full, [$($avx512, $avx2)?], {
            #[inline(always)]
            fn body64(x: &[f64], out: &mut [MaybeUninit<f64>]) {
                fused!(x, out, v => $fast(v), $ok(v), $full(v))
            }
            slice_kernel!(@f32 $($f32)+, $fast, $ok, $full);
        });
    };
}

slice_kernel!(
    /// `out[i] = exp(x[i])`, vectorized.
    exp_slice, exp_slice_on,
    f64 (exp_fast, exp_ok, exp_full),
    f32 (single::exp_fast, single::exp_ok, single::exp_full)
);
slice_kernel!(
    /// `out[i] = expm1(x[i])`, vectorized.
    expm1_slice, expm1_slice_on,
    f64 (expm1_fast, expm1_ok, expm1_full),
    f32 (single::expm1_fast, single::expm1_ok, single::expm1_full)
);
slice_kernel!(
    /// `out[i] = ln(x[i])`, vectorized.
    log_slice, log_slice_on,
    f64 (log_fast, log_ok, log_full),
    f32 (single::log_fast, single::log_ok, single::log_full)
);
slice_kernel!(
    /// `out[i] = ln(1 + x[i])`, vectorized.
    log1p_slice, log1p_slice_on,
    f64 (log1p, always, log1p),
    f32 (single::log1p_fast, single::log1p_ok, single::log1p_full)
);
slice_kernel!(
    /// `out[i] = sin(x[i])`, vectorized (libm beyond [`TRIG_MAX`]).
    sin_slice, sin_slice_on,
    f64 (sin_fast, trig_ok, f64::sin),
    f32 (single::sin_fast, single::trig_ok, single::sin_full)
);
slice_kernel!(
    /// `out[i] = cos(x[i])`, vectorized (libm beyond [`TRIG_MAX`]).
    cos_slice, cos_slice_on,
    f64 (cos_fast, trig_ok, f64::cos),
    f32 (single::cos_fast, single::trig_ok, single::cos_full)
);
slice_kernel!(
    /// `out[i] = tan(x[i])`, vectorized (libm beyond [`TRIG_MAX`]).
    tan_slice, tan_slice_on,
    f64 (tan_fast, trig_ok, f64::tan),
    f32 (single::tan_fast, single::trig_ok, single::tan_full)
);
slice_kernel!(
    /// `out[i] = asin(x[i])`, vectorized.
    asin_slice, asin_slice_on,
    f64 (asin, always, asin),
    f32 (single::asin_fast, always, single::asin_fast)
);
slice_kernel!(
    /// `out[i] = acos(x[i])`, vectorized.
    acos_slice, acos_slice_on,
    f64 (acos, always, acos),
    f32 (single::acos_fast, always, single::acos_fast)
);
slice_kernel!(
    /// `out[i] = atan(x[i])`, vectorized.
    atan_slice, atan_slice_on,
    f64 (atan, always, atan),
    f32 (single::atan_fast, always, single::atan_fast)
);
slice_kernel!(
    /// `out[i] = sinh(x[i])`, vectorized.
    sinh_slice, sinh_slice_on,
    f64 (sinh_fast, hyperbolic_ok, sinh_full),
    f32 (single::sinh_fast, single::hyperbolic_ok, single::sinh_full)
);
slice_kernel!(
    /// `out[i] = cosh(x[i])`, vectorized.
    cosh_slice, cosh_slice_on,
    f64 (cosh_fast, hyperbolic_ok, cosh_full),
    f32 (single::cosh_fast, single::hyperbolic_ok, single::cosh_full)
);
slice_kernel!(
    /// `out[i] = tanh(x[i])`, vectorized.
    tanh_slice, tanh_slice_on,
    f64 (tanh, always, tanh) with avx512 tanh::tanh64, avx2 tanh::avx2::tanh64,
    f32 (single::tanh_fast, always, single::tanh_fast)
);
slice_kernel!(
    /// `out[i] = sigmoid(x[i])`, vectorized.
    sigmoid_slice, sigmoid_slice_on,
    f64 (sigmoid_fast, sigmoid_ok, sigmoid_full),
    f32 (single::sigmoid_fast, single::sigmoid_ok, single::sigmoid_full)
);
slice_kernel!(
    /// `out[i] = softplus(x[i])` (PyTorch's, β = 1), vectorized.
    softplus_slice, softplus_slice_on,
    f64 (softplus_fast, softplus_ok, softplus_full),
    f32 (single::softplus_fast, single::softplus_ok, single::softplus_full)
);

/// `out[i] = erf(x[i])` over f64, in blocks of 256: the table entries of the block's nodes
/// read first, then the arithmetic. NOTE: [erf-two-passes]
//
// NOTE: [erf-two-passes]
// In one loop, the table reads kept the whole loop scalar in the AVX2 copy (LLVM's cost
// model prices AVX2 gathers as scalar loads and then vectorizes nothing of the loop): AMD Zen
// 3, one thread, 1e6 elements 5.5–7.8 ms, 0.5–0.7× torch. Reading the entries into a block
// first leaves a loop of plain arithmetic that vectorizes in every copy; the bits are those
// of [`erf`], the same terms in the same order.
#[inline(always)]
fn erf_body64(x: &[f64], out: &mut [MaybeUninit<f64>]) {
    const B: usize = 256;
    for (x, out) in x.chunks(B).zip(out.chunks_mut(B)) {
        let (mut erf_r, mut scale) = ([0.0f64; B], [0.0f64; B]);
        for ((e, s), &v) in erf_r.iter_mut().zip(&mut scale).zip(x) {
            let i = erf_node(v);
            *e = f64::from_bits(erf_table::ERF_R[i]);
            *s = f64::from_bits(erf_table::ERF_SCALE[i]);
        }
        for (((o, &v), &e), &s) in out.iter_mut().zip(x).zip(&erf_r).zip(&scale) {
            o.write(erf_about(v, e, s));
        }
    }
}

slice_kernel!(
    /// `out[i] = erf(x[i])`, vectorized.
    erf_slice, erf_slice_on,
    f64 body (erf_body64, erf),
    f32 (single::erf_fast, always, single::erf_fast)
);

/// log1p(r) = r − r²/2 + r³ P(r) on |r| ≤ 0.00389: P is the Taylor series 1/3 − r/4 + … to
/// r⁶/9 (truncation below r⁷/10, 2⁻⁶⁸ of r).
const POW_LOG_P: [f64; 7] = [
    1.0 / 3.0,
    -0.25,
    0.2,
    -1.0 / 6.0,
    1.0 / 7.0,
    -0.125,
    1.0 / 9.0,
];

/// ln x as `hi + lo` (|lo| ≤ half an ulp of hi) for positive normal x, with an error near
/// 2⁻⁶⁸ of ln x: the reduction of [`log_fast`], every rounding error of its sums carried
/// (`NOTE: [pow-log]`).
//
// NOTE: [pow-log]
// x^p = e^(p ln x) with |p ln x| up to 745 multiplies the *absolute* error of ln x by p, so
// ln x must be good to about 2⁻⁶³ relative or the result loses ulps: z · 1/c is taken as an
// exact product ph + pl (r = ph − 1 is exact), ln c as the table's value and its tail, −r²/2
// as an exact product, and each sum by Fast2Sum (each larger operand is 0 or at least as large
// as the other: k ln2 ≥ ln2 > |ln c|; |ln c| ≥ 0.0065 > |r| off the interval of 1, where
// ln c = 0). Likewise `exp_dd` keeps k · ln2_lo and the tail of p ln x apart from r, as
// e^c − 1 to second order (|c| reaches 2⁻²²).
#[inline(always)]
fn log_dd(x: f64) -> (f64, f64) {
    let ix = x.to_bits();
    let tmp = ix.wrapping_sub(tables::LOG_OFF);
    let i = ((tmp >> 45) & 127) as usize;
    let k = ((tmp as i64) >> 52) as f64;
    let z = f64::from_bits(ix.wrapping_sub(tmp & (0xfff << 52)));
    let (invc, logc, tail) = (
        tables::LOG_INVC[i],
        tables::LOG_LOGC[i],
        tables::LOG_LOGC_TAIL[i],
    );
    // z / c = ph + pl exactly, and ph − 1 is exact (ph is within 0.4% of 1)
    let ph = z * invc;
    let pl = z.mul_add(invc, -ph);
    let r = ph - 1.0;
    // k ln2 + ln c + r − r²/2, each sum's rounding error kept
    let a = k * LN2_HI;
    let t1 = a + logc;
    let l1 = (a - t1) + logc;
    let t2 = t1 + r;
    let l2 = (t1 - t2) + r;
    let ar = -0.5 * r;
    let ar2 = r * ar;
    let l3 = r.mul_add(ar, -ar2);
    let hi = t2 + ar2;
    let l4 = (t2 - hi) + ar2;
    let c = POW_LOG_P;
    let mut q = c[6];
    q = q.mul_add(r, c[5]);
    q = q.mul_add(r, c[4]);
    q = q.mul_add(r, c[3]);
    q = q.mul_add(r, c[2]);
    q = q.mul_add(r, c[1]);
    q = q.mul_add(r, c[0]);
    let poly = (r * r) * (r * q);
    // log1p(r + pl) = log1p r + pl (1 − r) to first order
    let lo = k.mul_add(LN2_LO, tail) + (l1 + l2) + (l3 + l4) + pl.mul_add(-r, pl) + poly;
    let y = hi + lo;
    (y, (hi - y) + lo)
}

/// e^(hi + lo) for hi in [-707, 709] ([`exp_ok`]) and |lo| ≤ 2⁻⁴⁵ |hi|: the reduction of
/// [`exp_fast`] with lo and the tail of k ln2 kept apart as a correction c, e^(r + c) =
/// 1 + (e^r − 1) + (e^c − 1) e^r.
#[inline(always)]
fn exp_dd(hi: f64, lo: f64) -> f64 {
    let kb = hi.mul_add(LOG2E, MAGIC);
    let k = kb - MAGIC;
    // exact: k ln2_hi is exact and close to hi
    let r = k.mul_add(-LN2_HI, hi);
    let c = k.mul_add(-LN2_LO, lo);
    // e^c − 1 to second order (|c| reaches 2⁻²², so c²/2 is not below an ulp)
    let c = (0.5 * c).mul_add(c, c);
    let t = expm1_poly(r);
    let p = 1.0 + c.mul_add(t, c + t);
    add_exponent(p, kb)
}

/// Whether the exponent `p` is an integer, and an odd one (then (−x)^p = −x^p).
#[inline(always)]
fn pow_parity(p: f64) -> (bool, bool) {
    let int = p.trunc() == p;
    let odd = int && p.abs() < TWO53 && (p * 0.5).trunc() != p * 0.5;
    (int, odd)
}

const TWO53: f64 = 9_007_199_254_740_992.0;

/// `(x^p, ok)` for the fast path of pow: `ok` where x is a normal number (of either sign if p
/// is an integer, `int`; then `odd` gives the sign) and p ln|x| is within [`exp_ok`]; elsewhere
/// the value is meaningless and [`pow_full`] takes over.
#[inline(always)]
fn pow_fast(x: f64, p: f64, int: bool, odd: bool) -> (f64, bool) {
    let a = x.abs();
    let (lh, ll) = log_dd(a);
    let yh = p * lh;
    let yl = p.mul_add(lh, -yh) + p * ll;
    let ok = log_ok(a) && (x > 0.0 || int) && exp_ok(yh);
    let y = exp_dd(yh, yl);
    (if x < 0.0 && odd { -y } else { y }, ok)
}

/// x^p for the arguments outside the fast path (zeros, subnormals, ±∞, NaN, negative x with
/// a fractional p, results near or past overflow and underflow, p ±∞ or NaN): libm.
#[inline(always)]
fn pow_full(x: f64, p: f64) -> f64 {
    x.powf(p)
}

/// x^p, as libm's `pow` (within 1 ulp of it).
#[inline]
pub fn pow(x: f64, p: f64) -> f64 {
    let (int, odd) = pow_parity(p);
    match pow_fast(x, p, int, odd) {
        (y, true) => y,
        _ => pow_full(x, p),
    }
}

/// `out[i] = x[i]^p` over f64, block by block as `fused!` (the exponent is not a slice).
#[inline(always)]
fn pow_body64(x: &[f64], p: f64, out: &mut [MaybeUninit<f64>]) {
    let (int, odd) = pow_parity(p);
    for (x, out) in x.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
        let mut outside = false;
        for (o, &v) in out.iter_mut().zip(x) {
            let (y, ok) = pow_fast(v, p, int, odd);
            o.write(y);
            outside |= !ok;
        }
        if outside {
            for (o, &v) in out.iter_mut().zip(x) {
                if !pow_fast(v, p, int, odd).1 {
                    o.write(pow_full(v, p));
                }
            }
        }
    }
}

/// `(x^p, ok)` for the fast path of pow over f32 arguments, in f64 before rounding to f32:
/// e^(p ln x) from [`log_fast`] and [`exp_fast`] alone (NOTE: [pow-f32]); `ok`, `int` and
/// `odd` as in [`pow_fast`].
//
// NOTE: [pow-f32]
// An f32 result needs far less than the two-part logarithm of [`pow_fast`]: with |p ln x| ≤
// 709, the error of p · ln x (each a few f64 ulp) is below 2⁻⁴² absolute, so the f64 power is
// within 2⁻⁴² of x^p relative and its rounding to f32 differs from the rounded reference
// (libm's f64 pow rounded) only where x^p lies within 2⁻⁴² of a midpoint between two f32: then
// by one ulp. Every f32 argument, subnormals included, is a normal f64, so only ±0, ±∞, NaN,
// negative x with a fractional p and |p ln x| beyond `exp_fast`'s range go to libm.
#[inline(always)]
fn pow_fast32(x: f64, p: f64, int: bool, odd: bool) -> (f64, bool) {
    let a = x.abs();
    let y = p * log_fast(a);
    let ok = log_ok(a) && (x > 0.0 || int) && exp_ok(y);
    let r = exp_fast(y);
    (if x < 0.0 && odd { -r } else { r }, ok)
}

/// x^p for an f32 base and exponent, in f64 and rounded ([`pow_fast32`], else libm).
#[inline]
fn pow32(x: f32, p: f64) -> f32 {
    let (int, odd) = pow_parity(p);
    match pow_fast32(x as f64, p, int, odd) {
        (y, true) => y as f32,
        _ => pow_full(x as f64, p) as f32,
    }
}

/// The same over f32 (`p` already the f32 exponent), by [`pow_fast32`].
#[inline(always)]
fn pow_body32(x: &[f32], p: f64, out: &mut [MaybeUninit<f32>]) {
    let (int, odd) = pow_parity(p);
    for (x, out) in x.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
        let mut outside = false;
        for (o, &v) in out.iter_mut().zip(x) {
            let (y, ok) = pow_fast32(v as f64, p, int, odd);
            o.write(y as f32);
            outside |= !ok;
        }
        if outside {
            for (o, &v) in out.iter_mut().zip(x) {
                if !pow_fast32(v as f64, p, int, odd).1 {
                    o.write(pow_full(v as f64, p) as f32);
                }
            }
        }
    }
}

/// x^p in the element type `T`: the exponent is first rounded to `T` (as `powf` in `T` and
/// torch's `pow(tensor, scalar)` take it), the power evaluated in f64 and rounded (for f32
/// by the shorter path of NOTE: [pow-f32]). The scalar function of the op, with the same
/// bits as [`pow_slice`].
#[inline]
pub fn pow_t<T: Float>(x: T, p: f64) -> T {
    let p = T::from_f64(p).to_f64();
    if T::DTYPE == crate::DType::F32 {
        // exact: x is an f32
        return T::from_f64(pow32(x.to_f64() as f32, p) as f64);
    }
    T::from_f64(pow(x.to_f64(), p))
}

/// `out[i] = x[i]^p` (see [`pow_t`]), vectorized.
pub fn pow_slice<T: Float>(x: &[T], p: f64, out: &mut [MaybeUninit<T>]) {
    pow_slice_on(Isa::Avx512, x, p, out)
}

/// The same, in the copy of the loop for `want` (or the best below it on this CPU).
pub(crate) fn pow_slice_on<T: Float>(want: Isa, x: &[T], p: f64, out: &mut [MaybeUninit<T>]) {
    let p = T::from_f64(p).to_f64();
    if let (Some(x), Some(out)) = (same::<T, f64>(x), same_mut::<T, f64>(&mut *out)) {
        return dispatch!(want, pow_body64(x, p, out) for f64);
    }
    if let (Some(x), Some(out)) = (same::<T, f32>(x), same_mut::<T, f32>(&mut *out)) {
        return dispatch!(want, pow_body32(x, p, out) for f32);
    }
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(T::from_f64(pow(v.to_f64(), p)));
    }
}

/// √x, 1/√x and 1/x in either dtype, correctly rounded operations (one or two): the slice
/// kernels below run them in the AVX-512 copy, whose square root and division take 8 f64 or 16
/// f32 lanes (the plain loops of `strided` stop at AVX2).
#[inline(always)]
fn sqrt_of<T: Float>(x: T) -> T {
    x.sqrt()
}
#[inline(always)]
fn rsqrt_of<T: Float>(x: T) -> T {
    x.sqrt().recip()
}
#[inline(always)]
fn recip_of<T: Float>(x: T) -> T {
    x.recip()
}

/// A slice kernel `$name` (and `$on`, the same in a chosen copy of the loop) whose f64 copies
/// for AVX-512 and AVX2 are `$avx512` and `$avx2` (unsafe functions needing AVX-512F, or AVX2
/// and FMA, NOTE: [unit-mix], [unit-mix-avx2]) and whose every other copy and type applies
/// `$scalar` element by element.
macro_rules! checked_kernel {
    ($(#[$doc:meta])* $name:ident, $on:ident, $avx512:path, $avx2:path, $scalar:ident) => {
        $(#[$doc])*
        pub fn $name<T: Float>(x: &[T], out: &mut [MaybeUninit<T>]) {
            $on(Isa::Avx512, x, out)
        }

        /// The same, in the copy of the loop for `want` (or the best below it on this CPU):
        /// f64 in the AVX-512 and AVX2 copies by the hardware's operations and multiply-adds
        /// checked exact side by side, in the mix timed fastest on this machine (NOTE:
        /// [unit-mix], [sqrt-newton], [unit-mix-avx2]); everything else by the hardware's
        /// operations. The same bits.
        pub(crate) fn $on<T: Float>(want: Isa, x: &[T], out: &mut [MaybeUninit<T>]) {
            #[inline(always)]
            fn hardware<U: Float>(x: &[U], out: &mut [MaybeUninit<U>]) {
                for (o, &v) in out.iter_mut().zip(x) {
                    o.write($scalar(v));
                }
            }
            if let (Some(x), Some(out)) = (same::<T, f64>(x), same_mut::<T, f64>(&mut *out)) {
                #[cfg(target_arch = "x86_64")]
                match want.min(isa()) {
                    // SAFETY: `isa()` detected AVX-512F
                    Isa::Avx512 => return unsafe { $avx512(x, out) },
                    // SAFETY: `isa()` detected AVX2 and FMA (NOTE: [unit-mix-avx2])
                    Isa::Avx2 => return unsafe { $avx2(x, out) },
                    Isa::Plain => {}
                }
                return dispatch!(want, hardware(x, out) for f64);
            }
            if let (Some(x), Some(out)) = (same::<T, f32>(x), same_mut::<T, f32>(&mut *out)) {
                return dispatch!(want, hardware(x, out) for f32);
            }
            hardware(x, out)
        }
    };
}

checked_kernel!(
    /// `out[i] = sqrt(x[i])`, vectorized, correctly rounded.
    sqrt_slice, sqrt_slice_on, sqrt::sqrt64, sqrt::avx2::sqrt64, sqrt_of
);
checked_kernel!(
    /// `out[i] = 1 / sqrt(x[i])`, vectorized: the root and its reciprocal, each correctly
    /// rounded.
    rsqrt_slice, rsqrt_slice_on, sqrt::rsqrt64, sqrt::avx2::rsqrt64, rsqrt_of
);
checked_kernel!(
    /// `out[i] = 1 / x[i]`, vectorized, correctly rounded.
    recip_slice, recip_slice_on, sqrt::recip64, sqrt::avx2::recip64, recip_of
);
